/* memory.c — the in-process backend.
 *
 * Claims and reservations live in a "space": a hash table guarded by one
 * mutex.  Handles opened with the same memory_space name share a space, so
 * threads of one process coordinate exactly as bots do through Redis.
 * Time is the store clock passed with every request (injectable, so tests
 * move time instead of sleeping); an entry whose expiry has passed is
 * treated as absent everywhere, purged when touched, and swept out when
 * the table has doubled since the last sweep.  At exactly its expiry
 * instant an entry is still live, as a Redis key is.  The fencing counter and the
 * row cursor belong to the space and never expire: when the last handle
 * of a space closes, its claims and reservations go, but its counters stay
 * for the life of the process, so fences and rows are never handed out
 * twice.
 *
 * The space's locked operations are declared in memory_space.h, for the
 * simulator's negative controls (sim/controls/), which are never part of
 * the library. */
#include "memory_space.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_space *registry;

/* ------------------------------------------------------------------ */

static uint64_t hash_sq(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* As in Redis, an entry is still live at exactly its expiry instant and
 * expired only once the clock is past it (Redis: expired when now > when). */
static bool claim_live(const mem_claim *c, int64_t now) { return c->live && c->expires_ns >= now; }
static bool res_live(const mem_res *r, int64_t now) { return r->live && r->expires_ns >= now; }

static mem_entry **slot(mem_space *sp, const char *sq)
{
    mem_entry **pp = &sp->buckets[hash_sq(sq) & (sp->nbuckets - 1)];
    while (*pp && strcmp((*pp)->sq, sq) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Find the entry for sq, purging what has expired; NULL if none. */
mem_entry *mem_space_find(mem_space *sp, const char *sq, int64_t now)
{
    mem_entry **pp = slot(sp, sq);
    mem_entry *e = *pp;
    if (!e)
        return NULL;
    if (!claim_live(&e->claim, now))
        e->claim.live = false;
    if (!res_live(&e->res, now))
        e->res.live = false;
    if (!e->claim.live && !e->res.live) {
        *pp = e->next;
        free(e);
        sp->nentries--;
        return NULL;
    }
    return e;
}

/* Locked.  Purge every expired entry (mem_space_find frees one when
 * nothing in it is live), and call visit (unless NULL) on each entry left,
 * stopping at the first that returns false: then false. */
static bool each_entry(mem_space *sp, int64_t now, bool (*visit)(mem_entry *, int64_t, void *),
                       void *ctx)
{
    for (size_t i = 0; i < sp->nbuckets; i++) {
        mem_entry *e = sp->buckets[i];
        while (e) {
            mem_entry *next = e->next;
            char sq[SQCLAIM_SQ_MAX + 1];
            sqb_strlcpy(sq, e->sq, sizeof sq);
            e = mem_space_find(sp, sq, now);
            if (e && visit && !visit(e, now, ctx))
                return false;
            e = next;
        }
    }
    return true;
}

/* Drop every expired entry (amortised: called when the table doubled). */
static void sweep(mem_space *sp, int64_t now) { (void)each_entry(sp, now, NULL, NULL); }

static void grow_table(mem_space *sp)
{
    size_t n = sp->nbuckets * 2;
    mem_entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < sp->nbuckets; i++) {
        mem_entry *e = sp->buckets[i];
        while (e) {
            mem_entry *next = e->next;
            size_t k = hash_sq(e->sq) & (n - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(sp->buckets);
    sp->buckets = b;
    sp->nbuckets = n;
}

/* Find or create the entry for sq.  NULL if out of memory. */
mem_entry *mem_space_get(mem_space *sp, const char *sq, int64_t now)
{
    mem_entry *e = mem_space_find(sp, sq, now);
    if (e)
        return e;
    if (sp->nentries >= sp->sweep_at) {
        sweep(sp, now);
        sp->sweep_at = sp->nentries * 2 > 64 ? sp->nentries * 2 : 64;
    }
    if (sp->nentries >= sp->nbuckets)
        grow_table(sp);
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    sqb_strlcpy(e->sq, sq, sizeof e->sq);
    mem_entry **head = &sp->buckets[hash_sq(sq) & (sp->nbuckets - 1)];
    e->next = *head;
    *head = e;
    sp->nentries++;
    return e;
}

void mem_space_drop_if_empty(mem_space *sp, const char *sq, int64_t now)
{
    (void)mem_space_find(sp, sq, now);
}

/* Free the entries and the table; the counters stay. */
static void space_clear(mem_space *sp)
{
    for (size_t i = 0; i < sp->nbuckets; i++) {
        mem_entry *e = sp->buckets[i];
        while (e) {
            mem_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(sp->buckets);
    sp->buckets = NULL;
    sp->nbuckets = sp->nentries = 0;
}

void mem_space_free(mem_space *sp)
{
    space_clear(sp);
    pthread_mutex_destroy(&sp->mu);
    free(sp);
}

/* (Re)open a space's table with this clock.  0 or -1 (out of memory). */
static int space_reopen(mem_space *sp, const sqclaim_clock *clock)
{
    sp->nbuckets = 64;
    sp->buckets = calloc(sp->nbuckets, sizeof *sp->buckets);
    if (!sp->buckets) {
        sp->nbuckets = 0;
        return -1;
    }
    sp->nentries = 0;
    sp->sweep_at = 64;
    sp->clock = *clock;
    sp->refs = 1;
    return 0;
}

mem_space *mem_space_new(const char *name, const sqclaim_clock *clock)
{
    mem_space *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    if (space_reopen(sp, clock) != 0) {
        free(sp);
        return NULL;
    }
    sqb_strlcpy(sp->name, name, sizeof sp->name);
    pthread_mutex_init(&sp->mu, NULL);
    return sp;
}

/* ------------------------------------------------------------------ */

sqclaim_rc mem_conn_attach(mem_conn *c, const sqclaim_options *opts, sqb_err *err)
{
    const char *name = opts->memory_space && *opts->memory_space ? opts->memory_space : "default";
    if (strlen(name) >= sizeof((mem_space *)0)->name)
        return sqb_seterr(err, SQCLAIM_EINVAL,
                          "memory_space name is %zu bytes, at most %zu allowed", strlen(name),
                          sizeof((mem_space *)0)->name - 1);
    pthread_mutex_lock(&registry_mu);
    mem_space *sp = registry;
    while (sp && strcmp(sp->name, name) != 0)
        sp = sp->next;
    if (sp && sp->refs == 0) {
        /* Reopened after its last handle closed: counters carry on. */
        if (space_reopen(sp, opts->clock) != 0) {
            pthread_mutex_unlock(&registry_mu);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
    } else if (sp) {
        if (sp->clock.now_ns != opts->clock->now_ns || sp->clock.ctx != opts->clock->ctx) {
            pthread_mutex_unlock(&registry_mu);
            return sqb_seterr(err, SQCLAIM_ECONFIG,
                              "memory space \"%s\" is already open with another clock; handles "
                              "sharing a space must share its clock",
                              name);
        }
        sp->refs++;
    } else {
        sp = mem_space_new(name, opts->clock);
        if (!sp) {
            pthread_mutex_unlock(&registry_mu);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
        sp->next = registry;
        registry = sp;
    }
    pthread_mutex_unlock(&registry_mu);
    c->space = sp;
    return SQCLAIM_OK;
}

void mem_conn_detach(mem_conn *c)
{
    mem_space *sp = c->space;
    pthread_mutex_lock(&registry_mu);
    if (--sp->refs == 0)
        space_clear(sp); /* the space and its counters stay registered */
    pthread_mutex_unlock(&registry_mu);
    c->space = NULL;
}

sqclaim_rc mem_conn_open(size_t size, const sqclaim_options *opts, void **out, sqb_err *err)
{
    mem_conn *c = calloc(1, size);
    if (!c)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    sqclaim_rc rc = mem_conn_attach(c, opts, err);
    if (rc != SQCLAIM_OK) {
        free(c);
        return rc;
    }
    *out = c;
    return SQCLAIM_OK;
}

static sqclaim_rc mem_open(const sqclaim_options *opts, void **out, sqb_err *err)
{
    return mem_conn_open(sizeof(mem_conn), opts, out, err);
}

static void mem_close(void *vc)
{
    mem_conn *c = vc;
    if (!c)
        return;
    mem_conn_detach(c);
    free(c);
}

static sqclaim_rc mem_ping(void *vc, sqb_err *err)
{
    (void)vc;
    (void)err;
    return SQCLAIM_OK;
}

size_t mem_space_first_free(mem_space *sp, const sqb_claim_req *req, int64_t now)
{
    size_t i = 0;
    for (; i < req->n; i++) {
        mem_entry *e = mem_space_find(sp, req->sqs[i], now);
        if (!(e && e->claim.live))
            break;
    }
    return i;
}

sqclaim_rc mem_space_grant(mem_space *sp, const sqb_claim_req *req, sqb_claim_res *res,
                           size_t index, sqb_err *err)
{
    mem_entry *e = mem_space_get(sp, req->sqs[index], req->now_ns);
    if (!e)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    mem_claim *cl = &e->claim;
    cl->live = true;
    sqb_strlcpy(cl->bot, req->bot, sizeof cl->bot);
    sqb_strlcpy(cl->token, req->token, sizeof cl->token);
    cl->fence = ++sp->fence;
    sqb_strlcpy(cl->ts, req->timestamp, sizeof cl->ts);
    cl->expires_ns = req->now_ns + req->ttl_ms * 1000000;
    res->index = index;
    res->fence = cl->fence;
    res->reclaimed = false;
    res->ttl_ms = req->ttl_ms;
    return SQCLAIM_OK;
}

static sqclaim_rc mem_claim_op(void *vc, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    mem_conn *c = vc;
    mem_space *sp = c->space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    /* Pass 1: a candidate already held with our token is ours (a retry). */
    for (size_t i = 0; i < req->n; i++) {
        mem_entry *e = mem_space_ours(sp, req->sqs[i], req->token, now);
        if (e) {
            res->index = i;
            res->fence = e->claim.fence;
            res->reclaimed = true;
            res->ttl_ms = (e->claim.expires_ns - now) / 1000000;
            pthread_mutex_unlock(&sp->mu);
            return SQCLAIM_OK;
        }
    }
    /* Pass 2: the first free candidate, in list order. */
    size_t i = mem_space_first_free(sp, req, now);
    if (i < req->n) {
        sqclaim_rc rc = mem_space_grant(sp, req, res, i, err);
        pthread_mutex_unlock(&sp->mu);
        return rc;
    }
    mem_entry *e = mem_space_find(sp, req->sqs[0], now);
    if (e && e->claim.live) {
        sqb_strlcpy(res->holder.bot, e->claim.bot, sizeof res->holder.bot);
        res->holder.remaining_ms = (e->claim.expires_ns - now) / 1000000;
    }
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_BUSY;
}

mem_entry *mem_space_ours(mem_space *sp, const char *sq, const char *token, int64_t now)
{
    mem_entry *e = mem_space_find(sp, sq, now);
    return e && e->claim.live && strcmp(e->claim.token, token) == 0 ? e : NULL;
}

bool mem_res_ours(const mem_entry *e, const char *token)
{
    return e->res.live && strcmp(e->res.token, token) == 0;
}

/* Lock sp and find the live claim token holds on sq: the entry, with the
 * lock held, or NULL (LOST) with the lock released. */
static mem_entry *lock_ours(mem_space *sp, const char *sq, const char *token, int64_t now)
{
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_ours(sp, sq, token, now);
    if (!e)
        pthread_mutex_unlock(&sp->mu);
    return e;
}

/* A lease call (renew, release, finish): apply `op` to the entry under
 * the lock when req->token holds the live claim of req->sq; else LOST. */
static sqclaim_rc lease_call(void *vc, const sqb_lease_req *req,
                             void (*op)(mem_space *, mem_entry *, const sqb_lease_req *))
{
    mem_space *sp = ((mem_conn *)vc)->space;
    mem_entry *e = lock_ours(sp, req->sq, req->token, req->now_ns);
    if (!e)
        return SQCLAIM_LOST;
    op(sp, e, req);
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

void mem_space_renew(mem_space *sp, mem_entry *e, const sqb_lease_req *req)
{
    (void)sp;
    e->claim.expires_ns = req->now_ns + req->ttl_ms * 1000000;
    if (mem_res_ours(e, req->token))
        e->res.expires_ns = e->claim.expires_ns;
}

static sqclaim_rc mem_renew(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    (void)err;
    return lease_call(vc, req, mem_space_renew);
}

void mem_space_release(mem_space *sp, mem_entry *e, const sqb_lease_req *req)
{
    e->claim.live = false;
    if (mem_res_ours(e, req->token))
        e->res.live = false;
    mem_space_drop_if_empty(sp, req->sq, req->now_ns);
}

static sqclaim_rc mem_release(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    (void)err;
    return lease_call(vc, req, mem_space_release);
}

bool mem_space_reservable(const mem_entry *e, int64_t now)
{
    /* At its expiry instant the claim is still live, but a reservation
     * would have no time left: LOST, as the redis script answers for a
     * claim whose PTTL is 0. */
    return e->claim.expires_ns != now;
}

void mem_space_reserve_at(mem_space *sp, mem_entry *e, const sqb_reserve_req *req, uint64_t start,
                          sqclaim_rows *rows)
{
    if (start < req->hint)
        start = req->hint;
    if (start < 1)
        start = 1;
    sp->cursor = start + req->count;
    mem_res *r = &e->res;
    r->live = true;
    sqb_strlcpy(r->bot, e->claim.bot, sizeof r->bot); /* the stored claim's, not the request's */
    sqb_strlcpy(r->token, req->token, sizeof r->token);
    r->fence = e->claim.fence;
    r->start = start;
    r->count = req->count;
    sqb_strlcpy(r->ts, req->timestamp, sizeof r->ts);
    r->expires_ns = e->claim.expires_ns;
    rows->start_row = start;
    rows->count = req->count;
    rows->fence = r->fence;
}

static sqclaim_rc mem_reserve(void *vc, const sqb_reserve_req *req, sqclaim_rows *rows,
                              sqb_err *err)
{
    (void)err;
    mem_space *sp = ((mem_conn *)vc)->space;
    mem_entry *e = lock_ours(sp, req->sq, req->token, req->now_ns);
    if (!e)
        return SQCLAIM_LOST;
    if (!mem_space_reservable(e, req->now_ns)) {
        pthread_mutex_unlock(&sp->mu);
        return SQCLAIM_LOST;
    }
    if (mem_res_ours(e, req->token)) {
        /* The same request again (a retry) gets the same range; anything
         * else conflicts with the open reservation. */
        sqclaim_rc rc = SQCLAIM_BUSY;
        if (e->res.count == req->count && e->res.start >= req->hint) {
            rows->start_row = e->res.start;
            rows->count = e->res.count;
            rows->fence = e->res.fence;
            rc = SQCLAIM_OK;
        }
        pthread_mutex_unlock(&sp->mu);
        return rc;
    }
    mem_space_reserve_at(sp, e, req, sp->cursor, rows);
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

/* Ours: remove our reservation; none left is OK too (a retry).  With
 * rows_start, only the reservation named: another one of ours (a later
 * reservation) stays, and the answer is OK all the same. */
static void finish_locked(mem_space *sp, mem_entry *e, const sqb_lease_req *req)
{
    (void)sp;
    if (mem_res_ours(e, req->token) && (req->rows_start == 0 || (e->res.start == req->rows_start &&
                                                                 e->res.count == req->rows_count &&
                                                                 e->res.fence == req->rows_fence)))
        e->res.live = false;
}

static sqclaim_rc mem_finish(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    (void)err;
    return lease_call(vc, req, finish_locked);
}

/* Entries as status shows them.  Memory holds only sqclaim's own records;
 * a fence is never handed out twice in a space, so it identifies a grant
 * (and fence + start row a reservation): that is the fingerprint. */
static void claim_info(const mem_entry *e, int64_t now, sqclaim_claim_info *ci)
{
    memset(ci, 0, sizeof *ci);
    sqb_strlcpy(ci->sq, e->sq, sizeof ci->sq);
    sqb_strlcpy(ci->bot, e->claim.bot, sizeof ci->bot);
    sqb_strlcpy(ci->timestamp, e->claim.ts, sizeof ci->timestamp);
    sqb_strlcpy(ci->status, "CLAIMING", sizeof ci->status);
    ci->fence = e->claim.fence;
    ci->ttl_ms = (e->claim.expires_ns - now) / 1000000;
    snprintf(ci->fingerprint, sizeof ci->fingerprint, "m:c:%llu",
             (unsigned long long)e->claim.fence);
}

static void res_info(const mem_entry *e, int64_t now, sqclaim_reservation_info *ri)
{
    memset(ri, 0, sizeof *ri);
    sqb_strlcpy(ri->sq, e->sq, sizeof ri->sq);
    sqb_strlcpy(ri->bot, e->res.bot, sizeof ri->bot);
    ri->start_row = e->res.start;
    ri->row_count = e->res.count;
    sqb_strlcpy(ri->status, "WRITING", sizeof ri->status);
    sqb_strlcpy(ri->timestamp, e->res.ts, sizeof ri->timestamp);
    ri->fence = e->res.fence;
    ri->ttl_ms = (e->res.expires_ns - now) / 1000000;
    snprintf(ri->fingerprint, sizeof ri->fingerprint, "m:r:%llu:%llu",
             (unsigned long long)e->res.fence, (unsigned long long)e->res.start);
}

/* Add e's live claim and reservation to the status *ctx; false when
 * memory ran out. */
static bool add_status(mem_entry *e, int64_t now, void *ctx)
{
    sqclaim_status *out = ctx;
    if (e->claim.live) {
        sqclaim_claim_info ci;
        claim_info(e, now, &ci);
        if (sqb_status_add_claim(out, &ci) != SQCLAIM_OK)
            return false;
    }
    if (e->res.live) {
        sqclaim_reservation_info ri;
        res_info(e, now, &ri);
        if (sqb_status_add_reservation(out, &ri) != SQCLAIM_OK)
            return false;
    }
    return true;
}

static sqclaim_rc mem_status(void *vc, sqclaim_status *out, sqb_err *err)
{
    mem_space *sp = ((mem_conn *)vc)->space;
    int64_t now = sp->clock.now_ns(sp->clock.ctx);
    pthread_mutex_lock(&sp->mu);
    bool ok = each_entry(sp, now, add_status, out);
    pthread_mutex_unlock(&sp->mu);
    return ok ? SQCLAIM_OK : sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------ */
/* Operator tools                                                       */

static sqclaim_rc mem_inspect(void *vc, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    (void)err;
    mem_conn *c = vc;
    mem_space *sp = c->space;
    int64_t now = sp->clock.now_ns(sp->clock.ctx);
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_find(sp, sq, now);
    if (e && e->claim.live) {
        out->has_claim = true;
        claim_info(e, now, &out->claim);
    }
    if (e && e->res.live) {
        out->has_reservation = true;
        res_info(e, now, &out->reservation);
    }
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

static sqclaim_rc mem_break(void *vc, const sqb_break_req *req, unsigned *removed, sqb_err *err)
{
    (void)err;
    mem_conn *c = vc;
    mem_space *sp = c->space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_find(sp, req->sq, now);
    bool has_claim = e && e->claim.live, has_res = e && e->res.live;
    if (req->check) {
        char fp[SQCLAIM_FINGERPRINT_MAX + 1];
        if (has_claim) {
            snprintf(fp, sizeof fp, "m:c:%llu", (unsigned long long)e->claim.fence);
            if (strcmp(fp, req->claim_fp) != 0)
                goto changed;
        }
        if (has_res) {
            snprintf(fp, sizeof fp, "m:r:%llu:%llu", (unsigned long long)e->res.fence,
                     (unsigned long long)e->res.start);
            if (strcmp(fp, req->res_fp) != 0)
                goto changed;
        }
    }
    if (has_claim && !req->force) {
        pthread_mutex_unlock(&sp->mu); /* every claim here is sqclaim's own */
        return SQCLAIM_BUSY;
    }
    *removed = (has_claim ? SQCLAIM_BROKE_CLAIM : 0u) | (has_res ? SQCLAIM_BROKE_RESERVATION : 0u);
    if (e) {
        e->claim.live = false;
        e->res.live = false;
        mem_space_drop_if_empty(sp, req->sq, now);
    }
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
changed:
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_LOST;
}

static sqclaim_rc mem_counters(void *vc, sqclaim_counters *out, sqb_err *err)
{
    (void)err;
    mem_conn *c = vc;
    mem_space *sp = c->space;
    pthread_mutex_lock(&sp->mu);
    out->fence = sp->fence;
    out->row_cursor = sp->cursor;
    pthread_mutex_unlock(&sp->mu);
    out->fence_state = SQCLAIM_COUNTER_OK; /* a space's counters are never lost */
    out->cursor_state = SQCLAIM_COUNTER_OK;
    snprintf(out->fence_key, sizeof out->fence_key, "sqclaim:fence");
    snprintf(out->cursor_key, sizeof out->cursor_key, "sqclaim:rowcursor");
    return SQCLAIM_OK;
}

static sqclaim_rc mem_raise_cursor(void *vc, uint64_t row, uint64_t *cursor, sqb_err *err)
{
    (void)err;
    mem_conn *c = vc;
    mem_space *sp = c->space;
    pthread_mutex_lock(&sp->mu);
    sqclaim_rc rc = SQCLAIM_OK;
    if (sp->cursor > row)
        rc = SQCLAIM_BUSY;
    else
        sp->cursor = row;
    *cursor = sp->cursor;
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

const sqclaim_backend sqclaim_backend_memory = {
    .version = SQB_VERSION,
    .name = "memory",
    .summary = "in-process memory, shared by the handles of one process (threads)",
    .caps = SQCLAIM_CAP_CLOCK,
    .open = mem_open,
    .close = mem_close,
    .ping = mem_ping,
    .claim = mem_claim_op,
    .renew = mem_renew,
    .release = mem_release,
    .reserve = mem_reserve,
    .finish = mem_finish,
    .status = mem_status,
    .stats = NULL,
    .inspect = mem_inspect,
    .break_sq = mem_break,
    .counters = mem_counters,
    .raise_cursor = mem_raise_cursor,
};
