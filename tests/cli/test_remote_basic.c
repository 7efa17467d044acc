/* test_remote_basic.c — the CLI against redis and vercel (through kvrest): claims, leases, status
 * fields, the lifecycle, expiry, concurrent claims and a bot loop. Shared helpers: remote.h. */
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */

START_TEST(test_claim_busy)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "251019-164rmb", NULL, &l);

    cr_opts o = ropts(&x);
    cr_result r;
    TC_RUNV(&r, &o, 1, "claim", "251019-164rmb", "--bot", "BOT3", NULL);
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
    TC_EXITS(&o, 1, "claim", "251019-164rmb", "--bot", "BOT1", NULL);

    /* claim-first: skips the held one; all held: busy, naming the first. */
    TC_RUNV(&r, &o, 0, "claim-first", "251019-164rmb", "251019-165abc", "--bot", "BOT3", NULL);
    tc_lease l2;
    tc_check_lease(r.out, "251019-165abc", "BOT3", 600000, &l2);
    ck_assert_uint_gt(l2.fence, 0);
    cr_free(&r);
    TC_RUNV(&r, &o, 1, "claim-first", "251019-164rmb", "251019-165abc", "--bot", "BOT2", NULL);
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
    tc_lease l, n;
    rctx_claimed(&x, _i, "X1", "1m", &l);

    char path[] = "/tmp/sqclaim-cli-lease-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, l.line, strlen(l.line)) == (ssize_t)strlen(l.line));
    close(fd);

    cr_result r;
    cr_opts o = ropts(&x);
    /* 1. stdin by default */
    const char *a1[] = {"renew", NULL};
    lease_run(&x, &r, l.line, a1, 0);
    tc_check_lease(r.out, "X1", "BOT1", 60000, &n);
    ck_assert_str_eq(n.token, l.token);
    ck_assert_uint_eq(n.fence, l.fence);
    cr_free(&r);
    /* 2. --lease - and --ttl */
    const char *a2[] = {"renew", "--lease", "-", "--ttl", "2m", NULL};
    lease_run(&x, &r, l.line, a2, 0);
    tc_check_lease(r.out, "X1", "BOT1", 120000, &n);
    ck_assert_str_eq(n.token, l.token);
    cr_free(&r);
    /* 3. --lease JSON, with the SQ repeated */
    TC_RUNV(&r, &o, 0, "renew", "X1", "--lease", l.line, "--ttl", "3m", NULL);
    tc_check_lease(r.out, "X1", "BOT1", 180000, &n);
    cr_free(&r);
    /* 4. --lease-file */
    TC_RUNV(&r, &o, 0, "renew", "--lease-file", path, NULL);
    tc_check_lease(r.out, "X1", "BOT1", 60000, &n); /* the file's ttlMs */
    cr_free(&r);
    /* 5. SQ --token --bot */
    TC_RUNV(&r, &o, 0, "renew", "X1", "--token", l.token, "--bot", "BOT1", "--ttl", "90s", NULL);
    tc_check_lease(r.out, "X1", "BOT1", 90000, &n);
    ck_assert_str_eq(n.token, l.token);
    ck_assert_uint_eq(n.fence, 0); /* not known from a token */
    cr_free(&r);
    /* The renewed lease's output feeds the next command. */
    const char *a6[] = {"renew", NULL};
    lease_exit(&x, n.line, a6, 0);

    /* Someone else's token is not the lease. */
    TC_RUNV(&r, &o, 3, "renew", "X1", "--token", "0123456789abcdef0123456789abcdef", "--bot",
            "BOT1", NULL);
    ck_assert(cr_contains(r.err, r.errlen, "lost"));
    cr_free(&r);
    TC_EXITS(&o, 3, "release", "X1", "--token", "0123456789abcdef0123456789abcdef", NULL);
    /* ... and the real one is untouched by those attempts. */
    TC_RUNV(&r, &o, 0, "release", "X1", "--token", l.token, NULL);
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
    tc_lease a, b;
    rctx_claimed(&x, _i, "251019-164rmb", NULL, &a);
    claim_ok(&x, "251019-165abc", "BOT2", "5m", &b);
    cr_result r;
    const char *res[] = {"reserve", "--rows", "5", "--hint", "51", NULL};
    lease_run(&x, &r, a.line, res, 0);
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
    TC_RUNV(&s, &o, 0, "status", NULL);
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
    TC_RUNV(&p, &o, 0, "status", "--pretty", NULL);
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

/* The whole life of a lease, and every exit status on the way. */
START_TEST(test_lifecycle)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "X1", NULL, &l);
    cr_result r;
    const char *reserve5[] = {"reserve", "--rows", "5", "--hint", "100", NULL};
    const char *reserve6[] = {"reserve", "--rows", "6", NULL};
    const char *finish[] = {"finish", NULL};
    const char *release[] = {"release", NULL};
    const char *renew[] = {"renew", NULL};

    lease_run(&x, &r, l.line, reserve5, 0);
    char first[256];
    snprintf(first, sizeof first, "%s", r.out);
    ck_assert(cr_contains(r.out, r.outlen, "\"rowCount\":5"));
    cr_free(&r);
    /* Asking again while it is open: the same range. */
    lease_run(&x, &r, l.line, reserve5, 0);
    ck_assert_str_eq(r.out, first);
    cr_free(&r);
    /* Another count, or a hint past the open range, while one is open:
     * busy (1). */
    lease_run(&x, &r, l.line, reserve6, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "finish it first"));
    cr_free(&r);
    const char *reserve5h[] = {"reserve", "--rows", "5", "--hint", "200", NULL};
    lease_run(&x, &r, l.line, reserve5h, 1);
    ck_assert_str_eq(r.out, "");
    cr_free(&r);
    /* finish: 0, and 0 again (nothing open any more: a finish retried
     * converges; 3 only once the lease is lost, below). */
    lease_run(&x, &r, l.line, finish, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    lease_run(&x, &r, l.line, finish, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    /* A new range never overlaps the old one. */
    lease_run(&x, &r, l.line, reserve6, 0);
    cJSON *a = tc_json(first), *b = tc_json(r.out);
    double s1 = cJSON_GetObjectItem(a, "startRow")->valuedouble;
    double s2 = cJSON_GetObjectItem(b, "startRow")->valuedouble;
    ck_assert_msg(s2 >= s1 + 5 || s2 + 6 <= s1, "ranges %f+5 and %f+6 overlap", s1, s2);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cr_free(&r);
    /* release: 0 (also removes the reservation), then 3 for everything. */
    lease_run(&x, &r, l.line, release, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    assert_nothing_held(&x);
    const char *const *after[] = {release, renew, reserve5, finish};
    for (int k = 0; k < 4; k++) {
        lease_run(&x, &r, l.line, after[k], 3);
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
    tc_lease old, now;
    rctx_claimed(&x, _i, "X1", "200ms", &old);
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
    lease_run(&x, &r, old.line, renew, 3);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "sqclaim: renew: the lease on SQ X1 is lost"));
    cr_free(&r);
    const char *reserve[] = {"reserve", "--rows", "2", NULL};
    lease_exit(&x, old.line, reserve, 3);
    const char *release[] = {"release", NULL};
    lease_exit(&x, old.line, release, 3);
    /* The new holder was not disturbed. */
    lease_exit(&x, now.line, renew, 0);
    cr_runv(&r, &o, "status", NULL);
    cJSON *j = tc_check_status(r.out);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), "X1");
    ck_assert_str_eq(cJSON_GetObjectItem(c, "botId")->valuestring, "BOT2");
    cJSON_Delete(j);
    cr_free(&r);
}
END_TEST

#define RACERS 16

/* RACERS shells run `words --bot BOT<k>` (k = 1 .. RACERS; the names into
 * bots) through one gate, so that they start at the same moment; their
 * runs into rs (cr_free each). */
static void race(const rctx *x, const char *const *words, char bots[RACERS][16],
                 cr_result rs[RACERS])
{
    cr_proc *procs[RACERS];
    cr_gate g;
    ck_assert(cr_gate_open(&g) == 0);
    cr_opts o = ropts(x);
    for (int k = 0; k < RACERS; k++) {
        snprintf(bots[k], 16, "BOT%d", k + 1);
        const char *args[16];
        size_t n = 0;
        for (; words[n]; n++) {
            ck_assert(n + 3 < sizeof args / sizeof *args);
            args[n] = words[n];
        }
        args[n++] = "--bot";
        args[n++] = bots[k];
        args[n] = NULL;
        procs[k] = cr_spawn(&o, args, &g);
        ck_assert_ptr_nonnull(procs[k]);
    }
    cr_gate_release(&g);
    for (int k = 0; k < RACERS; k++)
        cr_wait(procs[k], &rs[k]);
}

/* Many shells claim the same SQ at the same moment: exactly one wins. */
START_TEST(test_concurrent_claim)
{
    rctx x;
    rctx_init(&x, _i);
    for (int round = 0; round < 3; round++) {
        char sq[32];
        snprintf(sq, sizeof sq, "race-%d", round);
        char bots[RACERS][16];
        cr_result rs[RACERS];
        race(&x, (const char *const[]){"claim", sq, NULL}, bots, rs);
        int winners = 0, busy = 0, winner = -1;
        for (int k = 0; k < RACERS; k++) {
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
    cr_result rs[RACERS];
    race(&x, (const char *const[]){"claim-first", "Q1", "Q2", "Q3", "Q4", NULL}, bots, rs);
    int winners = 0;
    bool got[5] = {false};
    for (int k = 0; k < RACERS; k++) {
        cr_result *r = &rs[k];
        if (r->code == 0) {
            tc_lease l;
            tc_check_lease(r->out, NULL, bots[k], -1, &l);
            ck_assert(l.sq[0] == 'Q' && l.sq[1] >= '1' && l.sq[1] <= '4' && !l.sq[2]);
            int q = l.sq[1] - '0';
            ck_assert_msg(!got[q], "%s granted twice", l.sq);
            got[q] = true;
            winners++;
        } else {
            ck_assert_msg(r->code == 1, "exit %d: %s", r->code, r->err);
            ck_assert(cr_contains(r->err, r->errlen, "all 4 candidate SQs are held"));
        }
        cr_free(r);
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
        lease_run(&x, &r, l.line, reserve, 0);
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
        lease_exit(&x, l.line, finish, 0);
        done[idx] = true;
        const char *release[] = {"release", NULL};
        lease_exit(&x, l.line, release, 0);
    }
    for (int k = 0; k < 5; k++)
        ck_assert(done[k]);
}
END_TEST

/* finish --range names the reservation: a replayed finish of the first
 * one after the second reserve leaves the second in place. */
START_TEST(test_finish_range)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "X7", NULL, &l);
    cr_result r;
    const char *reserve3[] = {"reserve", "--rows", "3", NULL};
    const char *reserve2[] = {"reserve", "--rows", "2", NULL};
    lease_run(&x, &r, l.line, reserve3, 0);
    char first[256];
    snprintf(first, sizeof first, "%s", r.out);
    first[strcspn(first, "\n")] = '\0';
    cr_free(&r);
    const char *finish1[] = {"finish", "--range", first, NULL};
    lease_run(&x, &r, l.line, finish1, 0);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    lease_run(&x, &r, l.line, reserve2, 0);
    cJSON *b = tc_json(r.out);
    char second[32];
    snprintf(second, sizeof second, "%.0f+2", cJSON_GetObjectItem(b, "startRow")->valuedouble);
    cJSON_Delete(b);
    cr_free(&r);
    /* The finish of #1 again (late, or twice): 0, #2 stays. */
    lease_run(&x, &r, l.line, finish1, 0);
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
        lease_run(&x, &r, l.line, bad[k], 2);
        tc_check_no_secret(&r, l.token);
        cr_free(&r);
    }
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(reservations, 1);
    /* #2 by START+COUNT: removed. */
    const char *finish2[] = {"finish", "--range", second, NULL};
    lease_exit(&x, l.line, finish2, 0);
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(claims, 1);
    ck_assert_int_eq(reservations, 0);
    /* Lost once released: 3. */
    const char *release[] = {"release", NULL};
    lease_exit(&x, l.line, release, 0);
    lease_run(&x, &r, l.line, finish1, 3);
    tc_check_no_secret(&r, l.token);
    cr_free(&r);
}
END_TEST

void trm_add_basic(TCase *tc)
{
    TC_ADD_LOOPS(tc, test_claim_busy, test_lease_ways, test_status_fields, test_lifecycle,
                 test_finish_range, test_lost_after_expiry, test_concurrent_claim,
                 test_concurrent_claim_first, test_bot_loop);
}
