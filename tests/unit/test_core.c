/* test_core.c — unit tests of the core's own pieces: validation, durations,
 * JSON, result codes, opening stores, and the retry / ambiguity logic
 * (driven by a scripted backend that fails on cue). */
#include "backend.h"
#include "util/squtil.h"
#include "tcase.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Validation                                                           */

START_TEST(check_sq_rules)
{
    char msg[256];
    ck_assert_int_eq(sqclaim_check_sq("251019-164rmb", msg, sizeof msg), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_sq("a", NULL, 0), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_sq("", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_str_eq(msg, "invalid SQ id: empty");
    ck_assert_int_eq(sqclaim_check_sq("ab*c", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_str_eq(msg, "invalid SQ id \"ab*c\": '*' at position 3 is not allowed "
                          "(allowed: A-Z a-z 0-9 . _ -)");
    ck_assert_int_eq(sqclaim_check_sq("a b", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "byte 0x20 at position 2"));
    ck_assert_int_eq(sqclaim_check_sq("x\x01y", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "x\\x01y")); /* shown escaped */
    ck_assert_int_eq(sqclaim_check_sq("-x", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "must not start with '-'"));
    char long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    ck_assert_int_eq(sqclaim_check_sq(long_id, msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "65 bytes, at most 64"));
    long_id[64] = '\0';
    ck_assert_int_eq(sqclaim_check_sq(long_id, msg, sizeof msg), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_sq(NULL, msg, sizeof msg), SQCLAIM_EINVAL);
    const char *pattern_breakers[] = {"a*", "a?", "a[", "a]", "a:b", "a{b", "a\\b", "a/b", "a\"b"};
    for (size_t i = 0; i < sizeof pattern_breakers / sizeof *pattern_breakers; i++)
        ck_assert_int_eq(sqclaim_check_sq(pattern_breakers[i], NULL, 0), SQCLAIM_EINVAL);
}
END_TEST

START_TEST(check_bot_rules)
{
    char msg[256];
    ck_assert_int_eq(sqclaim_check_bot("BOT1", msg, sizeof msg), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_bot("bot with spaces \"and\" quotes", msg, sizeof msg),
                     SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_bot("\xe2\x82\xac uro \xf0\x9f\xa4\x96", msg, sizeof msg),
                     SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_check_bot("", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_check_bot("a\tb", msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "control character 0x09 at position 2"));
    ck_assert_int_eq(sqclaim_check_bot("\xc0\x80", msg, sizeof msg), SQCLAIM_EINVAL); /* overlong */
    ck_assert_ptr_nonnull(strstr(msg, "UTF-8"));
    ck_assert_int_eq(sqclaim_check_bot("\xed\xa0\x80", NULL, 0), SQCLAIM_EINVAL); /* surrogate */
    ck_assert_int_eq(sqclaim_check_bot("\xf4\x90\x80\x80", NULL, 0), SQCLAIM_EINVAL); /* >10FFFF */
    ck_assert_int_eq(sqclaim_check_bot("\xc2\x85", NULL, 0), SQCLAIM_EINVAL);         /* C1 NEL */
    ck_assert_int_eq(sqclaim_check_bot("ab\xe2\x82", NULL, 0), SQCLAIM_EINVAL); /* truncated */
    char long_bot[80];
    memset(long_bot, 'b', 65);
    long_bot[65] = '\0';
    ck_assert_int_eq(sqclaim_check_bot(long_bot, msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_check_bot(NULL, NULL, 0), SQCLAIM_EINVAL);
}
END_TEST

START_TEST(parse_durations)
{
    int64_t ms = -1;
    char msg[256];
    struct {
        const char *in;
        int64_t out;
    } ok[] = {{"600s", 600000}, {"10m", 600000}, {"250ms", 250}, {"1h", 3600000},
              {"1.5s", 1500},   {"0", 0},        {"2000us", 2}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        ck_assert_int_eq(sqclaim_parse_duration(ok[i].in, &ms, msg, sizeof msg), SQCLAIM_OK);
        ck_assert_int_eq(ms, ok[i].out);
    }
    const char *bad[] = {
        "",    "s",    "-5s",   "5 s", "5sec", "1500", "99999999999999999999s", "5000000000000h",
        "abc", "10mm", "1.5ms", "1.s", ".5s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(sqclaim_parse_duration(bad[i], &ms, msg, sizeof msg) == SQCLAIM_EINVAL,
                      "%s accepted", bad[i]);
        ck_assert_ptr_nonnull(strstr(msg, "duration"));
    }
    ck_assert_int_eq(sqclaim_parse_duration(NULL, &ms, NULL, 0), SQCLAIM_EINVAL);
    /* A bare number: refused with its likely meaning (issue 9.13). */
    ck_assert_int_eq(sqclaim_parse_duration("600", &ms, msg, sizeof msg), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "did you mean 600s?"));
    int64_t us = -1;
    ck_assert_int_eq(sqclaim_parse_duration_us("1.5ms", &us, msg, sizeof msg), SQCLAIM_OK);
    ck_assert_int_eq(us, 1500);
    ck_assert_int_eq(sqclaim_parse_duration_us("0.0000001s", &us, msg, sizeof msg), SQCLAIM_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

START_TEST(json_quote_escapes)
{
    char buf[128];
    size_t n = sq_json_quote(buf, sizeof buf, "a\"b\\c\n\x01\x7f\xc3\xa9", SQ_JSON_CSTR, 0);
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\"");
    ck_assert_uint_eq(n, strlen(buf));
    /* Truncation: returns the full length, writes what fits. */
    char small[5];
    ck_assert_uint_eq(sq_json_quote(small, sizeof small, "abcdef", SQ_JSON_CSTR, 0), 8);
    ck_assert_str_eq(small, "\"abc");
    ck_assert_uint_eq(sq_json_quote(NULL, 0, "xy", SQ_JSON_CSTR, 0), 4);
    /* Bytes that are not UTF-8 become U+FFFD, one for each maximal invalid
     * subpart (\xe2\x82 is one): the output is always JSON. */
    sq_json_quote(buf, sizeof buf, "a\xff\xe2\x82 \xf0\x9f\xa4\x96", SQ_JSON_CSTR, 0);
    ck_assert_str_eq(buf, "\"a\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\xa4\x96\"");
    cJSON *j = cJSON_Parse(buf);
    ck_assert_ptr_nonnull(j);
    cJSON_Delete(j);
}
END_TEST

START_TEST(timestamps_iso_ms)
{
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    sqb_format_timestamp(1761482096789LL, ts);
    ck_assert_str_eq(ts, "2025-10-26T12:34:56.789Z");
    sqb_format_timestamp(0, ts);
    ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
    sqb_format_timestamp(sqb_unix_ms(), ts);
    ck_assert_uint_eq(strlen(ts), SQCLAIM_TIMESTAMP_LEN);
    sqb_format_timestamp(INT64_MAX, ts); /* clamped, same shape */
    ck_assert_str_eq(ts, "9999-12-31T23:59:59.999Z");
    sqb_format_timestamp(-5, ts);
    ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(result_codes)
{
    const sqclaim_rc all[] = {
        SQCLAIM_OK,           SQCLAIM_BUSY,     SQCLAIM_LOST,    SQCLAIM_EINVAL,    SQCLAIM_ECONFIG,
        SQCLAIM_EIO,          SQCLAIM_ETIMEOUT, SQCLAIM_EAUTH,   SQCLAIM_EPROTOCOL, SQCLAIM_ENOMEM,
        SQCLAIM_EUNSUPPORTED, SQCLAIM_EQUOTA,   SQCLAIM_ESERVER, SQCLAIM_ESTATE};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        ck_assert_str_ne(sqclaim_rcname(all[i]), "UNKNOWN");
        ck_assert_str_ne(sqclaim_strerror(all[i]), "unknown result code");
        ck_assert(sqclaim_is_error(all[i]) == (all[i] < 0));
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(sqclaim_rcname(all[i]), sqclaim_rcname(all[j]));
    }
    ck_assert_str_eq(sqclaim_rcname((sqclaim_rc)99), "UNKNOWN");
    ck_assert_str_eq(sqclaim_strerror((sqclaim_rc)-99), "unknown result code");
    ck_assert_str_eq(sqclaim_version(), SQCLAIM_VERSION);
    ck_assert_int_eq(sqclaim_margin_ms(600000), 6002);
    ck_assert_int_eq(sqclaim_margin_ms(100), 3);
}
END_TEST

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

START_TEST(status_json_rendering)
{
    sqclaim_status st;
    memset(&st, 0, sizeof st);
    sqclaim_claim_info c = {0};
    strcpy(c.sq, "251019-164rmb");
    strcpy(c.bot, "BOT\"1");
    strcpy(c.timestamp, "2025-10-26T12:34:56.789Z");
    strcpy(c.status, "CLAIMING");
    c.fence = 18446744073709551615ULL; /* 64 bits exact */
    c.ttl_ms = 599000;
    sqclaim_reservation_info r = {0};
    strcpy(r.sq, "251019-164rmb");
    strcpy(r.bot, "BOT1");
    r.start_row = 51;
    r.row_count = 5;
    strcpy(r.status, "WRITING");
    strcpy(r.timestamp, "2025-10-26T12:34:57.000Z");
    r.fence = 7;
    r.ttl_ms = -1;
    st.claims = &c;
    st.nclaims = 1;
    st.reservations = &r;
    st.nreservations = 1;
    strcpy(st.timestamp, "2025-10-26T12:35:00.000Z");
    char *json = sqclaim_status_json(&st, 0);
    ck_assert_str_eq(json,
                     "{\"success\":true,\"sqClaims\":{\"251019-164rmb\":{\"botId\":\"BOT\\\"1\","
                     "\"timestamp\":\"2025-10-26T12:34:56.789Z\",\"status\":\"CLAIMING\","
                     "\"fence\":18446744073709551615,\"ttlMs\":599000}},\"refundReservations\":{"
                     "\"251019-164rmb\":{\"botId\":\"BOT1\",\"startRow\":51,\"rowCount\":5,"
                     "\"status\":\"WRITING\",\"timestamp\":\"2025-10-26T12:34:57.000Z\","
                     "\"fence\":7,\"ttlMs\":-1}},\"timestamp\":\"2025-10-26T12:35:00.000Z\","
                     "\"kvConfigured\":true}");
    sqclaim_free(json);
    json = sqclaim_status_json(&st, SQCLAIM_JSON_PRETTY);
    ck_assert_ptr_nonnull(strstr(json, "{\n  \"success\": true,\n  \"sqClaims\": {\n    "
                                       "\"251019-164rmb\": {\n      \"botId\""));
    cJSON *parsed = cJSON_Parse(json);
    ck_assert_ptr_nonnull(parsed);
    cJSON_Delete(parsed);
    sqclaim_free(json);
    ck_assert_ptr_null(sqclaim_status_json(NULL, 0));
}
END_TEST

START_TEST(status_json_flagged_entries)
{
    /* Foreign and unreadable entries get their extra members after ttlMs;
     * sqclaim's own keep the seed's exact shape (see above). */
    sqclaim_status st;
    memset(&st, 0, sizeof st);
    sqclaim_claim_info c[2];
    memset(c, 0, sizeof c);
    strcpy(c[0].sq, "A4");
    strcpy(c[0].bot, "?");
    c[0].ttl_ms = -1;
    c[0].flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
    strcpy(c[0].type, "string");
    strcpy(c[0].raw, "he said \"hi\"");
    strcpy(c[0].fingerprint, "0123456789abcdef0123456789abcdef01234567");
    strcpy(c[1].sq, "B1");
    strcpy(c[1].bot, "BOT9");
    strcpy(c[1].status, "CLAIMING");
    c[1].ttl_ms = 5000;
    c[1].flags = SQCLAIM_ENTRY_FOREIGN;
    sqclaim_reservation_info r;
    memset(&r, 0, sizeof r);
    strcpy(r.sq, "A6");
    strcpy(r.bot, "?");
    r.ttl_ms = 100;
    r.flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE | SQCLAIM_ENTRY_RAW_HIDDEN;
    strcpy(r.type, "string");
    strcpy(r.raw, "must not appear");
    st.claims = c;
    st.nclaims = 2;
    st.reservations = &r;
    st.nreservations = 1;
    strcpy(st.timestamp, "2025-10-26T12:35:00.000Z");
    char *json = sqclaim_status_json(&st, 0);
    ck_assert_str_eq(
        json, "{\"success\":true,\"sqClaims\":{\"A4\":{\"botId\":\"?\",\"timestamp\":\"\","
              "\"status\":\"\",\"fence\":0,\"ttlMs\":-1,\"foreign\":true,\"unreadable\":true,"
              "\"type\":\"string\",\"raw\":\"he said \\\"hi\\\"\"},\"B1\":{\"botId\":\"BOT9\","
              "\"timestamp\":\"\",\"status\":\"CLAIMING\",\"fence\":0,\"ttlMs\":5000,"
              "\"foreign\":true}},\"refundReservations\":{\"A6\":{\"botId\":\"?\",\"startRow\":0,"
              "\"rowCount\":0,\"status\":\"\",\"timestamp\":\"\",\"fence\":0,\"ttlMs\":100,"
              "\"foreign\":true,\"unreadable\":true,\"type\":\"string\",\"raw\":\"\","
              "\"rawHidden\":true}},\"timestamp\":\"2025-10-26T12:35:00.000Z\","
              "\"kvConfigured\":true}");
    ck_assert_ptr_null(strstr(json, "0123456789abcdef")); /* no fingerprints */
    sqclaim_free(json);
}
END_TEST

START_TEST(raw_preview_rules)
{
    char out[SQCLAIM_RAW_MAX + 1];
    ck_assert(sqb_raw_preview(out, "hello", 5));
    ck_assert_str_eq(out, "hello");
    /* Non-printable bytes (NUL included) become '.'. */
    ck_assert(sqb_raw_preview(out, "a\0b\n\xc3\xa9", 6));
    ck_assert_str_eq(out, "a.b...");
    /* Anything that mentions a token, in any case, is withheld. */
    ck_assert(!sqb_raw_preview(out, "{\"TOKEN\":\"x\"", 13));
    ck_assert_str_eq(out, "");
    ck_assert(!sqb_raw_preview(out, "my tOkEn is", 11));
    /* Long hex runs (could be a secret) are replaced; short ones kept. */
    ck_assert(sqb_raw_preview(out, "id=0123456789abcdef0123 x=beef", 30));
    ck_assert_str_eq(out, "id=<hex> x=beef");
    ck_assert(sqb_raw_preview(out, "0123456789abcde", 15)); /* 15 digits: kept */
    ck_assert_str_eq(out, "0123456789abcde");
    /* Long values are cut with "...", never past the buffer. */
    char big[300];
    memset(big, 'x', sizeof big);
    ck_assert(sqb_raw_preview(out, big, sizeof big));
    ck_assert_uint_eq(strlen(out), SQCLAIM_RAW_MAX);
    ck_assert_str_eq(out + SQCLAIM_RAW_MAX - 3, "...");
    ck_assert(sqb_raw_preview(out, NULL, 0));
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(error_json_seed_text)
{
    char *json = sqclaim_error_json(SQCLAIM_KV_NOT_CONFIGURED, 0);
    ck_assert_str_eq(json, "{\"success\":false,\"error\":\"KV not configured. Visit Vercel "
                           "dashboard to set up KV storage.\"}");
    sqclaim_free(json);
    json = sqclaim_error_json(SQCLAIM_KV_NOT_CONFIGURED, SQCLAIM_JSON_PRETTY);
    ck_assert_str_eq(json, "{\n  \"success\": false,\n  \"error\": \"KV not configured. Visit "
                           "Vercel dashboard to set up KV storage.\"\n}");
    sqclaim_free(json);
}
END_TEST

START_TEST(lease_json_round_trip)
{
    sqclaim_lease l, back;
    memset(&l, 0, sizeof l);
    strcpy(l.sq, "251019-164rmb");
    strcpy(l.bot, "BOT \"1\"");
    strcpy(l.token, "00112233445566778899aabbccddeeff");
    l.fence = 42;
    l.ttl_ms = 600000;
    l.expires_unix_ms = 1761482096789LL;
    l.deadline_ns = 12345;
    char *json = sqclaim_lease_to_json(&l);
    ck_assert_str_eq(json, "{\"sq\":\"251019-164rmb\",\"bot\":\"BOT \\\"1\\\"\",\"token\":"
                           "\"00112233445566778899aabbccddeeff\",\"fence\":42,\"ttlMs\":600000,"
                           "\"expiresAt\":\"2025-10-26T12:34:56.789Z\"}");
    char msg[256];
    ck_assert_int_eq(sqclaim_lease_from_json(json, &back, msg, sizeof msg), SQCLAIM_OK);
    ck_assert_str_eq(back.sq, l.sq);
    ck_assert_str_eq(back.bot, l.bot);
    ck_assert_str_eq(back.token, l.token);
    ck_assert_uint_eq(back.fence, 42);
    ck_assert_int_eq(back.ttl_ms, 600000);
    ck_assert_int_eq(back.deadline_ns, 0); /* a deadline is local: not carried over */
    sqclaim_free(json);
}
END_TEST

START_TEST(lease_json_rejects_garbage)
{
    sqclaim_lease l;
    char msg[256];
    const char *bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"sq\":\"a\"}",
        "{\"sq\":\"bad sq\",\"token\":\"00112233445566778899aabbccddeeff\"}",
        "{\"sq\":\"a\",\"token\":\"short\"}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899AABBCCDDEEFF\"}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"fence\":-1}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"fence\":1.5}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"ttlMs\":1}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"bot\":7}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"bot\":\"\"}",
        "{\"sq\":1,\"token\":\"00112233445566778899aabbccddeeff\"}",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\"} trailing",
        "{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\",\"fence\":9007199254740993}",
        "{\"sq\":\"a\\u0000b\",\"token\":\"00112233445566778899aabbccddeeff\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg[0] = '\0';
        ck_assert_msg(sqclaim_lease_from_json(bad[i], &l, msg, sizeof msg) == SQCLAIM_EINVAL,
                      "accepted %s", bad[i]);
        ck_assert_msg(msg[0] != '\0', "no message for %s", bad[i]);
    }
    ck_assert_int_eq(sqclaim_lease_from_json(NULL, &l, NULL, 0), SQCLAIM_EINVAL);
    ck_assert_int_eq(
        sqclaim_lease_from_json("{\"sq\":\"a\",\"token\":\"00112233445566778899aabbccddeeff\"}", &l,
                                msg, sizeof msg),
        SQCLAIM_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Opening stores                                                       */

START_TEST(open_unknown_backend_lists_available)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "postgres";
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "unknown backend \"postgres\""));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "available: memory"));
    /* Every operation on the failed handle repeats the open error. */
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "a", "b", 0, &l, NULL), SQCLAIM_EUNSUPPORTED);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EUNSUPPORTED);
    sqclaim_status *st = (sqclaim_status *)&l;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_null(st);
    sqclaim_close(s);
    sqclaim_close(NULL);
    ck_assert_str_eq(sqclaim_errmsg(NULL), "out of memory");
}
END_TEST

START_TEST(backend_and_its_old_names)
{
    /* "backend" is the name; "adapter" stays as a deprecated alias in the
     * options (the same field), the functions and the environment. */
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "memory";
    ck_assert_ptr_eq(o.backend, o.adapter);
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_backend_name(s), "memory");
    ck_assert_str_eq(sqclaim_adapter(s), "memory");
    sqclaim_close(s);
    ck_assert_ptr_eq(sqclaim_backend_names(), sqclaim_adapters());
    ck_assert_str_eq(sqclaim_backend_names()[0], "memory");

    setenv("SQCLAIM_BACKEND", "nosuch", 1);
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "(from SQCLAIM_BACKEND)"));
    sqclaim_close(s);
    setenv("SQCLAIM_BACKEND", "memory", 1);
    setenv("SQCLAIM_ADAPTER", "memory", 1); /* both, agreeing: fine */
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_OK);
    sqclaim_close(s);
    setenv("SQCLAIM_ADAPTER", "redis", 1); /* both, disagreeing: refused */
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "name different backends"));
    sqclaim_close(s);
    o.backend = "memory"; /* the option wins over both */
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    sqclaim_close(s);
    unsetenv("SQCLAIM_BACKEND");
    unsetenv("SQCLAIM_ADAPTER");
}
END_TEST

START_TEST(open_from_environment)
{
    setenv("SQCLAIM_ADAPTER", "nosuch", 1);
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "SQCLAIM_ADAPTER"));
    sqclaim_close(s);
    setenv("SQCLAIM_ADAPTER", "memory", 1);
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_adapter(s), "memory");
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    sqclaim_close(s);
    unsetenv("SQCLAIM_ADAPTER");
#ifdef SQCLAIM_WITH_SQLITE
    /* The default is sqlite (shared by the host's processes), in a file of
     * our own here, never the real home's. */
    char dir[] = "/tmp/sqclaim-unit-XXXXXX", db[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/claims.db", dir);
    setenv("SQCLAIM_DB", db, 1);
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_adapter(s), "sqlite");
    ck_assert(sqclaim_caps(s) & SQCLAIM_CAP_CROSS_PROCESS);
    ck_assert(sqclaim_caps(s) & SQCLAIM_CAP_PERSISTENT);
    ck_assert(!(sqclaim_caps(s) & SQCLAIM_CAP_CLOCK));
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    sqclaim_close(s);
    unsetenv("SQCLAIM_DB");
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
#else
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_EUNSUPPORTED); /* default: sqlite */
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "sqlite"));
    sqclaim_close(s);
#endif
    ck_assert_str_eq(sqclaim_adapters()[0], "memory");
}
END_TEST

START_TEST(open_rejects_bad_options)
{
    sqclaim_options o;
    sqclaim_store *s;
    int cases = 0;
    for (int k = 0; k < 5; k++) {
        sqclaim_options_init(&o);
        o.adapter = "memory";
        sqclaim_clock broken = {NULL, NULL};
        switch (k) {
        case 0: o.timeout_ms = -1; break;
        case 1: o.connect_timeout_ms = 600001; break;
        case 2: o.retries = -2; break;
        case 3: o.retries = 11; break;
        case 4: o.clock = &broken; break;
        default: break;
        }
        ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_EINVAL);
        ck_assert(strlen(sqclaim_errmsg(s)) > 10);
        sqclaim_close(s);
        cases++;
    }
    ck_assert_int_eq(cases, 5);
    ck_assert_int_eq(sqclaim_open(NULL, NULL), SQCLAIM_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A scripted backend: each call pops the next planned answer.          */

typedef struct step {
    sqclaim_rc rc;
    bool maybe_applied, transient;
    size_t index;   /* claim: index granted */
    bool reclaimed; /* claim */
    int64_t left;   /* claim: remaining TTL reported (0: the request's TTL) */
} step;

static step plan[16];
static int nplan, calls;
static char seen_tokens[16][SQCLAIM_TOKEN_LEN + 1];

static int64_t planned_left;

/* The clock of the scripted backend's CAP_CLOCK variant: every backend
 * call moves it forward by call_ns (the time a request spends on the
 * wire and in the store), so a deadline taken after the call is caught. */
static int64_t fake_now = 5000000000LL;
static int64_t call_ns;
static int64_t fake_clock_fn(void *ctx)
{
    (void)ctx;
    return fake_now;
}
static const sqclaim_clock scripted_clock = {fake_clock_fn, NULL};

static sqclaim_rc next(sqb_err *err, size_t *index, bool *reclaimed)
{
    ck_assert_int_lt(calls, nplan);
    fake_now += call_ns;
    step st = plan[calls++];
    planned_left = st.left;
    if (index)
        *index = st.index;
    if (reclaimed)
        *reclaimed = st.reclaimed;
    if (st.rc < 0) {
        sqb_seterr(err, st.rc, "scripted failure %d", calls);
        err->maybe_applied = st.maybe_applied;
        err->transient = st.transient;
    }
    return st.rc;
}

static sqclaim_rc fb_open(const sqclaim_options *o, void **conn, sqb_err *err)
{
    (void)o;
    (void)err;
    *conn = NULL;
    return SQCLAIM_OK;
}
static void fb_close(void *c) { (void)c; }
static sqclaim_rc fb_claim(void *c, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    (void)c;
    strcpy(seen_tokens[calls], req->token);
    res->fence = 9;
    sqclaim_rc rc = next(err, &res->index, &res->reclaimed);
    res->ttl_ms = planned_left ? planned_left : req->ttl_ms;
    if (rc == SQCLAIM_BUSY) {
        strcpy(res->holder.bot, "BOT9");
        res->holder.remaining_ms = 1234;
    }
    return rc;
}
static sqclaim_rc fb_lease(void *c, const sqb_lease_req *req, sqb_err *err)
{
    (void)c;
    strcpy(seen_tokens[calls], req->token);
    return next(err, NULL, NULL);
}
static sqclaim_rc fb_reserve(void *c, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err)
{
    (void)c;
    rows->start_row = req->hint ? req->hint - 1 : 1; /* deliberately wrong when hinted */
    rows->count = req->count;
    return next(err, NULL, NULL);
}
static sqclaim_rc fb_status(void *c, sqclaim_status *out, sqb_err *err)
{
    (void)c;
    sqclaim_claim_info ci = {0};
    strcpy(ci.sq, "zz");
    sqb_status_add_claim(out, &ci);
    strcpy(ci.sq, "aa");
    sqb_status_add_claim(out, &ci);
    return next(err, NULL, NULL);
}

static const sqclaim_backend scripted = {
    .version = SQB_VERSION,
    .name = "scripted",
    .summary = "test double for the core's retry logic",
    .open = fb_open,
    .close = fb_close,
    .claim = fb_claim,
    .renew = fb_lease,
    .release = fb_lease,
    .reserve = fb_reserve,
    .finish = fb_lease,
    .status = fb_status,
};

/* The scripted backend on the fake clock when call_ms >= 0 (each call then
 * takes call_ms), else on the library's own clock. */
static sqclaim_store *open_scripted_clock(int retries, int64_t call_ms)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.retries = retries;
    if (call_ms >= 0)
        o.clock = &scripted_clock;
    /* The same double, declaring the clock capability. */
    static sqclaim_backend scripted_with_clock;
    scripted_with_clock = scripted;
    scripted_with_clock.name = "scripted-clock";
    scripted_with_clock.summary =
        "the test double, on an injected clock that moves during each call";
    scripted_with_clock.caps = SQCLAIM_CAP_CLOCK;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open_backend(call_ms >= 0 ? &scripted_with_clock : &scripted, &o, &s),
                     SQCLAIM_OK);
    nplan = calls = 0;
    call_ns = call_ms >= 0 ? call_ms * 1000000LL : 0;
    return s;
}

static sqclaim_store *open_scripted(int retries) { return open_scripted_clock(retries, -1); }

/* The answers the scripted backend gives next, one a call. */
static void plan_steps(const step *steps, size_t n)
{
    ck_assert_uint_le(n, sizeof plan / sizeof *plan);
    memcpy(plan, steps, n * sizeof *steps);
    nplan = (int)n;
    calls = 0;
}
#define STEPS(...) (const step[]){__VA_ARGS__}, sizeof((const step[]){__VA_ARGS__}) / sizeof(step)
#define PLAN(...)  plan_steps(STEPS(__VA_ARGS__))

/* Plans the answers given, claims sq-1 for BOT1 (60 s) on s and checks the
 * claim's result; returns s, so a test can open and claim in one line. */
static sqclaim_store *claim_planned(sqclaim_store *s, sqclaim_lease *l, sqclaim_rc want,
                                    const step *steps, size_t n)
{
    plan_steps(steps, n);
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 60000, l, NULL), want);
    return s;
}
#define CLAIM(s, l, want, ...) claim_planned((s), (l), (want), STEPS(__VA_ARGS__))
/* The start of most retry tests: declares the lease l and the store s,
 * opened with `retries` and holding sq-1 as CLAIM left it. */
#define OPEN_CLAIMED(retries, want, ...)                                                           \
    sqclaim_lease l;                                                                               \
    sqclaim_store *s = CLAIM(open_scripted(retries), &l, want, __VA_ARGS__)

START_TEST(retry_ambiguous_claim_with_same_token)
{
    OPEN_CLAIMED(2, SQCLAIM_OK, {.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true},
                 {.rc = SQCLAIM_OK, .reclaimed = true});
    ck_assert_int_eq(calls, 2);
    ck_assert_str_eq(seen_tokens[0], seen_tokens[1]);
    ck_assert_str_eq(seen_tokens[0], l.token);
    ck_assert(l.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert(sqclaim_may_act(s, &l));
    sqclaim_stats st;
    sqclaim_stats_get(s, &st);
    ck_assert_uint_eq(st.operations, 1);
    ck_assert_uint_eq(st.retries, 1);
    sqclaim_close(s);
}
END_TEST

START_TEST(ambiguous_claim_exhausted_is_uncertain)
{
    OPEN_CLAIMED(1, SQCLAIM_EIO, {.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true},
                 {.rc = SQCLAIM_EIO, .transient = true});
    ck_assert(l.flags & SQCLAIM_LEASE_UNCERTAIN);
    ck_assert_str_eq(l.sq, "sq-1");
    ck_assert_str_eq(l.token, seen_tokens[0]);
    ck_assert(!sqclaim_may_act(s, &l));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have been granted"));
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), "sqclaim_"));
    /* The retry resolves it with the same token. */
    PLAN({.rc = SQCLAIM_OK, .reclaimed = true});
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(seen_tokens[0], l.token);
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    ck_assert(sqclaim_may_act(s, &l));
    sqclaim_close(s);
}
END_TEST

START_TEST(reclaimed_grant_deadline_from_store_ttl)
{
    /* A lease rebuilt from JSON knows no send time: a reclaimed grant must
     * not get a full TTL from now, only what the store says is left. */
    sqclaim_store *s = open_scripted(0);
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_lease_from_json("{\"sq\":\"sq-1\",\"bot\":\"BOT1\",\"token\":"
                                             "\"00112233445566778899aabbccddeeff\",\"ttlMs\":"
                                             "60000}",
                                             &l, NULL, 0),
                     SQCLAIM_OK);
    PLAN({.rc = SQCLAIM_OK, .reclaimed = true, .left = 5000});
    int64_t before = sqclaim_now_ns(s);
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert(l.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert_int_le(l.deadline_ns, sqclaim_now_ns(s) + 5000 * 1000000LL);
    ck_assert_int_ge(l.deadline_ns, before + (5000 - 602) * 1000000LL);
    /* A fresh grant on retry gets a fresh deadline and loses RECLAIMED. */
    PLAN({.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert(!(l.flags & SQCLAIM_LEASE_RECLAIMED));
    ck_assert_int_gt(sqclaim_lease_remaining_ms(s, &l), 50000);
    /* A rebuilt lease without ttlMs retries with the default TTL. */
    ck_assert_int_eq(sqclaim_lease_from_json("{\"sq\":\"sq-1\",\"bot\":\"BOT1\",\"token\":"
                                             "\"00112233445566778899aabbccddeeff\"}",
                                             &l, NULL, 0),
                     SQCLAIM_OK);
    PLAN({.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_claim_retry(s, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(l.ttl_ms, SQCLAIM_DEFAULT_TTL_MS);
    sqclaim_close(s);
}
END_TEST

START_TEST(uncertain_multi_candidate_message)
{
    sqclaim_store *s = open_scripted(-1);
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true});
    const char *list[] = {"sq-a", "sq-b"};
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim_first(s, list, 2, "BOT1", 60000, &l, NULL), SQCLAIM_ETIMEOUT);
    ck_assert(l.flags & SQCLAIM_LEASE_UNCERTAIN);
    ck_assert_str_eq(l.sq, ""); /* which one is not known */
    ck_assert_ptr_nonnull(
        strstr(sqclaim_errmsg(s), "one of the 2 candidates may have been granted"));
    /* The message states the fact; what to do is the flag's and the
     * header's, not advice for one language's API. */
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), "sqclaim_"));
    /* Abandon releases the token on each candidate. */
    PLAN({.rc = SQCLAIM_LOST}, {.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_abandon(s, list, 2, &l), SQCLAIM_OK);
    ck_assert_int_eq(calls, 2);
    ck_assert_str_eq(seen_tokens[0], l.token);
    ck_assert_str_eq(seen_tokens[1], l.token);
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    sqclaim_close(s);
}
END_TEST

START_TEST(non_transient_failure_not_retried)
{
    OPEN_CLAIMED(3, SQCLAIM_EAUTH, {.rc = SQCLAIM_EAUTH});
    ck_assert_int_eq(calls, 1);
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    ck_assert_str_eq(sqclaim_errmsg(s), "claim: scripted failure 1");
    ck_assert_int_eq(sqclaim_errcode(s), SQCLAIM_EAUTH);
    sqclaim_close(s);
}
END_TEST

START_TEST(transient_failures_retried_then_give_up)
{
    OPEN_CLAIMED(2, SQCLAIM_EIO, {.rc = SQCLAIM_EIO, .transient = true},
                 {.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_EIO, .transient = true});
    ck_assert_int_eq(calls, 3);
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN)); /* never sent: not uncertain */
    sqclaim_close(s);
    /* Retries disabled. */
    s = CLAIM(open_scripted(-1), &l, SQCLAIM_EIO, {.rc = SQCLAIM_EIO, .transient = true});
    ck_assert_int_eq(calls, 1);
    sqclaim_close(s);
}
END_TEST

START_TEST(release_after_ambiguous_converges)
{
    /* The first attempt's reply is lost; the retry finds the claim gone
     * while the lease's deadline has not passed: the claim cannot have
     * expired, so the lost attempt released it.  OK, not LOST. */
    OPEN_CLAIMED(2, SQCLAIM_OK, {.rc = SQCLAIM_OK});
    sqclaim_lease copy = l;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    ck_assert_int_eq(calls, 2);
    ck_assert_str_eq(sqclaim_errmsg(s), "");
    ck_assert(!sqclaim_may_act(s, &l));
    /* A plain LOST (no lost reply) stays LOST and says nothing of the kind. */
    l = copy;
    PLAN({.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_LOST);
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), "may have"));
    /* Without a known deadline (a lease rebuilt from JSON) nothing is
     * proven: LOST, saying what may have happened. */
    l = copy;
    l.deadline_ns = 0;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have released it"));
    /* An uncertain lease proves nothing either (its claim may never have
     * landed). */
    l = copy;
    l.flags |= SQCLAIM_LEASE_UNCERTAIN;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_LOST);
    /* A transient failure that was surely not applied proves nothing. */
    l = copy;
    PLAN({.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_LOST);
    /* finish: the backend answers OK for "ours, no reservation" (the
     * retry of a finish that landed); LOST only when the claim is not
     * ours, and then the message mentions the lost reply. */
    l = copy;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_finish_rows(s, &l), SQCLAIM_OK);
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_finish_rows(s, &l), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "is lost"));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have finished it"));
    sqclaim_close(s);
}
END_TEST

START_TEST(release_converges_only_before_the_deadline)
{
    /* The answer that finds the claim gone must arrive before the local
     * deadline: each call here takes 400 ms on the store's clock, the
     * lease has 1000 ms (deadline after 988 ms). */
    sqclaim_store *s = open_scripted_clock(3, 400);
    PLAN({.rc = SQCLAIM_OK});
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 1000, &l, NULL), SQCLAIM_OK);
    sqclaim_lease copy = l;
    /* Answer at +400+400 = 800 ms < 988 ms: proven. */
    l = copy;
    fake_now = l.sent_ns;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    /* Answer at 1200 ms: the claim may have expired meanwhile: LOST. */
    l = copy;
    fake_now = l.sent_ns;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true},
         {.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have released it"));
    sqclaim_close(s);
}
END_TEST

START_TEST(deadline_starts_before_the_send)
{
    /* The store's clock moves 300 ms while each request is out: the
     * deadline counts from before the send, never from the answer. */
    sqclaim_store *s = open_scripted_clock(2, 300);
    int64_t t0 = fake_now;
    PLAN({.rc = SQCLAIM_OK});
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 10000, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(l.sent_ns, t0);
    ck_assert_int_eq(l.deadline_ns, t0 + (10000 - 102) * 1000000LL);
    ck_assert_int_eq(sqclaim_lease_remaining_ms(s, &l), 10000 - 102 - 300);
    /* After a retry (first reply lost), still from before the FIRST send. */
    t0 = fake_now;
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true}, {.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_claim(s, "sq-2", "BOT1", 10000, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(l.deadline_ns, t0 + (10000 - 102) * 1000000LL);
    /* Renewals too. */
    t0 = fake_now;
    PLAN({.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_renew(s, &l, 20000), SQCLAIM_OK);
    ck_assert_int_eq(l.sent_ns, t0);
    ck_assert_int_eq(l.deadline_ns, t0 + (20000 - 202) * 1000000LL);
    sqclaim_close(s);
}
END_TEST

START_TEST(errmsg_reset_after_success)
{
    OPEN_CLAIMED(0, SQCLAIM_EAUTH, {.rc = SQCLAIM_EAUTH});
    ck_assert_str_ne(sqclaim_errmsg(s), "");
    ck_assert_int_eq(sqclaim_errcode(s), SQCLAIM_EAUTH);
    CLAIM(s, &l, SQCLAIM_OK, {.rc = SQCLAIM_OK});
    ck_assert_str_eq(sqclaim_errmsg(s), "");
    ck_assert_int_eq(sqclaim_errcode(s), SQCLAIM_OK);
    char buf[16] = "x";
    ck_assert_int_eq(sqclaim_errmsg_copy(s, buf, sizeof buf), SQCLAIM_OK);
    ck_assert_str_eq(buf, "");
    /* BUSY and LOST answers set it; the next OK clears it again. */
    PLAN({.rc = SQCLAIM_BUSY});
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT2", 60000, &l, NULL), SQCLAIM_BUSY);
    ck_assert_int_eq(sqclaim_errcode(s), SQCLAIM_BUSY);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "held"));
    PLAN({.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_errmsg(s), "");
    /* Validation failures set it too, and are cleared the same way. */
    ck_assert_int_eq(sqclaim_claim(s, "bad id", "BOT1", 0, &l, NULL), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "invalid SQ id"));
    PLAN({.rc = SQCLAIM_OK});
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    sqclaim_status_free(st);
    ck_assert_str_eq(sqclaim_errmsg(s), "");
    sqclaim_close(s);
}
END_TEST

START_TEST(retries_from_environment)
{
    setenv("SQCLAIM_RETRIES", "5", 1);
    sqclaim_store *s = open_scripted(0);
    PLAN({.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_EIO, .transient = true},
         {.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_EIO, .transient = true},
         {.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_OK});
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 0, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(calls, 6);
    sqclaim_close(s);
    /* 0 in the variable is no retries at all. */
    setenv("SQCLAIM_RETRIES", "0", 1);
    s = open_scripted(0);
    PLAN({.rc = SQCLAIM_EIO, .transient = true});
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 0, &l, NULL), SQCLAIM_EIO);
    ck_assert_int_eq(calls, 1);
    sqclaim_close(s);
    /* The option wins over the variable. */
    s = open_scripted(1);
    PLAN({.rc = SQCLAIM_EIO, .transient = true}, {.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 0, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(calls, 2);
    sqclaim_close(s);
    const char *bad[] = {"11", "-2", "two", "3x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("SQCLAIM_RETRIES", bad[i], 1);
        sqclaim_options o;
        sqclaim_options_init(&o);
        s = NULL;
        sqclaim_rc rc = sqclaim_open_backend(&scripted, &o, &s);
        if (bad[i][0]) { /* "" counts as unset */
            ck_assert_msg(rc == SQCLAIM_ECONFIG, "SQCLAIM_RETRIES=%s: %s", bad[i],
                          sqclaim_rcname(rc));
            ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "SQCLAIM_RETRIES"));
        } else {
            ck_assert_int_eq(rc, SQCLAIM_OK);
        }
        sqclaim_close(s);
    }
    unsetenv("SQCLAIM_RETRIES");
}
END_TEST

START_TEST(operator_tools_unsupported_without_members)
{
    /* A backend without the version-2 members: EUNSUPPORTED, nothing sent. */
    sqclaim_store *s = open_scripted(0);
    PLAN({.rc = SQCLAIM_OK});
    sqclaim_entry e;
    ck_assert_int_eq(sqclaim_inspect(s, "sq-1", &e), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "does not support"));
    unsigned removed = 9;
    ck_assert_int_eq(sqclaim_break(s, "sq-1", NULL, 0, &removed), SQCLAIM_EUNSUPPORTED);
    ck_assert_uint_eq(removed, 0);
    sqclaim_counters c;
    ck_assert_int_eq(sqclaim_counters_get(s, &c), SQCLAIM_EUNSUPPORTED);
    uint64_t cur = 9;
    ck_assert_int_eq(sqclaim_raise_cursor(s, 5, &cur), SQCLAIM_EUNSUPPORTED);
    ck_assert_int_eq(calls, 0);
    /* Bad arguments first. */
    ck_assert_int_eq(sqclaim_break(s, "a b", NULL, 0, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_break(s, "sq-1", NULL, 0x80, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_raise_cursor(s, 0, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_raise_cursor(s, 1000000000000000ULL, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_inspect(s, "sq-1", NULL), SQCLAIM_EINVAL);
    memset(&e, 0, sizeof e);
    strcpy(e.sq, "other");
    ck_assert_int_eq(sqclaim_break(s, "sq-1", &e, 0, NULL), SQCLAIM_EINVAL);
    sqclaim_close(s);
}
END_TEST

START_TEST(ambiguous_shorter_renewal_moves_deadline_earlier)
{
    OPEN_CLAIMED(1, SQCLAIM_OK, {.rc = SQCLAIM_OK});
    int64_t before = sqclaim_now_ns(s);
    PLAN({.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true},
         {.rc = SQCLAIM_ETIMEOUT, .maybe_applied = true});
    ck_assert_int_eq(sqclaim_renew(s, &l, 1000), SQCLAIM_ETIMEOUT);
    /* The 1 s renewal may have landed: act no longer than that allows. */
    ck_assert_int_le(l.deadline_ns, sqclaim_now_ns(s) + 1000 * 1000000LL);
    ck_assert_int_ge(l.deadline_ns, before + (1000 - 12) * 1000000LL);
    /* A failure that surely did not apply leaves the deadline alone. */
    int64_t kept = l.deadline_ns;
    PLAN({.rc = SQCLAIM_EAUTH});
    ck_assert_int_eq(sqclaim_renew(s, &l, 10), SQCLAIM_EAUTH);
    ck_assert_int_eq(l.deadline_ns, kept);
    /* LOST clears it. */
    PLAN({.rc = SQCLAIM_LOST});
    ck_assert_int_eq(sqclaim_renew(s, &l, 0), SQCLAIM_LOST);
    ck_assert(!sqclaim_may_act(s, &l));
    sqclaim_close(s);
}
END_TEST

START_TEST(errmsg_copy_is_atomic_snapshot)
{
    OPEN_CLAIMED(0, SQCLAIM_EAUTH, {.rc = SQCLAIM_EAUTH});
    char buf[10];
    ck_assert_int_eq(sqclaim_errmsg_copy(s, buf, sizeof buf), SQCLAIM_EAUTH);
    ck_assert_str_eq(buf, "claim: sc"); /* truncated, terminated */
    char big[32];
    ck_assert_int_eq(sqclaim_errmsg_copy(NULL, big, sizeof big), SQCLAIM_ENOMEM);
    ck_assert_str_eq(big, "out of memory");
    sqclaim_close(s);
}
END_TEST

START_TEST(busy_and_bad_backend_answers)
{
    sqclaim_store *s = open_scripted(0);
    PLAN({.rc = SQCLAIM_BUSY});
    sqclaim_lease l;
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 60000, &l, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT9");
    ck_assert_str_eq(h.sq, "sq-1");
    ck_assert_str_eq(sqclaim_errmsg(s), "SQ sq-1 is held by bot \"BOT9\" for another 1234 ms");
    /* An index outside the candidates is a protocol error, not a grant. */
    CLAIM(s, &l, SQCLAIM_EPROTOCOL, {.rc = SQCLAIM_OK, .index = 5});
    /* LOST to a claim, BUSY to a renewal: protocol errors. */
    CLAIM(s, &l, SQCLAIM_EPROTOCOL, {.rc = SQCLAIM_LOST});
    CLAIM(s, &l, SQCLAIM_OK, {.rc = SQCLAIM_OK});
    PLAN({.rc = SQCLAIM_BUSY});
    ck_assert_int_eq(sqclaim_renew(s, &l, 0), SQCLAIM_EPROTOCOL);
    /* Rows before the hint are refused as a protocol error. */
    sqclaim_rows rows;
    PLAN({.rc = SQCLAIM_OK});
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l, 3, 100, &rows), SQCLAIM_EPROTOCOL);
    ck_assert_uint_eq(rows.count, 0);
    sqclaim_close(s);
}
END_TEST

START_TEST(status_sorted_and_stamped)
{
    sqclaim_store *s = open_scripted(0);
    PLAN({.rc = SQCLAIM_OK});
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 2);
    ck_assert_str_eq(st->claims[0].sq, "aa");
    ck_assert_str_eq(st->claims[1].sq, "zz");
    ck_assert_uint_eq(strlen(st->timestamp), SQCLAIM_TIMESTAMP_LEN);
    sqclaim_status_free(st);
    sqclaim_status_free(NULL);
    PLAN({.rc = SQCLAIM_EIO});
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_EIO);
    ck_assert_ptr_null(st);
    sqclaim_close(s);
}
END_TEST

START_TEST(clock_without_function_rejected)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    sqclaim_clock broken = {NULL, NULL};
    o.clock = &broken;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open_backend(&scripted, &o, &s), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "now_ns is NULL"));
    sqclaim_close(s);
}
END_TEST

static int64_t fixed_clock(void *ctx) { return *(int64_t *)ctx; }

/* Options on an injected clock that reads *now: the test moves it by hand. */
static sqclaim_options options_on_clock(sqclaim_clock *clock, int64_t *now)
{
    *clock = (sqclaim_clock){fixed_clock, now};
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.clock = clock;
    return o;
}

START_TEST(injected_clock_drives_deadlines)
{
    static int64_t now = 1000000000;
    sqclaim_clock clock;
    sqclaim_options o = options_on_clock(&clock, &now);
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open_backend(&scripted, &o, &s), SQCLAIM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "injected clock"));
    sqclaim_close(s);
    o.adapter = "memory";
    o.memory_space = "unit-clock";
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 1000, &l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(l.deadline_ns, now + (1000 - 12) * 1000000LL);
    ck_assert_int_eq(sqclaim_lease_remaining_ms(s, &l), 988);
    now += 987 * 1000000LL;
    ck_assert(sqclaim_may_act(s, &l));
    now += 1000000LL;
    ck_assert(!sqclaim_may_act(s, &l));
    ck_assert_int_eq(sqclaim_lease_remaining_ms(s, &l), 0);
    /* Another handle on the same space must share the clock. */
    sqclaim_options o2 = o;
    o2.clock = NULL;
    sqclaim_store *s2 = NULL;
    ck_assert_int_eq(sqclaim_open(&o2, &s2), SQCLAIM_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s2), "another clock"));
    sqclaim_close(s2);
    sqclaim_close(s);
}
END_TEST

START_TEST(memory_space_names_and_counters)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "memory";
    char name[200];
    memset(name, 'n', 128);
    name[128] = '\0';
    o.memory_space = name;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_EINVAL); /* not silently private */
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "at most 127"));
    sqclaim_close(s);
    name[127] = '\0';
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    sqclaim_store *s2 = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s2), SQCLAIM_OK);
    sqclaim_lease l1, l2;
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 60000, &l1, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s2, "sq-1", "BOT3", 60000, &l2, NULL), SQCLAIM_BUSY);
    sqclaim_rows r1, r2;
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l1, 5, 0, &r1), SQCLAIM_OK);
    sqclaim_close(s2);
    sqclaim_close(s);
    /* The last handle closed: claims are gone, counters carry on. */
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s, "sq-1", "BOT1", 60000, &l2, NULL), SQCLAIM_OK);
    ck_assert_uint_gt(l2.fence, l1.fence);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l2, 5, 0, &r2), SQCLAIM_OK);
    ck_assert_uint_ge(r2.start_row, r1.start_row + r1.count);
    sqclaim_close(s);
}
END_TEST

START_TEST(memory_sweeps_expired_entries)
{
    /* Unique SQs that expire and are never touched again do not pile up:
     * after many more, status still works and only live ones remain. */
    static int64_t now = 1000000000;
    sqclaim_clock clock;
    sqclaim_options o = options_on_clock(&clock, &now);
    o.adapter = "memory";
    o.memory_space = "unit-sweep";
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    for (int i = 0; i < 5000; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "sq-%d", i);
        sqclaim_lease l;
        ck_assert_int_eq(sqclaim_claim(s, sq, "BOT1", 10, &l, NULL), SQCLAIM_OK);
        now += 20 * 1000000LL; /* each expires before the next */
    }
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "live", "BOT1", 60000, &l, NULL), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_str_eq(st->claims[0].sq, "live");
    sqclaim_status_free(st);
    sqclaim_close(s);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCASE_ADD(s, ((tcase_spec){.name = "validation"}), check_sq_rules, check_bot_rules,
              parse_durations);
    TCASE_ADD(s, ((tcase_spec){.name = "helpers"}), json_quote_escapes, timestamps_iso_ms,
              result_codes);
    TCASE_ADD(s, ((tcase_spec){.name = "json"}), status_json_rendering, error_json_seed_text,
              status_json_flagged_entries, raw_preview_rules, lease_json_round_trip,
              lease_json_rejects_garbage);
    TCASE_ADD(s, ((tcase_spec){.name = "open"}), open_unknown_backend_lists_available,
              open_from_environment, backend_and_its_old_names, open_rejects_bad_options,
              clock_without_function_rejected, injected_clock_drives_deadlines,
              memory_space_names_and_counters, memory_sweeps_expired_entries);
    TCASE_ADD(s, ((tcase_spec){.name = "retries"}), retry_ambiguous_claim_with_same_token,
              ambiguous_claim_exhausted_is_uncertain, non_transient_failure_not_retried,
              reclaimed_grant_deadline_from_store_ttl, uncertain_multi_candidate_message,
              transient_failures_retried_then_give_up, release_after_ambiguous_converges,
              release_converges_only_before_the_deadline, deadline_starts_before_the_send,
              errmsg_reset_after_success, retries_from_environment,
              operator_tools_unsupported_without_members,
              ambiguous_shorter_renewal_moves_deadline_earlier, errmsg_copy_is_atomic_snapshot,
              busy_and_bad_backend_answers, status_sorted_and_stamped);
    return s;
}

int main(void) { return run_suite(core_suite()); }
