/* bot.c — one simulated bot: claim, check, reserve, work, write, finish,
 * release; and, on purpose, sometimes crash, pause past its TTL, or work
 * long under a keep-alive.
 *
 * Every library call is recorded in the bot's own history (invoke and
 * completion times, outcome, SQ, fence, rows); every step the oracle must
 * see (entering and leaving the critical section, a reservation, a write
 * into the model Refund Log) is reported to it as it happens. */
#include "sqsim.h"
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

typedef struct held {
    sqclaim_lease lease;
    uint32_t ln; /* history lease number */
    uint32_t ri; /* oracle record of the current belief segment */
    int sq;
    int64_t returned_ns; /* when the latest claim call returned */
    bool reserved;
    sqclaim_rows rows;
} held;

enum behaviour { B_NORMAL, B_CRASH, B_PAUSE, B_KEEPALIVE };

static bool stopping(sim_run *run)
{
    if (atomic_load_explicit(&run->stop, memory_order_relaxed))
        return true;
    if (!run->cfg->keep_going && atomic_load_explicit(&run->vs.stop, memory_order_relaxed))
        return true;
    return false;
}

/* Every event recorded so far is complete (--procs: a bot killed from
 * here on leaves them all to the oracle).  Called before each library call
 * and each sleep: between record() and the next of these, the caller is
 * still filling in the latest event. */
static void commit(sim_bot *b)
{
    atomic_store_explicit(&b->committed, b->hist.n, memory_order_release);
}

/* Sleep ns in slices, returning false early if the run stops. */
static bool nap(sim_bot *b, int64_t ns)
{
    sim_run *run = b->run;
    commit(b);
    int64_t until = sim_now_ns() + ns;
    for (;;) {
        if (stopping(run))
            return false;
        int64_t left = until - sim_now_ns();
        if (left <= 0)
            return true;
        sim_sleep_ns(left < 5000000 ? left : 5000000);
    }
}

/* What an error answer says about whether the call took effect.  A claim
 * says it exactly (SQCLAIM_LEASE_UNCERTAIN); for the other calls errors
 * that stop a request before it is sent, or that the server refused as a
 * whole, are "fail", the rest "info" (the request may have been applied). */
static enum sim_outcome outcome_of(sqclaim_rc rc, bool claim, const sqclaim_lease *lease)
{
    if (rc == SQCLAIM_OK)
        return OUT_OK;
    if (rc > 0)
        return OUT_FAIL;
    if (claim)
        return lease && (lease->flags & SQCLAIM_LEASE_UNCERTAIN) ? OUT_INFO : OUT_FAIL;
    return rc == SQCLAIM_EINVAL || rc == SQCLAIM_ECONFIG || rc == SQCLAIM_EAUTH ||
                   rc == SQCLAIM_ENOMEM || rc == SQCLAIM_EUNSUPPORTED || rc == SQCLAIM_EQUOTA ||
                   rc == SQCLAIM_ESTATE
               ? OUT_FAIL
               : OUT_INFO;
}

static bool is_claim_op(enum sim_op op)
{
    return op == OP_CLAIM || op == OP_CLAIM_FIRST || op == OP_CLAIM_RETRY;
}

/* Append an event for a call on lease number ln (NULL when the history is
 * full: the run then stops).  lease: what the call left in the caller's
 * lease, for the outcome of a claim (may be NULL). */
static sim_event *record(sim_bot *b, enum sim_op op, int64_t t0, int64_t t1, int sq, uint32_t ln,
                         sqclaim_rc rc, const sqclaim_lease *lease)
{
    sim_run *run = b->run;
    sim_event *e = NULL;
    if (b->hist.n < run->max_events_per_bot)
        e = sim_history_add(&b->hist);
    if (!e) {
        atomic_store(&run->history_full, true);
        atomic_store(&run->stop, true);
        return NULL;
    }
    e->op = (uint8_t)op;
    e->invoke_ns = t0;
    e->complete_ns = t1;
    e->bot = (uint16_t)b->id;
    e->sq = (uint16_t)(sq < 0 ? 0 : sq);
    e->lease = ln;
    e->rc = (int8_t)rc;
    e->outcome = (uint8_t)outcome_of(rc, is_claim_op(op), lease);
    /* Faults the library absorbed (retried, or a reply lost) during this
     * call, for the timeline: the handle's counters moved since the last
     * call (a keep-alive on the same handle may have moved them). */
    sqclaim_stats st;
    if (op != OP_WRITE && op != OP_CRASH && op != OP_PAUSE && b->store &&
        sqclaim_stats_get(b->store, &st) == SQCLAIM_OK) {
        if (st.retries > b->seen_retries)
            e->flags |= EVF_RETRIED;
        if (st.ambiguous > b->seen_ambiguous)
            e->flags |= EVF_AMBIGUOUS;
        b->seen_retries = st.retries;
        b->seen_ambiguous = st.ambiguous;
        if (run->cfg->procs)
            b->proc_stats = st; /* the parent cannot read this process's handle */
    }
    return e;
}

static void note_error(sim_bot *b, const char *what, sqclaim_rc rc)
{
    atomic_fetch_add(&b->errors, 1);
    char msg[200];
    /* The handle is shared with this bot's keep-alive thread. */
    sqclaim_errmsg_copy(b->store, msg, sizeof msg);
    snprintf(b->last_error, sizeof b->last_error, "%s: %s: %s", what, sqclaim_rcname(rc), msg);
    b->last_error_ns = sim_now_ns();
    if (!b->first_error[0]) {
        memcpy(b->first_error, b->last_error, sizeof b->first_error);
        b->first_error_ns = b->last_error_ns;
    }
}

static int sq_index(sim_run *run, const char *name)
{
    /* Names are "<prefix>NNNN": the number is the index. */
    size_t len = strlen(name);
    if (len < 4)
        return -1;
    int v = atoi(name + len - 4);
    return v >= 0 && v < run->nsqs && strcmp(run->sq_ptrs[v], name) == 0 ? v : -1;
}

static int pick_sq(sim_bot *b)
{
    const sim_config *cfg = b->run->cfg;
    if (cfg->hot_sqs > 0 && sim_rng_chance(&b->rng, cfg->hot_prob))
        return (int)sim_rng_below(&b->rng, (uint64_t)cfg->hot_sqs);
    return (int)sim_rng_below(&b->rng, (uint64_t)b->run->nsqs);
}

/* A work time from the doubling grid min, 2min, 4min ... max (heavy-tailed:
 * each level is as likely as any other), with +-25 % jitter. */
static int64_t work_ns(sim_bot *b)
{
    const sim_config *cfg = b->run->cfg;
    int64_t lo = cfg->work_min_us * 1000, hi = cfg->work_max_us * 1000;
    if (hi <= 0)
        return 0;
    if (lo <= 0)
        lo = 1000;
    int levels = 1;
    while (levels < 40 && (lo << levels) <= hi)
        levels++;
    int64_t w = lo << sim_rng_below(&b->rng, (uint64_t)levels);
    w = (int64_t)((double)w * (0.75 + 0.5 * sim_rng_unit(&b->rng)));
    return w > hi ? hi : w;
}

/* Start a new belief segment for the oracle and enter the critical section. */
static void begin_segment(sim_bot *b, held *h, int64_t start)
{
    sim_lease_rec *r = sim_oracle_new_lease(&b->run->oracle, b->id, &h->ri);
    if (!r) {
        h->ri = 0;
        return;
    }
    r->sq = h->sq;
    r->lease = h->ln;
    r->fence = h->lease.fence;
    r->start_ns = start;
    atomic_store(&r->deadline_ns, h->lease.deadline_ns);
    sim_oracle_enter(&b->run->oracle, b->id, h->ri);
}

static void set_deadline(sim_bot *b, held *h)
{
    sim_lease_rec *r = sim_oracle_lease(&b->run->oracle, b->id, h->ri);
    if (r)
        atomic_store(&r->deadline_ns, h->lease.deadline_ns);
}

/* A library call on the held lease has just returned rc: record it (the
 * completion time is read first), with the lease's fence, and note an
 * error.  Returns the event (NULL if the history is full). */
static sim_event *done(sim_bot *b, enum sim_op op, int64_t t0, const held *h, sqclaim_rc rc,
                       const char *what)
{
    int64_t t1 = sim_now_ns();
    sim_event *e = record(b, op, t0, t1, h->sq, h->ln, rc, &h->lease);
    if (e) {
        e->fence = h->lease.fence;
        e->token32 = tl_token32(h->lease.token);
    }
    if (rc < 0)
        note_error(b, what, rc);
    return e;
}

static void do_release(sim_bot *b, held *h, bool expired)
{
    if (h->ri) /* before the release is invoked: its belief ends here */
        sim_oracle_leave(&b->run->oracle, b->id, h->ri, expired);
    commit(b);
    int64_t t0 = sim_now_ns();
    sqclaim_rc rc = sqclaim_release(b->store, &h->lease);
    done(b, OP_RELEASE, t0, h, rc, "release");
    commit(b);
}

static void do_finish(sim_bot *b, held *h)
{
    commit(b);
    int64_t t0 = sim_now_ns();
    sqclaim_rc rc = sqclaim_finish_range(b->store, &h->lease, &h->rows);
    done(b, OP_FINISH, t0, h, rc, "finish");
    commit(b);
}

static sqclaim_rc do_reserve(sim_bot *b, held *h)
{
    sim_run *run = b->run;
    uint32_t count = 1 + (uint32_t)sim_rng_below(&b->rng, (uint64_t)run->cfg->rows_max);
    uint64_t hint = 0;
    if (sim_rng_chance(&b->rng, 0.5)) /* the first row the bot sees free */
        hint = atomic_load(&run->oracle.high_water) + sim_rng_below(&b->rng, 3);
    commit(b);
    int64_t t0 = sim_now_ns();
    sqclaim_rc rc = sqclaim_reserve_rows(b->store, &h->lease, count, hint, &h->rows);
    sim_event *e = done(b, OP_RESERVE, t0, h, rc, "reserve");
    if (rc == SQCLAIM_OK) {
        if (e) {
            e->fence = h->rows.fence;
            e->aux = (int64_t)h->rows.start_row;
            e->rows = h->rows.count;
        }
        h->reserved = true;
        if (h->ri)
            sim_oracle_reserved(&run->oracle, b->id, h->ri, &h->rows);
        commit(b);
    } else if (rc == SQCLAIM_BUSY) {
        note_error(b, "reserve", rc);
    }
    return rc;
}

static void do_write(sim_bot *b, held *h)
{
    if (!h->reserved || !h->ri)
        return;
    int64_t t0 = sim_now_ns();
    bool believed, rejected;
    bool ok = sim_oracle_write(&b->run->oracle, b->id, h->ri, &believed, &rejected);
    int64_t t1 = sim_now_ns();
    sim_event *e = record(b, OP_WRITE, t0, t1, h->sq, h->ln, ok ? SQCLAIM_OK : SQCLAIM_LOST, NULL);
    if (e) {
        e->token32 = tl_token32(h->lease.token);
        e->fence = h->lease.fence;
        e->aux = (int64_t)h->rows.start_row;
        e->rows = h->rows.count;
        e->flags |= (uint8_t)((believed ? EVF_BELIEVED : 0) | (rejected ? EVF_REJECTED : 0));
    }
    commit(b);
}

static void crash(sim_bot *b, held *h)
{
    int64_t t = sim_now_ns();
    record(b, OP_CRASH, t, t, h->sq, h->ln, SQCLAIM_OK, NULL);
    atomic_fetch_add(&b->crashes, 1);
    /* Abandoned: no release; the SQ waits for the lease to expire.  The
     * bot restarts after a short while, as a supervisor would restart it. */
    nap(b, 1000000);
}

/* Long work under the library's keep-alive, checking it before every
 * slice.  Returns false if the lease was lost or the run stops. */
static bool keepalive_work(sim_bot *b, held *h)
{
    const sim_config *cfg = b->run->cfg;
    sqclaim_keepalive *ka = NULL;
    commit(b);
    int64_t t0 = sim_now_ns();
    sqclaim_rc rc = sqclaim_keepalive_start(b->store, &h->lease, NULL, NULL, &ka);
    done(b, OP_KA_START, t0, h, rc, "keepalive_start");
    if (rc != SQCLAIM_OK)
        return sqclaim_may_act(b->store, &h->lease);
    atomic_fetch_add(&b->keepalives, 1);
    int64_t ttl_ns = cfg->ttl_ms * 1000000;
    int64_t total = (int64_t)((double)ttl_ns * cfg->keepalive_work * (0.5 + sim_rng_unit(&b->rng)));
    int64_t slice = ttl_ns / 8 > 0 ? ttl_ns / 8 : 1;
    int64_t until = sim_now_ns() + total;
    bool ok = true;
    while (sim_now_ns() < until) {
        if (!sqclaim_keepalive_may_act(ka)) {
            ok = false;
            break;
        }
        if (!nap(b, slice)) {
            ok = false;
            break;
        }
    }
    commit(b);
    t0 = sim_now_ns();
    rc = sqclaim_keepalive_stop(ka, &h->lease);
    sim_event *e = done(b, OP_KA_STOP, t0, h, SQCLAIM_OK, "keepalive_stop");
    if (e) {
        e->aux = h->lease.deadline_ns; /* the last renewed deadline */
        if (rc == SQCLAIM_LOST)
            e->flags |= EVF_KA_LOST;
    }
    set_deadline(b, h);
    return ok && rc == SQCLAIM_OK;
}

/* A bot paused past its TTL (GC, swap, SIGSTOP) wakes up and, without
 * checking its lease, writes; then maybe renews.  Returns true if the
 * renewal says it holds the lease again. */
static bool pause_and_misbehave(sim_bot *b, held *h)
{
    const sim_config *cfg = b->run->cfg;
    atomic_fetch_add(&b->pauses, 1);
    double f = cfg->pause_min + (cfg->pause_max - cfg->pause_min) * sim_rng_unit(&b->rng);
    int64_t p0 = sim_now_ns();
    bool slept = nap(b, (int64_t)((double)cfg->ttl_ms * 1e6 * f));
    sim_event *pe = record(b, OP_PAUSE, p0, sim_now_ns(), h->sq, h->ln, SQCLAIM_OK, NULL);
    if (pe)
        pe->token32 = tl_token32(h->lease.token);
    if (!slept)
        return false;
    do_write(b, h); /* unchecked: the fence must stop it if a successor wrote */
    if (!sim_rng_chance(&b->rng, cfg->renew_after_pause))
        return false;
    commit(b);
    int64_t t0 = sim_now_ns();
    bool lapsed = t0 >= h->lease.deadline_ns;
    sqclaim_rc rc = sqclaim_renew(b->store, &h->lease, 0);
    int64_t t1 = sim_now_ns();
    sim_event *e = done(b, OP_RENEW, t0, h, rc, "renew");
    if (rc != SQCLAIM_OK)
        return false;
    if (e)
        e->aux = h->lease.deadline_ns;
    if (lapsed) {
        /* The library says we hold it again: a new belief segment. */
        atomic_fetch_add(&b->renew_revived, 1);
        begin_segment(b, h, t1);
    } else {
        set_deadline(b, h);
    }
    h->reserved = false;
    return true;
}

/* After a grant: the protocol's steps, each after checking the lease. */
static void hold(sim_bot *b, held *h, int64_t granted_ns)
{
    sim_run *run = b->run;
    const sim_config *cfg = run->cfg;
    double u = sim_rng_unit(&b->rng);
    enum behaviour beh = B_NORMAL;
    if (u < cfg->crash_rate)
        beh = B_CRASH;
    else if (u < cfg->crash_rate + cfg->pause_rate)
        beh = B_PAUSE;
    else if (u < cfg->crash_rate + cfg->pause_rate + cfg->keepalive_rate)
        beh = B_KEEPALIVE;
    int crash_step = beh == B_CRASH ? (int)sim_rng_below(&b->rng, 3) : -1;

    if (!sqclaim_may_act(b->store, &h->lease)) {
        atomic_fetch_add(&b->lapsed, 1);
        do_release(b, h, true); /* lapsed before we could start */
        return;
    }
    begin_segment(b, h, granted_ns);
    if (crash_step == 0) {
        crash(b, h);
        return;
    }
    bool paused = false;
    for (;;) {
        if (!sqclaim_may_act(b->store, &h->lease))
            goto lapsed;
        sqclaim_rc rc = do_reserve(b, h);
        if (rc == SQCLAIM_LOST)
            goto lapsed;
        if (rc != SQCLAIM_OK)
            goto give_up;
        if (crash_step == 1) {
            crash(b, h);
            return;
        }
        if (beh == B_PAUSE && !paused) {
            paused = true;
            if (pause_and_misbehave(b, h))
                continue; /* renewed: reserve again and carry on */
            goto lapsed;
        }
        if (beh == B_KEEPALIVE) {
            if (!keepalive_work(b, h))
                goto lapsed;
        } else if (!nap(b, work_ns(b))) {
            goto give_up;
        }
        break;
    }
    if (!sqclaim_may_act(b->store, &h->lease))
        goto lapsed;
    do_write(b, h);
    if (crash_step == 2) {
        crash(b, h);
        return;
    }
    if (!sqclaim_may_act(b->store, &h->lease))
        goto lapsed;
    do_finish(b, h);
give_up:
    do_release(b, h, false);
    return;
lapsed:
    atomic_fetch_add(&b->lapsed, 1);
    do_release(b, h, true); /* owner-checked: must not touch a successor */
}

/* Record a claim call that just returned rc on h's lease number. */
static sim_event *claimed(sim_bot *b, enum sim_op op, int64_t t0, held *h, sqclaim_rc rc,
                          const char *const *cands)
{
    h->returned_ns = sim_now_ns();
    h->sq = sq_index(b->run, rc == SQCLAIM_OK ? h->lease.sq : cands[0]);
    sim_event *e = record(b, op, t0, h->returned_ns, h->sq, h->ln, rc, &h->lease);
    if (e)
        e->token32 = tl_token32(h->lease.token);
    if (e && rc == SQCLAIM_OK) {
        e->fence = h->lease.fence;
        e->aux = h->lease.deadline_ns;
        if (h->lease.flags & SQCLAIM_LEASE_RECLAIMED)
            e->flags |= EVF_RECLAIMED;
    }
    commit(b);
    return e;
}

static void one_lease(sim_bot *b)
{
    sim_run *run = b->run;
    const sim_config *cfg = run->cfg;
    held h;
    memset(&h, 0, sizeof h);
    h.ln = ++b->lease_no;
    const char *cands[SIM_MAX_CANDIDATES];
    size_t n = 1;
    bool first = cfg->candidates > 1 && sim_rng_chance(&b->rng, cfg->first_rate);
    if (first)
        n = (size_t)cfg->candidates;
    for (size_t i = 0; i < n; i++)
        cands[i] = run->sq_ptrs[pick_sq(b)];
    const char *what = first ? "claim-first" : "claim";
    sqclaim_holder holder;
    atomic_fetch_add(&b->attempts, 1);
    commit(b);
    int64_t t0 = sim_now_ns();
    sqclaim_rc rc =
        first ? sqclaim_claim_first(b->store, cands, n, b->name, cfg->ttl_ms, &h.lease, &holder)
              : sqclaim_claim(b->store, cands[0], b->name, cfg->ttl_ms, &h.lease, &holder);
    claimed(b, first ? OP_CLAIM_FIRST : OP_CLAIM, t0, &h, rc, cands);
    if (rc < 0 && (h.lease.flags & SQCLAIM_LEASE_UNCERTAIN)) {
        /* Possibly granted ("info"): ask again with the same token. */
        atomic_fetch_add(&b->uncertain, 1);
        note_error(b, what, rc);
        what = "claim-retry";
        commit(b);
        t0 = sim_now_ns();
        rc = sqclaim_claim_retry(b->store, cands, n, &h.lease, &holder);
        claimed(b, OP_CLAIM_RETRY, t0, &h, rc, cands);
        if (rc < 0 && (h.lease.flags & SQCLAIM_LEASE_UNCERTAIN)) {
            /* Still unknown: give up whatever we may hold, on every
             * candidate (at most one can hold our token). */
            note_error(b, what, rc);
            commit(b);
            t0 = sim_now_ns();
            rc = sqclaim_abandon(b->store, cands, n, &h.lease);
            done(b, OP_ABANDON, t0, &h, rc, "abandon");
            b->err_streak++;
            return;
        }
    }
    b->err_streak = rc < 0 ? b->err_streak + 1 : 0;
    if (rc == SQCLAIM_OK && h.sq < 0) { /* granted an SQ it did not ask for */
        note_error(b, what, SQCLAIM_EPROTOCOL);
        return;
    }
    if (rc == SQCLAIM_OK) {
        atomic_fetch_add(&b->grants, 1);
        hold(b, &h, h.returned_ns);
        return;
    }
    if (rc == SQCLAIM_BUSY) {
        atomic_fetch_add(&b->refusals, 1);
        if (cfg->backoff_max_us > 0)
            nap(b, (int64_t)sim_rng_below(&b->rng, (uint64_t)cfg->backoff_max_us * 1000 + 1));
        return;
    }
    note_error(b, what, rc);
    nap(b, 1000000);
}

void *sim_bot_main(void *arg)
{
    sim_bot *b = arg;
    sim_run *run = b->run;
    const sim_config *cfg = run->cfg;
    while (!stopping(run)) {
        if (run->deadline_ns && sim_now_ns() >= run->deadline_ns)
            break;
        if (cfg->ops && atomic_fetch_add(&run->claims_started, 1) >= cfg->ops)
            break;
        one_lease(b);
    }
    commit(b);
    atomic_fetch_sub(&run->running, 1);
    return NULL;
}
