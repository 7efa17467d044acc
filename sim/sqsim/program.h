/*
 * program.h — sqsim the program: main.c reads the command line
 * (options.c), runs the bots (run.c) and says what the run proved
 * (verdict.c).
 */
#ifndef SQSIM_PROGRAM_H
#define SQSIM_PROGRAM_H

#include "sqsim.h"

#include <stdbool.h>
#include <stdint.h>

/* What the command line asks for. */
typedef struct sim_args {
    sim_config cfg;
    uint64_t bench;        /* --bench-oracle N (then nothing else is filled) */
    char *reproduce;       /* the command that reproduces the run; free() it */
    char prefix[64];       /* the key prefix (fresh per run unless given) */
    char space[64];        /* the memory backend's space name */
    uint64_t timeline_max; /* --timeline-max (0: the writer's default) */
} sim_args;

/* Read argv into *out.  -1: go on with the run; else the exit status
 * (--help, --version, the lists: 0; a usage error: 2, said on stderr). */
int sim_options(int argc, char **argv, sim_args *out);

/* The negative control called name, or NULL. */
struct sqclaim_backend;
const struct sqclaim_backend *sim_find_control(const char *name);

/* Prepare *run for cfg (which must outlive it): SQ names, the oracle.
 * 0, or 2 (out of memory, said on stderr). */
int sim_run_init(sim_run *run, const sim_config *cfg);

/* Open a store per bot, set kvrest's faults (vercel), run the bots until
 * the duration or operations are done, a violation stops them or a
 * signal comes, then reset the faults.  *elapsed_ns: the run's length.
 * 0, or 2 when the run could not start (said on stderr); -1 when it could
 * not even be set up (exit 2 with no report). */
int sim_run_bots(sim_run *run, const char *prefix, const char *space, int64_t *elapsed_ns);

/* True once SIGINT or SIGTERM ended the run early. */
bool sim_interrupted(void);

void sim_run_free(sim_run *run);

/* Check the history, weigh coverage, print the summary and write the
 * report (cfg.report_path); *verdict_out (may be NULL) gets the verdict
 * word.  exit_code: sim_run_bots's.  Returns the
 * program's exit status: 0 pass, 1 violation or coverage missing, 2
 * error or interrupted. */
int sim_verdict(sim_run *run, const char *reproduce, const char *prefix, int64_t elapsed_ns,
                int exit_code, const char **verdict_out);

/* --bench-oracle: check a synthetic history of n events; the exit
 * status. */
int sim_bench_oracle(uint64_t n);

#endif
