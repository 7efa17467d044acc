/*
 * sqsim.h — the race simulator's run: its configuration, the bots and
 * what they share, and the output.  The oracle that checks a run has its
 * own header (oracle.h), as have the random numbers and clocks
 * (simutil.h).  See docs/simulator.md.
 */
#ifndef SQSIM_H
#define SQSIM_H

#include "oracle.h"
#include "simutil.h"
#include "sqclaim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_BOTS       512
#define SIM_MAX_SQS        4096
#define SIM_MAX_CANDIDATES 16

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

typedef struct sim_config {
    const char *adapter;    /* memory | redis | vercel */
    const char *control;    /* negative control name, or NULL */
    const char *workload;   /* the control whose workload is used, or NULL */
    const char *key_prefix; /* NULL: a fresh random one */
    int bots;
    int sqs;
    double duration_s; /* 0: until ops */
    uint64_t ops;      /* claim attempts; 0: until duration */
    int64_t ttl_ms;
    int64_t work_min_us; /* doubling grid of work times */
    int64_t work_max_us;
    int hot_sqs;       /* the first hot_sqs SQs are hot */
    double hot_prob;   /* probability of picking a hot SQ */
    double first_rate; /* probability of claim-first-free */
    int candidates;    /* candidates for claim-first-free */
    double crash_rate, pause_rate, keepalive_rate;
    double renew_after_pause;    /* probability a paused bot renews */
    double pause_min, pause_max; /* pause length in TTLs */
    double keepalive_work;       /* keep-alive work length in TTLs */
    int rows_max;                /* rows per reservation: 1..rows_max */
    int64_t backoff_max_us;      /* after BUSY: uniform 0..this */
    int timeout_ms;              /* per attempt (0: library default) */
    uint64_t seed;
    /* kvrest faults (vercel) */
    bool kv_faults;
    long kv_latency_ms, kv_jitter_ms, kv_stall_ms;
    double kv_fail_rate, kv_drop_rate, kv_stall_rate;
    /* coverage */
    uint64_t min_refusals, min_takeovers, min_stale_writes;
    bool keep_going;
    bool quiet;
    const char *report_path;
    const char *timeline_path; /* --timeline FILE.html, or NULL */
    uint64_t max_events;       /* history capacity (events, all bots) */
} sim_config;

/* ------------------------------------------------------------------ */
/* A run: the bots and what they share                                  */

struct sim_run;

typedef struct sim_bot {
    int id; /* 0-based; its bot id is BOT<id+1> */
    char name[16];
    struct sim_run *run;
    sqclaim_store *store;
    sim_rng rng;
    sim_history hist;  /* this thread's only */
    uint32_t lease_no; /* claims attempted so far */
    pthread_t thread;
    bool started;
    /* Read by the progress line while the bot runs. */
    atomic_uint_fast64_t attempts, grants, refusals, errors, uncertain, crashes, pauses, keepalives,
        renew_revived, lapsed;
    char first_error[256];                 /* the first backend error this bot saw */
    char last_error[256];                  /* and the latest */
    int64_t first_error_ns, last_error_ns; /* when (0: none) */
    unsigned err_streak;                   /* claims in a row that failed with an error */
    uint64_t seen_retries, seen_ambiguous; /* the handle's counters at the last call */
} sim_bot;

typedef struct sim_run {
    const sim_config *cfg;
    sim_oracle oracle;
    sim_violations vs;
    int nsqs;
    char (*sq_names)[24];
    const char **sq_ptrs;
    sim_bot *bots;
    atomic_bool stop; /* duration over, ops done, or a violation */
    atomic_bool history_full;
    atomic_uint_fast64_t claims_started;
    atomic_int running; /* bot threads not yet finished */
    uint64_t max_events_per_bot;
    int64_t t0, t_end;   /* monotonic */
    int64_t deadline_ns; /* t0 + duration, 0: none */
} sim_run;

/* Run one bot until the run stops (a pthread start routine). */
void *sim_bot_main(void *arg);

/* ------------------------------------------------------------------ */
/* Output (report.c)                                                    */

/* The JSON report of a run into json; 0, or -1 on a write error. */
int sim_report(sim_run *run, const sim_config *cfg, const char *reproduce, const char *prefix,
               const sim_check_stats *cst, int64_t elapsed_ns, int exit_code, const char *verdict,
               const char *missing, FILE *json);
/* The human summary and verdict (stdout, or stderr when the JSON goes to
 * stdout). */
void sim_summary(sim_run *run, const sim_config *cfg, const char *reproduce,
                 const sim_check_stats *cst, int64_t elapsed_ns, const char *verdict,
                 const char *missing);

#endif
