/*
 * simutil.h — the simulator's random numbers and clocks (util.c).
 */
#ifndef SQSIM_UTIL_H
#define SQSIM_UTIL_H

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Random numbers: xoshiro256**, seeded through splitmix64.             */

typedef struct sim_rng {
    uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(sim_rng *r);
double sim_rng_unit(sim_rng *r);                /* [0, 1) */
uint64_t sim_rng_below(sim_rng *r, uint64_t n); /* [0, n), n > 0 */
bool sim_rng_chance(sim_rng *r, double p);

/* ------------------------------------------------------------------ */
/* Clock                                                                */

int64_t sim_now_ns(void);      /* CLOCK_MONOTONIC, the library's clock too */
int64_t sim_cpu_ns(void);      /* CLOCK_PROCESS_CPUTIME_ID */
void sim_sleep_ns(int64_t ns); /* resumes after EINTR */

#endif
