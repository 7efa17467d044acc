/*
 * simutil.h — the simulator's random numbers and clocks (util.c).
 */
#ifndef SQSIM_UTIL_H
#define SQSIM_UTIL_H

#include "util/squtil.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Random numbers: the tree's one generator (core/util/squtil.h,        */
/* xoshiro256** seeded through splitmix64), under the simulator's names. */

typedef sq_rng sim_rng;

static inline void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream)
{
    sq_rng_seed(r, seed, stream);
}
static inline uint64_t sim_rng_next(sim_rng *r) { return sq_rng_next(r); }
static inline double sim_rng_unit(sim_rng *r) { return sq_rng_unit(r); } /* [0, 1) */
static inline uint64_t sim_rng_below(sim_rng *r, uint64_t n) { return sq_rng_below(r, n); }
static inline bool sim_rng_chance(sim_rng *r, double p) { return sq_rng_chance(r, p); }

/* ------------------------------------------------------------------ */
/* Clock                                                                */

int64_t sim_now_ns(void);      /* CLOCK_MONOTONIC, the library's clock too */
int64_t sim_cpu_ns(void);      /* CLOCK_PROCESS_CPUTIME_ID */
void sim_sleep_ns(int64_t ns); /* resumes after EINTR */

#endif
