/* test_errors.c — kvrest tests: errors, the sync token and the quota.  Fixtures and shorthands:
 * kvsuite.h. */
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

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(malformed_bodies)
{
    static const struct {
        const char *path, *body;
    } cases[] = {
        {"/", ""},
        {"/", "   "},
        {"/", "["},
        {"/", "[\"SET\",\"a\""},
        {"/", "[\"SET\",\"a\",]"},
        {"/", "{\"cmd\":\"GET\"}"},
        {"/", "\"GET\""},
        {"/", "42"},
        {"/", "[]"},
        {"/", "[1,\"a\"]"},
        {"/", "[true]"},
        {"/", "[null]"},
        {"/", "[[\"GET\",\"a\"]]"},
        {"/", "[\"SET\",null]"},
        {"/", "[\"SET\",\"a\",[\"x\"]]"},
        {"/", "[\"SET\",\"a\",{\"x\":1}]"},
        {"/", "[\"GET\",\"a\"] x"},
        {"/", "[\"GET\",\"a\"][\"GET\",\"b\"]"},
        {"/", "[\"GET\",\"a\\q\"]"},
        {"/", "[\"GET\",\"a\\u12\"]"},
        {"/", "[\"GET\",\"a\tb\"]"},
        {"/", "[\"SET\",\"a\",01]"},
        {"/", "[\"SET\",\"a\",1.]"},
        {"/", "[\"SET\",\"a\",-]"},
        {"/", "[\"SET\",\"a\",+1]"},
        {"/", "[\"SET\",\"a\",tru]"},
        {"/", "[\"SET\",\"a\",NaN]"},
        {"/", "\xEF\xBB\xBF[\"PING\"]"},
        {"/pipeline", "[]"},
        {"/pipeline", "[\"GET\",\"a\"]"},
        {"/pipeline", "[[]]"},
        {"/pipeline", "[[\"GET\",\"a\"],[]]"},
        {"/pipeline", "[[\"GET\",\"a\"],\"x\"]"},
        {"/pipeline", "[[\"GET\",\"a\"] [\"GET\",\"b\"]]"},
        {"/pipeline", "[[[\"GET\"]]]"},
        {"/multi-exec", "[]"},
        {"/multi-exec", "{}"},
        {"/multi-exec", "[[1]]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kt_resp r;
        post(&r, cases[i].path, cases[i].body);
        kt_expect(&r, 400, NULL);
        const char *e = kt_error_text(&r);
        ck_assert_msg(strncmp(e, "ERR ", 4) == 0, "case %zu (%s %s): error '%s'", i, cases[i].path,
                      cases[i].body, e);
        kt_free(&r);
    }
    /* NUL bytes in the body */
    kt_req q = {
        .kv = &kv, .path = "/", .token = TOKEN, .body = "[\"GET\",\"a\0b\"]", .bodylen = 12};
    kt_resp r;
    kt_http(&r, &q);
    EXPECT_ERROR(&r, 400, "ERR invalid JSON");
    kt_free(&r);
    /* deep nesting */
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 1);
    ck_assert_ptr_nonnull(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    post(&r, "/", deep);
    EXPECT_ERROR(&r, 400, "ERR");
    kt_free(&r);
    post(&r, "/pipeline", deep);
    EXPECT_ERROR(&r, 400, "ERR");
    kt_free(&r);
    free(deep);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "errors"), (long long)(sizeof cases / sizeof *cases) + 3);
}
END_TEST

START_TEST(oversized_body)
{
    /* default --max-body is 10 MiB */
    size_t n = 10u * 1024u * 1024u;
    char *body = malloc(n + 64);
    ck_assert_ptr_nonnull(body);
    size_t off = (size_t)sprintf(body, "[\"SET\",\"big\",\"");
    memset(body + off, 'x', n - off - 2);
    memcpy(body + n - 2, "\"]", 3); /* exactly 10 MiB: accepted */
    kt_resp r;
    post(&r, "/", body);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    memcpy(body + n - 2, "x\"]", 4); /* one byte more: refused */
    post(&r, "/", body);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    /* streamed (chunked, no Content-Length) */
    req(&r, NULL, "/", TOKEN, body, KT_CHUNKED);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    /* without Expect: 100-continue */
    req(&r, NULL, "/pipeline", TOKEN, body, KT_NOEXPECT);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    free(body);
    EXPECT_POST("/", "[\"STRLEN\",\"big\"]", 200, "{\"result\":10485744}");
}
END_TEST

START_TEST(scripts)
{
    kt_resp r;
    post(&r, "/", "[\"EVALSHA\",\"ffffffffffffffffffffffffffffffffffffffff\",\"0\"]");
    kt_expect(&r, 400, NULL);
    const char *e = kt_error_text(&r);
    ck_assert_msg(strncmp(e, "NOSCRIPT", 8) == 0, "%s", e);
    kt_free(&r);
    const char *script = "redis.call('SET', KEYS[1], ARGV[1]); "
                         "return {redis.call('GET', KEYS[1]), #KEYS, #ARGV, ARGV[2]}";
    char body[512];
    snprintf(body, sizeof body, "[\"EVAL\",\"%s\",2,\"sk1\",\"sk2\",\"val\",42]", script);
    EXPECT_POST("/", body, 200, "{\"result\":[\"val\",2,2,\"42\"]}");
    assert_raw("sk1", "val");
    /* SCRIPT LOAD then EVALSHA */
    snprintf(body, sizeof body, "[\"SCRIPT\",\"LOAD\",\"%s\"]", script);
    post(&r, "/", body);
    kt_expect(&r, 200, NULL);
    char sha[41] = "";
    ck_assert_int_eq(sscanf(r.body, "{\"result\":\"%40[0-9a-f]\"}", sha), 1);
    kt_free(&r);
    snprintf(body, sizeof body, "[\"EVALSHA\",\"%s\",1,\"sk3\",\"v3\"]", sha);
    /* a Lua table ends at its first nil: ARGV[2] is missing */
    EXPECT_POST("/", body, 200, "{\"result\":[\"v3\",1,1]}");
    /* script errors are 400 with redis's text */
    post(&r, "/", "[\"EVAL\",\"return redis.error_reply('BUSYKEY held by BOT1')\",0]");
    kt_expect(&r, 400, "{\"error\":\"BUSYKEY held by BOT1\"}");
    kt_free(&r);
}
END_TEST

START_TEST(refused_commands)
{
    const char *cmds[] = {"[\"MULTI\"]",
                          "[\"EXEC\"]",
                          "[\"WATCH\",\"a\"]",
                          "[\"SUBSCRIBE\",\"c\"]",
                          "[\"SELECT\",\"1\"]",
                          "[\"AUTH\",\"x\"]",
                          "[\"CLIENT\",\"REPLY\",\"OFF\"]",
                          "[\"SHUTDOWN\"]",
                          "[\"monitor\"]"};
    expect_refused("/", TOKEN, cmds, sizeof cmds / sizeof *cmds, 400,
                   "ERR Command is not available");
    /* the pool still works (no connection was left in a strange state) */
    EXPECT_POST("/", "[\"SET\",\"after\",\"1\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"GET\",\"after\"]", 200, "{\"result\":\"1\"}");
    kt_resp r;
    post(&r, "/", "[\"NOSUCHCMD\",\"x\"]");
    EXPECT_ERROR(&r, 400, "ERR unknown command");
    kt_free(&r);
}
END_TEST

/* ---- sync token, quota ------------------------------------------------------- */

START_TEST(sync_token)
{
    kt_resp r;
    post(&r, "/", "[\"GET\",\"s\"]");
    kt_expect(&r, 200, NULL);
    char t0[128];
    snprintf(t0, sizeof t0, "%s", r.sync);
    kt_free(&r);
    post(&r, "/", "[\"MGET\",\"s\",\"t\"]");
    kt_expect(&r, 200, NULL);
    ck_assert_str_eq(r.sync, t0); /* reads do not change it */
    kt_free(&r);
    post(&r, "/", "[\"SET\",\"s\",\"1\"]");
    kt_expect(&r, 200, NULL);
    ck_assert_str_ne(r.sync, t0); /* a write does */
    char t1[128];
    snprintf(t1, sizeof t1, "%s", r.sync);
    kt_free(&r);
    /* error responses carry it too */
    expect_sync("/", NULL, "[\"GET\",\"s\"]", 401, t1);
    expect_sync("/", TOKEN, "[", 400, t1);
    /* the client sends it back: accepted */
    char hdr[160];
    snprintf(hdr, sizeof hdr, "upstash-sync-token: %s", t1);
    kt_req q = {.kv = &kv, .path = "/", .token = TOKEN, .body = "[\"GET\",\"s\"]", .header = hdr};
    kt_http(&r, &q);
    kt_expect(&r, 200, "{\"result\":\"1\"}");
    kt_free(&r);
    /* pipeline, transaction and path writes change it */
    const char *writes[][2] = {{"/pipeline", "[[\"GET\",\"s\"],[\"INCR\",\"s\"]]"},
                               {"/multi-exec", "[[\"INCR\",\"s\"]]"},
                               {"/set/s/9", NULL}};
    char prev[128];
    snprintf(prev, sizeof prev, "%s", t1);
    for (size_t i = 0; i < 3; i++) {
        post(&r, writes[i][0], writes[i][1]);
        kt_expect(&r, 200, NULL);
        ck_assert_msg(strcmp(r.sync, prev) != 0, "write %zu did not change the sync token", i);
        snprintf(prev, sizeof prev, "%s", r.sync);
        kt_free(&r);
    }
    /* a failed write (wrong type) and a read-only pipeline do not */
    expect_sync("/", TOKEN, "[\"LPUSH\",\"s\",\"x\"]", 400, prev);
    expect_sync("/pipeline", TOKEN, "[[\"GET\",\"s\"],[\"PTTL\",\"s\"]]", 200, prev);
}
END_TEST

START_TEST(quota)
{
    kt_faults(&kv, TOKEN, "{\"quota\":3}");
    EXPECT_POST("/", "[\"INCR\",\"q\"]", 200, "{\"result\":1}");
    EXPECT_POST("/", "[\"INCR\",\"q\"]", 200, "{\"result\":2}");
    EXPECT_POST("/get/q", NULL, 200, "{\"result\":\"2\"}");
    const char *over = "{\"error\":\"ERR max daily request limit exceeded. Limit: 3, Usage: 3.\"}";
    EXPECT_POST("/", "[\"INCR\",\"q\"]", 400, over);
    EXPECT_POST("/pipeline", "[[\"INCR\",\"q\"]]", 400, over);
    EXPECT_POST("/multi-exec", "[[\"INCR\",\"q\"]]", 400, over);
    EXPECT_POST("/incr/q", NULL, 400, over);
    assert_raw("q", "2");
    /* every command of a pipeline / transaction counts */
    kt_faults(&kv, TOKEN, "{\"quota\":5}");
    EXPECT_POST("/pipeline", "[[\"INCR\",\"q\"],[\"INCR\",\"q\"],[\"INCR\",\"q\"]]", 200,
                "[{\"result\":3},{\"result\":4},{\"result\":5}]");
    EXPECT_POST("/multi-exec", "[[\"INCR\",\"q\"],[\"INCR\",\"q\"]]", 200,
                "[{\"result\":6},{\"result\":7}]");
    EXPECT_POST("/", "[\"INCR\",\"q\"]", 400,
                "{\"error\":\"ERR max daily request limit exceeded. Limit: 5, Usage: 5.\"}");
    kt_resp r;
    get(&r, "/_kvrest/faults");
    kt_expect(&r, 200, NULL);
    ck_assert_msg(strstr(r.body, "\"quota\":5,\"quota_used\":5") != NULL, "%s", r.body);
    kt_free(&r);
    /* admin routes are not subject to the quota; quota 0 lifts it */
    kt_faults(&kv, TOKEN, "{\"quota\":0}");
    EXPECT_POST("/", "[\"INCR\",\"q\"]", 200, "{\"result\":8}");
}
END_TEST

void kvt_add_errors(Suite *s)
{
    TCASE_ADD(s, kvt_shared_case("errors"), malformed_bodies, oversized_body, scripts,
              refused_commands, sync_token, quota);
}
