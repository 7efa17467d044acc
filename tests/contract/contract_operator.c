/* contract_operator.c — the contract suite (contract.h): operator tools; the exact expiry instant
 * (fake clock). */
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
/* Operator tools                                                       */

START_TEST(break_live_claim_needs_force)
{
    sqclaim_store *a = ct_open(), *op = ct_open();
    sqclaim_lease l, l2;
    sqclaim_rows r;
    claim_reserve(a, "sq-k1", "BOT1", 4, 0, &l, &r);
    sqclaim_entry e;
    ck_assert_int_eq(sqclaim_inspect(op, "sq-k1", &e), SQCLAIM_OK);
    ck_assert_str_eq(e.sq, "sq-k1");
    ck_assert(e.has_claim && e.has_reservation);
    ck_assert_str_eq(e.claim.bot, "BOT1");
    ck_assert_uint_eq(e.claim.fence, l.fence);
    ck_assert_uint_eq(e.claim.flags, 0);
    ck_assert_uint_eq(e.reservation.start_row, r.start_row);
    ck_assert(e.claim.fingerprint[0] && e.reservation.fingerprint[0]);
    ck_assert_ptr_null(strstr(e.claim.fingerprint, l.token));
    /* A live sqclaim claim: refused without force, nothing removed. */
    unsigned removed = 99;
    ck_assert_int_eq(sqclaim_break(op, "sq-k1", &e, 0, &removed), SQCLAIM_BUSY);
    ck_assert_uint_eq(removed, 0);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(op), "BOT1"));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(op), "force"));
    bool c, res;
    ck_assert(status_has(op, "sq-k1", &c, &res) && c && res);
    /* Forced: both go, and the bot learns it at its next step. */
    ck_assert_int_eq(sqclaim_break(op, "sq-k1", &e, SQCLAIM_BREAK_FORCE, &removed), SQCLAIM_OK);
    ck_assert_uint_eq(removed, SQCLAIM_BROKE_CLAIM | SQCLAIM_BROKE_RESERVATION);
    ck_assert(!status_has(op, "sq-k1", &c, &res));
    ck_assert_int_eq(sqclaim_renew(a, &l, 0), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_LOST);
    claim_ok(op, "sq-k1", "BOT2", 60000, &l2);
    ck_assert_uint_gt(l2.fence, l.fence);
    /* Nothing there: OK, nothing removed. */
    ck_assert_int_eq(sqclaim_inspect(op, "sq-none", &e), SQCLAIM_OK);
    ck_assert(!e.has_claim && !e.has_reservation);
    ck_assert_int_eq(sqclaim_break(op, "sq-none", &e, 0, &removed), SQCLAIM_OK);
    ck_assert_uint_eq(removed, 0);
}
END_TEST

START_TEST(break_never_removes_what_was_not_shown)
{
    sqclaim_store *a = ct_open(), *op = ct_open();
    sqclaim_lease l1, l2;
    claim_ok(a, "sq-k2", "BOT1", 60000, &l1);
    sqclaim_entry shown;
    ck_assert_int_eq(sqclaim_inspect(op, "sq-k2", &shown), SQCLAIM_OK);
    /* Meanwhile the claim ends and another bot claims the SQ. */
    ck_assert_int_eq(sqclaim_release(a, &l1), SQCLAIM_OK);
    claim_ok(a, "sq-k2", "BOT2", 60000, &l2);
    unsigned removed = 99;
    ck_assert_int_eq(sqclaim_break(op, "sq-k2", &shown, SQCLAIM_BREAK_FORCE, &removed),
                     SQCLAIM_LOST);
    ck_assert_uint_eq(removed, 0);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(op), "changed"));
    ck_assert_int_eq(sqclaim_renew(a, &l2, 0), SQCLAIM_OK); /* untouched */
    /* Shown "nothing", then a claim appears: not removed either. */
    sqclaim_entry empty;
    ck_assert_int_eq(sqclaim_inspect(op, "sq-k3", &empty), SQCLAIM_OK);
    sqclaim_lease l3;
    claim_ok(a, "sq-k3", "BOT3", 60000, &l3);
    ck_assert_int_eq(sqclaim_break(op, "sq-k3", &empty, SQCLAIM_BREAK_FORCE, &removed),
                     SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_renew(a, &l3, 0), SQCLAIM_OK);
    /* Shown a claim that has ended since: gone is fine, OK. */
    ck_assert_int_eq(sqclaim_inspect(op, "sq-k3", &shown), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &l3), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_break(op, "sq-k3", &shown, 0, &removed), SQCLAIM_OK);
    ck_assert_uint_eq(removed, 0);
    /* Renewals do not change what break compares. */
    ck_assert_int_eq(sqclaim_inspect(op, "sq-k2", &shown), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_renew(a, &l2, 120000), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_break(op, "sq-k2", &shown, SQCLAIM_BREAK_FORCE, &removed), SQCLAIM_OK);
    ck_assert_uint_eq(removed, SQCLAIM_BROKE_CLAIM);
}
END_TEST

START_TEST(counters_and_raise_cursor)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l, l2;
    sqclaim_rows r, r2;
    claim_reserve(a, "sq-c1", "BOT1", 5, 0, &l, &r);
    sqclaim_counters c;
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.fence_state, SQCLAIM_COUNTER_OK);
    ck_assert_uint_eq(c.cursor_state, SQCLAIM_COUNTER_OK);
    ck_assert_uint_eq(c.fence, l.fence);
    ck_assert_uint_eq(c.row_cursor, r.start_row + r.count);
    ck_assert_ptr_nonnull(strstr(c.fence_key, "sqclaim:fence"));
    ck_assert_ptr_nonnull(strstr(c.cursor_key, "sqclaim:rowcursor"));
    /* Up: moved; the next range starts there. */
    uint64_t to = c.row_cursor + 1000, cur = 0;
    ck_assert_int_eq(sqclaim_raise_cursor(a, to, &cur), SQCLAIM_OK);
    ck_assert_uint_eq(cur, to);
    ck_assert_int_eq(sqclaim_raise_cursor(a, to, &cur), SQCLAIM_OK); /* again: same */
    /* Down: refused, unchanged, and told where it is. */
    ck_assert_int_eq(sqclaim_raise_cursor(a, to - 10, &cur), SQCLAIM_BUSY);
    ck_assert_uint_eq(cur, to);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "only moves up"));
    claim_reserve(a, "sq-c2", "BOT1", 2, 0, &l2, &r2);
    ck_assert_uint_eq(r2.start_row, to);
    ck_assert_int_eq(sqclaim_counters_get(a, &c), SQCLAIM_OK);
    ck_assert_uint_eq(c.row_cursor, to + 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The exact expiry instant (fake clock): live AT its expiry, as Redis   */
/* keeps a key (expired only when now > when), gone one tick later       */

START_TEST(expiry_exact_instant)
{
    sqclaim_lease la, lb;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-x", "BOT1", 1000, &la), *b = ct_open();
    int64_t expiry = la.sent_ns + 1000 * 1000000LL;
    atomic_store(&fake_now, expiry);
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(b, "sq-x", "BOT2", 1000, &lb, &h), SQCLAIM_BUSY);
    ck_assert_int_eq(h.remaining_ms, 0);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_int_eq(st->claims[0].ttl_ms, 0);
    sqclaim_status_free(st);
    /* No time left to reserve in (Redis: PTTL 0 -> LOST). */
    ck_assert_int_eq(sqclaim_reserve_rows(a, &la, 1, 0, &r), SQCLAIM_LOST);
    /* One step of the store's clock later it is gone (1 ns on the memory
     * backend, 1 ms on a Redis model). */
    atomic_store(&fake_now, expiry + (T->clock_step_ns > 0 ? T->clock_step_ns : 1));
    claim_ok(b, "sq-x", "BOT2", 1000, &lb);
    ck_assert_int_eq(sqclaim_renew(a, &la, 0), SQCLAIM_LOST);
}
END_TEST

void ct_group_operator(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = break_live_claim_needs_force;
    tests[n++] = break_never_removes_what_was_not_shown;
    tests[n++] = counters_and_raise_cursor;
    tests[n] = NULL;
}

void ct_group_expiry(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = expiry_exact_instant;
    tests[n] = NULL;
}
