/* contract_claims.c — the contract suite (contract.h): claims: grant, busy, release, renew, fences,
 * retries, claim-first. */
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
/* Claims                                                               */

START_TEST(claim_grants_lease)
{
    sqclaim_store *s = ct_open();
    sqclaim_lease l;
    int64_t before = sqclaim_now_ns(s);
    claim_ok(s, "251019-164rmb", "BOT1", 60000, &l);
    int64_t after = sqclaim_now_ns(s);
    ck_assert_str_eq(l.sq, "251019-164rmb");
    ck_assert_str_eq(l.bot, "BOT1");
    ck_assert_uint_eq(strlen(l.token), SQCLAIM_TOKEN_LEN);
    ck_assert_msg(strspn(l.token, "0123456789abcdef") == SQCLAIM_TOKEN_LEN, "token not hex");
    ck_assert_uint_gt(l.fence, 0);
    ck_assert_int_eq(l.ttl_ms, 60000);
    int64_t margin = (60000 / 100 + 2) * 1000000LL;
    ck_assert_int_ge(l.deadline_ns, before + 60000 * 1000000LL - margin);
    ck_assert_int_le(l.deadline_ns, after + 60000 * 1000000LL - margin);
    ck_assert(sqclaim_may_act(s, &l));
    ck_assert_int_gt(sqclaim_lease_remaining_ms(s, &l), 50000);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, 0);
}
END_TEST

START_TEST(claim_default_ttl)
{
    sqclaim_store *s = ct_open();
    sqclaim_lease l;
    claim_ok(s, "sq-default", "BOT1", 0, &l);
    ck_assert_int_eq(l.ttl_ms, SQCLAIM_DEFAULT_TTL_MS);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_int_gt(st->claims[0].ttl_ms, SQCLAIM_DEFAULT_TTL_MS - 10000);
    ck_assert_int_le(st->claims[0].ttl_ms, SQCLAIM_DEFAULT_TTL_MS);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(claim_exclusive_busy_names_holder)
{
    sqclaim_lease la, lb;
    ct_claimed("251019-164rmb", "BOT1", 60000, &la);
    sqclaim_store *b = ct_open();
    sqclaim_holder h;
    sqclaim_rc rc = sqclaim_claim(b, "251019-164rmb", "BOT3", 60000, &lb, &h);
    ck_assert_int_eq(rc, SQCLAIM_BUSY);
    ck_assert_str_eq(h.sq, "251019-164rmb");
    ck_assert_str_eq(h.bot, "BOT1");
    ck_assert_int_gt(h.remaining_ms, 0);
    ck_assert_int_le(h.remaining_ms, 60000);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(b), "BOT1"));
    ck_assert_int_eq(sqclaim_errcode(b), SQCLAIM_BUSY);
    ck_assert(!sqclaim_may_act(b, &lb));
    /* The same bot with a new lease is refused too: one lease per SQ. */
    ck_assert_int_eq(sqclaim_claim(b, "251019-164rmb", "BOT1", 60000, &lb, NULL), SQCLAIM_BUSY);
}
END_TEST

START_TEST(release_then_claim)
{
    sqclaim_lease la, lb;
    sqclaim_store *a = ct_claimed("sq-1", "BOT1", 60000, &la), *b = ct_open();
    ck_assert_int_eq(sqclaim_release(a, &la), SQCLAIM_OK);
    ck_assert(!sqclaim_may_act(a, &la));
    claim_ok(b, "sq-1", "BOT2", 60000, &lb);
    ck_assert_uint_gt(lb.fence, la.fence);
    /* Releasing again is LOST, and does not touch BOT2's claim. */
    ck_assert_int_eq(sqclaim_release(a, &la), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_claim(a, "sq-1", "BOT1", 60000, &la, NULL), SQCLAIM_BUSY);
}
END_TEST

START_TEST(release_by_non_owner_refused)
{
    sqclaim_lease la, forged;
    sqclaim_store *a = ct_claimed("sq-2", "BOT1", 60000, &la), *b = ct_open();
    forge(&forged, &la);
    ck_assert_int_eq(sqclaim_release(b, &forged), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(b), "sq-2"));
    sqclaim_holder h;
    sqclaim_lease lb;
    ck_assert_int_eq(sqclaim_claim(b, "sq-2", "BOT2", 60000, &lb, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT1");
    ck_assert_int_eq(sqclaim_release(a, &la), SQCLAIM_OK);
}
END_TEST

START_TEST(renew_by_non_owner_refused)
{
    sqclaim_lease la, forged;
    sqclaim_store *a = ct_claimed("sq-3", "BOT1", short_ttl(), &la), *b = ct_open();
    forge(&forged, &la);
    ck_assert_int_eq(sqclaim_renew(b, &forged, 60000), SQCLAIM_LOST);
    /* The forged renewal did not extend BOT1's claim: it still expires. */
    expire(a, "sq-3", short_ttl());
    sqclaim_lease lb;
    claim_ok(b, "sq-3", "BOT2", 60000, &lb);
}
END_TEST

START_TEST(release_after_expiry_lost)
{
    sqclaim_lease la;
    sqclaim_store *a = ct_claimed("sq-4", "BOT1", short_ttl(), &la);
    expire(a, "sq-4", short_ttl());
    ck_assert(!sqclaim_may_act(a, &la));
    ck_assert_int_eq(sqclaim_release(a, &la), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_errcode(a), SQCLAIM_LOST);
}
END_TEST

START_TEST(renew_after_expiry_lost_not_revived)
{
    sqclaim_lease la, lb;
    sqclaim_store *a = ct_claimed("sq-5", "BOT1", short_ttl(), &la), *b = ct_open();
    expire(a, "sq-5", short_ttl());
    ck_assert_int_eq(sqclaim_renew(a, &la, 60000), SQCLAIM_LOST);
    bool c, r;
    ck_assert(!status_has(a, "sq-5", &c, &r));
    claim_ok(b, "sq-5", "BOT2", 60000, &lb);
    ck_assert_uint_gt(lb.fence, la.fence);
    /* And once someone else holds it, the old lease cannot renew it. */
    ck_assert_int_eq(sqclaim_renew(a, &la, 60000), SQCLAIM_LOST);
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(a, "sq-5", "BOT1", 60000, &la, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, "BOT2");
}
END_TEST

START_TEST(renew_extends)
{
    sqclaim_lease la, lb;
    int64_t ttl = short_ttl();
    sqclaim_store *a = ct_claimed("sq-6", "BOT1", ttl, &la), *b = ct_open();
    int64_t old_deadline = la.deadline_ns;
    ck_assert_int_eq(sqclaim_renew(a, &la, 60000), SQCLAIM_OK);
    ck_assert_int_eq(la.ttl_ms, 60000);
    ck_assert_int_gt(la.deadline_ns, old_deadline);
    pass_time(ttl + ttl / 2);
    ck_assert(sqclaim_may_act(a, &la));
    ck_assert_int_eq(sqclaim_claim(b, "sq-6", "BOT2", 60000, &lb, NULL), SQCLAIM_BUSY);
    /* ttl 0 renews with the lease's own TTL. */
    ck_assert_int_eq(sqclaim_renew(a, &la, 0), SQCLAIM_OK);
    ck_assert_int_eq(la.ttl_ms, 60000);
}
END_TEST

START_TEST(fence_strictly_increases)
{
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l;
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) { /* grants after releases */
        claim_ok(i % 2 ? a : b, "sq-7", i % 2 ? "BOT1" : "BOT2", 60000, &l);
        ck_assert_uint_gt(l.fence, last);
        last = l.fence;
        ck_assert_int_eq(sqclaim_release(i % 2 ? a : b, &l), SQCLAIM_OK);
    }
    for (int i = 0; i < 2; i++) { /* grants after expiry */
        claim_ok(a, "sq-7", "BOT1", short_ttl(), &l);
        ck_assert_uint_gt(l.fence, last);
        last = l.fence;
        expire(a, "sq-7", short_ttl());
    }
    const char *list[] = {"sq-7", "sq-8"}; /* and through claim-first */
    ck_assert_int_eq(sqclaim_claim_first(b, list, 2, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-7");
    ck_assert_uint_gt(l.fence, last);
}
END_TEST

START_TEST(claim_retry_idempotent)
{
    sqclaim_lease l;
    sqclaim_store *a = ct_claimed("sq-9", "BOT1", 60000, &l), *b = ct_open();
    uint64_t fence = l.fence;
    /* A retry with the same token (as after a lost reply) is the same grant. */
    ck_assert_int_eq(sqclaim_claim_retry(a, NULL, 0, &l, NULL), SQCLAIM_OK);
    ck_assert_uint_eq(l.fence, fence);
    ck_assert(l.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert(sqclaim_may_act(a, &l));
    /* From another handle too: the token is what counts. */
    sqclaim_lease copy = l;
    ck_assert_int_eq(sqclaim_claim_retry(b, NULL, 0, &copy, NULL), SQCLAIM_OK);
    ck_assert_uint_eq(copy.fence, fence);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 1);
    ck_assert_uint_eq(st->claims[0].fence, fence);
    sqclaim_status_free(st);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

START_TEST(claim_first_skips_held_keeps_order)
{
    sqclaim_lease la, lc, l;
    sqclaim_store *a = ct_claimed("sq-a", "BOT1", 60000, &la), *b = ct_open();
    claim_ok(a, "sq-c", "BOT1", 60000, &lc);
    const char *list[] = {"sq-a", "sq-b", "sq-c", "sq-d"};
    ck_assert_int_eq(sqclaim_claim_first(b, list, 4, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-b");
    ck_assert_int_eq(sqclaim_claim_first(b, list, 4, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-d");
    const char *rev[] = {"sq-f", "sq-e"};
    ck_assert_int_eq(sqclaim_claim_first(b, rev, 2, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-f");
    const char *dup[] = {"sq-g", "sq-g"};
    ck_assert_int_eq(sqclaim_claim_first(b, dup, 2, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-g");
}
END_TEST

START_TEST(claim_first_all_busy)
{
    sqclaim_lease l1, l2, l;
    sqclaim_store *a = ct_claimed("sq-x", "BOT1", 60000, &l1), *b = ct_open();
    claim_ok(a, "sq-y", "BOT7", 60000, &l2);
    const char *list[] = {"sq-x", "sq-y"};
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim_first(b, list, 2, "BOT2", 60000, &l, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.sq, "sq-x");
    ck_assert_str_eq(h.bot, "BOT1");
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(b), "2 candidate"));
}
END_TEST

START_TEST(claim_first_retry_finds_own_grant)
{
    /* We were granted the second candidate; then the first became free.  A
     * retry (after a lost reply) must return our grant, not take a second
     * SQ. */
    sqclaim_lease lx, l;
    sqclaim_store *a = ct_claimed("sq-p", "BOT1", 60000, &lx), *b = ct_open();
    const char *list[] = {"sq-p", "sq-q"};
    ck_assert_int_eq(sqclaim_claim_first(b, list, 2, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-q");
    uint64_t fence = l.fence;
    ck_assert_int_eq(sqclaim_release(a, &lx), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim_retry(b, list, 2, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-q");
    ck_assert_uint_eq(l.fence, fence);
    bool c, r;
    ck_assert(!status_has(b, "sq-p", &c, &r));
}
END_TEST

START_TEST(claim_retry_of_rebuilt_lease_keeps_store_deadline)
{
    /* A lease passed on as JSON (the CLI does this) knows no send time.  A
     * retry that finds it granted must not promise more than the store's
     * remaining TTL. */
    int64_t ttl = short_ttl();
    sqclaim_lease l, rebuilt, lb;
    sqclaim_store *a = ct_claimed("sq-rb", "BOT1", ttl, &l), *b = ct_open();
    char *json = sqclaim_lease_to_json(&l);
    ck_assert_int_eq(sqclaim_lease_from_json(json, &rebuilt, NULL, 0), SQCLAIM_OK);
    sqclaim_free(json);
    pass_time(ttl / 2);
    ck_assert_int_eq(sqclaim_claim_retry(b, NULL, 0, &rebuilt, NULL), SQCLAIM_OK);
    ck_assert(rebuilt.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert_uint_eq(rebuilt.fence, l.fence);
    ck_assert_int_le(sqclaim_lease_remaining_ms(b, &rebuilt), ttl / 2 + 5);
    /* Once its deadline passes, the store has let it go too. */
    while (sqclaim_may_act(b, &rebuilt))
        pass_time(T->fake_clock ? 10 : 0), poll_pause();
    expire(a, "sq-rb", sqclaim_margin_ms(ttl));
    claim_ok(b, "sq-rb", "BOT2", 60000, &lb);
}
END_TEST

START_TEST(abandon_uncertain_claim_first)
{
    /* After a claim-first whose reply was lost, the bot does not know which
     * candidate it may hold: abandon releases its token wherever it is. */
    sqclaim_lease held, l, lb;
    sqclaim_store *a = ct_claimed("sq-u1", "BOT1", 60000, &held), *b = ct_open();
    const char *list[] = {"sq-u1", "sq-u2", "sq-u3"};
    ck_assert_int_eq(sqclaim_claim_first(b, list, 3, "BOT2", 60000, &l, NULL), SQCLAIM_OK);
    ck_assert_str_eq(l.sq, "sq-u2");
    sqclaim_lease uncertain = l; /* what the bot has after a lost reply */
    uncertain.sq[0] = '\0';
    uncertain.deadline_ns = 0;
    uncertain.flags |= SQCLAIM_LEASE_UNCERTAIN;
    ck_assert_int_eq(sqclaim_abandon(b, list, 3, &uncertain), SQCLAIM_OK);
    ck_assert(!(uncertain.flags & SQCLAIM_LEASE_UNCERTAIN));
    claim_ok(a, "sq-u2", "BOT3", 60000, &lb); /* free again */
    /* BOT1's claim was not touched. */
    ck_assert_int_eq(sqclaim_renew(a, &held, 60000), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_abandon(b, list, 3, &uncertain), SQCLAIM_LOST);
}
END_TEST

void ct_group_claims(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = claim_grants_lease;
    tests[n++] = claim_default_ttl;
    tests[n++] = claim_exclusive_busy_names_holder;
    tests[n++] = release_then_claim;
    tests[n++] = release_by_non_owner_refused;
    tests[n++] = renew_by_non_owner_refused;
    tests[n++] = release_after_expiry_lost;
    tests[n++] = renew_after_expiry_lost_not_revived;
    tests[n++] = renew_extends;
    tests[n++] = fence_strictly_increases;
    tests[n++] = claim_retry_idempotent;
    tests[n++] = claim_first_skips_held_keeps_order;
    tests[n++] = claim_first_all_busy;
    tests[n++] = claim_first_retry_finds_own_grant;
    tests[n++] = claim_retry_of_rebuilt_lease_keeps_store_deadline;
    tests[n] = NULL;
}

void ct_group_uncertain(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = abandon_uncertain_claim_first;
    tests[n] = NULL;
}
