/*
 * det.c — `sqsim --det`: deterministic simulation in virtual time
 * (docs/simulator.md, "Deterministic mode").
 *
 * One OS thread.  N bots, their keep-alives and the store run as events
 * of one seeded scheduler over a virtual clock:
 *   - the store is the scripted store (sim/det: the production Lua
 *     scripts through proto.c) or the memory backend; its clock is the
 *     virtual clock;
 *   - each bot has its own library handle whose injected clock is the
 *     bot's (possibly fast or slow, with forward steps), and the core's
 *     private seam (core/seam.h) supplies tokens, jitter, the wall clock,
 *     the backoff's sleep and the keep-alives (no threads);
 *   - a request's latency, a backoff or a client's time-out is a wait in
 *     virtual time during which the scheduler runs other bots' events
 *     (never the waiting bot's own), so operations interleave: another
 *     bot's whole claim may land between a request and its reply;
 *   - faults are drawn per request in the transport's hooks (reply lost
 *     after apply, request landing after the client gave up, refused or
 *     error without apply, duplicate delivery, heavy-tailed stalls,
 *     outages) and as store events (helper-key loss, restart without
 *     persistence);
 *   - the oracle reads the store directly (no hooks) at every step a bot
 *     takes: a step the library allowed (may-act, a keep-alive's may-act,
 *     or a reserve's OK) while the store no longer holds the lease is a
 *     violation; steps of lapsed bots that skip the check are counted
 *     apart; the model Refund Log takes each row once; fences only grow.
 * Every choice comes from the seed, so a run's history (hashed) is the
 * same byte for byte; --runs explores seeds; a failure shrinks to one
 * replay command.
 */
#include "det.h"

#ifdef SQCLAIM_WITH_DET
#include "det_world.h"

#include "backend.h"
#include "internal.h"
#include "transport.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0_NS    ((int64_t)1700000000000000000) /* virtual time starts at 2023-11-14 */
#define MAX_BOTS 32
#define MAX_SQS  16
#define ROWS_MAX 4096
#define NOEVENT  ((uint64_t)-1)

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

typedef struct dcfg {
    uint64_t seed;
    int bots, sqs, ops;
    unsigned faults;
    int64_t ttl_ms; /* 0: drawn from the seed */
    const char *backend;
    const det_control *control;
    int sched; /* 0: from the seed (portfolio), 1 random walk, 2 PCT */
    int timeout_ms;
    unsigned boost;  /* request fault rates x boost (1..10) */
    double wall_cap; /* stop a run after this many wall seconds (0: none) */
    bool stop_at_first;
} dcfg;

static void dcfg_defaults(dcfg *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->bots = 4;
    c->sqs = 3;
    c->ops = 60;
    c->faults = DF_ALL;
    c->backend = "scripted";
    c->timeout_ms = 200;
    c->boost = 1;
    c->stop_at_first = true;
}

/* ------------------------------------------------------------------ */
/* Randomness: splitmix64 streams                                       */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t *s, uint64_t n) { return n ? rnd(s) % n : 0; }
static bool chance(uint64_t *s, unsigned per_mille) { return below(s, 1000) < per_mille; }
/* Heavy-tailed: a doubling grid lo, 2lo, 4lo ... up to hi (rr's chaos). */
static int64_t grid(uint64_t *s, int64_t lo, int64_t hi)
{
    int steps = 0;
    for (int64_t v = lo; v < hi; v *= 2)
        steps++;
    int64_t v = lo << below(s, (uint64_t)steps + 1);
    v = v > hi ? hi : v;
    return v / 2 + (int64_t)below(s, (uint64_t)v);
}

/* ------------------------------------------------------------------ */
/* World                                                                */

enum ev_kind { EV_BOT, EV_KA, EV_APPLY, EV_KEYLOSS, EV_RESTART, EV_OUTAGE };

typedef struct event {
    int64_t t;
    uint64_t prio, seq;
    enum ev_kind kind;
    int bot;
    uint64_t gen;
    det_request *req;
} event;

typedef struct world world;

typedef struct bot {
    world *w;
    int id;
    char name[16];
    sqclaim_store *h;
    sqc_seam seam;
    sqclaim_clock clock;
    double skew; /* rate - 1 */
    int64_t step_ns;
    bool busy, done, lapsed;
    bool ka_busy;                  /* its keep-alive is inside a call (holding the handle) */
    uint64_t op_epoch;             /* the store's restart count when the current call began */
    uint64_t fence_floor[MAX_SQS]; /* the oracle's fences when it began */
    uint64_t op_row_epoch;         /* the row cursor's loss count then */
    uint64_t rows_epoch;           /* ... when the bot's rows were reserved */
    uint64_t rows_reply_epoch;     /* ... when the reserve answered */
    uint64_t last_start, last_fence;
    uint32_t last_count;
    int ops;
    uint64_t prio;
    /* what the bot believes */
    enum { B_IDLE, B_HOLD, B_UNCERTAIN } state;
    sqclaim_lease lease;
    const char *cands[MAX_SQS];
    size_t ncands;
    int tries;
    uint64_t store_epoch; /* of the grant */
    bool has_rows;
    sqclaim_rows rows;
    uint32_t next_row;
    sqclaim_keepalive *ka;
    uint64_t ka_gen;
    bool ka_lost;
} bot;

typedef struct stats {
    uint64_t ops, grants, reclaims, busy, lost, errors, uncertain, takeovers, renewals, ka_renewals,
        steps, writes, reserves, finishes, releases, unchecked, unchecked_stale, excused,
        rows_reused, rows_gone, requests, events, faults, restarts, keylosses, delayed, dups,
        dropped, violations;
} stats;

struct world {
    dcfg cfg;
    uint64_t rs, fs, ss; /* streams: bots, faults, scheduler */
    int64_t now;
    int64_t ttl_ms;
    int sched; /* 1 random, 2 PCT */
    uint64_t pct_change[3];
    uint64_t nevents;
    event *heap;
    size_t nheap, capheap;
    uint64_t seq;
    bot bots[MAX_BOTS];
    char sqs[MAX_SQS][24];
    /* store */
    bool scripted;
    det_store *st;
    sqclaim_backend be;
    sqclaim_store *oracle_h; /* memory: an inspect handle */
    char space[64];
    uint64_t store_epoch;
    uint64_t row_epoch;
    int64_t outage_until;
    det_reply rep;
    /* oracle */
    uint64_t max_fence[MAX_SQS];
    struct {
        uint64_t epoch;
        int bot;
        char token[SQCLAIM_TOKEN_LEN + 1];
    } rowlog[ROWS_MAX];
    char last_holder[MAX_SQS][SQCLAIM_TOKEN_LEN + 1];
    stats st_;
    char first_violation[512];
    bool stop;
    /* history */
    uint64_t hash;
    FILE *hist;
};

static world *g_w; /* for the store clock callback */

static int64_t world_now(void *ctx) { return ((world *)ctx)->now; }

static int64_t bot_now(void *ctx)
{
    bot *b = ctx;
    int64_t el = b->w->now - T0_NS;
    return T0_NS + el + (int64_t)((double)el * b->skew) + b->step_ns;
}

/* A duration on the bot's clock, in virtual (real) ns. */
static int64_t bot_to_real(const bot *b, int64_t ns)
{
    return (int64_t)((double)ns / (1.0 + b->skew));
}

static int sq_index(const world *w, const char *sq)
{
    for (int i = 0; i < w->cfg.sqs; i++)
        if (strcmp(w->sqs[i], sq) == 0)
            return i;
    return 0;
}

/* ------------------------------------------------------------------ */
/* History: every outcome, hashed (FNV-1a) and optionally written       */

static void hist(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= c[i];
        *h *= 0x100000001b3ULL;
    }
}

/* The history hash digests each line's format and its arguments' values
 * (formatting every line as text cost a third of the run); the text is
 * written only with --history.  Conversions used: %s %d %u %ld %lu. */
static void hist(world *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (w->hist) {
        va_list aq;
        va_copy(aq, ap);
        fprintf(w->hist, "%" PRId64 " ", w->now - T0_NS);
        vfprintf(w->hist, fmt, aq);
        fputc('\n', w->hist);
        va_end(aq);
    }
    int64_t t = w->now - T0_NS;
    fnv(&w->hash, &t, sizeof t);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            fnv(&w->hash, p, 1);
            continue;
        }
        bool is_long = false;
        while (*++p == 'l')
            is_long = true;
        switch (*p) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            fnv(&w->hash, str, strlen(str) + 1);
            break;
        }
        case 'd':
        case 'u':
            if (is_long) {
                long v = va_arg(ap, long);
                fnv(&w->hash, &v, sizeof v);
            } else {
                int v = va_arg(ap, int);
                fnv(&w->hash, &v, sizeof v);
            }
            break;
        default: /* not used */ abort();
        }
    }
    va_end(ap);
}

static void violation(world *w, const bot *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(world *w, const bot *b, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->st_.violations++;
    hist(w, "VIOLATION %s: %s", b ? b->name : "-", msg);
    if (!w->first_violation[0])
        snprintf(w->first_violation, sizeof w->first_violation, "t=%.3f s %s: %s",
                 (double)(w->now - T0_NS) / 1e9, b ? b->name : "-", msg);
    if (w->cfg.stop_at_first)
        w->stop = true;
}

/* ------------------------------------------------------------------ */
/* Event queue: a binary heap on (time, priority, seq)                  */

static bool ev_before(const event *a, const event *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    if (a->prio != b->prio)
        return a->prio < b->prio;
    return a->seq < b->seq;
}

static void heap_push(world *w, event e)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? 2 * w->capheap : 64;
        event *n = realloc(w->heap, w->capheap * sizeof *n);
        if (!n) {
            fprintf(stderr, "sqsim --det: out of memory\n");
            exit(3);
        }
        w->heap = n;
    }
    size_t i = w->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(&e, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = e;
}

static event heap_pop(world *w)
{
    event top = w->heap[0];
    event last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const event *best = &last;
        if (l < w->nheap && ev_before(&w->heap[l], best)) {
            m = l;
            best = &w->heap[l];
        }
        if (r < w->nheap && ev_before(&w->heap[r], best))
            m = r;
        if (m == i)
            break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->nheap)
        w->heap[i] = last;
    return top;
}

/* Priority of an event: random walk draws one; PCT uses the bot's
 * priority (changed at a few change points) on a 1 ms grid. */
static void schedule(world *w, int64_t at, enum ev_kind kind, int b, uint64_t gen, det_request *req)
{
    event e = {.t = at, .kind = kind, .bot = b, .gen = gen, .req = req, .seq = w->seq++};
    if (w->sched == 2) {
        e.t = (at + 999999) / 1000000 * 1000000;
        e.prio = b >= 0 ? w->bots[b].prio : rnd(&w->ss);
    } else {
        e.prio = rnd(&w->ss);
    }
    heap_push(w, e);
}

static void run_event(world *w, event *e);

/* Let virtual time pass until `until`, running every due event except
 * those of a bot that is inside a library call (they run after it). */
static void wait_until(world *w, int64_t until)
{
    event deferred[64];
    size_t nd = 0;
    while (!w->stop && w->nheap && w->heap[0].t <= until) {
        event e = heap_pop(w);
        bool blocked =
            e.bot >= 0 && ((e.kind == EV_BOT && w->bots[e.bot].busy) ||
                           (e.kind == EV_KA && (w->bots[e.bot].busy || w->bots[e.bot].ka_busy)));
        if (blocked) {
            if (nd < sizeof deferred / sizeof deferred[0]) {
                deferred[nd++] = e;
                continue;
            }
            e.t = until + 1; /* overflow: after this wait */
            heap_push(w, e);
            continue;
        }
        if (e.t > w->now)
            w->now = e.t;
        run_event(w, &e);
    }
    for (size_t i = 0; i < nd; i++)
        heap_push(w, deferred[i]);
    if (until > w->now)
        w->now = until;
}

/* ------------------------------------------------------------------ */
/* The seam: sleep, tokens, randomness, wall clock, keep-alives         */

static void seam_sleep(void *ctx, sqclaim_store *s, int64_t ms)
{
    (void)s;
    bot *b = ctx;
    wait_until(b->w, b->w->now + bot_to_real(b, ms * 1000000));
}

static int seam_token(void *ctx, char *buf)
{
    bot *b = ctx;
    static const char hex[] = "0123456789abcdef";
    uint64_t x = rnd(&b->w->rs), y = rnd(&b->w->rs);
    for (int i = 0; i < 16; i++) {
        buf[i] = hex[(x >> (4 * i)) & 15];
        buf[16 + i] = hex[(y >> (4 * i)) & 15];
    }
    buf[32] = '\0';
    return 0;
}

static uint64_t seam_rand(void *ctx) { return rnd(&((bot *)ctx)->w->rs); }

static int64_t seam_unix_ms(void *ctx) { return bot_now(ctx) / 1000000; }

static void seam_ka_start(void *ctx, sqclaim_keepalive *ka, int64_t first_ms)
{
    bot *b = ctx;
    b->ka = ka;
    b->ka_gen++;
    schedule(b->w, b->w->now + bot_to_real(b, first_ms * 1000000), EV_KA, b->id, b->ka_gen, NULL);
}

static void seam_ka_stop(void *ctx, sqclaim_keepalive *ka)
{
    bot *b = ctx;
    if (b->ka == ka)
        b->ka_gen++; /* its pending event is void */
}

/* ------------------------------------------------------------------ */
/* Faults in the transport                                              */

static bot *conn_bot(det_conn *c) { return c->client.ctx; }

static int64_t latency(world *w)
{
    if ((w->cfg.faults & DF_STALL) && chance(&w->fs, 30 * w->cfg.boost))
        return grid(&w->fs, 1000000, 2000000000);
    return 100000 + (int64_t)below(&w->fs, 2000000);
}

static void delayed_apply(world *w, const det_request *req, int64_t at)
{
    det_request *copy = det_request_copy(req);
    if (copy)
        schedule(w, at, EV_APPLY, -1, 0, copy);
}

static det_fate hook_before(void *ctx, det_conn *c, const det_request *req, const char **etext)
{
    world *w = ctx;
    bot *b = conn_bot(c);
    if (!b)
        return DET_DELIVER;
    int64_t give_up = (int64_t)w->cfg.timeout_ms * 1000000;
    unsigned f = w->cfg.faults;
    if ((f & DF_OUTAGE) && w->now < w->outage_until) {
        w->st_.faults++;
        wait_until(w, w->now + 1000000);
        return DET_REFUSE;
    }
    if ((f & DF_ERROR) && chance(&w->fs, 15 * w->cfg.boost)) {
        w->st_.faults++;
        wait_until(w, w->now + latency(w));
        if (chance(&w->fs, 500)) {
            *etext = "LOADING Redis is loading the dataset in memory";
            return DET_ERROR_REPLY;
        }
        return DET_REFUSE;
    }
    if ((f & DF_DELAY) && chance(&w->fs, 15 * w->cfg.boost)) {
        /* lands after the client gave up */
        w->st_.faults++;
        w->st_.delayed++;
        delayed_apply(w, req, w->now + give_up + grid(&w->fs, 1000000, 1000000000));
        wait_until(w, w->now + give_up);
        return DET_LOSE;
    }
    int64_t lat = latency(w);
    if (lat >= give_up) {
        w->st_.faults++;
        w->st_.delayed++;
        delayed_apply(w, req, w->now + lat);
        wait_until(w, w->now + give_up);
        return DET_LOSE;
    }
    if ((f & DF_DUP) && chance(&w->fs, 10 * w->cfg.boost)) {
        w->st_.faults++;
        w->st_.dups++;
        delayed_apply(w, req, w->now + lat + grid(&w->fs, 1000000, 1000000000));
    }
    int64_t start = w->now;
    wait_until(w, w->now + lat);
    if (w->now - start >= give_up) {
        /* other bots' events ran long meanwhile: the client gave up; the
         * request lands now */
        w->st_.delayed++;
        delayed_apply(w, req, w->now);
        return DET_LOSE;
    }
    c->user = (void *)(intptr_t)(start - 0); /* for the reply's time-out */
    return DET_DELIVER;
}

static void store_invariant(world *w, const det_request *req);

static det_fate hook_after(void *ctx, det_conn *c, const det_request *req, rp_reply *const *replies)
{
    (void)req;
    (void)replies;
    world *w = ctx;
    store_invariant(w, req);
    bot *b = conn_bot(c);
    if (!b)
        return DET_DELIVER;
    int64_t give_up = (int64_t)w->cfg.timeout_ms * 1000000;
    if ((w->cfg.faults & DF_DROP_REPLY) && chance(&w->fs, 15 * w->cfg.boost)) {
        w->st_.faults++;
        w->st_.dropped++;
        wait_until(w, w->now + give_up);
        return DET_LOSE;
    }
    int64_t sent = (int64_t)(intptr_t)c->user;
    int64_t lat = latency(w);
    if (lat >= give_up || w->now + lat - sent >= give_up) {
        w->st_.faults++;
        w->st_.dropped++;
        wait_until(w, sent + give_up > w->now ? sent + give_up : w->now);
        return DET_LOSE;
    }
    wait_until(w, w->now + lat);
    if (w->now - sent >= give_up) {
        w->st_.dropped++;
        return DET_LOSE; /* the client gave up while others ran */
    }
    return DET_DELIVER;
}

/* ------------------------------------------------------------------ */
/* The oracle: what the store really holds, read without hooks          */

typedef struct truth {
    bool held; /* the claim key holds this lease */
    bool rows; /* the refund key holds this lease's reservation */
    uint64_t start;
    uint32_t count;
} truth;

static const char *json_str_after(const char *v, const char *key)
{
    const char *p = strstr(v, key);
    return p ? p + strlen(key) : NULL;
}

static void store_truth(world *w, const bot *b, truth *t)
{
    memset(t, 0, sizeof *t);
    const sqclaim_lease *l = &b->lease;
    if (w->scripted) {
        char key[96];
        snprintf(key, sizeof key, "sq:%s", l->sq);
        det_reply_reset(&w->rep);
        det_store_execv(w->st, &w->rep, 2, (const char *[]){"GET", key});
        if (w->rep.n && w->rep.node[0].type == DET_BULK) {
            const char *v = det_reply_str(&w->rep, 0);
            t->held = strstr(v, l->token) != NULL;
        }
        snprintf(key, sizeof key, "refund:%s", l->sq);
        det_reply_reset(&w->rep);
        det_store_execv(w->st, &w->rep, 2, (const char *[]){"GET", key});
        if (w->rep.n && w->rep.node[0].type == DET_BULK) {
            const char *v = det_reply_str(&w->rep, 0);
            const char *s = json_str_after(v, "\"startRow\":");
            const char *n = json_str_after(v, "\"rowCount\":");
            if (strstr(v, l->token) && s && n) {
                t->rows = true;
                t->start = strtoull(s, NULL, 10);
                t->count = (uint32_t)strtoul(n, NULL, 10);
            }
        }
        return;
    }
    sqclaim_entry e;
    if (sqclaim_inspect(w->oracle_h, l->sq, &e) != SQCLAIM_OK)
        return;
    t->held = e.has_claim && e.claim.fence == l->fence && strcmp(e.claim.bot, l->bot) == 0;
    if (e.has_reservation && t->held && e.reservation.fence == l->fence) {
        t->rows = true;
        t->start = e.reservation.start_row;
        t->count = e.reservation.row_count;
    }
}

static const char *get_value(world *w, const char *prefix, const char *sq, char *buf, size_t len)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", prefix, sq);
    det_reply_reset(&w->rep);
    det_store_execv(w->st, &w->rep, 2, (const char *[]){"GET", key});
    if (!w->rep.n || w->rep.node[0].type != DET_BULK)
        return NULL;
    snprintf(buf, len, "%s", det_reply_str(&w->rep, 0));
    return buf;
}

/* After every request the store applied: a reservation is only ever
 * held by the lease that holds its SQ (it is made by the holder, expires
 * with the claim, goes with a release). */
static void store_invariant(world *w, const det_request *req)
{
    char rv[512], cv[512];
    for (int i = 0; i < w->cfg.sqs; i++) {
        if (req) {
            /* only the SQs the request names can have changed */
            bool named = false;
            for (size_t k = 0; k < req->ncmds && !named; k++)
                for (int j = 1; j < req->cmds[k].argc && !named; j++)
                    named = req->cmds[k].argvlen[j] > 3 &&
                            strstr(req->cmds[k].argv[j], w->sqs[i]) != NULL;
            if (!named)
                continue;
        }
        if (!get_value(w, "refund:", w->sqs[i], rv, sizeof rv))
            continue;
        const char *tk = strstr(rv, "\"token\":\"");
        if (!tk)
            continue;
        char token[SQCLAIM_TOKEN_LEN + 1];
        snprintf(token, sizeof token, "%s", tk + 9);
        if (!get_value(w, "sq:", w->sqs[i], cv, sizeof cv) || !strstr(cv, token)) {
            violation(w, NULL, "SQ %s: a reservation of lease %.8s... outlives or lacks its claim",
                      w->sqs[i], token);
            return;
        }
    }
}

/* The token of the lease holding sq at the store ("" if none). */
static void holder_token(world *w, const char *sq, char *out)
{
    char v[512];
    out[0] = '\0';
    if (!w->scripted || !get_value(w, "sq:", sq, v, sizeof v))
        return;
    const char *tk = strstr(v, "\"token\":\"");
    if (tk)
        snprintf(out, SQCLAIM_TOKEN_LEN + 1, "%s", tk + 9);
}

/* An owner-checked call answered OK although another lease held the SQ
 * at the store from before it was sent until after its answer. */
static void oracle_owner(world *w, bot *b, const char *op, const char *before, sqclaim_rc rc)
{
    char after[SQCLAIM_TOKEN_LEN + 1];
    if (rc != SQCLAIM_OK || !before[0] || strcmp(before, b->lease.token) == 0)
        return;
    /* A release converges to OK when its lease's deadline had not passed
     * (docs/protocol.md): only a restart can have dropped the claim then. */
    if (b->store_epoch != w->store_epoch) {
        w->st_.excused++;
        return;
    }
    holder_token(w, b->lease.sq, after);
    if (strcmp(before, after) == 0)
        violation(
            w, b,
            "%s on SQ %s answered OK to a lease that did not hold it (held by %.8s... throughout)",
            op, b->lease.sq, before);
}

/* A step by bot b on its lease.  allowed: the library said yes (may-act,
 * a keep-alive's may-act, or the reserve that gave the rows). */
static void oracle_step(world *w, bot *b, bool allowed, long row)
{
    truth t;
    store_truth(w, b, &t);
    bool ok = t.held;
    bool rows_ok =
        row < 0 || (t.rows && (uint64_t)row >= t.start && (uint64_t)row < t.start + t.count);
    hist(w, "step %s %s %s row=%ld fence=%" PRIu64 " held=%d rows=%d", b->name, b->lease.sq,
         allowed ? "checked" : "unchecked", row, b->lease.fence, ok, rows_ok);
    if (!allowed) {
        w->st_.unchecked++;
        if (!ok)
            w->st_.unchecked_stale++;
        return;
    }
    if (row >= 0)
        w->st_.writes++;
    else
        w->st_.steps++;
    if (ok && !rows_ok) {
        /* The claim is live, its reservation is not.  Bots finish with
         * sqclaim_finish_range, which never removes another reservation
         * of the lease, so only a broken store gets here (with the
         * lease-wide sqclaim_finish_rows a late or repeated finish could:
         * docs/protocol.md, "A late or duplicated finish"). */
        w->st_.rows_gone++;
        violation(w, b,
                  "write of row %ld on SQ %s (fence %" PRIu64 ") into a reservation the store "
                  "no longer holds while the claim is still the lease's (store: %s)",
                  row, b->lease.sq, b->lease.fence, t.rows ? "another range" : "none");
        return;
    }
    if (!ok) {
        if (b->store_epoch != w->store_epoch) {
            w->st_.excused++; /* granted before a restart that lost it */
            return;
        }
        char what[48] = "step";
        if (row >= 0)
            snprintf(what, sizeof what, "write of row %ld", row);
        violation(w, b,
                  "%s on SQ %s (fence %" PRIu64 ") allowed by the library after the lease "
                  "ended at the store (bot clock %.3f ms before its deadline, lease sent "
                  "%.3f ms ago%s)",
                  what, b->lease.sq, b->lease.fence,
                  (double)((b->ka ? sqclaim_keepalive_deadline_ns(b->ka) : b->lease.deadline_ns) -
                           bot_now(b)) /
                      1e6,
                  (double)(bot_now(b) - b->lease.sent_ns) / 1e6, b->ka ? ", keep-alive" : "");
        return;
    }
    if (row >= 0 && row < ROWS_MAX) {
        /* The same row for another lease: a violation unless the row
         * cursor was lost in between (rows of finished reservations may
         * then be handed out again; live ones never: oracle_rows). */
        if (w->rowlog[row].bot && w->rowlog[row].epoch == b->rows_reply_epoch &&
            strcmp(w->rowlog[row].token, b->lease.token) != 0) {
            violation(w, b, "row %ld of the Refund Log written twice (first by BOT%d)", row,
                      w->rowlog[row].bot);
        } else if (w->rowlog[row].bot && strcmp(w->rowlog[row].token, b->lease.token) != 0) {
            w->st_.rows_reused++; /* after a cursor loss or restart */
        }
        w->rowlog[row].bot = b->id + 1;
        w->rowlog[row].epoch = b->rows_epoch;
        memcpy(w->rowlog[row].token, b->lease.token, sizeof w->rowlog[row].token);
    }
}

/* New rows for b: they must not overlap another lease's reservation
 * that the store still holds. */
static void oracle_rows(world *w, bot *b)
{
    /* the same range again for the same lease (an idempotent answer):
     * handed out when it first was */
    if (!(b->last_start == b->rows.start_row && b->last_count == b->rows.count &&
          b->last_fence == b->lease.fence))
        b->rows_epoch = b->op_row_epoch; /* it may have been handed out from then on */
    b->rows_reply_epoch = w->row_epoch;
    b->last_start = b->rows.start_row;
    b->last_count = b->rows.count;
    b->last_fence = b->lease.fence;
    hist(w, "rows %s %s %" PRIu64 "+%u epoch %" PRIu64, b->name, b->lease.sq, b->rows.start_row,
         b->rows.count, b->rows_epoch);
    for (int i = 0; i < w->cfg.bots; i++) {
        bot *o = &w->bots[i];
        if (o == b || !o->has_rows || o->state != B_HOLD)
            continue;
        if (o->rows.start_row >= b->rows.start_row + b->rows.count ||
            b->rows.start_row >= o->rows.start_row + o->rows.count)
            continue;
        truth t;
        store_truth(w, o, &t);
        if (t.rows && t.start == o->rows.start_row)
            violation(w, b, "rows %" PRIu64 "+%u overlap %s's live reservation %" PRIu64 "+%u",
                      b->rows.start_row, b->rows.count, o->name, o->rows.start_row, o->rows.count);
    }
}

static void oracle_grant(world *w, bot *b)
{
    int i = sq_index(w, b->lease.sq);
    bool re = (b->lease.flags & SQCLAIM_LEASE_RECLAIMED) != 0;
    hist(w, "grant %s %s fence=%" PRIu64 " token=%s%s", b->name, b->lease.sq, b->lease.fence,
         b->lease.token, re ? " reclaimed" : "");
    /* Every fence granted before this claim was sent is below it (a reply
     * may arrive after later grants': compare with what was known then). */
    uint64_t floor = b->fence_floor[i];
    if (b->lease.fence < floor || (b->lease.fence == floor && !re))
        violation(w, b, "fence %" PRIu64 " on SQ %s after fence %" PRIu64 " was granted",
                  b->lease.fence, b->lease.sq, floor);
    if (b->lease.fence > w->max_fence[i])
        w->max_fence[i] = b->lease.fence;
    if (w->last_holder[i][0] && strcmp(w->last_holder[i], b->lease.token) != 0)
        w->st_.takeovers++;
    memcpy(w->last_holder[i], b->lease.token, sizeof w->last_holder[i]);
    b->store_epoch = b->op_epoch; /* a restart since the send may have lost it */
}

/* ------------------------------------------------------------------ */
/* Bots                                                                 */

static void on_lost(const sqclaim_lease *lease, sqclaim_rc why, void *arg)
{
    (void)lease;
    (void)why;
    bot *b = arg;
    b->ka_lost = true;
}

static void count_rc(world *w, sqclaim_rc rc)
{
    w->st_.ops++;
    if (rc == SQCLAIM_BUSY)
        w->st_.busy++;
    else if (rc == SQCLAIM_LOST)
        w->st_.lost++;
    else if (rc < 0)
        w->st_.errors++;
}

static void forget(bot *b)
{
    if (b->ka) {
        sqclaim_keepalive_stop(b->ka, NULL);
        b->ka = NULL;
    }
    b->ka_lost = false;
    b->state = B_IDLE;
    b->has_rows = false;
    memset(&b->lease, 0, sizeof b->lease);
}

static void stop_ka(bot *b)
{
    if (b->ka) {
        sqclaim_keepalive_stop(b->ka, NULL); /* frees it; release would only detach it */
        b->ka = NULL;
    }
    b->ka_gen++;
}

static void do_release(world *w, bot *b)
{
    stop_ka(b);
    sqclaim_rc rc = sqclaim_release(b->h, &b->lease);
    count_rc(w, rc);
    w->st_.releases++;
    hist(w, "release %s %s rc=%d", b->name, b->lease.sq, rc);
    b->ka_lost = false;
    b->state = B_IDLE;
    b->has_rows = false;
}

static bool may_act(bot *b)
{
    if (b->ka)
        return sqclaim_keepalive_may_act(b->ka);
    return sqclaim_may_act(b->h, &b->lease);
}

static void pick_candidates(world *w, bot *b)
{
    b->ncands = 1 + below(&w->rs, 3);
    if (b->ncands > (size_t)w->cfg.sqs)
        b->ncands = (size_t)w->cfg.sqs;
    size_t first = below(&w->rs, (uint64_t)w->cfg.sqs);
    for (size_t i = 0; i < b->ncands; i++)
        b->cands[i] = w->sqs[(first + i) % (size_t)w->cfg.sqs];
}

static void bot_claim(world *w, bot *b)
{
    sqclaim_rc rc;
    if (b->state == B_UNCERTAIN) {
        rc = sqclaim_claim_retry(b->h, b->cands, b->ncands, &b->lease, NULL);
        b->tries++;
    } else {
        pick_candidates(w, b);
        int64_t ttl = w->ttl_ms;
        if (chance(&w->rs, 200))
            ttl = ttl / 2 + (int64_t)below(&w->rs, (uint64_t)ttl);
        rc = sqclaim_claim_first(b->h, b->cands, b->ncands, b->name, ttl, &b->lease, NULL);
        b->tries = 0;
    }
    count_rc(w, rc);
    hist(w, "claim %s %s rc=%d sent=%" PRId64, b->name, b->cands[0], rc, b->lease.sent_ns - T0_NS);
    if (rc == SQCLAIM_OK) {
        w->st_.grants++;
        if (b->lease.flags & SQCLAIM_LEASE_RECLAIMED)
            w->st_.reclaims++;
        b->state = B_HOLD;
        b->has_rows = false;
        oracle_grant(w, b);
        return;
    }
    if (rc == SQCLAIM_BUSY) {
        b->state = B_IDLE;
        return;
    }
    if (b->lease.flags & SQCLAIM_LEASE_UNCERTAIN) {
        w->st_.uncertain++;
        b->state = B_UNCERTAIN;
        if (b->tries >= 3) {
            rc = sqclaim_abandon(b->h, b->cands, b->ncands, &b->lease);
            count_rc(w, rc);
            hist(w, "abandon %s rc=%d", b->name, rc);
            if (rc >= 0)
                b->state = B_IDLE;
        }
        return;
    }
    b->state = B_IDLE;
}

/* A lapsed bot: one action without asking may-act. */
static void bot_lapse(world *w, bot *b)
{
    sqclaim_rc rc;
    char before[SQCLAIM_TOKEN_LEN + 1];
    holder_token(w, b->lease.sq, before);
    switch (below(&w->rs, 5)) {
    case 0:
        rc = sqclaim_renew(b->h, &b->lease, 0);
        count_rc(w, rc);
        hist(w, "renew-unchecked %s %s rc=%d", b->name, b->lease.sq, rc);
        oracle_owner(w, b, "renew", before, rc);
        if (rc == SQCLAIM_OK)
            w->st_.renewals++;
        break;
    case 1: {
        sqclaim_rows got;
        rc = sqclaim_reserve_rows(b->h, &b->lease, 1 + (uint32_t)below(&w->rs, 4),
                                  below(&w->rs, 60), &got);
        count_rc(w, rc);
        hist(w, "reserve-unchecked %s %s rc=%d", b->name, b->lease.sq, rc);
        oracle_owner(w, b, "reserve", before, rc);
        if (rc == SQCLAIM_OK) {
            w->st_.reserves++;
            b->rows = got;
            b->has_rows = true;
            b->next_row = 0;
            oracle_rows(w, b);
            /* a lapsed bot writes at once, checked or not */
            oracle_step(w, b, may_act(b), (long)b->rows.start_row);
        }
        break;
    }
    case 2: {
        /* Its last range, open or not (a stale one matches nothing); a
         * bot that never reserved names one no store holds (fence 0). */
        sqclaim_rows last = b->rows.count ? b->rows : (sqclaim_rows){1, 1, 0};
        rc = sqclaim_finish_range(b->h, &b->lease, &last);
        count_rc(w, rc);
        hist(w, "finish-unchecked %s %s rc=%d", b->name, b->lease.sq, rc);
        oracle_owner(w, b, "finish", before, rc);
        b->has_rows = false;
        break;
    }
    case 3:
        if (b->has_rows)
            oracle_step(w, b, false, (long)b->rows.start_row);
        else
            oracle_step(w, b, false, -1);
        break;
    default:
        stop_ka(b);
        rc = sqclaim_release(b->h, &b->lease);
        count_rc(w, rc);
        hist(w, "release-unchecked %s %s rc=%d", b->name, b->lease.sq, rc);
        oracle_owner(w, b, "release", before, rc);
        stop_ka(b);
        b->state = B_IDLE;
        b->has_rows = false;
        break;
    }
}

/* Think time before the bot's next action, in virtual ns. */
static int64_t think(world *w, bot *b)
{
    int64_t ttl_ns = w->ttl_ms * 1000000;
    if (b->state == B_HOLD && chance(&w->rs, 150)) {
        /* greedy: act just before the local deadline (per its clock) */
        int64_t left = b->ka ? sqclaim_keepalive_deadline_ns(b->ka) - bot_now(b)
                             : b->lease.deadline_ns - bot_now(b);
        left -= (int64_t)below(&w->rs, 2000000) + 1;
        if (left > 0)
            return bot_to_real(b, left);
    }
    if ((w->cfg.faults & DF_PAUSE) && chance(&w->rs, 40))
        return grid(&w->rs, ttl_ns / 64 + 1, 2 * ttl_ns);
    return grid(&w->rs, ttl_ns / 512 + 1000, ttl_ns / 4);
}

static void bot_act(world *w, bot *b)
{
    if (b->done)
        return;
    if (b->ops >= w->cfg.ops) {
        if (b->state != B_IDLE)
            do_release(w, b);
        b->done = true;
        hist(w, "done %s", b->name);
        return;
    }
    b->ops++;
    if ((w->cfg.faults & DF_CRASH) && chance(&w->rs, 8)) {
        hist(w, "crash %s", b->name);
        forget(b);
        schedule(w, w->now + grid(&w->rs, 1000000, w->ttl_ms * 1000000), EV_BOT, b->id, 0, NULL);
        return;
    }
    if ((w->cfg.faults & DF_DRIFT) && chance(&w->rs, 10)) {
        b->step_ns += grid(&w->rs, 1000000, w->ttl_ms * 10000); /* forward step */
        hist(w, "clock-step %s", b->name);
    }
    if (b->state != B_HOLD) {
        bot_claim(w, b);
    } else if (b->lapsed && (chance(&w->rs, 150) || (!may_act(b) && chance(&w->rs, 700)))) {
        bot_lapse(w, b); /* mostly once its lease has lapsed */
    } else {
        unsigned r = (unsigned)below(&w->rs, 100);
        if (b->ka_lost) {
            do_release(w, b);
        } else if (r < 25) {
            if (may_act(b))
                oracle_step(w, b, true, -1);
            else
                do_release(w, b);
        } else if (r < 45 && b->has_rows) {
            if (may_act(b)) {
                oracle_step(w, b, true, (long)(b->rows.start_row + b->next_row));
                b->next_row = (b->next_row + 1) % b->rows.count;
            } else {
                do_release(w, b);
            }
        } else if (r < 55 && !b->has_rows) {
            if (may_act(b)) {
                uint64_t hint = w->scripted ? below(&w->rs, 50) : 0;
                sqclaim_rc rc = sqclaim_reserve_rows(
                    b->h, &b->lease, 1 + (uint32_t)below(&w->rs, 4), hint, &b->rows);
                count_rc(w, rc);
                hist(w, "reserve %s %s rc=%d start=%" PRIu64, b->name, b->lease.sq, rc,
                     rc == SQCLAIM_OK ? b->rows.start_row : 0);
                if (rc == SQCLAIM_OK) {
                    w->st_.reserves++;
                    b->has_rows = true;
                    b->next_row = 0;
                    oracle_rows(w, b);
                } else if (rc == SQCLAIM_LOST) {
                    do_release(w, b);
                }
            }
        } else if (r < 62 && b->has_rows) {
            sqclaim_rc rc = sqclaim_finish_range(b->h, &b->lease, &b->rows);
            count_rc(w, rc);
            hist(w, "finish %s %s rc=%d", b->name, b->lease.sq, rc);
            w->st_.finishes++;
            b->has_rows = false;
            if (rc == SQCLAIM_LOST)
                do_release(w, b);
        } else if (r < 72 && !b->ka) {
            sqclaim_rc rc = sqclaim_renew(b->h, &b->lease, 0);
            count_rc(w, rc);
            hist(w, "renew %s %s rc=%d", b->name, b->lease.sq, rc);
            if (rc == SQCLAIM_OK)
                w->st_.renewals++;
            else if (rc == SQCLAIM_LOST)
                do_release(w, b);
        } else if (r < 80 && !b->ka) {
            sqclaim_keepalive *ka = NULL;
            sqclaim_rc rc = sqclaim_keepalive_start(b->h, &b->lease, on_lost, b, &ka);
            hist(w, "keepalive %s %s rc=%d", b->name, b->lease.sq, rc);
            if (rc != SQCLAIM_OK)
                b->ka = NULL;
        } else if (r < 88) {
            do_release(w, b);
        }
    }
    schedule(w, w->now + think(w, b), EV_BOT, b->id, 0, NULL);
}

/* ------------------------------------------------------------------ */
/* Events                                                               */

static void run_event(world *w, event *e)
{
    w->nevents++;
    if (w->sched == 2 && e->bot >= 0) {
        for (int k = 0; k < 3; k++)
            if (w->nevents == w->pct_change[k])
                w->bots[e->bot].prio = ((uint64_t)1 << 62) + (uint64_t)k; /* lowest */
    }
    switch (e->kind) {
    case EV_BOT: {
        bot *b = &w->bots[e->bot];
        if (b->ka_busy) {
            /* Its keep-alive holds the handle: the bot works on, taking
             * only steps that need no call (may-act is lock-free). */
            if (!b->done && b->state == B_HOLD && may_act(b)) {
                long row = b->has_rows ? (long)(b->rows.start_row + b->next_row) : -1;
                oracle_step(w, b, true, row);
            }
            schedule(w, w->now + think(w, b), EV_BOT, b->id, 0, NULL);
            break;
        }
        b->busy = true;
        b->op_epoch = w->store_epoch;
        memcpy(b->fence_floor, w->max_fence, sizeof b->fence_floor);
        b->op_row_epoch = w->row_epoch;
        bot_act(w, b);
        b->busy = false;
        break;
    }
    case EV_KA: {
        bot *b = &w->bots[e->bot];
        if (e->gen != b->ka_gen || !b->ka)
            break;
        b->ka_busy = true;
        b->op_epoch = w->store_epoch;
        uint64_t before = sqclaim_keepalive_renewals(b->ka);
        int64_t next = sqc_keepalive_step(b->ka);
        b->ka_busy = false;
        if (next < 0) {
            hist(w, "keepalive-end %s", b->name);
            if (e->gen == b->ka_gen)
                b->ka_gen++;
            /* b->ka stays for may-act until the bot releases (lost set) */
            break;
        }
        if (sqclaim_keepalive_renewals(b->ka) != before) {
            w->st_.ka_renewals++;
            hist(w, "ka-renew %s %s", b->name, b->lease.sq);
        }
        if (e->gen == b->ka_gen)
            schedule(w, w->now + bot_to_real(b, next * 1000000), EV_KA, b->id, e->gen, NULL);
        break;
    }
    case EV_APPLY:
        hist(w, "late-apply");
        det_store_apply(w->st, e->req);
        store_invariant(w, e->req);
        det_request_free(e->req);
        break;
    case EV_KEYLOSS:
        if (e->gen == 0) {
            det_reply_reset(&w->rep);
            det_store_execv(w->st, &w->rep, 2, (const char *[]){"DEL", "sqclaim:fence"});
        } else {
            det_reply_reset(&w->rep);
            det_store_execv(w->st, &w->rep, 2, (const char *[]){"DEL", "sqclaim:rowcursor"});
            w->row_epoch++;
        }
        w->st_.keylosses++;
        hist(w, "keyloss %s", e->gen == 0 ? "fence" : "cursor");
        break;
    case EV_RESTART:
        det_store_restart(w->st);
        w->store_epoch++;
        w->row_epoch++;
        w->st_.restarts++;
        hist(w, "restart");
        break;
    case EV_OUTAGE:
        w->outage_until = w->now + grid(&w->fs, 1000000, 2 * w->ttl_ms * 1000000);
        hist(w, "outage");
        break;
    }
}

/* ------------------------------------------------------------------ */
/* One run                                                              */

typedef struct result {
    bool failed;
    char why[512];
    stats st;
    uint64_t hash;
    int64_t virtual_ns;
    int64_t ttl_ms;
    int sched;
} result;

static const int64_t ttl_choices[] = {600000, 60000, 5000, 1000, 500};

static double wall_s(void);

static int run_once(const dcfg *cfg, result *res, FILE *hist_out)
{
    world *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    g_w = w;
    w->cfg = *cfg;
    w->hist = hist_out;
    w->hash = 0xcbf29ce484222325ULL;
    uint64_t s0 = cfg->seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    w->rs = rnd(&s0);
    w->fs = rnd(&s0);
    w->ss = rnd(&s0);
    w->now = T0_NS;
    int64_t drawn_ttl = ttl_choices[rnd(&s0) % 5]; /* drawn even when given: same streams */
    w->ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : drawn_ttl;
    w->sched = cfg->sched ? cfg->sched : 1 + (int)(cfg->seed % 2);
    for (int k = 0; k < 3; k++)
        w->pct_change[k] = 1 + below(&w->ss, (uint64_t)(cfg->bots * cfg->ops * 2));
    det_reply_init(&w->rep);
    w->scripted = strcmp(cfg->backend, "scripted") == 0;
    unsigned faults = cfg->faults;
    if (!w->scripted)
        faults &= ~(unsigned)(DF_TRANSPORT | DF_KEYLOSS | DF_RESTART | DF_DRIFT);
    w->cfg.faults = faults;
    for (int i = 0; i < cfg->sqs; i++)
        snprintf(w->sqs[i], sizeof w->sqs[i], "251019-%03dsq", i);

    int rc = 0;
    if (w->scripted) {
        det_store_config sc = {.now_ns = world_now, .clock_ctx = w, .seed = rnd(&s0)};
        w->st = det_store_new(&sc);
        if (!w->st) {
            free(w);
            return -1;
        }
        if (cfg->control && cfg->control->script) {
            const char *why = "out of memory";
            char *body = det_control_body(cfg->control, &why);
            if (!body) {
                fprintf(stderr, "sqsim --det: control %s does not apply: text not found: %s\n",
                        cfg->control->name, why);
                rc = -2;
                goto out;
            }
            const char *orig = det_script(cfg->control->script);
            det_lua_override(det_store_lua(w->st), orig, strlen(orig), body, strlen(body));
            free(body);
        }
        det_backend_init(&w->be, w->st);
        det_hooks hk = {.ctx = w, .before = hook_before, .after = hook_after};
        det_store_set_hooks(w->st, &hk);
    } else {
        static unsigned long spaces;
        snprintf(w->space, sizeof w->space, "det-%" PRIu64 "-%lu", cfg->seed, ++spaces);
    }
    sqclaim_clock world_clock = {world_now, w};
    if (!w->scripted) {
        sqclaim_options o;
        sqclaim_options_init(&o);
        o.adapter = "memory";
        o.memory_space = w->space;
        o.clock = &world_clock;
        if (sqclaim_open(&o, &w->oracle_h) != SQCLAIM_OK) {
            fprintf(stderr, "sqsim --det: memory: %s\n", sqclaim_errmsg(w->oracle_h));
            rc = -2;
            goto out;
        }
    }
    int lapsed_pick = (int)below(&w->rs, (uint64_t)cfg->bots);
    int slow_pick = (int)below(&w->rs, (uint64_t)cfg->bots); /* one slow clock at least */
    for (int i = 0; i < cfg->bots; i++) {
        bot *b = &w->bots[i];
        b->w = w;
        b->id = i;
        snprintf(b->name, sizeof b->name, "BOT%d", i + 1);
        if (w->scripted && (faults & DF_DRIFT)) {
            /* half slow by up to 0.9 % (within the 1 % margin), half fast
             * by up to 3 %; one slow at least */
            int64_t ppm = chance(&w->rs, 500) || i == slow_pick ? -(int64_t)below(&w->rs, 9001)
                                                                : (int64_t)below(&w->rs, 30001);
            b->skew = (double)ppm / 1e6;
        }
        b->clock.now_ns = w->scripted ? bot_now : world_now;
        b->clock.ctx = w->scripted ? (void *)b : (void *)w;
        /* lapsed bots: at least one when the fault is on */
        b->lapsed = (faults & DF_LAPSE) && (chance(&w->rs, 300) || i == lapsed_pick);
        b->prio = rnd(&w->ss) >> 2;
        sqclaim_options o;
        sqclaim_options_init(&o);
        o.clock = &b->clock;
        o.timeout_ms = cfg->timeout_ms;
        o.connect_timeout_ms = cfg->timeout_ms;
        o.retries = 2;
        o.key_prefix = ""; /* not $SQCLAIM_KEY_PREFIX: the run depends on nothing else */
        sqclaim_rc orc;
        if (w->scripted) {
            orc = sqclaim_open_backend(&w->be, &o, &b->h);
            if (orc == SQCLAIM_OK)
                ((det_conn *)b->h->conn)->client.ctx = b;
        } else {
            o.adapter = "memory";
            o.memory_space = w->space;
            orc = sqclaim_open(&o, &b->h);
        }
        if (orc != SQCLAIM_OK) {
            fprintf(stderr, "sqsim --det: open: %s\n", sqclaim_errmsg(b->h));
            rc = -2;
            goto out;
        }
        b->seam = (sqc_seam){.ctx = b,
                             .sleep_ms = seam_sleep,
                             .token = seam_token,
                             .rand64 = seam_rand,
                             .unix_ms = seam_unix_ms,
                             .ka_start = seam_ka_start,
                             .ka_stop = seam_ka_stop,
                             .adjust = cfg->control ? cfg->control->adjust : NULL};
        sqc_seam_set(b->h, &b->seam);
        schedule(w, w->now + (int64_t)below(&w->rs, 10000000), EV_BOT, i, 0, NULL);
    }
    /* store faults over the expected span of the run */
    int64_t span = (int64_t)cfg->ops * w->ttl_ms * 1000000 / 8 + 1;
    if (w->scripted) {
        int nk = (faults & DF_KEYLOSS) ? 1 + (int)below(&w->fs, 3) : 0;
        for (int k = 0; k < 2 * nk; k++) /* even: the fence counter, odd: the row cursor */
            schedule(w, w->now + (int64_t)below(&w->fs, (uint64_t)span), EV_KEYLOSS, -1,
                     (uint64_t)k & 1, NULL);
        if ((faults & DF_RESTART) && chance(&w->fs, 300 * w->cfg.boost))
            schedule(w, w->now + (int64_t)below(&w->fs, (uint64_t)span), EV_RESTART, -1, 0, NULL);
        int nout = (faults & DF_OUTAGE) ? chance(&w->fs, 400) + (int)w->cfg.boost - 1 : 0;
        for (int k = 0; k < nout; k++)
            schedule(w, w->now + (int64_t)below(&w->fs, (uint64_t)span), EV_OUTAGE, -1, 0, NULL);
    }
    hist(w, "run seed=%" PRIu64 " bots=%d sqs=%d ops=%d faults=%u ttl=%" PRId64 " sched=%d",
         cfg->seed, cfg->bots, cfg->sqs, cfg->ops, faults, w->ttl_ms, w->sched);
    double cap_at = cfg->wall_cap > 0 ? wall_s() + cfg->wall_cap : 0;
    while (!w->stop && w->nheap) {
        if (cap_at > 0 && (w->nevents & 255) == 0 && wall_s() > cap_at) {
            hist(w, "wall-time cap");
            break; /* a control not caught within its wall time */
        }
        event e = heap_pop(w);
        if (e.t > w->now)
            w->now = e.t;
        run_event(w, &e);
    }
    hist(w, "end violations=%" PRIu64, w->st_.violations);

out:
    res->failed = w->st_.violations > 0;
    snprintf(res->why, sizeof res->why, "%s", w->first_violation);
    res->st = w->st_;
    res->st.events = w->nevents;
    res->hash = w->hash;
    res->virtual_ns = w->now - T0_NS;
    res->ttl_ms = w->ttl_ms;
    res->sched = w->sched;
    for (int i = 0; i < cfg->bots; i++) {
        bot *b = &w->bots[i];
        if (!b->h)
            continue;
        sqclaim_stats bs;
        if (sqclaim_stats_get(b->h, &bs) == SQCLAIM_OK)
            res->st.requests += bs.round_trips;
        if (b->ka)
            sqclaim_keepalive_stop(b->ka, NULL);
        sqclaim_close(b->h);
    }
    sqclaim_close(w->oracle_h);
    while (w->nheap) {
        event e = heap_pop(w);
        if (e.req)
            det_request_free(e.req);
    }
    free(w->heap);
    det_reply_free(&w->rep);
    if (w->st)
        det_store_free(w->st);
    free(w);
    g_w = NULL;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Command line, runs, shrinking                                        */

static void print_cmd(FILE *out, const dcfg *c, int64_t ttl_ms, int sched)
{
    fprintf(out,
            "sqsim --det --seed %" PRIu64 " --bots %d --sqs %d --ops %d --faults %u --ttl %" PRId64
            " --sched %s --boost %u --backend %s%s%s\n",
            c->seed, c->bots, c->sqs, c->ops, c->faults, ttl_ms, sched == 2 ? "pct" : "random",
            c->boost, c->backend, c->control ? " --control " : "",
            c->control ? c->control->name : "");
}

/* Shrink a failing configuration: fewer bots, SQs, operations and fault
 * kinds, keeping each reduction that still fails. */
static void shrink(dcfg *c, result *last)
{
    bool progress = true;
    int tries = 0;
    while (progress && tries < 200) {
        progress = false;
        dcfg t;
        result r;
#define TRY(mutate)                                                                                \
    do {                                                                                           \
        t = *c;                                                                                    \
        mutate;                                                                                    \
        tries++;                                                                                   \
        if (run_once(&t, &r, NULL) == 0 && r.failed) {                                             \
            *c = t;                                                                                \
            *last = r;                                                                             \
            progress = true;                                                                       \
        }                                                                                          \
    } while (0)
        if (c->bots > 2)
            TRY(t.bots = c->bots - 1);
        if (c->ops > 4)
            TRY(t.ops = c->ops / 2);
        if (c->ops > 4)
            TRY(t.ops = c->ops - 1);
        if (c->sqs > 1)
            TRY(t.sqs = c->sqs - 1);
        for (int k = 0; k < 12; k++)
            if (c->faults & (1u << k))
                TRY(t.faults = c->faults & ~(1u << k));
#undef TRY
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sqsim --det [--seed S] [--runs N] [--bots N] [--sqs N] [--ops N]\n"
            "                   [--ttl MS] [--faults MASK|none|all] [--sched random|pct]\n"
            "                   [--backend scripted|memory] [--control NAME] [--expect-violation]\n"
            "                   [--history FILE] [--no-shrink] [--all-controls] [--list-controls]\n"
            "                   [--bench SECONDS] [--wall-cap SECONDS] [--quiet]\n");
}

bool sqsim_det_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--det") == 0)
            return true;
    return false;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_stats(stats *a, const stats *b)
{
    uint64_t *x = (uint64_t *)a;
    const uint64_t *y = (const uint64_t *)b;
    for (size_t i = 0; i < sizeof *a / sizeof(uint64_t); i++)
        x[i] += y[i];
}

/* Run N seeds from cfg->seed.  Returns the number of failing seeds. */
static uint64_t explore(dcfg *cfg, uint64_t runs, bool quiet, stats *tot, int64_t *vns,
                        double *max_wall, dcfg *first_fail, result *first_res)
{
    uint64_t fails = 0;
    uint64_t base = cfg->seed;
    for (uint64_t k = 0; k < runs; k++) {
        dcfg c = *cfg;
        c.seed = base + k;
        result r;
        double t0 = wall_s();
        int rc = run_once(&c, &r, NULL);
        double dt = wall_s() - t0;
        if (rc != 0)
            return (uint64_t)-1;
        if (dt > *max_wall)
            *max_wall = dt;
        add_stats(tot, &r.st);
        *vns += r.virtual_ns;
        if (r.failed) {
            if (!fails) {
                *first_fail = c;
                *first_res = r;
            }
            fails++;
            if (!quiet && !cfg->control)
                fprintf(stderr, "seed %" PRIu64 ": %s\n", c.seed, r.why);
        }
    }
    return fails;
}

static void print_stats(const stats *s)
{
    printf("  operations %" PRIu64 ": grants %" PRIu64 " (reclaimed %" PRIu64 "), busy %" PRIu64
           ", lost %" PRIu64 ", errors %" PRIu64 " (uncertain claims %" PRIu64 ")\n",
           s->ops, s->grants, s->reclaims, s->busy, s->lost, s->errors, s->uncertain);
    printf("  takeovers %" PRIu64 ", renewals %" PRIu64 " (keep-alive %" PRIu64
           "), reserves %" PRIu64 ", finishes %" PRIu64 ", releases %" PRIu64 "\n",
           s->takeovers, s->renewals, s->ka_renewals, s->reserves, s->finishes, s->releases);
    printf("  checked steps %" PRIu64 ", row writes %" PRIu64
           "; unchecked steps (lapsed bots) %" PRIu64 ", of which stale %" PRIu64
           "; excused by a restart %" PRIu64 "; rows reused after "
           "cursor loss %" PRIu64 "\n",
           s->steps, s->writes, s->unchecked, s->unchecked_stale, s->excused, s->rows_reused);
    printf("  row writes whose reservation was gone while the claim was live %" PRIu64
           " (each a violation; docs/simulator.md)\n",
           s->rows_gone);
    printf("  faults: %" PRIu64 " request faults (%" PRIu64 " delayed, %" PRIu64
           " duplicated, %" PRIu64 " replies lost), %" PRIu64 " helper-key losses, %" PRIu64
           " restarts\n",
           s->faults, s->delayed, s->dups, s->dropped, s->keylosses, s->restarts);
    printf("  violations %" PRIu64 "\n", s->violations);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    return parse_u64(s, out) != 0 || *out < lo || *out > hi ? -1 : 0;
}

int sqsim_det_main(int argc, char **argv)
{
    dcfg cfg;
    dcfg_defaults(&cfg);
    uint64_t runs = 1, v;
    bool expect = false, quiet = false, no_shrink = false, all_controls = false;
    bool boost_given = false, ttl_given = false, ops_given = false;
    uint64_t bench_s = 0;
    double wall_cap = 1.0;
    const char *hist_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                                     \
    do {                                                                                           \
        if (!val) {                                                                                \
            fprintf(stderr, "sqsim --det: %s needs a value\n", a);                                 \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
#define NUM(lo, hi, dst)                                                                           \
    do {                                                                                           \
        NEED();                                                                                    \
        if (parse_range(val, lo, hi, &v) != 0) {                                                   \
            fprintf(stderr, "sqsim --det: %s: must be a number from %llu to %llu\n", a,            \
                    (unsigned long long)(lo), (unsigned long long)(hi));                           \
            return 2;                                                                              \
        }                                                                                          \
        dst = v;                                                                                   \
    } while (0)
        if (strcmp(a, "--det") == 0)
            continue;
        else if (strcmp(a, "--seed") == 0)
            NUM(0, UINT64_MAX / 2, cfg.seed);
        else if (strcmp(a, "--runs") == 0)
            NUM(1, 100000000, runs);
        else if (strcmp(a, "--bots") == 0)
            NUM(1, MAX_BOTS, cfg.bots);
        else if (strcmp(a, "--sqs") == 0)
            NUM(1, MAX_SQS, cfg.sqs);
        else if (strcmp(a, "--ops") == 0) {
            NUM(1, 1000000, cfg.ops);
            ops_given = true;
        } else if (strcmp(a, "--ttl") == 0) {
            NUM(10, 3600000, cfg.ttl_ms);
            ttl_given = true;
        } else if (strcmp(a, "--boost") == 0) {
            NUM(1, 10, v);
            cfg.boost = (unsigned)v;
            boost_given = true;
        } else if (strcmp(a, "--timeout") == 0)
            NUM(1, 60000, cfg.timeout_ms);
        else if (strcmp(a, "--faults") == 0) {
            NEED();
            if (strcmp(val, "none") == 0)
                cfg.faults = 0;
            else if (strcmp(val, "all") == 0)
                cfg.faults = DF_ALL;
            else if (parse_u64(val, &v) == 0 && v <= DF_ALL)
                cfg.faults = (unsigned)v;
            else {
                fprintf(stderr, "sqsim --det: --faults: none, all or a mask 0..%d\n", DF_ALL);
                return 2;
            }
        } else if (strcmp(a, "--sched") == 0) {
            NEED();
            cfg.sched = strcmp(val, "random") == 0 ? 1 : strcmp(val, "pct") == 0 ? 2 : -1;
            if (cfg.sched < 0) {
                fprintf(stderr, "sqsim --det: --sched: random or pct\n");
                return 2;
            }
        } else if (strcmp(a, "--backend") == 0 || strcmp(a, "--adapter") == 0) {
            NEED();
            if (strcmp(val, "scripted") != 0 && strcmp(val, "memory") != 0) {
                fprintf(stderr, "sqsim --det: --backend: scripted or memory\n");
                return 2;
            }
            cfg.backend = val;
        } else if (strcmp(a, "--control") == 0) {
            NEED();
            cfg.control = det_find_control(val);
            if (!cfg.control) {
                fprintf(stderr, "sqsim --det: unknown control \"%s\" (--list-controls)\n", val);
                return 2;
            }
        } else if (strcmp(a, "--history") == 0) {
            NEED();
            hist_path = val;
        } else if (strcmp(a, "--wall-cap") == 0) {
            NUM(0, 3600, v);
            wall_cap = (double)v;
        } else if (strcmp(a, "--bench") == 0)
            NUM(1, 3600, bench_s);
        else if (strcmp(a, "--expect-violation") == 0)
            expect = true;
        else if (strcmp(a, "--quiet") == 0)
            quiet = true;
        else if (strcmp(a, "--no-shrink") == 0)
            no_shrink = true;
        else if (strcmp(a, "--all-controls") == 0)
            all_controls = true;
        else if (strcmp(a, "--list-controls") == 0) {
            for (const det_control *c = det_controls; c->name; c++)
                printf("%-34s %-4s %s\n", c->name, c->layer, c->what);
            return 0;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sqsim --det: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
#undef NUM
#undef NEED
    }
    if (!ops_given && (cfg.control || all_controls))
        cfg.ops = 1500; /* a control's run stops at its first violation */
    if (cfg.control || all_controls)
        cfg.wall_cap = wall_cap; /* caught within 1 s of wall time, or missed */
    if (cfg.control) {
        int64_t t;
        unsigned bst;
        det_control_workload(cfg.control, &t, &bst);
        if (!ttl_given)
            cfg.ttl_ms = t;
        if (!boost_given)
            cfg.boost = bst;
    }
    if (cfg.control && strcmp(cfg.backend, "scripted") != 0) {
        fprintf(stderr, "sqsim --det: the controls run on the scripted store\n");
        return 2;
    }

    if (bench_s > 0) {
        /* Speed at the seed's real parameters: 600 s leases, every fault. */
        dcfg bc = cfg;
        if (!ttl_given)
            bc.ttl_ms = 600000;
        double t0 = wall_s(), c0 = cpu_s(), *walls = NULL;
        size_t nw = 0, capw = 0;
        stats tot = {0};
        int64_t vns = 0;
        uint64_t seed = cfg.seed;
        while (wall_s() - t0 < (double)bench_s) {
            bc.seed = seed++;
            result r;
            double a = wall_s();
            if (run_once(&bc, &r, NULL) != 0)
                return 2;
            double dt = wall_s() - a;
            if (nw == capw) {
                capw = capw ? 2 * capw : 1024;
                double *nwp = realloc(walls, capw * sizeof *walls);
                if (!nwp)
                    return 2;
                walls = nwp;
            }
            walls[nw++] = dt;
            add_stats(&tot, &r.st);
            vns += r.virtual_ns;
        }
        double el = wall_s() - t0, cpu = cpu_s() - c0;
        qsort(walls, nw, sizeof *walls, cmp_double);
        printf("sqsim --det --bench: %zu seeds of %d bots x %d ops, ttl %" PRId64
               " ms, faults %u, %s store, one thread, %.1f s wall, %.1f s CPU\n",
               nw, bc.bots, bc.ops, bc.ttl_ms, bc.faults, bc.backend, el, cpu);
        printf("%-34s %14s %14s\n", "", "measured", "target");
        printf("%-34s %13.0fx %13s\n", "virtual time / wall time", (double)vns / 1e9 / el,
               ">= 1000x");
        printf("%-34s %14.0f %14s\n", "library calls / s (simulated ops)", (double)tot.ops / el,
               ">= 100000");
        printf("%-34s %14.0f %14s\n", "library calls / CPU s (one core)", (double)tot.ops / cpu,
               ">= 100000");
        printf("%-34s %13.0fx %13s\n", "virtual time / CPU time", (double)vns / 1e9 / cpu,
               ">= 1000x");
        printf("%-34s %14.0f %14s\n", "store requests / s", (double)tot.requests / el, "");
        printf("%-34s %14.0f %14s\n", "scheduler events / s", (double)tot.events / el, "");
        printf("%-34s %11.2f ms %14s\n", "wall per seed p50", 1000 * walls[nw / 2], "");
        printf("%-34s %11.2f ms %14s\n", "wall per seed p99", 1000 * walls[nw * 99 / 100], "");
        printf("%-34s %11.2f ms %14s\n", "wall per seed max", 1000 * walls[nw - 1], "< 1000 ms");
        printf("baseline: the real-thread sqsim runs at 1x (virtual = wall)\n");
        free(walls);
        return tot.violations ? 1 : 0;
    }

    if (all_controls) {
        /* Every control over `runs` seeds: each must be caught in >= 99 %
         * of them, each seed within 1 s of wall time. */
        int missed = 0, n = 0;
        printf("%-34s %8s %8s %10s %10s\n", "control", "seeds", "caught", "max wall s", "mean ms");
        for (const det_control *c = det_controls; c->name; c++) {
            dcfg cc = cfg;
            cc.control = c;
            int64_t t;
            unsigned bst;
            det_control_workload(c, &t, &bst);
            if (!ttl_given)
                cc.ttl_ms = t;
            if (!boost_given)
                cc.boost = bst;
            stats tot = {0};
            int64_t vns = 0;
            double maxw = 0, t0 = wall_s();
            dcfg ff;
            result fr;
            uint64_t caught = explore(&cc, runs, true, &tot, &vns, &maxw, &ff, &fr);
            if (caught == (uint64_t)-1)
                return 2;
            double pct = 100.0 * (double)caught / (double)runs;
            /* a seed not caught within 1 s of wall time was stopped there:
             * it counts as missed */
            bool ok = caught * 100 >= runs * 99;
            printf("%-34s %8" PRIu64 " %7.1f%% %10.3f %10.2f %s\n", c->name, runs, pct, maxw,
                   1000.0 * (wall_s() - t0) / (double)runs, ok ? "ok" : "MISSED");
            missed += !ok;
            n++;
        }
        printf("%d of %d controls caught in >= 99 %% of seeds\n", n - missed, n);
        return missed ? 1 : 0;
    }

    FILE *hf = NULL;
    if (hist_path) {
        hf = fopen(hist_path, "w");
        if (!hf) {
            fprintf(stderr, "sqsim --det: cannot write %s\n", hist_path);
            return 2;
        }
    }
    double t0 = wall_s();
    if (runs == 1) {
        result r;
        int rc = run_once(&cfg, &r, hf);
        if (hf)
            fclose(hf);
        if (rc != 0)
            return 2;
        double dt = wall_s() - t0;
        printf("sqsim --det: seed %" PRIu64 ", %d bots, %d SQs, %d ops/bot, ttl %" PRId64
               " ms, %s scheduler, %s backend%s%s\n",
               cfg.seed, cfg.bots, cfg.sqs, cfg.ops, r.ttl_ms, r.sched == 2 ? "PCT" : "random-walk",
               cfg.backend, cfg.control ? ", control " : "", cfg.control ? cfg.control->name : "");
        print_stats(&r.st);
        printf("  virtual time %.1f s in %.3f s wall (%.0fx); history hash %016" PRIx64 "\n",
               (double)r.virtual_ns / 1e9, dt, dt > 0 ? (double)r.virtual_ns / 1e9 / dt : 0.0,
               r.hash);
        printf("  replay: ");
        print_cmd(stdout, &cfg, r.ttl_ms, r.sched);
        if (r.failed) {
            printf("VIOLATION: %s\n", r.why);
            return expect ? 0 : 1;
        }
        printf("verdict: no violation\n");
        return expect ? 1 : 0;
    }
    if (hf)
        fclose(hf);
    stats tot = {0};
    int64_t vns = 0;
    double maxw = 0;
    dcfg ff;
    result fr;
    uint64_t fails = explore(&cfg, runs, quiet, &tot, &vns, &maxw, &ff, &fr);
    if (fails == (uint64_t)-1)
        return 2;
    double dt = wall_s() - t0;
    printf("sqsim --det: %" PRIu64 " seeds from %" PRIu64 ", %d bots, %d SQs, %d ops/bot, %s "
           "backend%s%s\n",
           runs, cfg.seed, cfg.bots, cfg.sqs, cfg.ops, cfg.backend, cfg.control ? ", control " : "",
           cfg.control ? cfg.control->name : "");
    print_stats(&tot);
    printf("  virtual time %.1f s in %.2f s wall (%.0fx), slowest seed %.3f s\n", (double)vns / 1e9,
           dt, dt > 0 ? (double)vns / 1e9 / dt : 0.0, maxw);
    printf("  seeds with a violation: %" PRIu64 " of %" PRIu64 "\n", fails, runs);
    if (fails && !expect) {
        printf("first failing seed: %s\n", fr.why);
        if (!no_shrink) {
            shrink(&ff, &fr);
            printf("shrunk: %s\n", fr.why);
        }
        printf("replay: ");
        print_cmd(stdout, &ff, fr.ttl_ms, fr.sched);
        return 1;
    }
    if (expect) {
        bool ok = fails * 100 >= runs * 99;
        printf("control %s: caught in %.1f%% of seeds: %s\n", cfg.control ? cfg.control->name : "-",
               100.0 * (double)fails / (double)runs, ok ? "ok" : "MISSED");
        return ok ? 0 : 1;
    }
    if (tot.busy == 0 || tot.takeovers == 0 || tot.lost == 0) {
        printf("verdict: FAIL: no violation, but the runs did not exercise contention "
               "(busy %" PRIu64 ", takeovers %" PRIu64 ", lost %" PRIu64 ")\n",
               tot.busy, tot.takeovers, tot.lost);
        return 1;
    }
    printf("verdict: no violation in %" PRIu64 " seeds\n", runs);
    return 0;
}

#else /* the scripted store is not built (no Lua 5.1 / lua-cjson) */

#include <stdio.h>
#include <string.h>

bool sqsim_det_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--det") == 0)
            return true;
    return false;
}

int sqsim_det_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sqsim: --det needs the scripted store, which was not built: install "
                    "liblua5.1-0-dev and lua-cjson (ci/install-deps.sh) and rebuild\n");
    return 2;
}
#endif
