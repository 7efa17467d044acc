/* timeline_run.c — a real-thread sqsim run as a timeline page: each bot's
 * history becomes its lane's events (timeline.h), the oracle's
 * violations its marks.
 *
 * A hold is the oracle's belief interval, built exactly as check.c builds
 * it (from a claim's return to the start of the release, or to the local
 * deadline; a renewal extends it or, after a lapse, starts another), so
 * the page draws the same intervals the oracle checked.  Beside it, the
 * store-side life of the lease: from the claim's invocation to the
 * release's return, or at most to the last grant or renewal's return plus
 * the TTL (when the store lets the key expire).  The keep-alive's own
 * renewals are not in the history: its span and final deadline are. */
#include "timeline_run.h"
#include "timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct evbuf {
    tl_event *v;
    size_t n, cap;
} evbuf;

static tl_event *push(evbuf *b)
{
    tl_event *v = sq_grow(b->v, &b->cap, b->n, sizeof *v, 4096);
    if (!v)
        return NULL;
    b->v = v;
    tl_event *e = &b->v[b->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static bool is_claim(int op)
{
    return op == OP_CLAIM || op == OP_CLAIM_FIRST || op == OP_CLAIM_RETRY;
}

/* The open belief interval and store-side life of one bot. */
typedef struct lane_state {
    bool open;
    tl_event hold; /* t0, t1 (the deadline so far), sq, fence, lease, token */
    bool store_open;
    tl_event store;
    bool resv_open;
    tl_event resv;
    bool ka_open;
    tl_event ka;
} lane_state;

static int emit_hold(evbuf *b, lane_state *s)
{
    if (s->open && s->hold.t0 < s->hold.t1) {
        tl_event *e = push(b);
        if (!e)
            return -1;
        *e = s->hold;
    }
    s->open = false;
    return 0;
}

static int emit_store(evbuf *b, lane_state *s, int64_t end)
{
    if (!s->store_open)
        return 0;
    s->store_open = false;
    if (end < s->store.t1)
        s->store.t1 = end;
    tl_event *e = push(b);
    if (!e)
        return -1;
    *e = s->store;
    return 0;
}

static int emit_resv(evbuf *b, lane_state *s, int64_t end)
{
    if (!s->resv_open)
        return 0;
    s->resv_open = false;
    s->resv.t1 = end > s->resv.t0 ? end : s->resv.t0;
    tl_event *e = push(b);
    if (!e)
        return -1;
    *e = s->resv;
    return 0;
}

static void base(tl_event *t, const sim_event *e, int64_t t0, enum tl_kind k)
{
    t->kind = (uint8_t)k;
    t->t0 = e->invoke_ns - t0;
    t->t1 = e->complete_ns - t0;
    t->lane = e->bot;
    t->sq = e->sq;
    t->fence = e->fence;
    t->lease = e->lease;
    t->token = e->token32;
}

static int lane_events(const sim_run *run, int bot, evbuf *b)
{
    const int64_t t0 = run->t0, ttl = run->cfg->ttl_ms * 1000000;
    const int64_t end = (run->t_end ? run->t_end : sim_now_ns()) - t0;
    lane_state s;
    memset(&s, 0, sizeof s);
    for (const sim_chunk *c = run->bots[bot].hist.head; c; c = c->next)
        for (size_t i = 0; i < c->n; i++) {
            const sim_event *e = &c->ev[i];
            bool mine = s.open && s.hold.lease == e->lease;
            tl_event fresh;
            memset(&fresh, 0, sizeof fresh);
            base(&fresh, e, t0, TL_HOLD);
            fresh.t0 = e->complete_ns - t0;
            fresh.t1 = e->aux - t0;
            if (e->rc < 0 && e->op != OP_WRITE) { /* a failed call: a fault */
                tl_event *f = push(b);
                if (!f)
                    return -1;
                base(f, e, t0, TL_FAULT);
                snprintf(f->note, sizeof f->note, "%s%s", sqclaim_rcname((sqclaim_rc)e->rc),
                         e->outcome == OUT_INFO ? " (maybe)" : "");
            }
            if (e->rc >= 0 && (e->flags & (EVF_RETRIED | EVF_AMBIGUOUS)) && e->op != OP_WRITE) {
                tl_event *f = push(b); /* a fault the library absorbed */
                if (!f)
                    return -1;
                base(f, e, t0, TL_FAULT);
                snprintf(f->note, sizeof f->note, "%s",
                         e->flags & EVF_AMBIGUOUS ? "reply lost, retried" : "retried");
            }
            if (is_claim(e->op)) {
                if (e->outcome != OUT_OK) {
                    if (e->rc == SQCLAIM_BUSY) {
                        tl_event *f = push(b);
                        if (!f)
                            return -1;
                        base(f, e, t0, TL_REFUSED);
                        f->t0 = f->t1;
                        snprintf(f->note, sizeof f->note, "BUSY");
                    }
                    continue;
                }
                if (emit_hold(b, &s) || emit_store(b, &s, e->invoke_ns - t0) ||
                    emit_resv(b, &s, e->invoke_ns - t0))
                    return -1;
                s.open = true;
                s.hold = fresh;
                if (e->flags & EVF_RECLAIMED)
                    s.hold.flags |= TLF_RECLAIMED;
                s.store_open = true;
                base(&s.store, e, t0, TL_STORE);
                s.store.t1 = e->complete_ns - t0 + ttl;
                continue;
            }
            switch ((enum sim_op)e->op) {
            case OP_RENEW: {
                tl_event *r = push(b);
                if (!r)
                    return -1;
                base(r, e, t0, TL_RENEW);
                if (e->outcome != OUT_OK)
                    r->flags |= TLF_FAILED;
                if (e->outcome == OUT_OK) {
                    if (s.store_open && s.store.lease == e->lease)
                        s.store.t1 = e->complete_ns - t0 + ttl;
                    if (mine && e->invoke_ns - t0 < s.hold.t1) {
                        if (e->aux - t0 > s.hold.t1)
                            s.hold.t1 = e->aux - t0;
                    } else {
                        if (emit_hold(b, &s))
                            return -1;
                        s.open = true;
                        s.hold = fresh;
                    }
                } else if (e->outcome == OUT_FAIL && mine) {
                    if (e->complete_ns - t0 < s.hold.t1)
                        s.hold.t1 = e->complete_ns - t0;
                    if (emit_hold(b, &s))
                        return -1;
                }
                break;
            }
            case OP_KA_START:
                if (e->outcome == OUT_OK) {
                    s.ka_open = true;
                    base(&s.ka, e, t0, TL_KEEPALIVE);
                }
                break;
            case OP_KA_STOP:
                if (mine && e->aux - t0 > s.hold.t1)
                    s.hold.t1 = e->aux - t0;
                if (s.store_open && s.store.lease == e->lease &&
                    e->aux - t0 + ttl / 100 > s.store.t1)
                    s.store.t1 = e->aux - t0 + ttl / 50; /* deadline = sent + ttl - margin */
                if (s.ka_open) {
                    s.ka_open = false;
                    s.ka.t1 = e->complete_ns - t0;
                    if (e->flags & EVF_KA_LOST) {
                        s.ka.flags |= TLF_LOST;
                        snprintf(s.ka.note, sizeof s.ka.note, "lost the lease");
                    }
                    tl_event *k = push(b);
                    if (!k)
                        return -1;
                    *k = s.ka;
                }
                break;
            case OP_RELEASE:
                if (mine) {
                    if (e->invoke_ns - t0 < s.hold.t1)
                        s.hold.t1 = e->invoke_ns - t0;
                    if (emit_hold(b, &s))
                        return -1;
                }
                if (emit_resv(b, &s, e->invoke_ns - t0))
                    return -1;
                if (s.store_open && s.store.lease == e->lease &&
                    emit_store(b, &s, e->outcome == OUT_OK ? e->complete_ns - t0 : s.store.t1))
                    return -1;
                break;
            case OP_CRASH: {
                if (emit_hold(b, &s) || emit_resv(b, &s, e->invoke_ns - t0) ||
                    emit_store(b, &s, s.store.t1))
                    return -1;
                tl_event *k = push(b);
                if (!k)
                    return -1;
                base(k, e, t0, TL_CRASH);
                break;
            }
            case OP_PAUSE: {
                tl_event *k = push(b);
                if (!k)
                    return -1;
                base(k, e, t0, TL_PAUSE);
                break;
            }
            case OP_RESERVE:
                if (e->outcome == OUT_OK) {
                    if (emit_resv(b, &s, e->invoke_ns - t0))
                        return -1;
                    s.resv_open = true;
                    base(&s.resv, e, t0, TL_RESERVE);
                    s.resv.t0 = e->complete_ns - t0;
                    s.resv.row = (uint64_t)e->aux;
                    s.resv.rows = e->rows;
                }
                break;
            case OP_FINISH:
                if (e->outcome == OUT_OK && emit_resv(b, &s, e->complete_ns - t0))
                    return -1;
                break;
            case OP_WRITE: {
                tl_event *w = push(b);
                if (!w)
                    return -1;
                base(w, e, t0, TL_WRITE);
                w->row = (uint64_t)e->aux;
                w->rows = e->rows;
                if (e->flags & EVF_REJECTED)
                    w->flags |= TLF_REJECTED;
                if (e->flags & EVF_BELIEVED)
                    w->flags |= TLF_BELIEVED;
                snprintf(w->note, sizeof w->note, "%s",
                         e->flags & EVF_REJECTED ? "rejected: stale" : "accepted");
                break;
            }
            case OP_CLAIM:
            case OP_CLAIM_FIRST:
            case OP_CLAIM_RETRY:
            case OP_ABANDON:
            case OP_COUNT: break;
            }
        }
    if (s.open)
        s.hold.flags |= TLF_OPEN;
    if (emit_hold(b, &s) || emit_resv(b, &s, end) ||
        emit_store(b, &s, s.store.t1 < end ? s.store.t1 : end))
        return -1;
    if (s.ka_open) {
        s.ka.t1 = end;
        tl_event *k = push(b);
        if (!k)
            return -1;
        *k = s.ka;
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const tl_event *x = a, *y = b;
    return (x->t0 > y->t0) - (x->t0 < y->t0);
}

int sim_timeline_write(const sim_run *run, const char *path, const char *reproduce,
                       const char *verdict, size_t max_events)
{
    const sim_config *cfg = run->cfg;
    evbuf b = {0};
    int rc = -1;
    const char **lanes = calloc((size_t)cfg->bots, sizeof *lanes);
    tl_mark *marks = calloc(run->vs.kept + 1, sizeof *marks);
    if (!lanes || !marks)
        goto out;
    for (int i = 0; i < cfg->bots; i++) {
        lanes[i] = run->bots[i].name;
        if (lane_events(run, i, &b) != 0)
            goto out;
    }
    qsort(b.v, b.n, sizeof *b.v, by_time);
    for (size_t i = 0; i < run->vs.kept; i++) {
        const sim_violation *v = &run->vs.v[i];
        tl_mark *m = &marks[i];
        m->lane_a = v->bot_a;
        m->lane_b = v->bot_b;
        m->a0 = v->a_start;
        m->a1 = v->a_end > v->a_start ? v->a_end : v->a_start;
        m->b0 = v->b_start;
        m->b1 = v->b_end > v->b_start ? v->b_end : v->b_start;
        m->sq = v->sq;
        m->row = v->row_start;
        m->rows = v->rows;
        m->kind = sim_vkind_name(v->kind);
        m->text = v->text;
        if (m->lane_a < 0) { /* a violation of rows alone: draw it on lane b */
            m->lane_a = m->lane_b;
            m->lane_b = -1;
        }
    }
    int64_t span = (run->t_end ? run->t_end : sim_now_ns()) - run->t0;
    for (size_t i = 0; i < run->vs.kept; i++) /* a belief may outlast the run */
        if (marks[i].a1 > span || marks[i].b1 > span)
            span = marks[i].a1 > marks[i].b1 ? marks[i].a1 : marks[i].b1;
    char title[160];
    snprintf(title, sizeof title, "sqsim: %s backend%s%s, %d bots, %d SQs, ttl %lld ms",
             cfg->adapter, cfg->control ? ", negative control " : "",
             cfg->control ? cfg->control : "", cfg->bots, cfg->sqs, (long long)cfg->ttl_ms);
    tl_page page = {
        .title = title,
        .verdict = verdict,
        .reproduce = reproduce,
        .nlanes = cfg->bots,
        .lane_names = lanes,
        .nsqs = run->nsqs,
        .sq_names = run->sq_ptrs,
        .span = span,
        .ev = b.v,
        .nev = b.n,
        .marks = marks,
        .nmarks = run->vs.kept,
        .max_events = max_events,
    };
    rc = tl_write_file(path, &page);
out:
    if (rc != 0)
        fprintf(stderr, "sqsim: cannot write the timeline %s: %s\n", path,
                errno ? strerror(errno) : "out of memory");
    free(lanes);
    free(marks);
    free(b.v);
    return rc;
}
