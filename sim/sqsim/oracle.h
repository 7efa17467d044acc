/*
 * oracle.h — the race simulator's oracle: the operation history, the
 * violations, the online oracle and the offline check.
 *
 * The oracle does not trust the library.  It keeps its own state (an
 * owner slot per SQ, a model Refund Log with one cell per row) that the
 * bots update around each library call, and after the run it sweeps the
 * complete history of operations for overlapping belief intervals and
 * fencing numbers that went backwards.  See docs/simulator.md.
 */
#ifndef SQSIM_ORACLE_H
#define SQSIM_ORACLE_H

#include "sqclaim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_VIOLATIONS 64 /* kept in full; the rest are counted */

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

#endif
