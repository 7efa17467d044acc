/* test_layout.c — what the redis backend stores and how many requests it
 * costs, read back raw with hiredis from a real redis-server; foreign
 * values; configuration, AUTH, SELECT and unix sockets. */
#include "rtest.h"
#include "tcase.h"

#include "../../adapters/redisproto/proto.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static void claim_ok(sqclaim_store *s, const char *sq, const char *bot, int64_t ttl,
                     sqclaim_lease *l)
{
    sqclaim_rc rc = sqclaim_claim(s, sq, bot, ttl, l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "claim %s: %s (%s)", sq, sqclaim_rcname(rc), sqclaim_errmsg(s));
}

/* A handle on rt_srv holding sq for bot (asserted). */
static sqclaim_store *open_claimed(const char *sq, const char *bot, int64_t ttl, sqclaim_lease *l)
{
    sqclaim_store *s = rt_open();
    claim_ok(s, sq, bot, ttl, l);
    return s;
}

/* Reserve count rows at hint; asserts OK and that they start at start. */
static sqclaim_rows reserve_ok(sqclaim_store *s, const sqclaim_lease *l, uint32_t count,
                               uint64_t hint, uint64_t start)
{
    sqclaim_rows rows;
    sqclaim_rc rc = sqclaim_reserve_rows(s, l, count, hint, &rows);
    ck_assert_msg(rc == SQCLAIM_OK, "reserve %u at %llu: %s (%s)", (unsigned)count,
                  (unsigned long long)hint, sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_uint_eq(rows.start_row, start);
    return rows;
}

static bool is_timestamp(const char *s, size_t len)
{
    /* 2025-10-26T12:34:56.789Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != sizeof shape - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

/* Check that value == head + <timestamp> + tail, exactly. */
static void expect_value(const char *value, const char *head, const char *tail)
{
    ck_assert_msg(value != NULL, "value missing");
    size_t hl = strlen(head), tl = strlen(tail), vl = strlen(value);
    ck_assert_msg(vl == hl + 24 + tl && strncmp(value, head, hl) == 0 &&
                      is_timestamp(value + hl, 24) && strcmp(value + hl + 24, tail) == 0,
                  "stored value\n  %s\ndoes not have the layout\n  %s<timestamp>%s", value, head,
                  tail);
}

static void expect_keys(const char *const *want, size_t nwant)
{
    size_t n;
    char **keys = rt_keys(&n);
    char msg[2048] = "";
    for (size_t i = 0; i < n; i++) {
        strncat(msg, keys[i], sizeof msg - strlen(msg) - 1);
        strncat(msg, " ", sizeof msg - strlen(msg) - 1);
    }
    ck_assert_msg(n == nwant, "keys under the prefix: %s(want %zu)", msg, nwant);
    for (size_t i = 0; i < nwant; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s%s", rt_prefix, want[i]);
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found = found || strcmp(keys[k], full) == 0;
        ck_assert_msg(found, "key %s missing; have: %s", full, msg);
    }
    rt_free_keys(keys, n);
}
/* The keys under rt_prefix are exactly the suffixes listed (any order). */
#define EXPECT_KEYS(...)                                                                           \
    expect_keys((const char *const[]){__VA_ARGS__},                                                \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static sqclaim_status *status_ok(sqclaim_store *s)
{
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    ck_assert_msg(rc == SQCLAIM_OK, "status: %s", sqclaim_errmsg(s));
    return st;
}

static const sqclaim_claim_info *find_claim(const sqclaim_status *st, const char *sq)
{
    for (size_t i = 0; i < st->nclaims; i++)
        if (strcmp(st->claims[i].sq, sq) == 0)
            return &st->claims[i];
    ck_abort_msg("status does not show %s", sq);
    return &st->claims[0];
}

static long long scan_count(const char *pattern_suffix)
{
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r =
            rt_cmd(rt_raw, "SCAN %s MATCH %s%s COUNT 500", cursor, rt_prefix, pattern_suffix);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* ------------------------------------------------------------------ */
/* Keys and values                                                      */

START_TEST(test_claim_layout)
{
    sqclaim_lease l;
    open_claimed("251019-164rmb", "BOT1", 60000, &l);
    char *v = rt_get("sq:251019-164rmb");
    char head[128], tail[128];
    snprintf(head, sizeof head, "{\"botId\":\"BOT1\",\"timestamp\":\"");
    snprintf(tail, sizeof tail, "\",\"status\":\"CLAIMING\",\"token\":\"%s\",\"fence\":%llu}",
             l.token, (unsigned long long)l.fence);
    expect_value(v, head, tail);
    free(v);
    long long pttl = rt_pttl("sq:251019-164rmb");
    /* PX = the TTL (a wide window: a loaded CI machine can stall seconds). */
    ck_assert_msg(pttl > 50000 && pttl <= 60000, "PTTL %lld, want close to 60000", pttl);

    /* The fence counter: the fence handed out, and no expiry. */
    char *fence = rt_get("sqclaim:fence");
    ck_assert_ptr_nonnull(fence);
    ck_assert_uint_eq(strtoull(fence, NULL, 10), l.fence);
    free(fence);
    ck_assert_int_eq(rt_pttl("sqclaim:fence"), -1);
    EXPECT_KEYS("sq:251019-164rmb", "sqclaim:fence");
}
END_TEST

START_TEST(test_reservation_layout)
{
    sqclaim_lease l;
    sqclaim_store *s = open_claimed("SQ-R", "BOT1", 60000, &l);
    sqclaim_rows rows = reserve_ok(s, &l, 5, 51, 51);
    ck_assert_uint_eq(rows.count, 5);
    ck_assert_uint_eq(rows.fence, l.fence);

    char *v = rt_get("refund:SQ-R");
    char head[128], tail[160];
    snprintf(head, sizeof head,
             "{\"botId\":\"BOT1\",\"startRow\":51,\"rowCount\":5,\"status\":\"WRITING\","
             "\"timestamp\":\"");
    snprintf(tail, sizeof tail, "\",\"token\":\"%s\",\"fence\":%llu}", l.token,
             (unsigned long long)l.fence);
    expect_value(v, head, tail);
    free(v);
    /* Expires with the claim. */
    long long claim_pttl = rt_pttl("sq:SQ-R"), refund_pttl = rt_pttl("refund:SQ-R");
    ck_assert_msg(refund_pttl > 0 && refund_pttl <= claim_pttl + 5 &&
                      refund_pttl >= claim_pttl - 1000,
                  "refund PTTL %lld vs claim PTTL %lld", refund_pttl, claim_pttl);
    /* The row cursor: next free row, no expiry. */
    char *cur = rt_get("sqclaim:rowcursor");
    ck_assert_str_eq(cur, "56");
    free(cur);
    ck_assert_int_eq(rt_pttl("sqclaim:rowcursor"), -1);
    EXPECT_KEYS("sq:SQ-R", "refund:SQ-R", "sqclaim:fence", "sqclaim:rowcursor");
    /* Helper keys match neither sq:* nor refund:*. */
    ck_assert_int_eq(scan_count("sq:*"), 1);
    ck_assert_int_eq(scan_count("refund:*"), 1);

    /* A second reservation (other SQ) starts after the first. */
    sqclaim_lease l2;
    claim_ok(s, "SQ-R2", "BOT2", 60000, &l2);
    reserve_ok(s, &l2, 3, 1, 56);
    cur = rt_get("sqclaim:rowcursor");
    ck_assert_str_eq(cur, "59");
    free(cur);

    /* Release removes the claim and our reservation, never the helpers. */
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(s, &l2), SQCLAIM_OK);
    EXPECT_KEYS("sqclaim:fence", "sqclaim:rowcursor");
}
END_TEST

START_TEST(test_renew_extends_claim_and_reservation)
{
    sqclaim_lease l;
    sqclaim_store *s = open_claimed("SQ-N", "BOT1", 5000, &l);
    reserve_ok(s, &l, 2, 0, 1);
    ck_assert_int_le(rt_pttl("refund:SQ-N"), 5000);
    ck_assert_int_eq(sqclaim_renew(s, &l, 120000), SQCLAIM_OK);
    ck_assert_int_gt(rt_pttl("sq:SQ-N"), 110000);
    ck_assert_int_gt(rt_pttl("refund:SQ-N"), 110000);
    /* The value is unchanged by a renewal (same token, same fence). */
    char *v = rt_get("sq:SQ-N");
    char tail[128];
    snprintf(tail, sizeof tail, "\"token\":\"%s\",\"fence\":%llu}", l.token,
             (unsigned long long)l.fence);
    ck_assert_ptr_nonnull(strstr(v, tail));
    free(v);
    /* Finish removes only the reservation. */
    ck_assert_int_eq(sqclaim_finish_rows(s, &l), SQCLAIM_OK);
    EXPECT_KEYS("sq:SQ-N", "sqclaim:fence", "sqclaim:rowcursor");
}
END_TEST

START_TEST(test_bot_id_escaped_once)
{
    sqclaim_store *s = rt_open();
    const char *bots[] = {"BOT1\",\"token\":\"x", "a\\b\"c", "B\xc3\xb8t \xe2\x9c\x93 {}[]:,"};
    for (size_t i = 0; i < 3; i++) {
        char sq[16];
        snprintf(sq, sizeof sq, "SQ-E%zu", i);
        sqclaim_lease l;
        claim_ok(s, sq, bots[i], 60000, &l);
        char key[32];
        snprintf(key, sizeof key, "sq:%s", sq);
        char *v = rt_get(key);
        cJSON *j = cJSON_Parse(v);
        ck_assert_msg(j != NULL, "stored value is not JSON: %s", v);
        ck_assert_int_eq(cJSON_GetArraySize(j), 5);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "botId")->valuestring, bots[i]);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "token")->valuestring, l.token);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring, "CLAIMING");
        cJSON_Delete(j);
        free(v);
        /* The holder seen by a competitor is the bot id, unescaped. */
        sqclaim_lease l2;
        sqclaim_holder h;
        ck_assert_int_eq(sqclaim_claim(s, sq, "BOT2", 0, &l2, &h), SQCLAIM_BUSY);
        ck_assert_str_eq(h.bot, bots[i]);
        /* The owner check still works on the escaped value. */
        sqclaim_rows rows;
        ck_assert_int_eq(sqclaim_reserve_rows(s, &l, 1, 0, &rows), SQCLAIM_OK);
        snprintf(key, sizeof key, "refund:%s", sq);
        v = rt_get(key);
        j = cJSON_Parse(v);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(cJSON_GetArraySize(j), 7);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "botId")->valuestring, bots[i]);
        cJSON_Delete(j);
        free(v);
    }
    sqclaim_status *st = status_ok(s);
    ck_assert_uint_eq(st->nclaims, 3);
    ck_assert_uint_eq(st->nreservations, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(st->claims[i].bot, bots[i]);
        ck_assert_str_eq(st->reservations[i].bot, bots[i]);
    }
    sqclaim_status_free(st);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Values written by other tools                                        */

START_TEST(test_foreign_seed_value_is_held)
{
    sqclaim_store *s = rt_open();
    redisReply *r = rt_cmd(rt_raw, "SET %ssq:SQ-F %s PX 600000", rt_prefix,
                           "{\"botId\":\"BOT9\",\"timestamp\":\"2025-10-26T12:34:56.789Z\","
                           "\"status\":\"CLAIMING\"}");
    freeReplyObject(r);
    r = rt_cmd(rt_raw, "SET %srefund:SQ-F %s PX 600000", rt_prefix,
               "{\"botId\":\"BOT9\",\"startRow\":51,\"rowCount\":5,\"status\":\"WRITING\","
               "\"timestamp\":\"2025-10-26T12:34:57.000Z\"}");
    freeReplyObject(r);

    sqclaim_lease l;
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(s, "SQ-F", "BOT1", 0, &l, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT9");
    ck_assert_msg(h.remaining_ms > 590000 && h.remaining_ms <= 600000, "remaining %lld",
                  (long long)h.remaining_ms);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "BOT9"));

    /* claim-first passes over it. */
    const char *cands[] = {"SQ-F", "SQ-G"};
    ck_assert_int_eq(sqclaim_claim_first(s, cands, 2, "BOT1", 0, &l, &h), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "SQ-G");

    /* Our owner-checked operations never touch it. */
    sqclaim_lease forged = l;
    snprintf(forged.sq, sizeof forged.sq, "SQ-F");
    ck_assert_int_eq(sqclaim_renew(s, &forged, 1000), SQCLAIM_LOST);
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(s, &forged, 1, 0, &rows), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_finish_rows(s, &forged), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_release(s, &forged), SQCLAIM_LOST);
    ck_assert_int_gt(rt_pttl("sq:SQ-F"), 590000);
    ck_assert_int_gt(rt_pttl("refund:SQ-F"), 590000);

    /* Status shows the foreign entries, fence 0. */
    sqclaim_status *st = status_ok(s);
    const sqclaim_claim_info *ci = find_claim(st, "SQ-F");
    ck_assert_ptr_nonnull(ci);
    ck_assert_str_eq(ci->bot, "BOT9");
    ck_assert_str_eq(ci->timestamp, "2025-10-26T12:34:56.789Z");
    ck_assert_str_eq(ci->status, "CLAIMING");
    ck_assert_uint_eq(ci->fence, 0);
    ck_assert_int_gt(ci->ttl_ms, 590000);
    ck_assert_uint_eq(st->nreservations, 1);
    ck_assert_str_eq(st->reservations[0].sq, "SQ-F");
    ck_assert_str_eq(st->reservations[0].bot, "BOT9");
    ck_assert_uint_eq(st->reservations[0].start_row, 51);
    ck_assert_uint_eq(st->reservations[0].row_count, 5);
    ck_assert_uint_eq(st->reservations[0].fence, 0);
    ck_assert_ptr_nonnull(find_claim(st, "SQ-G"));
    char *json = sqclaim_status_json(st, 0);
    ck_assert_ptr_nonnull(strstr(json, "\"SQ-F\":{\"botId\":\"BOT9\""));
    ck_assert_ptr_null(strstr(json, l.token));
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(test_non_json_values_are_held_and_shown)
{
    sqclaim_store *s = rt_open();
    freeReplyObject(rt_cmd(rt_raw, "SET %ssq:SQ-T hello PX 600000", rt_prefix));
    freeReplyObject(rt_cmd(rt_raw, "SET %ssq:SQ-A [1,2,3] PX 600000", rt_prefix));
    freeReplyObject(rt_cmd(rt_raw, "SET %ssq:SQ-N {\"botId\":7} PX 600000", rt_prefix));
    freeReplyObject(rt_cmd(rt_raw, "HSET %ssq:SQ-H botId BOT8", rt_prefix));
    freeReplyObject(rt_cmd(rt_raw, "SET %ssq:SQ-P %s", rt_prefix, "{\"botId\":\"BOT7\"}"));
    freeReplyObject(rt_cmd(rt_raw, "SET %srefund:SQ-T {broken PX 600000", rt_prefix));

    const char *held[] = {"SQ-T", "SQ-A", "SQ-N", "SQ-H", "SQ-P"};
    for (size_t i = 0; i < 5; i++) {
        sqclaim_lease l;
        sqclaim_holder h;
        sqclaim_rc rc = sqclaim_claim(s, held[i], "BOT1", 0, &l, &h);
        ck_assert_msg(rc == SQCLAIM_BUSY, "%s: %s (%s)", held[i], sqclaim_rcname(rc),
                      sqclaim_errmsg(s));
        ck_assert_str_eq(h.bot, strcmp(held[i], "SQ-P") == 0 ? "BOT7" : "");
        /* No expiry on the foreign key: remaining unknown. */
        if (strcmp(held[i], "SQ-H") == 0 || strcmp(held[i], "SQ-P") == 0)
            ck_assert_int_eq(h.remaining_ms, -1);
    }
    /* The hash is still a hash: nothing overwrote it. */
    redisReply *r = rt_cmd(rt_raw, "TYPE %ssq:SQ-H", rt_prefix);
    ck_assert_str_eq(r->str, "hash");
    freeReplyObject(r);

    /* Status shows every one of them: each blocks a claim. */
    uint64_t before = rt_round_trips(s);
    sqclaim_status *st = status_ok(s);
    /* SCANs, the reads, and one TYPE round for the hash. */
    ck_assert_uint_eq(rt_round_trips(s) - before, 3);
    ck_assert_uint_eq(st->nclaims, 5);
    const unsigned fu = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
    const sqclaim_claim_info *ci = find_claim(st, "SQ-A");
    ck_assert_uint_eq(ci->flags, fu);
    ck_assert_str_eq(ci->bot, "?");
    ck_assert_str_eq(ci->type, "string");
    ck_assert_str_eq(ci->raw, "[1,2,3]");
    ci = find_claim(st, "SQ-H");
    ck_assert_uint_eq(ci->flags, fu);
    ck_assert_str_eq(ci->type, "hash");
    ck_assert_str_eq(ci->fingerprint, "type:hash");
    ck_assert_int_eq(ci->ttl_ms, -1);
    ci = find_claim(st, "SQ-N"); /* an object without a string botId */
    ck_assert_uint_eq(ci->flags, SQCLAIM_ENTRY_FOREIGN);
    ck_assert_str_eq(ci->bot, "?");
    ci = find_claim(st, "SQ-P");
    ck_assert_uint_eq(ci->flags, SQCLAIM_ENTRY_FOREIGN);
    ck_assert_str_eq(ci->bot, "BOT7");
    ck_assert_int_eq(ci->ttl_ms, -1);
    ci = find_claim(st, "SQ-T");
    ck_assert_str_eq(ci->raw, "hello");
    ck_assert_int_gt(ci->ttl_ms, 590000);
    /* The fingerprint is the SHA-1 the break script computes. */
    r = rt_cmd(rt_raw, "EVAL %s 1 %ssq:SQ-T", "return redis.sha1hex(redis.call('GET', KEYS[1]))",
               rt_prefix);
    ck_assert_str_eq(ci->fingerprint, r->str);
    freeReplyObject(r);
    ck_assert_uint_eq(st->nreservations, 1);
    ck_assert_str_eq(st->reservations[0].raw, "{broken");
    ck_assert_uint_eq(st->reservations[0].flags, fu);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(test_cursor_garbage_is_an_error_not_a_guess)
{
    sqclaim_lease l;
    sqclaim_store *s = open_claimed("SQ-C", "BOT1", 60000, &l);
    /* Lua's tonumber() reads all of these (inf, 1e300 and 0x10 too); only
     * 1 to 15 decimal digits are a row number (above 2^53 a double cannot
     * tell start from start + count). */
    static const char *const garbage[] = {"twelve", "inf", "1e300", "1e5", "0x10",
                                          "-3",     " 5",  "12.0",  "",    "9999999999999999"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:rowcursor %s", rt_prefix, garbage[i]));
        sqclaim_rows rows;
        sqclaim_rc rc = sqclaim_reserve_rows(s, &l, 3, 0, &rows);
        ck_assert_msg(rc == SQCLAIM_ESERVER, "cursor \"%s\": %s, rows %llu (%s)", garbage[i],
                      sqclaim_rcname(rc), (unsigned long long)rows.start_row, sqclaim_errmsg(s));
        ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "row cursor"));
        ck_assert_ptr_null(rt_get("refund:SQ-C"));
        char *cur = rt_get("sqclaim:rowcursor");
        ck_assert_str_eq(cur, garbage[i]); /* untouched */
        free(cur);
    }
    /* The largest cursor accepted. */
    freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:rowcursor 999999999000000", rt_prefix));
    reserve_ok(s, &l, 3, 0, 999999999000000ULL);
    char *cur = rt_get("sqclaim:rowcursor");
    ck_assert_str_eq(cur, "999999999000003");
    free(cur);
}
END_TEST

/* A fencing counter INCR takes below 1 (someone stored a negative number)
 * must stop the claim before it is written: a claim stored with fence -4
 * would be answered with a reply the client rejects, and stay held by a
 * token nobody knows it has. */
START_TEST(test_fence_counter_garbage_grants_nothing)
{
    sqclaim_store *s = rt_open();
    freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:fence -5", rt_prefix));
    sqclaim_lease l;
    sqclaim_rc rc = sqclaim_claim(s, "SQ-FG", "BOT1", 60000, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_ESERVER, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "fencing counter"));
    ck_assert_ptr_null(rt_get("sq:SQ-FG"));
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    /* Not a number at all: INCR refuses, nothing is written either. */
    freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:fence abc", rt_prefix));
    ck_assert_int_eq(sqclaim_claim(s, "SQ-FG", "BOT1", 60000, &l, NULL), SQCLAIM_ESERVER);
    ck_assert_ptr_null(rt_get("sq:SQ-FG"));
    /* Repaired: claims work again, above the repaired value. */
    freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:fence 41", rt_prefix));
    claim_ok(s, "SQ-FG", "BOT1", 60000, &l);
    ck_assert_uint_eq(l.fence, 42);
}
END_TEST

/* Run the reserve script with redis.call('PTTL', …) answering `pttl`, as
 * the server does for a claim that expires within the current millisecond
 * (0) -- a moment no real-time test can hit reliably.  The script runs
 * unchanged: a local `redis` shadows the global one. */
static redisReply *reserve_with_pttl(const sqclaim_lease *l, const char *pttl)
{
    char *lua = NULL;
    ck_assert_int_gt(asprintf(&lua,
                              "local real = redis\n"
                              "local redis = setmetatable({call = function(cmd, ...)\n"
                              "  if cmd == 'PTTL' then return %s end\n"
                              "  return real.call(cmd, ...)\n"
                              "end}, {__index = real})\n%s",
                              pttl, rp_script_text(3)),
                     0);
    char k1[256], k2[256], k3[256], pattern[256];
    snprintf(k1, sizeof k1, "%ssq:%s", rt_prefix, l->sq);
    snprintf(k2, sizeof k2, "%srefund:%s", rt_prefix, l->sq);
    snprintf(k3, sizeof k3, "%ssqclaim:rowcursor", rt_prefix);
    snprintf(pattern, sizeof pattern, "%srefund:*", rt_prefix);
    redisReply *r = rt_cmd(rt_raw, "EVAL %s 3 %s %s %s %s 3 0 %s %s", lua, k1, k2, k3, l->token,
                           ",\"rowCount\":3,\"status\":\"WRITING\",\"fence\":", pattern);
    free(lua);
    return r;
}

START_TEST(test_reserve_on_expiring_claim_is_lost)
{
    sqclaim_lease l;
    open_claimed("SQ-Z", "BOT1", 60000, &l);
    /* PTTL 0: the claim expires this millisecond.  A reservation written
     * without PX would never expire; with PX 0 the SET fails.  LOST, and
     * nothing written. */
    redisReply *r = reserve_with_pttl(&l, "0");
    ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                      r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0,
                  "reserve with PTTL 0 answered type %d (%zu elements)", r->type, r->elements);
    freeReplyObject(r);
    ck_assert_ptr_null(rt_get("refund:SQ-Z"));
    ck_assert_ptr_null(rt_get("sqclaim:rowcursor"));
    /* The harness itself: with a real remaining time it reserves, with
     * that PX. */
    r = reserve_with_pttl(&l, "55555");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->element[0]->integer, 1);
    freeReplyObject(r);
    long long pttl = rt_pttl("refund:SQ-Z");
    ck_assert_msg(pttl > 45000 && pttl <= 55555, "refund PTTL %lld", pttl);
}
END_TEST

/* The reservation carries the bot of the claim in the store, whatever the
 * lease says (a lease file edited to MALLORY); cjson writes it, so a '/'
 * comes out as "\/" (the same string to every JSON reader). */
START_TEST(test_reservation_bot_from_stored_claim)
{
    sqclaim_lease l;
    sqclaim_store *s = open_claimed("SQ-M", "BOT1", 60000, &l);
    sqclaim_lease edited = l;
    snprintf(edited.bot, sizeof edited.bot, "MALLORY");
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(s, &edited, 2, 0, &rows), SQCLAIM_OK);
    char *v = rt_get("refund:SQ-M");
    static const char head[] = "{\"botId\":\"BOT1\",\"startRow\":";
    ck_assert_msg(strncmp(v, head, sizeof head - 1) == 0, "%s", v);
    ck_assert_ptr_null(strstr(v, "MALLORY"));
    free(v);
    claim_ok(s, "SQ-S", "a/b \xc3\xb8", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l, 2, 0, &rows), SQCLAIM_OK);
    v = rt_get("refund:SQ-S");
    static const char slash[] = "{\"botId\":\"a\\/b \xc3\xb8\",";
    ck_assert_msg(strncmp(v, slash, sizeof slash - 1) == 0, "%s", v);
    cJSON *j = cJSON_Parse(v);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "botId")->valuestring, "a/b \xc3\xb8");
    cJSON_Delete(j);
    free(v);
}
END_TEST

/* Redis keeps a key live AT its expiry instant (expired only when now >
 * when); the memory backend does the same (tests/contract, exact with its
 * injected clock).  Here the instant is caught by polling PTTL and EXISTS
 * in one script (one point in time) until PTTL reads 0. */
START_TEST(test_expiry_instant_key_still_live)
{
    const char *probe_lua = "return {redis.call('PTTL', KEYS[1]), redis.call('EXISTS', KEYS[1])}";
    bool seen = false;
    long long deadline = tsrv_now_ms() + 20000;
    for (int trial = 0; !seen && tsrv_now_ms() < deadline; trial++) {
        freeReplyObject(rt_cmd(rt_raw, "SET %sinstant v PX 3", rt_prefix));
        for (;;) {
            redisReply *r = rt_cmd(rt_raw, "EVAL %s 1 %sinstant", probe_lua, rt_prefix);
            long long pttl = r->element[0]->integer, exists = r->element[1]->integer;
            freeReplyObject(r);
            if (pttl == 0) {
                ck_assert_int_eq(exists, 1); /* at the instant: still there */
                seen = true;
                break;
            }
            if (pttl < 0)
                break; /* missed the millisecond this time */
        }
    }
    ck_assert_msg(seen, "never caught a key at its expiry millisecond");
}
END_TEST

/* Keys under sq:* / refund:* whose id is not a valid SQ id (written by
 * other tools) are left out of status: they could not be named through
 * the API, and the JSON stays valid with one member per SQ. */
START_TEST(test_status_skips_foreign_ids)
{
    sqclaim_lease l;
    sqclaim_store *s = open_claimed("SQ-OK", "BOT1", 60000, &l);
    static const char *const ids[] = {
        "",
        "a b",
        "a:b",
        "-dash",
        ".dot",
        "x*y",
        "caf\xc3\xa9",
        "quote\"d",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    const char *seed = "{\"botId\":\"BOT9\",\"startRow\":1,\"rowCount\":1,\"status\":\"X\"}";
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        freeReplyObject(rt_cmd(rt_raw, "SET %ssq:%s %s PX 60000", rt_prefix, ids[i], seed));
        freeReplyObject(rt_cmd(rt_raw, "SET %srefund:%s %s PX 60000", rt_prefix, ids[i], seed));
    }
    sqclaim_status *st = status_ok(s);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_str_eq(st->claims[0].sq, "SQ-OK");
    ck_assert_uint_eq(st->nreservations, 0);
    char *json = sqclaim_status_json(st, 0);
    cJSON *j = cJSON_Parse(json);
    ck_assert_msg(j != NULL, "status JSON does not parse: %s", json);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "sqClaims")), 1);
    cJSON_Delete(j);
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trips: one request per operation, counted by the client and     */
/* cross-checked with the server's command statistics                    */

typedef struct probe {
    uint64_t rt;
    long long evalsha, eval, inner;
} probe;

/* Every command a script runs (Upstash bills each): rt_inner_calls()
 * counts those of the first version; the scripts now also use KEYS, TIME
 * and TYPE on some paths. */
static long long inner_calls(void)
{
    return rt_inner_calls() + rt_cmdstat("keys") + rt_cmdstat("time") + rt_cmdstat("type");
}

static probe take(sqclaim_store *s)
{
    probe p = {rt_round_trips(s), rt_cmdstat("evalsha"), rt_cmdstat("eval"), inner_calls()};
    return p;
}

/* One round trip, one EVALSHA, no EVAL, and `inner` redis.calls inside. */
static void expect_one(sqclaim_store *s, probe before, long long inner, const char *what)
{
    probe now = take(s);
    ck_assert_msg(now.rt - before.rt == 1, "%s: %llu round trips", what,
                  (unsigned long long)(now.rt - before.rt));
    ck_assert_msg(now.evalsha - before.evalsha == 1, "%s: %lld EVALSHA", what,
                  now.evalsha - before.evalsha);
    ck_assert_msg(now.eval - before.eval == 0, "%s: %lld EVAL", what, now.eval - before.eval);
    ck_assert_msg(now.inner - before.inner == inner,
                  "%s: %lld commands inside the script, want %lld", what, now.inner - before.inner,
                  inner);
}

START_TEST(test_one_round_trip_per_operation)
{
    sqclaim_store *a = rt_open(), *b = rt_open();
    /* Warm up: connect and get every script cached. */
    sqclaim_lease w;
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_ping(a), SQCLAIM_OK);
    claim_ok(a, "warm", "BOT1", 60000, &w);
    ck_assert_int_eq(sqclaim_renew(a, &w, 0), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &w, 1, 0, &rows), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_rows(a, &w), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &w), SQCLAIM_OK);

    sqclaim_lease l, other;
    sqclaim_holder h;
    probe p = take(a);
    claim_ok(a, "SQ-1", "BOT1", 60000, &l);
    expect_one(a, p, 3, "claim (granted)"); /* MGET INCR SET */

    ck_assert_int_eq(sqclaim_ping(b), SQCLAIM_OK);
    p = take(b);
    ck_assert_int_eq(sqclaim_claim(b, "SQ-1", "BOT2", 0, &other, &h), SQCLAIM_BUSY);
    expect_one(b, p, 2, "claim (busy)"); /* MGET PTTL */

    p = take(a);
    sqclaim_lease again = l;
    ck_assert_int_eq(sqclaim_claim_retry(a, NULL, 0, &again, NULL), SQCLAIM_OK);
    ck_assert(again.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert_uint_eq(again.fence, l.fence);
    expect_one(a, p, 2, "claim retry (reclaimed)"); /* MGET PTTL */

    p = take(a);
    ck_assert_int_eq(sqclaim_renew(a, &l, 0), SQCLAIM_OK);
    expect_one(a, p, 2, "renew"); /* MGET PEXPIRE */

    p = take(a);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 0, &rows), SQCLAIM_OK);
    expect_one(a, p, 5, "reserve"); /* MGET KEYS PTTL SET SET (no other reservation) */

    p = take(a);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 0, &rows), SQCLAIM_OK);
    expect_one(a, p, 1, "reserve (idempotent retry)"); /* MGET */

    p = take(a);
    ck_assert_int_eq(sqclaim_renew(a, &l, 0), SQCLAIM_OK);
    expect_one(a, p, 3, "renew with a reservation"); /* MGET PEXPIRE PEXPIRE */

    p = take(a);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    expect_one(a, p, 2, "finish"); /* MGET DEL */

    p = take(a);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    expect_one(a, p, 1, "finish again (already finished)"); /* MGET */

    /* With other live reservations: one more MGET reads them all. */
    sqclaim_lease o1, o2;
    claim_ok(b, "SQ-O1", "BOT2", 60000, &o1);
    claim_ok(b, "SQ-O2", "BOT2", 60000, &o2);
    ck_assert_int_eq(sqclaim_reserve_rows(b, &o1, 2, 0, &rows), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(b, &o2, 2, 0, &rows), SQCLAIM_OK);
    p = take(a);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 0, &rows), SQCLAIM_OK);
    expect_one(a, p, 6, "reserve, 2 other reservations"); /* MGET KEYS MGET PTTL SET SET */
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);

    p = take(a);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    expect_one(a, p, 2, "release"); /* MGET DEL */

    p = take(a);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_LOST);
    expect_one(a, p, 1, "release (lost)"); /* MGET */
}
END_TEST

/* Rebuilding a lost fencing counter costs more, on that one claim only. */
START_TEST(test_fence_rebuild_cost)
{
    sqclaim_store *a = rt_open();
    ck_assert_int_eq(sqclaim_ping(a), SQCLAIM_OK);
    sqclaim_lease w, l, m;
    claim_ok(a, "warm", "BOT1", 60000, &w); /* the script cached; the counter made */
    ck_assert_int_eq(sqclaim_release(a, &w), SQCLAIM_OK);
    freeReplyObject(rt_cmd(rt_raw, "DEL %ssqclaim:fence", rt_prefix));
    probe p = take(a);
    claim_ok(a, "SQ-1", "BOT1", 60000, &l);
    expect_one(a, p, 6, "claim rebuilding the counter, no live claims"); /* MGET INCR TIME KEYS
                                                                            SET SET */
    ck_assert_uint_gt(l.fence, w.fence);
    freeReplyObject(rt_cmd(rt_raw, "DEL %ssqclaim:fence", rt_prefix));
    p = take(a);
    claim_ok(a, "SQ-2", "BOT1", 60000, &m);
    expect_one(a, p, 7, "claim rebuilding the counter, one live claim"); /* + MGET */
    ck_assert_uint_gt(m.fence, l.fence);
    p = take(a);
    claim_ok(a, "SQ-3", "BOT1", 60000, &w);
    expect_one(a, p, 3, "claim after the rebuild"); /* MGET INCR SET */
    ck_assert_uint_eq(w.fence, m.fence + 1);
}
END_TEST

START_TEST(test_claim_first_of_50_is_one_round_trip)
{
    sqclaim_store *a = rt_open(), *b = rt_open();
    enum { K = 50 };
    char names[K][16];
    const char *cands[K];
    for (int i = 0; i < K; i++) {
        snprintf(names[i], sizeof names[i], "K-%02d", i);
        cands[i] = names[i];
    }
    sqclaim_lease held[K - 1];
    for (int i = 0; i < K - 1; i++)
        claim_ok(b, cands[i], "BOT2", 60000, &held[i]);
    ck_assert_int_eq(sqclaim_ping(a), SQCLAIM_OK);
    sqclaim_lease l;
    sqclaim_holder h;
    sqclaim_lease warm;
    ck_assert_int_eq(sqclaim_claim_first(a, cands, 1, "BOT1", 0, &warm, &h), SQCLAIM_BUSY);

    probe p = take(a);
    ck_assert_int_eq(sqclaim_claim_first(a, cands, K, "BOT1", 60000, &l, &h), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "K-49");
    expect_one(a, p, 3, "claim-first of 50, last free");

    p = take(a);
    ck_assert_int_eq(sqclaim_claim_first(a, cands, K, "BOT1", 60000, &l, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT2");
    ck_assert_str_eq(h.sq, "K-00");
    expect_one(a, p, 2, "claim-first of 50, all held");
}
END_TEST

START_TEST(test_status_uses_scan_and_pipelines)
{
    sqclaim_lease l;
    sqclaim_store *a = open_claimed("S-1", "BOT1", 60000, &l);
    reserve_ok(a, &l, 2, 0, 1);
    claim_ok(a, "S-2", "BOT2", 60000, &l);

    uint64_t before = rt_round_trips(a);
    long long scans = rt_cmdstat("scan"), keys = rt_cmdstat("keys");
    sqclaim_status *st = status_ok(a);
    ck_assert_uint_eq(st->nclaims, 2);
    ck_assert_uint_eq(st->nreservations, 1);
    sqclaim_status_free(st);
    /* Both SCANs in the first round trip, the reads in the second. */
    ck_assert_uint_eq(rt_round_trips(a) - before, 2);
    ck_assert_int_ge(rt_cmdstat("scan") - scans, 2);
    ck_assert_msg(rt_cmdstat("keys") == keys, "status must never use KEYS");
}
END_TEST

START_TEST(test_status_many_pages)
{
    sqclaim_store *a = rt_open();
    enum { N = 450, R = 30 };
    for (int i = 0; i < N; i++) {
        char sq[16];
        snprintf(sq, sizeof sq, "P-%03d", i);
        sqclaim_lease l;
        claim_ok(a, sq, "BOT1", 60000, &l);
        if (i < R) {
            sqclaim_rows rows;
            ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 1, 0, &rows), SQCLAIM_OK);
        }
    }
    uint64_t before = rt_round_trips(a);
    long long keys = rt_cmdstat("keys");
    sqclaim_status *st = status_ok(a);
    uint64_t used = rt_round_trips(a) - before;
    ck_assert_uint_eq(st->nclaims, N);
    ck_assert_uint_eq(st->nreservations, R);
    for (size_t i = 0; i < st->nclaims; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "P-%03zu", i);
        ck_assert_str_eq(st->claims[i].sq, sq);
        ck_assert_uint_gt(st->claims[i].fence, 0);
    }
    sqclaim_status_free(st);
    ck_assert_msg(used >= 3, "%llu round trips for %d keys", (unsigned long long)used, N);
    ck_assert_msg(rt_cmdstat("keys") == keys, "status must never use KEYS");
}
END_TEST

START_TEST(test_script_flush_falls_back_to_eval)
{
    sqclaim_store *a = rt_open();
    sqclaim_lease l;
    claim_ok(a, "SQ-X", "BOT1", 60000, &l);
    redisReply *r = rt_cmd(rt_raw, "SCRIPT FLUSH");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    probe p = take(a);
    ck_assert_int_eq(sqclaim_renew(a, &l, 0), SQCLAIM_OK);
    probe q = take(a);
    ck_assert_uint_eq(q.rt - p.rt, 2); /* EVALSHA -> NOSCRIPT, then EVAL */
    ck_assert_int_eq(q.evalsha - p.evalsha, 1);
    ck_assert_int_eq(q.eval - p.eval, 1);
    ck_assert_int_gt(rt_pttl("sq:SQ-X"), 50000);

    /* EVAL cached it again: the next renewal is one EVALSHA. */
    p = take(a);
    ck_assert_int_eq(sqclaim_renew(a, &l, 0), SQCLAIM_OK);
    expect_one(a, p, 2, "renew after the fallback");

    /* Every other script falls back too, with correct answers. */
    r = rt_cmd(rt_raw, "SCRIPT FLUSH");
    freeReplyObject(r);
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 4, 10, &rows), SQCLAIM_OK);
    ck_assert_uint_eq(rows.start_row, 10);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    sqclaim_lease l2;
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(a, "SQ-X", "BOT2", 0, &l2, &h), SQCLAIM_BUSY);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    claim_ok(a, "SQ-X", "BOT2", 0, &l2);
    ck_assert_uint_gt(l2.fence, l.fence);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

static void expect_econfig(const char *url, bool via_env)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    if (via_env)
        setenv("REDIS_URL", url, 1);
    else
        o.redis_url = url;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = rt_open_opts(&o, &s);
    if (via_env)
        unsetenv("REDIS_URL");
    ck_assert_msg(rc == SQCLAIM_ECONFIG, "%s: %s (%s)", url, sqclaim_rcname(rc), sqclaim_errmsg(s));
    const char *msg = sqclaim_errmsg(s);
    ck_assert_msg(strstr(msg, RT_PASSWORD) == NULL, "message shows the password: %s", msg);
    ck_assert_msg(strstr(msg, via_env ? "REDIS_URL" : "redis_url"), "message names no source: %s",
                  msg);
    /* The handle answers every call with its open error. */
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "SQ", "BOT1", 0, &l, NULL), SQCLAIM_ECONFIG);
}

START_TEST(test_malformed_urls)
{
    static const char *const bad[] = {
        "http://:" RT_PASSWORD "@127.0.0.1:6379",
        "redis://:" RT_PASSWORD "@127.0.0.1:notaport",
        "redis://:" RT_PASSWORD "@127.0.0.1:0",
        "redis://:" RT_PASSWORD "@127.0.0.1:65536",
        "redis://:" RT_PASSWORD "@127.0.0.1:6379/abc",
        "redis://:" RT_PASSWORD "@127.0.0.1:6379/-1",
        "redis://:" RT_PASSWORD "@:6379",
        "redis://:" RT_PASSWORD "@127.0.0.1:6379?db=1",
        "redis://:" RT_PASSWORD "@ho st:6379",
        "redis://127.0.0.1:" RT_PASSWORD,
        "redis://:" RT_PASSWORD "%zz@127.0.0.1",
        "redis://alice:@127.0.0.1",
        "redis://[::1:6379",
        RT_PASSWORD,
        "rediss://:" RT_PASSWORD "@127.0.0.1:6380",
        "unix://relative/path?password=" RT_PASSWORD,
        "unix:///tmp/sock?password=" RT_PASSWORD "&db=x",
        "unix:///tmp/sock?password=" RT_PASSWORD "&bogus=1",
        "unix:///tmp/sock?password",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_econfig(bad[i], false);
    expect_econfig("redis://:" RT_PASSWORD "@127.0.0.1:99999", true);
}
END_TEST

START_TEST(test_valid_urls_open_without_network)
{
    static const char *const good[] = {
        "redis://127.0.0.1",
        "redis://localhost:1/0",
        "redis://[::1]:6380/2",
        "redis://:p%40ss@127.0.0.1:1/15",
        "redis://user:pw@127.0.0.1:1",
        "redis://only-a-password@127.0.0.1:1",
        "unix:///nonexistent/redis.sock?db=3&password=x",
        /* Unroutable: open must not try to connect. */
        "redis://10.255.255.1:6379",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sqclaim_options o;
        sqclaim_options_init(&o);
        o.redis_url = good[i];
        sqclaim_store *s = NULL;
        long long t0 = tsrv_now_ms();
        sqclaim_rc rc = rt_open_opts(&o, &s);
        ck_assert_msg(rc == SQCLAIM_OK, "%s: %s", good[i], sqclaim_errmsg(s));
        /* No network I/O: far below the 2 s connect timeout a connect to
         * the unroutable address would take (room for a loaded machine). */
        ck_assert_int_lt(tsrv_now_ms() - t0, 1000);
        ck_assert_uint_eq(sqclaim_caps(s), SQCLAIM_CAP_CROSS_PROCESS | SQCLAIM_CAP_PERSISTENT |
                                               SQCLAIM_CAP_FOREIGN | SQCLAIM_CAP_STATS);
        ck_assert_str_eq(sqclaim_adapter(s), "redis");
    }
}
END_TEST

START_TEST(test_environment_url_and_prefix)
{
    setenv("REDIS_URL", rt_srv.url, 1);
    setenv("SQCLAIM_KEY_PREFIX", rt_prefix, 1);
    setenv("SQCLAIM_ADAPTER", "redis", 1);
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(NULL, &s);
    unsetenv("REDIS_URL");
    unsetenv("SQCLAIM_KEY_PREFIX");
    unsetenv("SQCLAIM_ADAPTER");
    ck_assert_msg(rc == SQCLAIM_OK, "%s", sqclaim_errmsg(s));
    sqclaim_lease l;
    claim_ok(s, "SQ-ENV", "BOT1", 60000, &l);
    char *v = rt_get("sq:SQ-ENV");
    ck_assert_ptr_nonnull(v);
    free(v);
    sqclaim_close(s);

    /* A prefix with a control character is a configuration error. */
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = rt_srv.url;
    o.key_prefix = "bad\nprefix";
    ck_assert_int_eq(rt_open_opts(&o, &s), SQCLAIM_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "prefix"));
}
END_TEST

START_TEST(test_glob_characters_in_prefix)
{
    /* A prefix with glob characters must only list its own keys: left
     * unescaped, p1's pattern "a*?[x]\\sq:*" would match p2's keys. */
    char p1[80], p2[80];
    snprintf(p1, sizeof p1, "%sa*?[x]\\", rt_prefix);
    snprintf(p2, sizeof p2, "%sabcdx", rt_prefix);
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = rt_srv.url;
    sqclaim_store *s1 = NULL, *s2 = NULL;
    o.key_prefix = p1;
    ck_assert_int_eq(rt_open_opts(&o, &s1), SQCLAIM_OK);
    o.key_prefix = p2;
    ck_assert_int_eq(rt_open_opts(&o, &s2), SQCLAIM_OK);
    sqclaim_lease l;
    claim_ok(s1, "G1", "BOT1", 60000, &l);
    claim_ok(s2, "G2", "BOT2", 60000, &l);
    sqclaim_status *st = status_ok(s1);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_str_eq(st->claims[0].sq, "G1");
    sqclaim_status_free(st);
    st = status_ok(s2);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_str_eq(st->claims[0].sq, "G2");
    sqclaim_status_free(st);
}
END_TEST

/* ------------------------------------------------------------------ */
/* AUTH, SELECT, unix sockets (server with a password)                  */

static sqclaim_rc open_url(const char *url, sqclaim_store **s)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = url;
    o.key_prefix = rt_prefix;
    o.retries = -1;
    return rt_open_opts(&o, s);
}

START_TEST(test_wrong_password_is_eauth)
{
    char url[256];
    sqclaim_store *s;
    sqclaim_lease l;

    snprintf(url, sizeof url, "redis://:wrongPW123@127.0.0.1:%d", rt_srv.port);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    sqclaim_rc rc = sqclaim_claim(s, "SQ-A", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_EAUTH, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "authentication failed"));
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), "wrongPW123"));
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EAUTH);

    /* No password at all: the server says NOAUTH. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", rt_srv.port);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    rc = sqclaim_claim(s, "SQ-A", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_EAUTH, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "password"));

    /* The right one works. */
    ck_assert_int_eq(open_url(rt_srv.url, &s), SQCLAIM_OK);
    rc = sqclaim_claim(s, "SQ-A", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "%s", sqclaim_errmsg(s));
}
END_TEST

START_TEST(test_acl_user_and_select_db)
{
    redisReply *r = rt_cmd(rt_raw, "ACL SETUSER alice on >alicePW ~* +@all");
    ck_assert_msg(r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r->str);
    freeReplyObject(r);
    char url[256];
    sqclaim_store *s;
    sqclaim_lease l;
    snprintf(url, sizeof url, "redis://alice:alicePW@127.0.0.1:%d/3", rt_srv.port);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    /* AUTH + SELECT in one round trip, then the PING. */
    ck_assert_uint_eq(rt_round_trips(s), 2);
    ck_assert_int_eq(sqclaim_claim(s, "SQ-DB", "BOT1", 60000, &l, NULL), SQCLAIM_OK);
    /* The key is in db 3, not in db 0. */
    ck_assert_ptr_null(rt_get("sq:SQ-DB"));
    freeReplyObject(rt_cmd(rt_raw, "SELECT 3"));
    char *v = rt_get("sq:SQ-DB");
    ck_assert_ptr_nonnull(v);
    free(v);
    freeReplyObject(rt_cmd(rt_raw, "SELECT 0"));

    snprintf(url, sizeof url, "redis://alice:nope@127.0.0.1:%d/3", rt_srv.port);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s, "SQ-DB2", "BOT1", 0, &l, NULL), SQCLAIM_EAUTH);

    /* A database the server does not have. */
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/999", RT_PASSWORD, rt_srv.port);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    sqclaim_rc rc = sqclaim_claim(s, "SQ-DB3", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_ECONFIG, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "SELECT 999"));
}
END_TEST

START_TEST(test_unix_socket)
{
    char url[512];
    sqclaim_store *s;
    sqclaim_lease l;
    snprintf(url, sizeof url, "unix://%s?password=%s&db=2", rt_srv.unixsock, RT_PASSWORD);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    sqclaim_rc rc = sqclaim_claim(s, "SQ-U", "BOT1", 60000, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "%s", sqclaim_errmsg(s));
    reserve_ok(s, &l, 2, 7, 7);
    sqclaim_status *st = status_ok(s);
    ck_assert_uint_eq(st->nclaims, 1);
    sqclaim_status_free(st);
    freeReplyObject(rt_cmd(rt_raw, "SELECT 2"));
    char *v = rt_get("sq:SQ-U");
    ck_assert_ptr_nonnull(v);
    free(v);
    freeReplyObject(rt_cmd(rt_raw, "SELECT 0"));
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);

    snprintf(url, sizeof url, "unix://%s?password=bad", rt_srv.unixsock);
    ck_assert_int_eq(open_url(url, &s), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EAUTH);
}
END_TEST

Suite *rt_layout_suite(void)
{
    Suite *su = suite_create("redis-layout");
    tcase_spec on_server = {.setup = rt_setup,
                            .teardown = rt_teardown,
                            .once_setup = rt_server_start,
                            .once_teardown = rt_server_stop};
    on_server.name = "layout";
    on_server.timeout = 60;
    TCASE_ADD(su, on_server, test_claim_layout, test_reservation_layout,
              test_renew_extends_claim_and_reservation, test_bot_id_escaped_once,
              test_foreign_seed_value_is_held, test_non_json_values_are_held_and_shown,
              test_cursor_garbage_is_an_error_not_a_guess,
              test_fence_counter_garbage_grants_nothing, test_reserve_on_expiring_claim_is_lost,
              test_status_skips_foreign_ids, test_reservation_bot_from_stored_claim,
              test_expiry_instant_key_still_live);
    on_server.name = "round-trips";
    TCASE_ADD(su, on_server, test_one_round_trip_per_operation,
              test_claim_first_of_50_is_one_round_trip, test_fence_rebuild_cost,
              test_status_uses_scan_and_pipelines, test_status_many_pages,
              test_script_flush_falls_back_to_eval);
    on_server.name = "config";
    on_server.timeout = 0; /* Check's default */
    TCASE_ADD(su, on_server, test_malformed_urls, test_valid_urls_open_without_network,
              test_environment_url_and_prefix, test_glob_characters_in_prefix);
    on_server.name = "auth";
    on_server.once_setup = rt_auth_server_start;
    TCASE_ADD(su, on_server, test_wrong_password_is_eauth, test_acl_user_and_select_db,
              test_unix_socket);
    return su;
}
