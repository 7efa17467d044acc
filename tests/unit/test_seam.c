/* test_seam.c — the core's private seam (core/seam.h) on the memory
 * backend with an injected clock: tokens, the wall clock and decisions come
 * from the seam, and keep-alives run without a thread, stepped by the
 * caller; a handle without a seam is unchanged. */
#include "internal.h"
#include "seam.h"
#include "tcase.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake {
    int64_t now;
    int tokens, starts, stops, adjusts;
    int64_t first_ms;
    sqclaim_keepalive *ka;
} fake;

static int64_t fake_now(void *ctx) { return ((fake *)ctx)->now; }

static int fake_token(void *ctx, char *buf)
{
    fake *f = ctx;
    snprintf(buf, SQCLAIM_TOKEN_LEN + 1, "%032x", ++f->tokens);
    return 0;
}

static uint64_t fake_rand(void *ctx)
{
    (void)ctx;
    return 42;
}

static int64_t fake_unix(void *ctx)
{
    (void)ctx;
    return 1700000000000;
}

static void fake_start(void *ctx, sqclaim_keepalive *ka, int64_t first_ms)
{
    fake *f = ctx;
    f->starts++;
    f->first_ms = first_ms;
    f->ka = ka;
}

static void fake_stop(void *ctx, sqclaim_keepalive *ka)
{
    fake *f = ctx;
    ck_assert_ptr_eq(ka, f->ka);
    f->stops++;
}

static int64_t fake_adjust(void *ctx, sqc_point p, int64_t v, const sqc_point_info *i)
{
    fake *f = ctx;
    f->adjusts++;
    if (p == SQC_PT_DEADLINE_GRANT) {
        ck_assert_int_eq(i->ttl_ms, 3000);
        return i->sent_ns + 1234;
    }
    return v;
}

static int lost_calls;
static void on_lost(const sqclaim_lease *l, sqclaim_rc why, void *arg)
{
    (void)l;
    (void)arg;
    ck_assert_int_eq(why, SQCLAIM_LOST);
    lost_calls++;
}

static sqclaim_store *open_mem(fake *f, const char *space)
{
    sqclaim_clock clk = {fake_now, f};
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "memory";
    o.memory_space = space;
    o.clock = &clk;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    return s;
}

/* open_mem() with the seam given (its ctx: the fake), and 251019-164rmb
 * claimed for BOT1 (3 s). */
static sqclaim_store *open_seamed_claimed(fake *f, const char *space, sqc_seam *seam,
                                          sqclaim_lease *l)
{
    sqclaim_store *s = open_mem(f, space);
    seam->ctx = f;
    sqc_seam_set(s, seam);
    ck_assert_int_eq(sqclaim_claim(s, "251019-164rmb", "BOT1", 3000, l, NULL), SQCLAIM_OK);
    return s;
}

START_TEST(seam_supplies_tokens_and_decisions)
{
    fake f = {.now = 1000000000};
    sqc_seam seam = {
        .token = fake_token, .rand64 = fake_rand, .unix_ms = fake_unix, .adjust = fake_adjust};
    sqclaim_lease l;
    sqclaim_store *s = open_seamed_claimed(&f, "seam-1", &seam, &l);
    ck_assert_str_eq(l.token, "00000000000000000000000000000001");
    ck_assert_int_eq(l.deadline_ns, l.sent_ns + 1234); /* the substituted decision */
    ck_assert_int_eq(l.expires_unix_ms, 1700000000000 + 3000);
    ck_assert_int_gt(f.adjusts, 0);
    sqclaim_close(s);
}
END_TEST

START_TEST(keepalive_without_thread)
{
    fake f = {.now = 1000000000};
    sqc_seam seam = {
        .token = fake_token, .rand64 = fake_rand, .ka_start = fake_start, .ka_stop = fake_stop};
    sqclaim_lease l;
    sqclaim_store *s = open_seamed_claimed(&f, "seam-2", &seam, &l);
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(s, &l, on_lost, NULL, &ka), SQCLAIM_OK);
    ck_assert_int_eq(f.starts, 1);
    ck_assert_int_eq(f.first_ms, 1000); /* ttl / 3 */
    for (int i = 0; i < 5; i++) {
        f.now += f.first_ms * 1000000;
        int64_t next = sqc_keepalive_step(ka);
        ck_assert_int_eq(next, 1000);
        ck_assert(sqclaim_keepalive_may_act(ka));
    }
    ck_assert_int_eq(sqclaim_keepalive_renewals(ka), 5);
    /* 5 renewals moved the lease far past its first TTL */
    ck_assert(sqclaim_keepalive_deadline_ns(ka) > l.deadline_ns + 4000000000LL);
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, &l), SQCLAIM_OK);
    ck_assert_int_eq(f.stops, 1);
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
    sqclaim_close(s);
}
END_TEST

START_TEST(keepalive_step_reports_loss)
{
    fake f = {.now = 1000000000};
    sqc_seam seam = {.ka_start = fake_start, .ka_stop = fake_stop};
    sqclaim_lease l;
    sqclaim_store *s = open_seamed_claimed(&f, "seam-3", &seam, &l);
    sqclaim_keepalive *ka = NULL;
    lost_calls = 0;
    ck_assert_int_eq(sqclaim_keepalive_start(s, &l, on_lost, NULL, &ka), SQCLAIM_OK);
    f.now += 10000000000LL; /* 10 s: the claim expired in the store */
    ck_assert(!sqclaim_keepalive_may_act(ka));
    ck_assert_int_eq(sqc_keepalive_step(ka), -1);
    ck_assert_int_eq(lost_calls, 1);
    ck_assert(sqclaim_keepalive_lost(ka));
    ck_assert_int_eq(sqclaim_keepalive_stop(ka, NULL), SQCLAIM_LOST);
    ck_assert_int_eq(f.stops, 0); /* it had ended: nothing to stop */
    sqclaim_close(s);
}
END_TEST

START_TEST(no_seam_unchanged)
{
    fake f = {.now = 1000000000};
    sqclaim_store *s = open_mem(&f, "seam-4");
    sqclaim_lease a, b;
    ck_assert_int_eq(sqclaim_claim(s, "251019-000001", "BOT1", 3000, &a, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s, "251019-000002", "BOT1", 3000, &b, NULL), SQCLAIM_OK);
    ck_assert_str_ne(a.token, b.token);
    ck_assert_int_eq(a.deadline_ns, a.sent_ns + (3000 - sqclaim_margin_ms(3000)) * 1000000);
    sqclaim_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("seam");
    TCASE_ADD(su, ((tcase_spec){.name = "seam"}), seam_supplies_tokens_and_decisions,
              keepalive_without_thread, keepalive_step_reports_loss, no_seam_unchanged);
    return run_suite(su);
}
