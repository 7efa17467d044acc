/* sqlite_controls.c — deliberately broken variants of the sqlite backend,
 * the negative controls sqsim must catch on a shared file (test-only:
 * linked into sqsim, never into the library).  Each control is the real
 * backend (adapters/sqlite, through its private header) with one entry
 * replaced by a broken one:
 *
 *   broken-check-then-set    claim reads in one transaction and writes in
 *                            another, without checking again
 *   broken-private-memory    every handle opens a file of its own (the
 *                            seed's bug: per-instance state)
 *   broken-release-no-owner  release deletes whoever holds the SQ
 *   broken-renew-revives     renew re-creates an expired claim
 *   broken-racy-cursor       the row cursor is read in one transaction and
 *                            written in another
 */
#include "sqlite_controls.h"
#include "sqlite_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REAL sqclaim_backend_sqlite

/* The window a network round trip would open between read and write. */
static void round_trip_gap(void)
{
    static _Atomic uint64_t seed = 88172645463325252ULL;
    uint64_t x = atomic_fetch_add(&seed, 0x9e3779b97f4a7c15ULL);
    x ^= x >> 31;
    struct timespec ts = {0, (long)(20000 + x % 200000)}; /* 20-220 us */
    nanosleep(&ts, NULL);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static sqclaim_rc fail(sqlt_conn *c, int rc, const char *what, sqb_err *err)
{
    sqclaim_rc r = sqlt_fail(c, rc, what, err);
    sqlt_rollback(c);
    return r;
}

/* fence = fence + 1 (1 if missing); SQLITE_OK and *fence. */
static int bump_fence(sqlt_conn *c, uint64_t *fence)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "INSERT INTO meta(name, value) VALUES('" SQLT_FENCE_KEY "', 1) "
                                "ON CONFLICT(name) DO UPDATE SET value = value + 1 "
                                "RETURNING value",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    *fence = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Prepare sql with ?1 bound to sq: the statement, or NULL with *rc. */
static sqlite3_stmt *prep_sq(sqlt_conn *c, const char *sql, const char *sq, int *rc)
{
    sqlite3_stmt *st = NULL;
    *rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (*rc != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, sq, -1, SQLITE_STATIC);
    return st;
}

/* The live claim of sq: SQLITE_ROW with token/fence/expiry/bot, DONE, or
 * an error. */
static int live_claim(sqlt_conn *c, const char *sq, int64_t now, char *token, uint64_t *fence,
                      int64_t *expires, char *bot, size_t botlen)
{
    int rc;
    sqlite3_stmt *st = prep_sq(c,
                               "SELECT token, fence, expires_ns, bot FROM claims "
                               "WHERE sq = ?1 AND expires_ns >= ?2",
                               sq, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(token, SQCLAIM_TOKEN_LEN + 1, "%s", t ? (const char *)t : "");
        *fence = (uint64_t)sqlite3_column_int64(st, 1);
        *expires = sqlite3_column_int64(st, 2);
        const unsigned char *b = sqlite3_column_text(st, 3);
        snprintf(bot, botlen, "%s", b ? (const char *)b : "");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------ */

static sqclaim_rc cts_claim(void *vc, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    sqlt_conn *c = vc;
    sqclaim_rc r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    size_t free_at = req->n;
    res->holder.remaining_ms = -1;
    for (size_t i = 0; i < req->n; i++) {
        char token[SQCLAIM_TOKEN_LEN + 1], bot[SQCLAIM_BOT_MAX * 4 + 1];
        uint64_t fence;
        int64_t exp;
        int rc = live_claim(c, req->sqs[i], req->now_ns, token, &fence, &exp, bot, sizeof bot);
        if (rc == SQLITE_ROW && i == 0) { /* the holder a BUSY answer names */
            sqb_strlcpy(res->holder.bot, bot, sizeof res->holder.bot);
            res->holder.remaining_ms = (exp - req->now_ns) / 1000000;
        }
        if (rc == SQLITE_ROW && strcmp(token, req->token) == 0) {
            res->index = i;
            res->fence = fence;
            res->reclaimed = true;
            res->ttl_ms = (exp - req->now_ns) / 1000000;
            return sqlt_commit(c, err);
        }
        if (rc == SQLITE_DONE && free_at == req->n)
            free_at = i;
        else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail(c, rc, "reading", err);
    }
    r = sqlt_commit(c, err);
    if (r != SQCLAIM_OK)
        return r;
    if (free_at == req->n)
        return SQCLAIM_BUSY;
    round_trip_gap(); /* Broken: another bot may claim it now. */
    r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    uint64_t fence = 0;
    int rc = bump_fence(c, &fence);
    if (rc == SQLITE_OK)
        rc = sqlt_put_claim(c, req->sqs[free_at], req->bot, req->token, fence, req->timestamp,
                            req->now_ns + req->ttl_ms * 1000000);
    if (rc != SQLITE_OK)
        return fail(c, rc, "writing", err);
    res->index = free_at;
    res->fence = fence;
    res->reclaimed = false;
    res->ttl_ms = req->ttl_ms;
    return sqlt_commit(c, err);
}

/* The live claim of an SQ, as live_claim reads it. */
typedef struct held {
    bool live; /* false: none (the rest empty) */
    char token[SQCLAIM_TOKEN_LEN + 1];
    char bot[SQCLAIM_BOT_MAX * 4 + 1];
    uint64_t fence;
    int64_t exp;
} held;

/* Begin, and read the live claim of sq into *h.  OK with the transaction
 * open, or an error with it closed. */
static sqclaim_rc begin_live(sqlt_conn *c, const char *sq, int64_t now, held *h, sqb_err *err)
{
    *h = (held){0};
    sqclaim_rc r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    int rc = live_claim(c, sq, now, h->token, &h->fence, &h->exp, h->bot, sizeof h->bot);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(c, rc, "reading", err);
    h->live = rc == SQLITE_ROW;
    return SQCLAIM_OK;
}

/* Commit, and answer LOST (or the commit's error). */
static sqclaim_rc commit_lost(sqlt_conn *c, sqb_err *err)
{
    sqclaim_rc r = sqlt_commit(c, err);
    return r == SQCLAIM_OK ? SQCLAIM_LOST : r;
}

/* Run sql, a statement on the SQ ?1 (sq).  SQLITE_OK or an error. */
static int delete_sq(sqlt_conn *c, const char *sql, const char *sq)
{
    int rc;
    sqlite3_stmt *st = prep_sq(c, sql, sq, &rc);
    return st ? step_done(st) : rc;
}

static sqclaim_rc noowner_release(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    sqlt_conn *c = vc;
    held h;
    sqclaim_rc r = begin_live(c, req->sq, req->now_ns, &h, err);
    if (r != SQCLAIM_OK)
        return r;
    if (!h.live)
        return commit_lost(c, err);
    /* Broken: whoever holds it, it goes. */
    int rc = delete_sq(c, "DELETE FROM claims WHERE sq = ?1", req->sq);
    if (rc == SQLITE_OK)
        rc = delete_sq(c, "DELETE FROM reservations WHERE sq = ?1", req->sq);
    if (rc != SQLITE_OK)
        return fail(c, rc, "releasing", err);
    return sqlt_commit(c, err);
}

static sqclaim_rc revive_renew(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    sqlt_conn *c = vc;
    held h;
    sqclaim_rc r = begin_live(c, req->sq, req->now_ns, &h, err);
    if (r != SQCLAIM_OK)
        return r;
    if (h.live && strcmp(h.token, req->token) != 0)
        return commit_lost(c, err);
    /* Broken: an expired claim comes back to life with its old fence. */
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    sqb_format_timestamp(sqb_unix_ms(), ts);
    int rc = sqlt_put_claim(c, req->sq, req->bot, req->token, req->fence, ts,
                            req->now_ns + req->ttl_ms * 1000000);
    if (rc != SQLITE_OK)
        return fail(c, rc, "renewing", err);
    return sqlt_commit(c, err);
}

static sqclaim_rc racy_reserve(void *vc, const sqb_reserve_req *req, sqclaim_rows *rows,
                               sqb_err *err)
{
    sqlt_conn *c = vc;
    held h;
    sqclaim_rc r = begin_live(c, req->sq, req->now_ns, &h, err);
    if (r != SQCLAIM_OK)
        return r;
    if (!h.live || strcmp(h.token, req->token) != 0 || h.exp == req->now_ns)
        return commit_lost(c, err);
    sqlite3_stmt *st = NULL;
    /* Our open reservation: the same request again gets the same range,
     * anything else is BUSY (as the real backend answers). */
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT start_row, row_count FROM reservations WHERE sq = ?1 AND "
                                "token = ?2 AND expires_ns >= ?3",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(c, rc, "reading", err);
    sqlite3_bind_text(st, 1, req->sq, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, req->now_ns);
    if (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t s0 = (uint64_t)sqlite3_column_int64(st, 0);
        uint32_t n0 = (uint32_t)sqlite3_column_int64(st, 1);
        sqlite3_finalize(st);
        r = sqlt_commit(c, err);
        if (r != SQCLAIM_OK)
            return r;
        if (n0 != req->count || s0 < req->hint)
            return SQCLAIM_BUSY;
        rows->start_row = s0;
        rows->count = n0;
        rows->fence = h.fence;
        return SQCLAIM_OK;
    }
    sqlite3_finalize(st);
    uint64_t cur = 0;
    rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name = '" SQLT_CURSOR_KEY "'", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return fail(c, rc, "reading", err);
    if (sqlite3_step(st) == SQLITE_ROW)
        cur = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    r = sqlt_commit(c, err);
    if (r != SQCLAIM_OK)
        return r;
    round_trip_gap(); /* Broken: the cursor may move meanwhile. */
    uint64_t start = cur;
    if (start < req->hint)
        start = req->hint;
    if (start < 1)
        start = 1;
    r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    rc = sqlt_set_counter(c, SQLT_CURSOR_KEY, start + req->count);
    if (rc == SQLITE_OK)
        rc = sqlt_put_reservation(c, req->sq, h.bot, req->token, h.fence, start, req->count,
                                  req->timestamp, h.exp);
    if (rc != SQLITE_OK)
        return fail(c, rc, "reserving", err);
    rows->start_row = start;
    rows->count = req->count;
    rows->fence = h.fence;
    return sqlt_commit(c, err);
}

/* Every handle a file of its own, removed when it closes. */
static sqclaim_rc private_open(const sqclaim_backend *be, const sqclaim_options *opts, void **out,
                               sqb_err *err)
{
    (void)be;
    static atomic_int n;
    char base[PATH_MAX - 64], path[PATH_MAX];
    if (sqlt_default_path(opts, base, sizeof base, err) != 0)
        return err->rc;
    snprintf(path, sizeof path, "%s.private-%d-%d", base, (int)getpid(), atomic_fetch_add(&n, 1));
    sqlt_conn *c = NULL;
    sqclaim_rc r = sqlt_open_path(path, opts->timeout_ms, opts->clock, &c, err);
    if (r == SQCLAIM_OK)
        *out = c;
    return r;
}

static void private_close(void *vc)
{
    sqlt_conn *c = vc;
    if (!c)
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", c->path);
    sqlt_close(c);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX + 8];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* The table is built at run time: the real entries are not constant
 * expressions here (they live in the library, behind sqlite_int.h). */
static sqclaim_backend table[6];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    static const struct {
        const char *name, *summary;
    } names[5] = {
        {"broken-check-then-set", "sqlite: claim reads, then writes in another transaction"},
        {"broken-private-memory", "sqlite: every handle its own file (the original bug)"},
        {"broken-release-no-owner", "sqlite: release deletes without the token check"},
        {"broken-renew-revives", "sqlite: renew brings an expired claim back"},
        {"broken-racy-cursor",
         "sqlite: the row cursor is read and written in separate transactions"},
    };
    for (size_t i = 0; i < 5; i++) {
        table[i] = REAL;
        table[i].name = names[i].name;
        table[i].summary = names[i].summary;
    }
    table[0].claim = cts_claim;
    table[1].open = NULL;
    table[1].open_with = private_open;
    table[1].close = private_close;
    table[1].caps = 0; /* nothing is shared */
    table[2].release = noowner_release;
    table[3].renew = revive_renew;
    table[4].reserve = racy_reserve;
    memset(&table[5], 0, sizeof table[5]);
}

const sqclaim_backend *sqclaim_sqlite_controls(void)
{
    pthread_once(&once, build);
    return table;
}
