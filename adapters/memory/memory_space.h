/*
 * memory_space.h — the memory backend's space, for code built beside it.
 *
 * Private: not installed, and hidden in libsqclaim.so (the symbols are in
 * the static archive only).  Its one user outside adapters/memory/ is the
 * simulator's negative controls (sim/controls/), which build deliberately
 * broken variants of this backend from these pieces, as SQLite keeps its
 * fault-injecting VFS shims outside the library.  The product backend is
 * sqclaim_backend_memory; nothing here is broken.
 *
 * A space is a hash table of entries (one per SQ: its claim and its
 * reservation) guarded by one mutex, with the fencing counter and the row
 * cursor.  Functions marked "locked" expect sp->mu held by the caller.
 */
#ifndef SQCLAIM_MEMORY_SPACE_H
#define SQCLAIM_MEMORY_SPACE_H

#include "backend.h"

#include <pthread.h>

typedef struct mem_claim {
    bool live;
    char bot[SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    int64_t expires_ns;
} mem_claim;

typedef struct mem_res {
    bool live;
    char bot[SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
    uint64_t start;
    uint32_t count;
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    int64_t expires_ns;
} mem_res;

typedef struct mem_entry {
    struct mem_entry *next;
    char sq[SQCLAIM_SQ_MAX + 1];
    mem_claim claim;
    mem_res res;
} mem_entry;

typedef struct mem_space {
    struct mem_space *next; /* in the registry */
    char name[128];
    int refs;
    sqclaim_clock clock;
    pthread_mutex_t mu;
    mem_entry **buckets;
    size_t nbuckets, nentries;
    size_t sweep_at; /* sweep expired entries when nentries reaches this */
    uint64_t fence;  /* last fencing number handed out */
    uint64_t cursor; /* next free row (0: none handed out yet) */
} mem_space;

/* A connection of the memory backend: the `conn` its table's functions
 * take.  Code that wraps the backend puts this first in its own
 * connection struct, so that struct's pointer can be passed to
 * sqclaim_backend_memory's functions. */
typedef struct mem_conn {
    mem_space *space;
} mem_conn;

/* The product backend (adapters/memory/memory.c). */
extern const sqclaim_backend sqclaim_backend_memory;

/* Attach c to the space named by opts->memory_space (created on first
 * use; shared by every handle of the process with that name), as the
 * backend's open does.  OK, or EINVAL / ECONFIG / ENOMEM with err set. */
sqclaim_rc mem_conn_attach(mem_conn *c, const sqclaim_options *opts, sqb_err *err);
/* Drop c's reference to its shared space (its counters stay). */
void mem_conn_detach(mem_conn *c);
/* The backend's open for a connection struct of `size` bytes (at least
 * sizeof(mem_conn), zeroed, the mem_conn first): allocate it and attach
 * it.  OK with *out set (free it with mem_conn_detach() and free()), or
 * an error with err set. */
sqclaim_rc mem_conn_open(size_t size, const sqclaim_options *opts, void **out, sqb_err *err);

/* A new space of its own, in no registry (NULL if out of memory); free
 * it with mem_space_free(). */
mem_space *mem_space_new(const char *name, const sqclaim_clock *clock);
void mem_space_free(mem_space *sp);

/* Locked.  The entry for sq, with what has expired purged; NULL if none. */
mem_entry *mem_space_find(mem_space *sp, const char *sq, int64_t now);
/* Locked.  Find or create the entry for sq; NULL if out of memory. */
mem_entry *mem_space_get(mem_space *sp, const char *sq, int64_t now);
/* Locked.  Free sq's entry if nothing in it is live any more. */
void mem_space_drop_if_empty(mem_space *sp, const char *sq, int64_t now);
/* Locked.  sq's entry if its claim is live and held with token (the
 * caller's own), else NULL. */
mem_entry *mem_space_ours(mem_space *sp, const char *sq, const char *token, int64_t now);
/* Whether e's open reservation is live and token's. */
bool mem_res_ours(const mem_entry *e, const char *token);
/* Locked.  The index of the first of req's candidates whose claim is not
 * live, or req->n if all are held. */
size_t mem_space_first_free(mem_space *sp, const sqb_claim_req *req, int64_t now);
/* Locked.  Grant candidate `index` to req (a new fence; its entry created
 * if need be) and fill *res.  OK, or ENOMEM with err set. */
sqclaim_rc mem_space_grant(mem_space *sp, const sqb_claim_req *req, sqb_claim_res *res,
                           size_t index, sqb_err *err);
/* Locked.  Extend e's claim, and the reservation req->token holds, to
 * req->ttl_ms from req->now_ns. */
void mem_space_renew(mem_space *sp, mem_entry *e, const sqb_lease_req *req);
/* Locked.  End e's claim and the reservation req->token holds; free the
 * entry if nothing in it is live. */
void mem_space_release(mem_space *sp, mem_entry *e, const sqb_lease_req *req);
/* Whether e's (live) claim has time left for a reservation at now. */
bool mem_space_reservable(const mem_entry *e, int64_t now);
/* Locked.  Open e's reservation for req at max(start, hint, 1), move the
 * cursor past it, and fill *rows. */
void mem_space_reserve_at(mem_space *sp, mem_entry *e, const sqb_reserve_req *req, uint64_t start,
                          sqclaim_rows *rows);

#endif /* SQCLAIM_MEMORY_SPACE_H */
