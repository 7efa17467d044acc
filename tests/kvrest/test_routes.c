/* test_routes.c — kvrest tests: routes and auth: single commands, pipelines, transactions, path
 * style, methods, the startup line; tokens (header, query, read-only).  Fixtures and shorthands:
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

/* ---- routes ---------------------------------------------------------------- */

START_TEST(single_command)
{
    static const kvt_row rows[] = {
        KVT_POST("/", "[\"SET\",\"k\",\"v\"]", 200, "{\"result\":\"OK\"}"),
        KVT_POST("/", "[\"get\",\"k\"]", 200, "{\"result\":\"v\"}"),
        KVT_POST("/", "[\"GET\",\"missing\"]", 200, "{\"result\":null}"),
        KVT_POST("/", " [ \"SET\" , \"k2\" , \"a b\" ] \n", 200, "{\"result\":\"OK\"}"),
        KVT_POST("/", "[\"MGET\",\"k\",\"nope\",\"k2\"]", 200, "{\"result\":[\"v\",null,\"a b\"]}"),
        KVT_POST("/", "[\"DEL\",\"k\",\"k2\"]", 200, "{\"result\":2}"),
    };
    EXPECT_ROWS(rows);
    assert_raw("k", NULL);
    /* PUT is POST */
    kt_resp r;
    req(&r, "PUT", "/", TOKEN, "[\"SET\",\"put\",\"yes\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    assert_raw("put", "yes");
}
END_TEST

START_TEST(pipeline_error_in_middle)
{
    EXPECT_POST(
        "/pipeline",
        "[[\"SET\",\"p1\",\"a\"],[\"INCR\",\"p1\"],[\"SET\",\"p2\",\"b\"],[\"GET\",\"p2\"]]", 200,
        "[{\"result\":\"OK\"},{\"error\":\"ERR value is not an integer or out of range\"},"
        "{\"result\":\"OK\"},{\"result\":\"b\"}]");
    assert_raw("p1", "a");
    assert_raw("p2", "b");
    /* an unknown command in the middle: also per entry */
    kt_resp r;
    post(&r, "/pipeline", "[[\"SET\",\"p3\",\"c\"],[\"NOSUCHCMD\",\"x\"],[\"SET\",\"p4\",\"d\"]]");
    kt_expect(&r, 200, NULL);
    ck_assert_msg(strncmp(r.body, "[{\"result\":\"OK\"},{\"error\":\"ERR unknown command", 46) == 0,
                  "%s", r.body);
    ck_assert_msg(strstr(r.body, "},{\"result\":\"OK\"}]") != NULL, "%s", r.body);
    kt_free(&r);
    assert_raw("p4", "d");
}
END_TEST

START_TEST(multi_exec_route)
{
    EXPECT_POST("/multi-exec", "[[\"SET\",\"m\",\"1\"],[\"INCR\",\"m\"],[\"GET\",\"m\"]]", 200,
                "[{\"result\":\"OK\"},{\"result\":2},{\"result\":\"2\"}]");
    /* a runtime error inside EXEC is one entry; the rest still ran */
    EXPECT_POST("/multi-exec", "[[\"SET\",\"s\",\"x\"],[\"INCR\",\"s\"],[\"SET\",\"t\",\"y\"]]",
                200,
                "[{\"result\":\"OK\"},{\"error\":\"ERR value is not an integer or out of range\"},"
                "{\"result\":\"OK\"}]");
    assert_raw("t", "y");
    /* a queue-time error discards the whole transaction */
    kt_resp r;
    post(&r, "/multi-exec", "[[\"SET\",\"u\",\"1\"],[\"NOSUCHCMD\"],[\"SET\",\"w\",\"2\"]]");
    EXPECT_ERROR(&r, 400, "EXECABORT");
    kt_free(&r);
    assert_raw("u", NULL);
    assert_raw("w", NULL);
    /* nested MULTI / WATCH are refused before anything is sent */
    post(&r, "/multi-exec", "[[\"SET\",\"u\",\"1\"],[\"MULTI\"]]");
    EXPECT_ERROR(&r, 400, "ERR");
    kt_free(&r);
    post(&r, "/multi-exec", "[[\"WATCH\",\"u\"],[\"SET\",\"u\",\"1\"]]");
    EXPECT_ERROR(&r, 400, "ERR");
    kt_free(&r);
    assert_raw("u", NULL);
}
END_TEST

START_TEST(path_style)
{
    kt_resp r;
    get(&r, "/set/pk/pv/EX/100");
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    get(&r, "/get/pk");
    kt_expect(&r, 200, "{\"result\":\"pv\"}");
    kt_free(&r);
    get(&r, "/ttl/pk");
    kt_expect(&r, 200, NULL);
    long ttl = 0;
    ck_assert_int_eq(sscanf(r.body, "{\"result\":%ld}", &ttl), 1);
    ck_assert(ttl > 90 && ttl <= 100);
    kt_free(&r);
    /* %-decoding happens per segment: %2F stays inside one argument */
    get(&r, "/set/a%2Fb%20c/v%25/");
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    assert_raw("a/b c", "v%");
    /* a raw POST body is the last argument */
    req(&r, "POST", "/set/pbody", TOKEN, "raw \"body\" \xE2\x9C\x93 [1,2]", 0);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    assert_raw("pbody", "raw \"body\" \xE2\x9C\x93 [1,2]");
    /* HEAD runs the command, answers headers only */
    req(&r, "HEAD", "/get/pk", TOKEN, NULL, 0);
    kt_expect(&r, 200, "");
    kt_free(&r);
    /* errors keep their redis text */
    get(&r, "/incr/pk");
    kt_expect(&r, 400, "{\"error\":\"ERR value is not an integer or out of range\"}");
    kt_free(&r);
    /* GET / names no command */
    get(&r, "/");
    EXPECT_ERROR(&r, 400, "ERR");
    kt_free(&r);
}
END_TEST

START_TEST(method_not_allowed)
{
    const char *methods[] = {"DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        kt_resp r;
        req(&r, methods[i], "/", TOKEN, "[\"SET\",\"x\",\"1\"]", 0);
        EXPECT_ERROR(&r, 405, "ERR method not allowed");
        kt_free(&r);
        req(&r, methods[i], "/set/x/1", TOKEN, NULL, 0);
        EXPECT_ERROR(&r, 405, "ERR method not allowed");
        kt_free(&r);
    }
    kt_resp r;
    get(&r, "/pipeline");
    EXPECT_ERROR(&r, 405, "ERR");
    kt_free(&r);
    assert_raw("x", NULL);
}
END_TEST

/* ---- auth ----------------------------------------------------------------------- */

START_TEST(auth_missing_or_wrong)
{
    const char *bad[] = {NULL, "", "wrong", TOKEN "x", "kv-T0ken_with.special~char", RO_TOKEN "x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT_REQ("/", bad[i], "[\"SET\",\"a\",\"1\"]", 0, 401, "{\"error\":\"Unauthorized\"}");
        EXPECT_REQ("/pipeline", bad[i], "[[\"SET\",\"a\",\"1\"]]", 0, 401,
                   "{\"error\":\"Unauthorized\"}");
        EXPECT_REQ("/set/a/1", bad[i], NULL, 0, 401, "{\"error\":\"Unauthorized\"}");
        EXPECT_REQ("/_kvrest/stats", bad[i], NULL, 0, 401, "{\"error\":\"Unauthorized\"}");
    }
    assert_raw("a", NULL);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "unauthorized"), 24);
}
END_TEST

START_TEST(auth_query_token)
{
    static const kvt_row rows[] = {
        KVT_REQ("/set/q/1?_token=" TOKEN, NULL, NULL, 0, 200, "{\"result\":\"OK\"}"),
        /* percent-encoded token ('.' and '~' as escapes) */
        KVT_REQ("/?_token=kv-T0ken_with%2Especial%7Echars", NULL, "[\"GET\",\"q\"]", 0, 200,
                "{\"result\":\"1\"}"),
        KVT_REQ("/set/q/2?_token=nope", NULL, NULL, 0, 401, "{\"error\":\"Unauthorized\"}"),
        /* other query arguments are ignored */
        KVT_REQ("/get/q?foo=bar&_token=" TOKEN, NULL, NULL, 0, 200, "{\"result\":\"1\"}"),
    };
    EXPECT_ROWS(rows);
}
END_TEST

START_TEST(auth_readonly_token)
{
    EXPECT_POST("/", "[\"SET\",\"ro\",\"v\"]", 200, "{\"result\":\"OK\"}");
    kt_resp r;
    EXPECT_REQ("/", RO_TOKEN, "[\"GET\",\"ro\"]", 0, 200, "{\"result\":\"v\"}");
    EXPECT_REQ("/get/ro", RO_TOKEN, NULL, 0, 200, "{\"result\":\"v\"}");
    EXPECT_REQ("/", RO_TOKEN, "[\"SET\",\"ro\",\"w\"]", 0, 400,
               "{\"error\":\"NOPERM this user has no permissions to run the 'set' command\"}");
    const char *refused[] = {"[\"KEYS\",\"*\"]", "[\"SCAN\",\"0\"]", "[\"DEL\",\"ro\"]",
                             "[\"EVAL\",\"return 1\",\"0\"]", "[\"FLUSHALL\"]"};
    expect_refused("/", RO_TOKEN, refused, sizeof refused / sizeof *refused, 400, "NOPERM");
    /* pipeline: per entry */
    EXPECT_REQ("/pipeline", RO_TOKEN, "[[\"GET\",\"ro\"],[\"SET\",\"ro\",\"x\"],[\"PTTL\",\"ro\"]]",
               0, 200,
               "[{\"result\":\"v\"},{\"error\":\"NOPERM this user has no permissions to run the "
               "'set' command\"},{\"result\":-1}]");
    /* transaction: refused as a whole */
    req(&r, NULL, "/multi-exec", RO_TOKEN, "[[\"GET\",\"ro\"],[\"INCR\",\"n\"]]", 0);
    EXPECT_ERROR(&r, 400, "NOPERM");
    kt_free(&r);
    EXPECT_REQ("/multi-exec", RO_TOKEN, "[[\"GET\",\"ro\"],[\"EXISTS\",\"ro\"]]", 0, 200,
               "[{\"result\":\"v\"},{\"result\":1}]");
    /* admin needs the full token */
    req(&r, NULL, "/_kvrest/stats", RO_TOKEN, NULL, 0);
    EXPECT_ERROR(&r, 403, "NOPERM");
    kt_free(&r);
    req(&r, NULL, "/_kvrest/faults", RO_TOKEN, "{\"fail_rate\":1}", 0);
    EXPECT_ERROR(&r, 403, "NOPERM");
    kt_free(&r);
    assert_raw("ro", "v");
    assert_raw("n", NULL);
}
END_TEST

START_TEST(startup_line_without_token)
{
    char log[400], want[256];
    snprintf(log, sizeof log, "%s/kvrest.log", kv.dir);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char all[8192];
    size_t n = fread(all, 1, sizeof all - 1, f);
    all[n] = '\0';
    fclose(f);
    snprintf(want, sizeof want, "kvrest listening on 127.0.0.1:%d (redis 127.0.0.1:%d)\n", kv.port,
             redis_srv.port);
    ck_assert_str_eq(all, want);
    ck_assert(strstr(all, TOKEN) == NULL && strstr(all, RO_TOKEN) == NULL);
}
END_TEST

void kvt_add_routes(Suite *s)
{
    TCASE_ADD(s, kvt_shared_case("routes"), single_command, pipeline_error_in_middle,
              multi_exec_route, path_style, method_not_allowed, startup_line_without_token);
    TCASE_ADD(s, kvt_shared_case("auth"), auth_missing_or_wrong, auth_query_token,
              auth_readonly_token);
}
