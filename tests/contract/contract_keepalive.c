/* contract_keepalive.c — the contract suite (contract.h): keep-alive on the real clock. */
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

/* sq claimed for BOT1 on a (ttl) into *l, and a keep-alive started on
 * it with lost(arg) as its callback. */
static sqclaim_keepalive *claim_kept(sqclaim_store *a, const char *sq, int64_t ttl,
                                     sqclaim_lease *l, sqclaim_lost_fn lost, void *arg)
{
    claim_ok(a, sq, "BOT1", ttl, l);
    sqclaim_keepalive *ka = NULL;
    ck_assert_int_eq(sqclaim_keepalive_start(a, l, lost, arg, &ka), SQCLAIM_OK);
    return ka;
}

START_TEST(keepalive_keeps_lease_past_ttl)
{
    sqclaim_store *a = ct_open_real(), *b = ct_open_real();
    int64_t ttl = ka_ttl();
    sqclaim_lease l, lb;
    struct lost_box box = {0, 0};
    sqclaim_keepalive *ka = claim_kept(a, "sq-ka1", ttl, &l, on_lost, &box);
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
    struct lost_box box = {0, 0};
    sqclaim_keepalive *ka = claim_kept(a, "sq-ka2", ttl, &l, on_lost, &box);
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
    sqclaim_keepalive *ka = claim_kept(a, "sq-ka3", ttl, &l, NULL, NULL);
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
    sqclaim_keepalive *ka = claim_kept(a, "sq-kc", 60000, &l, NULL, NULL);
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
    struct cb_box box = {a, 0, 99};
    sqclaim_keepalive *ka = claim_kept(a, "sq-ka5", ttl, &l, release_from_callback, &box);
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

void ct_group_keepalive(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = keepalive_keeps_lease_past_ttl;
    tests[n++] = keepalive_reports_loss;
    tests[n++] = release_stops_keepalive;
    tests[n++] = keepalive_started_late_renews_in_time;
    tests[n++] = keepalive_stop_races_release_and_close;
    tests[n++] = keepalive_callback_may_release;
    tests[n++] = keepalive_needs_live_lease;
    tests[n] = NULL;
}
