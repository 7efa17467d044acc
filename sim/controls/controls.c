/* controls.c — the negative controls: the memory backend with one
 * deliberate bug each (see controls.h).
 *
 * A control's table points app_data at its fault; open_with reads it.  Its
 * connection starts with a mem_conn, so every operation it does not break
 * is the product backend's own function, called on the same space. */
#include "controls.h"
#include "memory_space.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum fault {
    CHECK_THEN_SET = 1,
    PRIVATE_MEMORY,
    RELEASE_NO_OWNER,
    RENEW_REVIVES,
    RACY_CURSOR,
};

typedef struct ctl_conn {
    mem_conn base; /* first: the memory backend's functions take this */
    enum fault fault;
    uint64_t rng;
} ctl_conn;

#define MEM (&sqclaim_backend_memory)

/* Widen the window between a read and the write that depends on it, as a
 * network round trip would. */
static void round_trip_gap(ctl_conn *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    sched_yield();
    struct timespec ts = {0, (long)(20000 + (x * 0x2545F4914F6CDD1DULL) % 200000)}; /* 20-220 us */
    nanosleep(&ts, NULL);
}

static sqclaim_rc ctl_open(const sqclaim_backend *be, const sqclaim_options *opts, void **out,
                           sqb_err *err)
{
    enum fault fault = *(const enum fault *)be->app_data;
    ctl_conn *c = NULL;
    if (fault == PRIVATE_MEMORY) {
        /* The original bug: every serverless instance had its own map. */
        c = calloc(1, sizeof *c);
        if (!c || !(c->base.space = mem_space_new("private", opts->clock))) {
            free(c);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
    } else {
        sqclaim_rc rc = mem_conn_open(sizeof *c, opts, (void **)&c, err);
        if (rc != SQCLAIM_OK)
            return rc;
    }
    c->fault = fault;
    c->rng = (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ULL;
    *out = c;
    return SQCLAIM_OK;
}

static void ctl_close(void *vc)
{
    ctl_conn *c = vc;
    if (!c)
        return;
    if (c->fault == PRIVATE_MEMORY)
        mem_space_free(c->base.space);
    else
        mem_conn_detach(&c->base);
    free(c);
}

/* Broken: the read ("is it free?") and the write are separate steps. */
static sqclaim_rc ctl_claim(void *vc, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    ctl_conn *c = vc;
    if (c->fault != CHECK_THEN_SET)
        return MEM->claim(vc, req, res, err);
    mem_space *sp = c->base.space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < req->n; i++) {
        if (mem_space_ours(sp, req->sqs[i], req->token, now)) {
            /* A retry of ours: the product's answer. */
            pthread_mutex_unlock(&sp->mu);
            return MEM->claim(vc, req, res, err);
        }
    }
    size_t i = mem_space_first_free(sp, req, now);
    if (i == req->n) {
        pthread_mutex_unlock(&sp->mu);
        return MEM->claim(vc, req, res, err);
    }
    pthread_mutex_unlock(&sp->mu);
    round_trip_gap(c);
    pthread_mutex_lock(&sp->mu);
    sqclaim_rc rc = mem_space_grant(sp, req, res, i, err);
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

/* Broken: an expired claim comes back to life with its old fence. */
static sqclaim_rc ctl_renew(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    ctl_conn *c = vc;
    if (c->fault != RENEW_REVIVES)
        return MEM->renew(vc, req, err);
    mem_space *sp = c->base.space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_find(sp, req->sq, now);
    if (!(e && e->claim.live)) {
        e = mem_space_get(sp, req->sq, now);
        if (!e) {
            pthread_mutex_unlock(&sp->mu);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
        e->claim.live = true;
        sqb_strlcpy(e->claim.token, req->token, sizeof e->claim.token);
        sqb_strlcpy(e->claim.bot, req->bot, sizeof e->claim.bot);
        e->claim.fence = req->fence;
    }
    if (strcmp(e->claim.token, req->token) != 0) {
        pthread_mutex_unlock(&sp->mu);
        return SQCLAIM_LOST;
    }
    mem_space_renew(sp, e, req);
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

/* Broken: release deletes whoever holds the claim. */
static sqclaim_rc ctl_release(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    ctl_conn *c = vc;
    if (c->fault != RELEASE_NO_OWNER)
        return MEM->release(vc, req, err);
    mem_space *sp = c->base.space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_find(sp, req->sq, now);
    if (!(e && e->claim.live)) {
        pthread_mutex_unlock(&sp->mu);
        return SQCLAIM_LOST;
    }
    mem_space_release(sp, e, req);
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

/* Broken: the row cursor is read, then written back in a separate step. */
static sqclaim_rc ctl_reserve(void *vc, const sqb_reserve_req *req, sqclaim_rows *rows,
                              sqb_err *err)
{
    ctl_conn *c = vc;
    if (c->fault != RACY_CURSOR)
        return MEM->reserve(vc, req, rows, err);
    mem_space *sp = c->base.space;
    int64_t now = req->now_ns;
    pthread_mutex_lock(&sp->mu);
    mem_entry *e = mem_space_ours(sp, req->sq, req->token, now);
    if (!e || !mem_space_reservable(e, now) || mem_res_ours(e, req->token)) {
        /* LOST, or a retry of an open reservation: the product's answer. */
        pthread_mutex_unlock(&sp->mu);
        return MEM->reserve(vc, req, rows, err);
    }
    uint64_t start = sp->cursor;
    pthread_mutex_unlock(&sp->mu);
    round_trip_gap(c);
    pthread_mutex_lock(&sp->mu);
    e = mem_space_ours(sp, req->sq, req->token, now);
    if (!e || !mem_space_reservable(e, now)) {
        pthread_mutex_unlock(&sp->mu);
        return SQCLAIM_LOST;
    }
    mem_space_reserve_at(sp, e, req, start, rows);
    pthread_mutex_unlock(&sp->mu);
    return SQCLAIM_OK;
}

/* What no control breaks: the product backend's own functions. */
static sqclaim_rc ctl_ping(void *vc, sqb_err *err) { return MEM->ping(vc, err); }
static sqclaim_rc ctl_finish(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    return MEM->finish(vc, req, err);
}
static sqclaim_rc ctl_status(void *vc, sqclaim_status *out, sqb_err *err)
{
    return MEM->status(vc, out, err);
}
static sqclaim_rc ctl_inspect(void *vc, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    return MEM->inspect(vc, sq, out, err);
}
static sqclaim_rc ctl_break(void *vc, const sqb_break_req *req, unsigned *removed, sqb_err *err)
{
    return MEM->break_sq(vc, req, removed, err);
}
static sqclaim_rc ctl_counters(void *vc, sqclaim_counters *out, sqb_err *err)
{
    return MEM->counters(vc, out, err);
}
static sqclaim_rc ctl_raise_cursor(void *vc, uint64_t row, uint64_t *cursor, sqb_err *err)
{
    return MEM->raise_cursor(vc, row, cursor, err);
}

static enum fault f_check_then_set = CHECK_THEN_SET, f_private = PRIVATE_MEMORY,
                  f_release = RELEASE_NO_OWNER, f_renew = RENEW_REVIVES, f_cursor = RACY_CURSOR;

#define CONTROL(nm, sum, fp)                                                                       \
    {                                                                                              \
        .version = SQB_VERSION, .name = nm, .summary = sum, .caps = SQCLAIM_CAP_CLOCK,             \
        .open = NULL, .close = ctl_close, .ping = ctl_ping, .claim = ctl_claim,                    \
        .renew = ctl_renew, .release = ctl_release, .reserve = ctl_reserve, .finish = ctl_finish,  \
        .status = ctl_status, .stats = NULL, .inspect = ctl_inspect, .break_sq = ctl_break,        \
        .counters = ctl_counters, .raise_cursor = ctl_raise_cursor, .app_data = fp,                \
        .open_with = ctl_open                                                                      \
    }

const sqclaim_backend sqclaim_memory_controls[] = {
    CONTROL("broken-check-then-set", "claim reads, then writes in a separate step",
            &f_check_then_set),
    CONTROL("broken-private-memory", "every handle has its own private map (the original bug)",
            &f_private),
    CONTROL("broken-release-no-owner", "release deletes the claim without checking the token",
            &f_release),
    CONTROL("broken-renew-revives", "renew brings an expired claim back to life", &f_renew),
    CONTROL("broken-racy-cursor", "the row cursor is read and written in separate steps",
            &f_cursor),
    {.version = 0, .name = NULL},
};
