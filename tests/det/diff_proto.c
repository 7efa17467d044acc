/* diff_proto.c — random protocol operations, through adapters/redisproto
 * (proto.c's own path: EVALSHA, NOSCRIPT, EVAL, reply decoding, the SCAN
 * status), run on a real redis-server and on the scripted store.
 *
 * Side A is proto.c over a plain RESP connection to redis-server; side B
 * is proto.c over the scripted store's own transport (det_transport).
 * Both record every reply of every command proto.c sends.  After each
 * operation the test compares the operation's result (code, fence, rows,
 * holder, error text) and every recorded reply; a status snapshot is
 * compared entry by entry (its SCAN pages differ between the two hash
 * tables, so its individual replies are not).
 *
 * The sequences also do what real use does to a store: values written
 * by other tools in and out of the seed layout, keys of another type,
 * lost or corrupted helper keys (fence counter, row cursor), FLUSHALL,
 * SCRIPT FLUSH (NOSCRIPT, then EVAL), idempotent retries with the same
 * token, forged tokens, short leases that expire, key prefixes with glob
 * characters.
 *
 * Remaining times: leases use a few distinctive TTLs; an integer that
 * lies within 30 s below one of them counts as a remaining time and may
 * differ by DIFF_TOL_MS between the sides.  Every other integer (fences,
 * rows, codes) must be equal. */
#include "diffcommon.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t ttls[] = {600000, 777000, 3600000};
#define NTTLS (sizeof ttls / sizeof ttls[0])

static bool is_time(long long v)
{
    for (size_t i = 0; i < NTTLS; i++)
        if (v <= ttls[i] && v >= ttls[i] - 30000)
            return true;
    return false;
}

/* A fence counter rebuilt from the store's clock (TIME in microseconds,
 * see docs/protocol.md) differs between the two sides by the time between
 * their two TIME calls; such fences (at least 10^15: after 2001) may differ
 * by DIFF_TOL_MS.  Small fences must be equal. */
#define CLOCK_FENCE_MIN 1000000000000000LL

static bool same_fence(long long a, long long b)
{
    if (a == b)
        return true;
    return a >= CLOCK_FENCE_MIN && b >= CLOCK_FENCE_MIN && llabs(a - b) <= DIFF_TOL_MS * 1000LL;
}

static bool same_int(long long a, long long b)
{
    if (same_fence(a, b))
        return true;
    return is_time(a) && is_time(b) && llabs(a - b) <= DIFF_TOL_MS;
}

/* ------------------------------------------------------------------ */
/* Recorded replies                                                     */

typedef struct rec {
    rp_reply **r;
    size_t n, cap;
} rec;

static rp_reply *rp_copy(const rp_reply *x)
{
    if (!x)
        return NULL;
    rp_reply *y = x->type == RP_STR || x->type == RP_ERR ? rp_reply_str(x->type, x->str, x->len)
                                                         : rp_reply_new(x->type);
    y->integer = x->integer;
    if (x->n) {
        y->n = x->n;
        y->elem = calloc(x->n, sizeof *y->elem);
        for (size_t i = 0; i < x->n; i++)
            y->elem[i] = rp_copy(x->elem[i]);
    }
    return y;
}

static void rec_add(rec *r, const rp_reply *x)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->r = realloc(r->r, r->cap * sizeof *r->r);
    }
    r->r[r->n++] = rp_copy(x);
}

static void rec_clear(rec *r)
{
    for (size_t i = 0; i < r->n; i++)
        rp_reply_free(r->r[i]);
    r->n = 0;
}

static bool same_rp(const rp_reply *a, const rp_reply *b, char *why, size_t wl)
{
    if (!a || !b) {
        snprintf(why, wl, "missing reply");
        return a == b;
    }
    if (a->type != b->type) {
        snprintf(why, wl, "reply types %d vs %d", (int)a->type, (int)b->type);
        return false;
    }
    switch (a->type) {
    case RP_INT:
        if (!same_int(a->integer, b->integer)) {
            snprintf(why, wl, "integers %lld vs %lld", a->integer, b->integer);
            return false;
        }
        return true;
    case RP_STR:
    case RP_ERR:
        if (a->len != b->len || memcmp(a->str, b->str, a->len) != 0) {
            char ea[200], eb[200];
            resp_escape(ea, sizeof ea, a->str, a->len);
            resp_escape(eb, sizeof eb, b->str, b->len);
            snprintf(why, wl, "strings \"%s\" vs \"%s\"", ea, eb);
            return false;
        }
        return true;
    case RP_ARR:
        if (a->n != b->n) {
            snprintf(why, wl, "arrays of %zu vs %zu", a->n, b->n);
            return false;
        }
        for (size_t i = 0; i < a->n; i++)
            if (!same_rp(a->elem[i], b->elem[i], why, wl))
                return false;
        return true;
    case RP_NIL: return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Side A: proto.c over a RESP connection to redis-server               */

/* A side of the comparison: proto.c over a connection to redis-server (c,
 * side A) or to the scripted store (dc, side B), and every reply it got. */
typedef struct side {
    resp_conn *c;
    det_conn *dc;
    rec rec;
} side;

static sqclaim_rc a_pipeline(void *t, size_t n, const rp_cmd *cmds, rp_reply **replies,
                             sqb_err *err)
{
    side *a = t;
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    char *raw = NULL;
    size_t rawlen = 0;
    if (resp_pipeline(a->c, n, cmds, &raw, &rawlen) != 0)
        return sqb_seterr(err, SQCLAIM_EIO, "redis connection failed");
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        long f = resp_frame(raw + pos, rawlen - pos);
        rv *v = f > 0 ? rv_parse(raw + pos, (size_t)f) : NULL;
        replies[i] = v ? rv_to_rp(v) : NULL;
        rv_free(v);
        rec_add(&a->rec, replies[i]);
        pos += f > 0 ? (size_t)f : 0;
    }
    free(raw);
    return SQCLAIM_OK;
}

static sqclaim_rc a_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    return a_pipeline(t, 1, cmd, out, err);
}

static const rp_transport a_transport = {a_command, a_pipeline};

/* Side B: proto.c over det_transport, recorded */

static sqclaim_rc b_pipeline(void *t, size_t n, const rp_cmd *cmds, rp_reply **replies,
                             sqb_err *err)
{
    side *b = t;
    sqclaim_rc rc = det_transport.pipeline(b->dc, n, cmds, replies, err);
    if (rc == SQCLAIM_OK)
        for (size_t i = 0; i < n; i++)
            rec_add(&b->rec, replies[i]);
    return rc;
}

static sqclaim_rc b_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    sqclaim_rc rc = det_transport.command(((side *)t)->dc, cmd, out, err);
    if (rc == SQCLAIM_OK)
        rec_add(&((side *)t)->rec, *out);
    return rc;
}

static const rp_transport b_transport = {b_command, b_pipeline};

/* ------------------------------------------------------------------ */
/* Operations                                                           */

static const char *const sqs[] = {"251019-164rmb", "A1", "A2", "B7", "sq-x"};
#define NSQS (sizeof sqs / sizeof sqs[0])
static const char *const bots[] = {"BOT1", "BOT2", "BOT3", "B\"ot\\\xc3\xa9"};
#define NBOTS (sizeof bots / sizeof bots[0])
static const char *const prefixes[] = {"", "app:", "a*b[1]:", "x\\y?:"};
#define NPREFIXES (sizeof prefixes / sizeof prefixes[0])
#define TS        "2025-10-26T12:34:56.789Z"

typedef struct lease {
    char sq[SQCLAIM_SQ_MAX + 1];
    char bot[SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
} lease;

#define MAXLEASES 32

typedef struct world {
    gen g;
    const char *prefix;
    rp_conn pa, pb;
    side a, b;
    det_store *st;
    lease leases[MAXLEASES];
    int nleases;
    char desc[512];
} world;

static void token(gen *g, char out[SQCLAIM_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SQCLAIM_TOKEN_LEN; i++)
        out[i] = hex[gen_below(g, 16)];
    out[SQCLAIM_TOKEN_LEN] = '\0';
}

/* Both sides' outcome of one operation. */
typedef struct outcome {
    sqclaim_rc rc;
    sqb_err err;
    sqb_claim_res cres;
    sqclaim_rows rows;
    sqclaim_status st;
} outcome;

static bool same_outcome(const outcome *x, const outcome *y, char *why, size_t wl)
{
    if (x->rc != y->rc) {
        snprintf(why, wl, "codes %s vs %s (%.200s | %.200s)", sqclaim_rcname(x->rc),
                 sqclaim_rcname(y->rc), x->err.msg, y->err.msg);
        return false;
    }
    if (sqclaim_is_error(x->rc) && strcmp(x->err.msg, y->err.msg) != 0) {
        snprintf(why, wl, "messages \"%.200s\" vs \"%.200s\"", x->err.msg, y->err.msg);
        return false;
    }
    return true;
}

static const lease *pick_lease(world *w)
{
    return w->nleases ? &w->leases[gen_below(&w->g, (uint64_t)w->nleases)] : NULL;
}

static void remember(world *w, const char *sq, const char *bot, const char *tok, uint64_t fence)
{
    lease *l =
        w->nleases < MAXLEASES ? &w->leases[w->nleases++] : &w->leases[gen_below(&w->g, MAXLEASES)];
    snprintf(l->sq, sizeof l->sq, "%s", sq);
    snprintf(l->bot, sizeof l->bot, "%s", bot);
    snprintf(l->token, sizeof l->token, "%s", tok);
    l->fence = fence;
}

/* A raw command on both sides (tampering), replies compared. */
static bool raw_both(world *w, char *why, size_t wl, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rp_cmd cmd = {argc, argv, lens};
    rp_reply *ra = NULL, *rb = NULL;
    sqb_err ea = {0}, eb = {0};
    a_command(&w->a, &cmd, &ra, &ea);
    b_command(&w->b, &cmd, &rb, &eb);
    bool ok = same_rp(ra, rb, why, wl);
    rp_reply_free(ra);
    rp_reply_free(rb);
    return ok;
}

static bool compare_status(const sqclaim_status *x, const sqclaim_status *y, char *why, size_t wl)
{
    if (x->nclaims != y->nclaims || x->nreservations != y->nreservations) {
        snprintf(why, wl, "status: %zu claims / %zu reservations vs %zu / %zu", x->nclaims,
                 x->nreservations, y->nclaims, y->nreservations);
        return false;
    }
    for (size_t i = 0; i < x->nclaims; i++) {
        const sqclaim_claim_info *p = &x->claims[i], *q = &y->claims[i];
        if (strcmp(p->sq, q->sq) || strcmp(p->bot, q->bot) || strcmp(p->status, q->status) ||
            strcmp(p->timestamp, q->timestamp) ||
            !same_fence((long long)p->fence, (long long)q->fence) ||
            !same_int(p->ttl_ms, q->ttl_ms)) {
            snprintf(why, wl, "status claim %s differs", p->sq);
            return false;
        }
    }
    for (size_t i = 0; i < x->nreservations; i++) {
        const sqclaim_reservation_info *p = &x->reservations[i], *q = &y->reservations[i];
        if (strcmp(p->sq, q->sq) || strcmp(p->bot, q->bot) || p->start_row != q->start_row ||
            p->row_count != q->row_count || !same_fence((long long)p->fence, (long long)q->fence) ||
            !same_int(p->ttl_ms, q->ttl_ms)) {
            snprintf(why, wl, "status reservation %s differs", p->sq);
            return false;
        }
    }
    return true;
}

/* What the sequences exercised (all sides agreed on these). */
static struct {
    unsigned long claim_ok, claim_reclaimed, claim_busy, lost, reserve_ok, reserve_busy,
        server_errors, status_entries;
} cover;

static void count(const outcome *x, bool claim, bool reserve)
{
    if (claim && x->rc == SQCLAIM_OK)
        x->cres.reclaimed ? cover.claim_reclaimed++ : cover.claim_ok++;
    if (claim && x->rc == SQCLAIM_BUSY)
        cover.claim_busy++;
    if (reserve && x->rc == SQCLAIM_OK)
        cover.reserve_ok++;
    if (reserve && x->rc == SQCLAIM_BUSY)
        cover.reserve_busy++;
    if (x->rc == SQCLAIM_LOST)
        cover.lost++;
    if (x->rc == SQCLAIM_ESERVER)
        cover.server_errors++;
}

/* One random operation on both sides; false with why[] on a difference. */
static bool step(world *w, char *why, size_t wl)
{
    gen *g = &w->g;
    outcome x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    rec_clear(&w->a.rec);
    rec_clear(&w->b.rec);
    bool compare_replies = true;
    long long short_ms = 0;
    unsigned kind = (unsigned)gen_below(g, 25);
    switch (kind) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6: { /* claim (any of a list); sometimes a retry with an old token */
        const char *cand[3];
        size_t n = 1 + (size_t)gen_below(g, 3);
        for (size_t i = 0; i < n; i++)
            cand[i] = sqs[gen_below(g, NSQS)];
        const char *bot = bots[gen_below(g, NBOTS)];
        char tok[SQCLAIM_TOKEN_LEN + 1];
        const lease *old = pick_lease(w);
        if (old && gen_chance(g, 25)) {
            snprintf(tok, sizeof tok, "%s", old->token);
            cand[0] = old->sq;
        } else {
            token(g, tok);
        }
        int64_t ttl = ttls[gen_below(g, NTTLS)];
        if (gen_chance(g, 8))
            ttl = short_ms = 2 + (long long)gen_below(g, 3);
        sqb_claim_req req = {cand, n, bot, tok, ttl, TS, 0};
        x.rc = rp_claim(&w->pa, &req, &x.cres, &x.err);
        y.rc = rp_claim(&w->pb, &req, &y.cres, &y.err);
        snprintf(w->desc, sizeof w->desc, "claim %s%s%s by %s ttl %lld", cand[0], n > 1 ? " +" : "",
                 n > 2 ? "+" : "", bot, (long long)ttl);
        if (x.rc == y.rc && x.rc == SQCLAIM_OK) {
            if (x.cres.index != y.cres.index ||
                !same_fence((long long)x.cres.fence, (long long)y.cres.fence) ||
                x.cres.reclaimed != y.cres.reclaimed || !same_int(x.cres.ttl_ms, y.cres.ttl_ms)) {
                snprintf(why, wl, "grants differ: #%zu fence %" PRIu64 " vs #%zu fence %" PRIu64,
                         x.cres.index, x.cres.fence, y.cres.index, y.cres.fence);
                return false;
            }
            if (!short_ms)
                remember(w, cand[x.cres.index], bot, tok, x.cres.fence);
        } else if (x.rc == y.rc && x.rc == SQCLAIM_BUSY) {
            if (strcmp(x.cres.holder.bot, y.cres.holder.bot) != 0 ||
                !same_int(x.cres.holder.remaining_ms, y.cres.holder.remaining_ms)) {
                snprintf(why, wl, "BUSY holders differ");
                return false;
            }
        }
        break;
    }
    case 7:
    case 8:
    case 9:
    case 10: { /* renew, release, finish: our lease or a forged token */
        const lease *l = pick_lease(w);
        if (!l)
            return true;
        sqb_lease_req req = {.sq = l->sq,
                             .token = l->token,
                             .bot = l->bot,
                             .fence = l->fence,
                             .ttl_ms = ttls[gen_below(g, NTTLS)]};
        char forged[SQCLAIM_TOKEN_LEN + 1];
        if (gen_chance(g, 15)) {
            token(g, forged);
            req.token = forged;
        }
        int which = (int)gen_below(g, 3);
        sqclaim_rc (*fn[])(rp_conn *, const sqb_lease_req *, sqb_err *) = {rp_renew, rp_release,
                                                                           rp_finish};
        static const char *const names[] = {"renew", "release", "finish"};
        x.rc = fn[which](&w->pa, &req, &x.err);
        y.rc = fn[which](&w->pb, &req, &y.err);
        snprintf(w->desc, sizeof w->desc, "%s %s by %s%s", names[which], l->sq, l->bot,
                 req.token == forged ? " (forged token)" : "");
        break;
    }
    case 11:
    case 12:
    case 13:
    case 14: { /* reserve rows */
        const lease *l = pick_lease(w);
        if (!l)
            return true;
        uint32_t count = 1 + (uint32_t)gen_below(g, 10);
        uint64_t hint = gen_chance(g, 50) ? 0 : gen_below(g, 300);
        sqb_reserve_req req = {l->sq, l->token, l->bot, l->fence, count, hint, TS, 0};
        x.rc = rp_reserve(&w->pa, &req, &x.rows, &x.err);
        y.rc = rp_reserve(&w->pb, &req, &y.rows, &y.err);
        snprintf(w->desc, sizeof w->desc, "reserve %s by %s count %u hint %llu", l->sq, l->bot,
                 count, (unsigned long long)hint);
        if (x.rc == y.rc && x.rc == SQCLAIM_OK &&
            (x.rows.start_row != y.rows.start_row ||
             !same_fence((long long)x.rows.fence, (long long)y.rows.fence))) {
            snprintf(why, wl, "rows differ: %" PRIu64 " vs %" PRIu64, x.rows.start_row,
                     y.rows.start_row);
            return false;
        }
        break;
    }
    case 15:
    case 16: /* status (SCAN + GET/PTTL pipelines) */
        x.rc = rp_status(&w->pa, &x.st, &x.err);
        y.rc = rp_status(&w->pb, &y.st, &y.err);
        snprintf(w->desc, sizeof w->desc, "status");
        compare_replies = false;
        if (x.rc == SQCLAIM_OK && x.st.nclaims + x.st.nreservations > 0)
            cover.status_entries++;
        if (x.rc == y.rc && x.rc == SQCLAIM_OK && !compare_status(&x.st, &y.st, why, wl)) {
            free(x.st.claims);
            free(x.st.reservations);
            free(y.st.claims);
            free(y.st.reservations);
            return false;
        }
        free(x.st.claims);
        free(x.st.reservations);
        free(y.st.claims);
        free(y.st.reservations);
        break;
    case 17:
        x.rc = rp_ping(&w->pa, &x.err);
        y.rc = rp_ping(&w->pb, &y.err);
        snprintf(w->desc, sizeof w->desc, "ping");
        break;
    default: { /* what other tools and failures do to the store */
        char k1[256], k2[256];
        const char *sq = sqs[gen_below(g, NSQS)];
        snprintf(k1, sizeof k1, "%ssq:%s", w->prefix, sq);
        snprintf(k2, sizeof k2, "%srefund:%s", w->prefix, sq);
        char fence[256], cursor[256];
        snprintf(fence, sizeof fence, "%ssqclaim:fence", w->prefix);
        snprintf(cursor, sizeof cursor, "%ssqclaim:rowcursor", w->prefix);
        const char *cmds[][5] = {
            {"SET", k1, "garbage", NULL, NULL},
            {"SET", k1, "{\"botId\":\"OLD\",\"timestamp\":\"t\",\"status\":\"CLAIMING\"}", NULL,
             NULL},
            {"HSET", k1, "f", "v", NULL},
            {"DEL", fence, NULL, NULL, NULL},
            {"SET", fence, "-5", NULL, NULL},
            {"SET", fence, "abc", NULL, NULL},
            {"SET", fence, "500", NULL, NULL},
            {"SET", cursor, "abc", NULL, NULL},
            {"SET", cursor, "999999999999999", NULL, NULL},
            {"SET", cursor, "12", NULL, NULL},
            {"DEL", cursor, NULL, NULL, NULL},
            {"LPUSH", cursor, "x", NULL, NULL},
            {"SET", k2, "{\"botId\":\"OLD\",\"startRow\":10,\"rowCount\":5,\"status\":\"WRITING\"}",
             "PX", "600000"},
            {"DEL", k1, k2, NULL, NULL},
            {"FLUSHALL", NULL, NULL, NULL, NULL},
            {"SCRIPT", "FLUSH", NULL, NULL, NULL},
            {"PEXPIRE", k1, "2", NULL, NULL},
        };
        size_t which = (size_t)gen_below(g, sizeof cmds / sizeof cmds[0]);
        int argc = 0;
        while (argc < 5 && cmds[which][argc])
            argc++;
        snprintf(w->desc, sizeof w->desc, "tamper: %s %s", cmds[which][0],
                 argc > 1 ? cmds[which][1] : "");
        if (strcmp(cmds[which][0], "PEXPIRE") == 0)
            short_ms = 2;
        if (!raw_both(w, why, wl, argc, cmds[which]))
            return false;
        break;
    }
    }
    if (!same_outcome(&x, &y, why, wl))
        return false;
    count(&x, kind <= 6, kind >= 11 && kind <= 14);
    size_t dl = strlen(w->desc);
    snprintf(w->desc + dl, sizeof w->desc - dl, " -> %s", sqclaim_rcname(x.rc));
    if (compare_replies) {
        if (w->a.rec.n != w->b.rec.n) {
            snprintf(why, wl, "%zu vs %zu commands sent", w->a.rec.n, w->b.rec.n);
            return false;
        }
        for (size_t i = 0; i < w->a.rec.n; i++) {
            char inner[400];
            if (!same_rp(w->a.rec.r[i], w->b.rec.r[i], inner, sizeof inner)) {
                snprintf(why, wl, "reply %zu: %s", i, inner);
                return false;
            }
        }
    }
    if (short_ms) /* let both sides pass the short expiry */
        diff_wait_until_ms(diff_realtime_ms() + short_ms + 2);
    return true;
}

static bool run_sequence(uint64_t seed, int nops, char *msg, size_t msglen)
{
    static world w;
    memset(&w, 0, sizeof w);
    w.g.s = seed;
    w.prefix = prefixes[gen_below(&w.g, NPREFIXES)];
    det_store_config cfg = {.now_ns = diff_realtime_ns, .seed = seed};
    w.st = det_store_new(&cfg);
    ck_assert_ptr_nonnull(w.st);
    sqb_err err = {0};
    ck_assert_int_eq(det_conn_open(w.st, w.prefix, &w.b.dc, &err), SQCLAIM_OK);
    w.a.c = &diff_conn;
    ck_assert_int_eq(rp_init(&w.pa, &a_transport, &w.a, w.prefix, &err), SQCLAIM_OK);
    ck_assert_int_eq(rp_init(&w.pb, &b_transport, &w.b, w.prefix, &err), SQCLAIM_OK);
    char why[600] = "";
    bool ok = raw_both(&w, why, sizeof why, 1, (const char *[]){"FLUSHALL"}) &&
              raw_both(&w, why, sizeof why, 2, (const char *[]){"SCRIPT", "FLUSH"});
    int n = 0;
    for (; ok && n < nops; n++) {
        why[0] = '\0';
        ok = step(&w, why, sizeof why);
        if (getenv("DET_DIFF_TRACE"))
            fprintf(stderr, "%3d %s%s%s\n", n, w.desc, ok ? "" : "  -> ", why);
    }
    if (ok && w.pa.noscript_fallbacks != w.pb.noscript_fallbacks) {
        snprintf(why, sizeof why, "NOSCRIPT fallbacks %" PRIu64 " vs %" PRIu64,
                 w.pa.noscript_fallbacks, w.pb.noscript_fallbacks);
        ok = false;
    }
    if (!ok)
        snprintf(msg, msglen, "seed %" PRIu64 " (prefix \"%s\") op %d: %s\n  operation: %s", seed,
                 w.prefix, n - 1, why, w.desc);
    rec_clear(&w.a.rec);
    rec_clear(&w.b.rec);
    free(w.a.rec.r);
    free(w.b.rec.r);
    det_conn_close(w.b.dc);
    det_store_free(w.st);
    return ok;
}

START_TEST(protocol_sequences)
{
    bool single;
    int nseq = diff_run_seeds("protocol", 0x9a0000u, 200, 60, run_sequence, &single);
    printf("proto: %d sequences agree: claims %lu granted, %lu reclaimed, %lu busy; reserves %lu "
           "granted, %lu busy; %lu lost; %lu server errors; %lu status snapshots with entries\n",
           nseq, cover.claim_ok, cover.claim_reclaimed, cover.claim_busy, cover.reserve_ok,
           cover.reserve_busy, cover.lost, cover.server_errors, cover.status_entries);
    if (!single) /* a comparison of sequences that never reach these proves little */
        ck_assert_msg(cover.claim_ok && cover.claim_reclaimed && cover.claim_busy &&
                          cover.reserve_ok && cover.reserve_busy && cover.lost &&
                          cover.server_errors && cover.status_entries,
                      "the protocol sequences did not reach every outcome");
}
END_TEST

void diff_proto_add(Suite *s) { TCASE_ADD(s, diff_spec("proto"), protocol_sequences); }
