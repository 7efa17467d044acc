/*
 * transport.h — the scripted store: a det_ks keyspace and a det_lua
 * engine behind one clock, reached the way a Redis server is reached:
 * through adapters/redisproto's rp_transport, so proto.c (EVALSHA,
 * NOSCRIPT, EVAL, reply decoding) runs on it unchanged, and through a
 * backend table, so sqclaim_open_backend() opens library handles on it.
 *
 * For the deterministic simulator (docs/det.md):
 *   - time is injected: the store reads its clock (nanoseconds, read as
 *     Unix time for TIME; whole milliseconds for expiry) once before each
 *     command or script, and time stands still while a script runs;
 *   - nothing else is nondeterministic: no threads, no wall clock, no
 *     global state (any number of stores in one process), math.random
 *     seeded from the configuration;
 *   - every request through the transport passes two hooks, so a fault
 *     layer can refuse it (not applied), lose it (not applied now; the
 *     hook may keep a copy and apply it later: a delayed or duplicated
 *     delivery), answer it with an error reply, or drop its reply after
 *     it was applied; the hooks may also move the clock or hand control to
 *     a scheduler before answering (a delay);
 *   - det_store_restart() loses everything (keys and the script cache, so
 *     the next EVALSHA answers NOSCRIPT), as a restart without persistence
 *     does; helper keys are lost with det_store_exec(DEL ...).
 *
 * Thread safety: none, unless the configuration asks for it (threadsafe:
 * each command and script runs under the store's mutex; hooks run outside
 * it).  The store must outlive every handle and connection opened on it.
 */
#ifndef SQCLAIM_DET_TRANSPORT_H
#define SQCLAIM_DET_TRANSPORT_H

#include "keyspace.h"
#include "lua.h"
#include "proto.h"

typedef struct det_store det_store;
typedef struct det_conn det_conn;

typedef struct det_store_config {
    /* The store's (the server's) clock in nanoseconds; must never go
     * back.  NULL: a clock standing at 1 000 000 s that only
     * det_store_advance() moves. */
    int64_t (*now_ns)(void *ctx);
    void *clock_ctx;
    uint64_t seed;   /* math.random's seed */
    bool threadsafe; /* serialise commands with a mutex */
} det_store_config;

/* NULL: out of memory. */
det_store *det_store_new(const det_store_config *cfg);
void det_store_free(det_store *st);

/* The built-in clock (cfg->now_ns NULL): move it forward by ns. */
void det_store_advance(det_store *st, int64_t ns);
/* The store clock now (nanoseconds). */
int64_t det_store_now_ns(det_store *st);

/* Run one command (any, EVAL included) at the store's current time; the
 * reply is appended to out (det_reply_reset it first to reuse it). */
void det_store_exec(det_store *st, int argc, const char *const *argv, const size_t *lens,
                    det_reply *out);
/* The same with NUL-terminated arguments (argv[argc] need not be NULL). */
void det_store_execv(det_store *st, det_reply *out, int argc, const char *const *argv);

/* A restart without persistence: every key and every cached script gone. */
void det_store_restart(det_store *st);

/* The parts, for tests and the simulator's oracle (not thread-safe). */
det_ks *det_store_keyspace(det_store *st);
det_lua *det_store_lua(det_store *st);

/* ------------------------------------------------------------------ */
/* Requests and fault hooks                                             */

/* One round trip: ncmds commands (one for a script; a pipeline for a
 * status page).  Borrowed by the hooks for the duration of the call. */
typedef struct det_request {
    size_t ncmds;
    const rp_cmd *cmds;
} det_request;

/* Deep copy, to apply later (det_store_apply) and free. NULL: no memory. */
det_request *det_request_copy(const det_request *req);
void det_request_free(det_request *req);
/* Apply a request now (a delayed or duplicated delivery); its replies
 * are discarded.  The hooks are not called. */
void det_store_apply(det_store *st, const det_request *req);

typedef enum det_fate {
    DET_DELIVER = 0, /* before: apply it; after: deliver the replies */
    DET_REFUSE,      /* before only: not applied; the client sees a refused
                        connection (transient, certainly not applied) */
    DET_LOSE,        /* before: not applied (now); after: applied, reply lost.
                        The client sees a timeout: maybe applied */
    DET_ERROR_REPLY  /* before only: not applied; every command is answered
                        with the error text the hook set (e.g. "LOADING ...") */
} det_fate;

typedef struct det_hooks {
    void *ctx;
    /* Before the request is applied.  NULL: deliver.  For
     * DET_ERROR_REPLY set *error_text (static or owned by ctx). */
    det_fate (*before)(void *ctx, det_conn *conn, const det_request *req, const char **error_text);
    /* After it was applied, with its replies (which the hook may read).
     * NULL: deliver. */
    det_fate (*after)(void *ctx, det_conn *conn, const det_request *req, rp_reply *const *replies);
} det_hooks;

/* Install (copied) or remove (NULL) the hooks. */
void det_store_set_hooks(det_store *st, const det_hooks *hooks);

/* ------------------------------------------------------------------ */
/* Connections: the transport proto.c runs on                           */

/* A connection: an rp_conn (FIRST member, for RP_BACKEND_OPS) over the
 * store.  `client` is the client's own clock (a simulated bot's, possibly
 * skewed), kept for the hooks; it does not affect the store. */
struct det_conn {
    rp_conn proto;
    det_store *st;
    uint64_t id; /* 1, 2, ... in the order of opening on this store */
    sqclaim_clock client;
    void *user; /* free for the hooks' owner */
    uint64_t round_trips, ambiguous;
};

/* The rp_transport of every connection. */
extern const rp_transport det_transport;

/* Open / close a connection (prefix: the key prefix, may be NULL).  OK or
 * ENOMEM/EINVAL with err set. */
sqclaim_rc det_conn_open(det_store *st, const char *prefix, det_conn **out, sqb_err *err);
void det_conn_close(det_conn *c);

/* ------------------------------------------------------------------ */
/* Backend table                                                        */

/* Fill *be with a backend table whose handles are connections to st
 * (app_data = st): name "scripted", caps CLOCK (the handle's injected
 * clock is the client's clock; the store keeps its own), FOREIGN, STATS.
 * The key prefix comes from the options as for redis.  *be must outlive
 * the handles. */
void det_backend_init(sqclaim_backend *be, det_store *st);

#endif
