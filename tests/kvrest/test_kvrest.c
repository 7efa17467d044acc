/*
 * test_kvrest.c — kvrest over real HTTP (libcurl) in front of a real
 * redis-server: routes, auth, encodings, errors, sync token, quota, every
 * fault knob, admin counters, keep-alive, concurrency, fuzzing, redis
 * outages and the command line.
 *
 * Shared servers are started in unchecked fixtures (once per TCase);
 * each test starts from an empty redis, no faults and zeroed counters
 * (checked fixture).  Tests that kill or restart a server start their own
 * servers, because a forked test cannot wait for the fixture's children.
 * Nothing synchronises by sleeping: waits poll with a deadline.
 */
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

#include "kvtest.h"

#define TOKEN        "kv-T0ken_with.special~chars"
#define RO_TOKEN     "kv-readonly-T0ken"
#define TEST_TIMEOUT 180

static tsrv redis_srv, kv;

/* ---- fixtures and shorthands ------------------------------------------- */

static void servers_up(void)
{
    ck_assert_int_eq(tsrv_redis_start(&redis_srv, NULL), 0);
    const char *args[] = {"--readonly-token", RO_TOKEN, NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv, &redis_srv, TOKEN, args), 0);
}

static void servers_down(void)
{
    tsrv_stop(&kv);
    tsrv_stop(&redis_srv);
}

static void fresh(void)
{
    kt_faults(&kv, TOKEN,
              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,"
              "\"stall_rate\":0,\"stall_ms\":10000,\"quota\":0,\"seed\":1}");
    freeReplyObject(kt_redis(&redis_srv, "FLUSHALL"));
    kt_resp r;
    kt_req q = {.kv = &kv, .path = "/_kvrest/stats/reset", .token = TOKEN, .body = ""};
    kt_http(&r, &q);
    kt_expect(&r, 200, NULL);
    kt_free(&r);
}

static void req(kt_resp *r, const char *method, const char *path, const char *token,
                const char *body, unsigned flags)
{
    kt_req q = {
        .kv = &kv, .method = method, .path = path, .token = token, .body = body, .flags = flags};
    kt_http(r, &q);
}

static void post(kt_resp *r, const char *path, const char *body)
{
    req(r, NULL, path, TOKEN, body, 0);
}

static void get(kt_resp *r, const char *path) { req(r, NULL, path, TOKEN, NULL, 0); }

/* POST body to path (full token); expect status and exact body. */
#define EXPECT_POST(path, body, status, want)                                                      \
    do {                                                                                           \
        kt_resp r_;                                                                                \
        post(&r_, (path), (body));                                                                 \
        kt_expect(&r_, (status), (want));                                                          \
        kt_free(&r_);                                                                              \
    } while (0)

#define EXPECT_B64(path, body, status, want)                                                       \
    do {                                                                                           \
        kt_resp r_;                                                                                \
        req(&r_, NULL, (path), TOKEN, (body), KT_B64);                                             \
        kt_expect(&r_, (status), (want));                                                          \
        kt_free(&r_);                                                                              \
    } while (0)

/* Error response with a text that starts with prefix. */
#define EXPECT_ERROR(r, status, prefix)                                                            \
    do {                                                                                           \
        kt_expect((r), (status), NULL);                                                            \
        const char *e_ = kt_error_text(r);                                                         \
        ck_assert_msg(strncmp(e_, (prefix), strlen(prefix)) == 0, "error '%s', want '%s…'", e_,    \
                      (prefix));                                                                   \
    } while (0)

/* Raw redis GET; returns a malloc'd copy (NULL for nil) and its length. */
static char *raw_get(const char *key, size_t klen, size_t *len)
{
    redisReply *r = kt_redis(&redis_srv, "GET %b", key, klen);
    char *out = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        out = malloc(r->len + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out, r->str, r->len);
        out[r->len] = '\0';
        if (len)
            *len = r->len;
    } else {
        ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    }
    freeReplyObject(r);
    return out;
}

static void assert_raw(const char *key, const char *want)
{
    char *v = raw_get(key, strlen(key), NULL);
    if (!want) {
        ck_assert_msg(v == NULL, "key %s should be absent, has '%s'", key, v);
    } else {
        ck_assert_msg(v != NULL, "key %s absent, want '%s'", key, want);
        ck_assert_str_eq(v, want);
    }
    free(v);
}

/* ---- routes ---------------------------------------------------------------- */

START_TEST(single_command)
{
    EXPECT_POST("/", "[\"SET\",\"k\",\"v\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"get\",\"k\"]", 200, "{\"result\":\"v\"}");
    EXPECT_POST("/", "[\"GET\",\"missing\"]", 200, "{\"result\":null}");
    EXPECT_POST("/", " [ \"SET\" , \"k2\" , \"a b\" ] \n", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"MGET\",\"k\",\"nope\",\"k2\"]", 200, "{\"result\":[\"v\",null,\"a b\"]}");
    EXPECT_POST("/", "[\"DEL\",\"k\",\"k2\"]", 200, "{\"result\":2}");
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
        kt_resp r;
        req(&r, NULL, "/", bad[i], "[\"SET\",\"a\",\"1\"]", 0);
        kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
        kt_free(&r);
        req(&r, NULL, "/pipeline", bad[i], "[[\"SET\",\"a\",\"1\"]]", 0);
        kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
        kt_free(&r);
        req(&r, NULL, "/set/a/1", bad[i], NULL, 0);
        kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
        kt_free(&r);
        req(&r, NULL, "/_kvrest/stats", bad[i], NULL, 0);
        kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
        kt_free(&r);
    }
    assert_raw("a", NULL);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "unauthorized"), 24);
}
END_TEST

START_TEST(auth_query_token)
{
    kt_resp r;
    req(&r, NULL, "/set/q/1?_token=" TOKEN, NULL, NULL, 0);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    /* percent-encoded token ('.' and '~' as escapes) */
    req(&r, NULL, "/?_token=kv-T0ken_with%2Especial%7Echars", NULL, "[\"GET\",\"q\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"1\"}");
    kt_free(&r);
    req(&r, NULL, "/set/q/2?_token=nope", NULL, NULL, 0);
    kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
    kt_free(&r);
    /* other query arguments are ignored */
    req(&r, NULL, "/get/q?foo=bar&_token=" TOKEN, NULL, NULL, 0);
    kt_expect(&r, 200, "{\"result\":\"1\"}");
    kt_free(&r);
}
END_TEST

START_TEST(auth_readonly_token)
{
    EXPECT_POST("/", "[\"SET\",\"ro\",\"v\"]", 200, "{\"result\":\"OK\"}");
    kt_resp r;
    req(&r, NULL, "/", RO_TOKEN, "[\"GET\",\"ro\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"v\"}");
    kt_free(&r);
    req(&r, NULL, "/get/ro", RO_TOKEN, NULL, 0);
    kt_expect(&r, 200, "{\"result\":\"v\"}");
    kt_free(&r);
    req(&r, NULL, "/", RO_TOKEN, "[\"SET\",\"ro\",\"w\"]", 0);
    kt_expect(&r, 400,
              "{\"error\":\"NOPERM this user has no permissions to run the 'set' command\"}");
    kt_free(&r);
    const char *refused[] = {"[\"KEYS\",\"*\"]", "[\"SCAN\",\"0\"]", "[\"DEL\",\"ro\"]",
                             "[\"EVAL\",\"return 1\",\"0\"]", "[\"FLUSHALL\"]"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        req(&r, NULL, "/", RO_TOKEN, refused[i], 0);
        EXPECT_ERROR(&r, 400, "NOPERM");
        kt_free(&r);
    }
    /* pipeline: per entry */
    req(&r, NULL, "/pipeline", RO_TOKEN,
        "[[\"GET\",\"ro\"],[\"SET\",\"ro\",\"x\"],[\"PTTL\",\"ro\"]]", 0);
    kt_expect(&r, 200,
              "[{\"result\":\"v\"},{\"error\":\"NOPERM this user has no permissions to run the "
              "'set' command\"},{\"result\":-1}]");
    kt_free(&r);
    /* transaction: refused as a whole */
    req(&r, NULL, "/multi-exec", RO_TOKEN, "[[\"GET\",\"ro\"],[\"INCR\",\"n\"]]", 0);
    EXPECT_ERROR(&r, 400, "NOPERM");
    kt_free(&r);
    req(&r, NULL, "/multi-exec", RO_TOKEN, "[[\"GET\",\"ro\"],[\"EXISTS\",\"ro\"]]", 0);
    kt_expect(&r, 200, "[{\"result\":\"v\"},{\"result\":1}]");
    kt_free(&r);
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

/* ---- encodings ------------------------------------------------------------------ */

#define NESTED_EVAL "[\"EVAL\",\"return {1, 'a', {'OK', 'b', {-7}}, 'OK'}\",\"0\"]"

START_TEST(base64_encoding)
{
    EXPECT_B64("/", "[\"PING\"]", 200, "{\"result\":\"UE9ORw==\"}");
    EXPECT_B64("/", "[\"SET\",\"k\",\"OK\"]", 200, "{\"result\":\"OK\"}");
    /* a top-level "OK" stays raw, whatever command returned it */
    EXPECT_B64("/", "[\"GET\",\"k\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_B64("/", "[\"SET\",\"k2\",\"hello\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_B64("/", "[\"GET\",\"k2\"]", 200, "{\"result\":\"aGVsbG8=\"}");
    EXPECT_B64("/", "[\"RPUSH\",\"l\",\"OK\",\"x\",\"\",\"ab\"]", 200, "{\"result\":4}");
    /* nested "OK" is encoded; padding for 0, 1, 2 bytes */
    EXPECT_B64("/", "[\"LRANGE\",\"l\",0,-1]", 200,
               "{\"result\":[\"T0s=\",\"eA==\",\"\",\"YWI=\"]}");
    EXPECT_B64("/", "[\"GET\",\"nope\"]", 200, "{\"result\":null}");
    EXPECT_B64("/", NESTED_EVAL, 200,
               "{\"result\":[1,\"YQ==\",[\"T0s=\",\"Yg==\",[-7]],\"T0s=\"]}");
    /* error texts are never encoded */
    EXPECT_B64("/", "[\"INCR\",\"k2\"]", 400,
               "{\"error\":\"ERR value is not an integer or out of range\"}");
    /* pipeline and transaction entries: each entry's result is top level */
    EXPECT_B64("/pipeline",
               "[[\"SET\",\"a\",\"1\"],[\"GET\",\"a\"],[\"INCR\",\"a\"],[\"GET\",\"k\"]]", 200,
               "[{\"result\":\"OK\"},{\"result\":\"MQ==\"},{\"result\":2},{\"result\":\"OK\"}]");
    EXPECT_B64("/multi-exec", "[[\"GET\",\"k2\"],[\"LRANGE\",\"l\",0,0],[\"INCR\",\"k2\"]]", 200,
               "[{\"result\":\"aGVsbG8=\"},{\"result\":[\"T0s=\"]},"
               "{\"error\":\"ERR value is not an integer or out of range\"}]");
    EXPECT_B64("/get/k2", NULL, 200, "{\"result\":\"aGVsbG8=\"}");
}
END_TEST

START_TEST(raw_encoding)
{
    EXPECT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}");
    EXPECT_POST("/", NESTED_EVAL, 200, "{\"result\":[1,\"a\",[\"OK\",\"b\",[-7]],\"OK\"]}");
    EXPECT_POST("/", "[\"RPUSH\",\"l\",\"OK\",\"x\"]", 200, "{\"result\":2}");
    EXPECT_POST("/", "[\"LRANGE\",\"l\",0,-1]", 200, "{\"result\":[\"OK\",\"x\"]}");
    /* JSON-escaping of quotes, backslashes and control characters */
    EXPECT_POST("/", "[\"SET\",\"e\",\"q\\\"b\\\\n\\nt\\tc\\u0001/\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"GET\",\"e\"]", 200, "{\"result\":\"q\\\"b\\\\n\\nt\\tc\\u0001/\"}");
    assert_raw("e", "q\"b\\n\nt\tc\x01/");
}
END_TEST

START_TEST(integers_64bit)
{
    EXPECT_POST("/", "[\"SET\",\"n\",\"9223372036854775806\"]", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"INCR\",\"n\"]", 200, "{\"result\":9223372036854775807}");
    EXPECT_B64("/", "[\"INCRBY\",\"n\",0]", 200, "{\"result\":9223372036854775807}");
    EXPECT_POST("/", "[\"SET\",\"m\",-9223372036854775807]", 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"DECR\",\"m\"]", 200, "{\"result\":-9223372036854775808}");
    EXPECT_POST("/", "[\"INCRBY\",\"z\",-42]", 200, "{\"result\":-42}");
    EXPECT_POST("/", "[\"INCRBY\",\"big\",9007199254740993]", 200, "{\"result\":9007199254740993}");
    EXPECT_POST("/pipeline", "[[\"INCR\",\"big\"],[\"EVAL\",\"return {9007199254740993, -1}\",0]]",
                200, "[{\"result\":9007199254740994},{\"result\":[9007199254740992,-1]}]");
}
END_TEST

START_TEST(number_and_boolean_arguments)
{
    /* numbers keep their literal text, booleans become "true" / "false" */
    EXPECT_POST("/pipeline",
                "[[\"SET\",\"a\",9007199254740993],[\"SET\",\"b\",1.50],[\"SET\",\"c\",-0],"
                "[\"SET\",\"d\",1e3],[\"SET\",\"e\",true],[\"SET\",\"f\",false],"
                "[\"SET\",\"g\",\"x\",\"PX\",600000],[\"SET\",\"h\",-2.5E-7]]",
                200,
                "[{\"result\":\"OK\"},{\"result\":\"OK\"},{\"result\":\"OK\"},{\"result\":\"OK\"},"
                "{\"result\":\"OK\"},{\"result\":\"OK\"},{\"result\":\"OK\"},{\"result\":\"OK\"}]");
    assert_raw("a", "9007199254740993");
    assert_raw("b", "1.50");
    assert_raw("c", "-0");
    assert_raw("d", "1e3");
    assert_raw("e", "true");
    assert_raw("f", "false");
    assert_raw("h", "-2.5E-7");
    redisReply *r = kt_redis(&redis_srv, "PTTL g");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert(r->integer > 590000 && r->integer <= 600000);
    freeReplyObject(r);
}
END_TEST

START_TEST(unicode_keys_round_trip)
{
    /* 🎉 U+1F389, Cyrillic, CJK, combining accent, RTL */
    const char *key = "sq:\xF0\x9F\x8E\x89-\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87-\xE9\x94\xAE-e\xCC\x81-"
                      "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D";
    const char *val = "v-\xF0\x9F\x98\x80\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB";
    char body[512], want[512];
    snprintf(body, sizeof body, "[\"SET\",\"%s\",\"%s\"]", key, val);
    EXPECT_POST("/", body, 200, "{\"result\":\"OK\"}");
    snprintf(body, sizeof body, "[\"GET\",\"%s\"]", key);
    snprintf(want, sizeof want, "{\"result\":\"%s\"}", val);
    EXPECT_POST("/", body, 200, want);
    snprintf(body, sizeof body, "[\"KEYS\",\"sq:*\"]");
    snprintf(want, sizeof want, "{\"result\":[\"%s\"]}", key);
    EXPECT_POST("/", body, 200, want);
    assert_raw(key, val);
    /* the same key written with \u escapes (a surrogate pair for 🎉) */
    EXPECT_POST("/",
                "[\"SET\",\"sq:\\ud83c\\udf89-\\u043a\\u043b\\u044e\\u0447-\\u952e-e\\u0301-"
                "\\u05e9\\u05dc\\u05d5\\u05dd\",\"escaped\"]",
                200, "{\"result\":\"OK\"}");
    assert_raw(key, "escaped");
    /* written by redis directly, read over REST; path style with %-escapes */
    freeReplyObject(kt_redis(&redis_srv, "SET %s %s", "\xE2\x9C\x93-direct", val));
    snprintf(want, sizeof want, "{\"result\":\"%s\"}", val);
    EXPECT_POST("/get/%E2%9C%93-direct", NULL, 200, want);
    EXPECT_POST("/", "[\"GET\",\"\xE2\x9C\x93-direct\"]", 200, want);
    /* a lone surrogate becomes U+FFFD, never invalid UTF-8 */
    EXPECT_POST("/", "[\"SET\",\"lone\",\"a\\ud800b\"]", 200, "{\"result\":\"OK\"}");
    assert_raw("lone", "a\xEF\xBF\xBD"
                       "b");
}
END_TEST

START_TEST(binary_values)
{
    /* NUL bytes and invalid UTF-8 written by redis directly */
    freeReplyObject(kt_redis(&redis_srv, "SET %s %b", "bin",
                             "a\0b\xFF\xFE"
                             "c\xE2\x82",
                             (size_t)8));
    EXPECT_POST("/", "[\"GET\",\"bin\"]", 200,
                "{\"result\":\"a\\u0000b\xEF\xBF\xBD\xEF\xBF\xBD"
                "c\xEF\xBF\xBD\"}");
    EXPECT_B64("/", "[\"GET\",\"bin\"]", 200, "{\"result\":\"YQBi//5j4oI=\"}");
    kt_resp r;
    post(&r, "/", "[\"GET\",\"bin\"]");
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    ck_assert_msg(j != NULL, "invalid JSON for a binary value: %s", r.body);
    cJSON_Delete(j);
    kt_free(&r);
    /* NUL via \u0000 in a request is a real NUL byte */
    EXPECT_POST("/", "[\"SET\",\"nul\",\"x\\u0000y\"]", 200, "{\"result\":\"OK\"}");
    size_t len = 0;
    char *v = raw_get("nul", 3, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(v, "x\0y", 3) == 0);
    free(v);
    EXPECT_POST("/", "[\"STRLEN\",\"nul\"]", 200, "{\"result\":3}");
}
END_TEST

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
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        kt_resp r;
        post(&r, "/", cmds[i]);
        EXPECT_ERROR(&r, 400, "ERR Command is not available");
        kt_free(&r);
    }
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
    req(&r, NULL, "/", NULL, "[\"GET\",\"s\"]", 0);
    kt_expect(&r, 401, NULL);
    ck_assert_str_eq(r.sync, t1);
    kt_free(&r);
    post(&r, "/", "[");
    kt_expect(&r, 400, NULL);
    ck_assert_str_eq(r.sync, t1);
    kt_free(&r);
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
    post(&r, "/", "[\"LPUSH\",\"s\",\"x\"]");
    kt_expect(&r, 400, NULL);
    ck_assert_str_eq(r.sync, prev);
    kt_free(&r);
    post(&r, "/pipeline", "[[\"GET\",\"s\"],[\"PTTL\",\"s\"]]");
    kt_expect(&r, 200, NULL);
    ck_assert_str_eq(r.sync, prev);
    kt_free(&r);
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
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kt_resp r;
        post(&r, "/_kvrest/faults", bad[i]);
        EXPECT_ERROR(&r, 400, "ERR faults");
        kt_free(&r);
    }
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
    req(&r, NULL, "/", "bad", "[\"GET\",\"a\"]", 0);
    kt_expect(&r, 401, NULL);
    kt_free(&r);
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
    CURL *h = curl_easy_init();
    long total = 0;
    for (int i = 0; i < 25; i++) {
        kt_resp r;
        char body[64];
        snprintf(body, sizeof body, "[\"INCR\",\"ka\"]");
        kt_req q = {.kv = &kv,
                    .handle = h,
                    .path = i % 3 == 2 ? "/pipeline" : "/",
                    .token = TOKEN,
                    .body = i % 3 == 2 ? "[[\"INCR\",\"ka\"]]" : body};
        if (i % 5 == 4) { /* errors keep the connection too */
            q.body = "[";
            q.path = "/";
        }
        kt_http(&r, &q);
        kt_expect(&r, i % 5 == 4 ? 400 : 200, NULL);
        total += r.connects;
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    ck_assert_int_eq(total, 1);
    assert_raw("ka", "20");
}
END_TEST

/* ---- concurrency ---------------------------------------------------------------------- */

#define TX_THREADS 8
#define TX_ROUNDS  200

/* Many clients at once: each thread sends `rounds` requests of
 * [["INCR","ld:a"],["INCR","ld:b"],["INCR","ld:t<id>"]] to `path` over its
 * own keep-alive connection. */
typedef struct load_arg {
    const tsrv *srv;
    const char *path; /* /multi-exec (atomic: a == b in every reply) or /pipeline */
    int id, rounds;
    char failure[512];
} load_arg;

static void *load_worker(void *p)
{
    load_arg *a = p;
    bool atomic = strcmp(a->path, "/multi-exec") == 0;
    CURL *h = curl_easy_init();
    char body[256];
    snprintf(body, sizeof body, "[[\"INCR\",\"ld:a\"],[\"INCR\",\"ld:b\"],[\"INCR\",\"ld:t%d\"]]",
             a->id);
    for (int i = 0; i < a->rounds && !a->failure[0]; i++) {
        kt_resp r;
        kt_req q = {.kv = a->srv, .handle = h, .path = a->path, .token = TOKEN, .body = body};
        kt_http(&r, &q);
        long long x = -1, y = -2, z = -3;
        char tail = 0;
        if (r.rc != CURLE_OK || r.status != 200 ||
            sscanf(r.body, "[{\"result\":%lld},{\"result\":%lld},{\"result\":%lld}%c", &x, &y, &z,
                   &tail) != 4 ||
            tail != ']' || (atomic && x != y) || z != i + 1)
            snprintf(a->failure, sizeof a->failure, "thread %d round %d: rc %d status %ld body %s",
                     a->id, i, (int)r.rc, r.status, r.body);
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* Run `threads` load workers on srv; every reply checked, totals exact. */
static void run_load(const tsrv *srv, const char *path, int threads, int rounds)
{
    pthread_t th[64];
    load_arg args[64];
    ck_assert(threads <= 64);
    freeReplyObject(kt_redis(&redis_srv, "FLUSHALL"));
    for (int i = 0; i < threads; i++) {
        args[i] = (load_arg){.srv = srv, .path = path, .id = i, .rounds = rounds};
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_worker, &args[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < threads; i++)
        ck_assert_msg(args[i].failure[0] == '\0', "%s", args[i].failure);
    char want[32];
    snprintf(want, sizeof want, "%d", threads * rounds);
    assert_raw("ld:a", want);
    assert_raw("ld:b", want);
}

START_TEST(concurrent_transactions)
{
    run_load(&kv, "/multi-exec", TX_THREADS, TX_ROUNDS);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "routes.multi_exec"), TX_THREADS * TX_ROUNDS);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "commands"), 3 * TX_THREADS * TX_ROUNDS);
}
END_TEST

typedef struct slow_arg {
    kt_resp r;
} slow_arg;

static void *slow_worker(void *p)
{
    slow_arg *a = p;
    kt_req q = {.kv = &kv, .path = "/", .token = TOKEN, .body = "[\"BLPOP\",\"empty\",\"4\"]"};
    kt_http(&a->r, &q);
    return NULL;
}

START_TEST(slow_request_does_not_block_others)
{
    slow_arg a;
    pthread_t th;
    long long t0 = tsrv_now_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, slow_worker, &a), 0);
    /* wait until the BLPOP is really blocked inside redis */
    bool blocked = false;
    while (!blocked && tsrv_now_ms() - t0 < 3500) {
        redisReply *r = kt_redis(&redis_srv, "INFO clients");
        blocked = r->type == REDIS_REPLY_STRING && strstr(r->str, "blocked_clients:1") != NULL;
        freeReplyObject(r);
    }
    ck_assert_msg(blocked, "BLPOP never blocked");
    long long t1 = tsrv_now_ms();
    for (int i = 0; i < 10; i++)
        EXPECT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}");
    long long took = tsrv_now_ms() - t1;
    bool still_blocked;
    {
        redisReply *r = kt_redis(&redis_srv, "INFO clients");
        still_blocked = strstr(r->str, "blocked_clients:1") != NULL;
        freeReplyObject(r);
    }
    pthread_join(th, NULL);
    ck_assert_msg(still_blocked, "10 PINGs took %lld ms: they waited for the BLPOP", took);
    kt_expect(&a.r, 200, "{\"result\":null}");
    kt_free(&a.r);
}
END_TEST

/* ---- fuzzing ------------------------------------------------------------------------- */

static uint64_t fz_state;
static uint64_t fz_next(void)
{
    fz_state ^= fz_state << 13;
    fz_state ^= fz_state >> 7;
    fz_state ^= fz_state << 17;
    return fz_state;
}

static const char *const fz_templates[] = {
    "[\"SET\",\"fz:a\",\"v\",\"PX\",600000,\"NX\"]",
    "[\"GET\",\"fz:a\"]",
    "[[\"SET\",\"fz:b\",1],[\"INCR\",\"fz:b\"],[\"GET\",\"fz:b\"]]",
    "[\"MGET\",\"fz:a\",\"fz:b\",\"fz:\\ud83c\\udf89\"]",
    "[\"EVAL\",\"return {1,'x',{2}}\",\"0\"]",
    "[\"HSET\",\"fz:h\",\"f\",\"\\u00e9\\n\",\"g\",true]",
    "[\"LRANGE\",\"fz:l\",0,-1]",
    "[\"ECHO\",\"\xF0\x9F\x8E\x89\\\"\\\\\"]",
};

static const char fz_bytes[] = {'[',  ']', '{', '}',  '"',    ',',   ':',
                                '\\', 'u', '0', '\0', '\xFF', '\xC3'};

static void fz_body(char *buf, size_t cap, size_t *len)
{
    uint64_t kind = fz_next() % 6;
    size_t n = 0;
    if (kind == 0) { /* random bytes */
        n = fz_next() % 200;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(fz_next() & 0xFF);
    } else if (kind == 1) { /* deep or unbalanced nesting */
        size_t d = 1 + fz_next() % (cap / 2 - 1);
        for (size_t i = 0; i < d; i++)
            buf[n++] = '[';
        size_t close = fz_next() % 2 ? d : fz_next() % (d + 1);
        for (size_t i = 0; i < close; i++)
            buf[n++] = ']';
    } else if (kind == 2) { /* many arguments */
        n = (size_t)snprintf(buf, cap, "[\"MGET\"");
        size_t k = fz_next() % 3000;
        for (size_t i = 0; i < k && n + 16 < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, ",\"fz:%zu\"", i);
        buf[n++] = ']';
    } else { /* mutated template */
        const char *t = fz_templates[fz_next() % (sizeof fz_templates / sizeof *fz_templates)];
        n = strlen(t);
        memcpy(buf, t, n);
        int muts = 1 + (int)(fz_next() % 4);
        for (int m = 0; m < muts && n > 0; m++) {
            size_t at = fz_next() % n;
            switch (fz_next() % 4) {
            case 0: buf[at] = (char)(fz_next() & 0xFF); break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            case 2:
                if (n + 1 < cap) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = fz_bytes[fz_next() % sizeof fz_bytes];
                    n++;
                }
                break;
            default: n = at; break; /* truncate */
            }
        }
    }
    *len = n;
}

/* A well-formed kvrest answer for route path with this status. */
static void fz_check(const kt_resp *r, const char *path, const char *body, size_t blen)
{
    (void)blen;
    ck_assert_msg(r->rc == CURLE_OK, "fuzz %s: curl %s", path, curl_easy_strerror(r->rc));
    ck_assert_msg(r->status == 200 || r->status == 400, "fuzz %s: status %ld for %.80s: %s", path,
                  r->status, body, r->body);
    ck_assert_str_eq(r->ctype, "application/json");
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    ck_assert_msg(j != NULL, "fuzz %s: invalid JSON response %s", path, r->body);
    if (r->status == 400) {
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    } else if (strcmp(path, "/pipeline") == 0 || strcmp(path, "/multi-exec") == 0) {
        ck_assert(cJSON_IsArray(j));
        for (cJSON *e = j->child; e; e = e->next)
            ck_assert(cJSON_HasObjectItem(e, "result") || cJSON_HasObjectItem(e, "error"));
    } else {
        ck_assert(cJSON_HasObjectItem(j, "result"));
    }
    cJSON_Delete(j);
}

START_TEST(fuzz_bodies_and_paths)
{
    fz_state = 0x9E3779B97F4A7C15ULL;
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    CURL *h = curl_easy_init();
    static const char *const routes[] = {"/", "/pipeline", "/multi-exec"};
    for (int i = 0; i < 1500; i++) {
        size_t len;
        fz_body(buf, cap, &len);
        const char *path = routes[fz_next() % 3];
        kt_resp r;
        kt_req q = {.kv = &kv,
                    .handle = h,
                    .path = path,
                    .token = TOKEN,
                    .body = buf,
                    .bodylen = len ? len : 0,
                    .flags = fz_next() % 2 ? KT_B64 : 0};
        if (len == 0)
            q.body = "";
        kt_http(&r, &q);
        fz_check(&r, path, buf, len);
        kt_free(&r);
    }
    /* path style with random (escaped) bytes */
    char path[1024];
    for (int i = 0; i < 300; i++) {
        size_t n = (size_t)snprintf(path, sizeof path, "/%s", fz_next() % 2 ? "echo" : "get");
        int segs = (int)(fz_next() % 4);
        for (int s = 0; s < segs; s++) {
            path[n++] = '/';
            int bytes = (int)(fz_next() % 20);
            for (int b = 0; b < bytes; b++)
                n += (size_t)snprintf(path + n, sizeof path - n, "%%%02X",
                                      (unsigned)(fz_next() & 0xFF));
        }
        path[n] = '\0';
        kt_resp r;
        kt_req q = {.kv = &kv, .handle = h, .path = path, .token = TOKEN};
        kt_http(&r, &q);
        fz_check(&r, path, path, n);
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    free(buf);
    EXPECT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}");
}
END_TEST

/* ---- variants: other flags, own servers ------------------------------------------ */

static tsrv kv_unix, kv_threads, kv_small, kv_quota, kv_env;
#define ENV_TOKEN    "env-token-9f8e7d"
#define ENV_RO_TOKEN "env-ro-token-1a2b"

static void variants_up(void)
{
    servers_up();
    const char *unix_args[] = {"--redis", redis_srv.unixsock, "--pool", "2", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_unix, &redis_srv, TOKEN, unix_args), 0);
    const char *thr_args[] = {"--threads", "4", "--pool", "3", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_threads, &redis_srv, TOKEN, thr_args), 0);
    const char *small_args[] = {"--max-body", "1000", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_small, &redis_srv, TOKEN, small_args), 0);
    const char *quota_args[] = {"--quota", "2", "--seed", "5", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_quota, &redis_srv, TOKEN, quota_args), 0);
    /* token from the environment: an empty --token means "not given" */
    setenv("KVREST_TOKEN", ENV_TOKEN, 1);
    setenv("KVREST_READONLY_TOKEN", ENV_RO_TOKEN, 1);
    const char *env_args[] = {"--quiet", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_env, &redis_srv, "", env_args), 0);
    unsetenv("KVREST_TOKEN");
    unsetenv("KVREST_READONLY_TOKEN");
}

static void variants_down(void)
{
    tsrv_stop(&kv_env);
    tsrv_stop(&kv_quota);
    tsrv_stop(&kv_small);
    tsrv_stop(&kv_threads);
    tsrv_stop(&kv_unix);
    servers_down();
}

static void on(const tsrv *s, kt_resp *r, const char *path, const char *token, const char *body,
               unsigned flags)
{
    kt_req q = {.kv = s, .path = path, .token = token, .body = body, .flags = flags};
    kt_http(r, &q);
}

START_TEST(redis_over_unix_socket)
{
    kt_resp r;
    on(&kv_unix, &r, "/", TOKEN, "[\"SET\",\"via-unix\",\"1\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    assert_raw("via-unix", "1");
    char want[400];
    snprintf(want, sizeof want, "(redis %s)", redis_srv.unixsock);
    char log[400];
    snprintf(log, sizeof log, "%s/kvrest.log", kv_unix.dir);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_msg(strstr(line, want) != NULL, "startup line: %s", line);
}
END_TEST

/* 24 clients at once through 2 pooled redis connections: requests wait
 * for a free one (never "all connections busy"), nothing is lost. */
START_TEST(many_clients_small_pool)
{
    run_load(&kv_unix, "/pipeline", 24, 40);
    run_load(&kv_unix, "/multi-exec", 24, 10);
}
END_TEST

START_TEST(thread_pool_mode)
{
    CURL *h = curl_easy_init();
    long total = 0;
    for (int i = 0; i < 10; i++) {
        kt_resp r;
        kt_req q = {.kv = &kv_threads,
                    .handle = h,
                    .path = "/pipeline",
                    .token = TOKEN,
                    .body = "[[\"INCR\",\"tp\"],[\"GET\",\"tp\"]]"};
        kt_http(&r, &q);
        char want[64];
        snprintf(want, sizeof want, "[{\"result\":%d},{\"result\":\"%d\"}]", i + 1, i + 1);
        kt_expect(&r, 200, want);
        total += r.connects;
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    ck_assert_int_eq(total, 1);
}
END_TEST

START_TEST(max_body_flag)
{
    char body[2048];
    int n = snprintf(body, sizeof body, "[\"SET\",\"small\",\"");
    memset(body + n, 'y', 1100);
    strcpy(body + n + 1100, "\"]");
    kt_resp r;
    on(&kv_small, &r, "/", TOKEN, body, 0);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    on(&kv_small, &r, "/", TOKEN, body, KT_CHUNKED);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    on(&kv_small, &r, "/set/small", TOKEN, body, KT_CHUNKED);
    kt_expect(&r, 400, "{\"error\":\"ERR max request size exceeded\"}");
    kt_free(&r);
    strcpy(body + n + 900, "\"]"); /* 919 bytes: fits */
    on(&kv_small, &r, "/", TOKEN, body, KT_CHUNKED);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    EXPECT_POST("/", "[\"STRLEN\",\"small\"]", 200, "{\"result\":900}");
    /* a streamed oversized body leaves the connection usable */
    CURL *h = curl_easy_init();
    long total = 0;
    for (int i = 0; i < 2; i++) {
        body[n + 900] = 'y';
        strcpy(body + n + 1100, "\"]");
        kt_req q = {.kv = &kv_small,
                    .handle = h,
                    .path = "/",
                    .token = TOKEN,
                    .body = i ? "[\"PING\"]" : body,
                    .flags = KT_CHUNKED};
        kt_http(&r, &q);
        kt_expect(&r, i ? 200 : 400, NULL);
        total += r.connects;
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    ck_assert_int_eq(total, 1);
}
END_TEST

START_TEST(quota_flag)
{
    kt_resp r;
    on(&kv_quota, &r, "/pipeline", TOKEN, "[[\"PING\"],[\"PING\"]]", 0);
    kt_expect(&r, 200, "[{\"result\":\"PONG\"},{\"result\":\"PONG\"}]");
    kt_free(&r);
    on(&kv_quota, &r, "/", TOKEN, "[\"PING\"]", 0);
    kt_expect(&r, 400, "{\"error\":\"ERR max daily request limit exceeded. Limit: 2, Usage: 2.\"}");
    kt_free(&r);
    on(&kv_quota, &r, "/_kvrest/faults", TOKEN, NULL, 0);
    kt_expect(&r, 200,
              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,\"stall_rate\":0,"
              "\"stall_ms\":10000,\"quota\":2,\"quota_used\":2,\"seed\":5}");
    kt_free(&r);
}
END_TEST

START_TEST(token_from_environment)
{
    kt_resp r;
    on(&kv_env, &r, "/", ENV_TOKEN, "[\"SET\",\"env\",\"1\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"OK\"}");
    kt_free(&r);
    on(&kv_env, &r, "/", ENV_RO_TOKEN, "[\"GET\",\"env\"]", 0);
    kt_expect(&r, 200, "{\"result\":\"1\"}");
    kt_free(&r);
    on(&kv_env, &r, "/", ENV_RO_TOKEN, "[\"DEL\",\"env\"]", 0);
    EXPECT_ERROR(&r, 400, "NOPERM");
    kt_free(&r);
    on(&kv_env, &r, "/", "", "[\"GET\",\"env\"]", 0);
    kt_expect(&r, 401, "{\"error\":\"Unauthorized\"}");
    kt_free(&r);
    /* --quiet: nothing on stderr */
    char log[400];
    snprintf(log, sizeof log, "%s/kvrest.log", kv_env.dir);
    struct stat st;
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
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

/* ---- own servers: outages, signals, command line --------------------------------- */

/* Run kvrest with args (NULL-terminated) and env additions; capture
 * stdout+stderr.  Returns the exit status (or -1). */
static int run_kvrest(const char *const *args, char *out, size_t outlen)
{
    const char *bin = getenv("SQCLAIM_KVREST");
    if (!bin || !*bin)
        bin = "build/kvrest";
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        char *argv[32];
        int i = 0;
        argv[i++] = strdup(bin);
        for (int k = 0; args[k] && i < 31; k++)
            argv[i++] = strdup(args[k]);
        argv[i] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t got;
    while ((got = read(pipefd[0], out + n, outlen - 1 - n)) > 0 && n + 1 < outlen)
        n += (size_t)got;
    out[n] = '\0';
    close(pipefd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(command_line)
{
    char out[8192];
    unsetenv("KVREST_TOKEN");
    const char *none[] = {"--port", "0", NULL};
    ck_assert_int_eq(run_kvrest(none, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "token") != NULL, "%s", out);
    const char *empty[] = {"--token", "", NULL};
    ck_assert_int_eq(run_kvrest(empty, out, sizeof out), 2);
    const char *bad[][4] = {{"--token", "t", "--port", "70000"},
                            {"--token", "t", "--fail-rate", "1.5"},
                            {"--token", "t", "--drop-rate", "x"},
                            {"--token", "t", "--pool", "0"},
                            {"--token", "t", "--max-body", "-1"},
                            {"--token", "t", "--redis", "host:notaport"},
                            {"--token", "t", "--bogus", "1"},
                            {"--token", "t", "--seed", "-3"},
                            {"--token", "t", "--readonly-token", "t"},
                            /* secrets in a mistyped flag or a pasted URL are never echoed */
                            {"--token", "t", "--tokn=SECRET-a1", "--quiet"},
                            {"--token", "t", "--re=SECRET-a1", "--quiet"},
                            {"--token", "t", "--redis", "redis://:SECRET-a1@127.0.0.1:6379"},
                            {"--token", "t", "--redis", "user:SECRET-a1@127.0.0.1:6379"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[5] = {bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL};
        ck_assert_msg(run_kvrest(args, out, sizeof out) == 2, "%s %s: %s", bad[i][2], bad[i][3],
                      out);
        ck_assert_msg(strstr(out, "kvrest:") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "SECRET") == NULL, "secret echoed: %s", out);
    }
    /* --help documents every flag and never shows a token value */
    setenv("KVREST_TOKEN", "help-must-not-show-this", 1);
    const char *help[] = {"--token", "nor-this-one", "--help", NULL};
    ck_assert_int_eq(run_kvrest(help, out, sizeof out), 0);
    unsetenv("KVREST_TOKEN");
    ck_assert(strstr(out, "help-must-not-show-this") == NULL &&
              strstr(out, "nor-this-one") == NULL);
    const char *flags[] = {"--listen",         "--port",      "--port-file",      "--redis",
                           "--redis-password", "--token",     "--readonly-token", "--max-body",
                           "--threads",        "--pool",      "--latency-ms",     "--jitter-ms",
                           "--fail-rate",      "--drop-rate", "--stall-rate",     "--stall-ms",
                           "--quota",          "--seed",      "--quiet",          "--version"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        ck_assert_msg(strstr(out, flags[i]) != NULL, "--help lacks %s", flags[i]);
    const char *ver[] = {"--version", NULL};
    ck_assert_int_eq(run_kvrest(ver, out, sizeof out), 0);
    ck_assert_msg(strncmp(out, "kvrest ", 7) == 0, "%s", out);
}
END_TEST

START_TEST(sigterm_clean_exit)
{
    tsrv r, k;
    ck_assert_int_eq(tsrv_redis_start(&r, NULL), 0);
    const char *args[] = {"--stall-rate", "1", "--stall-ms", "60000", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&k, &r, TOKEN, args), 0);
    /* a request stalled for a minute must not delay shutdown */
    pid_t c = fork();
    if (c == 0) {
        kt_resp resp;
        kt_req q = {.kv = &k,
                    .path = "/",
                    .token = TOKEN,
                    .body = "[\"SET\",\"x\",\"1\"]",
                    .timeout_ms = 20000};
        kt_http(&resp, &q);
        _exit(resp.rc == CURLE_OK ? 1 : 0);
    }
    /* Wait until the stall began (otherwise the test proves nothing). */
    long long t0 = tsrv_now_ms();
    while (kt_stat(&k, TOKEN, "faults.stalled") < 1) {
        ck_assert_msg(tsrv_now_ms() - t0 < 30000, "the request never stalled");
        struct timespec ts = {0, 5 * 1000000L}; /* poll interval */
        nanosleep(&ts, NULL);
    }
    char portfile[400];
    snprintf(portfile, sizeof portfile, "%s/port", k.dir);
    ck_assert_int_eq(access(portfile, F_OK), 0);
    long long t1 = tsrv_now_ms();
    ck_assert_int_eq(kill(k.pid, SIGTERM), 0);
    int st;
    ck_assert_int_eq(waitpid(k.pid, &st, 0), k.pid);
    long long took = tsrv_now_ms() - t1;
    k.pid = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kvrest exit status 0x%x", st);
    ck_assert_msg(took < 4000, "shutdown took %lld ms", took);
    ck_assert_int_ne(access(portfile, F_OK), 0); /* removed on exit */
    int cst;
    ck_assert_int_eq(waitpid(c, &cst, 0), c);
    ck_assert_msg(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "stalled client got a reply");
    redisReply *x = kt_redis(&r, "EXISTS x");
    ck_assert_int_eq(x->integer, 0); /* a stall cut short by shutdown never lands */
    freeReplyObject(x);
    tsrv_stop(&k);
    tsrv_stop(&r);
}
END_TEST

START_TEST(redis_outage_and_recovery)
{
    tsrv r, k;
    ck_assert_int_eq(tsrv_redis_start(&r, "redis-pass-77"), 0);
    const char *args[] = {"--redis-timeout-ms", "800", "--pool", "4", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&k, &r, TOKEN, args), 0);
    kt_resp resp;
    on(&k, &resp, "/", TOKEN, "[\"SET\",\"o\",\"1\"]", 0);
    kt_expect(&resp, 200, "{\"result\":\"OK\"}"); /* --redis-password passed by the harness */
    kt_free(&resp);
    /* hung redis: the command times out, the request does not hang */
    ck_assert_int_eq(kill(r.pid, SIGSTOP), 0);
    on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
    kill(r.pid, SIGCONT);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: redis");
    ck_assert_msg(strstr(kt_error_text(&resp), "timed out") != NULL, "%s", resp.body);
    ck_assert_msg(resp.ms < 3000, "hung redis: request took %lld ms", resp.ms);
    kt_free(&resp);
    on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
    kt_expect(&resp, 200, "{\"result\":\"1\"}");
    kt_free(&resp);
    /* redis down: a 500 JSON error, quickly */
    tsrv_kill(&r, SIGKILL);
    on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    ck_assert_msg(resp.ms < 3000, "redis down: request took %lld ms", resp.ms);
    kt_free(&resp);
    on(&k, &resp, "/pipeline", TOKEN, "[[\"GET\",\"o\"]]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    kt_free(&resp);
    on(&k, &resp, "/multi-exec", TOKEN, "[[\"GET\",\"o\"]]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    kt_free(&resp);
    /* back again (empty: no persistence): the pool reconnects */
    ck_assert_int_eq(tsrv_redis_restart(&r), 0);
    long long t0 = tsrv_now_ms();
    long status = 0;
    while (status != 200 && tsrv_now_ms() - t0 < 10000) {
        on(&k, &resp, "/", TOKEN, "[\"SET\",\"o\",\"2\"]", 0);
        status = resp.status;
        kt_free(&resp);
    }
    ck_assert_int_eq(status, 200);
    for (int i = 0; i < 8; i++) { /* every pooled connection works again */
        on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
        kt_expect(&resp, 200, "{\"result\":\"2\"}");
        kt_free(&resp);
    }
    tsrv_stop(&k);
    tsrv_stop(&r);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

static TCase *shared_case(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, servers_up, servers_down);
    tcase_add_checked_fixture(tc, fresh, NULL);
    tcase_set_timeout(tc, TEST_TIMEOUT);
    return tc;
}

static Suite *kvrest_suite(void)
{
    Suite *s = suite_create("kvrest");
    TCase *tc = shared_case("routes");
    tcase_add_test(tc, single_command);
    tcase_add_test(tc, pipeline_error_in_middle);
    tcase_add_test(tc, multi_exec_route);
    tcase_add_test(tc, path_style);
    tcase_add_test(tc, method_not_allowed);
    tcase_add_test(tc, startup_line_without_token);
    suite_add_tcase(s, tc);

    tc = shared_case("auth");
    tcase_add_test(tc, auth_missing_or_wrong);
    tcase_add_test(tc, auth_query_token);
    tcase_add_test(tc, auth_readonly_token);
    suite_add_tcase(s, tc);

    tc = shared_case("encoding");
    tcase_add_test(tc, base64_encoding);
    tcase_add_test(tc, raw_encoding);
    tcase_add_test(tc, integers_64bit);
    tcase_add_test(tc, number_and_boolean_arguments);
    tcase_add_test(tc, unicode_keys_round_trip);
    tcase_add_test(tc, binary_values);
    suite_add_tcase(s, tc);

    tc = shared_case("errors");
    tcase_add_test(tc, malformed_bodies);
    tcase_add_test(tc, oversized_body);
    tcase_add_test(tc, scripts);
    tcase_add_test(tc, refused_commands);
    tcase_add_test(tc, sync_token);
    tcase_add_test(tc, quota);
    suite_add_tcase(s, tc);

    tc = shared_case("faults");
    tcase_add_test(tc, fault_fail);
    tcase_add_test(tc, fault_drop);
    tcase_add_test(tc, fault_stall);
    tcase_add_test(tc, fault_latency_and_jitter);
    tcase_add_test(tc, fault_seed_reproducible);
    tcase_add_test(tc, admin_faults_validation);
    tcase_add_test(tc, admin_stats_exact);
    tcase_add_test(tc, keep_alive);
    suite_add_tcase(s, tc);

    tc = shared_case("concurrency");
    tcase_add_test(tc, concurrent_transactions);
    tcase_add_test(tc, slow_request_does_not_block_others);
    tcase_add_test(tc, fuzz_bodies_and_paths);
    suite_add_tcase(s, tc);

    tc = tcase_create("variants");
    tcase_add_unchecked_fixture(tc, variants_up, variants_down);
    tcase_add_checked_fixture(tc, fresh, NULL);
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, redis_over_unix_socket);
    tcase_add_test(tc, many_clients_small_pool);
    tcase_add_test(tc, thread_pool_mode);
    tcase_add_test(tc, max_body_flag);
    tcase_add_test(tc, quota_flag);
    tcase_add_test(tc, token_from_environment);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, command_line);
    tcase_add_test(tc, sigterm_clean_exit);
    tcase_add_test(tc, redis_outage_and_recovery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    SRunner *sr = srunner_create(kvrest_suite());
    srunner_add_suite(sr, kt_framing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
