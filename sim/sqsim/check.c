/* check.c — the offline check of a run's history, and a synthetic history
 * to measure its cost.
 *
 * From each bot's history (in its program order) the check rebuilds the
 * bot's belief intervals: from a claim's return (or a renewal that revived
 * a lapsed lease) to the release's invocation, a LOST answer, or the local
 * deadline, whichever comes first; keep-alive renewals and manual renewals
 * made in time extend the deadline.  Uncertain ("info") claims are never
 * believed.  Then, per SQ, sorted by start (O(n log n)), one sweep finds
 * any two intervals of different leases that overlap and any fence that is
 * not above every earlier, disjoint one.  Reservations and accepted writes
 * are swept by row the same way, and a write the model Log rejected for a
 * stale fence inside its writer's belief interval is a violation. */
#include "oracle.h"
#include "simutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct interval {
    int64_t start, end;
    uint64_t fence;
    uint32_t lease;
    uint16_t bot, sq;
} interval;

typedef struct range {
    uint64_t start;
    uint32_t count;
    uint32_t lease;
    uint64_t fence;
    uint16_t bot, sq;
} range;

/* A granted claim: when it was invoked and when it returned. */
typedef struct grant {
    int64_t invoke, complete;
    uint64_t fence;
    uint32_t lease;
    uint16_t bot, sq;
} grant;

static int cmp_interval(const void *pa, const void *pb)
{
    const interval *a = pa, *b = pb;
    if (a->sq != b->sq)
        return a->sq < b->sq ? -1 : 1;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

static int cmp_range(const void *pa, const void *pb)
{
    const range *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->count > b->count) - (a->count < b->count);
}

static int cmp_grant_invoke(const void *pa, const void *pb)
{
    const grant *a = pa, *b = pb;
    if (a->sq != b->sq)
        return a->sq < b->sq ? -1 : 1;
    return (a->invoke > b->invoke) - (a->invoke < b->invoke);
}

typedef struct seg {
    bool open;
    interval iv;
} seg;

static void emit(interval *out, size_t *n, size_t cap, seg *s)
{
    if (s->open && s->iv.start < s->iv.end && *n < cap)
        out[(*n)++] = s->iv;
    s->open = false;
}

static bool is_claim(uint8_t op)
{
    return op == OP_CLAIM || op == OP_CLAIM_FIRST || op == OP_CLAIM_RETRY;
}

static bool same_lease(const interval *a, const interval *b)
{
    return a->bot == b->bot && a->lease == b->lease;
}

static sim_party party_of(const interval *x)
{
    return (sim_party){x->bot, x->lease, x->fence, x->start, x->end};
}

static void report_pair(sim_violations *vs, enum sim_vkind kind, const interval *a,
                        const interval *b)
{
    sim_violation v;
    sim_party pa = party_of(a), pb = party_of(b);
    sim_violation_set(&v, kind, false, a->sq, &pa, &pb);
    sim_violation_add(vs, &v);
}

/* Per SQ, by start: two believed intervals of different leases overlap, or
 * one starts after the highest-fenced earlier one ended without a higher
 * fence. */
static void sweep_intervals(interval *iv, size_t niv, sim_violations *vs)
{
    qsort(iv, niv, sizeof *iv, cmp_interval);
    for (size_t i = 0; i < niv;) {
        size_t j = i;
        const interval *reach = NULL; /* the interval reaching furthest so far */
        const interval *top = NULL;   /* the one with the highest fence so far */
        for (; j < niv && iv[j].sq == iv[i].sq; j++) {
            const interval *x = &iv[j];
            if (reach && x->start < reach->end && !same_lease(reach, x))
                report_pair(vs, V_OVERLAP, reach, x);
            else if (top && !same_lease(top, x) && x->fence <= top->fence && x->start >= top->end)
                report_pair(vs, V_FENCE_ORDER, top, x);
            if (!reach || x->end > reach->end)
                reach = x;
            if (!top || x->fence > top->fence)
                top = x;
        }
        i = j;
    }
}

/* A min-heap of grants by return time. */
static void heap_push(const grant **h, size_t *n, const grant *g)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2]->complete > g->complete) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = g;
}

static const grant *heap_pop(const grant **h, size_t *n)
{
    const grant *top = h[0], *last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1]->complete < h[c]->complete)
            c++;
        if (h[c]->complete >= last->complete)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* Per SQ, in real-time order: a claim invoked after another claim had
 * returned was applied after it, so its fence must be higher.  Every grant
 * counts, believed or not (one that returned after its deadline never
 * acted, but its fence was handed out all the same).  Grants are taken in
 * order of invocation; those not yet returned wait in a heap by return
 * time, and each invocation first folds in every grant returned before
 * it, keeping the highest fence: O(n log n). */
static void sweep_grants(grant *g, size_t n, const grant **heap, sim_violations *vs)
{
    qsort(g, n, sizeof *g, cmp_grant_invoke);
    for (size_t i = 0; i < n;) {
        uint16_t sq = g[i].sq;
        size_t pending = 0;
        const grant *best = NULL; /* the highest fence returned so far */
        for (; i < n && g[i].sq == sq; i++) {
            const grant *x = &g[i];
            while (pending && heap[0]->complete < x->invoke) {
                const grant *r = heap_pop(heap, &pending);
                if (!best || r->fence > best->fence)
                    best = r;
            }
            if (best && best->fence >= x->fence &&
                !(best->bot == x->bot && best->lease == x->lease)) {
                sim_violation v;
                sim_party a = {best->bot, best->lease, best->fence, best->invoke, best->complete};
                sim_party b = {x->bot, x->lease, x->fence, x->invoke, x->complete};
                sim_violation_set(&v, V_GRANT_FENCE, false, sq, &a, &b);
                sim_violation_add(vs, &v);
            }
            heap_push(heap, &pending, x);
        }
    }
}

/* Reservations never share a row (an idempotent repeat of the same one
 * aside); accepted writes never repeat one. */
static void sweep_rows(range *r, size_t n, bool writes, sim_violations *vs)
{
    qsort(r, n, sizeof *r, cmp_range);
    const range *reach = NULL;
    for (size_t k = 0; k < n; k++) {
        const range *x = &r[k];
        if (reach && x->start < reach->start + reach->count) {
            bool same = reach->bot == x->bot && reach->lease == x->lease &&
                        reach->start == x->start && reach->count == x->count;
            if (!same || writes) {
                /* Writes name the second writer first (the one that wrote
                 * over); reservations the earlier owner. */
                const range *a = writes ? x : reach, *b = writes ? reach : x;
                sim_violation v;
                sim_party pa = {a->bot, a->lease, a->fence, 0, 0};
                sim_party pb = {b->bot, b->lease, b->fence, 0, 0};
                sim_violation_set(&v, writes ? V_ROW_TWICE : V_ROW_OVERLAP, false, a->sq, &pa, &pb);
                uint64_t end = reach->start + reach->count;
                if (x->start + x->count < end)
                    end = x->start + x->count;
                v.row_start = x->start;
                v.rows = (uint32_t)(end - x->start);
                sim_violation_add(vs, &v);
            }
        }
        if (!reach || x->start + x->count > reach->start + reach->count)
            reach = x;
    }
}

void sim_check_histories(sim_history *h, int nbots, int nsqs, sim_violations *vs,
                         sim_check_stats *st)
{
    (void)nsqs;
    int64_t cpu0 = sim_cpu_ns();
    memset(st, 0, sizeof *st);
    size_t ncl = 0, ngr = 0, nres = 0, nwr = 0;
    for (int b = 0; b < nbots; b++)
        for (sim_chunk *c = h[b].head; c; c = c->next)
            for (size_t i = 0; i < c->n; i++) {
                const sim_event *e = &c->ev[i];
                st->events++;
                if (e->outcome != OUT_OK)
                    continue;
                if (is_claim(e->op))
                    ngr++;
                if (is_claim(e->op) || e->op == OP_RENEW)
                    ncl++;
                else if (e->op == OP_RESERVE)
                    nres++;
                else if (e->op == OP_WRITE)
                    nwr++;
            }
    interval *iv = malloc((ncl + 1) * sizeof *iv);
    grant *gr = malloc((ngr + 1) * sizeof *gr);
    const grant **heap = malloc((ngr + 1) * sizeof *heap);
    range *rs = malloc((nres + 1) * sizeof *rs);
    range *ws = malloc((nwr + 1) * sizeof *ws);
    if (!iv || !gr || !heap || !rs || !ws) {
        free(iv);
        free(gr);
        free(heap);
        free(rs);
        free(ws);
        return;
    }
    size_t niv = 0;
    ngr = nres = nwr = 0;

    /* 1. Belief intervals, grants, reservations and writes from each bot's
     *    history, in its program order. */
    for (int b = 0; b < nbots; b++) {
        seg s = {.open = false};
        for (sim_chunk *c = h[b].head; c; c = c->next)
            for (size_t i = 0; i < c->n; i++) {
                const sim_event *e = &c->ev[i];
                bool mine = s.open && s.iv.lease == e->lease;
                interval fresh = {e->complete_ns, e->aux, e->fence, e->lease, (uint16_t)b, e->sq};
                if (is_claim(e->op)) {
                    if (e->outcome != OUT_OK)
                        continue; /* refused, or info: possibly held, never believed */
                    gr[ngr++] = (grant){e->invoke_ns, e->complete_ns, e->fence,
                                        e->lease,     (uint16_t)b,    e->sq};
                    emit(iv, &niv, ncl, &s);
                    s.open = true;
                    s.iv = fresh;
                    continue;
                }
                switch ((enum sim_op)e->op) {
                case OP_RENEW:
                    if (e->outcome == OUT_OK) {
                        if (mine && e->invoke_ns < s.iv.end) {
                            if (e->aux > s.iv.end)
                                s.iv.end = e->aux;
                        } else {
                            /* Renewed after the belief had lapsed: a new
                             * interval, with the lease's old fence. */
                            emit(iv, &niv, ncl, &s);
                            s.open = true;
                            s.iv = fresh;
                        }
                    } else if (e->outcome == OUT_FAIL && mine) {
                        if (e->complete_ns < s.iv.end)
                            s.iv.end = e->complete_ns;
                        emit(iv, &niv, ncl, &s);
                    }
                    break;
                case OP_KA_STOP:
                    if (mine && e->aux > s.iv.end)
                        s.iv.end = e->aux;
                    break;
                case OP_RELEASE:
                    if (mine) {
                        if (e->invoke_ns < s.iv.end)
                            s.iv.end = e->invoke_ns;
                        emit(iv, &niv, ncl, &s);
                    }
                    break;
                case OP_CRASH:
                    emit(iv, &niv, ncl, &s); /* believed until its deadline */
                    break;
                case OP_RESERVE:
                    if (e->outcome == OUT_OK)
                        rs[nres++] = (range){(uint64_t)e->aux, e->rows,     e->lease,
                                             e->fence,         (uint16_t)b, e->sq};
                    break;
                case OP_WRITE:
                    if (e->outcome == OUT_OK && !(e->flags & EVF_REJECTED)) {
                        ws[nwr++] = (range){(uint64_t)e->aux, e->rows,     e->lease,
                                            e->fence,         (uint16_t)b, e->sq};
                    } else if ((e->flags & EVF_REJECTED) && mine && e->complete_ns < s.iv.end &&
                               e->complete_ns >= s.iv.start) {
                        sim_violation v;
                        sim_party a = {b, e->lease, e->fence, e->complete_ns, s.iv.end};
                        sim_violation_set(&v, V_STALE_BELIEVED, false, e->sq, &a, NULL);
                        v.row_start = (uint64_t)e->aux;
                        v.rows = e->rows;
                        sim_violation_add(vs, &v);
                    }
                    break;
                case OP_CLAIM:
                case OP_CLAIM_FIRST:
                case OP_CLAIM_RETRY:
                case OP_ABANDON:
                case OP_FINISH:
                case OP_KA_START:
                case OP_PAUSE:
                case OP_COUNT: break;
                }
            }
        emit(iv, &niv, ncl, &s);
    }

    /* 2. Per SQ: overlaps and fence order of believed intervals; fence
     *    order of all grants in real time. */
    sweep_intervals(iv, niv, vs);
    sweep_grants(gr, ngr, heap, vs);

    /* 3. Rows. */
    sweep_rows(rs, nres, false, vs);
    sweep_rows(ws, nwr, true, vs);
    st->intervals = niv;
    st->grants = ngr;
    st->reservations = nres;
    st->writes = nwr;
    free(iv);
    free(gr);
    free(heap);
    free(rs);
    free(ws);
    st->cpu_ns = sim_cpu_ns() - cpu0;
}

/* ------------------------------------------------------------------ */
/* A synthetic, correct history: leases in time slots, each bot on a
 * different SQ within a slot, every SQ's fences increasing. */

static sim_event *add(sim_history *h, enum sim_op op, enum sim_outcome out, int64_t t0, int64_t t1,
                      int bot, int sq, uint32_t lease, uint64_t fence)
{
    sim_event *e = sim_history_add(h);
    if (!e)
        return NULL;
    e->op = (uint8_t)op;
    e->outcome = (uint8_t)out;
    e->invoke_ns = t0;
    e->complete_ns = t1;
    e->bot = (uint16_t)bot;
    e->sq = (uint16_t)sq;
    e->lease = lease;
    e->fence = fence;
    return e;
}

int sim_synth_history(sim_history *h, int nbots, int nsqs, uint64_t n, uint64_t seed)
{
    if (nsqs < nbots)
        return -1;
    sim_rng rng;
    sim_rng_seed(&rng, seed, 0xbe7c);
    uint64_t *fence = calloc((size_t)nsqs, sizeof *fence);
    uint32_t *lease = calloc((size_t)nbots, sizeof *lease);
    if (!fence || !lease) {
        free(fence);
        free(lease);
        return -1;
    }
    const int64_t slot = 10000000; /* 10 ms per lease */
    uint64_t row = 1, made = 0;
    for (uint64_t k = 0; made < n; k++) {
        int64_t base = (int64_t)k * slot + 1000000000;
        for (int b = 0; b < nbots && made < n; b++) {
            int sq = (int)((uint64_t)b + k * 7) % nsqs;
            int64_t t = base + (int64_t)sim_rng_below(&rng, 1000000);
            uint32_t l = ++lease[b];
            if (sim_rng_chance(&rng, 0.3)) { /* a refused claim first */
                if (!add(&h[b], OP_CLAIM, OUT_FAIL, t, t + 20000, b, (sq + 1) % nsqs, l, 0))
                    goto oom;
                made++;
                t += 30000;
                l = ++lease[b];
            }
            uint64_t f = ++fence[sq];
            int64_t deadline = base + slot - 2000000;
            sim_event *e = add(&h[b], OP_CLAIM, OUT_OK, t, t + 20000, b, sq, l, f);
            if (!e)
                goto oom;
            e->aux = deadline;
            uint32_t cnt = 1 + (uint32_t)sim_rng_below(&rng, 5);
            e = add(&h[b], OP_RESERVE, OUT_OK, t + 30000, t + 40000, b, sq, l, f);
            if (!e)
                goto oom;
            e->aux = (int64_t)row;
            e->rows = cnt;
            e = add(&h[b], OP_WRITE, OUT_OK, t + 50000, t + 60000, b, sq, l, f);
            if (!e)
                goto oom;
            e->aux = (int64_t)row;
            e->rows = cnt;
            e->flags = EVF_BELIEVED;
            row += cnt;
            if (!add(&h[b], OP_FINISH, OUT_OK, t + 70000, t + 80000, b, sq, l, f) ||
                !add(&h[b], OP_RELEASE, OUT_OK, t + 90000, t + 100000, b, sq, l, f))
                goto oom;
            made += 5;
        }
    }
    free(fence);
    free(lease);
    return 0;
oom:
    free(fence);
    free(lease);
    return -1;
}
