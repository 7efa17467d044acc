/* test_kvrest.c — the vercel backend through kvrest (an Upstash-compatible
 * REST server with fault injection) in front of a real redis-server, both
 * started here on free ports.  Faults are set through kvrest's admin API;
 * what is really held is checked in redis directly, bypassing kvrest. */
#include "vtest.h"
#include "tcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KV_TOKEN "kvrest-test-token-5f2c9e"

static tsrv redis, kv;
static bool servers_up;

static void servers_start(void) { servers_up = vt_servers_start(&redis, &kv, NULL, KV_TOKEN); }
static void servers_stop(void) { vt_servers_stop(&redis, &kv); }
/* Each test: servers up, faults off, counters zero. */
static void each_setup(void) { vt_servers_each(servers_up, &kv); }

/* The key prefix of the running test (each runs in a process of its own),
 * made from a tag by new_prefix() or open_test(). */
static char pfx[64];

static void new_prefix(const char *tag) { vt_prefix(pfx, sizeof pfx, tag); }

static sqclaim_store *open_kv(const char *prefix, int retries, int timeout_ms)
{
    return vt_open(kv.url, KV_TOKEN, prefix, retries, timeout_ms);
}

/* A handle on a fresh prefix pfx (tag in its name). */
static sqclaim_store *open_test(const char *tag, int retries, int timeout_ms)
{
    new_prefix(tag);
    return open_kv(pfx, retries, timeout_ms);
}

static sqclaim_stats stats_of(sqclaim_store *s)
{
    sqclaim_stats st;
    ck_assert_int_eq(sqclaim_stats_get(s, &st), SQCLAIM_OK);
    return st;
}

static void claim_ok(sqclaim_store *s, const char *sq, const char *bot, sqclaim_lease *l)
{
    sqclaim_rc rc = sqclaim_claim(s, sq, bot, 0, l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "claim %s: %s %s", sq, sqclaim_rcname(rc), sqclaim_errmsg(s));
}

/* One SQ's happy path: claim -> reserve -> finish -> release. */
static void cycle(sqclaim_store *s, const char *sq)
{
    sqclaim_lease l;
    sqclaim_rows rows;
    claim_ok(s, sq, "BOT1", &l);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l, 5, 51, &rows), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_rows(s, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
}

/* Does redis hold sq for this token (raw check, bypassing kvrest)? */
static bool held_by(const char *prefix, const char *sq, const char *token)
{
    char key[256];
    snprintf(key, sizeof key, "%ssq:%s", prefix, sq);
    char *v = vt_redis_get(&redis, key);
    bool mine = v && strstr(v, token);
    free(v);
    return mine;
}

/* Wait (polling, at most 10 s) until redis holds sq for this token: a
 * stalled request lands some time after the client gave up on it. */
static void wait_held(const char *prefix, const char *sq, const char *token)
{
    long long deadline = tsrv_now_ms() + 10000;
    while (!held_by(prefix, sq, token)) {
        ck_assert_msg(tsrv_now_ms() < deadline, "the stalled claim on %s never landed", sq);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static bool key_exists(const char *prefix, const char *sq)
{
    char key[256];
    snprintf(key, sizeof key, "%ssq:%s", prefix, sq);
    char *v = vt_redis_get(&redis, key);
    free(v);
    return v != NULL;
}

/* Release l (OK) and check that redis no longer holds its SQ. */
static void release_gone(sqclaim_store *s, sqclaim_lease *l)
{
    ck_assert_int_eq(sqclaim_release(s, l), SQCLAIM_OK);
    ck_assert_msg(!key_exists(pfx, l->sq), "%s still held after release", l->sq);
}

/* ---- the request budget ------------------------------------------------- */

START_TEST(requests_per_sq)
{
    sqclaim_store *s = open_test("budget", 0, 0);
    cycle(s, "warm-up"); /* scripts cached on the server (EVALSHA hits) */

    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    sqclaim_stats before = stats_of(s);
    cycle(s, "251019-164rmb");
    sqclaim_stats after = stats_of(s);
    /* claim -> reserve -> finish -> release: 4 HTTP requests, each one
     * command (EVALSHA); the client and the server agree. */
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), 4);
    ck_assert_int_eq(vt_kv_stat(&kv, "commands"), 4);
    ck_assert_int_eq(vt_kv_stat(&kv, "routes.single"), 4);
    ck_assert_int_eq(vt_kv_stat(&kv, "errors"), 0);
    ck_assert_uint_eq(after.round_trips - before.round_trips, 4);
    ck_assert_uint_eq(after.operations - before.operations, 4);
    ck_assert_uint_eq(after.reconnects, 0);

    /* A refused claim: 1 request. */
    sqclaim_store *b = open_kv(pfx, 0, 0);
    sqclaim_lease l, l2;
    sqclaim_holder h;
    claim_ok(s, "held", "BOT1", &l);
    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    before = stats_of(b);
    ck_assert_int_eq(sqclaim_claim(b, "held", "BOT2", 0, &l2, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT1");
    after = stats_of(b);
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), 1);
    ck_assert_int_eq(vt_kv_stat(&kv, "commands"), 1);
    ck_assert_uint_eq(after.round_trips - before.round_trips, 1);

    /* "Next free SQ" of a list of 10, 9 of them held: still 1 request. */
    const char *cands[10];
    char names[10][16];
    sqclaim_lease held[9];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cands[i] = names[i];
        if (i < 9)
            claim_ok(s, names[i], "BOT1", &held[i]);
    }
    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    ck_assert_int_eq(sqclaim_claim_first(b, cands, 10, "BOT2", 0, &l2, &h), SQCLAIM_OK);
    ck_assert_str_eq(l2.sq, "c9");
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), 1);

    /* Cold scripts (after SCRIPT FLUSH, or a new database): EVALSHA is
     * answered NOSCRIPT once per script, then EVAL: 8 requests. */
    const char *flush[] = {"SCRIPT", "FLUSH"};
    vt_raw r;
    ck_assert_int_eq(vt_redis(&redis, &r, 2, flush, NULL), 0);
    vt_raw_free(&r);
    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    cycle(s, "cold");
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), 8);
    ck_assert_int_eq(vt_kv_stat(&kv, "errors"), 4); /* the four NOSCRIPT answers */
    /* ... and warm again right after. */
    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    cycle(s, "warm-again");
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), 4);
    sqclaim_close(b);
    sqclaim_close(s);
}
END_TEST

START_TEST(keep_alive_100_operations_one_connection)
{
    sqclaim_store *s = open_test("ka", 0, 0);
    for (int i = 0; i < 25; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "ka-%d", i);
        cycle(s, sq);
    }
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.operations, 100);
    ck_assert_uint_eq(st.reconnects, 0); /* one connection for all of them */
    ck_assert_int_eq(vt_kv_stat(&kv, "requests"), (long long)st.round_trips);
    sqclaim_close(s);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(wrong_token_is_eauth)
{
    new_prefix("auth");
    const char *wrong = "wrong-token-0123456789";
    sqclaim_store *s = vt_open(kv.url, wrong, pfx, 0, 0);
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "sq1", "BOT1", 0, &l, NULL), SQCLAIM_EAUTH);
    const char *m = sqclaim_errmsg(s);
    ck_assert_ptr_null(strstr(m, wrong));
    ck_assert_ptr_null(strstr(m, KV_TOKEN));
    ck_assert_ptr_nonnull(strstr(m, "HTTP 401"));
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, 0);
    ck_assert_uint_eq(stats_of(s).retries, 0); /* not transient */
    ck_assert_int_eq(vt_kv_stat(&kv, "unauthorized"), 1);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EAUTH);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_EAUTH);
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), wrong));
    sqclaim_close(s);
}
END_TEST

START_TEST(service_unavailable_bursts)
{
    new_prefix("fail");
    /* Half the requests fail with 503 before kvrest runs them: with enough
     * retries every operation still succeeds. */
    sqclaim_store *s = open_kv(pfx, 10, 0);
    vt_faults(&kv, "{\"fail_rate\":0.5,\"seed\":7}");
    for (int i = 0; i < 30; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "f-%d", i);
        cycle(s, sq);
    }
    sqclaim_stats st = stats_of(s);
    long long failed = vt_kv_stat(&kv, "faults.failed");
    ck_assert_int_gt(failed, 10);
    ck_assert_uint_eq(st.retries, (uint64_t)failed);
    ck_assert_uint_eq(st.round_trips, (uint64_t)vt_kv_stat(&kv, "requests"));
    /* Nothing is left behind. */
    for (int i = 0; i < 30; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "f-%d", i);
        ck_assert(!key_exists(pfx, sq));
    }
    sqclaim_close(s);

    /* Without retries, every 503 is reported, clearly.  A 5xx may come
     * from a proxy after the command ran, so a claim is uncertain. */
    s = open_kv(pfx, -1, 0);
    vt_faults(&kv, "{\"fail_rate\":1}");
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "u1", "BOT1", 0, &l, NULL), SQCLAIM_ESERVER);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "HTTP 503"));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have been granted"));
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, SQCLAIM_LEASE_UNCERTAIN);
    ck_assert(!key_exists(pfx, "u1")); /* kvrest fails before applying */
    vt_faults(&kv, "{\"fail_rate\":0}");
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert_uint_eq(l.flags & (SQCLAIM_LEASE_UNCERTAIN | SQCLAIM_LEASE_RECLAIMED), 0);
    ck_assert(held_by(pfx, "u1", l.token));
    release_gone(s, &l);
    sqclaim_close(s);
}
END_TEST

/* Replies dropped after kvrest applied the command: a claim reported OK
 * is really held (no phantom grant), and a claim whose reply was lost is
 * either retried to OK (RECLAIMED) or reported UNCERTAIN and then
 * resolved (no lost grant). */
START_TEST(dropped_replies_no_phantom_no_lost_grant)
{
    sqclaim_store *s = open_test("drop", 2, 0);
    vt_faults(&kv, "{\"drop_rate\":0.3,\"seed\":12345}");
    int iters = 150, reclaimed = 0, uncertain = 0, resolved = 0;
    for (int i = 0; i < iters; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "d-%d", i);
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(s, sq, "BOT1", 0, &l, NULL);
        if (rc != SQCLAIM_OK) {
            ck_assert_msg(rc < 0, "claim %s: %s", sq, sqclaim_rcname(rc));
            /* Only lost replies here: every failure may have applied. */
            ck_assert_msg(l.flags & SQCLAIM_LEASE_UNCERTAIN,
                          "claim %s failed (%s) but is not "
                          "marked uncertain: %s",
                          sq, sqclaim_rcname(rc), sqclaim_errmsg(s));
            ck_assert(!sqclaim_may_act(s, &l));
            uncertain++;
            for (int k = 0; k < 50 && rc != SQCLAIM_OK; k++) {
                rc = sqclaim_claim_retry(s, NULL, 0, &l, NULL);
                ck_assert_msg(rc == SQCLAIM_OK || rc < 0, "claim_retry %s: %s", sq,
                              sqclaim_rcname(rc));
                if (rc < 0)
                    ck_assert(l.flags & SQCLAIM_LEASE_UNCERTAIN);
            }
            ck_assert_int_eq(rc, SQCLAIM_OK);
            resolved++;
        }
        /* No phantom grant. */
        ck_assert_msg(held_by(pfx, sq, l.token), "claim %s reported OK but not held", sq);
        ck_assert(sqclaim_may_act(s, &l));
        if (l.flags & SQCLAIM_LEASE_RECLAIMED)
            reclaimed++;
        /* Release until it answers.  LOST is only acceptable when an
         * attempt's reply was lost (that attempt released it): within one
         * call the message says so; across calls an earlier call failed. */
        bool failed_before = false;
        for (int k = 0; k < 50; k++) {
            rc = sqclaim_release(s, &l);
            if (rc == SQCLAIM_OK)
                break;
            if (rc == SQCLAIM_LOST) {
                ck_assert_msg(failed_before || strstr(sqclaim_errmsg(s), "may have released it"),
                              "release %s: LOST without a lost reply: %s", sq, sqclaim_errmsg(s));
                break;
            }
            ck_assert_msg(rc < 0, "release %s: %s %s", sq, sqclaim_rcname(rc), sqclaim_errmsg(s));
            failed_before = true;
        }
        ck_assert_msg(rc == SQCLAIM_OK || rc == SQCLAIM_LOST, "release %s: %s", sq,
                      sqclaim_rcname(rc));
        ck_assert(!key_exists(pfx, sq));
    }
    sqclaim_stats st = stats_of(s);
    long long dropped = vt_kv_stat(&kv, "faults.dropped");
    fprintf(stderr,
            "vercel drop test: %d claims, %lld replies dropped, %llu retries, %d reclaimed, "
            "%d uncertain (all resolved)\n",
            iters, dropped, (unsigned long long)st.retries, reclaimed, uncertain);
    ck_assert_int_gt(dropped, iters / 10);
    ck_assert_uint_eq(st.ambiguous, (uint64_t)dropped); /* each drop seen as ambiguous */
    ck_assert_int_gt(reclaimed, 0);                     /* the idempotent retry was used */
    ck_assert_int_eq(uncertain, resolved);
    sqclaim_close(s);
}
END_TEST

START_TEST(stalls_past_the_timeout)
{
    sqclaim_store *s = open_test("stall", -1, 300);
    vt_faults(&kv, "{\"stall_rate\":1,\"stall_ms\":1500}");
    sqclaim_lease l;
    long long t0 = tsrv_now_ms();
    ck_assert_int_eq(sqclaim_claim(s, "st1", "BOT1", 0, &l, NULL), SQCLAIM_ETIMEOUT);
    long long took = tsrv_now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 1200);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, SQCLAIM_LEASE_UNCERTAIN);
    ck_assert(!sqclaim_may_act(s, &l));
    vt_faults(&kv, "{\"stall_rate\":0}");
    /* The stalled request lands after the client gave up. */
    wait_held(pfx, "st1", l.token);
    /* The retry with the same token finds it: granted, not doubled. */
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_RECLAIMED, SQCLAIM_LEASE_RECLAIMED);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, 0);
    ck_assert(sqclaim_may_act(s, &l));
    sqclaim_lease other;
    ck_assert_int_eq(sqclaim_claim(s, "st1", "BOT2", 0, &other, NULL), SQCLAIM_BUSY);
    release_gone(s, &l);
    ck_assert_uint_ge(stats_of(s).ambiguous, 1);

    /* An uncertain claim can also be given up with release. */
    vt_faults(&kv, "{\"stall_rate\":1,\"stall_ms\":800}");
    ck_assert_int_eq(sqclaim_claim(s, "st2", "BOT1", 0, &l, NULL), SQCLAIM_ETIMEOUT);
    vt_faults(&kv, "{\"stall_rate\":0}");
    wait_held(pfx, "st2", l.token);
    release_gone(s, &l);
    sqclaim_close(s);
}
END_TEST

START_TEST(quota_exceeded_is_equota)
{
    sqclaim_store *s = open_test("quota", 0, 0);
    cycle(s, "warm");
    vt_faults(&kv, "{\"quota\":2}");
    sqclaim_lease l;
    claim_ok(s, "q1", "BOT1", &l);
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    sqclaim_stats before = stats_of(s);
    ck_assert_int_eq(sqclaim_claim(s, "q2", "BOT1", 0, &l, NULL), SQCLAIM_EQUOTA);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "ERR max daily request limit exceeded"));
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, 0);
    sqclaim_stats after = stats_of(s);
    ck_assert_uint_eq(after.retries, before.retries); /* never retried */
    ck_assert_uint_eq(after.round_trips - before.round_trips, 1);
    ck_assert(!key_exists(pfx, "q2"));
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EQUOTA);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_EQUOTA);
    sqclaim_close(s);
}
END_TEST

START_TEST(noscript_falls_back_to_eval)
{
    sqclaim_store *s = open_test("noscript", 0, 0);
    sqclaim_lease l;
    claim_ok(s, "n1", "BOT1", &l);
    const char *flush[] = {"SCRIPT", "FLUSH"};
    vt_raw r;
    ck_assert_int_eq(vt_redis(&redis, &r, 2, flush, NULL), 0);
    vt_raw_free(&r);
    ck_assert_int_eq(sqclaim_renew(s, &l, 0), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    ck_assert_uint_eq(stats_of(s).retries, 0);
    sqclaim_close(s);
}
END_TEST

START_TEST(status_through_kvrest)
{
    sqclaim_store *s = open_test("status", 0, 0);
    sqclaim_lease l[3];
    sqclaim_rows rows;
    claim_ok(s, "s-a", "BOT1", &l[0]);
    claim_ok(s, "s-b", "BOT\xc3\xa9", &l[1]);
    claim_ok(s, "s-c", "BOT3", &l[2]);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l[1], 7, 100, &rows), SQCLAIM_OK);
    /* A value another tool wrote in the seed layout is listed too. */
    char key[128];
    snprintf(key, sizeof key, "%ssq:s-seed", pfx);
    const char *set[] = {"SET", key,
                         "{\"botId\":\"BOT9\",\"timestamp\":\"2025-10-26T12:34:56.789Z\","
                         "\"status\":\"CLAIMING\"}",
                         "PX", "60000"};
    vt_raw r;
    ck_assert_int_eq(vt_redis(&redis, &r, 5, set, NULL), 0);
    vt_raw_free(&r);
    ck_assert_int_eq(vt_admin(&kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
    sqclaim_stats before = stats_of(s);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 4);
    ck_assert_str_eq(st->claims[0].sq, "s-a");
    ck_assert_str_eq(st->claims[1].sq, "s-b");
    ck_assert_str_eq(st->claims[1].bot, "BOT\xc3\xa9");
    ck_assert_str_eq(st->claims[3].bot, "BOT9");
    ck_assert_uint_eq(st->nreservations, 1);
    ck_assert_uint_eq(st->reservations[0].start_row, rows.start_row);
    ck_assert_uint_eq(st->reservations[0].row_count, 7);
    char *json = sqclaim_status_json(st, 0);
    ck_assert_ptr_null(strstr(json, l[0].token));
    sqclaim_free(json);
    sqclaim_status_free(st);
    /* Status uses the pipeline route, a few requests for a small store. */
    sqclaim_stats after = stats_of(s);
    long long reqs = vt_kv_stat(&kv, "requests");
    ck_assert_uint_eq(after.round_trips - before.round_trips, (uint64_t)reqs);
    ck_assert_int_gt(vt_kv_stat(&kv, "routes.pipeline"), 0);
    ck_assert_int_le(reqs, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sqclaim_release(s, &l[i]), SQCLAIM_OK);
    sqclaim_close(s);
}
END_TEST

/* ---- wire values through a real server ---------------------------------- */

static vc_http *transport(void)
{
    vc_config cfg;
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.rest_url = kv.url;
    o.rest_token = KV_TOKEN;
    sqb_err err = {0};
    ck_assert_int_eq(vc_config_resolve(&o, &cfg, &err), SQCLAIM_OK);
    vc_http *h = vc_http_new(&cfg, 2000, 5000, &err);
    vc_config_free(&cfg);
    ck_assert_ptr_nonnull(h);
    return h;
}

static rp_reply *run(vc_http *h, int argc, const char **argv)
{
    rp_reply *r = NULL;
    sqb_err err = {0};
    rp_cmd cmd = {argc, argv, NULL};
    sqclaim_rc rc = vc_http_transport.command(h, &cmd, &r, &err);
    ck_assert_msg(rc == SQCLAIM_OK, "%s: %s", argv[0], err.msg);
    return r;
}

START_TEST(wire_values_exact)
{
    char k1[96], k2[96], k3[96];
    new_prefix("wire");
    snprintf(k1, sizeof k1, "%sbin", pfx);
    snprintf(k2, sizeof k2, "%snum", pfx);
    snprintf(k3, sizeof k3, "%sneg", pfx);
    vc_http *h = transport();

    /* SET answers a top-level "OK" (sent raw); GET of a UTF-8 value. */
    rp_reply *r = run(h, 3, (const char *[]){"SET", k1, "h\xc3\xa9llo \xf0\x9f\x98\x80 \"q\""});
    ck_assert_int_eq(r->type, RP_STR);
    ck_assert_str_eq(r->str, "OK");
    rp_reply_free(r);
    r = run(h, 2, (const char *[]){"GET", k1});
    ck_assert_str_eq(r->str, "h\xc3\xa9llo \xf0\x9f\x98\x80 \"q\"");
    rp_reply_free(r);
    /* Binary values written by another client come back byte-exact. */
    const char bin[] = "\x00\xff\x80\r\n\x01OK";
    const char *set[] = {"SET", k1, bin};
    size_t lens[] = {3, strlen(k1), sizeof bin - 1};
    vt_raw raw;
    ck_assert_int_eq(vt_redis(&redis, &raw, 3, set, lens), 0);
    vt_raw_free(&raw);
    r = run(h, 2, (const char *[]){"GET", k1});
    ck_assert_int_eq(r->type, RP_STR);
    ck_assert_uint_eq(r->len, sizeof bin - 1);
    ck_assert(memcmp(r->str, bin, sizeof bin - 1) == 0);
    rp_reply_free(r);
    /* A stored "OK" and nested strings. */
    rp_reply_free(run(h, 3, (const char *[]){"SET", k1, "OK"}));
    r = run(h, 2, (const char *[]){"GET", k1});
    ck_assert_str_eq(r->str, "OK");
    rp_reply_free(r);
    r = run(h, 4, (const char *[]){"EVAL", "return {'OK', ARGV[1], {7, 'x'}}", "0", "PONG"});
    ck_assert_int_eq(r->type, RP_ARR);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_str_eq(r->elem[0]->str, "OK");
    ck_assert_str_eq(r->elem[1]->str, "PONG");
    ck_assert_int_eq(r->elem[2]->elem[0]->integer, 7);
    ck_assert_str_eq(r->elem[2]->elem[1]->str, "x");
    rp_reply_free(r);

    /* 64-bit integers, exact at both ends of the range. */
    rp_reply_free(run(h, 3, (const char *[]){"SET", k2, "9223372036854775806"}));
    r = run(h, 2, (const char *[]){"INCR", k2});
    ck_assert_int_eq(r->type, RP_INT);
    ck_assert(r->integer == 9223372036854775807LL);
    rp_reply_free(r);
    r = run(h, 2, (const char *[]){"INCR", k2});
    ck_assert_int_eq(r->type, RP_ERR); /* overflow: a Redis error reply */
    rp_reply_free(r);
    rp_reply_free(run(h, 3, (const char *[]){"SET", k3, "-9223372036854775807"}));
    r = run(h, 2, (const char *[]){"DECR", k3});
    ck_assert(r->integer == -9223372036854775807LL - 1);
    rp_reply_free(r);
    r = run(h, 3, (const char *[]){"INCRBY", k2, "0"});
    ck_assert(r->integer == 9223372036854775807LL);
    rp_reply_free(r);
    r = run(h, 2, (const char *[]){"GET", "no-such-key-ever"});
    ck_assert_int_eq(r->type, RP_NIL);
    rp_reply_free(r);

    /* The sync token is kept and changes after a write. */
    char sync1[256];
    snprintf(sync1, sizeof sync1, "%s", vc_http_sync_token(h));
    ck_assert_str_ne(sync1, "");
    rp_reply_free(run(h, 3, (const char *[]){"SET", k1, "v"}));
    ck_assert_str_ne(vc_http_sync_token(h), sync1);

    /* Pipelines: replies in order, errors per entry. */
    const char *a1[] = {"GET", k2}, *a2[] = {"HGET", k2, "f"}, *a3[] = {"EXISTS", k1, k2, k3};
    rp_cmd cmds[3] = {{2, a1, NULL}, {3, a2, NULL}, {4, a3, NULL}};
    rp_reply *rep[3];
    sqb_err err = {0};
    ck_assert_int_eq(vc_http_transport.pipeline(h, 3, cmds, rep, &err), SQCLAIM_OK);
    ck_assert_str_eq(rep[0]->str, "9223372036854775807");
    ck_assert_int_eq(rep[1]->type, RP_ERR);
    ck_assert_ptr_nonnull(strstr(rep[1]->str, "WRONGTYPE"));
    ck_assert_int_eq(rep[2]->integer, 3);
    for (int i = 0; i < 3; i++)
        rp_reply_free(rep[i]);
    vc_http_stats hs;
    vc_http_get_stats(h, &hs);
    ck_assert_uint_eq(hs.connects, 1);
    vc_http_free(h);
}
END_TEST

Suite *vt_kvrest_suite(void)
{
    Suite *s = suite_create("vercel-kvrest");
    TCASE_ADD(s, vt_kvrest_case(servers_start, servers_stop, each_setup), requests_per_sq,
              keep_alive_100_operations_one_connection, wrong_token_is_eauth,
              service_unavailable_bursts, dropped_replies_no_phantom_no_lost_grant,
              stalls_past_the_timeout, quota_exceeded_is_equota, noscript_falls_back_to_eval,
              status_through_kvrest, wire_values_exact);
    return s;
}
