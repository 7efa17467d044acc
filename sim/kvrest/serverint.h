/*
 * serverint.h — what server.c (the data routes, auth, lifecycle) and
 * admin.c (the admin API) share inside kvrest: the server's state and
 * the response helpers.
 */
#ifndef KVREST_SERVERINT_H
#define KVREST_SERVERINT_H

#include "kvrest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <microhttpd.h>

#define MAX_DELAY_MS 3600000L /* one hour: bound for latency / jitter / stall */

typedef enum role { ROLE_NONE, ROLE_READONLY, ROLE_FULL } role;
typedef enum route { R_SINGLE, R_PIPELINE, R_MULTI, R_PATH } route;

struct kv_server {
    int lfd;               /* the listening socket (the gate accepts) */
    kv_gate *gate;         /* checks each connection's first line */
    struct MHD_Daemon **d; /* one; or --threads N, each one event loop */
    unsigned nd;
    atomic_uint next_d; /* round robin over d[] */
    kv_pool *pool;
    int port;
    size_t max_body;
    char *token;
    size_t token_len;
    char *ro_token; /* NULL: no read-only token */
    size_t ro_len;
    atomic_bool started; /* MHD log lines are shown only while starting */

    pthread_mutex_t fmu; /* faults, rng, quota_used */
    kv_faults faults;
    uint64_t rng;
    unsigned long long quota_used;

    atomic_ullong requests, commands, unauthorized, errors;
    atomic_ullong by_route[4];
    atomic_ullong failed, dropped, stalled;
    atomic_ullong sync; /* upstash-sync-token: bumped after every write */

    pthread_mutex_t smu;
    pthread_cond_t scv;
    bool stopping;
};

/* Per HTTP request. */
typedef struct kv_req {
    kv_buf body;
    bool too_big;  /* body exceeded max_body: the rest was discarded */
    bool answered; /* a response was queued before the body arrived */
} kv_req;

static inline void kv_count(atomic_ullong *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline unsigned long long kv_get(atomic_ullong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static inline bool kv_is_read_method(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_GET) == 0 || strcmp(m, MHD_HTTP_METHOD_HEAD) == 0;
}

static inline bool kv_is_write_method(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_POST) == 0 || strcmp(m, MHD_HTTP_METHOD_PUT) == 0;
}

/* Queue body (taken over) with status and the headers every response
 * carries. */
enum MHD_Result kv_respond(kv_server *s, struct MHD_Connection *conn, unsigned status,
                           kv_buf *body);

/* An error response {"error": text}. */
enum MHD_Result kv_respond_error(kv_server *s, struct MHD_Connection *conn, unsigned status,
                                 const char *text);

/* The role the request's bearer token (or ?_token=) grants. */
role kv_authenticate(kv_server *s, struct MHD_Connection *conn);

/* A request under /_kvrest/ (admin.c). */
enum MHD_Result kv_handle_admin(kv_server *s, struct MHD_Connection *conn, kv_req *rq,
                                const char *url, const char *method);

#endif
