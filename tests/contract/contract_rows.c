/* contract_rows.c — the contract suite (contract.h): row reservations. */
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
/* Rows                                                                 */

START_TEST(reserve_basic)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows rows;
    claim_reserve(a, "sq-r1", "BOT1", 5, 51, &l, &rows);
    ck_assert_uint_eq(rows.start_row, 51);
    ck_assert_uint_eq(rows.count, 5);
    ck_assert_uint_eq(rows.fence, l.fence);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

START_TEST(reserve_hints_below_and_above_cursor)
{
    sqclaim_lease l1, l2, l3, l4;
    sqclaim_rows r1, r2, r3, r4;
    sqclaim_store *a = ct_claimed("sq-h1", "BOT1", 60000, &l1);
    claim_ok(a, "sq-h2", "BOT1", 60000, &l2);
    claim_ok(a, "sq-h3", "BOT1", 60000, &l3);
    claim_ok(a, "sq-h4", "BOT1", 60000, &l4);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l1, 10, 0, &r1), SQCLAIM_OK);
    ck_assert_uint_ge(r1.start_row, 1);
    /* A hint below the cursor: the range starts after what was handed out. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l2, 3, 1, &r2), SQCLAIM_OK);
    ck_assert_uint_ge(r2.start_row, r1.start_row + r1.count);
    /* A hint above the cursor is honoured exactly. */
    uint64_t hint = r2.start_row + r2.count + 100;
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l3, 7, hint, &r3), SQCLAIM_OK);
    ck_assert_uint_eq(r3.start_row, hint);
    /* Afterwards nothing below the end of that range is handed out. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l4, 2, 0, &r4), SQCLAIM_OK);
    ck_assert_uint_ge(r4.start_row, hint + 7);
}
END_TEST

START_TEST(reserve_sequential_no_overlap)
{
    sqclaim_store *a = ct_open();
    uint64_t end = 0;
    for (int i = 0; i < 40; i++) {
        char sq[16];
        snprintf(sq, sizeof sq, "sq-s%d", i);
        sqclaim_lease l;
        claim_ok(a, sq, "BOT1", 60000, &l);
        sqclaim_rows r;
        uint64_t hint = (uint64_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : end + 5);
        ck_assert_int_eq(sqclaim_reserve_rows(a, &l, (uint32_t)(1 + i % 7), hint, &r), SQCLAIM_OK);
        ck_assert_uint_ge(r.start_row, end); /* after every earlier range */
        ck_assert_uint_ge(r.start_row, hint);
        end = r.start_row + r.count;
        ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
        ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    }
}
END_TEST

START_TEST(reserve_idempotent_and_busy)
{
    sqclaim_lease l;
    sqclaim_store *a = ct_claimed("sq-i", "BOT1", 60000, &l);
    sqclaim_rows r1, r2;
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 4, 0, &r1), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 4, 0, &r2), SQCLAIM_OK);
    ck_assert_uint_eq(r1.start_row, r2.start_row);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 9, 0, &r2), SQCLAIM_BUSY);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "finish"));
    /* Same count but a hint past the open range: not a retry either. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 4, r1.start_row + 100, &r2), SQCLAIM_BUSY);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 9, 0, &r2), SQCLAIM_OK);
    ck_assert_uint_ge(r2.start_row, r1.start_row + r1.count);
}
END_TEST

START_TEST(reserve_only_holder)
{
    sqclaim_lease l, forged;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-o", "BOT1", short_ttl(), &l), *b = ct_open();
    forge(&forged, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(b, &forged, 3, 0, &r), SQCLAIM_LOST);
    bool c, res;
    status_has(a, "sq-o", &c, &res);
    ck_assert(!res);
    expire(a, "sq-o", short_ttl());
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_LOST);
    claim_ok(a, "sq-o", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_LOST);
}
END_TEST

START_TEST(finish_only_holder)
{
    sqclaim_lease l, forged;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-f", "BOT1", 60000, &l), *b = ct_open();
    /* Nothing open: the lease holds the SQ and has no reservation, which is
     * what a finish leaves behind: OK (as a retry must answer). */
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_OK);
    forge(&forged, &l);
    ck_assert_int_eq(sqclaim_finish_rows(b, &forged), SQCLAIM_LOST);
    bool c, res;
    status_has(a, "sq-f", &c, &res);
    ck_assert(res);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    status_has(a, "sq-f", &c, &res);
    ck_assert(!res);
    ck_assert(c);
    /* Finishing again (a retry whose first reply was lost, or another
     * process re-running it) converges: OK, and nothing else changes. */
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_errmsg(a), "");
    status_has(a, "sq-f", &c, &res);
    ck_assert(c && !res);
    /* LOST only once the claim is no longer ours. */
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "lost"));
}
END_TEST

START_TEST(reserve_takes_bot_from_claim)
{
    /* A lease whose bot field was edited (or is empty: a lease rebuilt
     * from a token) reserves under the bot of the claim in the store. */
    sqclaim_lease l, edited;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-b7", "BOT1", 60000, &l);
    edited = l;
    snprintf(edited.bot, sizeof edited.bot, "MALLORY");
    ck_assert_int_eq(sqclaim_reserve_rows(a, &edited, 3, 0, &r), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nreservations, 1);
    ck_assert_str_eq(st->reservations[0].bot, "BOT1");
    ck_assert_str_eq(st->claims[0].bot, "BOT1");
    sqclaim_status_free(st);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    edited.bot[0] = '\0';
    ck_assert_int_eq(sqclaim_reserve_rows(a, &edited, 2, 0, &r), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_str_eq(st->reservations[0].bot, "BOT1");
    sqclaim_status_free(st);
}
END_TEST

START_TEST(release_removes_reservation)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    claim_reserve(a, "sq-rr", "BOT1", 3, 0, &l, &r);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    bool c, res;
    ck_assert(!status_has(a, "sq-rr", &c, &res));
}
END_TEST

START_TEST(renew_extends_reservation)
{
    sqclaim_lease l;
    sqclaim_rows r;
    int64_t ttl = short_ttl();
    sqclaim_store *a = ct_claimed("sq-re", "BOT1", ttl, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_renew(a, &l, 60000), SQCLAIM_OK);
    pass_time(ttl + ttl / 2);
    bool c, res;
    status_has(a, "sq-re", &c, &res);
    ck_assert(c);
    ck_assert(res);
}
END_TEST

/* Many threads reserve at once; no two ranges may share a row. */
#define RES_THREADS 6
struct res_arg {
    int id, iters;
    uint64_t (*ranges)[2];
    atomic_int *nranges;
    atomic_int *errors;
    sqclaim_store *s;
};

static void *reserve_worker(void *varg)
{
    struct res_arg *a = varg;
    unsigned seed = (unsigned)a->id * 7919u + 1;
    for (int i = 0; i < a->iters; i++) {
        char sq[32], bot[16];
        snprintf(sq, sizeof sq, "sq-t%d-%d", a->id, i);
        snprintf(bot, sizeof bot, "BOT%d", a->id);
        sqclaim_lease l;
        if (sqclaim_claim(a->s, sq, bot, 60000, &l, NULL) != SQCLAIM_OK) {
            atomic_fetch_add(a->errors, 1);
            continue;
        }
        uint32_t count = 1 + (uint32_t)(rand_r(&seed) % 9);
        uint64_t hint = (uint64_t)(rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 2000 : 0);
        sqclaim_rows r;
        if (sqclaim_reserve_rows(a->s, &l, count, hint, &r) != SQCLAIM_OK || r.count != count ||
            r.start_row < hint) {
            atomic_fetch_add(a->errors, 1);
        } else {
            int k = atomic_fetch_add(a->nranges, 1);
            a->ranges[k][0] = r.start_row;
            a->ranges[k][1] = r.start_row + r.count;
        }
        if (sqclaim_finish_rows(a->s, &l) != SQCLAIM_OK || sqclaim_release(a->s, &l) != SQCLAIM_OK)
            atomic_fetch_add(a->errors, 1);
    }
    return NULL;
}

static int cmp_range(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

START_TEST(reserve_concurrent_no_overlap)
{
    int iters = (int)(60 * T->scale) + 5;
    uint64_t(*ranges)[2] = calloc((size_t)(RES_THREADS * iters), sizeof *ranges);
    atomic_int n = 0, errors = 0;
    pthread_t th[RES_THREADS];
    struct res_arg args[RES_THREADS];
    for (int i = 0; i < RES_THREADS; i++) {
        args[i] = (struct res_arg){i, iters, ranges, &n, &errors, ct_open()};
        pthread_create(&th[i], NULL, reserve_worker, &args[i]);
    }
    for (int i = 0; i < RES_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&errors), 0);
    ck_assert_int_eq(atomic_load(&n), RES_THREADS * iters);
    qsort(ranges, (size_t)n, sizeof *ranges, cmp_range);
    for (int i = 1; i < n; i++)
        ck_assert_msg(ranges[i][0] >= ranges[i - 1][1], "rows %llu-%llu overlap %llu-%llu",
                      (unsigned long long)ranges[i - 1][0], (unsigned long long)ranges[i - 1][1],
                      (unsigned long long)ranges[i][0], (unsigned long long)ranges[i][1]);
    free(ranges);
}
END_TEST

/* The open reservation of `sq` as status shows it (start row 0: none). */
static uint64_t open_reservation_start(sqclaim_store *s, const char *sq, uint32_t *count)
{
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    uint64_t start = 0;
    for (size_t i = 0; i < st->nreservations; i++)
        if (strcmp(st->reservations[i].sq, sq) == 0) {
            start = st->reservations[i].start_row;
            if (count)
                *count = st->reservations[i].row_count;
        }
    sqclaim_status_free(st);
    return start;
}

START_TEST(finish_range_spares_next_reservation)
{
    /* A finish of the lease's first reservation replayed (delivered late
     * or twice) after its second reservation: the lease-wide finish would
     * delete the second; finish_range names the first and leaves it. */
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l, forged;
    sqclaim_rows r1, r2;
    claim_reserve(a, "sq-fr", "BOT1", 3, 0, &l, &r1);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r1), SQCLAIM_OK);
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", NULL), 0);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 2, 0, &r2), SQCLAIM_OK);
    ck_assert_uint_ne(r2.start_row, r1.start_row);
    /* The replayed finish(#1): OK, and #2 stays open. */
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r1), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_errmsg(a), "");
    uint32_t count = 0;
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", &count), r2.start_row);
    ck_assert_uint_eq(count, 2);
    /* Only the exact reservation: the right start with another count or
     * fence is not it. */
    sqclaim_rows other = r2;
    other.count = 3;
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &other), SQCLAIM_OK);
    other = r2;
    other.fence = r2.fence + 1;
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &other), SQCLAIM_OK);
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", NULL), r2.start_row);
    /* Another lease naming #2 exactly is LOST and touches nothing. */
    forge(&forged, &l);
    ck_assert_int_eq(sqclaim_finish_range(b, &forged, &r2), SQCLAIM_LOST);
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", NULL), r2.start_row);
    /* finish(#2) removes it; repeating it converges. */
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r2), SQCLAIM_OK);
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", NULL), 0);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r2), SQCLAIM_OK);
    /* Invalid ranges are refused before anything is sent. */
    other = r2;
    other.start_row = 0;
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &other), SQCLAIM_EINVAL);
    other = r2;
    other.count = 0;
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &other), SQCLAIM_EINVAL);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, NULL), SQCLAIM_EINVAL);
    /* The lease-wide form, for contrast: it deletes whatever is open. */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 1, 0, &r2), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_uint_eq(open_reservation_start(a, "sq-fr", NULL), 0);
    /* LOST once the claim has moved on. */
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r1), SQCLAIM_LOST);
    sqclaim_lease l2;
    claim_reserve(b, "sq-fr", "BOT2", 2, 0, &l2, &r2);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r1), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "lost"));
    ck_assert_uint_eq(open_reservation_start(b, "sq-fr", NULL), r2.start_row);
}
END_TEST

void ct_group_rows(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = reserve_basic;
    tests[n++] = reserve_hints_below_and_above_cursor;
    tests[n++] = reserve_sequential_no_overlap;
    tests[n++] = reserve_idempotent_and_busy;
    tests[n++] = reserve_only_holder;
    tests[n++] = finish_only_holder;
    tests[n++] = release_removes_reservation;
    tests[n++] = renew_extends_reservation;
    tests[n++] = reserve_concurrent_no_overlap;
    tests[n++] = reserve_takes_bot_from_claim;
    tests[n++] = finish_range_spares_next_reservation;
    tests[n] = NULL;
}
