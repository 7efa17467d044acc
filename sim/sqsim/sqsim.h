/*
 * sqsim.h — the race simulator's shared pieces: configuration, the
 * operation history, and the oracle that checks it.
 *
 * The oracle does not trust the library.  It keeps its own state (an
 * owner slot per SQ, a model Refund Log with one cell per row) that the
 * bots update around each library call, and after the run it sweeps the
 * complete history of operations for overlapping belief intervals and
 * fencing numbers that went backwards.  See docs/simulator.md.
 */
#ifndef SQSIM_H
#define SQSIM_H

#include "sqclaim.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_BOTS       512
#define SIM_MAX_SQS        4096
#define SIM_MAX_CANDIDATES 16
#define SIM_MAX_VIOLATIONS 64 /* kept in full; the rest are counted */

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
    bool procs;                /* --procs: bots are processes (procs.c) */
} sim_config;

/* ------------------------------------------------------------------ */
/* History                                                              */

enum sim_op {
    OP_CLAIM,       /* one SQ */
    OP_CLAIM_FIRST, /* first free of a candidate list */
    OP_CLAIM_RETRY, /* re-send of an uncertain claim */
    OP_RENEW,
    OP_RELEASE,
    OP_RESERVE,
    OP_WRITE, /* a write into the model Refund Log */
    OP_FINISH,
    OP_KA_START,
    OP_KA_STOP, /* aux: the final deadline the keep-alive reached */
    OP_CRASH,   /* the bot abandoned its lease */
    OP_ABANDON, /* sqclaim_abandon of a claim whose outcome stayed unknown */
    OP_PAUSE,   /* the bot stood still past its TTL (for the timeline) */
    OP_COUNT
};

enum sim_outcome {
    OUT_OK,   /* happened */
    OUT_FAIL, /* definitely did not happen (BUSY, LOST, rejected) */
    OUT_INFO  /* unknown: the reply was lost */
};

#define EVF_BELIEVED  0x01u /* write: the writer's lease was valid at the write */
#define EVF_REJECTED  0x02u /* write: rejected for a stale fencing number */
#define EVF_RECLAIMED 0x04u /* claim: granted by finding our own token */
#define EVF_KA_LOST   0x08u /* keep-alive stop: the keep-alive had lost the lease */
#define EVF_RETRIED   0x10u /* the library retried during the call (a fault absorbed) */
#define EVF_AMBIGUOUS 0x20u /* a reply was lost during the call */

typedef struct sim_event {
    int64_t invoke_ns; /* monotonic, absolute */
    int64_t complete_ns;
    int64_t aux; /* claim/renew/ka-stop: lease deadline; reserve/write: first row */
    uint64_t fence;
    uint32_t rows;    /* reserve/write: row count */
    uint32_t lease;   /* the bot's lease number, 1-based */
    uint16_t bot;     /* 0-based */
    uint16_t sq;      /* index */
    uint8_t op;       /* enum sim_op */
    uint8_t outcome;  /* enum sim_outcome */
    int8_t rc;        /* sqclaim_rc */
    uint8_t flags;    /* EVF_* */
    uint32_t token32; /* the lease token's first 8 hex digits (timeline) */
} sim_event;

#define SIM_CHUNK_EVENTS 8192

typedef struct sim_chunk {
    struct sim_chunk *next;
    size_t n;
    sim_event ev[SIM_CHUNK_EVENTS];
} sim_chunk;

/* One bot's history: appended by its thread only, read after the run. */
typedef struct sim_history {
    sim_chunk *head, *tail;
    size_t n;
} sim_history;

/* Memory for the oracle and the histories: calloc/free, or, after
 * sim_arena_init (--procs), a MAP_SHARED arena every forked bot shares
 * (zeroed; sim_dealloc ignores arena memory).  sim_arena_init: 0 or -1. */
int sim_arena_init(size_t bytes);
void *sim_alloc(size_t n, size_t size);
void sim_dealloc(void *p);
size_t sim_arena_used(void);

/* Preallocate `chunks` empty chunks (so the run's hot path rarely
 * allocates).  0 or -1. */
int sim_history_reserve(sim_history *h, size_t chunks);
/* Append an event; NULL if out of memory. */
sim_event *sim_history_add(sim_history *h);
void sim_history_free(sim_history *h);

/* ------------------------------------------------------------------ */
/* Violations                                                           */

enum sim_vkind {
    V_OVERLAP,        /* two bots believed they held the same SQ at once */
    V_FENCE_ORDER,    /* a later grant carried a fence not above an earlier one */
    V_STALE_BELIEVED, /* a write rejected as stale while its lease was valid */
    V_ROW_OVERLAP,    /* two reservations share a row */
    V_ROW_TWICE,      /* a row written twice */
    V_ROW_FOREIGN,    /* a row written by a bot that did not reserve it */
    V_ROWS_FENCE,     /* a reservation carried another fence than its lease */
    V_GRANT_FENCE,    /* a claim invoked after another claim of the SQ had
                         returned was granted a fence not above it */
    V_KIND_COUNT
};

const char *sim_vkind_name(enum sim_vkind k);

typedef struct sim_violation {
    enum sim_vkind kind;
    bool online;      /* found during the run (else by the sweep) */
    int sq;           /* -1 if none */
    int bot_a, bot_b; /* -1 if none */
    uint32_t lease_a, lease_b;
    uint64_t fence_a, fence_b;
    int64_t a_start, a_end; /* relative to the run start, ns */
    int64_t b_start, b_end;
    uint64_t row_start;
    uint32_t rows;
    char text[320];
} sim_violation;

typedef struct sim_violations {
    pthread_mutex_t mu;
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t by_kind[V_KIND_COUNT];
    size_t kept;
    sim_violation v[SIM_MAX_VIOLATIONS];
    int64_t t0;                  /* run start, for relative times */
    const char *const *sq_names; /* for the texts (may be NULL) */
    atomic_bool stop;            /* set at the first violation */
} sim_violations;

void sim_violations_init(sim_violations *vs, int64_t t0);
void sim_violations_destroy(sim_violations *vs);
/* Make the list's lock process-shared and robust (--procs).  0 or -1. */
int sim_violations_share(sim_violations *vs);
/* Record one (thread-safe); fills text from the fields. */
void sim_violation_add(sim_violations *vs, const sim_violation *v);

/* One side of a violation: a bot's lease (or grant) and its times. */
typedef struct sim_party {
    int bot; /* -1: none */
    uint32_t lease;
    uint64_t fence;
    int64_t start, end; /* absolute monotonic ns; 0: not applicable */
} sim_party;

/* Fill *v (zeroed first) with kind, where it was found, the SQ and both
 * parties (b may be NULL). */
void sim_violation_set(sim_violation *v, enum sim_vkind kind, bool online, int sq,
                       const sim_party *a, const sim_party *b);
void sim_violation_format(const sim_violation *v, const char *const *sq_names, char *buf,
                          size_t len);

/* ------------------------------------------------------------------ */
/* The online oracle: owner slots and the model Refund Log              */

/* A lease as the oracle knows it: written by its bot, read by others. */
typedef struct sim_lease_rec {
    int sq;
    uint32_t lease; /* the bot's lease number (history) */
    uint64_t fence;
    int64_t start_ns;                /* claim (or renewal) returned */
    atomic_int_fast64_t deadline_ns; /* the library's local deadline */
    atomic_int_fast64_t vacated_ns;  /* left the critical section; 0: not */
    atomic_bool vacated_expired;     /* left because the lease had expired */
    uint32_t res_index;              /* last reservation (1-based; 0 none) */
} sim_lease_rec;

typedef struct sim_res_rec {
    int sq;
    uint32_t lease;
    uint64_t fence;
    uint64_t start;
    uint32_t count;
} sim_res_rec;

#define SIM_TABLE_CHUNK  4096
#define SIM_TABLE_CHUNKS 4096 /* up to 16M records per bot */

/* A per-bot table of records that never move (chunked), so other threads
 * may read a published record while its bot appends more. */
typedef struct sim_table {
    size_t elem;
    _Atomic(void *) chunk[SIM_TABLE_CHUNKS];
    uint32_t n; /* owner thread only */
} sim_table;

typedef struct sim_sq_state {
    atomic_uint_fast64_t slot;      /* occupant lease id, 0: none */
    atomic_uint_fast64_t max_fence; /* newest fence the Refund Log accepted */
} sim_sq_state;

#define SIM_ROW_PAGE  65536
#define SIM_ROW_PAGES 16384 /* up to 2^30 rows: more than SQCLAIM_MAX_ROW */

typedef struct sim_oracle {
    int nbots, nsqs;
    sim_sq_state *sqs;
    sim_table *leases; /* per bot: sim_lease_rec */
    sim_table *resv;   /* per bot: sim_res_rec */
    _Atomic(atomic_uint_fast64_t *) rows[SIM_ROW_PAGES];
    atomic_uint_fast64_t high_water; /* highest reserved row + 1 */
    sim_violations *vs;
    atomic_uint_fast64_t takeovers, stale_writes, stale_accepted, writes_ok;
} sim_oracle;

int sim_oracle_init(sim_oracle *o, int nbots, int nsqs, sim_violations *vs);
void sim_oracle_destroy(sim_oracle *o);

/* A record for one belief segment of a bot's lease: a grant, or a renewal
 * that revived a lapsed lease.  Fill sq, lease, fence, start_ns and
 * deadline_ns before sim_oracle_enter(); only deadline_ns may change after.
 * *index receives its 1-based index.  NULL if out of memory. */
sim_lease_rec *sim_oracle_new_lease(sim_oracle *o, int bot, uint32_t *index);
sim_lease_rec *sim_oracle_lease(sim_oracle *o, int bot, uint32_t index);

/* Enter the critical section of record (bot, index) on its SQ: take the
 * SQ's owner slot, checking whoever had it.  Returns the number of
 * violations found (0 normally). */
int sim_oracle_enter(sim_oracle *o, int bot, uint32_t index);
/* Leave it (before release); expired: the bot saw its lease had lapsed. */
void sim_oracle_leave(sim_oracle *o, int bot, uint32_t index, bool expired);

/* A reservation the library granted under the record. */
void sim_oracle_reserved(sim_oracle *o, int bot, uint32_t index, const sqclaim_rows *rows);

/* Write the record's reserved rows into the model Refund Log with its
 * fence.  Sets *rejected for a stale fence and *believed if the lease was
 * still valid when the Log decided.  Returns true if accepted. */
bool sim_oracle_write(sim_oracle *o, int bot, uint32_t index, bool *believed, bool *rejected);

/* ------------------------------------------------------------------ */
/* The offline check: belief intervals, fences, reservations            */

typedef struct sim_check_stats {
    uint64_t events, intervals, grants, reservations, writes;
    int64_t cpu_ns; /* CPU time the check took */
} sim_check_stats;

/* Check the bots' histories.  Violations go to vs (online = false). */
void sim_check_histories(sim_history *h, int nbots, int nsqs, sim_violations *vs,
                         sim_check_stats *st);

/* Generate a synthetic, violation-free history of about n events spread
 * over nbots histories (for --bench-oracle and tests). */
int sim_synth_history(sim_history *h, int nbots, int nsqs, uint64_t n, uint64_t seed);

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
    /* --procs: events [0, committed) of hist are complete (set before
     * each library call and nap), so a bot killed mid-operation leaves a
     * history the parent can cut to what was fully written. */
    atomic_size_t committed;
    /* --procs: the handle's counters as of the bot process's latest call,
     * and those of its killed predecessors (the report's library totals). */
    sqclaim_stats proc_stats, proc_stats_dead;
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
/* --procs: bots as forked processes (procs.c, docs/simulator.md)       */

struct sqclaim_backend;

/* Check the configuration for --procs and set up the shared arena; call
 * before the oracle and the histories are made.  0, or 2 after a
 * message. */
int sim_procs_prepare(const sim_config *cfg);
/* Run the bots as processes instead of threads: each opens its own
 * handle with (be, o) (be NULL: sqclaim_open), the parent kills bots with
 * SIGKILL per --crash-rate and restarts them, stops them all at the end,
 * and leaves in *run the merged result (as after the thread run).
 * progress may be NULL.  0, or 2 after a message. */
int sim_procs_run(sim_run *run, const sqclaim_options *o, const struct sqclaim_backend *be,
                  volatile sig_atomic_t *interrupted, void (*progress)(sim_run *, bool));
/* The "procs" member of the JSON report (with its trailing comma), and
 * the summary's line. */
void sim_procs_report(FILE *f);
void sim_procs_summary(FILE *f);

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

/* ------------------------------------------------------------------ */
/* kvrest admin (vercel faults)                                          */

/* POST body to url's /_kvrest/faults with the bearer token.  0 or -1 with
 * a message in err. */
int sim_kvrest_faults(const char *rest_url, const char *token, const char *body, char *err,
                      size_t errlen);

#endif
