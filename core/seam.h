/*
 * seam.h — the core's private seam for the deterministic simulator
 * (`sqsim --det`, docs/simulator.md).  Not installed, not in the public
 * header: a simulator that links the static library sets a seam on a
 * handle right after opening it, and from then on the handle takes from
 * the seam, instead of from the operating system:
 *
 *   - sleeping (the backoff between retries): the simulator moves its
 *     virtual clock and may run other simulated work meanwhile;
 *   - randomness: lease tokens and the backoff jitter's seed;
 *   - the wall clock (the ISO timestamps stored with claims);
 *   - keep-alives: no thread is started; the simulator is told when the
 *     first renewal is due and calls sqc_keepalive_step() at that virtual
 *     time, which renews once and says when the next one is due;
 *   - `adjust`: every value the core decides a lease by (a deadline, an
 *     operation's outcome, a keep-alive's may-act) passes through it, so
 *     the simulator can substitute a deliberately broken decision (its
 *     negative controls).  The broken code lives in sim/, never here: the
 *     default (no seam, or adjust NULL) is the library's own behaviour.
 *
 * The monotonic clock itself is the handle's injected clock
 * (sqclaim_options.clock).  A handle without a seam behaves exactly as
 * before.  The seam must outlive the handle; it is not copied.
 */
#ifndef SQCLAIM_SEAM_H
#define SQCLAIM_SEAM_H

#include "backend.h"

struct sqclaim_keepalive;

/* Where `adjust` is called, and what `value` is there. */
typedef enum sqc_point {
    /* value: the local deadline (store clock, ns) the core computed for a
     * fresh grant (claim) or a renewal.  info: sent_ns, reply_ns, ttl_ms,
     * old_deadline_ns (renew: the lease's deadline before). */
    SQC_PT_DEADLINE_GRANT,
    SQC_PT_DEADLINE_RENEW,
    /* value: the deadline of a lease found by a retry with its token
     * (reclaimed).  info: sent_ns (of this retry), first_sent_ns,
     * left_ms (the store's remaining TTL), ttl_ms. */
    SQC_PT_DEADLINE_RECLAIM,
    /* value: an operation's outcome (sqclaim_rc) after its retries.
     * info: op (SQC_OP_*), ambiguous. */
    SQC_PT_OUTCOME,
    /* value: 1 if a keep-alive says its lease may still be acted on.
     * info: deadline_ns, now_ns, lost. */
    SQC_PT_KA_MAY_ACT
} sqc_point;

enum {
    SQC_OP_CLAIM = 1,
    SQC_OP_RENEW,
    SQC_OP_RELEASE,
    SQC_OP_FINISH,
    SQC_OP_RESERVE,
    SQC_OP_OTHER
};

typedef struct sqc_point_info {
    int op;
    bool ambiguous, lost;
    int64_t sent_ns, reply_ns, first_sent_ns, old_deadline_ns, deadline_ns, now_ns;
    int64_t ttl_ms, left_ms;
} sqc_point_info;

typedef struct sqc_seam {
    void *ctx;
    /* Sleep ms on the handle's clock (NULL: nanosleep).  Called without
     * the handle's lock. */
    void (*sleep_ms)(void *ctx, sqclaim_store *s, int64_t ms);
    /* A lease token: 32 lowercase hex digits into buf[33].  0 or -1.
     * NULL: getrandom(). */
    int (*token)(void *ctx, char *buf);
    /* 64 random bits (the backoff jitter's seed).  NULL: getrandom(). */
    uint64_t (*rand64)(void *ctx);
    /* Wall clock in Unix ms (NULL: the real one). */
    int64_t (*unix_ms)(void *ctx);
    /* Keep-alives without a thread (both set, or neither): a keep-alive
     * was started, its first renewal is due after first_ms on the
     * handle's clock; and it was stopped (never step it again). */
    void (*ka_start)(void *ctx, struct sqclaim_keepalive *ka, int64_t first_ms);
    void (*ka_stop)(void *ctx, struct sqclaim_keepalive *ka);
    /* Substitute a decision (simulator negative controls). NULL: none. */
    int64_t (*adjust)(void *ctx, sqc_point point, int64_t value, const sqc_point_info *info);
} sqc_seam;

/* Set (or clear, NULL) the seam of a handle; reseeds its jitter from
 * seam->rand64.  Call before any operation or keep-alive on it. */
void sqc_seam_set(sqclaim_store *s, const sqc_seam *seam);

/* A seam's keep-alive: renew once (if it was not stopped) and return the
 * wait in ms until the next step, or -1 when it has ended (stopped, or
 * lost: its callback has run).  After -1 the keep-alive may be freed:
 * never step it again.  Steps of one keep-alive must not overlap. */
int64_t sqc_keepalive_step(struct sqclaim_keepalive *ka);

#endif
