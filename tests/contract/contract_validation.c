/* contract_validation.c — the contract suite (contract.h): validation: rejected with a specific
 * message, nothing written. */
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
/* Validation: rejected with a specific message, nothing written        */

static void assert_nothing_written(sqclaim_store *s)
{
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 0);
    ck_assert_uint_eq(st->nreservations, 0);
    sqclaim_status_free(st);
}

/* buf, size n: n - 1 times c, then the terminating NUL. */
static void fill(char *buf, size_t n, char c)
{
    memset(buf, c, n - 1);
    buf[n - 1] = '\0';
}

START_TEST(invalid_sq_ids)
{
    sqclaim_store *a = ct_open();
    char long_id[SQCLAIM_SQ_MAX + 2];
    fill(long_id, sizeof long_id, 'a');
    const char *bad[] = {"",         long_id,   "has space", "tab\there", "new\nline",
                         "star*",    "q?",      "br[ack",    "br]ack",    "colon:x",
                         "-dash",    ".dot",    "sl/ash",    "back\\s",   "quo\"te",
                         "\xc3\xa9", "nul\x7f", "{brace}",   "sq:1",      "a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(a, bad[i], "BOT1", 60000, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_EINVAL, "SQ id #%zu accepted", i);
        ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "SQ id"));
        ck_assert_int_eq(sqclaim_errcode(a), SQCLAIM_EINVAL);
    }
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(a, NULL, "BOT1", 60000, &l, NULL), SQCLAIM_EINVAL);
    assert_nothing_written(a);
}
END_TEST

START_TEST(valid_sq_ids)
{
    sqclaim_store *a = ct_open();
    char max_id[SQCLAIM_SQ_MAX + 1];
    fill(max_id, sizeof max_id, 'Z');
    const char *good[] = {"251019-164rmb", "A", max_id, "a.b_c-d", "0", "SQ_1.2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(a, good[i], "BOT1", 60000, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_OK, "SQ id %s refused: %s", good[i], sqclaim_errmsg(a));
        ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    }
}
END_TEST

START_TEST(invalid_bot_ids)
{
    sqclaim_store *a = ct_open();
    char long_bot[SQCLAIM_BOT_MAX + 2];
    fill(long_bot, sizeof long_bot, 'b');
    const char *bad[] = {"",          long_bot,       "ctl\x01",
                         "new\nline", "del\x7f",      "bad\xff utf8",
                         "\xc0\xaf",  "\xed\xa0\x80", "trunc\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(a, "sq-1", bad[i], 60000, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_EINVAL, "bot id #%zu accepted", i);
        ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "bot id"));
    }
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(a, "sq-1", NULL, 60000, &l, NULL), SQCLAIM_EINVAL);
    assert_nothing_written(a);
}
END_TEST

START_TEST(invalid_ttls)
{
    sqclaim_store *a = ct_open();
    const int64_t bad[] = {-1,        1,        SQCLAIM_MIN_TTL_MS - 1, SQCLAIM_MAX_TTL_MS + 1,
                           INT64_MAX, INT64_MIN};
    sqclaim_lease l;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sqclaim_claim(a, "sq-1", "BOT1", bad[i], &l, NULL), SQCLAIM_EINVAL);
        ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "TTL"));
    }
    assert_nothing_written(a);
    claim_ok(a, "sq-1", "BOT1", 60000, &l);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(sqclaim_renew(a, &l, bad[i]), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

START_TEST(invalid_rows)
{
    sqclaim_lease l;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-1", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 0, 0, &r), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "row count"));
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, SQCLAIM_MAX_ROWS + 1, 0, &r), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, (uint64_t)SQCLAIM_MAX_ROW + 1, &r),
                     SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "hint"));
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 0, NULL), SQCLAIM_EINVAL);
    bool c, res;
    status_has(a, "sq-1", &c, &res);
    ck_assert(!res);
    /* The largest allowed values work. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, SQCLAIM_MAX_ROWS, SQCLAIM_MAX_ROW, &r),
                     SQCLAIM_OK);
    ck_assert_uint_eq(r.start_row, SQCLAIM_MAX_ROW);
}
END_TEST

START_TEST(invalid_candidates)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    const char *list[] = {"sq-1", "sq 2", "sq-3"};
    ck_assert_int_eq(sqclaim_claim_first(a, list, 3, "BOT1", 60000, &l, NULL), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "candidate 2"));
    ck_assert_int_eq(sqclaim_claim_first(a, list, 0, "BOT1", 60000, &l, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_claim_first(a, NULL, 1, "BOT1", 60000, &l, NULL), SQCLAIM_EINVAL);
    static const char *many[SQCLAIM_MAX_CANDIDATES + 1];
    for (size_t i = 0; i < SQCLAIM_MAX_CANDIDATES + 1; i++)
        many[i] = "sq-m";
    ck_assert_int_eq(
        sqclaim_claim_first(a, many, SQCLAIM_MAX_CANDIDATES + 1, "BOT1", 60000, &l, NULL),
        SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "too many"));
    assert_nothing_written(a);
    ck_assert_int_eq(sqclaim_claim_first(a, many, SQCLAIM_MAX_CANDIDATES, "BOT1", 60000, &l, NULL),
                     SQCLAIM_OK);
}
END_TEST

START_TEST(invalid_leases)
{
    sqclaim_lease l;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-1", "BOT1", 60000, &l);
    sqclaim_lease bad = l;
    strcpy(bad.token, "not-a-token");
    ck_assert_int_eq(sqclaim_renew(a, &bad, 0), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_release(a, &bad), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &bad, 1, 0, &r), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_finish_rows(a, &bad), SQCLAIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "token"));
    bad = l;
    strcpy(bad.sq, "bad sq");
    ck_assert_int_eq(sqclaim_release(a, &bad), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_renew(a, NULL, 0), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_release(a, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_finish_rows(a, NULL), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_reserve_rows(a, NULL, 1, 0, &r), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_claim(a, "sq-2", "BOT1", 0, NULL, NULL), SQCLAIM_EINVAL);
    /* The real lease is untouched by all of that. */
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

void ct_group_validation(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = invalid_sq_ids;
    tests[n++] = valid_sq_ids;
    tests[n++] = invalid_bot_ids;
    tests[n++] = invalid_ttls;
    tests[n++] = invalid_rows;
    tests[n++] = invalid_candidates;
    tests[n++] = invalid_leases;
    tests[n] = NULL;
}
