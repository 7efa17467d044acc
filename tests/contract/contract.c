/* contract.c — the behaviour every backend must show.  See contract.h. */
#include "contract.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const ct_target *T;

/* ------------------------------------------------------------------ */
/* Fixture: a namespace per test, handles closed afterwards, a fake clock */

#define MAX_HANDLES 64
static sqclaim_store *handles[MAX_HANDLES];
static int nhandles;
static char ns[64];
static int ns_counter;

static atomic_llong fake_now = 1000000000000LL;
static int64_t fake_clock_now(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}
static const sqclaim_clock fake_clock = {fake_clock_now, NULL};

static long long real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void poll_pause(void)
{
    /* Interval between polls of a condition; never used as synchronisation. */
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    snprintf(ns, sizeof ns, "ct%ld-%d:", (long)getpid(), ++ns_counter);
    nhandles = 0;
}

static void teardown(void)
{
    for (int i = 0; i < nhandles; i++)
        sqclaim_close(handles[i]);
    nhandles = 0;
}

static sqclaim_store *open_with(const char *space_suffix, bool fake)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    char name[96];
    snprintf(name, sizeof name, "%s%s", ns, space_suffix);
    T->options(&o, name);
    if (fake && T->fake_clock)
        o.clock = &fake_clock;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = T->open ? T->open(&o, &s) : sqclaim_open(&o, &s);
    ck_assert_msg(rc == SQCLAIM_OK, "open %s: %s", T->name, sqclaim_errmsg(s));
    ck_assert_int_lt(nhandles, MAX_HANDLES);
    handles[nhandles++] = s;
    return s;
}

/* A handle in this test's namespace (fake clock where the target has one). */
static sqclaim_store *ct_open(void) { return open_with("", true); }

/* A handle on the real clock (keep-alive tests), own namespace. */
static sqclaim_store *ct_open_real(void) { return open_with("real", false); }

/* TTL for leases a test lets expire. */
static int64_t short_ttl(void) { return T->fake_clock ? 1000 : T->short_ttl_ms; }

static bool status_has(sqclaim_store *s, const char *sq, bool *claim, bool *res)
{
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    ck_assert_msg(rc == SQCLAIM_OK, "status: %s", sqclaim_errmsg(s));
    *claim = *res = false;
    for (size_t i = 0; i < st->nclaims; i++)
        *claim = *claim || strcmp(st->claims[i].sq, sq) == 0;
    for (size_t i = 0; i < st->nreservations; i++)
        *res = *res || strcmp(st->reservations[i].sq, sq) == 0;
    sqclaim_status_free(st);
    return *claim || *res;
}

/* Let a lease of ttl_ms on sq expire: move the fake clock, or poll the
 * store until the SQ is gone (deadline 10 s). */
static void expire(sqclaim_store *s, const char *sq, int64_t ttl_ms)
{
    if (T->fake_clock) {
        atomic_fetch_add(&fake_now, (ttl_ms + 1) * 1000000LL);
        return;
    }
    long long deadline = real_ms() + ttl_ms + 10000;
    bool c, r;
    while (status_has(s, sq, &c, &r)) {
        ck_assert_msg(real_ms() < deadline, "%s still held after its TTL", sq);
        poll_pause();
    }
}

/* Wait until at least ms have passed on the store's clock. */
static void pass_time(int64_t ms)
{
    if (T->fake_clock) {
        atomic_fetch_add(&fake_now, ms * 1000000LL);
        return;
    }
    long long until = real_ms() + ms;
    while (real_ms() < until)
        poll_pause();
}

static void claim_ok(sqclaim_store *s, const char *sq, const char *bot, int64_t ttl,
                     sqclaim_lease *l)
{
    sqclaim_rc rc = sqclaim_claim(s, sq, bot, ttl, l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "claim %s by %s: %s (%s)", sq, bot, sqclaim_rcname(rc),
                  sqclaim_errmsg(s));
}

static void forge(sqclaim_lease *forged, const sqclaim_lease *real)
{
    *forged = *real;
    /* Same SQ and bot, another token: what a confused bot would send. */
    memcpy(forged->token, "0123456789abcdef0123456789abcdef", SQCLAIM_TOKEN_LEN + 1);
    if (strcmp(forged->token, real->token) == 0)
        forged->token[0] = 'f';
}

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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lb;
    claim_ok(a, "251019-164rmb", "BOT1", 60000, &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lb;
    claim_ok(a, "sq-1", "BOT1", 60000, &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, forged;
    claim_ok(a, "sq-2", "BOT1", 60000, &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, forged;
    claim_ok(a, "sq-3", "BOT1", short_ttl(), &la);
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
    sqclaim_store *a = ct_open();
    sqclaim_lease la;
    claim_ok(a, "sq-4", "BOT1", short_ttl(), &la);
    expire(a, "sq-4", short_ttl());
    ck_assert(!sqclaim_may_act(a, &la));
    ck_assert_int_eq(sqclaim_release(a, &la), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_errcode(a), SQCLAIM_LOST);
}
END_TEST

START_TEST(renew_after_expiry_lost_not_revived)
{
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lb;
    claim_ok(a, "sq-5", "BOT1", short_ttl(), &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lb;
    int64_t ttl = short_ttl();
    claim_ok(a, "sq-6", "BOT1", ttl, &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l;
    claim_ok(a, "sq-9", "BOT1", 60000, &l);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lc, l;
    claim_ok(a, "sq-a", "BOT1", 60000, &la);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l1, l2, l;
    claim_ok(a, "sq-x", "BOT1", 60000, &l1);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease lx, l;
    claim_ok(a, "sq-p", "BOT1", 60000, &lx);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    int64_t ttl = short_ttl();
    sqclaim_lease l, rebuilt, lb;
    claim_ok(a, "sq-rb", "BOT1", ttl, &l);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease held, l, lb;
    claim_ok(a, "sq-u1", "BOT1", 60000, &held);
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

/* ------------------------------------------------------------------ */
/* Rows                                                                 */

START_TEST(reserve_basic)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    claim_ok(a, "sq-r1", "BOT1", 60000, &l);
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 51, &rows), SQCLAIM_OK);
    ck_assert_uint_eq(rows.start_row, 51);
    ck_assert_uint_eq(rows.count, 5);
    ck_assert_uint_eq(rows.fence, l.fence);
    ck_assert_int_eq(sqclaim_finish_rows(a, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

START_TEST(reserve_hints_below_and_above_cursor)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l1, l2, l3, l4;
    sqclaim_rows r1, r2, r3, r4;
    claim_ok(a, "sq-h1", "BOT1", 60000, &l1);
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
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    claim_ok(a, "sq-i", "BOT1", 60000, &l);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l, forged;
    sqclaim_rows r;
    claim_ok(a, "sq-o", "BOT1", short_ttl(), &l);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease l, forged;
    sqclaim_rows r;
    claim_ok(a, "sq-f", "BOT1", 60000, &l);
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
    claim_ok(a, "sq-fr", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r1), SQCLAIM_OK);
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
    claim_ok(b, "sq-fr", "BOT2", 60000, &l2);
    ck_assert_int_eq(sqclaim_reserve_rows(b, &l2, 2, 0, &r2), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_range(a, &l, &r1), SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(a), "lost"));
    ck_assert_uint_eq(open_reservation_start(b, "sq-fr", NULL), r2.start_row);
}
END_TEST

START_TEST(reserve_takes_bot_from_claim)
{
    /* A lease whose bot field was edited (or is empty: a lease rebuilt
     * from a token) reserves under the bot of the claim in the store. */
    sqclaim_store *a = ct_open();
    sqclaim_lease l, edited;
    sqclaim_rows r;
    claim_ok(a, "sq-b7", "BOT1", 60000, &l);
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
    claim_ok(a, "sq-rr", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 3, 0, &r), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    bool c, res;
    ck_assert(!status_has(a, "sq-rr", &c, &res));
}
END_TEST

START_TEST(renew_extends_reservation)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    int64_t ttl = short_ttl();
    claim_ok(a, "sq-re", "BOT1", ttl, &l);
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

/* ------------------------------------------------------------------ */
/* Status                                                               */

static bool is_iso_ms(const char *s)
{
    /* 2025-10-26T12:34:56.789Z */
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != strlen(shape))
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    return true;
}

static void assert_keys(const cJSON *obj, const char *const *keys)
{
    /* Exactly these keys, in this order. */
    const cJSON *it = obj->child;
    for (size_t i = 0; keys[i]; i++, it = it->next) {
        ck_assert_msg(it != NULL, "missing key %s", keys[i]);
        ck_assert_str_eq(it->string, keys[i]);
    }
    ck_assert_msg(it == NULL, "unexpected key %s", it ? it->string : "");
}

START_TEST(status_empty_is_seed_shape)
{
    sqclaim_store *a = ct_open();
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    ck_assert_ptr_nonnull(json);
    char expect[256];
    snprintf(expect, sizeof expect,
             "{\"success\":true,\"sqClaims\":{},\"refundReservations\":{},\"timestamp\":\"%s\","
             "\"kvConfigured\":true}",
             st->timestamp);
    ck_assert_str_eq(json, expect);
    ck_assert(is_iso_ms(st->timestamp));
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(status_shape_exact_no_token)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l1, l2;
    sqclaim_rows r;
    claim_ok(a, "251019-164rmb", "BOT1", 60000, &l1);
    claim_ok(a, "251019-200xyz", "BOT3", 60000, &l2);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l1, 5, 51, &r), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    char *pretty = sqclaim_status_json(st, SQCLAIM_JSON_PRETTY);
    ck_assert_ptr_null(strstr(json, l1.token));
    ck_assert_ptr_null(strstr(json, l2.token));
    ck_assert_ptr_null(strstr(json, "token"));
    cJSON *root = cJSON_Parse(json);
    cJSON *proot = cJSON_Parse(pretty);
    ck_assert_ptr_nonnull(root);
    ck_assert_msg(cJSON_Compare(root, proot, 1), "pretty and compact differ");
    static const char *const top[] = {"success",   "sqClaims",     "refundReservations",
                                      "timestamp", "kvConfigured", NULL};
    assert_keys(root, top);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "success")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "kvConfigured")));
    ck_assert(is_iso_ms(cJSON_GetObjectItem(root, "timestamp")->valuestring));

    cJSON *claims = cJSON_GetObjectItem(root, "sqClaims");
    ck_assert_int_eq(cJSON_GetArraySize(claims), 2);
    static const char *const ckeys[] = {"botId", "timestamp", "status", "fence", "ttlMs", NULL};
    cJSON *c1 = cJSON_GetObjectItem(claims, "251019-164rmb");
    ck_assert_ptr_nonnull(c1);
    assert_keys(c1, ckeys);
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "botId")->valuestring, "BOT1");
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "status")->valuestring, "CLAIMING");
    ck_assert(is_iso_ms(cJSON_GetObjectItem(c1, "timestamp")->valuestring));
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(c1, "fence")->valuedouble, l1.fence);
    double ttl = cJSON_GetObjectItem(c1, "ttlMs")->valuedouble;
    ck_assert(ttl > 0 && ttl <= 60000);
    cJSON *c2 = cJSON_GetObjectItem(claims, "251019-200xyz");
    ck_assert_str_eq(cJSON_GetObjectItem(c2, "botId")->valuestring, "BOT3");

    cJSON *res = cJSON_GetObjectItem(root, "refundReservations");
    ck_assert_int_eq(cJSON_GetArraySize(res), 1);
    cJSON *r1 = cJSON_GetObjectItem(res, "251019-164rmb");
    static const char *const rkeys[] = {"botId",     "startRow", "rowCount", "status",
                                        "timestamp", "fence",    "ttlMs",    NULL};
    assert_keys(r1, rkeys);
    ck_assert_str_eq(cJSON_GetObjectItem(r1, "botId")->valuestring, "BOT1");
    ck_assert_int_eq(cJSON_GetObjectItem(r1, "startRow")->valueint, 51);
    ck_assert_int_eq(cJSON_GetObjectItem(r1, "rowCount")->valueint, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(r1, "status")->valuestring, "WRITING");
    cJSON_Delete(root);
    cJSON_Delete(proot);
    sqclaim_free(json);
    sqclaim_free(pretty);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(status_expired_vanish)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    claim_ok(a, "sq-ex", "BOT1", short_ttl(), &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 2, 0, &r), SQCLAIM_OK);
    bool c, res;
    ck_assert(status_has(a, "sq-ex", &c, &res));
    ck_assert(c && res);
    expire(a, "sq-ex", short_ttl());
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 0);
    ck_assert_uint_eq(st->nreservations, 0);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(bot_id_cannot_inject_fields)
{
    sqclaim_store *a = ct_open(), *b = ct_open();
    const char *evil = "BOT1\",\"token\":\"x\",\"fence\":\"9\\";
    const char *uni = "B\xc3\xb6tchen \xf0\x9f\xa4\x96";
    sqclaim_lease l1, l2, l3;
    claim_ok(a, "sq-e1", evil, 60000, &l1);
    claim_ok(a, "sq-e2", uni, 60000, &l2);
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(b, "sq-e1", "BOT2", 60000, &l3, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, evil);
    /* The real token still owns the claim. */
    ck_assert_int_eq(sqclaim_renew(a, &l1, 60000), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    cJSON *c1 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "sqClaims"), "sq-e1");
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "botId")->valuestring, evil);
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(c1, "fence")->valuedouble, l1.fence);
    ck_assert_int_eq(cJSON_GetArraySize(c1), 5);
    cJSON *c2 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "sqClaims"), "sq-e2");
    ck_assert_str_eq(cJSON_GetObjectItem(c2, "botId")->valuestring, uni);
    cJSON_Delete(root);
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keep-alive (real clock)                                              */

static int64_t ka_ttl(void) { return T->fake_clock ? 150 : T->short_ttl_ms; }

struct lost_box {
    atomic_int calls;
    atomic_int why;
};

static void on_lost(const sqclaim_lease *lease, sqclaim_rc why, void *arg)
{
    struct lost_box *box = arg;
    (void)lease;
    atomic_store(&box->why, (int)why);
    atomic_fetch_add(&box->calls, 1);
}

START_TEST(keepalive_keeps_lease_past_ttl)
{
    sqclaim_store *a = ct_open_real(), *b = ct_open_real();
    int64_t ttl = ka_ttl();
    sqclaim_lease l, lb;
    claim_ok(a, "sq-ka1", "BOT1", ttl, &l);
    struct lost_box box = {0, 0};
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, on_lost, &box, &ka), SQCLAIM_OK);
    long long start = real_ms();
    /* Poll until three TTLs have passed and it has renewed several times. */
    while (real_ms() - start < 3 * ttl || sqclaim_keepalive_renewals(ka) < 6) {
        ck_assert_msg(real_ms() - start < 20 * ttl + 5000, "keep-alive renewed %llu times",
                      (unsigned long long)sqclaim_keepalive_renewals(ka));
        ck_assert(!sqclaim_keepalive_lost(ka));
        poll_pause();
    }
    ck_assert(sqclaim_keepalive_may_act(ka));
    ck_assert_int_eq(sqclaim_claim(b, "sq-ka1", "BOT2", ttl, &lb, NULL), SQCLAIM_BUSY);
    int64_t renewed = sqclaim_keepalive_deadline_ns(ka);
    ck_assert_int_gt(renewed, l.deadline_ns);
    ck_assert_int_gt(renewed, sqclaim_now_ns(a));
    sqclaim_lease latest;
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, &latest), SQCLAIM_OK);
    ck_assert_int_ge(latest.deadline_ns, renewed);
    ck_assert_int_eq(atomic_load(&box.calls), 0);
    ck_assert_int_eq(sqclaim_release(a, &latest), SQCLAIM_OK);
}
END_TEST

START_TEST(keepalive_reports_loss)
{
    sqclaim_store *a = ct_open_real(), *b = ct_open_real();
    int64_t ttl = ka_ttl();
    sqclaim_lease l, lb;
    claim_ok(a, "sq-ka2", "BOT1", ttl, &l);
    struct lost_box box = {0, 0};
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, on_lost, &box, &ka), SQCLAIM_OK);
    /* Take the lease away: released from elsewhere, then claimed by BOT2. */
    sqclaim_lease copy = l;
    ck_assert_int_eq(sqclaim_release(b, &copy), SQCLAIM_OK);
    claim_ok(b, "sq-ka2", "BOT2", 60000, &lb);
    long long deadline = real_ms() + 10 * ttl + 5000;
    /* The flag is raised just before the callback runs: wait for both. */
    while (!sqclaim_keepalive_lost(ka) || atomic_load(&box.calls) == 0) {
        ck_assert_msg(real_ms() < deadline, "loss not reported");
        poll_pause();
    }
    ck_assert(!sqclaim_keepalive_may_act(ka));
    ck_assert_int_eq(atomic_load(&box.calls), 1);
    ck_assert_int_eq(atomic_load(&box.why), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, NULL), SQCLAIM_LOST);
    /* BOT2's claim is untouched. */
    ck_assert_int_eq(sqclaim_renew(b, &lb, 60000), SQCLAIM_OK);
}
END_TEST

START_TEST(release_stops_keepalive)
{
    sqclaim_store *a = ct_open_real();
    int64_t ttl = ka_ttl();
    sqclaim_lease l;
    claim_ok(a, "sq-ka3", "BOT1", ttl, &l);
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, NULL, NULL, &ka), SQCLAIM_OK);
    long long start = real_ms();
    while (sqclaim_keepalive_renewals(ka) < 1) {
        ck_assert(real_ms() - start < 10 * ttl + 5000);
        poll_pause();
    }
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
    uint64_t n = sqclaim_keepalive_renewals(ka);
    ck_assert(!sqclaim_keepalive_may_act(ka));
    /* No renewal outlives the release: over two renewal periods the SQ
     * stays free and the count does not move. */
    long long until = real_ms() + 2 * ttl / 3 + 20;
    bool c, r;
    while (real_ms() < until) {
        ck_assert(!status_has(a, "sq-ka3", &c, &r));
        poll_pause();
    }
    ck_assert_uint_eq(sqclaim_keepalive_renewals(ka), n);
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, NULL), SQCLAIM_OK);
}
END_TEST

START_TEST(keepalive_started_late_renews_in_time)
{
    /* Started with little of the lease left, the first renewal must come
     * before the deadline, not a full ttl/3 later. */
    sqclaim_store *a = ct_open_real(), *b = ct_open_real();
    int64_t ttl = ka_ttl() * 2;
    sqclaim_lease l, lb;
    claim_ok(a, "sq-ka4", "BOT1", ttl, &l);
    while (sqclaim_lease_remaining_ms(a, &l) > ttl / 4)
        poll_pause();
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, NULL, NULL, &ka), SQCLAIM_OK);
    long long start = real_ms();
    while (real_ms() - start < 2 * ttl) {
        ck_assert_msg(!sqclaim_keepalive_lost(ka), "lost after %lld ms", real_ms() - start);
        poll_pause();
    }
    ck_assert_int_eq(sqclaim_claim(b, "sq-ka4", "BOT2", ttl, &lb, NULL), SQCLAIM_BUSY);
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, &l), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(a, &l), SQCLAIM_OK);
}
END_TEST

struct stop_race {
    sqclaim_store *s;
    sqclaim_lease lease;
    atomic_int go;
};

static void *release_in_thread(void *varg)
{
    struct stop_race *r = varg;
    while (!atomic_load(&r->go)) {
    }
    sqclaim_release(r->s, &r->lease);
    return NULL;
}

START_TEST(keepalive_stop_races_release_and_close)
{
    /* stop, release and close may run on different threads at once. */
    int rounds = T->fake_clock ? 60 : 6;
    for (int i = 0; i < rounds; i++) {
        sqclaim_store *a = ct_open_real();
        char sq[32];
        snprintf(sq, sizeof sq, "sq-kr%d", i);
        struct stop_race r;
        r.s = a;
        atomic_init(&r.go, 0);
        claim_ok(a, sq, "BOT1", 60000, &r.lease);
        sqclaim_keepalive *ka = NULL;
        ck_assert_int_eq(sqclaim_keepalive_start(a, &r.lease, NULL, NULL, &ka), SQCLAIM_OK);
        pthread_t th;
        pthread_create(&th, NULL, release_in_thread, &r);
        atomic_store(&r.go, 1);
        sqclaim_rc rc = sqclaim_keepalive_stop(ka, NULL);
        ck_assert(rc == SQCLAIM_OK || rc == SQCLAIM_LOST);
        pthread_join(th, NULL);
        bool c, res;
        ck_assert(!status_has(a, sq, &c, &res));
    }
    /* close with a keep-alive running stops it; stop then only frees it. */
    sqclaim_store *a = ct_open_real();
    sqclaim_lease l;
    claim_ok(a, "sq-kc", "BOT1", 60000, &l);
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, NULL, NULL, &ka), SQCLAIM_OK);
    teardown(); /* closes every handle of the test */
    ck_assert(!sqclaim_keepalive_may_act(ka));
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, NULL), SQCLAIM_OK);
}
END_TEST

struct cb_box {
    sqclaim_store *s;
    atomic_int calls;
    atomic_int release_rc;
};

static void release_from_callback(const sqclaim_lease *lease, sqclaim_rc why, void *arg)
{
    struct cb_box *box = arg;
    (void)why;
    sqclaim_lease copy = *lease;
    atomic_store(&box->release_rc, (int)sqclaim_release(box->s, &copy));
    atomic_fetch_add(&box->calls, 1);
}

START_TEST(keepalive_callback_may_release)
{
    sqclaim_store *a = ct_open_real(), *b = ct_open_real();
    int64_t ttl = ka_ttl();
    sqclaim_lease l, lb;
    claim_ok(a, "sq-ka5", "BOT1", ttl, &l);
    struct cb_box box = {a, 0, 99};
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, release_from_callback, &box, &ka), SQCLAIM_OK);
    sqclaim_lease copy = l;
    ck_assert_int_eq(sqclaim_release(b, &copy), SQCLAIM_OK);
    claim_ok(b, "sq-ka5", "BOT2", 60000, &lb);
    long long deadline = real_ms() + 10 * ttl + 5000;
    while (atomic_load(&box.calls) == 0) {
        ck_assert_msg(real_ms() < deadline, "callback not called");
        poll_pause();
    }
    ck_assert_int_eq(atomic_load(&box.release_rc), SQCLAIM_LOST); /* not ours any more */
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, NULL), SQCLAIM_LOST);
    ck_assert_int_eq(sqclaim_renew(b, &lb, 60000), SQCLAIM_OK); /* BOT2 untouched */
}
END_TEST

START_TEST(keepalive_needs_live_lease)
{
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    memset(&l, 0, sizeof l);
    sqclaim_keepalive *ka = (sqclaim_keepalive *)&l;
    ck_assert_int_eq(sqclaim_keepalive_start(a, &l, NULL, NULL, &ka), SQCLAIM_EINVAL);
    ck_assert_ptr_null(ka);
    ck_assert_int_eq(sqclaim_keepalive_stop(NULL, NULL), SQCLAIM_OK);
}
END_TEST

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

START_TEST(invalid_sq_ids)
{
    sqclaim_store *a = ct_open();
    char long_id[SQCLAIM_SQ_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
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
    memset(max_id, 'Z', sizeof max_id - 1);
    max_id[sizeof max_id - 1] = '\0';
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
    memset(long_bot, 'b', sizeof long_bot - 1);
    long_bot[sizeof long_bot - 1] = '\0';
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
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    claim_ok(a, "sq-1", "BOT1", 60000, &l);
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
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    claim_ok(a, "sq-1", "BOT1", 60000, &l);
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

/* ------------------------------------------------------------------ */
/* Concurrency: many threads, many claims on few SQs, no double grant   */

#define RACE_THREADS 8
#define RACE_SQS     3
struct race {
    atomic_int inside[RACE_SQS];
    atomic_int doubles, grants, busy, errors;
    int iters;
};
struct race_arg {
    struct race *r;
    int id;
    sqclaim_store *s;
};

static void *race_worker(void *varg)
{
    struct race_arg *a = varg;
    struct race *r = a->r;
    char bot[16];
    snprintf(bot, sizeof bot, "BOT%d", a->id);
    unsigned seed = (unsigned)a->id + 17;
    for (int i = 0; i < r->iters; i++) {
        int k = (int)(rand_r(&seed) % RACE_SQS);
        char sq[16];
        snprintf(sq, sizeof sq, "race-%d", k);
        sqclaim_lease l;
        sqclaim_rc rc;
        if (i % 4 == 3) {
            const char *list[RACE_SQS] = {"race-0", "race-1", "race-2"};
            rc = sqclaim_claim_first(a->s, list, RACE_SQS, bot, 60000, &l, NULL);
            if (rc == SQCLAIM_OK)
                k = l.sq[5] - '0';
        } else {
            rc = sqclaim_claim(a->s, sq, bot, 60000, &l, NULL);
        }
        if (rc == SQCLAIM_BUSY) {
            atomic_fetch_add(&r->busy, 1);
            continue;
        }
        if (rc != SQCLAIM_OK) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        atomic_fetch_add(&r->grants, 1);
        if (atomic_fetch_add(&r->inside[k], 1) != 0)
            atomic_fetch_add(&r->doubles, 1);
        struct timespec work = {0, 50 * 1000}; /* 50 us of "work" inside */
        nanosleep(&work, NULL);
        atomic_fetch_sub(&r->inside[k], 1);
        if (sqclaim_release(a->s, &l) != SQCLAIM_OK)
            atomic_fetch_add(&r->errors, 1);
    }
    return NULL;
}

START_TEST(concurrent_claims_no_double_grant)
{
    struct race r;
    memset(&r, 0, sizeof r);
    r.iters = (int)(400 * T->scale) + 20;
    pthread_t th[RACE_THREADS];
    struct race_arg args[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        args[i] = (struct race_arg){&r, i, ct_open()};
        pthread_create(&th[i], NULL, race_worker, &args[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&r.doubles), 0);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ck_assert_int_gt(atomic_load(&r.grants), 0);
    ck_assert_int_eq(atomic_load(&r.grants) + atomic_load(&r.busy), RACE_THREADS * r.iters);
}
END_TEST

START_TEST(shared_handle_between_threads)
{
    /* One handle used by several threads at once is safe (serialised). */
    struct race r;
    memset(&r, 0, sizeof r);
    r.iters = (int)(200 * T->scale) + 10;
    sqclaim_store *s = ct_open();
    pthread_t th[4];
    struct race_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct race_arg){&r, i, s};
        pthread_create(&th[i], NULL, race_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ck_assert_int_eq(atomic_load(&r.doubles), 0);
    ck_assert_int_gt(atomic_load(&r.grants), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Operator tools                                                       */

START_TEST(break_live_claim_needs_force)
{
    sqclaim_store *a = ct_open(), *op = ct_open();
    sqclaim_lease l, l2;
    sqclaim_rows r;
    claim_ok(a, "sq-k1", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 4, 0, &r), SQCLAIM_OK);
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
    claim_ok(a, "sq-c1", "BOT1", 60000, &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 5, 0, &r), SQCLAIM_OK);
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
    claim_ok(a, "sq-c2", "BOT1", 60000, &l2);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l2, 2, 0, &r2), SQCLAIM_OK);
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
    sqclaim_store *a = ct_open(), *b = ct_open();
    sqclaim_lease la, lb;
    sqclaim_rows r;
    claim_ok(a, "sq-x", "BOT1", 1000, &la);
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
    sqclaim_store *a = ct_open();
    sqclaim_lease l1, l2, l3;
    sqclaim_rows r1, r2, r3;
    claim_ok(a, "sq-r1", "BOT1", 60000, &l1);
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
    claim_ok(a, "sq-s1", "BOT1", 60000, &l1);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l1, 3, 0, &r1), SQCLAIM_OK);
    uint64_t next = r1.start_row + 3;
    /* A seed-era bot's live rows just above our cursor (no token). */
    char v[256];
    snprintf(v, sizeof v,
             "{\"botId\":\"SEEDBOT\",\"startRow\":%llu,\"rowCount\":5,\"status\":\"WRITING\","
             "\"timestamp\":\"2025-10-26T12:00:00.000Z\"}",
             (unsigned long long)(next + 2));
    raw_set("refund:SEED-1", v, 60000);
    claim_ok(a, "sq-s2", "BOT1", 60000, &l2);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l2, 20, 0, &r2), SQCLAIM_OK);
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
    sqclaim_store *a = ct_open();
    sqclaim_lease l;
    sqclaim_rows r;
    claim_ok(a, "sq-lo", "BOT2", 60000, &l);
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

/* ------------------------------------------------------------------ */
/* Retries converge under dropped replies (targets with faults)         */

START_TEST(retries_converge_under_drops)
{
    /* Half of the replies are thrown away after the store applied the
     * request.  Every operation must still answer what happened: never
     * LOST while the claim is ours, never a grant or a range twice. */
    ck_assert_int_eq(T->faults("{\"drop_rate\":0.5,\"fail_rate\":0,\"seed\":42}"), 0);
    sqclaim_options o;
    sqclaim_options_init(&o);
    T->options(&o, ns);
    o.retries = 10;
    sqclaim_store *a = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &a), SQCLAIM_OK);
    handles[nhandles++] = a;
    uint64_t last_fence = 0, last_end = 0;
    for (int i = 0; i < 12; i++) {
        char sq[16];
        snprintf(sq, sizeof sq, "sq-d%d", i);
        sqclaim_lease l;
        sqclaim_rows r;
        sqclaim_rc rc = sqclaim_claim(a, sq, "BOT1", 60000, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_OK, "claim %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
        ck_assert_uint_gt(l.fence, last_fence);
        last_fence = l.fence;
        rc = sqclaim_renew(a, &l, 60000);
        ck_assert_msg(rc == SQCLAIM_OK, "renew %d: %s", i, sqclaim_errmsg(a));
        rc = sqclaim_reserve_rows(a, &l, 3, 0, &r);
        ck_assert_msg(rc == SQCLAIM_OK, "reserve %d: %s", i, sqclaim_errmsg(a));
        ck_assert_uint_ge(r.start_row, last_end);
        last_end = r.start_row + r.count;
        rc = sqclaim_finish_rows(a, &l);
        ck_assert_msg(rc == SQCLAIM_OK, "finish %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
        rc = sqclaim_release(a, &l);
        ck_assert_msg(rc == SQCLAIM_OK, "release %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
    }
    sqclaim_stats st;
    sqclaim_stats_get(a, &st);
    ck_assert_msg(st.ambiguous >= 10, "only %llu replies were lost: the test proves nothing",
                  (unsigned long long)st.ambiguous);
    ck_assert_int_eq(T->faults("{\"drop_rate\":0}"), 0);
    bool c, res;
    ck_assert(!status_has(a, "sq-d0", &c, &res));
}
END_TEST

/* ------------------------------------------------------------------ */

Suite *contract_suite(const ct_target *t)
{
    T = t;
    Suite *s = suite_create(t->name);
    struct {
        const char *name;
        const TTest *tests[16];
    } groups[] = {
        {"claims",
         {claim_grants_lease, claim_default_ttl, claim_exclusive_busy_names_holder,
          release_then_claim, release_by_non_owner_refused, renew_by_non_owner_refused,
          release_after_expiry_lost, renew_after_expiry_lost_not_revived, renew_extends,
          fence_strictly_increases, claim_retry_idempotent, claim_first_skips_held_keeps_order,
          claim_first_all_busy, claim_first_retry_finds_own_grant,
          claim_retry_of_rebuilt_lease_keeps_store_deadline, NULL}},
        {"uncertain", {abandon_uncertain_claim_first, NULL}},
        {"rows",
         {reserve_basic, reserve_hints_below_and_above_cursor, reserve_sequential_no_overlap,
          reserve_idempotent_and_busy, reserve_only_holder, finish_only_holder,
          release_removes_reservation, renew_extends_reservation, reserve_concurrent_no_overlap,
          reserve_takes_bot_from_claim, finish_range_spares_next_reservation, NULL}},
        {"status",
         {status_empty_is_seed_shape, status_shape_exact_no_token, status_expired_vanish,
          bot_id_cannot_inject_fields, NULL}},
        {"keepalive",
         {keepalive_keeps_lease_past_ttl, keepalive_reports_loss, release_stops_keepalive,
          keepalive_started_late_renews_in_time, keepalive_stop_races_release_and_close,
          keepalive_callback_may_release, keepalive_needs_live_lease, NULL}},
        {"validation",
         {invalid_sq_ids, valid_sq_ids, invalid_bot_ids, invalid_ttls, invalid_rows,
          invalid_candidates, invalid_leases, NULL}},
        {"concurrency", {concurrent_claims_no_double_grant, shared_handle_between_threads, NULL}},
        {"operator",
         {break_live_claim_needs_force, break_never_removes_what_was_not_shown,
          counters_and_raise_cursor, NULL}},
        {"expiry", {t->fake_clock ? expiry_exact_instant : NULL, NULL}},
        {"store",
         {t->raw ? lost_fence_counter_never_goes_back : NULL,
          lost_row_cursor_never_overlaps_live_rows, helper_keys_of_wrong_type_are_named,
          foreign_reservations_are_stepped_over, leftover_reservation_of_ended_claim_is_replaced,
          status_shows_every_blocker, NULL}},
        {"faults", {t->faults ? retries_converge_under_drops : NULL, NULL}},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        if (!groups[g].tests[0])
            continue; /* a group this target cannot run (no fake clock, no raw access) */
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        for (size_t i = 0; groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        suite_add_tcase(s, tc);
    }
    return s;
}
