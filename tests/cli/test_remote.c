/* test_remote.c — the CLI against the backends that share data between
 * processes (redis, vercel through kvrest): what one sqclaim run claims,
 * the next one sees.  Every test runs once per built backend, in a key
 * prefix of its own. */
#include "tcli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SQCLAIM_SRCDIR
#define SQCLAIM_SRCDIR "."
#endif

typedef struct rctx {
    const tc_backend *b;
    char prefix[64];
    char penv[96];
    const char *extra[6];
} rctx;

static void rctx_init(rctx *x, int i)
{
    memset(x, 0, sizeof *x);
    x->b = &tc_backends[i];
    tc_prefix(x->prefix, sizeof x->prefix);
    snprintf(x->penv, sizeof x->penv, "SQCLAIM_KEY_PREFIX=%s", x->prefix);
    x->extra[0] = x->penv;
    x->extra[1] = NULL;
}

static cr_opts ropts(const rctx *x) { return tc_opts(x->b, x->extra); }

/* Run args with the lease on stdin. */
static int with_lease(const rctx *x, cr_result *r, const char *lease_line, const char *const *args)
{
    cr_opts o = ropts(x);
    o.input = lease_line;
    return cr_run(r, &o, args);
}

/* sqclaim claim SQ --bot BOT [--ttl TTL]: asserts exit 0, fills *l. */
static void claim_ok(const rctx *x, const char *sq, const char *bot, const char *ttl, tc_lease *l)
{
    cr_opts o = ropts(x);
    cr_result r;
    if (ttl)
        cr_runv(&r, &o, "claim", sq, "--bot", bot, "--ttl", ttl, NULL);
    else
        cr_runv(&r, &o, "claim", sq, "--bot", bot, NULL);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, sq, bot, -1, l);
    ck_assert_uint_gt(l->fence, 0);
    ck_assert_msg(r.errlen == 0, "stderr: %s", r.err); /* no memory note on %s */
    cr_free(&r);
}

static void check_no_backend_secret(const rctx *x, const cr_result *r)
{
    if (strcmp(x->b->name, "vercel") == 0)
        tc_check_no_secret(r, TC_KV_TOKEN);
}

static void pause_ms(int ms)
{
    /* A polling interval while waiting for a real expiry, not a sync. */
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* `sqclaim status` in x's prefix: how many claims and reservations. */
static void held_counts(const rctx *x, int *claims, int *reservations)
{
    cr_opts o = ropts(x);
    cr_result r;
    cr_runv(&r, &o, "status", NULL);
    TC_EXIT(&r, 0);
    cJSON *j = tc_check_status(r.out);
    *claims = cJSON_GetArraySize(cJSON_GetObjectItem(j, "sqClaims"));
    *reservations = cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations"));
    cJSON_Delete(j);
    cr_free(&r);
}

/* Nothing is held in x's prefix: no claim, no reservation. */
static void assert_nothing_held(const rctx *x)
{
    int claims, reservations;
    held_counts(x, &claims, &reservations);
    ck_assert_msg(claims == 0 && reservations == 0, "%d claims and %d reservations left", claims,
                  reservations);
}

/* ------------------------------------------------------------------ */

START_TEST(test_claim_busy)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease l;
    claim_ok(&x, "251019-164rmb", "BOT1", NULL, &l);
    ck_assert_int_eq(l.ttl_ms, 600000);

    cr_opts o = ropts(&x);
    cr_result r;
    cr_runv(&r, &o, "claim", "251019-164rmb", "--bot", "BOT3", NULL);
    TC_EXIT(&r, 1);
    ck_assert_str_eq(r.out, "");
    /* Names the holder and how long it still holds. */
    ck_assert_msg(cr_contains(r.err, r.errlen,
                              "sqclaim: busy: SQ 251019-164rmb is held by BOT1 "
                              "for another "),
                  "%s", r.err);
    ck_assert_msg(cr_contains(r.err, r.errlen, " for another 9m"), "%s", r.err); /* 600 s TTL */
    tc_check_stderr_form(&r);
    tc_check_no_secret(&r, l.token);
    cr_free(&r);

    /* The holder itself cannot claim it twice either. */
    cr_runv(&r, &o, "claim", "251019-164rmb", "--bot", "BOT1", NULL);
    TC_EXIT(&r, 1);
    cr_free(&r);

    /* claim-first: skips the held one; all held: busy, naming the first. */
    cr_runv(&r, &o, "claim-first", "251019-164rmb", "251019-165abc", "--bot", "BOT3", NULL);
    TC_EXIT(&r, 0);
    tc_lease l2;
    tc_check_lease(r.out, "251019-165abc", "BOT3", 600000, &l2);
    ck_assert_uint_gt(l2.fence, 0);
    cr_free(&r);
    cr_runv(&r, &o, "claim-first", "251019-164rmb", "251019-165abc", "--bot", "BOT2", NULL);
    TC_EXIT(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(cr_contains(r.err, r.errlen,
                              "busy: all 2 candidate SQs are held (the first, "
                              "251019-164rmb, by BOT1 for another"),
                  "%s", r.err);
    cr_free(&r);
}
END_TEST

START_TEST(test_lease_ways)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease l, n;
    claim_ok(&x, "X1", "BOT1", "1m", &l);
    ck_assert_int_eq(l.ttl_ms, 60000);

    char path[] = "/tmp/sqclaim-cli-lease-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, l.line, strlen(l.line)) == (ssize_t)strlen(l.line));
    close(fd);

    cr_result r;
    cr_opts o = ropts(&x);
    /* 1. stdin by default */
    const char *a1[] = {"renew", NULL};
    with_lease(&x, &r, l.line, a1);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, "X1", "BOT1", 60000, &n);
    ck_assert_str_eq(n.token, l.token);
    ck_assert_uint_eq(n.fence, l.fence);
    cr_free(&r);
    /* 2. --lease - and --ttl */
    const char *a2[] = {"renew", "--lease", "-", "--ttl", "2m", NULL};
    with_lease(&x, &r, l.line, a2);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, "X1", "BOT1", 120000, &n);
    ck_assert_str_eq(n.token, l.token);
    cr_free(&r);
    /* 3. --lease JSON, with the SQ repeated */
    cr_runv(&r, &o, "renew", "X1", "--lease", l.line, "--ttl", "3m", NULL);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, "X1", "BOT1", 180000, &n);
    cr_free(&r);
    /* 4. --lease-file */
    cr_runv(&r, &o, "renew", "--lease-file", path, NULL);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, "X1", "BOT1", 60000, &n); /* the file's ttlMs */
    cr_free(&r);
    /* 5. SQ --token --bot */
    cr_runv(&r, &o, "renew", "X1", "--token", l.token, "--bot", "BOT1", "--ttl", "90s", NULL);
    TC_EXIT(&r, 0);
    tc_check_lease(r.out, "X1", "BOT1", 90000, &n);
    ck_assert_str_eq(n.token, l.token);
    ck_assert_uint_eq(n.fence, 0); /* not known from a token */
    cr_free(&r);
    /* The renewed lease's output feeds the next command. */
    const char *a6[] = {"renew", NULL};
    with_lease(&x, &r, n.line, a6);
    TC_EXIT(&r, 0);
    cr_free(&r);

    /* Someone else's token is not the lease. */
    cr_runv(&r, &o, "renew", "X1", "--token", "0123456789abcdef0123456789abcdef", "--bot", "BOT1",
            NULL);
    TC_EXIT(&r, 3);
    ck_assert(cr_contains(r.err, r.errlen, "lost"));
    cr_free(&r);
    cr_runv(&r, &o, "release", "X1", "--token", "0123456789abcdef0123456789abcdef", NULL);
    TC_EXIT(&r, 3);
    cr_free(&r);
    /* ... and the real one is untouched by those attempts. */
    cr_runv(&r, &o, "release", "X1", "--token", l.token, NULL);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    unlink(path);
}
END_TEST

/* Field by field against the seed's /api/queue example. */
START_TEST(test_status_fields)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease a, b;
    claim_ok(&x, "251019-164rmb", "BOT1", NULL, &a);
    claim_ok(&x, "251019-165abc", "BOT2", "5m", &b);
    cr_result r;
    const char *res[] = {"reserve", "--rows", "5", "--hint", "51", NULL};
    with_lease(&x, &r, a.line, res);
    TC_EXIT(&r, 0);
    tc_check_one_line(&r);
    cJSON *rj = tc_json(r.out);
    static const char *const rkeys[] = {"sq", "startRow", "rowCount", "fence", NULL};
    tc_check_keys(rj, rkeys, "reserve");
    ck_assert_str_eq(cJSON_GetObjectItem(rj, "sq")->valuestring, "251019-164rmb");
    double start = cJSON_GetObjectItem(rj, "startRow")->valuedouble;
    ck_assert(start >= 51);
    ck_assert_int_eq(cJSON_GetObjectItem(rj, "rowCount")->valueint, 5);
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(rj, "fence")->valuedouble, a.fence);
    cJSON_Delete(rj);
    cr_free(&r);

    cr_opts o = ropts(&x);
    cr_result s, p;
    cr_runv(&s, &o, "status", NULL);
    TC_EXIT(&s, 0);
    tc_check_one_line(&s);
    ck_assert_str_eq(s.err, "");
    tc_check_no_secret(&s, a.token);
    tc_check_no_secret(&s, b.token);
    check_no_backend_secret(&x, &s);
    ck_assert(!cr_contains(s.out, s.outlen, "token"));
    cJSON *j = tc_check_status(s.out);
    const cJSON *claims = cJSON_GetObjectItem(j, "sqClaims");
    ck_assert_int_eq(cJSON_GetArraySize(claims), 2);
    /* Sorted by SQ id. */
    ck_assert_str_eq(claims->child->string, "251019-164rmb");
    ck_assert_str_eq(claims->child->next->string, "251019-165abc");
    const cJSON *c = cJSON_GetObjectItem(claims, "251019-164rmb");
    ck_assert_str_eq(cJSON_GetObjectItem(c, "botId")->valuestring, "BOT1");
    ck_assert_str_eq(cJSON_GetObjectItem(c, "status")->valuestring, "CLAIMING");
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(c, "fence")->valuedouble, a.fence);
    double ttl = cJSON_GetObjectItem(c, "ttlMs")->valuedouble;
    ck_assert_msg(ttl > 0 && ttl <= 600000, "ttlMs %f", ttl);
    c = cJSON_GetObjectItem(claims, "251019-165abc");
    ck_assert_str_eq(cJSON_GetObjectItem(c, "botId")->valuestring, "BOT2");
    ttl = cJSON_GetObjectItem(c, "ttlMs")->valuedouble;
    ck_assert_msg(ttl > 0 && ttl <= 300000, "ttlMs %f", ttl);
    const cJSON *reservations = cJSON_GetObjectItem(j, "refundReservations");
    ck_assert_int_eq(cJSON_GetArraySize(reservations), 1);
    const cJSON *rv = cJSON_GetObjectItem(reservations, "251019-164rmb");
    ck_assert_ptr_nonnull(rv);
    ck_assert_str_eq(cJSON_GetObjectItem(rv, "botId")->valuestring, "BOT1");
    ck_assert(cJSON_GetObjectItem(rv, "startRow")->valuedouble == start);
    ck_assert_int_eq(cJSON_GetObjectItem(rv, "rowCount")->valueint, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(rv, "status")->valuestring, "WRITING");
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(rv, "fence")->valuedouble, a.fence);

    /* --pretty: the same JSON, indented (times differ between runs). */
    cr_runv(&p, &o, "status", "--pretty", NULL);
    TC_EXIT(&p, 0);
    ck_assert(cr_count(p.out, p.outlen, "\n") > 10);
    cJSON *pj = tc_check_status(p.out);
    cJSON *both[2] = {j, pj};
    for (int k = 0; k < 2; k++) {
        cJSON_ReplaceItemInObject(both[k], "timestamp", cJSON_CreateString("t"));
        const cJSON *sect[2] = {cJSON_GetObjectItem(both[k], "sqClaims"),
                                cJSON_GetObjectItem(both[k], "refundReservations")};
        for (int m = 0; m < 2; m++) {
            for (cJSON *e = sect[m]->child; e; e = e->next)
                cJSON_ReplaceItemInObject(e, "ttlMs", cJSON_CreateNumber(0));
        }
    }
    ck_assert(cJSON_Compare(j, pj, 1));
    cJSON_Delete(j);
    cJSON_Delete(pj);
    cr_free(&s);
    cr_free(&p);
}
END_TEST

/* finish --range names the reservation: a replayed finish of the first
 * one after the second reserve leaves the second in place. */
START_TEST(test_finish_range)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease l;
    claim_ok(&x, "X7", "BOT1", NULL, &l);
    cr_result r;
    const char *reserve3[] = {"reserve", "--rows", "3", NULL};
    const char *reserve2[] = {"reserve", "--rows", "2", NULL};
    with_lease(&x, &r, l.line, reserve3);
    TC_EXIT(&r, 0);
    char first[256];
    snprintf(first, sizeof first, "%s", r.out);
    first[strcspn(first, "\n")] = '\0';
    cr_free(&r);
    const char *finish1[] = {"finish", "--range", first, NULL};
    with_lease(&x, &r, l.line, finish1);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    with_lease(&x, &r, l.line, reserve2);
    TC_EXIT(&r, 0);
    cJSON *b = tc_json(r.out);
    char second[32];
    snprintf(second, sizeof second, "%.0f+2", cJSON_GetObjectItem(b, "startRow")->valuedouble);
    cJSON_Delete(b);
    cr_free(&r);
    /* The finish of #1 again (late, or twice): 0, #2 stays. */
    with_lease(&x, &r, l.line, finish1);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    int claims, reservations;
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(claims, 1);
    ck_assert_int_eq(reservations, 1);
    /* Malformed ranges, or one of another SQ: exit 2, nothing sent. */
    const char *bad[][4] = {{"finish", "--range", "abc", NULL},
                            {"finish", "--range", "0+2", NULL},
                            {"finish", "--range", "5+0", NULL},
                            {"finish", "--range", "{\"startRow\":5}", NULL},
                            {"finish", "--range",
                             "{\"sq\":\"OTHER\",\"startRow\":5,\"rowCount\":2,\"fence\":1}", NULL}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        with_lease(&x, &r, l.line, bad[k]);
        TC_EXIT(&r, 2);
        tc_check_no_secret(&r, l.token);
        cr_free(&r);
    }
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(reservations, 1);
    /* #2 by START+COUNT: removed. */
    const char *finish2[] = {"finish", "--range", second, NULL};
    with_lease(&x, &r, l.line, finish2);
    TC_EXIT(&r, 0);
    cr_free(&r);
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(claims, 1);
    ck_assert_int_eq(reservations, 0);
    /* Lost once released: 3. */
    const char *release[] = {"release", NULL};
    with_lease(&x, &r, l.line, release);
    TC_EXIT(&r, 0);
    cr_free(&r);
    with_lease(&x, &r, l.line, finish1);
    TC_EXIT(&r, 3);
    tc_check_no_secret(&r, l.token);
    cr_free(&r);
}
END_TEST

/* The whole life of a lease, and every exit status on the way. */
START_TEST(test_lifecycle)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease l;
    claim_ok(&x, "X1", "BOT1", NULL, &l);
    cr_result r;
    const char *reserve5[] = {"reserve", "--rows", "5", "--hint", "100", NULL};
    const char *reserve6[] = {"reserve", "--rows", "6", NULL};
    const char *finish[] = {"finish", NULL};
    const char *release[] = {"release", NULL};
    const char *renew[] = {"renew", NULL};

    with_lease(&x, &r, l.line, reserve5);
    TC_EXIT(&r, 0);
    char first[256];
    snprintf(first, sizeof first, "%s", r.out);
    ck_assert(cr_contains(r.out, r.outlen, "\"rowCount\":5"));
    cr_free(&r);
    /* Asking again while it is open: the same range. */
    with_lease(&x, &r, l.line, reserve5);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.out, first);
    cr_free(&r);
    /* Another count, or a hint past the open range, while one is open:
     * busy (1). */
    with_lease(&x, &r, l.line, reserve6);
    TC_EXIT(&r, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "finish it first"));
    cr_free(&r);
    const char *reserve5h[] = {"reserve", "--rows", "5", "--hint", "200", NULL};
    with_lease(&x, &r, l.line, reserve5h);
    TC_EXIT(&r, 1);
    ck_assert_str_eq(r.out, "");
    cr_free(&r);
    /* finish: 0, and 0 again (nothing open any more: a finish retried
     * converges; 3 only once the lease is lost, below). */
    with_lease(&x, &r, l.line, finish);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    with_lease(&x, &r, l.line, finish);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    /* A new range never overlaps the old one. */
    with_lease(&x, &r, l.line, reserve6);
    TC_EXIT(&r, 0);
    cJSON *a = tc_json(first), *b = tc_json(r.out);
    double s1 = cJSON_GetObjectItem(a, "startRow")->valuedouble;
    double s2 = cJSON_GetObjectItem(b, "startRow")->valuedouble;
    ck_assert_msg(s2 >= s1 + 5 || s2 + 6 <= s1, "ranges %f+5 and %f+6 overlap", s1, s2);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cr_free(&r);
    /* release: 0 (also removes the reservation), then 3 for everything. */
    with_lease(&x, &r, l.line, release);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    assert_nothing_held(&x);
    const char *const *after[] = {release, renew, reserve5, finish};
    for (int k = 0; k < 4; k++) {
        with_lease(&x, &r, l.line, after[k]);
        TC_EXIT(&r, 3);
        ck_assert_str_eq(r.out, "");
        tc_check_stderr_form(&r);
        tc_check_no_secret(&r, l.token);
        cr_free(&r);
    }
    /* Free again: anyone can claim it, with a higher fence. */
    tc_lease l2;
    claim_ok(&x, "X1", "BOT2", NULL, &l2);
    ck_assert_uint_gt(l2.fence, l.fence);
}
END_TEST

/* A lease that expires is lost for good: its holder gets 3, never a
 * revived claim, and the next holder gets a higher fence. */
START_TEST(test_lost_after_expiry)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease old, now;
    claim_ok(&x, "X1", "BOT1", "200ms", &old);
    ck_assert_int_eq(old.ttl_ms, 200);
    cr_opts o = ropts(&x);
    cr_result r;
    long long deadline = tsrv_now_ms() + 20000;
    for (;;) {
        cr_runv(&r, &o, "claim", "X1", "--bot", "BOT2", NULL);
        if (r.code == 0)
            break;
        TC_EXIT(&r, 1);
        cr_free(&r);
        ck_assert_msg(tsrv_now_ms() < deadline, "the 200 ms claim never expired");
        pause_ms(20);
    }
    tc_check_lease(r.out, "X1", "BOT2", -1, &now);
    cr_free(&r);
    ck_assert_uint_gt(now.fence, old.fence);

    const char *renew[] = {"renew", NULL};
    with_lease(&x, &r, old.line, renew);
    TC_EXIT(&r, 3);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "sqclaim: renew: the lease on SQ X1 is lost"));
    cr_free(&r);
    const char *reserve[] = {"reserve", "--rows", "2", NULL};
    with_lease(&x, &r, old.line, reserve);
    TC_EXIT(&r, 3);
    cr_free(&r);
    const char *release[] = {"release", NULL};
    with_lease(&x, &r, old.line, release);
    TC_EXIT(&r, 3);
    cr_free(&r);
    /* The new holder was not disturbed. */
    with_lease(&x, &r, now.line, renew);
    TC_EXIT(&r, 0);
    cr_free(&r);
    cr_runv(&r, &o, "status", NULL);
    cJSON *j = tc_check_status(r.out);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), "X1");
    ck_assert_str_eq(cJSON_GetObjectItem(c, "botId")->valuestring, "BOT2");
    cJSON_Delete(j);
    cr_free(&r);
}
END_TEST

/* Many shells claim the same SQ at the same moment: exactly one wins. */
#define RACERS 16
START_TEST(test_concurrent_claim)
{
    rctx x;
    rctx_init(&x, _i);
    for (int round = 0; round < 3; round++) {
        char sq[32];
        snprintf(sq, sizeof sq, "race-%d", round);
        char bots[RACERS][16];
        cr_proc *procs[RACERS];
        cr_gate g;
        ck_assert(cr_gate_open(&g) == 0);
        cr_opts o = ropts(&x);
        for (int k = 0; k < RACERS; k++) {
            snprintf(bots[k], sizeof bots[k], "BOT%d", k + 1);
            const char *args[] = {"claim", sq, "--bot", bots[k], NULL};
            procs[k] = cr_spawn(&o, args, &g);
            ck_assert_ptr_nonnull(procs[k]);
        }
        cr_gate_release(&g);
        int winners = 0, busy = 0, winner = -1;
        cr_result rs[RACERS];
        for (int k = 0; k < RACERS; k++) {
            cr_wait(procs[k], &rs[k]);
            if (rs[k].code == 0) {
                winners++;
                winner = k;
                tc_lease l;
                tc_check_lease(rs[k].out, sq, bots[k], -1, &l);
            } else {
                ck_assert_msg(rs[k].code == 1, "racer %d: exit %d\n%s", k, rs[k].code, rs[k].err);
                ck_assert_str_eq(rs[k].out, "");
                busy++;
            }
        }
        ck_assert_int_eq(winners, 1);
        ck_assert_int_eq(busy, RACERS - 1);
        /* Every loser names the winner. */
        char who[64];
        snprintf(who, sizeof who, "held by %s for another", bots[winner >= 0 ? winner : 0]);
        for (int k = 0; k < RACERS; k++) {
            if (k != winner)
                ck_assert_msg(cr_contains(rs[k].err, rs[k].errlen, who), "%s", rs[k].err);
            cr_free(&rs[k]);
        }
    }
}
END_TEST

/* 16 shells pick "the next free SQ" of the same 4: 4 winners, all
 * different SQs. */
START_TEST(test_concurrent_claim_first)
{
    rctx x;
    rctx_init(&x, _i);
    char bots[RACERS][16];
    cr_proc *procs[RACERS];
    cr_gate g;
    ck_assert(cr_gate_open(&g) == 0);
    cr_opts o = ropts(&x);
    for (int k = 0; k < RACERS; k++) {
        snprintf(bots[k], sizeof bots[k], "BOT%d", k + 1);
        const char *args[] = {"claim-first", "Q1", "Q2", "Q3", "Q4", "--bot", bots[k], NULL};
        procs[k] = cr_spawn(&o, args, &g);
        ck_assert_ptr_nonnull(procs[k]);
    }
    cr_gate_release(&g);
    int winners = 0;
    bool got[5] = {false};
    for (int k = 0; k < RACERS; k++) {
        cr_result r;
        cr_wait(procs[k], &r);
        if (r.code == 0) {
            tc_lease l;
            tc_check_lease(r.out, NULL, bots[k], -1, &l);
            ck_assert(l.sq[0] == 'Q' && l.sq[1] >= '1' && l.sq[1] <= '4' && !l.sq[2]);
            int q = l.sq[1] - '0';
            ck_assert_msg(!got[q], "%s granted twice", l.sq);
            got[q] = true;
            winners++;
        } else {
            ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
            ck_assert(cr_contains(r.err, r.errlen, "all 4 candidate SQs are held"));
        }
        cr_free(&r);
    }
    ck_assert_int_eq(winners, 4);
}
END_TEST

/* A bot's loop driven from C, one process per step, two bots taking
 * turns: claim-first -> reserve -> finish -> release until all is done. */
START_TEST(test_bot_loop)
{
    rctx x;
    rctx_init(&x, _i);
    const char *all[] = {"L1", "L2", "L3", "L4", "L5"};
    bool done[5] = {false};
    double starts[5];
    uint64_t last_fence = 0;
    cr_opts o = ropts(&x);
    for (int step = 0; step < 5; step++) {
        const char *bot = step % 2 ? "BOT2" : "BOT1";
        const char *args[16];
        size_t n = 0;
        args[n++] = "claim-first";
        for (int k = 0; k < 5; k++)
            if (!done[k])
                args[n++] = all[k];
        args[n++] = "--bot";
        args[n++] = bot;
        args[n] = NULL;
        cr_result r;
        cr_run(&r, &o, args);
        TC_EXIT(&r, 0);
        tc_lease l;
        tc_check_lease(r.out, NULL, bot, -1, &l);
        cr_free(&r);
        ck_assert_uint_gt(l.fence, last_fence);
        last_fence = l.fence;

        const char *reserve[] = {"reserve", "--rows", "3", "--hint", "2", NULL};
        with_lease(&x, &r, l.line, reserve);
        TC_EXIT(&r, 0);
        cJSON *j = tc_json(r.out);
        int idx = l.sq[1] - '1';
        ck_assert(!done[idx]);
        starts[step] = cJSON_GetObjectItem(j, "startRow")->valuedouble;
        ck_assert(starts[step] >= 2);
        for (int k = 0; k < step; k++)
            ck_assert_msg(starts[step] >= starts[k] + 3 || starts[step] + 3 <= starts[k],
                          "rows overlap");
        cJSON_Delete(j);
        cr_free(&r);
        const char *finish[] = {"finish", NULL};
        with_lease(&x, &r, l.line, finish);
        TC_EXIT(&r, 0);
        cr_free(&r);
        done[idx] = true;
        const char *release[] = {"release", NULL};
        with_lease(&x, &r, l.line, release);
        TC_EXIT(&r, 0);
        cr_free(&r);
    }
    for (int k = 0; k < 5; k++)
        ck_assert(done[k]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The shell bot loop of docs/cli.md, run as written by three bots at once */

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, fp);
    s[got] = '\0';
    fclose(fp);
    return s;
}

/* The script between the bot-loop markers, without the code fence. */
static char *docs_script(void)
{
    char *doc = read_text(SQCLAIM_SRCDIR "/docs/cli.md");
    ck_assert_msg(doc != NULL, "cannot read docs/cli.md");
    const char *b = strstr(doc, "<!-- bot-loop:begin -->");
    const char *e = b ? strstr(b, "<!-- bot-loop:end -->") : NULL;
    ck_assert_msg(b && e, "docs/cli.md lacks the bot-loop markers");
    b = strstr(b, "```sh\n");
    ck_assert(b && b < e);
    b += 6;
    const char *fence = b;
    const char *end = NULL;
    while ((fence = strstr(fence, "\n```")) && fence < e) {
        end = fence + 1;
        break;
    }
    ck_assert(end);
    char *s = strndup(b, (size_t)(end - b));
    free(doc);
    return s;
}

/* Write the docs' script into a new temporary directory; fill the
 * environment the bots run with (sqclaim on the PATH, the files). */
typedef struct loopenv {
    char dir[64];
    char script[300], donef[300], rowsf[300];
    char path[4096], e_done[400], e_rows[400];
    const char *env[8];
} loopenv;

static void loopenv_init(loopenv *L, const rctx *x)
{
    memset(L, 0, sizeof *L);
    snprintf(L->dir, sizeof L->dir, "/tmp/sqclaim-cli-loop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(L->dir));
    snprintf(L->script, sizeof L->script, "%s/bot.sh", L->dir);
    snprintf(L->donef, sizeof L->donef, "%s/done.txt", L->dir);
    snprintf(L->rowsf, sizeof L->rowsf, "%s/refund-log.txt", L->dir);
    char *text = docs_script();
    FILE *fp = fopen(L->script, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    free(text);
    /* sqclaim on the PATH, as the docs assume. */
    char bindir[512];
    snprintf(bindir, sizeof bindir, "%s", cr_program());
    char *slash = strrchr(bindir, '/');
    if (slash)
        *slash = '\0';
    char *real = realpath(bindir, NULL);
    snprintf(L->path, sizeof L->path, "PATH=%s:%s", real ? real : bindir,
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    free(real);
    snprintf(L->e_done, sizeof L->e_done, "DONE_FILE=%s", L->donef);
    snprintf(L->e_rows, sizeof L->e_rows, "ROWS_LOG=%s", L->rowsf);
    size_t k = 0;
    L->env[k++] = x->penv;
    L->env[k++] = L->path;
    L->env[k++] = L->e_done;
    L->env[k++] = L->e_rows;
    L->env[k++] = "BUSY_WAIT=0.05";
    L->env[k] = NULL;
}

static void loopenv_free(loopenv *L)
{
    unlink(L->script);
    unlink(L->donef);
    unlink(L->rowsf);
    rmdir(L->dir);
}

START_TEST(test_docs_bot_loop)
{
    rctx x;
    rctx_init(&x, _i);
    loopenv L;
    loopenv_init(&L, &x);
    cr_opts o = tc_opts(x.b, L.env);
    o.raw_argv = true;
    const char *script = L.script, *rowsf = L.rowsf;

    static const char *const sqs[] = {"251019-164rmb", "251019-165abc", "251019-166def",
                                      "251019-167ghi", "251019-168jkl", "251019-169mno",
                                      "251019-170pqr", "251019-171stu"};
    enum { NSQ = 8, NBOTS = 3 };
    cr_proc *procs[NBOTS];
    for (int k = 0; k < NBOTS; k++) {
        char bot[8];
        snprintf(bot, sizeof bot, "BOT%d", k + 1);
        const char *args[4 + NSQ];
        size_t n = 0;
        args[n++] = "/bin/sh";
        args[n++] = script;
        args[n++] = bot;
        for (int q = 0; q < NSQ; q++)
            args[n++] = sqs[q];
        args[n] = NULL;
        procs[k] = cr_spawn(&o, args, NULL);
        ck_assert_ptr_nonnull(procs[k]);
    }
    for (int k = 0; k < NBOTS; k++) {
        cr_result r;
        cr_wait(procs[k], &r);
        ck_assert_msg(r.code == 0, "bot %d: exit %d\n%s\n%s", k + 1, r.code, r.out, r.err);
        check_no_backend_secret(&x, &r);
        cr_free(&r);
    }
    /* Every SQ written exactly once, no two row ranges overlapping. */
    char *log = read_text(rowsf);
    ck_assert_ptr_nonnull(log);
    int seen[NSQ] = {0};
    long lo[NSQ], hi[NSQ];
    int nr = 0;
    char *save = NULL;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char sq[80], bot[16];
        long start, count;
        ck_assert_msg(sscanf(line, "%79s %ld %ld %15s", sq, &start, &count, bot) == 4, "%s", line);
        int q = -1;
        for (int k = 0; k < NSQ; k++)
            if (strcmp(sqs[k], sq) == 0)
                q = k;
        ck_assert_msg(q >= 0, "unknown SQ in the log: %s", line);
        seen[q]++;
        ck_assert(nr < NSQ);
        lo[nr] = start;
        hi[nr] = start + count - 1;
        for (int k = 0; k < nr; k++)
            ck_assert_msg(hi[nr] < lo[k] || lo[nr] > hi[k], "rows overlap: %s", line);
        nr++;
    }
    for (int k = 0; k < NSQ; k++)
        ck_assert_msg(seen[k] == 1, "%s written %d times", sqs[k], seen[k]);
    free(log);
    assert_nothing_held(&x);
    loopenv_free(&L);
}
END_TEST

/* The docs' bot killed in the middle of its work: its EXIT trap gives the
 * claim and the reservation back at once.  The Refund Log is a FIFO, so
 * the bot blocks while writing its rows, holding both. */
START_TEST(test_docs_bot_loop_killed)
{
    rctx x;
    rctx_init(&x, _i);
    loopenv L;
    loopenv_init(&L, &x);
    ck_assert(mkfifo(L.rowsf, 0600) == 0);
    cr_opts o = tc_opts(x.b, L.env);
    o.raw_argv = true;
    const char *args[] = {"/bin/sh", L.script, "BOT7", "K1", "K2", NULL};
    cr_proc *bot = cr_spawn(&o, args, NULL);
    ck_assert_ptr_nonnull(bot);
    /* Wait until it holds K1 and its rows (polling the store). */
    cr_opts so = ropts(&x);
    long long deadline = tsrv_now_ms() + 30000;
    for (;;) {
        cr_result r;
        cr_runv(&r, &so, "status", NULL);
        TC_EXIT(&r, 0);
        bool held =
            cr_contains(r.out, r.outlen, "\"refundReservations\":{\"K1\":{\"botId\":\"BOT7\"");
        cr_free(&r);
        if (held)
            break;
        ck_assert_msg(tsrv_now_ms() < deadline, "the bot never reserved rows");
        pause_ms(10);
    }
    kill(cr_proc_pid(bot), SIGTERM);
    cr_result r;
    cr_wait(bot, &r);
    TC_EXIT(&r, 143);
    cr_free(&r);
    assert_nothing_held(&x);
    loopenv_free(&L);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Secrets never printed; configuration and transport errors            */

static const char *const lease_cmds[][8] = {
    {"claim", "X1", "--bot", "B", NULL},
    {"claim-first", "X1", "X2", "--bot", "B", NULL},
    {"renew", NULL},
    {"release", NULL},
    {"reserve", "--rows", "3", NULL},
    {"finish", NULL},
    {"status", NULL},
    {"status", "--pretty", NULL},
    {"watch", "--count", "1", "--interval", "10ms", NULL},
    {"watch", "--json", "--count", "1", "--interval", "10ms", NULL},
};
#define NLEASE_CMDS (sizeof lease_cmds / sizeof lease_cmds[0])
#define SOME_LEASE                                                                                 \
    "{\"sq\":\"X1\",\"bot\":\"B\",\"token\":\"0123456789abcdef0123456789abcdef\",\"fence\":1}"

/* Run every command with env; expect `code`, and no `secret` anywhere. */
static void every_command(const char *const *env, const char *const *env2, int code,
                          const char *secret, const char *secret2, const char *expect)
{
    for (size_t i = 0; i < NLEASE_CMDS; i++) {
        const char *args[12];
        size_t n = 0;
        args[n++] = "--timeout";
        args[n++] = "1s";
        for (size_t k = 0; lease_cmds[i][k]; k++)
            args[n++] = lease_cmds[i][k];
        args[n] = NULL;
        cr_opts o;
        memset(&o, 0, sizeof o);
        o.env = env;
        o.env2 = env2;
        o.input = SOME_LEASE;
        cr_result r;
        cr_run(&r, &o, args);
        ck_assert_msg(r.code == code, "%s: exit %d, expected %d\n%s\n%s", lease_cmds[i][0], r.code,
                      code, r.out, r.err);
        tc_check_no_secret(&r, secret);
        if (secret2)
            tc_check_no_secret(&r, secret2);
        if (expect)
            ck_assert_msg(cr_contains(r.err, r.errlen, expect), "%s: %s", lease_cmds[i][0], r.err);
        tc_check_stderr_form(&r);
        if (strcmp(lease_cmds[i][0], "status") == 0) {
            /* The error as the seed's JSON on stdout. */
            cJSON *j = tc_json(r.out);
            ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")));
            ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
            cJSON_Delete(j);
        }
        cr_free(&r);
    }
}

START_TEST(test_secrets)
{
    const tc_backend *b = &tc_backends[_i];
    int closed = tsrv_free_port();
    if (strcmp(b->name, "redis") == 0) {
        /* A password in REDIS_URL, a server that is not there: 5, and the
         * password nowhere. */
        char url[256];
        snprintf(url, sizeof url, "REDIS_URL=redis://:%s@127.0.0.1:%d", TC_REDIS_PASSWORD, closed);
        const char *env[] = {"SQCLAIM_ADAPTER=redis", url, NULL};
        every_command(env, NULL, 5, TC_REDIS_PASSWORD, NULL, NULL);
        /* The same through --redis-url. */
        cr_result r;
        cr_opts o;
        memset(&o, 0, sizeof o);
        cr_runv(&r, &o, "--adapter", "redis", "--redis-url", url + 10, "--timeout", "1s", "status",
                NULL);
        TC_EXIT(&r, 5);
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
        /* A wrong password: configuration (4); neither password shown. */
        snprintf(url, sizeof url, "REDIS_URL=redis://:wrong-Pw-77x@127.0.0.1:%d", tc_redis_pw.port);
        const char *env2[] = {"SQCLAIM_ADAPTER=redis", url, NULL};
        every_command(env2, NULL, 4, "wrong-Pw-77x", TC_REDIS_PASSWORD, NULL);
        /* The right one: works, still never shown. */
        snprintf(url, sizeof url, "REDIS_URL=redis://:%s@127.0.0.1:%d", TC_REDIS_PASSWORD,
                 tc_redis_pw.port);
        char pfx[64], penv[96];
        snprintf(penv, sizeof penv, "SQCLAIM_KEY_PREFIX=%s", tc_prefix(pfx, sizeof pfx));
        const char *env3[] = {"SQCLAIM_ADAPTER=redis", url, penv, NULL};
        o.env = env3;
        cr_runv(&r, &o, "claim", "X1", "--bot", "B", NULL);
        TC_EXIT(&r, 0);
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
        cr_runv(&r, &o, "status", NULL);
        TC_EXIT(&r, 0);
        ck_assert(cr_contains(r.out, r.outlen, "\"X1\""));
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
    } else {
        /* The REST token with a server that is not there: 5. */
        char url[200];
        snprintf(url, sizeof url, "KV_REST_API_URL=http://127.0.0.1:%d", closed);
        const char *env[] = {"SQCLAIM_ADAPTER=vercel", url, "KV_REST_API_TOKEN=" TC_KV_TOKEN, NULL};
        every_command(env, NULL, 5, TC_KV_TOKEN, NULL, NULL);
        /* A wrong token: 4, neither token shown. */
        snprintf(url, sizeof url, "KV_REST_API_URL=%s", tc_kvrest.url);
        const char *env2[] = {"SQCLAIM_ADAPTER=vercel", url, "KV_REST_API_TOKEN=wrong-Tok-99q",
                              NULL};
        every_command(env2, NULL, 4, "wrong-Tok-99q", TC_KV_TOKEN, NULL);
        /* Upstash's names work too. */
        const char *env3[] = {"SQCLAIM_ADAPTER=vercel", "UPSTASH_REDIS_REST_TOKEN=" TC_KV_TOKEN,
                              NULL};
        char up[160];
        snprintf(up, sizeof up, "UPSTASH_REDIS_REST_URL=%s", tc_kvrest.url);
        const char *env4[] = {up, NULL};
        cr_opts o;
        memset(&o, 0, sizeof o);
        o.env = env3;
        o.env2 = env4;
        cr_result r;
        cr_runv(&r, &o, "status", NULL);
        TC_EXIT(&r, 0);
        tc_check_no_secret(&r, TC_KV_TOKEN);
        cr_free(&r);
    }
}
END_TEST

/* Keys under one prefix are invisible under another. */
START_TEST(test_prefix)
{
    rctx x;
    rctx_init(&x, _i);
    tc_lease l;
    claim_ok(&x, "X1", "BOT1", NULL, &l);
    char other[64];
    tc_prefix(other, sizeof other);
    cr_opts o = tc_opts(x.b, NULL);
    cr_result r;
    cr_runv(&r, &o, "--prefix", other, "status", NULL);
    TC_EXIT(&r, 0);
    ck_assert(!cr_contains(r.out, r.outlen, "\"X1\""));
    cr_free(&r);
    cr_runv(&r, &o, "status", "--prefix", x.prefix, NULL);
    TC_EXIT(&r, 0);
    ck_assert(cr_contains(r.out, r.outlen, "\"X1\""));
    cr_free(&r);
    cr_runv(&r, &o, "claim", "X1", "--bot", "BOT2", "--prefix", other, NULL);
    TC_EXIT(&r, 0);
    cr_free(&r);
}
END_TEST

/* stdout gone: the claim is released, not left for its TTL. */
START_TEST(test_output_failure_releases)
{
    rctx x;
    rctx_init(&x, _i);
    cr_opts o = ropts(&x);
    o.stdout_path = "/dev/full";
    cr_result r;
    cr_runv(&r, &o, "claim", "X1", "--bot", "BOT1", NULL);
    TC_EXIT(&r, 5);
    ck_assert(cr_contains(r.err, r.errlen, "has been released"));
    cr_free(&r);
    tc_lease l;
    claim_ok(&x, "X1", "BOT2", NULL, &l);
    /* reserve: the range is finished (removed) again. */
    const char *reserve[] = {"reserve", "--rows", "4", NULL};
    o.input = l.line;
    cr_run(&r, &o, reserve);
    TC_EXIT(&r, 5);
    ck_assert(cr_contains(r.err, r.errlen, "has been finished"));
    cr_free(&r);
    int claims, reservations;
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(claims, 1); /* BOT2's claim stays */
    ck_assert_int_eq(reservations, 0);
}
END_TEST

/* A private kvrest (started with fault flags) in front of the shared
 * redis.  `o` runs sqclaim through it, in the prefix of `x`; `x` runs it
 * through the shared, well-behaved kvrest (same redis, same keys). */
typedef struct side {
    tsrv kv;
    rctx x;
    char url[200];
    const char *env[5];
    cr_opts o;
} side;

static int vercel_index(void)
{
    for (int i = 0; i < tc_nbackends; i++)
        if (strcmp(tc_backends[i].name, "vercel") == 0)
            return i;
    ck_abort_msg("the vercel backend is not set up");
    return -1;
}

static void side_start(side *sd, const char *const *flags)
{
    memset(sd, 0, sizeof *sd);
    ck_assert_int_eq(tsrv_kvrest_start(&sd->kv, &tc_redis, TC_KV_TOKEN, flags), 0);
    snprintf(sd->url, sizeof sd->url, "KV_REST_API_URL=%s", sd->kv.url);
}

/* A fresh key prefix for the next round (sd must not move). */
static void side_prefix(side *sd)
{
    rctx_init(&sd->x, vercel_index());
    sd->env[0] = "SQCLAIM_ADAPTER=vercel";
    sd->env[1] = sd->url;
    sd->env[2] = "KV_REST_API_TOKEN=" TC_KV_TOKEN;
    sd->env[3] = sd->x.penv;
    sd->env[4] = NULL;
    sd->o = tc_opts(NULL, sd->env);
}

/* Replies lost after the request was applied (kvrest drops them): a claim
 * is printed only when it is proven, and one that cannot be proven is not
 * left behind.  Every run: exit 0 and the SQ is ours, or exit 5 and the SQ
 * is free. */
START_TEST(test_uncertain_claim)
{
    static const char *const rates[] = {"1", "0.5"};
    for (int k = 0; k < 2; k++) {
        side lossy;
        const char *extra[] = {"--drop-rate", rates[k], "--seed", "42", NULL};
        side_start(&lossy, extra);
        side_prefix(&lossy);
        cr_opts lo = lossy.o, go = ropts(&lossy.x);
        int ok = 0;
        for (int n = 0; n < (k == 0 ? 2 : 12); n++) {
            char sq[16];
            snprintf(sq, sizeof sq, "U%d", n);
            cr_result r;
            char other[16];
            snprintf(other, sizeof other, "V%d", n);
            /* Odd runs: claim-first over two fresh SQs (the first is granted). */
            if (n % 2)
                cr_runv(&r, &lo, "claim-first", sq, other, "--bot", "BOTU", NULL);
            else
                cr_runv(&r, &lo, "claim", sq, "--bot", "BOTU", NULL);
            /* Advice meant for C callers is not shown to shell users. */
            ck_assert_msg(!cr_contains(r.err, r.errlen, "sqclaim_"), "%s", r.err);
            tc_check_no_secret(&r, TC_KV_TOKEN);
            tc_check_stderr_form(&r);
            cr_result s;
            cr_runv(&s, &go, "status", NULL);
            TC_EXIT(&s, 0);
            cJSON *j = tc_check_status(s.out);
            const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), sq);
            if (r.code == 0) {
                ok++;
                tc_lease l;
                tc_check_lease(r.out, sq, "BOTU", -1, &l);
                ck_assert_msg(c != NULL, "%s reported granted but not held", sq);
            } else {
                ck_assert_msg(r.code == 5, "exit %d: %s", r.code, r.err);
                ck_assert_str_eq(r.out, "");
                ck_assert_msg(c == NULL, "%s left held after exit 5:\n%s", sq, r.err);
                ck_assert_msg(!cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), other),
                              "%s left held after exit 5", other);
                ck_assert_msg(cr_contains(r.err, r.errlen, "outcome"), "%s", r.err);
            }
            cJSON_Delete(j);
            cr_free(&s);
            cr_free(&r);
        }
        if (k == 0)
            ck_assert_int_eq(ok, 0); /* nothing can be proven when every reply is lost */
        tsrv_stop(&lossy.kv);
    }
}
END_TEST

#ifdef SQCLAIM_WITH_VERCEL
#include <curl/curl.h>

static size_t take_body(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t len = strlen(buf), add = sz * n;
    if (len + add < 1024) {
        memcpy(buf + len, p, add);
        buf[len + add] = '\0';
    }
    return sz * n;
}

/* A request to kvrest's admin API: GET path, or POST body to it; the
 * answer in body[1024]. */
static void kv_admin(const tsrv *kv, const char *path, const char *post, char *body)
{
    char url[200], auth[200];
    snprintf(url, sizeof url, "%s%s", kv->url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", TC_KV_TOKEN);
    body[0] = '\0';
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (post)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    ck_assert_msg(rc == CURLE_OK && status == 200, "kvrest %s: %s, status %ld: %s", path,
                  curl_easy_strerror(rc), status, body);
}

/* A counter of kvrest's GET /_kvrest/stats ("requests", "commands"). */
static long long kv_stat(const tsrv *kv, const char *name)
{
    char body[1024], key[64];
    kv_admin(kv, "/_kvrest/stats", NULL, body);
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *v = strstr(body, key);
    ck_assert_msg(v != NULL, "no %s in %s", name, body);
    return strtoll(v + strlen(key), NULL, 10);
}

/* Wait until kvrest counter `name` reaches `want` (a poll with a
 * deadline).  False if it never does. */
static bool kv_wait_stat(const tsrv *kv, const char *name, long long want)
{
    long long deadline = tsrv_now_ms() + 30000;
    while (kv_stat(kv, name) < want) {
        if (tsrv_now_ms() > deadline)
            return false;
        pause_ms(5);
    }
    return true;
}

/* Stopped (Ctrl-C, SIGTERM, SIGHUP) while a claim or a reservation is on
 * its way: the tool waits for the store's answer and hands back what it
 * got, instead of dying and leaving a claim (or rows) held that nobody
 * has the token of.  A kvrest with 2.5 s of latency keeps the request in
 * flight while the signal arrives; it exits by that signal. */
START_TEST(test_stopped_in_flight)
{
    side sd;
    const char *extra[] = {"--latency-ms", "2500", NULL};
    side_start(&sd, extra);
    const tsrv *slow = &sd.kv;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int k = 0; k < 3; k++) {
        side_prefix(&sd);
        cr_opts so = sd.o;
        /* Through the quick kvrest first: the claim script is cached in
         * redis, so the slow claim is one request. */
        tc_lease held;
        claim_ok(&sd.x, "S0", "BOTS", NULL, &held);
        long long before = kv_stat(slow, "requests");
        long long cmds = kv_stat(slow, "commands");
        cr_proc *p;
        if (k < 2) { /* claim, claim-first */
            /* --timeout: the command's bound, shared by up to three
             * requests; each must outlast the 2.5 s latency. */
            const char *one[] = {"claim", "S1", "--bot", "BOTS", "--timeout", "30s", NULL};
            const char *first[] = {"claim-first", "S0",        "S1",  "--bot",
                                   "BOTS",        "--timeout", "30s", NULL};
            p = cr_spawn(&so, k == 0 ? one : first, NULL);
        } else { /* reserve (stdin is only written by cr_wait) */
            const char *res[] = {"reserve", "--rows",    "4",   "--lease",
                                 held.line, "--timeout", "30s", NULL};
            p = cr_spawn(&so, res, NULL);
        }
        ck_assert_ptr_nonnull(p);
        bool sent = kv_wait_stat(slow, "requests", before + 1); /* in flight */
        kill(cr_proc_pid(p), sent ? sigs[k] : SIGKILL);
        cr_result r;
        cr_wait(p, &r);
        ck_assert_msg(sent, "case %d: no request arrived:\n%s", k, r.err);
        TC_EXIT(&r, 128 + sigs[k]);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(
            cr_contains(r.err, r.errlen, k < 2 ? "has been released" : "has been finished"), "%s",
            r.err);
        tc_check_stderr_form(&r);
        cr_free(&r);
        /* What the store holds once the request has landed (a status
         * through the slow kvrest queues behind it). */
        ck_assert(kv_wait_stat(slow, "commands", cmds + 1));
        cr_runv(&r, &so, "status", NULL);
        TC_EXIT(&r, 0);
        cJSON *j = tc_check_status(r.out);
        const cJSON *claims = cJSON_GetObjectItem(j, "sqClaims");
        ck_assert_msg(!cJSON_GetObjectItem(claims, "S1"), "S1 left held: %s", r.out);
        ck_assert_msg(cJSON_GetObjectItem(claims, "S0"), "S0 lost: %s", r.out);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations")), 0);
        cJSON_Delete(j);
        cr_free(&r);
    }
    tsrv_stop(&sd.kv);
}
END_TEST
/* The first reply of a release (or finish) is lost after it was applied;
 * the retry finds the lease (or reservation) gone.  A finish converges:
 * the claim is still ours and its reservation gone, so exit 0 (issue 9).
 * A release from the command line is not provable (a lease read from JSON
 * has no local deadline), so exit 3, with the message saying the first
 * attempt may have done it.  kvrest drops replies with probability 0.5;
 * seed 3 drops the first request and answers the next two. */
START_TEST(test_lost_reply_release_finish)
{
    side lossy;
    const char *extra[] = {"--drop-rate", "0.5", "--seed", "3", NULL};
    side_start(&lossy, extra);
    side_prefix(&lossy);
    const rctx *x = &lossy.x;
    char body[1024];
    cr_opts lo = lossy.o;
    const char *reserve[] = {"reserve", "--rows", "2", NULL};
    const char *finish[] = {"finish", NULL};
    const char *release[] = {"release", NULL};
    /* Every script cached in redis first (through the quick kvrest), so
     * each attempt below is one request. */
    tc_lease w, l;
    cr_result r;
    claim_ok(x, "W1", "BOTL", NULL, &w);
    for (int k = 0; k < 3; k++) {
        with_lease(x, &r, w.line, k == 0 ? reserve : k == 1 ? finish : release);
        TC_EXIT(&r, 0);
        cr_free(&r);
    }

    claim_ok(x, "R1", "BOTL", NULL, &l);
    with_lease(x, &r, l.line, reserve);
    TC_EXIT(&r, 0);
    cr_free(&r);
    /* finish */
    kv_admin(&lossy.kv, "/_kvrest/faults", "{\"seed\":3}", body);
    lo.input = l.line;
    cr_run(&r, &lo, finish);
    TC_EXIT(&r, 0);
    ck_assert_msg(r.errlen == 0, "%s", r.err);
    cr_free(&r);
    int claims, reservations;
    held_counts(x, &claims, &reservations);
    ck_assert_int_eq(claims, 1);
    ck_assert_int_eq(reservations, 0);
    /* release */
    kv_admin(&lossy.kv, "/_kvrest/faults", "{\"seed\":3}", body);
    cr_run(&r, &lo, release);
    TC_EXIT(&r, 3);
    ck_assert_msg(cr_contains(r.err, r.errlen, "may have released it"), "%s", r.err);
    cr_free(&r);
    assert_nothing_held(x);
    ck_assert_int_eq(kv_stat(&lossy.kv, "dropped"), 2); /* one lost reply each */
    tsrv_stop(&lossy.kv);
}
END_TEST

/* watch on vercel (issue 9.12): every request is billed, and the legacy
 * Vercel KV free plan allows 3 000 a day.  Without --interval, watch
 * polls at a pace that keeps it within half of that, counted from the
 * requests a poll really took (kvrest counts them too), and says what it
 * costs.  Other backends keep 2 s. */
START_TEST(test_watch_request_budget)
{
    int vi = vercel_index();
    rctx x;
    rctx_init(&x, vi);
    tc_lease l;
    claim_ok(&x, "WB1", "BOTW", NULL, &l); /* a store that holds something */
    cr_opts o = ropts(&x);
    cr_result r;
    long long before = kv_stat(&tc_kvrest, "requests");
    cr_runv(&r, &o, "watch", "--count", "1", NULL);
    long long polled = kv_stat(&tc_kvrest, "requests") - before; /* admin routes not counted */
    TC_EXIT(&r, 0);
    ck_assert_msg(polled >= 1, "%lld requests", polled);
    /* The note names the real count, the interval and the daily cost. */
    char want[96];
    snprintf(want, sizeof want, ": %lld request%s a poll, ", polled, polled == 1 ? "" : "s");
    ck_assert_msg(cr_contains(r.err, r.errlen, want), "no \"%s\" in:\n%s", want, r.err);
    const char *every = strstr(r.out, "every ");
    ck_assert_msg(every != NULL, "%s", r.out);
    int minutes = 0, seconds = -1;
    ck_assert_msg(sscanf(every, "every %dm%ds, ~", &minutes, &seconds) == 2, "%s", r.out);
    long long interval_ms = minutes * 60000LL + seconds * 1000LL;
    long long per_day = (polled * 86400000LL + interval_ms - 1) / interval_ms;
    ck_assert_msg(per_day <= 1500, "every %lld ms costs %lld requests a day", interval_ms, per_day);
    char day[64];
    snprintf(day, sizeof day, ", ~%lld requests/day, ", per_day);
    ck_assert_msg(cr_contains(r.out, r.outlen, day), "no \"%s\" in:\n%s", day, r.out);
    snprintf(day, sizeof day, "%lld requests a day", per_day);
    ck_assert_msg(cr_contains(r.err, r.errlen, day), "%s", r.err);
    tc_check_stderr_form(&r);
    cr_free(&r);

    /* An interval given is kept, and its cost said: over the plan. */
    cr_runv(&r, &o, "watch", "--count", "2", "--interval", "10ms", NULL);
    TC_EXIT(&r, 0);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "sqclaim watch: vercel, every 10ms, ~"), 2);
    ck_assert_msg(cr_contains(r.err, r.errlen, "exceeds it"), "%s", r.err);
    ck_assert_int_eq(cr_count(r.err, r.errlen, "sqclaim: note: watch polls"), 1);
    cr_free(&r);
    /* --quiet: no note. */
    cr_runv(&r, &o, "-q", "watch", "--count", "1", NULL);
    TC_EXIT(&r, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);

    /* redis: the plain 2 s, no cost. */
    for (int i = 0; i < tc_nbackends; i++) {
        if (strcmp(tc_backends[i].name, "redis") != 0)
            continue;
        rctx y;
        rctx_init(&y, i);
        cr_opts oy = ropts(&y);
        cr_runv(&r, &oy, "watch", "--count", "1", NULL);
        TC_EXIT(&r, 0);
        ck_assert_msg(strncmp(r.out, "sqclaim watch: redis, every 2.0s, 20", 36) == 0, "%s", r.out);
        ck_assert_str_eq(r.err, "");
        cr_free(&r);
    }
}
END_TEST
#endif

Suite *tc_remote_suite(void)
{
    Suite *s = suite_create("cli-remote");
    TCase *tc = tcase_create("remote");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_claim_busy, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_lease_ways, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_status_fields, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_lifecycle, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_finish_range, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_lost_after_expiry, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_concurrent_claim, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_concurrent_claim_first, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_bot_loop, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_docs_bot_loop, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_docs_bot_loop_killed, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_secrets, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_prefix, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_output_failure_releases, 0, tc_nbackends);
    suite_add_tcase(s, tc);
    if (tc_built("vercel")) {
        tc = tcase_create("lossy");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_uncertain_claim);
#ifdef SQCLAIM_WITH_VERCEL
        tcase_add_test(tc, test_stopped_in_flight);
        tcase_add_test(tc, test_lost_reply_release_finish);
        tcase_add_test(tc, test_watch_request_budget);
#endif
        suite_add_tcase(s, tc);
    }
    return s;
}
