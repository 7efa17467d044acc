/* test_encoding.c — kvrest tests: encodings: base64 and raw replies, 64-bit integers, argument
 * types, Unicode keys, binary values.  Fixtures and shorthands: kvsuite.h. */
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

/* ---- encodings ------------------------------------------------------------------ */

#define NESTED_EVAL "[\"EVAL\",\"return {1, 'a', {'OK', 'b', {-7}}, 'OK'}\",\"0\"]"

START_TEST(base64_encoding)
{
    static const kvt_row rows[] = {
        KVT_B64("/", "[\"PING\"]", 200, "{\"result\":\"UE9ORw==\"}"),
        KVT_B64("/", "[\"SET\",\"k\",\"OK\"]", 200, "{\"result\":\"OK\"}"),
        /* a top-level "OK" stays raw, whatever command returned it */
        KVT_B64("/", "[\"GET\",\"k\"]", 200, "{\"result\":\"OK\"}"),
        KVT_B64("/", "[\"SET\",\"k2\",\"hello\"]", 200, "{\"result\":\"OK\"}"),
        KVT_B64("/", "[\"GET\",\"k2\"]", 200, "{\"result\":\"aGVsbG8=\"}"),
        KVT_B64("/", "[\"RPUSH\",\"l\",\"OK\",\"x\",\"\",\"ab\"]", 200, "{\"result\":4}"),
        /* nested "OK" is encoded; padding for 0, 1, 2 bytes */
        KVT_B64("/", "[\"LRANGE\",\"l\",0,-1]", 200,
                "{\"result\":[\"T0s=\",\"eA==\",\"\",\"YWI=\"]}"),
        KVT_B64("/", "[\"GET\",\"nope\"]", 200, "{\"result\":null}"),
        KVT_B64("/", NESTED_EVAL, 200,
                "{\"result\":[1,\"YQ==\",[\"T0s=\",\"Yg==\",[-7]],\"T0s=\"]}"),
        /* error texts are never encoded */
        KVT_B64("/", "[\"INCR\",\"k2\"]", 400,
                "{\"error\":\"ERR value is not an integer or out of range\"}"),
        /* pipeline and transaction entries: each entry's result is top level */
        KVT_B64("/pipeline",
                "[[\"SET\",\"a\",\"1\"],[\"GET\",\"a\"],[\"INCR\",\"a\"],[\"GET\",\"k\"]]", 200,
                "[{\"result\":\"OK\"},{\"result\":\"MQ==\"},{\"result\":2},{\"result\":\"OK\"}]"),
        KVT_B64("/multi-exec", "[[\"GET\",\"k2\"],[\"LRANGE\",\"l\",0,0],[\"INCR\",\"k2\"]]", 200,
                "[{\"result\":\"aGVsbG8=\"},{\"result\":[\"T0s=\"]},"
                "{\"error\":\"ERR value is not an integer or out of range\"}]"),
        KVT_B64("/get/k2", NULL, 200, "{\"result\":\"aGVsbG8=\"}"),
    };
    EXPECT_ROWS(rows);
}
END_TEST

START_TEST(raw_encoding)
{
    static const kvt_row rows[] = {
        KVT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}"),
        KVT_POST("/", NESTED_EVAL, 200, "{\"result\":[1,\"a\",[\"OK\",\"b\",[-7]],\"OK\"]}"),
        KVT_POST("/", "[\"RPUSH\",\"l\",\"OK\",\"x\"]", 200, "{\"result\":2}"),
        KVT_POST("/", "[\"LRANGE\",\"l\",0,-1]", 200, "{\"result\":[\"OK\",\"x\"]}"),
        /* JSON-escaping of quotes, backslashes and control characters */
        KVT_POST("/", "[\"SET\",\"e\",\"q\\\"b\\\\n\\nt\\tc\\u0001/\"]", 200,
                 "{\"result\":\"OK\"}"),
        KVT_POST("/", "[\"GET\",\"e\"]", 200, "{\"result\":\"q\\\"b\\\\n\\nt\\tc\\u0001/\"}"),
    };
    EXPECT_ROWS(rows);
    assert_raw("e", "q\"b\\n\nt\tc\x01/");
}
END_TEST

START_TEST(integers_64bit)
{
    static const kvt_row rows[] = {
        KVT_POST("/", "[\"SET\",\"n\",\"9223372036854775806\"]", 200, "{\"result\":\"OK\"}"),
        KVT_POST("/", "[\"INCR\",\"n\"]", 200, "{\"result\":9223372036854775807}"),
        KVT_B64("/", "[\"INCRBY\",\"n\",0]", 200, "{\"result\":9223372036854775807}"),
        KVT_POST("/", "[\"SET\",\"m\",-9223372036854775807]", 200, "{\"result\":\"OK\"}"),
        KVT_POST("/", "[\"DECR\",\"m\"]", 200, "{\"result\":-9223372036854775808}"),
        KVT_POST("/", "[\"INCRBY\",\"z\",-42]", 200, "{\"result\":-42}"),
        KVT_POST("/", "[\"INCRBY\",\"big\",9007199254740993]", 200,
                 "{\"result\":9007199254740993}"),
        KVT_POST("/pipeline", "[[\"INCR\",\"big\"],[\"EVAL\",\"return {9007199254740993, -1}\",0]]",
                 200, "[{\"result\":9007199254740994},{\"result\":[9007199254740992,-1]}]"),
    };
    EXPECT_ROWS(rows);
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

void kvt_add_encoding(Suite *s)
{
    TCASE_ADD(s, kvt_shared_case("encoding"), base64_encoding, raw_encoding, integers_64bit,
              number_and_boolean_arguments, unicode_keys_round_trip, binary_values);
}
