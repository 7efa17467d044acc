/*
 * suite.h — what the contract suite's files share: the target under test,
 * the fixture's helpers (contract.c) and each group's list of tests
 * (contract_<group>.c).
 */
#ifndef SQCLAIM_CONTRACT_SUITE_H
#define SQCLAIM_CONTRACT_SUITE_H

#include "contract.h"

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The target the suite runs on (contract_suite sets it). */
extern const ct_target *T;
/* The fake clock's now, in ns (targets with fake_clock). */
extern atomic_llong fake_now;

/* The handles a test opened (closed by teardown()), and its namespace
 * (key prefix or memory space). */
#define MAX_HANDLES 64
extern sqclaim_store *handles[MAX_HANDLES];
extern int nhandles;
extern char ns[64];
/* Checked fixture's end: close every handle of the test. */
void teardown(void);

/* Monotonic milliseconds. */
long long real_ms(void);
/* Interval between polls of a condition; never used as synchronisation. */
void poll_pause(void);
/* A handle in this test's namespace (fake clock where the target has one). */
sqclaim_store *ct_open(void);
/* A handle on the real clock (keep-alive tests), own namespace. */
sqclaim_store *ct_open_real(void);
/* TTL for leases a test lets expire. */
int64_t short_ttl(void);
/* Does status show a claim / a reservation of sq? */
bool status_has(sqclaim_store *s, const char *sq, bool *claim, bool *res);
/* Let a lease of ttl_ms on sq expire: move the fake clock, or poll the
 * store until the SQ is gone (deadline 10 s). */
void expire(sqclaim_store *s, const char *sq, int64_t ttl_ms);
/* Wait until at least ms have passed on the store's clock. */
void pass_time(int64_t ms);
/* Claim sq for bot; the test fails unless granted. */
void claim_ok(sqclaim_store *s, const char *sq, const char *bot, int64_t ttl, sqclaim_lease *l);
/* The opening of most tests: a handle (ct_open) on which bot holds sq
 * (claim_ok, ttl) as *l. */
sqclaim_store *ct_claimed(const char *sq, const char *bot, int64_t ttl, sqclaim_lease *l);
/* claim_ok (60 s), then `count` rows reserved (hint as given) into *r;
 * the test fails unless both are granted. */
void claim_reserve(sqclaim_store *s, const char *sq, const char *bot, uint32_t count, uint64_t hint,
                   sqclaim_lease *l, sqclaim_rows *r);

/* *real with another token: what a confused bot would send. */
void forge(sqclaim_lease *forged, const sqclaim_lease *real);

/* Each group's tests, NULL-terminated, at most CT_MAX_GROUP. */
#define CT_MAX_GROUP 15
void ct_group_claims(const TTest **tests);
void ct_group_uncertain(const TTest **tests);
void ct_group_rows(const TTest **tests);
void ct_group_status(const TTest **tests);
void ct_group_keepalive(const TTest **tests);
void ct_group_validation(const TTest **tests);
void ct_group_concurrency(const TTest **tests);
void ct_group_operator(const TTest **tests);
void ct_group_expiry(const TTest **tests);
void ct_group_store(const TTest **tests);
void ct_group_faults(const TTest **tests);

#endif
