/* contract.c — the behaviour every backend must show.  See contract.h.
 * This file holds the fixture and the suite; the tests are in
 * contract_<group>.c (suite.h). */
#include "suite.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const ct_target *T;

/* ------------------------------------------------------------------ */
/* Fixture: a namespace per test, handles closed afterwards, a fake clock */

sqclaim_store *handles[MAX_HANDLES];
int nhandles;
char ns[64];
static int ns_counter;

atomic_llong fake_now = 1000000000000LL;
static int64_t fake_clock_now(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}
static const sqclaim_clock fake_clock = {fake_clock_now, NULL};

long long real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void poll_pause(void)
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

void teardown(void)
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
sqclaim_store *ct_open(void) { return open_with("", true); }

/* A handle on the real clock (keep-alive tests), own namespace. */
sqclaim_store *ct_open_real(void) { return open_with("real", false); }

/* TTL for leases a test lets expire. */
int64_t short_ttl(void) { return T->fake_clock ? 1000 : T->short_ttl_ms; }

bool status_has(sqclaim_store *s, const char *sq, bool *claim, bool *res)
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
void expire(sqclaim_store *s, const char *sq, int64_t ttl_ms)
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
void pass_time(int64_t ms)
{
    if (T->fake_clock) {
        atomic_fetch_add(&fake_now, ms * 1000000LL);
        return;
    }
    long long until = real_ms() + ms;
    while (real_ms() < until)
        poll_pause();
}

void claim_ok(sqclaim_store *s, const char *sq, const char *bot, int64_t ttl, sqclaim_lease *l)
{
    sqclaim_rc rc = sqclaim_claim(s, sq, bot, ttl, l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "claim %s by %s: %s (%s)", sq, bot, sqclaim_rcname(rc),
                  sqclaim_errmsg(s));
}

sqclaim_store *ct_claimed(const char *sq, const char *bot, int64_t ttl, sqclaim_lease *l)
{
    sqclaim_store *s = ct_open();
    claim_ok(s, sq, bot, ttl, l);
    return s;
}

void claim_reserve(sqclaim_store *s, const char *sq, const char *bot, uint32_t count, uint64_t hint,
                   sqclaim_lease *l, sqclaim_rows *r)
{
    claim_ok(s, sq, bot, 60000, l);
    sqclaim_rc rc = sqclaim_reserve_rows(s, l, count, hint, r);
    ck_assert_msg(rc == SQCLAIM_OK, "reserve %u rows of %s: %s (%s)", count, sq, sqclaim_rcname(rc),
                  sqclaim_errmsg(s));
}

void forge(sqclaim_lease *forged, const sqclaim_lease *real)
{
    *forged = *real;
    /* Same SQ and bot, another token: what a confused bot would send. */
    memcpy(forged->token, "0123456789abcdef0123456789abcdef", SQCLAIM_TOKEN_LEN + 1);
    if (strcmp(forged->token, real->token) == 0)
        forged->token[0] = 'f';
}

/* ------------------------------------------------------------------ */

Suite *contract_suite(const ct_target *t)
{
    T = t;
    Suite *s = suite_create(t->name);
    struct {
        const char *name;
        void (*tests)(const TTest **tests);
        bool runs; /* false: a group this target cannot run (no fake clock, no raw access) */
    } groups[] = {
        {"claims", ct_group_claims, true},
        {"uncertain", ct_group_uncertain, true},
        {"rows", ct_group_rows, true},
        {"status", ct_group_status, true},
        {"keepalive", ct_group_keepalive, true},
        {"validation", ct_group_validation, true},
        {"concurrency", ct_group_concurrency, true},
        {"operator", ct_group_operator, true},
        {"expiry", ct_group_expiry, t->fake_clock},
        {"store", ct_group_store, t->raw != NULL},
        {"faults", ct_group_faults, t->faults != NULL},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        if (!groups[g].runs)
            continue;
        const TTest *tests[CT_MAX_GROUP + 1];
        groups[g].tests(tests);
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        for (size_t i = 0; tests[i]; i++)
            tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    return s;
}
