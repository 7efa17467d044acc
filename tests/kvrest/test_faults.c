/* test_faults.c — kvrest tests: every fault knob, the admin counters, keep-alive.  Fixtures and
 * shorthands: kvsuite.h. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvsuite.h"
#include "kvtest.h"

/* ---- faults ------------------------------------------------------------------------ */

START_TEST(fault_fail)
{
    kt_faults(&kv, TOKEN, "{\"fail_rate\":1}");
    const char *paths[][2] = {{"/", "[\"SET\",\"f1\",\"x\"]"},
                              {"/pipeline", "[[\"SET\",\"f2\",\"x\"]]"},
                              {"/multi-exec", "[[\"SET\",\"f3\",\"x\"]]"},
                              {"/set/f4/x", NULL}};
    for (size_t i = 0; i < 4; i++)
        EXPECT_POST(paths[i][0], paths[i][1], 503,
                    "{\"error\":\"injected fault: service unavailable\"}");
    /* admin routes never fail */
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "faults.failed"), 4);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "commands"), 0);
    kt_faults(&kv, TOKEN, "{\"fail_rate\":0}");
    assert_raw("f1", NULL);
    assert_raw("f2", NULL);
    assert_raw("f3", NULL);
    assert_raw("f4", NULL);
}
END_TEST

START_TEST(fault_drop)
{
    kt_faults(&kv, TOKEN, "{\"drop_rate\":1}");
    const char *paths[][2] = {{"/", "[\"SET\",\"d1\",\"x\"]"},
                              {"/pipeline", "[[\"SET\",\"d2\",\"x\"]]"},
                              {"/multi-exec", "[[\"SET\",\"d3\",\"x\"]]"},
                              {"/set/d4/x", NULL}};
    for (size_t i = 0; i < 4; i++) {
        kt_resp r;
        post(&r, paths[i][0], paths[i][1]);
        ck_assert_msg(r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_RECV_ERROR,
                      "dropped reply: curl says %s, status %ld, body %s", curl_easy_strerror(r.rc),
                      r.status, r.body);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.len, 0);
        kt_free(&r);
    }
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "faults.dropped"), 4);
    kt_faults(&kv, TOKEN, "{\"drop_rate\":0}");
    /* applied although the client never heard back */
    assert_raw("d1", "x");
    assert_raw("d2", "x");
    assert_raw("d3", "x");
    assert_raw("d4", "x");
}
END_TEST

START_TEST(fault_stall)
{
    kt_faults(&kv, TOKEN, "{\"stall_rate\":1,\"stall_ms\":2000}");
    long long t0 = tsrv_now_ms();
    kt_req q = {.kv = &kv,
                .path = "/",
                .token = TOKEN,
                .body = "[\"SET\",\"st\",\"late\"]",
                .timeout_ms = 300};
    kt_resp r;
    kt_http(&r, &q);
    ck_assert_msg(r.rc == CURLE_OPERATION_TIMEDOUT, "stalled request: %s",
                  curl_easy_strerror(r.rc));
    kt_free(&r);
    assert_raw("st", NULL); /* not yet */
    kt_faults(&kv, TOKEN, "{\"stall_rate\":0}");
    long long seen = -1;
    while (tsrv_now_ms() - t0 < 20000) {
        char *v = raw_get("st", 2, NULL);
        bool there = v && strcmp(v, "late") == 0;
        free(v);
        if (there) {
            seen = tsrv_now_ms() - t0;
            break;
        }
        struct timespec ts = {0, 20 * 1000000L}; /* poll interval */
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(seen >= 0, "the stalled write never landed");
    ck_assert_msg(seen >= 1900, "the stalled write landed after %lld ms, want >= 2000", seen);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "faults.stalled"), 1);
    /* a short stall with a patient client: applied and answered */
    kt_faults(&kv, TOKEN, "{\"stall_rate\":1,\"stall_ms\":150}");
    post(&r, "/", "[\"SET\",\"st2\",\"ok\"]");
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    ck_assert_msg(r.ms >= 150, "stall of 150 ms took %lld ms", r.ms);
    kt_free(&r);
}
END_TEST

START_TEST(fault_latency_and_jitter)
{
    kt_faults(&kv, TOKEN, "{\"latency_ms\":300}");
    kt_resp r;
    for (int i = 0; i < 3; i++) {
        post(&r, "/", "[\"PING\"]");
        kt_expect(&r, 200, "{\"result\":\"PONG\"}");
        ck_assert_msg(r.ms >= 300, "latency 300 ms, request took %lld ms", r.ms);
        kt_free(&r);
    }
    /* admin routes are never delayed (a latency far above any load) */
    kt_faults(&kv, TOKEN, "{\"latency_ms\":20000}");
    long long t0 = tsrv_now_ms();
    kt_stat(&kv, TOKEN, "requests");
    ck_assert_msg(tsrv_now_ms() - t0 < 10000, "admin route was delayed");
    kt_faults(&kv, TOKEN, "{\"latency_ms\":0,\"jitter_ms\":200}");
    long long lo = 1000000, hi = 0;
    for (int i = 0; i < 12; i++) {
        post(&r, "/", "[\"PING\"]");
        kt_expect(&r, 200, "{\"result\":\"PONG\"}");
        if (r.ms < lo)
            lo = r.ms;
        if (r.ms > hi)
            hi = r.ms;
        kt_free(&r);
    }
    ck_assert_msg(hi >= 40, "jitter 0..200 ms: slowest of 12 took only %lld ms", hi);
    ck_assert_msg(hi - lo >= 20, "jitter 0..200 ms: all requests took %lld..%lld ms", lo, hi);
}
END_TEST

/* Outcomes of n requests with a 50 % fail rate: '5' or '2'. */
static void fail_pattern(char *out, int n)
{
    CURL *h = curl_easy_init();
    for (int i = 0; i < n; i++) {
        kt_resp r;
        kt_req q = {.kv = &kv, .handle = h, .path = "/", .token = TOKEN, .body = "[\"PING\"]"};
        kt_http(&r, &q);
        ck_assert_int_eq(r.rc, CURLE_OK);
        ck_assert(r.status == 200 || r.status == 503);
        out[i] = r.status == 200 ? '2' : '5';
        kt_free(&r);
    }
    out[n] = '\0';
    curl_easy_cleanup(h);
}

START_TEST(fault_seed_reproducible)
{
    char a[65], b[65], c[65];
    kt_faults(&kv, TOKEN, "{\"fail_rate\":0.5,\"seed\":42}");
    fail_pattern(a, 64);
    kt_faults(&kv, TOKEN, "{\"seed\":42}");
    fail_pattern(b, 64);
    kt_faults(&kv, TOKEN, "{\"seed\":43}");
    fail_pattern(c, 64);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_msg(strchr(a, '2') && strchr(a, '5'), "pattern %s", a);
    kt_resp r;
    get(&r, "/_kvrest/faults");
    kt_expect(&r, 200, NULL);
    ck_assert_msg(strstr(r.body, "\"fail_rate\":0.5,") && strstr(r.body, "\"seed\":43}"), "%s",
                  r.body);
    kt_free(&r);
}
END_TEST

START_TEST(admin_faults_validation)
{
    const char *bad[] = {"",
                         "[]",
                         "{\"fail_rate\":1.5}",
                         "{\"drop_rate\":-0.1}",
                         "{\"latency_ms\":-1}",
                         "{\"stall_ms\":1.5}",
                         "{\"quota\":\"x\"}",
                         "{\"seed\":-1}",
                         "{\"nope\":1}",
                         "{\"fail_rate\":\"0.5\"}",
                         "{\"fail_rate\":0.5,\"latency_ms\":99999999}"};
    expect_refused("/_kvrest/faults", TOKEN, bad, sizeof bad / sizeof *bad, 400, "ERR faults");
    /* all-or-nothing: nothing above changed anything */
    kt_resp r;
    get(&r, "/_kvrest/faults");
    kt_expect(&r, 200,
              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,\"stall_rate\":0,"
              "\"stall_ms\":10000,\"quota\":0,\"quota_used\":0,\"seed\":1}");
    kt_free(&r);
    post(&r, "/_kvrest/faults",
         "{\"latency_ms\":1,\"jitter_ms\":2,\"fail_rate\":0.25,\"drop_rate\":0,\"stall_rate\":0,"
         "\"stall_ms\":7,\"quota\":1000,\"seed\":\"18446744073709551615\"}");
    kt_expect(
        &r, 200,
        "{\"latency_ms\":1,\"jitter_ms\":2,\"fail_rate\":0.25,\"drop_rate\":0,\"stall_rate\":0,"
        "\"stall_ms\":7,\"quota\":1000,\"quota_used\":0,\"seed\":18446744073709551615}");
    kt_free(&r);
    get(&r, "/_kvrest/nothing");
    EXPECT_ERROR(&r, 404, "ERR");
    kt_free(&r);
    req(&r, "DELETE", "/_kvrest/stats", TOKEN, NULL, 0);
    EXPECT_ERROR(&r, 405, "ERR");
    kt_free(&r);
    post(&r, "/_kvrest/stats", "{}");
    EXPECT_ERROR(&r, 405, "ERR");
    kt_free(&r);
}
END_TEST

/* ---- stats, keep-alive --------------------------------------------------------- */

START_TEST(admin_stats_exact)
{
    EXPECT_POST("/", "[\"SET\",\"a\",\"1\"]", 200, NULL);
    EXPECT_POST("/pipeline", "[[\"GET\",\"a\"],[\"INCR\",\"a\"],[\"NOSUCH\"]]", 200, NULL);
    EXPECT_POST("/multi-exec", "[[\"INCR\",\"a\"],[\"GET\",\"a\"]]", 200, NULL);
    EXPECT_POST("/get/a", NULL, 200, "{\"result\":\"3\"}");
    EXPECT_POST("/", "[\"GET\"", 400, NULL);               /* parse error: no command */
    EXPECT_POST("/", "[\"INCR\",\"a\",\"x\"]", 400, NULL); /* redis error */
    kt_resp r;
    EXPECT_REQ("/", "bad", "[\"GET\",\"a\"]", 0, 401, NULL);
    req(&r, "DELETE", "/", TOKEN, NULL, 0);
    kt_expect(&r, 405, NULL);
    kt_free(&r);
    get(&r, "/_kvrest/stats");
    kt_expect(&r, 200,
              "{\"requests\":8,\"commands\":8,\"routes\":{\"single\":3,\"pipeline\":1,"
              "\"multi_exec\":1,\"path\":1},\"errors\":3,\"unauthorized\":1,"
              "\"faults\":{\"failed\":0,\"dropped\":0,\"stalled\":0}}");
    kt_free(&r);
    post(&r, "/_kvrest/stats/reset", "");
    kt_expect(&r, 200,
              "{\"requests\":0,\"commands\":0,\"routes\":{\"single\":0,\"pipeline\":0,"
              "\"multi_exec\":0,\"path\":0},\"errors\":0,\"unauthorized\":0,"
              "\"faults\":{\"failed\":0,\"dropped\":0,\"stalled\":0}}");
    kt_free(&r);
}
END_TEST

START_TEST(keep_alive)
{
    kvt_session ss = kvt_session_open();
    for (int i = 0; i < 25; i++) {
        char body[64];
        snprintf(body, sizeof body, "[\"INCR\",\"ka\"]");
        kt_req q = {.kv = &kv,
                    .path = i % 3 == 2 ? "/pipeline" : "/",
                    .token = TOKEN,
                    .body = i % 3 == 2 ? "[[\"INCR\",\"ka\"]]" : body};
        if (i % 5 == 4) { /* errors keep the connection too */
            q.body = "[";
            q.path = "/";
        }
        kvt_session_expect(&ss, &q, i % 5 == 4 ? 400 : 200, NULL);
    }
    ck_assert_int_eq(kvt_session_close(&ss), 1);
    assert_raw("ka", "20");
}
END_TEST

void kvt_add_faults(Suite *s)
{
    TCASE_ADD(s, kvt_shared_case("faults"), fault_fail, fault_drop, fault_stall,
              fault_latency_and_jitter, fault_seed_reproducible, admin_faults_validation,
              admin_stats_exact, keep_alive);
}
