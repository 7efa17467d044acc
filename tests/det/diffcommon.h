/*
 * diffcommon.h — shared pieces of the differential test (tests/det/): the
 * real redis-server the test starts, the scripted store it is compared
 * with, a seeded generator, and the comparison of two replies.
 *
 * Time: the scripted store runs on CLOCK_REALTIME here (the same clock
 * redis-server reads), so absolute expiry times (PXAT, PEXPIREAT) mean the
 * same on both sides.  Commands are sent to redis first, then to the
 * store, so the two sides read their clocks a few microseconds to
 * milliseconds apart: replies that carry a remaining time (PTTL, TTL, the
 * claim script's PTTL, PEXPIRETIME ...) are compared with a tolerance
 * (DIFF_TOL_MS, or 1 s for values in seconds); everything else must be
 * equal byte for byte.  Keys given short expiries are not touched again
 * until both sides have certainly passed them (the generator waits on the
 * clock), so no comparison depends on which side was faster.
 */
#ifndef SQCLAIM_TEST_DET_DIFFCOMMON_H
#define SQCLAIM_TEST_DET_DIFFCOMMON_H

#include "resp.h"
#include "servers.h"
#include "tcase.h"
#include "transport.h"

#include <stdint.h>

#define DIFF_TOL_MS 500

extern tsrv diff_redis;     /* started by the suite's fixture */
extern resp_conn diff_conn; /* a connection to it */

/* The real-time clock in ns and ms (the store's clock in these tests). */
int64_t diff_realtime_ns(void *ctx);
long long diff_realtime_ms(void);

/* Busy-wait (polling the clock) until the real-time clock reads past ms. */
void diff_wait_until_ms(long long ms);

/* splitmix64 */
typedef struct gen {
    uint64_t s;
} gen;
uint64_t gen_next(gen *g);
uint64_t gen_below(gen *g, uint64_t n); /* 0..n-1 */
bool gen_chance(gen *g, int percent);

/* How two replies are compared. */
typedef enum cmp_mode {
    CMP_EXACT = 0,
    CMP_TIME_MS, /* integers may differ by DIFF_TOL_MS (same sign class) */
    CMP_TIME_S,  /* integers may differ by 1 */
    CMP_SET,     /* top-level array compared as a sorted multiset */
    CMP_PAIRS,   /* top-level array of pairs compared as a sorted multiset of pairs */
    CMP_CLOCK    /* TIME: two bulk numbers, seconds within 2 */
} cmp_mode;

/* True if the two raw replies are equal under mode.  On a difference,
 * why[] says where. */
bool diff_same(const char *a, size_t alen, const char *b, size_t blen, cmp_mode mode, char *why,
               size_t whylen);

/* Number of sequences from $DET_DIFF_SEQS (default def), and the single
 * seed of $DET_DIFF_SEED (returns true and sets *seed if set). */
int diff_nseqs(int def);
bool diff_one_seed(uint64_t *seed);

/* Run `what`'s sequences: the one of $DET_DIFF_SEED, else diff_nseqs(def)
 * seeds from base on; each is run(seed, ops, msg, msglen), false with msg
 * on a difference (printed; the first 5 only).  Fails the test if any
 * differed; returns how many ran, and in *single whether one seed was
 * given. */
int diff_run_seeds(const char *what, uint64_t base, int def, int ops,
                   bool (*run)(uint64_t seed, int ops, char *msg, size_t msglen), bool *single);

/* A differential case: `name`, 10 minutes, the redis-server started once
 * around it and a connection to it around each test. */
tcase_spec diff_spec(const char *name);

/* The cases of tests/det, added to s (test_store.c, diff_raw.c,
 * diff_proto.c). */
void store_add(Suite *s);
void diff_raw_add(Suite *s);
void diff_proto_add(Suite *s);

#endif
