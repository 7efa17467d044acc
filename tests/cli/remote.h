/*
 * remote.h — what the test_remote*.c files share: a test's context (its
 * backend and key prefix) and small helpers (test_remote.c).
 */
#ifndef SQCLAIM_TCLI_REMOTE_H
#define SQCLAIM_TCLI_REMOTE_H

#include "tcli.h"

typedef struct rctx {
    const tc_backend *b;
    char prefix[64];
    char penv[96];
    const char *extra[6];
} rctx;

/* The context of test loop iteration i: backend i, a fresh key prefix. */
void rctx_init(rctx *x, int i);

/* rctx_init, then x's run options (ropts). */
cr_opts rctx_open(rctx *x, int i);

/* rctx_init, then sq claimed for BOT1 (ttl, NULL: the default) into *l
 * (claim_ok). */
void rctx_claimed(rctx *x, int i, const char *sq, const char *ttl, tc_lease *l);

/* Run options for x: its backend and prefix. */
cr_opts ropts(const rctx *x);

/* Run args with the lease on stdin. */
int with_lease(const rctx *x, cr_result *r, const char *lease_line, const char *const *args);

/* with_lease, and its exit status must be `want` (both streams shown
 * if not); r holds the run (cr_free it). */
void lease_run(const rctx *x, cr_result *r, const char *lease_line, const char *const *args,
               int want);

/* lease_run when nothing more of the run is looked at: freed here. */
void lease_exit(const rctx *x, const char *lease_line, const char *const *args, int want);

/* sqclaim claim SQ --bot BOT [--ttl TTL]: asserts exit 0 and a lease of
 * that TTL (10 min when ttl is NULL), fills *l. */
void claim_ok(const rctx *x, const char *sq, const char *bot, const char *ttl, tc_lease *l);

/* vercel: the output holds no token. */
void check_no_backend_secret(const rctx *x, const cr_result *r);

/* A polling interval while waiting for a real expiry, not a sync. */
void pause_ms(int ms);

/* `sqclaim status` in x's prefix (exit 0, the seed's shape), parsed: free
 * with cJSON_Delete. */
cJSON *status_checked(const rctx *x);

/* `sqclaim status` in x's prefix: how many claims and reservations. */
void held_counts(const rctx *x, int *claims, int *reservations);

/* Nothing is held in x's prefix: no claim, no reservation. */
void assert_nothing_held(const rctx *x);

/* Each file adds its tests, in this order, to the "remote" test case
 * (lossy: to the "lossy" one, vercel only). */
void trm_add_basic(TCase *tc);
void trm_add_docs(TCase *tc);
void trm_add_secrets(TCase *tc);
void trm_add_lossy(TCase *tc);

#endif
