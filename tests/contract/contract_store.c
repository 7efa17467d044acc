/* contract_store.c — the contract suite (contract.h): the store as other tools leave it (targets
 * with raw access). */
#include "suite.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The store as other tools leave it (targets with raw access)          */

/* Run a raw command on the target's store; the first reply line. */
static void raw(char *out, size_t outlen, int argc, const char *const *argv)
{
    ck_assert_msg(T->raw(out, outlen, argc, argv) == 0, "raw %s failed", argv[0]);
    ck_assert_msg(out[0] != '-', "raw %s: %s", argv[0], out);
}

/* SET {ns}{key} value [PX ms] (ms 0: no expiry). */
static void raw_set(const char *key, const char *value, long ms)
{
    char k[256], px[24], out[256];
    snprintf(k, sizeof k, "%s%s", ns, key);
    snprintf(px, sizeof px, "%ld", ms);
    const char *argv[] = {"SET", k, value, "PX", px};
    raw(out, sizeof out, ms ? 5 : 3, argv);
}

static void raw_cmd2(const char *cmd, const char *key)
{
    char k[256], out[256];
    snprintf(k, sizeof k, "%s%s", ns, key);
    const char *argv[] = {cmd, k};
    raw(out, sizeof out, 2, argv);
}

static long long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

START_TEST(lost_fence_counter_never_goes_back)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l1, l2, l3, l4;
    long long before = wall_us();
    claim_ok(a, "sq-f1", "BOT1", 60000, &l1);
    /* A fresh store starts at the server clock's microseconds. */
    ck_assert_uint_ge(l1.fence, (uint64_t)(before - 5000000));
    /* Lost (FLUSH, eviction, restart without persistence): rebuilt. */
    raw_cmd2("DEL", "sqclaim:fence");
    claim_ok(a, "sq-f2", "BOT1", 60000, &l2);
    ck_assert_uint_gt(l2.fence, l1.fence);
    /* A live claim whose fence is above the clock (the counter had been
     * raised by hand) still sets the floor after a loss. */
    raw_set("sqclaim:fence", "8000000000000000", 0);
    claim_ok(a, "sq-f3", "BOT1", 60000, &l3);
    ck_assert_uint_eq(l3.fence, 8000000000000001ULL);
    raw_cmd2("DEL", "sqclaim:fence");
    claim_ok(a, "sq-f1x", "BOT1", 60000, &l4);
    ck_assert_uint_gt(l4.fence, l3.fence);
    /* The stale holder's fence is below every later one. */
    ck_assert_uint_lt(l1.fence, l4.fence);
}
END_TEST

START_TEST(lost_row_cursor_never_overlaps_live_rows)
{
    sqclaim_lease l1, l2, l3;
    sqclaim_rows r1, r2, r3;
    sqclaim_store *a = ct_claimed("sq-r1", "BOT1", 60000, &l1);
    claim_ok(a, "sq-r2", "BOT2", 60000, &l2);
    claim_ok(a, "sq-r3", "BOT3", 60000, &l3);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l1, 5, 0, &r1), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l2, 5, 0, &r2), SQCLAIM_OK);
    raw_cmd2("DEL", "sqclaim:rowcursor");
    sqclaim_counters c;
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.cursor_state, SQCLAIM_COUNTER_MISSING);
    /* Rebuilt from the highest end row of the live reservations. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l3, 5, 1, &r3), SQCLAIM_OK);
    ck_assert_uint_eq(r3.start_row, r2.start_row + r2.count);
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.cursor_state, SQCLAIM_COUNTER_OK);
    ck_assert_uint_eq(c.row_cursor, r3.start_row + 5);
}
END_TEST

START_TEST(helper_keys_of_wrong_type_are_named)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    char k[256], out[64];
    snprintf(k, sizeof k, "%ssqclaim:fence", ns);
    const char *hset[] = {"HSET", k, "f", "v"};
    raw(out, sizeof out, 4, hset);
    sqclaim_rc rc = sqclaim_claim(a, "sq-w", "BOT1", 60000, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_ESERVER, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(a));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), k));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "fix: DEL"));
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    sqclaim_counters c;
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.fence_state, SQCLAIM_COUNTER_INVALID);
    ck_assert_str_eq(c.fence_detail, "a hash");
    /* The fix the message names works. */
    raw_cmd2("DEL", "sqclaim:fence");
    claim_ok(a, "sq-w", "BOT1", 60000, &l);
    snprintf(k, sizeof k, "%ssqclaim:rowcursor", ns);
    const char *lpush[] = {"LPUSH", k, "1"};
    raw(out, sizeof out, 3, lpush);
    rc = sqclaim_reserve_rows(a, &l, 3, 0, &r);
    ck_assert_msg(rc == SQCLAIM_ESERVER, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(a));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), k));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "list"));
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.cursor_state, SQCLAIM_COUNTER_INVALID);
    ck_assert_int_eq(sqclaim_raise_cursor(a, 10, NULL), SQCLAIM_ESERVER);
    raw_cmd2("DEL", "sqclaim:rowcursor");
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_OK);
}
END_TEST

START_TEST(foreign_reservations_are_stepped_over)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l1, l2, l3;
    sqclaim_rows r1, r2, r3;
    claim_reserve(a, "sq-s1", "BOT1", 3, 0, &l1, &r1);
    uint64_t next = r1.start_row + 3;
    /* A seed-era bot's live rows just above our cursor (no token). */
    char v[256];
    snprintf(v, sizeof v,
             "{\"botId\":\"SEEDBOT\",\"startRow\":%llu,\"rowCount\":5,\"status\":\"WRITING\","
             "\"timestamp\":\"2025-10-26T12:00:00.000Z\"}",
             (unsigned long long)(next + 2));
    raw_set("refund:SEED-1", v, 60000);
    claim_reserve(a, "sq-s2", "BOT1", 20, 0, &l2, &r2);
    ck_assert_msg(r2.start_row >= next + 2 + 5, "rows %llu-%llu overlap the seed's %llu-%llu",
                  (unsigned long long)r2.start_row, (unsigned long long)(r2.start_row + 19),
                  (unsigned long long)(next + 2), (unsigned long long)(next + 6));
    /* A range that fits below it is still handed out (no rows wasted). */
    claim_ok(a, "sq-s3", "BOT1", 60000, &l3);
    raw_set("refund:SEED-2", "{\"botId\":\"X\",\"startRow\":1000000,\"rowCount\":1}", 60000);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l3, 2, 0, &r3), SQCLAIM_OK);
    ck_assert_uint_eq(r3.start_row, r2.start_row + 20);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l3), SQCLAIM_OK);
    /* Another tool's value under our own refund key is never overwritten. */
    raw_set("refund:sq-s3", "{\"botId\":\"SEEDBOT\",\"startRow\":7,\"rowCount\":1}", 60000);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l3, 2, 0, &r3), SQCLAIM_BUSY);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "another tool"));
    /* A foreign range past 10^15 cannot be stepped over: an error naming it. */
    raw_cmd2("DEL", "refund:sq-s3");
    raw_set("refund:SEED-3", "{\"startRow\":999999999999999,\"rowCount\":5}", 60000);
    sqclaim_rc rc = sqclaim_reserve_rows(a, &l3, 2, 0, &r3);
    ck_assert_msg(rc == SQCLAIM_ESERVER, "%s", sqclaim_rcname(rc));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "refund:SEED-3"));
}
END_TEST

/* The status entry of sq (asserts there is one). */
/* A reservation can outlive its claim by a millisecond (Redis computes the
 * two expiries a moment apart): the next holder finds the previous lease's
 * reservation under its refund key.  It steps over those rows and replaces
 * it; it is not BUSY (sqsim found this). */
START_TEST(leftover_reservation_of_ended_claim_is_replaced)
{
    sqclaim_lease l;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-lo", "BOT2", 60000, &l);
    raw_set("sqclaim:rowcursor", "100", 0);
    raw_set("refund:sq-lo",
            "{\"botId\":\"BOT1\",\"startRow\":100,\"rowCount\":4,\"status\":\"WRITING\","
            "\"timestamp\":\"2025-10-26T12:00:00.000Z\",\"token\":"
            "\"00000000000000000000000000000001\",\"fence\":3}",
            60000);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 2, 0, &r), SQCLAIM_OK);
    ck_assert_uint_eq(r.start_row, 104);
    sqclaim_entry e;
    ck_assert_int_eq(sqclaim_inspect(a, "sq-lo", &e), SQCLAIM_OK);
    ck_assert(e.has_reservation);
    ck_assert_uint_eq(e.reservation.start_row, 104);
    ck_assert_str_eq(e.reservation.bot, "BOT2");
}
END_TEST

static const sqclaim_claim_info *find_ci(const sqclaim_status *st, const char *sq)
{
    for (size_t i = 0; i < st->nclaims; i++)
        if (strcmp(st->claims[i].sq, sq) == 0)
            return &st->claims[i];
    ck_abort_msg("status does not show %s", sq);
    return &st->claims[0];
}

START_TEST(status_shows_every_blocker)
{
    sqclaim_store *a = ct_open();
    char out[64], k[256];
    raw_set("sq:A4", "not json at all", 0);
    snprintf(k, sizeof k, "%ssq:A6", ns);
    const char *hset[] = {"HSET", k, "botId", "BOT8"};
    raw(out, sizeof out, 4, hset);
    raw_set("sq:1", "[1,2,3]", 60000);
    raw_set("sq:SEED", "{\"botId\":\"BOT9\",\"status\":\"CLAIMING\"}", 60000);
    /* A broken value that still carries someone's token. */
    raw_set("sq:TOK", "{\"botId\":\"B\",\"token\":\"0123456789abcdef0123456789abcdef\"", 60000);
    raw_set("sq:HEX", "key=0123456789abcdef0123456789abcdef", 60000);
    raw_set("refund:R1", "garbage", 60000);
    static const char *const held[] = {"A4", "A6", "1", "SEED", "TOK", "HEX"};
    for (size_t i = 0; i < sizeof held / sizeof *held; i++) {
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(a, held[i], "BOT1", 0, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_BUSY, "%s: %s", held[i], sqclaim_rcname(rc));
    }
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 6);
    const sqclaim_claim_info *ci = find_ci(st, "A4");
    ck_assert_ptr_nonnull(ci);
    ck_assert_str_eq(ci->bot, "?");
    ck_assert_uint_eq(ci->flags, SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE);
    ck_assert_str_eq(ci->type, "string");
    ck_assert_str_eq(ci->raw, "not json at all");
    ck_assert_int_eq(ci->ttl_ms, -1);
    ci = find_ci(st, "A6");
    ck_assert_ptr_nonnull(ci);
    ck_assert_str_eq(ci->type, "hash");
    ck_assert_str_eq(ci->raw, "");
    ck_assert_int_eq(ci->ttl_ms, -1);
    ci = find_ci(st, "1");
    ck_assert_str_eq(ci->raw, "[1,2,3]");
    ck_assert(ci->ttl_ms > 0 && ci->ttl_ms <= 60000);
    ci = find_ci(st, "SEED");
    ck_assert_uint_eq(ci->flags, SQCLAIM_ENTRY_FOREIGN);
    ck_assert_str_eq(ci->bot, "BOT9");
    ci = find_ci(st, "TOK");
    ck_assert(ci->flags & SQCLAIM_ENTRY_RAW_HIDDEN);
    ck_assert_str_eq(ci->raw, "");
    ci = find_ci(st, "HEX");
    ck_assert_str_eq(ci->raw, "key=<hex>");
    ck_assert_uint_eq(st->nreservations, 1);
    ck_assert_str_eq(st->reservations[0].sq, "R1");
    ck_assert(st->reservations[0].flags & SQCLAIM_ENTRY_UNREADABLE);
    ck_assert_str_eq(st->reservations[0].raw, "garbage");
    char *json = sqclaim_status_json(st, 0);
    ck_assert_ptr_null(strstr(json, "0123456789abcdef"));
    ck_assert_ptr_null(strstr(json, "token"));
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    cJSON *a6 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "sqClaims"), "A6");
    ck_assert_str_eq(cJSON_GetObjectItem(a6, "type")->valuestring, "hash");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(a6, "unreadable")));
    cJSON_Delete(root);
    sqclaim_free(json);
    sqclaim_status_free(st);
    /* inspect agrees, and break removes a foreign value without force. */
    sqclaim_entry e;
    ck_assert_int_eq(sqclaim_inspect(a, "A6", &e), SQCLAIM_OK);
    ck_assert(e.has_claim);
    ck_assert_str_eq(e.claim.type, "hash");
    unsigned removed = 0;
    ck_assert_int_eq(sqclaim_break(a, "A6", &e, 0, &removed), SQCLAIM_OK);
    ck_assert_uint_eq(removed, SQCLAIM_BROKE_CLAIM);
    ck_assert_int_eq(sqclaim_inspect(a, "A4", &e), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_break(a, "A4", &e, 0, &removed), SQCLAIM_OK);
    sqclaim_lease l;
    claim_ok(a, "A6", "BOT1", 60000, &l);
    claim_ok(a, "A4", "BOT1", 60000, &l);
}
END_TEST

void ct_group_store(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = lost_fence_counter_never_goes_back;
    tests[n++] = lost_row_cursor_never_overlaps_live_rows;
    tests[n++] = helper_keys_of_wrong_type_are_named;
    tests[n++] = foreign_reservations_are_stepped_over;
    tests[n++] = leftover_reservation_of_ended_claim_is_replaced;
    tests[n++] = status_shows_every_blocker;
    tests[n] = NULL;
}
