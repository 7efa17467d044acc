/* fuzz_proto_replies.c — the protocol layer's reply handling
 * (adapters/redisproto/proto.c) for every operation, through a fake
 * transport that answers what the fuzz input says: replies of any shape,
 * NOSCRIPT, server errors, no reply at all, transport failures (with and
 * without "maybe applied"), and for status whole SCAN / GET / PTTL / TYPE
 * pipelines.
 *
 * Invariants (the oracle reads the reply the layer decoded, independently):
 *   - a claim is granted only if that reply proves it: {1, index of a
 *     candidate, fence >= 1, ttl >= -1, reclaimed 0|1}, and the result is
 *     exactly what it says; a proving reply is never refused;
 *   - BUSY/LOST/OK of every other operation only from the reply that means
 *     it; reserve returns the rows the reply names, for the count asked;
 *   - a script's reply that is not understood is EPROTOCOL with
 *     maybe_applied set (uncertain, never "not granted"); a transport's
 *     maybe_applied is never lost;
 *   - status lists only valid SQ ids, once each, sorted;
 *   - through the public API (byte 0 = 12, 13): sqclaim_claim /
 *     sqclaim_claim_first return OK only after a proving reply, and a
 *     failure after an ambiguous one leaves the lease UNCERTAIN (never
 *     "may act"). */
#include "fuzz.h"

#include "../../adapters/redisproto/proto.h"

#include <inttypes.h>

/* ---- the fake transport ------------------------------------------------ */

static fz in;
static rp_reply *last;     /* copy of the last reply command() returned */
static bool last_failed;   /* the last command() failed (no reply) */
static bool last_maybe;    /* ... with maybe_applied */
static sqclaim_rc last_rc; /* ... with this code */
static bool any_proof;     /* some reply proved a grant (claim) */
static size_t grant_n;     /* candidates of the claim being checked */
static size_t calls;
static const char *g_prefix = ""; /* the key prefix of the connection */

static rp_reply *copy(const rp_reply *r)
{
    if (!r)
        return NULL;
    rp_reply *c = r->type == RP_STR || r->type == RP_ERR ? rp_reply_str(r->type, r->str, r->len)
                                                         : rp_reply_new(r->type);
    if (!c)
        abort();
    c->integer = r->integer;
    if (r->type == RP_ARR) {
        c->n = r->n;
        c->elem = calloc(r->n ? r->n : 1, sizeof *c->elem);
        if (!c->elem)
            abort();
        for (size_t i = 0; i < r->n; i++)
            c->elem[i] = copy(r->elem[i]);
    }
    return c;
}

static long long small_int(void)
{
    unsigned k = fz_u8(&in);
    switch (k % 8) {
    case 0: return 1;
    case 1: return 0;
    case 2: return 2;
    case 3: return -1;
    case 4: return (long long)fz_u64(&in);
    case 5: return (long long)(k / 8) - 4;
    case 6: return 3;
    default: return (long long)(k / 8) + 1;
    }
}

static rp_reply *gen_str(void)
{
    static const char *const words[] = {"OK", "PONG", "BOT1", "", "string", "hash", "none", "0"};
    unsigned k = fz_u8(&in);
    if (k % 3 == 0)
        return rp_reply_str(RP_STR, words[(k / 3) % 8], strlen(words[(k / 3) % 8]));
    const uint8_t *p;
    size_t n = fz_bytes(&in, fz_u8(&in) % 80, &p);
    return rp_reply_str(RP_STR, (const char *)p, n);
}

static rp_reply *gen_err(void)
{
    static const char *const errs[] = {
        "NOSCRIPT No matching script",
        "WRONGTYPE Operation against a key",
        "LOADING busy",
        "ERR max daily request limit exceeded",
        "NOAUTH Authentication required",
        "ERR unknown command 'x', with args beginning with: '0123456789abcdef0123456789abcdef'",
        "BUSY script",
        "ERR"};
    unsigned k = fz_u8(&in);
    if (k % 2 == 0)
        return rp_reply_str(RP_ERR, errs[(k / 2) % 8], strlen(errs[(k / 2) % 8]));
    const uint8_t *p;
    size_t n = fz_bytes(&in, fz_u8(&in) % 60, &p);
    return rp_reply_str(RP_ERR, (const char *)p, n);
}

static rp_reply *gen(int depth)
{
    unsigned t = fz_u8(&in) % 8;
    rp_reply *r;
    switch (t) {
    case 0:
    case 1:
        r = rp_reply_new(RP_INT);
        r->integer = small_int();
        break;
    case 2: r = gen_str(); break;
    case 3: r = gen_err(); break;
    case 4:
    case 5:
    case 6:
        if (depth < 4) {
            r = rp_reply_new(RP_ARR);
            r->n = fz_u8(&in) % 7;
            r->elem = calloc(r->n ? r->n : 1, sizeof *r->elem);
            for (size_t i = 0; i < r->n; i++)
                r->elem[i] = gen(depth + 1);
            break;
        }
        r = rp_reply_new(RP_NIL);
        break;
    default: r = rp_reply_new(RP_NIL); break;
    }
    if (!r)
        abort();
    return r;
}

/* Does r prove a claim over n candidates? */
static bool proves_grant(const rp_reply *r, size_t n)
{
    if (!r || r->type != RP_ARR || r->n != 5)
        return false;
    for (int i = 0; i < 5; i++)
        if (!r->elem[i] || r->elem[i]->type != RP_INT)
            return false;
    return r->elem[0]->integer == 1 && r->elem[1]->integer >= 0 &&
           (unsigned long long)r->elem[1]->integer < n && r->elem[2]->integer >= 1 &&
           r->elem[3]->integer >= -1 && (r->elem[4]->integer == 0 || r->elem[4]->integer == 1);
}

static sqclaim_rc t_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    (void)t;
    (void)cmd;
    calls++;
    rp_reply_free(last);
    last = NULL;
    last_failed = false;
    *out = NULL;
    unsigned a = fz_u8(&in) % 16;
    if (a == 0 || a == 1 || a == 2) {
        /* 0: refused before sending (input exhausted: always this). */
        static const sqclaim_rc codes[] = {SQCLAIM_EIO, SQCLAIM_ETIMEOUT, SQCLAIM_EPROTOCOL};
        last_failed = true;
        last_maybe = a != 0;
        last_rc = codes[a];
        err->maybe_applied = last_maybe;
        err->transient = a == 0;
        return sqb_seterr(err, last_rc, "fake transport failure %u", a);
    }
    if (a == 3)
        return SQCLAIM_OK; /* no reply at all */
    rp_reply *r;
    if (a == 4) {
        r = rp_reply_str(RP_ERR, "NOSCRIPT No matching script", 27);
    } else if (a < 9) {
        /* A reply shaped like the scripts' ones, with arbitrary values. */
        r = rp_reply_new(RP_ARR);
        r->n = 1 + fz_u8(&in) % 5;
        r->elem = calloc(r->n, sizeof *r->elem);
        for (size_t i = 0; i < r->n; i++) {
            if (fz_u8(&in) % 8 == 0) {
                r->elem[i] = gen(1);
            } else {
                r->elem[i] = rp_reply_new(RP_INT);
                r->elem[i]->integer = small_int();
            }
        }
    } else if (a < 11) {
        r = rp_reply_new(RP_INT);
        r->integer = small_int();
    } else {
        r = gen(0);
    }
    last = copy(r);
    if (proves_grant(r, grant_n))
        any_proof = true;
    *out = r;
    return SQCLAIM_OK;
}

static const char *const ids[] = {"251019-164rmb", "A", "SQ1", "-bad", "x.y_z", "", "a b", "SQ2"};

static rp_reply *gen_key(bool refund)
{
    unsigned k = fz_u8(&in);
    char key[200];
    if (k % 4 == 3) {
        const uint8_t *p;
        size_t n = fz_bytes(&in, fz_u8(&in) % 90, &p);
        return rp_reply_str(RP_STR, (const char *)p, n);
    }
    int n = snprintf(key, sizeof key, "%s%s%s", k % 8 == 1 ? "" : g_prefix,
                     refund ? "refund:" : "sq:", ids[(k / 4) % 8]);
    return rp_reply_str(RP_STR, key, (size_t)n);
}

static rp_reply *gen_value(void)
{
    static const char *const values[] = {
        "{\"botId\":\"BOT1\",\"timestamp\":\"2025-10-26T12:34:56.789Z\",\"status\":\"CLAIMING\","
        "\"token\":\"0123456789abcdef0123456789abcdef\",\"fence\":7}",
        "{\"botId\":\"BOT2\",\"startRow\":51,\"rowCount\":5,\"status\":\"WRITING\","
        "\"timestamp\":\"2025-10-26T12:34:56.789Z\",\"token\":\"0123456789abcdef0123456789abcdef\","
        "\"fence\":7}",
        "{\"botId\":\"BOT1\",\"timestamp\":\"2025-10-26T12:34:56.789Z\",\"status\":\"CLAIMING\"}",
        "plain text with a token",
        "[1,2,3]",
        "{\"botId\":7,\"fence\":-1,\"startRow\":1e300,\"rowCount\":4294967296}",
        "{\"status\":\"a very long status that does not fit in the field at all\"}",
        "123456789012345"};
    unsigned k = fz_u8(&in);
    if (k % 4 == 0)
        return rp_reply_new(RP_NIL);
    if (k % 4 == 1)
        return rp_reply_str(RP_STR, values[(k / 4) % 8], strlen(values[(k / 4) % 8]));
    if (k % 4 == 2 && (k / 4) % 2)
        return rp_reply_str(RP_ERR, "WRONGTYPE Operation against a key", 33);
    return gen(1);
}

/* One reply of a pipeline, shaped by the command it answers. */
static rp_reply *pipe_reply(const rp_cmd *cmd)
{
    unsigned a = fz_u8(&in) % 8;
    if (a == 7)
        return gen(0); /* anything at all */
    if (a == 6)
        return NULL; /* a transport that left a hole */
    const char *verb = cmd->argv[0];
    if (strcmp(verb, "SCAN") == 0) {
        bool refund = strstr(cmd->argv[3], "refund:") != NULL;
        rp_reply *r = rp_reply_new(RP_ARR);
        r->n = 2;
        r->elem = calloc(2, sizeof *r->elem);
        unsigned c = fz_u8(&in);
        r->elem[0] = c % 4 == 1 ? rp_reply_str(RP_STR, "17", 2) : rp_reply_str(RP_STR, "0", 1);
        r->elem[1] = rp_reply_new(RP_ARR);
        r->elem[1]->n = fz_u8(&in) % 6;
        r->elem[1]->elem = calloc(r->elem[1]->n ? r->elem[1]->n : 1, sizeof(rp_reply *));
        for (size_t i = 0; i < r->elem[1]->n; i++)
            r->elem[1]->elem[i] = gen_key(refund);
        return r;
    }
    if (strcmp(verb, "GET") == 0)
        return gen_value();
    if (strcmp(verb, "PTTL") == 0) {
        rp_reply *r = rp_reply_new(RP_INT);
        r->integer = (long long)((unsigned long long)small_int() * 1000u);
        if (fz_u8(&in) % 4 == 0)
            r->integer = -2;
        return r;
    }
    if (strcmp(verb, "TYPE") == 0) {
        static const char *const types[] = {"string", "hash", "none", "list", "zset", "HASH"};
        unsigned k = fz_u8(&in) % 6;
        return rp_reply_str(RP_STR, types[k], strlen(types[k]));
    }
    return gen(0);
}

static sqclaim_rc t_pipeline(void *t, size_t n, const rp_cmd *cmds, rp_reply **replies,
                             sqb_err *err)
{
    (void)t;
    calls++;
    unsigned a = fz_u8(&in) % 16;
    if (a == 0 || a == 1) {
        for (size_t i = 0; i < n; i++)
            replies[i] = NULL;
        err->maybe_applied = a == 1;
        return sqb_seterr(err, a ? SQCLAIM_ETIMEOUT : SQCLAIM_EIO, "fake pipeline failure");
    }
    for (size_t i = 0; i < n; i++)
        replies[i] = pipe_reply(&cmds[i]);
    return SQCLAIM_OK;
}

static const rp_transport fake = {t_command, t_pipeline};

/* ---- the checks ------------------------------------------------------- */

static const char token[] = "0123456789abcdef0123456789abcdef";

/* What every failure must respect. */
static void check_failure(sqclaim_rc rc, const sqb_err *err, bool script)
{
    if (rc >= 0)
        return;
    if (last_failed) {
        FUZZ_CHECK(rc == last_rc, "transport failure %d came back as %d", (int)last_rc, (int)rc);
        FUZZ_CHECK(!last_maybe || err->maybe_applied, "the transport's maybe_applied was lost");
        return;
    }
    if (script && rc == SQCLAIM_EPROTOCOL)
        FUZZ_CHECK(err->maybe_applied, "an undecodable script reply is not flagged uncertain: %s",
                   err->msg);
    if (rc == SQCLAIM_ESERVER || rc == SQCLAIM_EAUTH || rc == SQCLAIM_EQUOTA)
        FUZZ_CHECK(script ? (last && last->type == RP_ERR) : true,
                   "server error %d without an error reply", (int)rc);
    FUZZ_CHECK(strstr(err->msg, token) == NULL, "a message carries the lease token: %s", err->msg);
}

static bool is_int_v(const rp_reply *r, long long v)
{
    return r && r->type == RP_INT && r->integer == v;
}

static void op_claim(size_t n, rp_conn *c)
{
    const char *sqs[4] = {"SQ1", "SQ2", "251019-164rmb", "x"};
    sqb_claim_req req = {sqs, n, "BOT\"1\xc3\xa9", token, 600000, "2025-10-26T12:34:56.789Z", 0};
    sqb_claim_res res;
    memset(&res, 0xA5, sizeof res);
    sqb_err err = {0};
    grant_n = n;
    sqclaim_rc rc = rp_be_claim(c, &req, &res, &err);
    bool proof = !last_failed && proves_grant(last, n);
    FUZZ_CHECK((rc == SQCLAIM_OK) == proof, "claim rc %d, but the reply %s a grant", (int)rc,
               proof ? "proves" : "does not prove");
    if (rc == SQCLAIM_OK) {
        FUZZ_CHECK(res.index == (size_t)last->elem[1]->integer, "granted another index");
        FUZZ_CHECK(res.fence == (uint64_t)last->elem[2]->integer, "granted another fence");
        FUZZ_CHECK(res.ttl_ms == last->elem[3]->integer, "granted another ttl");
        FUZZ_CHECK(res.reclaimed == (last->elem[4]->integer == 1), "reclaimed flag differs");
    }
    if (rc == SQCLAIM_BUSY) {
        FUZZ_CHECK(last && last->type == RP_ARR && last->n == 3 && is_int_v(last->elem[0], 2) &&
                       last->elem[1]->type == RP_STR && last->elem[2]->type == RP_INT,
                   "BUSY without a BUSY reply");
        size_t bl = strlen(res.holder.bot);
        FUZZ_CHECK(bl <= SQCLAIM_BOT_MAX && bl <= last->elem[1]->len &&
                       memcmp(res.holder.bot, last->elem[1]->str, bl) == 0,
                   "holder is not the reply's bot");
        FUZZ_CHECK(res.holder.remaining_ms >= -1, "negative remaining time");
    }
    FUZZ_CHECK(rc != SQCLAIM_LOST, "claim answered LOST");
    check_failure(rc, &err, true);
}

static void op_lease(int which, rp_conn *c)
{
    sqb_lease_req req = {.sq = "SQ1", .token = token, .bot = "BOT1", .fence = 7, .ttl_ms = 600000};
    sqb_err err = {0};
    sqclaim_rc rc = which == 0   ? rp_be_renew(c, &req, &err)
                    : which == 1 ? rp_be_release(c, &req, &err)
                                 : rp_be_finish(c, &req, &err);
    if (rc == SQCLAIM_OK)
        FUZZ_CHECK(!last_failed && (is_int_v(last, 1) || (which == 2 && is_int_v(last, 3))),
                   "lease op %d OK without a reply saying so", which);
    if (rc == SQCLAIM_LOST)
        FUZZ_CHECK(!last_failed && is_int_v(last, 0), "lease op %d LOST without a 0", which);
    FUZZ_CHECK(rc != SQCLAIM_BUSY, "lease op answered BUSY");
    check_failure(rc, &err, true);
}

static void op_reserve(rp_conn *c)
{
    uint32_t count = 1 + fz_u8(&in) % 3;
    sqb_reserve_req req = {
        "SQ1", token, "BOT1", 7, count, 1 + fz_u8(&in) % 4, "2025-10-26T12:34:56.789Z", 0};
    sqclaim_rows rows = {0};
    sqb_err err = {0};
    sqclaim_rc rc = rp_be_reserve(c, &req, &rows, &err);
    if (rc == SQCLAIM_OK) {
        FUZZ_CHECK(!last_failed && last && last->type == RP_ARR && last->n == 4 &&
                       is_int_v(last->elem[0], 1) && last->elem[1]->type == RP_INT &&
                       last->elem[1]->integer >= 1 && is_int_v(last->elem[2], (long long)count) &&
                       last->elem[3]->type == RP_INT && last->elem[3]->integer >= 1,
                   "reserve OK without a reply proving it");
        FUZZ_CHECK(rows.start_row == (uint64_t)last->elem[1]->integer && rows.count == count &&
                       rows.fence == (uint64_t)last->elem[3]->integer,
                   "rows differ from the reply");
    }
    if (rc == SQCLAIM_LOST || rc == SQCLAIM_BUSY)
        FUZZ_CHECK(!last_failed && last && last->type == RP_ARR && last->n == 1 &&
                       is_int_v(last->elem[0], rc == SQCLAIM_LOST ? 0 : 2),
                   "reserve %d without its reply", (int)rc);
    check_failure(rc, &err, true);
}

static void op_status(rp_conn *c)
{
    sqclaim_status st = {0};
    sqb_err err = {0};
    sqclaim_rc rc = rp_be_status(c, &st, &err);
    if (rc == SQCLAIM_OK) {
        for (size_t i = 0; i < st.nclaims; i++) {
            FUZZ_CHECK(sqclaim_check_sq(st.claims[i].sq, NULL, 0) == SQCLAIM_OK,
                       "status lists an invalid SQ id");
            FUZZ_CHECK(i == 0 || strcmp(st.claims[i - 1].sq, st.claims[i].sq) < 0,
                       "claims not sorted or duplicated");
            FUZZ_CHECK(st.claims[i].ttl_ms >= -1, "negative ttl");
        }
        for (size_t i = 0; i < st.nreservations; i++) {
            FUZZ_CHECK(sqclaim_check_sq(st.reservations[i].sq, NULL, 0) == SQCLAIM_OK,
                       "status lists an invalid SQ id");
            FUZZ_CHECK(i == 0 || strcmp(st.reservations[i - 1].sq, st.reservations[i].sq) < 0,
                       "reservations not sorted or duplicated");
        }
        char *json = sqclaim_status_json(&st, 0);
        FUZZ_CHECK(json != NULL, "status JSON failed");
        FUZZ_CHECK(strstr(json, token) == NULL, "status JSON shows a token");
        sqclaim_free(json);
    } else {
        FUZZ_CHECK(strstr(err.msg, token) == NULL, "a message carries a token");
    }
    free(st.claims);
    free(st.reservations);
}

static void op_tools(unsigned which, rp_conn *c)
{
    sqb_err err = {0};
    sqclaim_rc rc;
    if (which == 0) {
        sqclaim_entry e;
        memset(&e, 0, sizeof e);
        rc = rp_be_inspect(c, "SQ1", &e, &err);
        if (rc == SQCLAIM_OK && e.has_claim)
            FUZZ_CHECK(strcmp(e.claim.sq, "SQ1") == 0, "inspect names another SQ");
    } else if (which == 1) {
        sqb_break_req req = {"SQ1", fz_u8(&in) % 2, "abc", "", fz_u8(&in) % 2, 0};
        unsigned removed = 99;
        rc = rp_be_break(c, &req, &removed, &err);
        if (rc == SQCLAIM_OK)
            FUZZ_CHECK(!last_failed && removed <= 3 && last && last->type == RP_ARR &&
                           last->n == 2 && is_int_v(last->elem[0], 1) &&
                           is_int_v(last->elem[1], (long long)removed),
                       "break OK without its reply");
        check_failure(rc, &err, true);
    } else if (which == 2) {
        sqclaim_counters cn;
        memset(&cn, 0, sizeof cn);
        rc = rp_be_counters(c, &cn, &err);
        if (rc == SQCLAIM_OK)
            FUZZ_CHECK(cn.fence_state <= 2 && cn.cursor_state <= 2, "bad counter state");
    } else if (which == 3) {
        uint64_t row = 1 + fz_u8(&in) % 8, cursor = 0;
        rc = rp_be_raise_cursor(c, row, &cursor, &err);
        if (rc == SQCLAIM_OK)
            FUZZ_CHECK(cursor == row, "raise OK to another row");
        if (rc == SQCLAIM_BUSY)
            FUZZ_CHECK(cursor > row, "raise BUSY below the row");
        check_failure(rc, &err, true);
    } else {
        rc = rp_be_ping(c, &err);
        if (rc == SQCLAIM_OK)
            FUZZ_CHECK(last && last->type == RP_STR && strcmp(last->str, "PONG") == 0,
                       "PING OK without PONG");
    }
}

/* ---- through the public API ------------------------------------------- */

typedef struct fconn {
    rp_conn proto; /* first, as RP_BACKEND_OPS needs */
} fconn;

static sqclaim_rc f_open(const sqclaim_options *opts, void **conn, sqb_err *err)
{
    (void)opts;
    fconn *c = calloc(1, sizeof *c);
    if (!c)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    sqclaim_rc rc = rp_init(&c->proto, &fake, NULL, NULL, err);
    if (rc != SQCLAIM_OK) {
        free(c);
        return rc;
    }
    *conn = c;
    return SQCLAIM_OK;
}

static void f_close(void *conn) { free(conn); }

static const sqclaim_backend fake_backend = {
    .version = SQB_VERSION,
    .name = "fuzz",
    .summary = "the fuzzer's fake transport",
    .caps = SQCLAIM_CAP_FOREIGN,
    .open = f_open,
    .close = f_close,
    RP_BACKEND_OPS,
};

static void api_claim(bool first)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.retries = -1; /* no backoff sleeps: one attempt per call */
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open_backend(&fake_backend, &o, &s);
    FUZZ_CHECK(rc == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    const char *sqs[3] = {"SQ1", "SQ2", "SQ3"};
    size_t n = first ? 3 : 1;
    grant_n = n;
    any_proof = false;
    sqclaim_lease lease;
    sqclaim_holder holder;
    rc = first ? sqclaim_claim_first(s, sqs, n, "BOT1", 0, &lease, &holder)
               : sqclaim_claim(s, sqs[0], "BOT1", 0, &lease, &holder);
    bool proof = !last_failed && proves_grant(last, n);
    FUZZ_CHECK(rc != SQCLAIM_OK || proof, "the API granted a claim no reply proved");
    if (rc == SQCLAIM_OK) {
        FUZZ_CHECK(!(lease.flags & SQCLAIM_LEASE_UNCERTAIN), "granted and uncertain");
        FUZZ_CHECK(strcmp(lease.sq, sqs[last->elem[1]->integer]) == 0, "granted another SQ");
        FUZZ_CHECK(lease.fence == (uint64_t)last->elem[2]->integer, "another fence");
    }
    /* An answer that may have been applied: uncertain, never may-act. */
    bool ambiguous =
        (last_failed && last_maybe) || (!last_failed && rc == SQCLAIM_EPROTOCOL && calls > 0);
    if (rc < 0 && ambiguous) {
        FUZZ_CHECK(lease.flags & SQCLAIM_LEASE_UNCERTAIN, "ambiguous failure not flagged: %s",
                   sqclaim_errmsg(s));
    }
    if (rc != SQCLAIM_OK)
        FUZZ_CHECK(!sqclaim_may_act(s, &lease), "may act without a grant");
    FUZZ_CHECK(strstr(sqclaim_errmsg(s), lease.token) == NULL || !lease.token[0],
               "the message shows the token");
    sqclaim_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    in = (fz){data, size, 1};
    last = NULL;
    last_failed = false;
    last_maybe = false;
    calls = 0;
    grant_n = 1;
    rp_conn c;
    sqb_err err = {0};
    /* The key prefix matters to status (it must be stripped). */
    g_prefix = data[0] & 0x80 ? "app:" : "";
    if (rp_init(&c, &fake, NULL, g_prefix, &err) != SQCLAIM_OK)
        abort();
    switch (data[0] % 16) {
    case 0: op_claim(1, &c); break;
    case 1: op_claim(4, &c); break;
    case 2: op_lease(0, &c); break;
    case 3: op_lease(1, &c); break;
    case 4: op_lease(2, &c); break;
    case 5: op_reserve(&c); break;
    case 6:
    case 7: op_status(&c); break;
    case 8: op_tools(0, &c); break;
    case 9: op_tools(1, &c); break;
    case 10: op_tools(2, &c); break;
    case 11: op_tools(3, &c); break;
    case 12: api_claim(false); break;
    case 13: api_claim(true); break;
    default: op_tools(4, &c); break;
    }
    rp_reply_free(last);
    last = NULL;
    return 0;
}
