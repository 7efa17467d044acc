/* oracle.c — the online oracle: an owner slot per SQ and a model Refund Log.
 *
 * Nothing here asks the library anything.  Each bot tells the oracle what
 * the library told it (a grant with its fence and local deadline, a row
 * range), and the oracle judges by its own state and by time alone:
 *
 *   - Owner slots.  A bot entering its critical section swaps itself into
 *     the SQ's slot with a CAS.  Whoever it finds there is compared by
 *     belief interval: [grant returned, min(deadline, left)].  Intervals
 *     that overlap are a violation, reported at once; a predecessor whose
 *     lease ran out without a release makes this entry an expiry takeover.
 *   - The Refund Log.  Every row is a cell holding the reservation that
 *     owns it and a written bit.  A reservation takes its cells with a CAS
 *     (a cell owned by another reservation: overlap).  A write must carry
 *     a fence not older than the newest the Log accepted for the SQ; a
 *     stale one is rejected and counted, and is a violation only if the
 *     writer's lease was still valid when the Log decided.
 *
 * Times are CLOCK_MONOTONIC, the clock the library's deadlines use, and
 * every judgment compares times taken after the fact it depends on was
 * observed, so a preempted thread can make the oracle miss nothing it
 * should report and report nothing a correct backend can cause. */
#include "oracle.h"
#include "simutil.h"

#include <stdlib.h>
#include <string.h>

#define LEASE_ID(bot, idx) (((uint64_t)(unsigned)(bot) + 1) << 32 | (uint64_t)(idx))
#define ID_BOT(id)         ((int)((id) >> 32) - 1)
#define ID_IDX(id)         ((uint32_t)((id)&0xffffffffu))

/* ------------------------------------------------------------------ */
/* Chunked tables                                                       */

static void table_init(sim_table *t, size_t elem)
{
    t->elem = elem;
    t->n = 0;
    for (size_t i = 0; i < SIM_TABLE_CHUNKS; i++)
        atomic_init(&t->chunk[i], NULL);
}

static void table_free(sim_table *t)
{
    for (size_t i = 0; i < SIM_TABLE_CHUNKS; i++)
        free(atomic_load(&t->chunk[i]));
}

/* Append a zeroed record (owner thread).  *index is 1-based. */
static void *table_add(sim_table *t, uint32_t *index)
{
    uint32_t i = t->n;
    size_t c = i / SIM_TABLE_CHUNK;
    if (c >= SIM_TABLE_CHUNKS)
        return NULL;
    char *chunk = atomic_load_explicit(&t->chunk[c], memory_order_relaxed);
    if (!chunk) {
        chunk = calloc(SIM_TABLE_CHUNK, t->elem);
        if (!chunk)
            return NULL;
        atomic_store_explicit(&t->chunk[c], chunk, memory_order_release);
    }
    t->n++;
    *index = i + 1;
    return chunk + (i % SIM_TABLE_CHUNK) * t->elem;
}

static void *table_get(sim_table *t, uint32_t index)
{
    if (index == 0)
        return NULL;
    uint32_t i = index - 1;
    size_t c = i / SIM_TABLE_CHUNK;
    if (c >= SIM_TABLE_CHUNKS)
        return NULL;
    char *chunk = atomic_load_explicit(&t->chunk[c], memory_order_acquire);
    return chunk ? chunk + (i % SIM_TABLE_CHUNK) * t->elem : NULL;
}

/* ------------------------------------------------------------------ */

int sim_oracle_init(sim_oracle *o, int nbots, int nsqs, sim_violations *vs)
{
    memset(o, 0, sizeof *o);
    o->nbots = nbots;
    o->nsqs = nsqs;
    o->vs = vs;
    o->sqs = calloc((size_t)nsqs, sizeof *o->sqs);
    o->leases = calloc((size_t)nbots, sizeof *o->leases);
    o->resv = calloc((size_t)nbots, sizeof *o->resv);
    if (!o->sqs || !o->leases || !o->resv) {
        free(o->sqs);
        free(o->leases);
        free(o->resv);
        return -1;
    }
    for (int i = 0; i < nsqs; i++) {
        atomic_init(&o->sqs[i].slot, 0);
        atomic_init(&o->sqs[i].max_fence, 0);
    }
    for (int b = 0; b < nbots; b++) {
        table_init(&o->leases[b], sizeof(sim_lease_rec));
        table_init(&o->resv[b], sizeof(sim_res_rec));
    }
    for (size_t i = 0; i < SIM_ROW_PAGES; i++)
        atomic_init(&o->rows[i], NULL);
    atomic_init(&o->high_water, 1);
    atomic_init(&o->takeovers, 0);
    atomic_init(&o->stale_writes, 0);
    atomic_init(&o->stale_accepted, 0);
    atomic_init(&o->writes_ok, 0);
    return 0;
}

void sim_oracle_destroy(sim_oracle *o)
{
    if (!o->sqs)
        return;
    for (int b = 0; b < o->nbots; b++) {
        table_free(&o->leases[b]);
        table_free(&o->resv[b]);
    }
    for (size_t i = 0; i < SIM_ROW_PAGES; i++)
        free(atomic_load(&o->rows[i]));
    free(o->sqs);
    free(o->leases);
    free(o->resv);
    memset(o, 0, sizeof *o);
}

sim_lease_rec *sim_oracle_new_lease(sim_oracle *o, int bot, uint32_t *index)
{
    sim_lease_rec *r = table_add(&o->leases[bot], index);
    if (r) {
        atomic_init(&r->deadline_ns, 0);
        atomic_init(&r->vacated_ns, 0);
        atomic_init(&r->vacated_expired, false);
    }
    return r;
}

sim_lease_rec *sim_oracle_lease(sim_oracle *o, int bot, uint32_t index)
{
    return table_get(&o->leases[bot], index);
}

/* ------------------------------------------------------------------ */
/* Owner slots                                                          */

/* The end of a record's belief interval as known now. */
static int64_t belief_end(sim_lease_rec *r)
{
    int64_t d = atomic_load(&r->deadline_ns);
    int64_t v = atomic_load(&r->vacated_ns);
    return v && v < d ? v : d;
}

int sim_oracle_enter(sim_oracle *o, int bot, uint32_t index)
{
    sim_lease_rec *me = sim_oracle_lease(o, bot, index);
    if (!me)
        return 0;
    sim_sq_state *st = &o->sqs[me->sq];
    uint64_t myid = LEASE_ID(bot, index);
    uint64_t cur = atomic_load(&st->slot);
    uint64_t judged = 0;
    int found = 0;
    for (;;) {
        if (cur == 0) {
            if (atomic_compare_exchange_weak(&st->slot, &cur, myid))
                return found;
            continue;
        }
        int abot = ID_BOT(cur);
        sim_lease_rec *a = sim_oracle_lease(o, abot, ID_IDX(cur));
        if (!a) /* cannot happen: ids are published after their records */
            return found;
        bool same = abot == bot && a->lease == me->lease;
        int64_t a_end = belief_end(a);
        int64_t b_end = belief_end(me);
        bool takeover = false;
        if (!same && cur != judged) {
            judged = cur;
            sim_party pa = {abot, a->lease, a->fence, a->start_ns, a_end};
            sim_party pb = {bot, me->lease, me->fence, me->start_ns, b_end};
            int64_t lo = a->start_ns > me->start_ns ? a->start_ns : me->start_ns;
            int64_t hi = a_end < b_end ? a_end : b_end;
            sim_violation v;
            if (lo < hi) {
                sim_violation_set(&v, V_OVERLAP, true, me->sq, &pa, &pb);
                sim_violation_add(o->vs, &v);
                found++;
            } else if (a_end <= me->start_ns && me->fence <= a->fence) {
                sim_violation_set(&v, V_FENCE_ORDER, true, me->sq, &pa, &pb);
                sim_violation_add(o->vs, &v);
                found++;
            } else if (b_end <= a->start_ns && a->fence <= me->fence) {
                /* We enter late (our interval ended before theirs began). */
                sim_violation_set(&v, V_FENCE_ORDER, true, me->sq, &pb, &pa);
                sim_violation_add(o->vs, &v);
                found++;
            }
            /* Expiry takeover: the predecessor's lease ran out while it
             * still held the SQ (crashed, paused) or it saw it lapse. */
            bool left = atomic_load(&a->vacated_ns) != 0;
            takeover = a_end <= me->start_ns && (!left || atomic_load(&a->vacated_expired));
        }
        if (!same && a->start_ns > me->start_ns)
            return found; /* a newer holder is in: we are the stale one */
        if (atomic_compare_exchange_weak(&st->slot, &cur, myid)) {
            if (takeover)
                atomic_fetch_add(&o->takeovers, 1);
            return found;
        }
    }
}

void sim_oracle_leave(sim_oracle *o, int bot, uint32_t index, bool expired)
{
    sim_lease_rec *me = sim_oracle_lease(o, bot, index);
    if (!me || atomic_load(&me->vacated_ns))
        return;
    int64_t now = sim_now_ns();
    if (now >= atomic_load(&me->deadline_ns))
        expired = true;
    atomic_store(&me->vacated_expired, expired);
    atomic_store(&me->vacated_ns, now);
}

/* ------------------------------------------------------------------ */
/* The model Refund Log                                                 */

#define RES_ID(bot, idx) LEASE_ID(bot, idx)

static atomic_uint_fast64_t *row_cell(sim_oracle *o, uint64_t row)
{
    uint64_t p = row / SIM_ROW_PAGE;
    if (p >= SIM_ROW_PAGES)
        return NULL;
    atomic_uint_fast64_t *page = atomic_load(&o->rows[p]);
    if (!page) {
        atomic_uint_fast64_t *fresh = calloc(SIM_ROW_PAGE, sizeof *fresh);
        if (!fresh)
            return NULL;
        atomic_uint_fast64_t *expected = NULL;
        if (atomic_compare_exchange_strong(&o->rows[p], &expected, fresh))
            page = fresh;
        else {
            free(fresh);
            page = expected;
        }
    }
    return &page[row % SIM_ROW_PAGE];
}

static sim_res_rec *res_of(sim_oracle *o, uint64_t id)
{
    return table_get(&o->resv[ID_BOT(id)], ID_IDX(id));
}

void sim_oracle_reserved(sim_oracle *o, int bot, uint32_t index, const sqclaim_rows *rows)
{
    sim_lease_rec *me = sim_oracle_lease(o, bot, index);
    if (!me)
        return;
    sim_violation v;
    sim_party pa = {bot, me->lease, me->fence, 0, 0};
    sim_violation_set(&v, V_ROWS_FENCE, true, me->sq, &pa, NULL);
    v.row_start = rows->start_row;
    v.rows = rows->count;
    if (rows->fence != me->fence) {
        v.fence_b = rows->fence;
        sim_violation_add(o->vs, &v);
    }
    sim_res_rec *prev = me->res_index ? table_get(&o->resv[bot], me->res_index) : NULL;
    if (prev && prev->start == rows->start_row && prev->count == rows->count)
        return; /* the same reservation again (an idempotent retry) */
    uint32_t ridx;
    sim_res_rec *r = table_add(&o->resv[bot], &ridx);
    if (!r)
        return;
    r->sq = me->sq;
    r->lease = me->lease;
    r->fence = me->fence;
    r->start = rows->start_row;
    r->count = rows->count;
    me->res_index = ridx;
    uint64_t cell_val = RES_ID(bot, ridx) << 1;
    bool reported = false;
    for (uint64_t row = rows->start_row; row < rows->start_row + rows->count; row++) {
        atomic_uint_fast64_t *c = row_cell(o, row);
        if (!c)
            break;
        uint_fast64_t expected = 0;
        if (atomic_compare_exchange_strong(c, &expected, cell_val))
            continue;
        if (!reported) {
            reported = true;
            sim_res_rec *other = res_of(o, expected >> 1);
            v.kind = V_ROW_OVERLAP;
            v.bot_b = ID_BOT(expected >> 1);
            v.fence_b = other ? other->fence : 0;
            v.row_start = row;
            v.rows = 1;
            while (v.row_start + v.rows < rows->start_row + rows->count) {
                atomic_uint_fast64_t *n = row_cell(o, v.row_start + v.rows);
                if (!n || (atomic_load(n) >> 1) != (expected >> 1))
                    break;
                v.rows++;
            }
            sim_violation_add(o->vs, &v);
        }
    }
    uint64_t end = rows->start_row + rows->count;
    uint_fast64_t hw = atomic_load(&o->high_water);
    while (hw < end && !atomic_compare_exchange_weak(&o->high_water, &hw, end)) {
    }
}

bool sim_oracle_write(sim_oracle *o, int bot, uint32_t index, bool *believed, bool *rejected)
{
    *believed = false;
    *rejected = false;
    sim_lease_rec *me = sim_oracle_lease(o, bot, index);
    if (!me)
        return false;
    sim_res_rec *res = me->res_index ? table_get(&o->resv[bot], me->res_index) : NULL;
    sim_sq_state *st = &o->sqs[me->sq];
    uint_fast64_t m = atomic_load(&st->max_fence);
    for (;;) {
        if (me->fence < m) {
            *rejected = true;
            break;
        }
        if (me->fence == m || atomic_compare_exchange_weak(&st->max_fence, &m, me->fence))
            break;
    }
    /* Judged after the decision: a newer fence seen means the newer grant
     * happened before now. */
    int64_t now = sim_now_ns();
    int64_t deadline = atomic_load(&me->deadline_ns);
    *believed = now < deadline && atomic_load(&me->vacated_ns) == 0;
    sim_violation v;
    sim_party pa = {bot, me->lease, me->fence, 0, 0};
    sim_violation_set(&v, V_STALE_BELIEVED, true, me->sq, &pa, NULL);
    if (res) {
        v.row_start = res->start;
        v.rows = res->count;
    }
    if (*rejected) {
        atomic_fetch_add(&o->stale_writes, 1);
        if (*believed) {
            v.fence_b = m;
            v.a_start = now;
            v.a_end = deadline;
            sim_violation_add(o->vs, &v);
        }
        return false;
    }
    if (!*believed)
        atomic_fetch_add(&o->stale_accepted, 1);
    atomic_fetch_add(&o->writes_ok, 1);
    if (!res)
        return true;
    uint64_t mine = RES_ID(bot, me->res_index);
    for (uint64_t row = res->start; row < res->start + res->count; row++) {
        atomic_uint_fast64_t *c = row_cell(o, row);
        if (!c)
            break;
        uint_fast64_t old = atomic_fetch_or(c, 1);
        if ((old >> 1) != mine) {
            sim_res_rec *other = res_of(o, old >> 1);
            v.kind = V_ROW_FOREIGN;
            v.row_start = row;
            v.rows = 1;
            v.bot_b = old >> 1 ? ID_BOT(old >> 1) : -1;
            v.fence_b = other ? other->fence : 0;
            sim_violation_add(o->vs, &v);
            break;
        }
        if (old & 1) {
            v.kind = V_ROW_TWICE;
            v.row_start = row;
            v.rows = 1;
            v.a_start = now;
            sim_violation_add(o->vs, &v);
            break;
        }
    }
    return true;
}
