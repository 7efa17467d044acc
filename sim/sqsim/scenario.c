/* scenario.c — `sqsim --scenario seed-month`: the seed's fleet for a month
 * in virtual time, as a capacity planner.
 *
 * A small discrete-event loop (a heap of timed events, one virtual clock)
 * runs the bots, their keep-alives and a watcher.  Every store operation
 * is the real library call (sqclaim_claim_first, reserve_rows, renew,
 * finish_rows, release, status_get) on handles opened on the scripted
 * store of sim/det: the production Lua scripts run in an embedded Lua
 * against a Redis keyspace in virtual time, behind the same protocol
 * layer (adapters/redisproto) the vercel backend uses.  So the commands
 * counted are the ones a fleet would send to Upstash: the store's hooks
 * count each request (one REST call), its top-level commands and, inside
 * scripts, each redis.call (Upstash bills them all).
 *
 * Latency delays the bot that made the call, not the store.  Faults are
 * injected per request: refused (never reached the store, not billed) or
 * reply lost after the store applied it (billed; the library retries and
 * converges).  The library's retry backoff sleeps in real time and does
 * not advance the virtual clock.
 *
 * The month's history goes through sqsim's oracle (check.c): no two
 * belief intervals of one SQ overlap, fences only grow, no row range is
 * handed out twice.  See docs/simulator.md, "Capacity planner". */
#include "scenario.h"
#include "sqsim.h"
#include "timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifdef SQCLAIM_WITH_DET
#include "backend.h"
#include "transport.h"
#endif

#define DAY_NS   86400000000000LL
#define MAX_DAYS 366

/* Plans (docs/vercel.md, reference/upstash-rest.md). */
#define UPSTASH_FREE_COMMANDS_MONTH 500000ULL
#define KV_LEGACY_REQUESTS_DAY      3000ULL
#define KV_LEGACY_REQUESTS_MONTH    30000ULL
#define SEED_OPS_PER_SQ             60ULL
/* watch's default on a billed backend (cli/watch.c): whole minutes that
 * keep it within half of the legacy plan's requests a day. */
#define WATCH_REQUESTS_PER_DAY (KV_LEGACY_REQUESTS_DAY / 2)

enum scop { SO_CLAIM, SO_RESERVE, SO_RENEW, SO_FINISH, SO_RELEASE, SO_ABANDON, SO_STATUS, SO_N };
static const char *const scop_names[SO_N] = {"claim",   "reserve", "renew", "finish",
                                             "release", "abandon", "status"};
enum scwho { WHO_BOTS, WHO_KA, WHO_RETRY, WHO_WATCH, WHO_N };
static const char *const who_names[WHO_N] = {"bots", "keep-alives", "retries", "watcher"};

typedef struct scen_cfg {
    int bots;
    double sqs_per_bot_day;
    int days;
    int64_t ttl_ms;
    int64_t work_median_ms;
    double work_sigma;      /* lognormal sigma of the work time */
    int64_t ka_after_ms;    /* work longer than this runs under the keep-alive */
    int64_t watch_ms;       /* 0: no watcher; -1: the CLI's default (auto) */
    int64_t source_poll_ms; /* an idle bot looks for free SQs this often */
    double latency_ms, jitter_ms;
    double fail_rate, drop_rate;
    int rows_max;
    uint64_t seed;
    const char *report, *plot, *timeline;
    bool quiet;
} scen_cfg;

int sim_scenario_main(int argc, char **argv);

#ifndef SQCLAIM_WITH_DET
int sim_scenario_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sqsim: --scenario needs the scripted store (sim/det: Lua 5.1 and lua-cjson, "
                    "see docs/det.md), which this build lacks\n");
    return 2;
}
#else

/* ------------------------------------------------------------------ */
/* Events                                                               */

enum evk { E_ARRIVE, E_TRY, E_RESERVE, E_KA, E_DONE, E_RELEASE, E_WATCH, E_END };

typedef struct sev {
    int64_t t;
    uint64_t seq;
    int kind;
    int who;      /* bot index */
    uint32_t gen; /* the bot's lease generation it belongs to */
} sev;

typedef struct heap {
    sev *v;
    size_t n, cap;
    uint64_t seq;
} heap;

static bool sev_less(const sev *a, const sev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int heap_push(heap *h, int64_t t, int kind, int who, uint32_t gen)
{
    sev *v = sq_grow(h->v, &h->cap, h->n, sizeof *v, 256);
    if (!v)
        return -1;
    h->v = v;
    size_t i = h->n++;
    h->v[i] = (sev){t, h->seq++, kind, who, gen};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!sev_less(&h->v[i], &h->v[p]))
            break;
        sev tmp = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = tmp;
        i = p;
    }
    return 0;
}

static sev heap_pop(heap *h)
{
    sev top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && sev_less(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && sev_less(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        sev tmp = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = tmp;
        i = m;
    }
    return top;
}

/* ------------------------------------------------------------------ */
/* The world                                                            */

typedef struct sbot {
    sqclaim_store *store;
    char name[16];
    sim_history hist;
    uint32_t lease_no, gen;
    bool busy; /* holds (or is getting) an SQ */
    bool try_pending;
    sqclaim_lease lease;
    sqclaim_rows rows;
    bool reserved;
    int sq;
    int64_t work_end;
    int reserve_tries;
} sbot;

typedef struct world {
    scen_cfg cfg;
    int64_t now, origin; /* virtual ns; the run starts at origin */
    det_store *st;
    sqclaim_backend be;
    sbot *bots;
    sqclaim_store *watcher;
    sim_rng rng;
    heap h;
    /* SQs */
    char (*names)[24];
    const char **name_ptrs;
    int nsqs, capsqs;
    bool *done;
    int *pending; /* not done, in arrival order */
    int npending;
    uint64_t arrived, finished, requeued;
    /* accounting of the call in progress */
    int cur_op, cur_who;
    bool cur_fault;     /* a fault hit this call: later requests are retries */
    bool cur_retry_req; /* the request being delivered is a retry */
    uint64_t calls_before;
    double call_lat_ms;
    uint64_t req[MAX_DAYS][SO_N][WHO_N], cmd[MAX_DAYS][SO_N][WHO_N];
    uint64_t calls[SO_N][WHO_N];
    uint64_t attempts, refused, lost, toplevel, scriptcmds;
    uint64_t sq_done_day[MAX_DAYS];
    uint64_t busy_refusals, ka_lost, watch_polls;
    int64_t watch_interval_ms;
    tl_event *tl;
    size_t ntl, captl;
} world;

static int64_t vclock(void *ctx) { return ((world *)ctx)->now; }

static int day_of(const world *w)
{
    int64_t d = (w->now - w->origin) / DAY_NS;
    return d < 0 ? 0 : d >= MAX_DAYS ? MAX_DAYS - 1 : (int)d;
}

static det_fate hook_before(void *ctx, det_conn *conn, const det_request *req, const char **etext)
{
    (void)conn;
    (void)req;
    (void)etext;
    world *w = ctx;
    w->attempts++;
    w->cur_retry_req = w->cur_fault;
    double u = sim_rng_unit(&w->rng);
    double lat = w->cfg.latency_ms + w->cfg.jitter_ms * -log(1 - sim_rng_unit(&w->rng));
    w->call_lat_ms += lat;
    if (u < w->cfg.fail_rate) {
        w->refused++;
        w->cur_fault = true;
        return DET_REFUSE; /* never reached the store: not billed */
    }
    w->calls_before = det_ks_script_calls(det_store_keyspace(w->st));
    return DET_DELIVER;
}

static det_fate hook_after(void *ctx, det_conn *conn, const det_request *req,
                           rp_reply *const *replies)
{
    (void)conn;
    (void)replies;
    world *w = ctx;
    uint64_t inner = det_ks_script_calls(det_store_keyspace(w->st)) - w->calls_before;
    int d = day_of(w), who = w->cur_retry_req ? WHO_RETRY : w->cur_who;
    w->req[d][w->cur_op][who]++;
    w->cmd[d][w->cur_op][who] += req->ncmds + inner;
    w->toplevel += req->ncmds;
    w->scriptcmds += inner;
    if (sim_rng_unit(&w->rng) < w->cfg.drop_rate) {
        w->lost++;
        w->cur_fault = true;
        return DET_LOSE; /* applied and billed; the reply is lost */
    }
    return DET_DELIVER;
}

static void begin_call(world *w, int op, int who)
{
    w->cur_op = op;
    w->cur_who = who;
    w->cur_fault = false;
    w->call_lat_ms = 0;
    w->calls[op][who]++;
}

/* The call's latency in ns (at least 1 ms). */
static int64_t call_ns(const world *w)
{
    double ms = w->call_lat_ms > 1 ? w->call_lat_ms : 1;
    return (int64_t)(ms * 1e6);
}

static sim_event *hist(world *w, sbot *b, int op, sqclaim_rc rc)
{
    sim_event *e = sim_history_add(&b->hist);
    if (!e)
        return NULL;
    e->op = (uint8_t)op;
    e->invoke_ns = w->now;
    e->complete_ns = w->now + call_ns(w);
    e->bot = (uint16_t)(b - w->bots);
    e->sq = (uint16_t)(b->sq < 0 ? 0 : b->sq);
    e->lease = b->lease_no;
    e->rc = (int8_t)rc;
    e->fence = b->lease.fence;
    e->token32 = tl_token32(b->lease.token);
    e->outcome = rc == SQCLAIM_OK                                                        ? OUT_OK
                 : rc > 0                                                                ? OUT_FAIL
                 : (op == OP_CLAIM_FIRST && !(b->lease.flags & SQCLAIM_LEASE_UNCERTAIN)) ? OUT_FAIL
                                                                                         : OUT_INFO;
    return e;
}

static int new_sq(world *w)
{
    if (w->nsqs == w->capsqs) {
        int cap = w->capsqs ? w->capsqs * 2 : 1024;
        if (cap > 65535)
            return -1;
        char(*n)[24] = realloc(w->names, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        w->names = n;
        bool *d = realloc(w->done, (size_t)cap * sizeof *d);
        if (!d)
            return -1;
        w->done = d;
        int *p = realloc(w->pending, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        w->pending = p;
        w->capsqs = cap;
    }
    int i = w->nsqs++;
    /* Seed-style ids: yymmdd-xxxxxx, the day of arrival and a counter. */
    snprintf(w->names[i], sizeof w->names[i], "2510%02d-m%05d", 1 + day_of(w) % 28, i);
    w->done[i] = false;
    w->pending[w->npending++] = i;
    return i;
}

static void sq_finished(world *w, int sq)
{
    w->done[sq] = true;
    for (int i = 0; i < w->npending; i++)
        if (w->pending[i] == sq) {
            memmove(&w->pending[i], &w->pending[i + 1],
                    (size_t)(w->npending - i - 1) * sizeof *w->pending);
            w->npending--;
            break;
        }
}

static double exp_ms(world *w, double mean_ms) { return -mean_ms * log(1 - sim_rng_unit(&w->rng)); }

/* Lognormal work time. */
static int64_t work_ns(world *w)
{
    double u1 = sim_rng_unit(&w->rng), u2 = sim_rng_unit(&w->rng);
    double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
    return (int64_t)((double)w->cfg.work_median_ms * exp(w->cfg.work_sigma * z) * 1e6);
}

static int sched(world *w, int64_t t, int kind, int bot, uint32_t gen)
{
    return heap_push(&w->h, t, kind, bot, gen);
}

static void tl_add(world *w, int kind, int lane, int64_t t0, int64_t t1, const sbot *b, int flags,
                   const char *note)
{
    if (!w->cfg.timeline)
        return;
    if (w->ntl == w->captl) {
        size_t cap = w->captl ? w->captl * 2 : 4096;
        tl_event *v = realloc(w->tl, cap * sizeof *v);
        if (!v)
            return;
        w->tl = v;
        w->captl = cap;
    }
    tl_event *e = &w->tl[w->ntl++];
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->lane = lane;
    e->t0 = t0;
    e->t1 = t1;
    e->sq = b ? b->sq : -1;
    if (b) {
        e->fence = b->lease.fence;
        e->lease = b->lease_no;
        e->token = tl_token32(b->lease.token);
        if (kind == TL_RESERVE || kind == TL_WRITE) {
            e->row = b->rows.start_row;
            e->rows = b->rows.count;
        }
    }
    e->flags = (uint8_t)flags;
    if (note)
        snprintf(e->note, sizeof e->note, "%s", note);
}

/* ------------------------------------------------------------------ */
/* Bots                                                                 */

static int bot_try(world *w, int bi)
{
    sbot *b = &w->bots[bi];
    b->try_pending = false;
    if (b->busy || w->npending == 0)
        return 0;
    const char *cands[SQCLAIM_MAX_CANDIDATES];
    size_t n = 0;
    for (int i = 0; i < w->npending && n < 4; i++)
        cands[n++] = w->names[w->pending[i]];
    sqclaim_holder holder;
    b->lease_no++;
    b->gen++;
    memset(&b->lease, 0, sizeof b->lease);
    begin_call(w, SO_CLAIM, WHO_BOTS);
    sqclaim_rc rc =
        sqclaim_claim_first(b->store, cands, n, b->name, w->cfg.ttl_ms, &b->lease, &holder);
    b->sq = -1;
    if (rc == SQCLAIM_OK)
        for (int i = 0; i < w->npending; i++)
            if (strcmp(w->names[w->pending[i]], b->lease.sq) == 0)
                b->sq = w->pending[i];
    sim_event *e = hist(w, b, OP_CLAIM_FIRST, rc);
    int64_t next = w->now + call_ns(w);
    if (rc == SQCLAIM_OK && b->sq >= 0) {
        if (e)
            e->aux = b->lease.deadline_ns;
        b->busy = true;
        b->reserve_tries = 0;
        return sched(w, next, E_RESERVE, bi, b->gen);
    }
    if (rc == SQCLAIM_BUSY) {
        w->busy_refusals++;
        tl_add(w, TL_REFUSED, bi, next, next, NULL, 0, "BUSY");
    } else {
        tl_add(w, TL_FAULT, bi, w->now, next, NULL, 0, sqclaim_rcname(rc));
        if (rc < 0 && (b->lease.flags & SQCLAIM_LEASE_UNCERTAIN)) {
            w->now = next; /* give up whatever we may hold */
            begin_call(w, SO_ABANDON, WHO_BOTS);
            sqclaim_rc arc = sqclaim_abandon(b->store, cands, n, &b->lease);
            hist(w, b, OP_ABANDON, arc);
            next = w->now + call_ns(w);
        }
    }
    b->try_pending = true;
    return sched(w, next + w->cfg.source_poll_ms * 1000000, E_TRY, bi, 0);
}

static int bot_reserve(world *w, int bi)
{
    sbot *b = &w->bots[bi];
    uint32_t count = 1 + (uint32_t)sim_rng_below(&w->rng, (uint64_t)w->cfg.rows_max);
    begin_call(w, SO_RESERVE, WHO_BOTS);
    sqclaim_rc rc = sqclaim_reserve_rows(b->store, &b->lease, count, 0, &b->rows);
    sim_event *e = hist(w, b, OP_RESERVE, rc);
    int64_t next = w->now + call_ns(w);
    if (rc == SQCLAIM_OK) {
        if (e) {
            e->aux = (int64_t)b->rows.start_row;
            e->rows = b->rows.count;
            e->fence = b->rows.fence;
        }
        b->reserved = true;
        int64_t work = work_ns(w);
        b->work_end = next + work;
        if (work > w->cfg.ka_after_ms * 1000000) {
            /* The keep-alive renews every ttl/3 (core/keepalive.c). */
            int64_t t0 = w->now;
            sim_event *k = hist(w, b, OP_KA_START, SQCLAIM_OK);
            if (k)
                k->complete_ns = k->invoke_ns;
            tl_add(w, TL_KEEPALIVE, bi, t0, b->work_end, b, 0, NULL);
            if (sched(w, w->now + w->cfg.ttl_ms / 3 * 1000000, E_KA, bi, b->gen))
                return -1;
        }
        return sched(w, b->work_end, E_DONE, bi, b->gen);
    }
    if (rc < 0 && ++b->reserve_tries < 3) {
        tl_add(w, TL_FAULT, bi, w->now, next, b, 0, sqclaim_rcname(rc));
        return sched(w, next + 5000000000LL, E_RESERVE, bi, b->gen);
    }
    return sched(w, next, E_RELEASE, bi, b->gen); /* LOST or gave up */
}

static int bot_ka(world *w, int bi)
{
    sbot *b = &w->bots[bi];
    if (w->now >= b->work_end)
        return 0;
    begin_call(w, SO_RENEW, WHO_KA);
    sqclaim_rc rc = sqclaim_renew(b->store, &b->lease, 0);
    sim_event *e = hist(w, b, OP_RENEW, rc);
    tl_add(w, rc == SQCLAIM_OK ? TL_RENEW : TL_FAULT, bi, w->now, w->now + call_ns(w), b,
           rc == SQCLAIM_OK ? 0 : TLF_FAILED, rc == SQCLAIM_OK ? "keep-alive" : sqclaim_rcname(rc));
    if (rc == SQCLAIM_OK) {
        if (e)
            e->aux = b->lease.deadline_ns;
        int64_t wait = b->lease.ttl_ms / 3 * 1000000;
        return sched(w, w->now + wait, E_KA, bi, b->gen);
    }
    if (rc == SQCLAIM_LOST) {
        w->ka_lost++;
        return 0;
    }
    /* A transient failure: retried at a quarter of the interval while the
     * deadline holds (as the keep-alive does). */
    if (w->now < b->lease.deadline_ns)
        return sched(w, w->now + w->cfg.ttl_ms / 12 * 1000000, E_KA, bi, b->gen);
    w->ka_lost++;
    return 0;
}

static int bot_done(world *w, int bi)
{
    sbot *b = &w->bots[bi];
    sim_event *k = NULL;
    if (b->hist.n && b->hist.tail->ev[b->hist.tail->n - 1].op == OP_RENEW) {
        k = hist(w, b, OP_KA_STOP, SQCLAIM_OK); /* the keep-alive's final deadline */
        if (k) {
            k->aux = b->lease.deadline_ns;
            k->complete_ns = k->invoke_ns;
        }
    }
    if (!sqclaim_may_act(b->store, &b->lease))
        return sched(w, w->now, E_RELEASE, bi, b->gen);
    /* The refund lines go into the Refund Log; then the reservation ends. */
    sim_event *wr = sim_history_add(&b->hist);
    if (wr) {
        *wr = (sim_event){.invoke_ns = w->now,
                          .complete_ns = w->now,
                          .aux = (int64_t)b->rows.start_row,
                          .fence = b->lease.fence,
                          .rows = b->rows.count,
                          .lease = b->lease_no,
                          .bot = (uint16_t)bi,
                          .sq = (uint16_t)b->sq,
                          .op = OP_WRITE,
                          .outcome = OUT_OK,
                          .flags = EVF_BELIEVED,
                          .token32 = tl_token32(b->lease.token)};
    }
    tl_add(w, TL_WRITE, bi, w->now, w->now, b, TLF_BELIEVED, "accepted");
    begin_call(w, SO_FINISH, WHO_BOTS);
    sqclaim_rc rc = sqclaim_finish_rows(b->store, &b->lease);
    hist(w, b, OP_FINISH, rc);
    if (rc == SQCLAIM_OK) {
        b->reserved = false;
        sq_finished(w, b->sq);
        w->finished++;
        w->sq_done_day[day_of(w)]++;
    }
    return sched(w, w->now + call_ns(w), E_RELEASE, bi, b->gen);
}

static int bot_release(world *w, int bi)
{
    sbot *b = &w->bots[bi];
    begin_call(w, SO_RELEASE, WHO_BOTS);
    sqclaim_rc rc = sqclaim_release(b->store, &b->lease);
    hist(w, b, OP_RELEASE, rc);
    if (b->sq >= 0 && !w->done[b->sq])
        w->requeued++;
    b->busy = false;
    b->reserved = false;
    b->gen++; /* stale keep-alive ticks are dropped */
    /* The next SQ, if one waits. */
    if (w->npending && !b->try_pending) {
        b->try_pending = true;
        return sched(w, w->now + call_ns(w), E_TRY, bi, 0);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Watcher                                                              */

static int64_t budget_interval_ms(uint64_t per_poll)
{
    int64_t min_ms =
        (int64_t)((per_poll * 86400000ULL + WATCH_REQUESTS_PER_DAY - 1) / WATCH_REQUESTS_PER_DAY);
    int64_t minutes = (min_ms + 59999) / 60000;
    return (minutes < 1 ? 1 : minutes > 60 ? 60 : minutes) * 60000;
}

static int watch_poll(world *w)
{
    begin_call(w, SO_STATUS, WHO_WATCH);
    sqclaim_stats s0, s1;
    sqclaim_stats_get(w->watcher, &s0);
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(w->watcher, &st);
    sqclaim_status_free(st);
    sqclaim_stats_get(w->watcher, &s1);
    w->watch_polls++;
    if (rc == SQCLAIM_OK && w->cfg.watch_ms < 0 && s1.round_trips > s0.round_trips)
        w->watch_interval_ms = budget_interval_ms(s1.round_trips - s0.round_trips);
    return sched(w, w->now + w->watch_interval_ms * 1000000, E_WATCH, -1, 0);
}

/* ------------------------------------------------------------------ */
/* Report                                                               */

static uint64_t sum_day(const world *w, int d, bool commands, int op, int who)
{
    uint64_t s = 0;
    for (int o = 0; o < SO_N; o++)
        for (int h = 0; h < WHO_N; h++)
            if ((op < 0 || o == op) && (who < 0 || h == who))
                s += commands ? w->cmd[d][o][h] : w->req[d][o][h];
    return s;
}

static uint64_t sum_all(const world *w, bool commands, int op, int who)
{
    uint64_t s = 0;
    for (int d = 0; d < w->cfg.days; d++)
        s += sum_day(w, d, commands, op, who);
    return s;
}

static void fmt_dur(int64_t ms, char *buf, size_t len)
{
    if (ms % 3600000 == 0)
        snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(buf, len, "%" PRId64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRId64 "ms", ms);
}

/* The first day (1-based) on which a limit is passed, 0 if never:
 * per day (each day alone) or cumulative over the month. */
static int day_over(const world *w, bool commands, uint64_t limit, bool cumulative)
{
    uint64_t c = 0;
    for (int d = 0; d < w->cfg.days; d++) {
        uint64_t x = sum_day(w, d, commands, -1, -1);
        c = cumulative ? c + x : x;
        if (c > limit)
            return d + 1;
    }
    return 0;
}

/* One row of the plan table: the limit, this fleet's use, and the day the
 * plan runs out (day > 0) or the share used ("no (25% used)"). */
static void plan_line(FILE *f, const char *label, uint64_t limit, uint64_t used, const char *unit,
                      int day, const char *pre, const char *post)
{
    char when[64];
    if (day)
        snprintf(when, sizeof when, "on day %d", day);
    else
        snprintf(when, sizeof when, "no (%s%.0f%%%s)", pre, 100.0 * (double)used / (double)limit,
                 post);
    fprintf(f, "  %s %9llu   %9" PRIu64 "%s%s\n", label, (unsigned long long)limit, used, unit,
            when);
}

static void text_report(const world *w, FILE *f, const sim_check_stats *cst, uint64_t violations)
{
    const scen_cfg *c = &w->cfg;
    int days = c->days;
    char ttl[24], med[24], wi[24], poll[24];
    fmt_dur(c->ttl_ms, ttl, sizeof ttl);
    fmt_dur(c->work_median_ms, med, sizeof med);
    fmt_dur(c->source_poll_ms, poll, sizeof poll);
    if (c->watch_ms == 0)
        snprintf(wi, sizeof wi, "off");
    else
        fmt_dur(w->watch_interval_ms, wi, sizeof wi);
    fprintf(f,
            "seed-month: %d bots, %g SQs per bot per day, %d days, TTL %s, work median %s "
            "(lognormal sigma %g), keep-alive on work over %" PRId64 " s, watcher every %s%s, "
            "latency %g+exp(%g) ms, faults: %g refused, %g replies lost; seed %" PRIu64 "\n",
            c->bots, c->sqs_per_bot_day, days, ttl, med, c->work_sigma, c->ka_after_ms / 1000, wi,
            c->watch_ms < 0 ? " (the CLI's default on vercel)" : "", c->latency_ms, c->jitter_ms,
            c->fail_rate, c->drop_rate, c->seed);
    fprintf(f,
            "SQs: %" PRIu64 " arrived, %" PRIu64 " finished, %" PRIu64
            " given back unfinished; %" PRIu64 " claims refused (BUSY); %" PRIu64
            " keep-alives lost their lease; %" PRIu64 " watcher polls\n",
            w->arrived, w->finished, w->requeued, w->busy_refusals, w->ka_lost, w->watch_polls);
    uint64_t R = sum_all(w, false, -1, -1), C = sum_all(w, true, -1, -1);
    fprintf(f, "\nBy operation (month)        calls   requests   commands   req/day   cmd/day\n");
    for (int o = 0; o < SO_N; o++) {
        uint64_t calls = 0;
        for (int h = 0; h < WHO_N; h++)
            calls += w->calls[o][h];
        uint64_t r = sum_all(w, false, o, -1), m = sum_all(w, true, o, -1);
        fprintf(f, "  %-22s %9" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9.0f %9.0f\n", scop_names[o],
                calls, r, m, (double)r / days, (double)m / days);
    }
    fprintf(f, "  %-22s %9s %10" PRIu64 " %10" PRIu64 " %9.0f %9.0f\n", "total", "", R, C,
            (double)R / days, (double)C / days);
    fprintf(f, "\nBy who (month)                       requests   commands   req/day   cmd/day\n");
    for (int h = 0; h < WHO_N; h++) {
        uint64_t r = sum_all(w, false, -1, h), m = sum_all(w, true, -1, h);
        fprintf(f, "  %-32s %10" PRIu64 " %10" PRIu64 " %9.0f %9.0f\n", who_names[h], r, m,
                (double)r / days, (double)m / days);
    }
    uint64_t sqs = w->finished ? w->finished : 1;
    fprintf(f,
            "\nPer SQ: %.1f requests, %.1f billed commands (bots and keep-alives: %.1f "
            "requests)\n",
            (double)R / sqs, (double)C / sqs,
            (double)(sum_all(w, false, -1, WHO_BOTS) + sum_all(w, false, -1, WHO_KA)) / sqs);
    fprintf(f, "\nDay  SQs  requests  commands  cum.commands\n");
    uint64_t cum = 0;
    for (int d = 0; d < days; d++) {
        uint64_t r = sum_day(w, d, false, -1, -1), m = sum_day(w, d, true, -1, -1);
        cum += m;
        fprintf(f, "%3d %4" PRIu64 " %9" PRIu64 " %9" PRIu64 " %13" PRIu64 "\n", d + 1,
                w->sq_done_day[d], r, m, cum);
    }
    uint64_t seed_day =
        (uint64_t)((double)c->bots * c->sqs_per_bot_day * (double)SEED_OPS_PER_SQ + 0.5);
    int up = day_over(w, true, UPSTASH_FREE_COMMANDS_MONTH, true);
    int kvd = day_over(w, false, KV_LEGACY_REQUESTS_DAY, false);
    int kvm = day_over(w, false, KV_LEGACY_REQUESTS_MONTH, true);
    uint64_t maxday = 0;
    for (int d = 0; d < days; d++) {
        uint64_t n = sum_day(w, d, false, -1, -1);
        if (n > maxday)
            maxday = n;
    }
    fprintf(f, "\nPlan                                   limit   this fleet        runs out\n");
    plan_line(f, "Upstash free (commands/month)  ", UPSTASH_FREE_COMMANDS_MONTH, C, "/month  ", up,
              "", " used");
    plan_line(f, "Vercel KV legacy (requests/day)", KV_LEGACY_REQUESTS_DAY, maxday, " max/day  ",
              kvd, "busiest day ", "");
    plan_line(f, "Vercel KV legacy (req./month)  ", KV_LEGACY_REQUESTS_MONTH, R, "/month  ", kvm,
              "", " used");
    fprintf(f,
            "  The seed's estimate: ~%llu operations per SQ: %" PRIu64 "/day, %" PRIu64
            "/month for %g SQs a day (measured here: %.1f requests, %.1f commands per SQ)\n",
            (unsigned long long)SEED_OPS_PER_SQ, seed_day, seed_day * (uint64_t)days,
            c->bots * c->sqs_per_bot_day, (double)R / sqs, (double)C / sqs);
    fprintf(f,
            "\nOracle: %" PRIu64 " events, %" PRIu64 " belief intervals, %" PRIu64
            " reservations: %s\n",
            cst->events, cst->intervals, cst->reservations,
            violations ? "VIOLATION" : "no overlap, fences only grew, no row twice");
}

static int json_report(const world *w, const char *path, const sim_check_stats *cst,
                       uint64_t violations, uint64_t lib_rt, uint64_t lib_retries,
                       uint64_t transport_rt)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f)
        return -1;
    const scen_cfg *c = &w->cfg;
    fprintf(
        f,
        "{\"scenario\":\"seed-month\",\"params\":{\"bots\":%d,\"sqs_per_bot_day\":%g,"
        "\"days\":%d,\"ttl_ms\":%" PRId64 ",\"work_median_ms\":%" PRId64
        ",\"work_sigma\":%g,\"keepalive_after_ms\":%" PRId64 ",\"watch_interval_ms\":%" PRId64
        ",\"watch_auto\":%s,\"source_poll_ms\":%" PRId64
        ",\"latency_ms\":%g,\"jitter_ms\":%g,\"fail_rate\":%g,\"drop_rate\":%g,\"seed\":%" PRIu64
        "},\n",
        c->bots, c->sqs_per_bot_day, c->days, c->ttl_ms, c->work_median_ms, c->work_sigma,
        c->ka_after_ms, c->watch_ms ? w->watch_interval_ms : 0, c->watch_ms < 0 ? "true" : "false",
        c->source_poll_ms, c->latency_ms, c->jitter_ms, c->fail_rate, c->drop_rate, c->seed);
    fprintf(f, "\"days_detail\":[");
    for (int d = 0; d < c->days; d++) {
        fprintf(f,
                "%s\n{\"day\":%d,\"sqs_finished\":%" PRIu64 ",\"requests\":%" PRIu64
                ",\"commands\":%" PRIu64 ",\"by_who\":{",
                d ? "," : "", d + 1, w->sq_done_day[d], sum_day(w, d, false, -1, -1),
                sum_day(w, d, true, -1, -1));
        for (int h = 0; h < WHO_N; h++)
            fprintf(f, "%s\"%s\":[%" PRIu64 ",%" PRIu64 "]", h ? "," : "", who_names[h],
                    sum_day(w, d, false, -1, h), sum_day(w, d, true, -1, h));
        fprintf(f, "}}");
    }
    fprintf(f, "],\n\"by_operation\":{");
    for (int o = 0; o < SO_N; o++) {
        uint64_t calls = 0;
        for (int h = 0; h < WHO_N; h++)
            calls += w->calls[o][h];
        fprintf(
            f, "%s\"%s\":{\"calls\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"commands\":%" PRIu64 "}",
            o ? "," : "", scop_names[o], calls, sum_all(w, false, o, -1), sum_all(w, true, o, -1));
    }
    fprintf(f, "},\n\"by_who\":{");
    for (int h = 0; h < WHO_N; h++)
        fprintf(f, "%s\"%s\":{\"requests\":%" PRIu64 ",\"commands\":%" PRIu64 "}", h ? "," : "",
                who_names[h], sum_all(w, false, -1, h), sum_all(w, true, -1, h));
    uint64_t R = sum_all(w, false, -1, -1), C = sum_all(w, true, -1, -1);
    fprintf(f,
            "},\n\"month\":{\"requests\":%" PRIu64 ",\"commands\":%" PRIu64
            ",\"sqs_arrived\":%" PRIu64 ",\"sqs_finished\":%" PRIu64 ",\"busy_refusals\":%" PRIu64
            ",\"keepalive_lost\":%" PRIu64 ",\"watch_polls\":%" PRIu64 "},\n",
            R, C, w->arrived, w->finished, w->busy_refusals, w->ka_lost, w->watch_polls);
    fprintf(f,
            "\"cross_check\":{\"request_attempts\":%" PRIu64 ",\"refused\":%" PRIu64
            ",\"replies_lost\":%" PRIu64 ",\"transport_round_trips\":%" PRIu64
            ",\"library_round_trips\":%" PRIu64 ",\"library_retries\":%" PRIu64
            ",\"toplevel_commands\":%" PRIu64 ",\"script_commands\":%" PRIu64 "},\n",
            w->attempts, w->refused, w->lost, transport_rt, lib_rt, lib_retries, w->toplevel,
            w->scriptcmds);
    uint64_t seed_day =
        (uint64_t)((double)c->bots * c->sqs_per_bot_day * (double)SEED_OPS_PER_SQ + 0.5);
    fprintf(f,
            "\"plans\":{\"upstash_free_commands_month\":%llu,\"upstash_runs_out_day\":%d,"
            "\"kv_legacy_requests_day\":%llu,\"kv_legacy_day_over\":%d,"
            "\"kv_legacy_requests_month\":%llu,\"kv_legacy_month_runs_out_day\":%d},\n",
            (unsigned long long)UPSTASH_FREE_COMMANDS_MONTH,
            day_over(w, true, UPSTASH_FREE_COMMANDS_MONTH, true),
            (unsigned long long)KV_LEGACY_REQUESTS_DAY,
            day_over(w, false, KV_LEGACY_REQUESTS_DAY, false),
            (unsigned long long)KV_LEGACY_REQUESTS_MONTH,
            day_over(w, false, KV_LEGACY_REQUESTS_MONTH, true));
    fprintf(f,
            "\"seed_estimate\":{\"ops_per_sq\":%llu,\"per_day\":%" PRIu64 ",\"per_month\":%" PRIu64
            "},\n",
            (unsigned long long)SEED_OPS_PER_SQ, seed_day, seed_day * (uint64_t)c->days);
    /* The history's own counts of library calls (what the oracle read). */
    uint64_t hn[OP_COUNT] = {0};
    for (int b = 0; b < c->bots; b++)
        for (const sim_chunk *k = w->bots[b].hist.head; k; k = k->next)
            for (size_t i = 0; i < k->n; i++)
                if (k->ev[i].op < OP_COUNT)
                    hn[k->ev[i].op]++;
    fprintf(f,
            "\"history\":{\"claim\":%" PRIu64 ",\"reserve\":%" PRIu64 ",\"renew\":%" PRIu64
            ",\"finish\":%" PRIu64 ",\"release\":%" PRIu64 ",\"abandon\":%" PRIu64
            ",\"write\":%" PRIu64 "},\n",
            hn[OP_CLAIM_FIRST], hn[OP_RESERVE], hn[OP_RENEW], hn[OP_FINISH], hn[OP_RELEASE],
            hn[OP_ABANDON], hn[OP_WRITE]);
    fprintf(f,
            "\"oracle\":{\"events\":%" PRIu64 ",\"belief_intervals\":%" PRIu64
            ",\"reservations\":%" PRIu64 ",\"violations\":%" PRIu64 "}}\n",
            cst->events, cst->intervals, cst->reservations, violations);
    if (f == stdout)
        return fflush(f) == 0 ? 0 : -1;
    return fclose(f) == 0 ? 0 : -1;
}

/* Requests and commands per day as an SVG bar chart, with the plans'
 * daily lines. */
static int svg_plot(const world *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const int W = 760, H = 360, L = 70, RM = 20, T = 40, B = 50;
    int days = w->cfg.days;
    uint64_t maxv = KV_LEGACY_REQUESTS_DAY;
    for (int d = 0; d < days; d++) {
        uint64_t c = sum_day(w, d, true, -1, -1);
        if (c > maxv)
            maxv = c;
    }
    double seed_day = w->cfg.bots * w->cfg.sqs_per_bot_day * (double)SEED_OPS_PER_SQ;
    double up_day = (double)UPSTASH_FREE_COMMANDS_MONTH / 30.0;
    if (seed_day > (double)maxv)
        maxv = (uint64_t)seed_day;
    if (up_day > (double)maxv)
        maxv = (uint64_t)up_day;
    double top = (double)maxv * 1.1;
    double pw = W - L - RM, ph = H - T - B, bw = pw / days;
#define Y(v) (T + ph - (double)(v) / top * ph)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
            "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">seed-month: requests "
            "and billed commands per day (%d bots, %g SQs per bot per day)</text>\n",
            W, H, W, H, L, w->cfg.bots, w->cfg.sqs_per_bot_day);
    for (int k = 0; k <= 5; k++) {
        double v = top * k / 5;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
                L, W - RM, Y(v), Y(v), L - 6, Y(v) + 4, v);
    }
    for (int d = 0; d < days; d++) {
        uint64_t r = sum_day(w, d, false, -1, -1), c = sum_day(w, d, true, -1, -1);
        double x = L + d * bw;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#a8c5e2\">"
                "<title>day %d: %" PRIu64 " commands</title></rect>\n"
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1d5f99\">"
                "<title>day %d: %" PRIu64 " requests</title></rect>\n",
                x + 1, Y(c), bw - 2, T + ph - Y(c), d + 1, c, x + bw * 0.25, Y(r), bw * 0.5,
                T + ph - Y(r), d + 1, r);
        if (days <= 31 || d % 5 == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x + bw / 2,
                    H - B + 14, d + 1);
    }
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d00\" "
            "stroke-dasharray=\"6 3\"/><text x=\"%d\" y=\"%.1f\" fill=\"#d00\" "
            "text-anchor=\"end\">Vercel KV legacy: 3 000 requests/day</text>\n",
            L, W - RM, Y(KV_LEGACY_REQUESTS_DAY), Y(KV_LEGACY_REQUESTS_DAY), W - RM - 4,
            Y(KV_LEGACY_REQUESTS_DAY) - 4);
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#7a3e9d\" "
            "stroke-dasharray=\"2 3\"/><text x=\"%d\" y=\"%.1f\" fill=\"#7a3e9d\" "
            "text-anchor=\"end\">Upstash free: 500 000 commands/month = %.0f/day</text>\n",
            L, W - RM, Y(up_day), Y(up_day), W - RM - 4, Y(up_day) - 4, up_day);
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e08e0b\" "
            "stroke-dasharray=\"8 2 2 2\"/><text x=\"%d\" y=\"%.1f\" fill=\"#b06d00\">the seed's "
            "estimate: ~60 operations per SQ = %.0f/day</text>\n",
            L, W - RM, Y(seed_day), Y(seed_day), L + 4, Y(seed_day) - 4, seed_day);
    fprintf(f,
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">day</text>\n"
            "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#1d5f99\"/><text x=\"%d\" "
            "y=\"%d\">requests</text><rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" "
            "fill=\"#a8c5e2\"/><text x=\"%d\" y=\"%d\">billed commands (EVAL + each "
            "redis.call)</text>\n</svg>\n",
            L + pw / 2, H - B + 30, L, H - 14, L + 14, H - 5, L + 90, H - 14, L + 104, H - 5);
#undef Y
    return fclose(f) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Options and the run                                                  */

static void scen_usage(FILE *f)
{
    fprintf(f,
            "usage: sqsim --scenario seed-month [options]\n"
            "\n"
            "The seed's fleet in virtual time: bots claim SQs, reserve Refund Log rows, work\n"
            "(a keep-alive renews on long work), finish and release, while a watcher polls\n"
            "status; every call is the library's, against the scripted store (the production\n"
            "Lua scripts).  Prints requests and billed commands per day and per month, by\n"
            "operation and by who, against the Upstash free tier and the legacy Vercel KV plan.\n"
            "\n"
            "  --bots N              bots (default 3)\n"
            "  --sqs-per-day X       SQs per bot per day (default 10)\n"
            "  --days N              days (default 30, at most 366)\n"
            "  --ttl DUR             claim TTL (default 600s)\n"
            "  --work DUR            median work time per SQ (default 3m)\n"
            "  --work-sigma S        its lognormal spread, the heavy tail (default 1.0)\n"
            "  --keepalive-after DUR work longer than this runs under the keep-alive\n"
            "                        (default TTL/2)\n"
            "  --watch-interval DUR  the watcher's poll interval; 'auto' (default): the CLI's\n"
            "                        default on vercel (whole minutes within 1 500 requests a\n"
            "                        day); 'off': no watcher\n"
            "  --source-poll DUR     an idle bot with SQs waiting tries again after (default 2m)\n"
            "  --rows N              refund rows per SQ 1..N (default 5)\n"
            "  --latency-ms MS       per request, plus --jitter-ms MS exponential (20, 30)\n"
            "  --fail-rate R         requests refused before the store (default 0.002)\n"
            "  --drop-rate R         replies lost after the store applied (default 0.001)\n"
            "  --seed N              random seed (default 1)\n"
            "  --report FILE         the numbers as JSON ('-': stdout)\n"
            "  --plot FILE.svg       requests and commands per day as an SVG chart\n"
            "  --timeline FILE.html  the month as an HTML timeline\n"
            "  --det                 accepted (this planner always runs in virtual time)\n"
            "  --quiet               only the summary line\n");
}

static int scen_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int scen_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sqsim --scenario: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see sqsim --scenario seed-month --help)\n");
    va_end(ap);
    return 2;
}

static int dur_ms(const char *opt, const char *text, int64_t *ms)
{
    int64_t us;
    char msg[200];
    if (sqclaim_parse_duration_us(text, &us, msg, sizeof msg) != SQCLAIM_OK || us < 0) {
        fprintf(stderr, "sqsim --scenario: %s: %s\n", opt, msg);
        return 2;
    }
    *ms = us / 1000;
    return 0;
}

static int parse(int argc, char **argv, scen_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->bots = 3;
    c->sqs_per_bot_day = 10;
    c->days = 30;
    c->ttl_ms = 600000;
    c->work_median_ms = 180000;
    c->work_sigma = 1.0;
    c->ka_after_ms = -1;
    c->watch_ms = -1;
    c->source_poll_ms = 120000;
    c->latency_ms = 20;
    c->jitter_ms = 30;
    c->fail_rate = 0.002;
    c->drop_rate = 0.001;
    c->rows_max = 5;
    c->seed = 1;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            v = eq + 1;
            a = name;
        }
        bool flag = strcmp(a, "--det") == 0 || strcmp(a, "--quiet") == 0 ||
                    strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
        if (!flag && !v) {
            if (i + 1 >= argc)
                return scen_err("%s needs a value or is unknown", a);
            v = argv[++i];
        }
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            scen_usage(stdout);
            return -1;
        } else if (strcmp(a, "--det") == 0) {
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = true;
        } else if (strcmp(a, "--scenario") == 0) {
            scenario = v;
        } else if (strcmp(a, "--bots") == 0) {
            if (!sq_parse_double(v, 1, 64, &d) || d != floor(d))
                return scen_err("--bots: 1 to 64, not \"%s\"", v);
            c->bots = (int)d;
        } else if (strcmp(a, "--sqs-per-day") == 0) {
            if (!sq_parse_double(v, 0.01, 10000, &d))
                return scen_err("--sqs-per-day: 0.01 to 10000, not \"%s\"", v);
            c->sqs_per_bot_day = d;
        } else if (strcmp(a, "--days") == 0) {
            if (!sq_parse_double(v, 1, MAX_DAYS, &d) || d != floor(d))
                return scen_err("--days: 1 to 366, not \"%s\"", v);
            c->days = (int)d;
        } else if (strcmp(a, "--ttl") == 0) {
            if (dur_ms(a, v, &c->ttl_ms))
                return 2;
            if (c->ttl_ms < 1000)
                return scen_err("--ttl: at least 1s, not \"%s\"", v);
        } else if (strcmp(a, "--work") == 0) {
            if (dur_ms(a, v, &c->work_median_ms))
                return 2;
        } else if (strcmp(a, "--work-sigma") == 0) {
            if (!sq_parse_double(v, 0, 4, &c->work_sigma))
                return scen_err("--work-sigma: 0 to 4, not \"%s\"", v);
        } else if (strcmp(a, "--keepalive-after") == 0) {
            if (dur_ms(a, v, &c->ka_after_ms))
                return 2;
        } else if (strcmp(a, "--watch-interval") == 0) {
            if (strcmp(v, "auto") == 0)
                c->watch_ms = -1;
            else if (strcmp(v, "off") == 0)
                c->watch_ms = 0;
            else if (dur_ms(a, v, &c->watch_ms))
                return 2;
            else if (c->watch_ms < 10)
                return scen_err("--watch-interval: at least 10ms (or off), not \"%s\"", v);
        } else if (strcmp(a, "--source-poll") == 0) {
            if (dur_ms(a, v, &c->source_poll_ms))
                return 2;
            if (c->source_poll_ms < 1000)
                return scen_err("--source-poll: at least 1s, not \"%s\"", v);
        } else if (strcmp(a, "--rows") == 0) {
            if (!sq_parse_double(v, 1, 1000, &d) || d != floor(d))
                return scen_err("--rows: 1 to 1000, not \"%s\"", v);
            c->rows_max = (int)d;
        } else if (strcmp(a, "--latency-ms") == 0) {
            if (!sq_parse_double(v, 0, 60000, &c->latency_ms))
                return scen_err("--latency-ms: 0 to 60000, not \"%s\"", v);
        } else if (strcmp(a, "--jitter-ms") == 0) {
            if (!sq_parse_double(v, 0, 60000, &c->jitter_ms))
                return scen_err("--jitter-ms: 0 to 60000, not \"%s\"", v);
        } else if (strcmp(a, "--fail-rate") == 0) {
            if (!sq_parse_double(v, 0, 0.5, &c->fail_rate))
                return scen_err("--fail-rate: 0 to 0.5, not \"%s\"", v);
        } else if (strcmp(a, "--drop-rate") == 0) {
            if (!sq_parse_double(v, 0, 0.5, &c->drop_rate))
                return scen_err("--drop-rate: 0 to 0.5, not \"%s\"", v);
        } else if (strcmp(a, "--seed") == 0) {
            if (!sq_parse_double(v, 0, 1e18, &d) || d != floor(d))
                return scen_err("--seed: a number, not \"%s\"", v);
            c->seed = (uint64_t)d;
        } else if (strcmp(a, "--report") == 0) {
            c->report = v;
        } else if (strcmp(a, "--plot") == 0) {
            c->plot = v;
        } else if (strcmp(a, "--timeline") == 0) {
            c->timeline = v;
        } else {
            return scen_err("unknown option %s", a);
        }
    }
    if (!scenario || strcmp(scenario, "seed-month") != 0)
        return scen_err("unknown scenario \"%s\"; known: seed-month", scenario ? scenario : "");
    if (c->ka_after_ms < 0)
        c->ka_after_ms = c->ttl_ms / 2;
    return 0;
}

static void world_free(world *w)
{
    for (int i = 0; w->bots && i < w->cfg.bots; i++) {
        sqclaim_close(w->bots[i].store);
        sim_history_free(&w->bots[i].hist);
    }
    sqclaim_close(w->watcher);
    if (w->st)
        det_store_free(w->st);
    free(w->bots);
    free(w->names);
    free(w->name_ptrs);
    free(w->done);
    free(w->pending);
    free(w->h.v);
    free(w->tl);
}

static int write_timeline(world *w, const sim_violations *vs)
{
    int lanes = w->cfg.bots;
    const char **names = calloc((size_t)lanes, sizeof *names);
    tl_mark *marks = calloc(vs->kept + 1, sizeof *marks);
    if (!names || !marks || !w->name_ptrs) {
        free(names);
        free(marks);
        return -1;
    }
    for (int i = 0; i < lanes; i++)
        names[i] = w->bots[i].name;
    for (int i = 0; i < w->nsqs; i++)
        w->name_ptrs[i] = w->names[i];
    /* Holds and reservations from the histories (as the oracle saw them). */
    for (int b = 0; b < lanes; b++) {
        sbot *bt = &w->bots[b];
        tl_event hold;
        bool open = false;
        memset(&hold, 0, sizeof hold);
        for (sim_chunk *c = bt->hist.head; c; c = c->next)
            for (size_t i = 0; i < c->n; i++) {
                const sim_event *e = &c->ev[i];
                sbot fake = {.sq = e->sq, .lease_no = e->lease};
                fake.lease.fence = e->fence;
                if (e->op == OP_CLAIM_FIRST && e->outcome == OUT_OK) {
                    open = true;
                    hold = (tl_event){.t0 = e->complete_ns,
                                      .t1 = e->aux,
                                      .fence = e->fence,
                                      .lease = e->lease,
                                      .token = e->token32,
                                      .lane = b,
                                      .sq = e->sq,
                                      .kind = TL_HOLD};
                    tl_add(w, TL_STORE, b, e->invoke_ns, e->invoke_ns + w->cfg.ttl_ms * 1000000,
                           &fake, 0, NULL);
                } else if ((e->op == OP_RENEW || e->op == OP_KA_STOP) && open &&
                           e->outcome == OUT_OK && e->aux > hold.t1) {
                    hold.t1 = e->aux;
                } else if (e->op == OP_RESERVE && e->outcome == OUT_OK) {
                    fake.rows.start_row = (uint64_t)e->aux;
                    fake.rows.count = e->rows;
                    tl_add(w, TL_RESERVE, b, e->complete_ns, e->complete_ns, &fake, 0, NULL);
                } else if (e->op == OP_FINISH && w->ntl) {
                    for (size_t k = w->ntl; k-- > 0;)
                        if (w->tl[k].kind == TL_RESERVE && w->tl[k].lane == b) {
                            if (w->tl[k].t1 == w->tl[k].t0)
                                w->tl[k].t1 = e->complete_ns;
                            break;
                        }
                } else if (e->op == OP_RELEASE && open) {
                    if (e->invoke_ns < hold.t1)
                        hold.t1 = e->invoke_ns;
                    open = false;
                    tl_add(w, TL_HOLD, b, hold.t0, hold.t1, &fake, 0, NULL);
                    if (w->ntl && w->tl[w->ntl - 1].kind == TL_HOLD)
                        w->tl[w->ntl - 1] = hold; /* with its token and times */
                }
            }
    }
    for (size_t i = 0; i < vs->kept; i++) {
        const sim_violation *v = &vs->v[i];
        marks[i] = (tl_mark){v->bot_a >= 0 ? v->bot_a : v->bot_b,
                             v->bot_a >= 0 ? v->bot_b : -1,
                             v->a_start,
                             v->a_end,
                             v->b_start,
                             v->b_end,
                             v->sq,
                             v->row_start,
                             v->rows,
                             sim_vkind_name(v->kind),
                             v->text};
    }
    char title[160];
    snprintf(title, sizeof title,
             "sqsim --scenario seed-month: %d bots, %g SQs per bot per day, %d days", w->cfg.bots,
             w->cfg.sqs_per_bot_day, w->cfg.days);
    char repro[256];
    snprintf(repro, sizeof repro,
             "sqsim --scenario seed-month --bots %d --sqs-per-day %g --days %d --seed %" PRIu64,
             w->cfg.bots, w->cfg.sqs_per_bot_day, w->cfg.days, w->cfg.seed);
    tl_page page = {.title = title,
                    .verdict = vs->kept ? "violation" : "pass",
                    .reproduce = repro,
                    .nlanes = lanes,
                    .lane_names = names,
                    .nsqs = w->nsqs,
                    .sq_names = w->name_ptrs,
                    .span = (int64_t)w->cfg.days * DAY_NS,
                    .ev = w->tl,
                    .nev = w->ntl,
                    .marks = marks,
                    .nmarks = vs->kept};
    int rc = tl_write_file(w->cfg.timeline, &page);
    free(names);
    free(marks);
    return rc;
}

int sim_scenario_main(int argc, char **argv)
{
    world *w = calloc(1, sizeof *w);
    if (!w) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }
    int prc = parse(argc, argv, &w->cfg);
    if (prc) {
        free(w);
        return prc < 0 ? 0 : prc;
    }
    const scen_cfg *cfg = &w->cfg;
    int exit_code = 0;
    sim_rng_seed(&w->rng, cfg->seed, 0x5ce9a210);
    w->now = w->origin = 1000000000LL; /* the store's clock starts at 1 s */
    det_store_config sc = {.now_ns = vclock, .clock_ctx = w, .seed = cfg->seed};
    w->st = det_store_new(&sc);
    w->bots = calloc((size_t)cfg->bots, sizeof *w->bots);
    if (!w->st || !w->bots) {
        fprintf(stderr, "sqsim: out of memory\n");
        world_free(w);
        free(w);
        return 2;
    }
    det_backend_init(&w->be, w->st);
    det_hooks hooks = {.ctx = w, .before = hook_before, .after = hook_after};
    sqclaim_clock clk = {vclock, w};
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.clock = &clk;
    o.key_prefix = "";
    for (int i = 0; i < cfg->bots && !exit_code; i++) {
        sbot *b = &w->bots[i];
        snprintf(b->name, sizeof b->name, "BOT%d", i + 1);
        b->sq = -1;
        if (sqclaim_open_backend(&w->be, &o, &b->store) != SQCLAIM_OK)
            exit_code = 2;
    }
    if (!exit_code && cfg->watch_ms && sqclaim_open_backend(&w->be, &o, &w->watcher) != SQCLAIM_OK)
        exit_code = 2;
    if (exit_code) {
        fprintf(stderr, "sqsim: cannot open the scripted store\n");
        world_free(w);
        free(w);
        return 2;
    }
    det_store_set_hooks(w->st, &hooks);

    /* The first arrival, the watcher, the end. */
    double per_day = cfg->bots * cfg->sqs_per_bot_day;
    double mean_gap_ms = 86400000.0 / per_day;
    int64_t end = w->now + (int64_t)cfg->days * DAY_NS;
    w->watch_interval_ms = cfg->watch_ms > 0 ? cfg->watch_ms : 120000;
    int rc = sched(w, w->now + (int64_t)(exp_ms(w, mean_gap_ms) * 1e6), E_ARRIVE, -1, 0);
    if (!rc && cfg->watch_ms)
        rc = sched(w, w->now, E_WATCH, -1, 0);
    if (!rc)
        rc = sched(w, end, E_END, -1, 0);
    while (!rc && w->h.n) {
        sev e = heap_pop(&w->h);
        w->now = e.t;
        if (e.kind == E_END)
            break;
        sbot *b = e.who >= 0 ? &w->bots[e.who] : NULL;
        if (b && e.kind != E_TRY && e.gen != b->gen)
            continue; /* a tick of a lease that is over */
        switch (e.kind) {
        case E_ARRIVE:
            if (new_sq(w) < 0) {
                fprintf(stderr, "sqsim: too many SQs (at most 65535)\n");
                rc = -1;
                break;
            }
            w->arrived++;
            for (int i = 0; i < cfg->bots && !rc; i++)
                if (!w->bots[i].busy && !w->bots[i].try_pending) {
                    w->bots[i].try_pending = true;
                    /* Each bot notices on its next look at its source. */
                    rc = sched(w,
                               w->now + (int64_t)(sim_rng_unit(&w->rng) *
                                                  (double)cfg->source_poll_ms * 1e6),
                               E_TRY, i, 0);
                }
            if (!rc)
                rc = sched(w, w->now + (int64_t)(exp_ms(w, mean_gap_ms) * 1e6), E_ARRIVE, -1, 0);
            break;
        case E_TRY: rc = bot_try(w, e.who); break;
        case E_RESERVE: rc = bot_reserve(w, e.who); break;
        case E_KA: rc = bot_ka(w, e.who); break;
        case E_DONE: rc = bot_done(w, e.who); break;
        case E_RELEASE: rc = bot_release(w, e.who); break;
        case E_WATCH: rc = watch_poll(w); break;
        default: break;
        }
    }
    det_store_set_hooks(w->st, NULL);
    if (rc) {
        fprintf(stderr, "sqsim: out of memory in the scenario\n");
        world_free(w);
        free(w);
        return 2;
    }

    /* The same oracle as sqsim's, on the month's history. */
    sim_violations *vs = calloc(1, sizeof *vs);
    sim_history *hs = calloc((size_t)cfg->bots, sizeof *hs);
    sim_check_stats cst;
    memset(&cst, 0, sizeof cst);
    if (!vs || !hs) {
        free(vs);
        free(hs);
        world_free(w);
        free(w);
        return 2;
    }
    sim_violations_init(vs, 1000000000LL);
    w->name_ptrs = calloc((size_t)w->nsqs + 1, sizeof *w->name_ptrs);
    for (int i = 0; w->name_ptrs && i < w->nsqs; i++)
        w->name_ptrs[i] = w->names[i];
    vs->sq_names = w->name_ptrs;
    for (int i = 0; i < cfg->bots; i++)
        hs[i] = w->bots[i].hist;
    sim_check_histories(hs, cfg->bots, w->nsqs, vs, &cst);
    free(hs);
    uint64_t violations = atomic_load(&vs->count);

    sqclaim_stats total = {0};
    uint64_t transport_rt = 0;
    for (int i = 0; i <= cfg->bots; i++) {
        sqclaim_store *s = i < cfg->bots ? w->bots[i].store : w->watcher;
        sqclaim_stats st;
        if (s && sqclaim_stats_get(s, &st) == SQCLAIM_OK) {
            total.round_trips += st.round_trips;
            total.retries += st.retries;
        }
    }
    /* The transport counts every attempt on its connections (the
     * library's stats of the scripted backend read those counters). */
    transport_rt = total.round_trips;

    if (!cfg->quiet)
        text_report(w, stdout, &cst, violations);
    uint64_t R = sum_all(w, false, -1, -1), C = sum_all(w, true, -1, -1);
    printf("%s: seed-month, %d bots x %g SQs/day x %d days: %" PRIu64 " requests, %" PRIu64
           " billed commands; Upstash free tier %s; legacy Vercel KV plan %s\n",
           violations ? "VIOLATION" : "PASS", cfg->bots, cfg->sqs_per_bot_day, cfg->days, R, C,
           day_over(w, true, UPSTASH_FREE_COMMANDS_MONTH, true) ? "runs out" : "holds",
           day_over(w, false, KV_LEGACY_REQUESTS_DAY, false) ||
                   day_over(w, false, KV_LEGACY_REQUESTS_MONTH, true)
               ? "runs out"
               : "holds");
    if (violations) {
        exit_code = 1;
        for (size_t i = 0; i < vs->kept; i++)
            fprintf(stderr, "  %s\n", vs->v[i].text);
    }
    if (cfg->report && json_report(w, cfg->report, &cst, violations, total.round_trips,
                                   total.retries, transport_rt) != 0) {
        fprintf(stderr, "sqsim: cannot write %s: %s\n", cfg->report, strerror(errno));
        exit_code = 2;
    }
    if (cfg->plot && svg_plot(w, cfg->plot) != 0) {
        fprintf(stderr, "sqsim: cannot write %s: %s\n", cfg->plot, strerror(errno));
        exit_code = 2;
    }
    if (cfg->timeline && write_timeline(w, vs) != 0) {
        fprintf(stderr, "sqsim: cannot write %s: %s\n", cfg->timeline, strerror(errno));
        exit_code = 2;
    }
    sim_violations_destroy(vs);
    free(vs);
    world_free(w);
    free(w);
    return exit_code;
}
#endif
