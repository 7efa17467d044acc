/* oracle_test.c — the simulator's oracle on known histories.
 *
 * Like Knossos' and Porcupine's known-bad histories: each case builds a
 * small history (or drives the online oracle directly) and asserts the
 * verdict, so a checker that never fails cannot pass these tests.  Times
 * are in milliseconds from an arbitrary origin. */
#include "oracle.h"
#include "simutil.h"
#include "tcase.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MS(x) ((int64_t)(x)*1000000 + 1000000000000LL)

static sim_history h[4];
static sim_violations vs;
static sim_check_stats cst;

static void setup(void)
{
    memset(h, 0, sizeof h);
    sim_violations_init(&vs, MS(0));
}

static void teardown(void)
{
    for (int i = 0; i < 4; i++)
        sim_history_free(&h[i]);
    sim_violations_destroy(&vs);
}

static sim_event *ev(int bot, enum sim_op op, enum sim_outcome out, int64_t t0, int64_t t1, int sq,
                     uint32_t lease, uint64_t fence)
{
    sim_event *e = sim_history_add(&h[bot]);
    ck_assert_ptr_nonnull(e);
    e->op = (uint8_t)op;
    e->outcome = (uint8_t)out;
    e->invoke_ns = MS(t0);
    e->complete_ns = MS(t1);
    e->bot = (uint16_t)bot;
    e->sq = (uint16_t)sq;
    e->lease = lease;
    e->fence = fence;
    return e;
}

/* A granted claim whose local deadline is `deadline` ms. */
static void grant(int bot, int64_t t0, int64_t t1, int sq, uint32_t lease, uint64_t fence,
                  int64_t deadline)
{
    ev(bot, OP_CLAIM, OUT_OK, t0, t1, sq, lease, fence)->aux = MS(deadline);
}

/* A reservation or a write of rows start..start+count-1. */
static sim_event *rows_ev(int bot, enum sim_op op, enum sim_outcome out, int64_t t0, int sq,
                          uint32_t lease, uint64_t fence, uint64_t start, uint32_t count)
{
    sim_event *e = ev(bot, op, out, t0, t0 + 1, sq, lease, fence);
    e->aux = (int64_t)start;
    e->rows = count;
    return e;
}

static void release(int bot, int64_t t0, int sq, uint32_t lease, uint64_t fence)
{
    ev(bot, OP_RELEASE, OUT_OK, t0, t0 + 1, sq, lease, fence);
}

static uint64_t check(int nbots)
{
    sim_check_histories(h, nbots, 4, &vs, &cst);
    return atomic_load(&vs.count);
}

static uint64_t kind(enum sim_vkind k) { return atomic_load(&vs.by_kind[k]); }

/* ---- the history sweep ------------------------------------------------ */

START_TEST(sequential_leases_pass)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    release(0, 40, 0, 1, 1);
    grant(1, 41, 42, 0, 1, 2, 140);
    release(1, 80, 0, 1, 2);
    grant(0, 90, 91, 0, 2, 3, 190);
    ck_assert_uint_eq(check(2), 0);
    ck_assert_uint_eq(cst.intervals, 3);
}
END_TEST

START_TEST(overlap_is_caught)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    release(0, 60, 0, 1, 1);
    grant(1, 40, 41, 0, 1, 2, 140); /* granted while BOT1 still believed */
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_OVERLAP), 1);
    ck_assert_int_eq(vs.v[0].sq, 0);
    ck_assert_int_eq(vs.v[0].bot_a, 0);
    ck_assert_int_eq(vs.v[0].bot_b, 1);
    ck_assert_ptr_nonnull(strstr(vs.v[0].text, "held by two bots at once"));
}
END_TEST

START_TEST(other_sqs_do_not_overlap)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    grant(1, 0, 1, 1, 1, 2, 100);
    grant(2, 0, 1, 2, 1, 3, 100);
    ck_assert_uint_eq(check(3), 0);
}
END_TEST

START_TEST(deadline_ends_belief)
{
    /* BOT1 crashed (no release); its belief ends at its deadline, 50. */
    grant(0, 0, 1, 0, 1, 1, 50);
    ev(0, OP_CRASH, OUT_OK, 10, 10, 0, 1, 1);
    grant(1, 55, 56, 0, 1, 2, 150);
    ck_assert_uint_eq(check(2), 0);
}
END_TEST

/* A later lease of the SQ with a lower (_i 0) or the same (_i 1) fence. */
START_TEST(fence_not_above_the_previous_is_caught)
{
    grant(0, 0, 1, 0, 1, 5, 100);
    release(0, 20, 0, 1, 5);
    grant(1, 30, 31, 0, 1, 4 + (uint64_t)_i, 130);
    /* Both the believed intervals and the grants' real-time order show it. */
    ck_assert_uint_eq(check(2), 2);
    ck_assert_uint_eq(kind(V_FENCE_ORDER), 1);
    ck_assert_uint_eq(kind(V_GRANT_FENCE), 1);
}
END_TEST

/* A grant whose belief interval is empty (its claim returned after its
 * local deadline, so it never acted) still carries a fence: a later claim,
 * invoked after that grant returned, must get a higher one. */
START_TEST(fence_back_after_a_grant_never_believed_is_caught)
{
    grant(0, 0, 30, 0, 1, 5, 20); /* returned at 30, deadline 20: empty */
    release(0, 31, 0, 1, 5);
    grant(1, 40, 41, 0, 1, 4, 140);
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_GRANT_FENCE), 1);
    ck_assert_int_eq(vs.v[0].bot_a, 0);
    ck_assert_int_eq(vs.v[0].bot_b, 1);
    ck_assert_ptr_nonnull(strstr(vs.v[0].text, "fence 4"));
}
END_TEST

/* The grant sweep (sorted, with a heap) against the definition checked
 * pair by pair, on random histories: each claim invoked after grants with
 * a fence not below its own had returned is one violation. */
START_TEST(grant_order_matches_brute_force)
{
    sim_rng rng;
    sim_rng_seed(&rng, 77, (uint64_t)_i);
    enum { N = 300 };
    int64_t inv[N], cpl[N];
    uint64_t fence[N];
    int sq[N];
    for (int k = 0; k < N; k++) {
        int bot = (int)sim_rng_below(&rng, 4);
        inv[k] = (int64_t)sim_rng_below(&rng, 1000);
        cpl[k] = inv[k] + 1 + (int64_t)sim_rng_below(&rng, 30);
        fence[k] = 1 + sim_rng_below(&rng, 400);
        sq[k] = (int)sim_rng_below(&rng, 2);
        /* Deadline 0: no belief interval, only the grant is checked. */
        grant(bot, inv[k], cpl[k], sq[k], (uint32_t)k + 1, fence[k], -1000000);
    }
    uint64_t expected = 0;
    for (int x = 0; x < N; x++) {
        bool bad = false;
        for (int g = 0; g < N && !bad; g++)
            bad = sq[g] == sq[x] && cpl[g] < inv[x] && fence[g] >= fence[x];
        expected += bad;
    }
    check(4);
    ck_assert_uint_eq(kind(V_GRANT_FENCE), expected);
    ck_assert_uint_eq(cst.intervals, 0);
}
END_TEST

/* Claims that overlap in real time may be applied in either order: no
 * fence order is implied between them. */
START_TEST(concurrent_claims_imply_no_fence_order)
{
    grant(0, 0, 30, 0, 1, 5, 20);  /* applied second, returned late */
    grant(1, 10, 11, 0, 1, 4, 15); /* applied first; belief ends at 15 */
    ck_assert_uint_eq(check(2), 0);
}
END_TEST

START_TEST(uncertain_claim_is_never_believed)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    ev(1, OP_CLAIM, OUT_INFO, 20, 5020, 0, 1, 0); /* reply lost */
    ck_assert_uint_eq(check(2), 0);
}
END_TEST

START_TEST(refused_claims_are_not_intervals)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    ev(1, OP_CLAIM, OUT_FAIL, 20, 21, 0, 1, 0);
    ck_assert_uint_eq(check(2), 0);
    ck_assert_uint_eq(cst.intervals, 1);
}
END_TEST

START_TEST(keepalive_extends_belief)
{
    grant(0, 0, 1, 0, 1, 1, 30);
    ev(0, OP_KA_START, OUT_OK, 2, 3, 0, 1, 1);
    ev(0, OP_KA_STOP, OUT_OK, 80, 81, 0, 1, 1)->aux = MS(110);
    release(0, 90, 0, 1, 1);
    grant(1, 60, 61, 0, 1, 2, 160); /* after the first deadline, before release */
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_OVERLAP), 1);
}
END_TEST

START_TEST(renew_in_time_extends_belief)
{
    grant(0, 0, 1, 0, 1, 1, 30);
    ev(0, OP_RENEW, OUT_OK, 20, 21, 0, 1, 1)->aux = MS(70);
    grant(1, 50, 51, 0, 1, 2, 150);
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_OVERLAP), 1);
}
END_TEST

START_TEST(lost_renew_ends_belief)
{
    grant(0, 0, 1, 0, 1, 1, 100);
    ev(0, OP_RENEW, OUT_FAIL, 20, 21, 0, 1, 1); /* LOST: someone else has it */
    grant(1, 30, 31, 0, 1, 2, 150);
    ck_assert_uint_eq(check(2), 0);
}
END_TEST

START_TEST(revived_lease_after_successor_is_caught)
{
    /* BOT1 paused past its TTL; BOT2 held the SQ and released; BOT1's
     * renewal brought its old lease (fence 1) back: the fence went back. */
    grant(0, 0, 1, 0, 1, 1, 20);
    grant(1, 25, 26, 0, 1, 2, 60);
    release(1, 40, 0, 1, 2);
    ev(0, OP_RENEW, OUT_OK, 50, 51, 0, 1, 1)->aux = MS(90);
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_FENCE_ORDER), 1);
}
END_TEST

/* A write the store rejected as stale at 50 ms: a violation while the
 * bot still believed its lease (deadline 100 ms), expected once the
 * deadline (30 ms) had passed. */
static const struct {
    const char *name;
    int64_t deadline_ms;
    unsigned violations;
} stale_cases[] = {
    {"stale write inside belief is caught", 100, 1},
    {"stale write after deadline is expected", 30, 0},
};
#define NSTALE (sizeof stale_cases / sizeof stale_cases[0])

START_TEST(stale_write_rejected)
{
    grant(0, 0, 1, 0, 1, 1, stale_cases[_i].deadline_ms);
    rows_ev(0, OP_WRITE, OUT_FAIL, 50, 0, 1, 1, 10, 2)->flags = EVF_REJECTED;
    ck_assert_msg(check(1) == stale_cases[_i].violations, "%s", stale_cases[_i].name);
    ck_assert_uint_eq(kind(V_STALE_BELIEVED), stale_cases[_i].violations);
}
END_TEST

START_TEST(overlapping_reservations_are_caught)
{
    rows_ev(0, OP_RESERVE, OUT_OK, 0, 0, 1, 1, 10, 5); /* 10-14 */
    rows_ev(1, OP_RESERVE, OUT_OK, 0, 1, 1, 2, 14, 3); /* 14-16 */
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_ROW_OVERLAP), 1);
    ck_assert_uint_eq(vs.v[0].row_start, 14);
    ck_assert_uint_eq(vs.v[0].rows, 1);
}
END_TEST

START_TEST(adjacent_reservations_and_retries_pass)
{
    rows_ev(0, OP_RESERVE, OUT_OK, 0, 0, 1, 1, 10, 5);
    rows_ev(0, OP_RESERVE, OUT_OK, 2, 0, 1, 1, 10, 5); /* idempotent retry */
    rows_ev(1, OP_RESERVE, OUT_OK, 0, 1, 1, 2, 15, 3);
    ck_assert_uint_eq(check(2), 0);
}
END_TEST

START_TEST(row_written_twice_is_caught)
{
    rows_ev(0, OP_WRITE, OUT_OK, 0, 0, 1, 1, 10, 2);
    rows_ev(1, OP_WRITE, OUT_OK, 5, 1, 1, 2, 11, 1);
    ck_assert_uint_eq(check(2), 1);
    ck_assert_uint_eq(kind(V_ROW_TWICE), 1);
}
END_TEST

START_TEST(synthetic_history_is_clean)
{
    ck_assert_int_eq(sim_synth_history(h, 4, 8, 200000, 7), 0);
    ck_assert_uint_eq(check(4), 0);
    ck_assert_uint_ge(cst.events, 200000);
    ck_assert_uint_gt(cst.intervals, 30000);
}
END_TEST

/* The oracle's own cost: 1 000 000 events well under a second of CPU.
 * Sanitizers and valgrind slow everything down, so only timed in a plain
 * build (and not when SQSIM_NO_PERF is set). */
START_TEST(million_events_under_a_second)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#endif
    const char *pre = getenv("LD_PRELOAD");
    if (getenv("SQSIM_NO_PERF") || (pre && strstr(pre, "vgpreload")))
        return; /* asked not to, or under valgrind */
    sim_history big[16];
    memset(big, 0, sizeof big);
    ck_assert_int_eq(sim_synth_history(big, 16, 64, 1000000, 1), 0);
    sim_check_histories(big, 16, 64, &vs, &cst);
    for (int i = 0; i < 16; i++)
        sim_history_free(&big[i]);
    ck_assert_uint_eq(atomic_load(&vs.count), 0);
    ck_assert_uint_ge(cst.events, 1000000);
    ck_assert_msg(cst.cpu_ns < 500000000, "1M events took %.1f ms CPU", (double)cst.cpu_ns / 1e6);
}
END_TEST

/* ---- the online oracle -------------------------------------------------- */

static sim_oracle orc;

static void osetup(void)
{
    sim_violations_init(&vs, 0);
    ck_assert_int_eq(sim_oracle_init(&orc, 4, 4, &vs), 0);
}

static void oteardown(void)
{
    sim_oracle_destroy(&orc);
    sim_violations_destroy(&vs);
}

static uint32_t lease_rec(int bot, int sq, uint32_t lease, uint64_t fence, int64_t start,
                          int64_t deadline)
{
    uint32_t idx;
    sim_lease_rec *r = sim_oracle_new_lease(&orc, bot, &idx);
    ck_assert_ptr_nonnull(r);
    r->sq = sq;
    r->lease = lease;
    r->fence = fence;
    r->start_ns = start;
    atomic_store(&r->deadline_ns, deadline);
    return idx;
}

/* BOT1 enters lease a, then BOT2 lease b on the same SQ: the second
 * entry is the violation, reported at once (marked online, the run told
 * to stop).  Times are ns from now. */
static const struct {
    const char *name;
    int sq;
    uint64_t fence_a, fence_b;
    int64_t a_start, a_deadline, b_start, b_deadline;
    enum sim_vkind kind;
} online_cases[] = {
    /* Both leases live at once. */
    {"overlap", 1, 1, 2, 0, 1000000000LL, 1000, 1000000000LL, V_OVERLAP},
    /* BOT1's lease ended 10 ms ago; BOT2's fence is lower than BOT1's. */
    {"fence back", 0, 7, 6, -50000000, -10000000, 0, 50000000, V_FENCE_ORDER},
};

START_TEST(online_violation_reported_at_once)
{
    int64_t now = sim_now_ns();
    uint32_t a = lease_rec(0, online_cases[_i].sq, 1, online_cases[_i].fence_a,
                           now + online_cases[_i].a_start, now + online_cases[_i].a_deadline);
    ck_assert_int_eq(sim_oracle_enter(&orc, 0, a), 0);
    uint32_t b = lease_rec(1, online_cases[_i].sq, 1, online_cases[_i].fence_b,
                           now + online_cases[_i].b_start, now + online_cases[_i].b_deadline);
    ck_assert_msg(sim_oracle_enter(&orc, 1, b) == 1, "%s: not reported", online_cases[_i].name);
    ck_assert_uint_eq(kind(online_cases[_i].kind), 1);
    ck_assert(vs.v[0].online);
    ck_assert(atomic_load(&vs.stop));
}
END_TEST

START_TEST(online_takeover_after_expiry)
{
    int64_t now = sim_now_ns();
    /* BOT1's lease ended 10 ms ago without a release (it crashed). */
    uint32_t a = lease_rec(0, 2, 1, 1, now - 50000000, now - 10000000);
    ck_assert_int_eq(sim_oracle_enter(&orc, 0, a), 0);
    uint32_t b = lease_rec(1, 2, 1, 2, now, now + 50000000);
    ck_assert_int_eq(sim_oracle_enter(&orc, 1, b), 0);
    ck_assert_uint_eq(atomic_load(&orc.takeovers), 1);
    /* BOT2 releases normally: the next grant is not a takeover. */
    sim_oracle_leave(&orc, 1, b, false);
    uint32_t c = lease_rec(2, 2, 1, 3, sim_now_ns() + 1, sim_now_ns() + 50000000);
    ck_assert_int_eq(sim_oracle_enter(&orc, 2, c), 0);
    ck_assert_uint_eq(atomic_load(&orc.takeovers), 1);
    ck_assert_uint_eq(atomic_load(&vs.count), 0);
}
END_TEST

START_TEST(online_rows_and_fences)
{
    int64_t now = sim_now_ns();
    uint32_t a = lease_rec(0, 0, 1, 1, now, now + 1000000000LL);
    sqclaim_rows ra = {.start_row = 10, .count = 3, .fence = 1};
    sim_oracle_reserved(&orc, 0, a, &ra);
    bool believed, rejected;
    ck_assert(sim_oracle_write(&orc, 0, a, &believed, &rejected));
    ck_assert(believed);
    ck_assert(!rejected);
    ck_assert_uint_eq(atomic_load(&vs.count), 0);

    /* A newer lease on the same SQ writes; then the old one, still inside
     * its deadline, is rejected: that is a violation. */
    uint32_t b = lease_rec(1, 0, 1, 2, now, now + 1000000000LL);
    sqclaim_rows rb = {.start_row = 13, .count = 2, .fence = 2};
    sim_oracle_reserved(&orc, 1, b, &rb);
    ck_assert(sim_oracle_write(&orc, 1, b, &believed, &rejected));
    ck_assert(!sim_oracle_write(&orc, 0, a, &believed, &rejected));
    ck_assert(rejected);
    ck_assert(believed);
    ck_assert_uint_eq(kind(V_STALE_BELIEVED), 1);
    ck_assert_uint_eq(atomic_load(&orc.stale_writes), 1);

    /* A reservation overlapping row 14. */
    uint32_t c = lease_rec(2, 1, 1, 3, now, now + 1000000000LL);
    sqclaim_rows rc = {.start_row = 14, .count = 4, .fence = 3};
    sim_oracle_reserved(&orc, 2, c, &rc);
    ck_assert_uint_eq(kind(V_ROW_OVERLAP), 1);
    /* Its write lands on BOT2's row 14: written by a non-reserver. */
    ck_assert(sim_oracle_write(&orc, 2, c, &believed, &rejected));
    ck_assert_uint_eq(kind(V_ROW_FOREIGN), 1);
    /* A reservation whose fence is not its lease's. */
    uint32_t d = lease_rec(3, 3, 1, 9, now, now + 1000000000LL);
    sqclaim_rows rd = {.start_row = 100, .count = 1, .fence = 8};
    sim_oracle_reserved(&orc, 3, d, &rd);
    ck_assert_uint_eq(kind(V_ROWS_FENCE), 1);
}
END_TEST

START_TEST(online_stale_write_after_lapse_is_expected)
{
    int64_t now = sim_now_ns();
    uint32_t a = lease_rec(0, 0, 1, 1, now - 100000000, now - 50000000);
    sqclaim_rows ra = {.start_row = 1, .count = 1, .fence = 1};
    sim_oracle_reserved(&orc, 0, a, &ra);
    uint32_t b = lease_rec(1, 0, 1, 2, now, now + 100000000);
    sqclaim_rows rb = {.start_row = 2, .count = 1, .fence = 2};
    sim_oracle_reserved(&orc, 1, b, &rb);
    bool believed, rejected;
    ck_assert(sim_oracle_write(&orc, 1, b, &believed, &rejected));
    ck_assert(!sim_oracle_write(&orc, 0, a, &believed, &rejected));
    ck_assert(rejected);
    ck_assert(!believed);
    ck_assert_uint_eq(atomic_load(&vs.count), 0);
    ck_assert_uint_eq(atomic_load(&orc.stale_writes), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sqsim-oracle");
    TCase *tc = TCASE_ADD(
        s, ((tcase_spec){.name = "sweep", .timeout = 60, .setup = setup, .teardown = teardown}),
        sequential_leases_pass, overlap_is_caught, other_sqs_do_not_overlap, deadline_ends_belief,
        fence_back_after_a_grant_never_believed_is_caught, concurrent_claims_imply_no_fence_order,
        uncertain_claim_is_never_believed, refused_claims_are_not_intervals,
        keepalive_extends_belief, renew_in_time_extends_belief, lost_renew_ends_belief,
        revived_lease_after_successor_is_caught, overlapping_reservations_are_caught,
        adjacent_reservations_and_retries_pass, row_written_twice_is_caught,
        synthetic_history_is_clean, million_events_under_a_second);
    tcase_add_loop_test(tc, fence_not_above_the_previous_is_caught, 0, 2);
    tcase_add_loop_test(tc, grant_order_matches_brute_force, 0, 5);
    tcase_add_loop_test(tc, stale_write_rejected, 0, (int)NSTALE);

    tc = TCASE_ADD(s, ((tcase_spec){.name = "online", .setup = osetup, .teardown = oteardown}),
                   online_takeover_after_expiry, online_rows_and_fences,
                   online_stale_write_after_lapse_is_expected);
    tcase_add_loop_test(tc, online_violation_reported_at_once, 0,
                        (int)(sizeof online_cases / sizeof online_cases[0]));
    return s;
}

int main(void) { return run_suite(suite()); }
