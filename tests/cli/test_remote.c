/* test_remote.c — the CLI against the backends that share data between
 * processes (redis, vercel through kvrest): what one sqclaim run claims,
 * the next one sees.  Every test runs once per built backend, in a key
 * prefix of its own.  This file holds the helpers (remote.h) and the
 * suite; the tests are in test_remote_<concern>.c. */
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void rctx_init(rctx *x, int i)
{
    memset(x, 0, sizeof *x);
    x->b = &tc_backends[i];
    tc_prefix(x->prefix, sizeof x->prefix);
    snprintf(x->penv, sizeof x->penv, "SQCLAIM_KEY_PREFIX=%s", x->prefix);
    x->extra[0] = x->penv;
    x->extra[1] = NULL;
}

cr_opts rctx_open(rctx *x, int i)
{
    rctx_init(x, i);
    return ropts(x);
}

void rctx_claimed(rctx *x, int i, const char *sq, const char *ttl, tc_lease *l)
{
    rctx_init(x, i);
    claim_ok(x, sq, "BOT1", ttl, l);
}

cr_opts ropts(const rctx *x) { return tc_opts(x->b, x->extra); }

/* Run args with the lease on stdin. */
int with_lease(const rctx *x, cr_result *r, const char *lease_line, const char *const *args)
{
    cr_opts o = ropts(x);
    o.input = lease_line;
    return cr_run(r, &o, args);
}

void lease_run(const rctx *x, cr_result *r, const char *lease_line, const char *const *args,
               int want)
{
    with_lease(x, r, lease_line, args);
    ck_assert_msg(r->code == want,
                  "%s: exit status %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", args[0],
                  r->code, want, r->out, r->err);
}

void lease_exit(const rctx *x, const char *lease_line, const char *const *args, int want)
{
    cr_result r;
    lease_run(x, &r, lease_line, args, want);
    cr_free(&r);
}

/* The TTL a lease given ttl ("200ms", "90s", "1m", "2h"; NULL: the 10 min
 * default) must show, in ms. */
static long ttl_ms_of(const char *ttl)
{
    if (!ttl)
        return 600000;
    char *end;
    long n = strtol(ttl, &end, 10);
    if (strcmp(end, "ms") == 0)
        return n;
    if (strcmp(end, "s") == 0)
        return n * 1000;
    if (strcmp(end, "m") == 0)
        return n * 60000;
    ck_assert_msg(strcmp(end, "h") == 0, "claim_ok: TTL '%s' not understood here", ttl);
    return n * 3600000;
}

void claim_ok(const rctx *x, const char *sq, const char *bot, const char *ttl, tc_lease *l)
{
    cr_opts o = ropts(x);
    cr_result r;
    const char *args[] = {"claim", sq, "--bot", bot, ttl ? "--ttl" : NULL, ttl, NULL};
    tc_run_exit(&r, &o, 0, args);
    tc_check_lease(r.out, sq, bot, ttl_ms_of(ttl), l);
    ck_assert_uint_gt(l->fence, 0);
    ck_assert_msg(r.errlen == 0, "stderr: %s", r.err); /* no memory note on %s */
    cr_free(&r);
}

void check_no_backend_secret(const rctx *x, const cr_result *r)
{
    if (strcmp(x->b->name, "vercel") == 0)
        tc_check_no_secret(r, TC_KV_TOKEN);
}

void pause_ms(int ms)
{
    /* A polling interval while waiting for a real expiry, not a sync. */
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* `sqclaim status` in x's prefix: how many claims and reservations. */
cJSON *status_checked(const rctx *x)
{
    cr_opts o = ropts(x);
    cr_result r;
    TC_RUNV(&r, &o, 0, "status", NULL);
    cJSON *j = tc_check_status(r.out);
    cr_free(&r);
    return j;
}

void held_counts(const rctx *x, int *claims, int *reservations)
{
    cJSON *j = status_checked(x);
    *claims = cJSON_GetArraySize(cJSON_GetObjectItem(j, "sqClaims"));
    *reservations = cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations"));
    cJSON_Delete(j);
}

/* Nothing is held in x's prefix: no claim, no reservation. */
void assert_nothing_held(const rctx *x)
{
    int claims, reservations;
    held_counts(x, &claims, &reservations);
    ck_assert_msg(claims == 0 && reservations == 0, "%d claims and %d reservations left", claims,
                  reservations);
}

Suite *tc_remote_suite(void)
{
    Suite *s = suite_create("cli-remote");
    TCase *tc = tcase_add_all(s, (tcase_spec){.name = "remote", .timeout = 300}, NULL, 0);
    trm_add_basic(tc);
    trm_add_docs(tc);
    trm_add_secrets(tc);
    if (tc_built("vercel"))
        trm_add_lossy(tcase_add_all(s, (tcase_spec){.name = "lossy", .timeout = 300}, NULL, 0));
    return s;
}
