/* internal.h — the core's private pieces, shared by its source files. */
#ifndef SQCLAIM_INTERNAL_H
#define SQCLAIM_INTERNAL_H

#include "backend.h"
#include "seam.h"

#include <pthread.h>
#include <stdatomic.h>

#define SQC_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define SQC_DEFAULT_TIMEOUT_MS         5000
#define SQC_DEFAULT_RETRIES            2
#define SQC_MAX_RETRIES                10
#define SQC_MAX_TIMEOUT_MS             600000

struct sqclaim_keepalive;

struct sqclaim_store {
    const sqclaim_backend *be; /* NULL for a handle whose open failed */
    void *conn;
    char adapter[32];
    pthread_mutex_t lock; /* serialises operations on the handle */
    atomic_int errcode;   /* sqclaim_rc; readable without the lock */
    char errmsg[512];     /* under lock */
    sqclaim_clock clock;
    int retries;
    sqclaim_stats stats; /* operations and retries; the rest from the backend */
    uint64_t rng;        /* backoff jitter, under lock */

    struct sqclaim_keepalive *kas; /* guarded by keepalive.c's link mutex */

    int op_timeout_ms; /* budget of one operation; 0: none */
    int attempt_ms;    /* with a budget: connect + request timeouts */

    const sqc_seam *seam; /* the simulator's (seam.h); NULL: the OS */
};

/* The seam's substitute for a decision, or the decision itself. */
static inline int64_t sqc_adjust(const sqclaim_store *s, sqc_point pt, int64_t v,
                                 const sqc_point_info *info)
{
    return s->seam && s->seam->adjust ? s->seam->adjust(s->seam->ctx, pt, v, info) : v;
}

/* Write a message into errbuf[errlen] (if not NULL) and return
 * SQCLAIM_EINVAL: the shape of every validation failure. */
sqclaim_rc sqc_einval(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Validation helpers not in the public header. */
sqclaim_rc sqc_check_ttl(int64_t ttl_ms, char *errbuf, size_t errlen);
sqclaim_rc sqc_check_rows(uint32_t count, uint64_t hint, char *errbuf, size_t errlen);
sqclaim_rc sqc_check_token(const char *token, char *errbuf, size_t errlen);

/* Start of a public call on a usable handle: clear the last message. */
void sqc_begin(sqclaim_store *s);

/* Renew for the keep-alive: takes the handle's lock, retries as the public
 * call does, but leaves the handle's error message alone. */
sqclaim_rc sqc_renew(sqclaim_store *s, sqclaim_lease *lease, int64_t ttl_ms, sqb_err *err);

/* Stop and join every keep-alive on `s` for this lease's token (NULL: all),
 * without freeing them. */
void sqc_keepalive_detach(sqclaim_store *s, const sqclaim_lease *lease);

/* Fill buf[SQCLAIM_TOKEN_LEN + 1] with 128 random bits as hex.  0 or -1. */
int sqc_random_token(char *buf);
/* 64 random bits (for seeding). */
uint64_t sqc_random_u64(void);

/* True if name is a backend the library knows of, built in or not
 * (registry.c holds the one list of names). */
bool sqc_backend_known(const char *name);

/* The default clock: CLOCK_MONOTONIC in nanoseconds. */
int64_t sqc_monotonic_ns(void *ctx);

#endif
