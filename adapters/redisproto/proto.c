/* proto.c — the claim protocol over Redis commands; see proto.h.
 *
 * Every operation builds one EVALSHA (script SHA-1s are computed here, so
 * no SCRIPT LOAD round trip is ever needed), sends it through the
 * transport, falls back to EVAL with the script text if the server answers
 * NOSCRIPT, and decodes the reply with full validation: a reply of any
 * unexpected shape is SQCLAIM_EPROTOCOL with a message saying what came
 * back, never a crash and never a guess. */
#include "proto.h"

#include "scripts.h"
#include "sha1.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Replies                                                              */

rp_reply *rp_reply_new(rp_type type)
{
    rp_reply *r = calloc(1, sizeof *r);
    if (r)
        r->type = type;
    return r;
}

rp_reply *rp_reply_str(rp_type type, const char *s, size_t len)
{
    rp_reply *r = rp_reply_new(type);
    if (!r)
        return NULL;
    r->str = malloc(len + 1);
    if (!r->str) {
        free(r);
        return NULL;
    }
    if (len)
        memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

void rp_reply_free(rp_reply *r)
{
    if (!r)
        return;
    if (r->elem) {
        for (size_t i = 0; i < r->n; i++)
            rp_reply_free(r->elem[i]);
        free(r->elem);
    }
    free(r->str);
    free(r);
}

/* Describe a reply's shape for an error message (untrusted text shown
 * printable and short). */
static void shape(const rp_reply *r, char *buf, size_t len)
{
    if (!r) {
        snprintf(buf, len, "no reply");
        return;
    }
    switch (r->type) {
    case RP_NIL: snprintf(buf, len, "nil"); return;
    case RP_INT: snprintf(buf, len, "integer %lld", r->integer); return;
    case RP_ARR: snprintf(buf, len, "an array of %zu elements", r->n); return;
    case RP_STR:
    case RP_ERR: {
        char shown[48];
        size_t k = 0;
        for (size_t i = 0; r->str && i < r->len && k + 1 < sizeof shown && i < 40; i++) {
            unsigned char ch = (unsigned char)r->str[i];
            shown[k++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
        }
        shown[k] = '\0';
        snprintf(buf, len, "%s \"%s%s\"", r->type == RP_STR ? "string" : "error", shown,
                 r->len > 40 ? "..." : "");
        return;
    }
    }
    snprintf(buf, len, "a reply of unknown type %d", (int)r->type);
}

static sqclaim_rc bad_reply(sqb_err *err, const char *what, const rp_reply *r, const char *why)
{
    char sh[96];
    shape(r, sh, sizeof sh);
    return sqb_seterr(err, SQCLAIM_EPROTOCOL, "unexpected reply to %s: %s (%s)", what, sh, why);
}

static bool is_int(const rp_reply *r) { return r && r->type == RP_INT; }

/* A script's reply could not be decoded: the server answered, so the
 * script ran and may have changed something (granted a claim, written a
 * reservation) that the reply failed to tell us about.  Say so, so that
 * the core re-sends with the same token (the scripts are idempotent by
 * token) or reports the lease as uncertain, never as not granted. */
static sqclaim_rc script_reply(sqclaim_rc rc, sqb_err *err)
{
    if (rc == SQCLAIM_EPROTOCOL)
        err->maybe_applied = true;
    return rc;
}

static bool starts_with(const char *s, size_t len, const char *word)
{
    size_t wl = strlen(word);
    return s && len >= wl && memcmp(s, word, wl) == 0 && (len == wl || s[wl] == ' ');
}

sqclaim_rc rp_server_error(const char *text, size_t len, sqb_err *err)
{
    char shown[200];
    size_t k = 0;
    for (size_t i = 0; text && i < len && k + 1 < sizeof shown; i++) {
        unsigned char ch = (unsigned char)text[i];
        shown[k++] = (ch >= 0x20 && ch != 0x7f) ? (char)ch : ' ';
    }
    shown[k] = '\0';
    err->transient = false;
    if (starts_with(text, len, "NOAUTH") ||
        /* Redis >= 6.2 refuses a long command from an unauthenticated
         * client before it gets to say NOAUTH. */
        strstr(shown, "Protocol error: unauthenticated"))
        return sqb_seterr(err, SQCLAIM_EAUTH,
                          "the server requires a password (put it in the URL): %s", shown);
    if (starts_with(text, len, "WRONGPASS") || starts_with(text, len, "NOPERM"))
        return sqb_seterr(err, SQCLAIM_EAUTH, "the server refused our credentials: %s", shown);
    if (strstr(shown, "limit exceeded") || strstr(shown, "max request size"))
        return sqb_seterr(err, SQCLAIM_EQUOTA, "the service's limit was hit: %s", shown);
    if (starts_with(text, len, "LOADING") || starts_with(text, len, "BUSY") ||
        starts_with(text, len, "TRYAGAIN") || starts_with(text, len, "MASTERDOWN") ||
        starts_with(text, len, "CLUSTERDOWN") ||
        /* maxclients: the server refused the connection before reading
         * any command (it then closes it; the retry reconnects). */
        (len >= 33 && memcmp(text, "ERR max number of clients reached", 33) == 0)) {
        /* The server did not run the command; asking again later helps. */
        err->transient = true;
        return sqb_seterr(err, SQCLAIM_ESERVER, "server temporarily unavailable: %s", shown);
    }
    return sqb_seterr(err, SQCLAIM_ESERVER, "server error: %s", shown);
}

void rp_redact(char *s, size_t size, const char *secret)
{
    if (!s || !secret || !*secret || size == 0)
        return;
    size_t slen = strlen(secret);
    char *p = s;
    while ((p = strstr(p, secret)) != NULL) {
        size_t rest = strlen(p + slen);
        if (slen >= 3) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + slen, rest + 1);
            p += 3;
        } else {
            memset(p, '*', slen);
            p += slen;
        }
    }
}

void rp_scrub(char *s, size_t size)
{
    if (!s || size == 0)
        return;
    s[size - 1] = '\0';
    /* Redis quotes the first arguments of a command it refuses ("ERR
     * unknown command 'x', with args beginning with: 'a' 'b'"): a lease
     * token, a stored value with one. */
    static const char echo[] = "with args beginning with:";
    char *p = strstr(s, echo);
    if (p) {
        p += sizeof echo - 1;
        snprintf(p, size - (size_t)(p - s), " (not shown)");
    }
    /* Runs of 32 or more hex digits: lease tokens, ours or another bot's
     * (a script SHA-1 goes too; nothing is lost by that). */
    char *w = s;
    const char *r = s;
    while (*r) {
        size_t run = 0;
        while (isxdigit((unsigned char)r[run]))
            run++;
        if (run >= 32) {
            memcpy(w, "***", 3);
            w += 3;
            r += run;
        } else if (run > 0) {
            memmove(w, r, run);
            w += run;
            r += run;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* ------------------------------------------------------------------ */
/* Scripts                                                              */

enum { S_CLAIM, S_RENEW, S_RELEASE, S_RESERVE, S_FINISH, S_BREAK, S_RAISE, S_COUNT };

static const struct {
    const char *name;
    const char *text;
    size_t len;
} scripts[S_COUNT] = {
    {"the claim script", rp_lua_claim, sizeof rp_lua_claim - 1},
    {"the renew script", rp_lua_renew, sizeof rp_lua_renew - 1},
    {"the release script", rp_lua_release, sizeof rp_lua_release - 1},
    {"the reserve script", rp_lua_reserve, sizeof rp_lua_reserve - 1},
    {"the finish script", rp_lua_finish, sizeof rp_lua_finish - 1},
    {"the break script", rp_lua_break, sizeof rp_lua_break - 1},
    {"the raise-cursor script", rp_lua_raise, sizeof rp_lua_raise - 1},
};

static char script_sha[S_COUNT][41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void compute_shas(void)
{
    for (int i = 0; i < S_COUNT; i++)
        rp_sha1_hex(scripts[i].text, scripts[i].len, script_sha[i]);
}

/* ------------------------------------------------------------------ */
/* Command building                                                     */

/* Escape the glob characters of the prefix for a KEYS / SCAN MATCH
 * pattern of every key of a kind ("sq:", "refund:"). */
static void match_pattern(const rp_conn *c, const char *kind, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = c->prefix; *p && n + 3 < outlen; p++) {
        if (*p == '*' || *p == '?' || *p == '[' || *p == ']' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    snprintf(out + n, outlen - n, "%s*", kind);
}

/* EVALSHA sha numkeys + at most MAX_CANDIDATES + 1 keys + a few args. */
#define RP_MAX_ARGS (SQCLAIM_MAX_CANDIDATES + 16)

typedef struct cmdb {
    int argc;
    const char *argv[RP_MAX_ARGS];
    size_t len[RP_MAX_ARGS];
    char *buf; /* arena for the arguments we format; never reallocated, so
                  argv pointers into it stay valid */
    size_t used, cap;
    bool overflow;
} cmdb;

static bool cmdb_init(cmdb *b, size_t cap)
{
    b->argc = 0;
    b->used = 0;
    b->cap = cap;
    b->overflow = false;
    b->buf = malloc(cap);
    return b->buf != NULL;
}

static void cmdb_free(cmdb *b)
{
    free(b->buf);
    b->buf = NULL;
}

/* Add a borrowed argument (must outlive the command). */
static void cmdb_add(cmdb *b, const char *s, size_t len)
{
    if (b->argc >= RP_MAX_ARGS) {
        b->overflow = true;
        return;
    }
    b->argv[b->argc] = s;
    b->len[b->argc] = len;
    b->argc++;
}

static void cmdb_addf(cmdb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add an argument formatted into the arena. */
static void cmdb_addf(cmdb *b, const char *fmt, ...)
{
    size_t room = b->cap - b->used;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = true;
        return;
    }
    cmdb_add(b, b->buf + b->used, (size_t)n);
    b->used += (size_t)n + 1;
}

/* Start an EVALSHA: the numkeys slot is filled by cmdb_keys_done(). */
static void cmdb_eval(cmdb *b, int script)
{
    cmdb_add(b, "EVALSHA", 7);
    cmdb_add(b, script_sha[script], 40);
    cmdb_add(b, "", 0); /* numkeys, set later */
}

static void cmdb_keys_done(cmdb *b)
{
    int nkeys = b->argc - 3;
    size_t room = b->cap - b->used;
    int n = snprintf(b->buf + b->used, room, "%d", nkeys);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = true;
        return;
    }
    b->argv[2] = b->buf + b->used;
    b->len[2] = (size_t)n;
    b->used += (size_t)n + 1;
}

static void cmdb_key(cmdb *b, const rp_conn *c, const char *kind, const char *id)
{
    cmdb_addf(b, "%s%s%s", c->prefix, kind, id);
}

static size_t arena_size(const rp_conn *c, size_t nkeys)
{
    /* Keys: prefix + "refund:" + id; values: the JSON heads with a bot id
     * of at most 64 bytes, each escaped to at most 6. */
    return (nkeys + 4) * (strlen(c->prefix) + 16 + SQCLAIM_SQ_MAX) + 6 * SQCLAIM_BOT_MAX + 1024;
}

/* Run a script built in b: EVALSHA, then EVAL after NOSCRIPT.  OK with a
 * reply that is not an error, or a failure. */
static sqclaim_rc run_script(rp_conn *c, int script, cmdb *b, rp_reply **out, sqb_err *err)
{
    *out = NULL;
    if (b->overflow)
        return sqb_seterr(err, SQCLAIM_EINVAL, "request for %s too large to build",
                          scripts[script].name);
    rp_cmd cmd = {b->argc, b->argv, b->len};
    rp_reply *r = NULL;
    sqclaim_rc rc = c->tp->command(c->t, &cmd, &r, err);
    if (rc != SQCLAIM_OK)
        return rc;
    if (!r)
        return script_reply(sqb_seterr(err, SQCLAIM_EPROTOCOL, "transport returned no reply"), err);
    if (r->type == RP_ERR && starts_with(r->str, r->len, "NOSCRIPT")) {
        /* The server does not know the script (restart, SCRIPT FLUSH,
         * failover): send its text once; that also caches it again. */
        rp_reply_free(r);
        r = NULL;
        c->noscript_fallbacks++;
        b->argv[0] = "EVAL";
        b->len[0] = 4;
        b->argv[1] = scripts[script].text;
        b->len[1] = scripts[script].len;
        rc = c->tp->command(c->t, &cmd, &r, err);
        b->argv[0] = "EVALSHA";
        b->len[0] = 7;
        b->argv[1] = script_sha[script];
        b->len[1] = 40;
        if (rc != SQCLAIM_OK)
            return rc;
        if (!r)
            return script_reply(sqb_seterr(err, SQCLAIM_EPROTOCOL, "transport returned no reply"),
                                err);
    }
    if (r->type == RP_ERR) {
        rc = rp_server_error(r->str, r->len, err);
        rp_reply_free(r);
        return rc;
    }
    *out = r;
    return SQCLAIM_OK;
}

/* ------------------------------------------------------------------ */
/* Init and ping                                                        */

sqclaim_rc rp_init(rp_conn *c, const rp_transport *tp, void *t, const char *prefix, sqb_err *err)
{
    pthread_once(&sha_once, compute_shas);
    memset(c, 0, sizeof *c);
    c->tp = tp;
    c->t = t;
    if (!prefix)
        prefix = "";
    size_t len = strlen(prefix);
    if (len > RP_PREFIX_MAX)
        return sqb_seterr(err, SQCLAIM_EINVAL, "key prefix too long: %zu bytes, at most %d", len,
                          RP_PREFIX_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)prefix[i];
        if (ch < 0x20 || ch == 0x7f)
            return sqb_seterr(err, SQCLAIM_EINVAL,
                              "key prefix contains a control character (byte %zu)", i + 1);
    }
    memcpy(c->prefix, prefix, len + 1);
    return SQCLAIM_OK;
}

const char *rp_script_sha(int which)
{
    pthread_once(&sha_once, compute_shas);
    return which >= 0 && which < S_COUNT ? script_sha[which] : NULL;
}

const char *rp_script_text(int which)
{
    return which >= 0 && which < S_COUNT ? scripts[which].text : NULL;
}

sqclaim_rc rp_open(rp_conn *c, const rp_transport *tp, void *t, const sqclaim_options *opts,
                   sqb_err *err)
{
    const char *prefix = opts->key_prefix;
    const char *source = "the key_prefix option";
    if (!prefix) {
        prefix = sqb_getenv("SQCLAIM_KEY_PREFIX");
        source = "$SQCLAIM_KEY_PREFIX";
    }
    sqclaim_rc rc = rp_init(c, tp, t, prefix, err);
    if (rc == SQCLAIM_EINVAL) {
        char msg[sizeof err->msg];
        sqb_strlcpy(msg, err->msg, sizeof msg);
        rc = sqb_seterr(err, SQCLAIM_ECONFIG, "invalid key prefix in %s: %s", source, msg);
    }
    return rc;
}

sqclaim_rc rp_ping(rp_conn *c, sqb_err *err)
{
    const char *argv[] = {"PING"};
    const size_t len[] = {4};
    rp_cmd cmd = {1, argv, len};
    rp_reply *r = NULL;
    sqclaim_rc rc = c->tp->command(c->t, &cmd, &r, err);
    if (rc != SQCLAIM_OK)
        return rc;
    if (r && r->type == RP_ERR)
        rc = rp_server_error(r->str, r->len, err);
    else if (!r || r->type != RP_STR || strcmp(r->str, "PONG") != 0)
        rc = bad_reply(err, "PING", r, "expected PONG");
    rp_reply_free(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Claim                                                                */

/* Copy a holder's bot id, cut at a UTF-8 character boundary if long. */
static void copy_bot(char *dst, const char *src, size_t srclen)
{
    size_t n = srclen < SQCLAIM_BOT_MAX ? srclen : SQCLAIM_BOT_MAX;
    if (n < srclen)
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

sqclaim_rc rp_claim(rp_conn *c, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    if (req->n < 1 || req->n > SQCLAIM_MAX_CANDIDATES)
        return sqb_seterr(err, SQCLAIM_EINVAL, "claim needs 1 to %d candidates",
                          SQCLAIM_MAX_CANDIDATES);
    cmdb b;
    if (!cmdb_init(&b, arena_size(c, req->n + 1)))
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    char qbot[SQCLAIM_BOT_MAX * 6 + 3], qts[SQCLAIM_TIMESTAMP_LEN * 6 + 3];
    sqb_json_quote(qbot, sizeof qbot, req->bot);
    sqb_json_quote(qts, sizeof qts, req->timestamp);

    cmdb_eval(&b, S_CLAIM);
    cmdb_addf(&b, "%ssqclaim:fence", c->prefix);
    for (size_t i = 0; i < req->n; i++)
        cmdb_key(&b, c, "sq:", req->sqs[i]);
    cmdb_keys_done(&b);
    cmdb_add(&b, req->token, strlen(req->token));
    cmdb_addf(&b, "%" PRId64, req->ttl_ms);
    cmdb_addf(&b,
              "{\"botId\":%s,\"timestamp\":%s,\"status\":\"CLAIMING\",\"token\":\"%s\",\"fence\":",
              qbot, qts, req->token);
    char pattern[2 * RP_PREFIX_MAX + 16];
    match_pattern(c, "sq:", pattern, sizeof pattern);
    cmdb_add(&b, pattern, strlen(pattern));

    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_CLAIM, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;

    const char *what = scripts[S_CLAIM].name;
    if (r->type != RP_ARR || r->n < 1 || !is_int(r->elem[0])) {
        rc = bad_reply(err, what, r, "expected an array starting with a status code");
    } else if (r->elem[0]->integer == 1) {
        if (r->n != 5 || !is_int(r->elem[1]) || !is_int(r->elem[2]) || !is_int(r->elem[3]) ||
            !is_int(r->elem[4])) {
            rc = bad_reply(err, what, r, "a grant must be 5 integers");
        } else if (r->elem[1]->integer < 0 || (size_t)r->elem[1]->integer >= req->n) {
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "unexpected reply to %s: granted candidate %lld of %zu", what,
                            r->elem[1]->integer, req->n);
        } else if (r->elem[2]->integer < 1) {
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "the stored claim carries our token but no valid fence (%lld)",
                            r->elem[2]->integer);
        } else if (r->elem[4]->integer != 0 && r->elem[4]->integer != 1) {
            rc = bad_reply(err, what, r, "reclaimed flag must be 0 or 1");
        } else if (r->elem[3]->integer < -1) {
            rc =
                sqb_seterr(err, SQCLAIM_EPROTOCOL, "unexpected reply to %s: remaining time %lld ms",
                           what, r->elem[3]->integer);
        } else {
            res->index = (size_t)r->elem[1]->integer;
            res->fence = (uint64_t)r->elem[2]->integer;
            res->ttl_ms = r->elem[3]->integer;
            res->reclaimed = r->elem[4]->integer == 1;
            rc = SQCLAIM_OK;
        }
    } else if (r->elem[0]->integer == 2) {
        if (r->n != 3 || r->elem[1]->type != RP_STR || !is_int(r->elem[2])) {
            rc = bad_reply(err, what, r, "BUSY must be {2, botId, pttl}");
        } else {
            copy_bot(res->holder.bot, r->elem[1]->str, r->elem[1]->len);
            res->holder.remaining_ms = r->elem[2]->integer >= 0 ? r->elem[2]->integer : -1;
            rc = SQCLAIM_BUSY;
        }
    } else {
        rc = bad_reply(err, what, r, "unknown status code");
    }
    rp_reply_free(r);
    return script_reply(rc, err);
}

/* ------------------------------------------------------------------ */
/* Renew, release, finish                                               */

static sqclaim_rc lease_op(rp_conn *c, int script, const sqb_lease_req *req, bool with_ttl,
                           sqb_err *err)
{
    cmdb b;
    if (!cmdb_init(&b, arena_size(c, 2)))
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cmdb_eval(&b, script);
    cmdb_key(&b, c, "sq:", req->sq);
    cmdb_key(&b, c, "refund:", req->sq);
    cmdb_keys_done(&b);
    cmdb_add(&b, req->token, strlen(req->token));
    if (with_ttl)
        cmdb_addf(&b, "%" PRId64, req->ttl_ms);
    if (script == S_FINISH && req->rows_start) { /* finish one reservation */
        cmdb_addf(&b, "%" PRIu64, req->rows_start);
        cmdb_addf(&b, "%" PRIu32, req->rows_count);
        cmdb_addf(&b, "%" PRIu64, req->rows_fence);
    }
    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, script, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;
    if (is_int(r) && r->integer == 1)
        rc = SQCLAIM_OK;
    else if (is_int(r) && r->integer == 3 && script == S_FINISH)
        rc = SQCLAIM_OK; /* ours, and no reservation of ours left: a retry converges */
    else if (is_int(r) && r->integer == 0)
        rc = SQCLAIM_LOST;
    else
        rc = bad_reply(err, scripts[script].name, r,
                       script == S_FINISH ? "expected 1, 3 or 0" : "expected 1 or 0");
    rp_reply_free(r);
    return script_reply(rc, err);
}

sqclaim_rc rp_renew(rp_conn *c, const sqb_lease_req *req, sqb_err *err)
{
    return lease_op(c, S_RENEW, req, true, err);
}

sqclaim_rc rp_release(rp_conn *c, const sqb_lease_req *req, sqb_err *err)
{
    return lease_op(c, S_RELEASE, req, false, err);
}

sqclaim_rc rp_finish(rp_conn *c, const sqb_lease_req *req, sqb_err *err)
{
    return lease_op(c, S_FINISH, req, false, err);
}

/* ------------------------------------------------------------------ */
/* Reserve                                                              */

sqclaim_rc rp_reserve(rp_conn *c, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err)
{
    cmdb b;
    if (!cmdb_init(&b, arena_size(c, 3)))
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    char qts[SQCLAIM_TIMESTAMP_LEN * 6 + 3];
    sqb_json_quote(qts, sizeof qts, req->timestamp);
    cmdb_eval(&b, S_RESERVE);
    cmdb_key(&b, c, "sq:", req->sq);
    cmdb_key(&b, c, "refund:", req->sq);
    cmdb_addf(&b, "%ssqclaim:rowcursor", c->prefix);
    cmdb_keys_done(&b);
    cmdb_add(&b, req->token, strlen(req->token));
    cmdb_addf(&b, "%" PRIu32, req->count);
    cmdb_addf(&b, "%" PRIu64, req->hint);
    cmdb_addf(&b,
              ",\"rowCount\":%" PRIu32 ",\"status\":\"WRITING\",\"timestamp\":%s,\"token\":\"%s\","
              "\"fence\":",
              req->count, qts, req->token);
    char pattern[2 * RP_PREFIX_MAX + 16];
    match_pattern(c, "refund:", pattern, sizeof pattern);
    cmdb_add(&b, pattern, strlen(pattern));
    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_RESERVE, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;
    const char *what = scripts[S_RESERVE].name;
    if (r->type != RP_ARR || r->n < 1 || !is_int(r->elem[0])) {
        rc = bad_reply(err, what, r, "expected an array starting with a status code");
    } else if (r->elem[0]->integer == 1) {
        if (r->n != 4 || !is_int(r->elem[1]) || !is_int(r->elem[2]) || !is_int(r->elem[3]))
            rc = bad_reply(err, what, r, "a reservation must be 4 integers");
        else if (r->elem[1]->integer < 1 || r->elem[2]->integer != (long long)req->count)
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "unexpected reply to %s: rows %lld+%lld for a request of %" PRIu32,
                            what, r->elem[1]->integer, r->elem[2]->integer, req->count);
        else if (r->elem[3]->integer < 1)
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "the stored claim or reservation carries our token but no valid "
                            "fence (%lld)",
                            r->elem[3]->integer);
        else {
            rows->start_row = (uint64_t)r->elem[1]->integer;
            rows->count = req->count;
            rows->fence = (uint64_t)r->elem[3]->integer;
            rc = SQCLAIM_OK;
        }
    } else if (r->elem[0]->integer == 0 && r->n == 1) {
        rc = SQCLAIM_LOST;
    } else if (r->elem[0]->integer == 2 && r->n == 1) {
        rc = SQCLAIM_BUSY;
    } else {
        rc = bad_reply(err, what, r, "unknown status code or length");
    }
    rp_reply_free(r);
    return script_reply(rc, err);
}

/* ------------------------------------------------------------------ */
/* Status                                                               */

#define SCAN_COUNT "200"

/* Whole non-negative JSON numbers up to 2^53; anything else is 0. */
static uint64_t json_u64(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return 0;
    return (uint64_t)d;
}

static void json_str(const cJSON *obj, const char *name, char *dst, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v) && v->valuestring)
        sqb_strlcpy(dst, v->valuestring, size);
    else
        dst[0] = '\0';
}

/* A stored value of sqclaim's own: a JSON object with a 32-hex-digit token
 * and a fence >= 1. */
static bool written_by_us(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t) || !t->valuestring || strlen(t->valuestring) != SQCLAIM_TOKEN_LEN ||
        strspn(t->valuestring, "0123456789abcdef") != SQCLAIM_TOKEN_LEN)
        return false;
    return json_u64(j, "fence") >= 1;
}

/* What one key holds, as status shows it (both kinds of entry). */
typedef struct rp_view {
    char bot[SQCLAIM_BOT_MAX + 1];
    char timestamp[SQCLAIM_TIMESTAMP_LEN + 1];
    char status[SQCLAIM_STATUS_MAX + 1];
    uint64_t fence, start, count;
    unsigned flags;
    char type[16];
    char raw[SQCLAIM_RAW_MAX + 1];
    char fingerprint[SQCLAIM_FINGERPRINT_MAX + 1];
} rp_view;

/* Decode a string value (v[0..len)), or describe a key of another type
 * (v NULL, type its TYPE).  The fingerprint is what the break script
 * computes: redis.sha1hex of the value, or "type:<type>". */
static void view_value(const char *v, size_t len, const char *type, rp_view *out)
{
    memset(out, 0, sizeof *out);
    if (!v) {
        if (!type)
            type = "?";
        out->flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
        sqb_strlcpy(out->type, type, sizeof out->type);
        snprintf(out->fingerprint, sizeof out->fingerprint, "type:%.40s", type);
        return;
    }
    char hex[41];
    rp_sha1_hex(v, len, hex);
    sqb_strlcpy(out->fingerprint, hex, sizeof out->fingerprint);
    cJSON *j = cJSON_ParseWithLength(v, len);
    if (!j || !cJSON_IsObject(j)) {
        out->flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
        sqb_strlcpy(out->type, "string", sizeof out->type);
        if (!sqb_raw_preview(out->raw, v, len))
            out->flags |= SQCLAIM_ENTRY_RAW_HIDDEN;
        cJSON_Delete(j);
        return;
    }
    json_str(j, "botId", out->bot, sizeof out->bot);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "botId")))
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
    json_str(j, "timestamp", out->timestamp, sizeof out->timestamp);
    json_str(j, "status", out->status, sizeof out->status);
    out->fence = json_u64(j, "fence");
    out->start = json_u64(j, "startRow");
    out->count = json_u64(j, "rowCount");
    if (out->count > UINT32_MAX)
        out->count = 0;
    if (!written_by_us(j))
        out->flags = SQCLAIM_ENTRY_FOREIGN;
    cJSON_Delete(j);
}

static void view_claim(const char *id, const rp_view *v, int64_t ttl, sqclaim_claim_info *ci)
{
    memset(ci, 0, sizeof *ci);
    sqb_strlcpy(ci->sq, id, sizeof ci->sq);
    sqb_strlcpy(ci->bot, v->bot, sizeof ci->bot);
    sqb_strlcpy(ci->timestamp, v->timestamp, sizeof ci->timestamp);
    sqb_strlcpy(ci->status, v->status, sizeof ci->status);
    ci->fence = v->fence;
    ci->ttl_ms = ttl;
    ci->flags = v->flags;
    sqb_strlcpy(ci->type, v->type, sizeof ci->type);
    sqb_strlcpy(ci->raw, v->raw, sizeof ci->raw);
    sqb_strlcpy(ci->fingerprint, v->fingerprint, sizeof ci->fingerprint);
}

static void view_res(const char *id, const rp_view *v, int64_t ttl, sqclaim_reservation_info *ri)
{
    memset(ri, 0, sizeof *ri);
    sqb_strlcpy(ri->sq, id, sizeof ri->sq);
    sqb_strlcpy(ri->bot, v->bot, sizeof ri->bot);
    ri->start_row = v->start;
    ri->row_count = (uint32_t)v->count;
    sqb_strlcpy(ri->status, v->status, sizeof ri->status);
    sqb_strlcpy(ri->timestamp, v->timestamp, sizeof ri->timestamp);
    ri->fence = v->fence;
    ri->ttl_ms = ttl;
    ri->flags = v->flags;
    sqb_strlcpy(ri->type, v->type, sizeof ri->type);
    sqb_strlcpy(ri->raw, v->raw, sizeof ri->raw);
    sqb_strlcpy(ri->fingerprint, v->fingerprint, sizeof ri->fingerprint);
}

/* The SQ id of a key "{prefix}{kind}{id}", or NULL if it is not one we can
 * name through the API (another tool's key with an invalid id). */
static const char *key_id(const rp_conn *c, const char *kind, const rp_reply *key)
{
    size_t plen = strlen(c->prefix), klen = strlen(kind);
    if (key->len <= plen + klen || memcmp(key->str, c->prefix, plen) != 0 ||
        memcmp(key->str + plen, kind, klen) != 0)
        return NULL;
    const char *id = key->str + plen + klen;
    if (strlen(id) != key->len - plen - klen || sqclaim_check_sq(id, NULL, 0) != SQCLAIM_OK)
        return NULL;
    return id;
}

/* A key of another type seen by status: its TYPE is asked afterwards. */
typedef struct pending_type {
    bool refund;
    char sq[SQCLAIM_SQ_MAX + 1];
    char *key;
    size_t keylen;
} pending_type;

typedef struct pending_list {
    pending_type *v;
    size_t n, cap;
} pending_list;

static void pending_free(pending_list *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].key);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Turn one key's GET and PTTL replies into a status entry.  Skips what has
 * vanished or expired, and keys we cannot name; a key of another type
 * (WRONGTYPE) is shown with its type filled in later (pending).  Fails on
 * server errors or replies of the wrong shape. */
static sqclaim_rc status_entry(rp_conn *c, bool refund, const rp_reply *key, const rp_reply *get,
                               const rp_reply *pttl, sqclaim_status *out, pending_list *pend,
                               sqb_err *err)
{
    bool wrongtype = get && get->type == RP_ERR && starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (pttl && pttl->type == RP_ERR)
        return rp_server_error(pttl->str, pttl->len, err);
    if (!wrongtype && (!get || (get->type != RP_NIL && get->type != RP_STR)))
        return bad_reply(err, "GET", get, "expected a string or nil");
    if (!is_int(pttl))
        return bad_reply(err, "PTTL", pttl, "expected an integer");
    if ((!wrongtype && get->type == RP_NIL) || pttl->integer == -2)
        return SQCLAIM_OK; /* expired or deleted since SCAN saw it */
    const char *id = key_id(c, refund ? "refund:" : "sq:", key);
    if (!id)
        return SQCLAIM_OK;
    int64_t ttl = pttl->integer >= 0 ? pttl->integer : -1;
    rp_view v;
    if (wrongtype) {
        view_value(NULL, 0, "?", &v); /* the type is asked for below */
        if (pend->n == pend->cap) {
            size_t cap = pend->cap ? pend->cap * 2 : 8;
            pending_type *nv = realloc(pend->v, cap * sizeof *nv);
            if (!nv)
                return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
            pend->v = nv;
            pend->cap = cap;
        }
        pending_type *pt = &pend->v[pend->n];
        pt->key = malloc(key->len + 1);
        if (!pt->key)
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        memcpy(pt->key, key->str, key->len + 1);
        pt->keylen = key->len;
        pt->refund = refund;
        sqb_strlcpy(pt->sq, id, sizeof pt->sq);
        pend->n++;
    } else {
        view_value(get->str, get->len, NULL, &v);
    }
    sqclaim_rc rc;
    if (!refund) {
        sqclaim_claim_info ci;
        view_claim(id, &v, ttl, &ci);
        rc = sqb_status_add_claim(out, &ci);
    } else {
        sqclaim_reservation_info ri;
        view_res(id, &v, ttl, &ri);
        rc = sqb_status_add_reservation(out, &ri);
    }
    if (rc != SQCLAIM_OK)
        sqb_seterr(err, rc, "out of memory");
    return rc;
}

/* A TYPE reply as a short type name ("hash"), or NULL if it is not one. */
static const char *type_name(const rp_reply *r)
{
    if (!r || r->type != RP_STR || r->len == 0 || r->len >= 16)
        return NULL;
    for (size_t i = 0; i < r->len; i++)
        if (r->str[i] < 'a' || r->str[i] > 'z')
            return NULL;
    return r->str;
}

/* Fill in the types of the keys of another type status saw (one more
 * round trip, only when there are such keys).  A key gone meanwhile
 * ("none") keeps "?". */
static sqclaim_rc resolve_types(rp_conn *c, pending_list *pend, sqclaim_status *out, sqb_err *err)
{
    if (pend->n == 0)
        return SQCLAIM_OK;
    rp_cmd *cmds = calloc(pend->n, sizeof *cmds);
    rp_reply **replies = calloc(pend->n, sizeof *replies);
    const char **argvs = calloc(pend->n * 2, sizeof *argvs);
    size_t *lens = calloc(pend->n * 2, sizeof *lens);
    sqclaim_rc rc = SQCLAIM_OK;
    if (!cmds || !replies || !argvs || !lens) {
        rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pend->n; i++) {
        argvs[2 * i] = "TYPE";
        lens[2 * i] = 4;
        argvs[2 * i + 1] = pend->v[i].key;
        lens[2 * i + 1] = pend->v[i].keylen;
        cmds[i] = (rp_cmd){2, &argvs[2 * i], &lens[2 * i]};
    }
    rc = c->tp->pipeline(c->t, pend->n, cmds, replies, err);
    if (rc != SQCLAIM_OK)
        goto out;
    for (size_t i = 0; i < pend->n; i++) {
        if (replies[i] && replies[i]->type == RP_ERR) {
            rc = rp_server_error(replies[i]->str, replies[i]->len, err);
            goto out;
        }
        const char *t = type_name(replies[i]);
        if (!t) {
            rc = bad_reply(err, "TYPE", replies[i], "expected a type name");
            goto out;
        }
        if (strcmp(t, "none") == 0 || strcmp(t, "string") == 0)
            continue; /* changed since: keep "?" */
        /* The entry with this SQ and kind whose type is still unknown. */
        if (!pend->v[i].refund) {
            for (size_t k = 0; k < out->nclaims; k++) {
                sqclaim_claim_info *ci = &out->claims[k];
                if (strcmp(ci->sq, pend->v[i].sq) == 0 && strcmp(ci->type, "?") == 0) {
                    sqb_strlcpy(ci->type, t, sizeof ci->type);
                    snprintf(ci->fingerprint, sizeof ci->fingerprint, "type:%s", t);
                }
            }
        } else {
            for (size_t k = 0; k < out->nreservations; k++) {
                sqclaim_reservation_info *ri = &out->reservations[k];
                if (strcmp(ri->sq, pend->v[i].sq) == 0 && strcmp(ri->type, "?") == 0) {
                    sqb_strlcpy(ri->type, t, sizeof ri->type);
                    snprintf(ri->fingerprint, sizeof ri->fingerprint, "type:%s", t);
                }
            }
        }
    }
out:
    for (size_t i = 0; replies && i < pend->n; i++)
        rp_reply_free(replies[i]);
    free(replies);
    free(cmds);
    free(argvs);
    free(lens);
    return rc;
}

/* Validate a SCAN reply: {cursor, {key...}}. */
static sqclaim_rc check_scan(const rp_reply *r, sqb_err *err)
{
    if (r && r->type == RP_ERR)
        return rp_server_error(r->str, r->len, err);
    if (!r || r->type != RP_ARR || r->n != 2 || r->elem[0]->type != RP_STR ||
        r->elem[1]->type != RP_ARR)
        return bad_reply(err, "SCAN", r, "expected {cursor, keys}");
    const rp_reply *cur = r->elem[0];
    if (cur->len == 0 || cur->len > 20 || strspn(cur->str, "0123456789") != cur->len)
        return bad_reply(err, "SCAN", cur, "cursor must be a number");
    for (size_t i = 0; i < r->elem[1]->n; i++)
        if (r->elem[1]->elem[i]->type != RP_STR)
            return bad_reply(err, "SCAN", r->elem[1]->elem[i], "keys must be strings");
    return SQCLAIM_OK;
}

static int cmp_claim_sq(const void *a, const void *b)
{
    return strcmp(((const sqclaim_claim_info *)a)->sq, ((const sqclaim_claim_info *)b)->sq);
}

static int cmp_res_sq(const void *a, const void *b)
{
    return strcmp(((const sqclaim_reservation_info *)a)->sq,
                  ((const sqclaim_reservation_info *)b)->sq);
}

/* SCAN may return a key more than once: keep one entry per SQ. */
static void dedupe(sqclaim_status *st)
{
    if (st->nclaims > 1) {
        qsort(st->claims, st->nclaims, sizeof *st->claims, cmp_claim_sq);
        size_t k = 1;
        for (size_t i = 1; i < st->nclaims; i++)
            if (strcmp(st->claims[i].sq, st->claims[k - 1].sq) != 0)
                st->claims[k++] = st->claims[i];
        st->nclaims = k;
    }
    if (st->nreservations > 1) {
        qsort(st->reservations, st->nreservations, sizeof *st->reservations, cmp_res_sq);
        size_t k = 1;
        for (size_t i = 1; i < st->nreservations; i++)
            if (strcmp(st->reservations[i].sq, st->reservations[k - 1].sq) != 0)
                st->reservations[k++] = st->reservations[i];
        st->nreservations = k;
    }
}

/* One SCAN iteration (sq:* or refund:*). */
typedef struct scan_stream {
    bool refund;
    char pattern[2 * RP_PREFIX_MAX + 16];
    char cursor[24]; /* the cursor to ask for next */
    bool done;       /* SCAN answered cursor 0: no more pages */
    rp_reply *page;  /* the SCAN reply whose keys are read next (owned) */
} scan_stream;

/*
 * The snapshot is taken in rounds.  Each round trip is one pipeline holding
 * the GET and PTTL of every key of the pages the previous round's SCANs
 * returned AND the next SCAN of each iteration that is not finished; the
 * two iterations (sq:* and refund:*) run side by side.  So a snapshot
 * costs (pages of the longer iteration) + 1 round trips: 2 when everything
 * fits in one page.
 *
 * Why a pipeline rather than one read-only script per page: it runs on any
 * Redis-compatible server with nothing to cache, bills 2 commands per key
 * on Upstash (a script would bill 1 + 2 per key), and needs no atomicity:
 * each key's GET and PTTL are adjacent, a key that expires or is deleted
 * between SCAN and GET reads as nil / -2 and is skipped, and a status is a
 * snapshot that can be stale the moment it is returned anyway.
 */
sqclaim_rc rp_status(rp_conn *c, sqclaim_status *out, sqb_err *err)
{
    scan_stream st[2];
    memset(st, 0, sizeof st);
    for (int k = 0; k < 2; k++) {
        st[k].refund = k == 1;
        match_pattern(c, k ? "refund:" : "sq:", st[k].pattern, sizeof st[k].pattern);
        strcpy(st[k].cursor, "0");
    }
    rp_reply **replies = NULL;
    rp_cmd *cmds = NULL;
    const char **argvs = NULL;
    size_t *lens = NULL;
    size_t nrep = 0; /* entries of replies[] */
    sqclaim_rc rc = SQCLAIM_OK;
    pending_list pend = {0};

    for (;;) {
        size_t nreads = 0, nscans = 0;
        for (int k = 0; k < 2; k++) {
            nreads += st[k].page ? st[k].page->elem[1]->n : 0;
            nscans += st[k].done ? 0 : 1;
        }
        size_t ncmds = 2 * nreads + nscans;
        if (ncmds == 0)
            break;
        cmds = calloc(ncmds, sizeof *cmds);
        replies = calloc(ncmds, sizeof *replies);
        argvs = calloc(ncmds * 6, sizeof *argvs);
        lens = calloc(ncmds * 6, sizeof *lens);
        if (!cmds || !replies || !argvs || !lens) {
            rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
            goto out;
        }
        nrep = ncmds;
        size_t ci = 0;
        for (int k = 0; k < 2; k++) {
            const rp_reply *keys = st[k].page ? st[k].page->elem[1] : NULL;
            for (size_t i = 0; keys && i < keys->n; i++) {
                for (int g = 0; g < 2; g++, ci++) {
                    argvs[6 * ci] = g == 0 ? "GET" : "PTTL";
                    lens[6 * ci] = g == 0 ? 3 : 4;
                    argvs[6 * ci + 1] = keys->elem[i]->str;
                    lens[6 * ci + 1] = keys->elem[i]->len;
                    cmds[ci] = (rp_cmd){2, &argvs[6 * ci], &lens[6 * ci]};
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            if (st[k].done)
                continue;
            const char *sargv[] = {"SCAN",        st[k].cursor, "MATCH",
                                   st[k].pattern, "COUNT",      SCAN_COUNT};
            for (int a = 0; a < 6; a++) {
                argvs[6 * ci + (size_t)a] = sargv[a];
                lens[6 * ci + (size_t)a] = strlen(sargv[a]);
            }
            cmds[ci] = (rp_cmd){6, &argvs[6 * ci], &lens[6 * ci]};
            ci++;
        }
        rc = c->tp->pipeline(c->t, ncmds, cmds, replies, err);
        if (rc != SQCLAIM_OK)
            goto out;
        /* The keys read in this round. */
        ci = 0;
        for (int k = 0; k < 2; k++) {
            const rp_reply *keys = st[k].page ? st[k].page->elem[1] : NULL;
            for (size_t i = 0; keys && i < keys->n; i++, ci += 2) {
                rc = status_entry(c, st[k].refund, keys->elem[i], replies[ci], replies[ci + 1], out,
                                  &pend, err);
                if (rc != SQCLAIM_OK)
                    goto out;
            }
            rp_reply_free(st[k].page);
            st[k].page = NULL;
        }
        /* The next pages. */
        for (int k = 0; k < 2; k++) {
            if (st[k].done)
                continue;
            rc = check_scan(replies[ci], err);
            if (rc != SQCLAIM_OK)
                goto out;
            st[k].page = replies[ci];
            replies[ci] = NULL;
            ci++;
            sqb_strlcpy(st[k].cursor, st[k].page->elem[0]->str, sizeof st[k].cursor);
            st[k].done = strcmp(st[k].cursor, "0") == 0;
            if (st[k].page->elem[1]->n == 0) {
                rp_reply_free(st[k].page);
                st[k].page = NULL;
            }
        }
        for (size_t i = 0; i < nrep; i++)
            rp_reply_free(replies[i]);
        free(replies);
        free(cmds);
        free(argvs);
        free(lens);
        replies = NULL;
        nrep = 0;
        cmds = NULL;
        argvs = NULL;
        lens = NULL;
    }
    rc = resolve_types(c, &pend, out, err);
    if (rc == SQCLAIM_OK)
        dedupe(out);
out:
    pending_free(&pend);
    /* After a failed pipeline the transport has left no replies (NULLs);
     * after a decoding failure they are all here. */
    for (size_t i = 0; replies && i < nrep; i++)
        rp_reply_free(replies[i]);
    for (int k = 0; k < 2; k++)
        rp_reply_free(st[k].page);
    free(cmds);
    free(argvs);
    free(lens);
    free(replies);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Operator tools                                                       */

/* One key of inspect's pipeline: GET, PTTL, TYPE replies -> present? */
static sqclaim_rc inspect_key(const char *id, bool refund, rp_reply **r, sqclaim_entry *out,
                              sqb_err *err)
{
    const rp_reply *get = r[0], *pttl = r[1], *type = r[2];
    if (type && type->type == RP_ERR)
        return rp_server_error(type->str, type->len, err);
    if (pttl && pttl->type == RP_ERR)
        return rp_server_error(pttl->str, pttl->len, err);
    const char *t = type_name(type);
    if (!t)
        return bad_reply(err, "TYPE", type, "expected a type name");
    if (!is_int(pttl))
        return bad_reply(err, "PTTL", pttl, "expected an integer");
    bool wrongtype = get && get->type == RP_ERR && starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (!wrongtype && (!get || (get->type != RP_NIL && get->type != RP_STR)))
        return bad_reply(err, "GET", get, "expected a string or nil");
    if (strcmp(t, "none") == 0 || pttl->integer == -2 || (!wrongtype && get->type == RP_NIL))
        return SQCLAIM_OK; /* nothing there (or gone between the commands) */
    int64_t ttl = pttl->integer >= 0 ? pttl->integer : -1;
    rp_view v;
    if (wrongtype || strcmp(t, "string") != 0)
        view_value(NULL, 0, t, &v);
    else
        view_value(get->str, get->len, NULL, &v);
    if (!refund) {
        out->has_claim = true;
        view_claim(id, &v, ttl, &out->claim);
    } else {
        out->has_reservation = true;
        view_res(id, &v, ttl, &out->reservation);
    }
    return SQCLAIM_OK;
}

sqclaim_rc rp_inspect(rp_conn *c, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    char k[2][RP_PREFIX_MAX + SQCLAIM_SQ_MAX + 16];
    snprintf(k[0], sizeof k[0], "%ssq:%s", c->prefix, sq);
    snprintf(k[1], sizeof k[1], "%srefund:%s", c->prefix, sq);
    static const char *const verbs[3] = {"GET", "PTTL", "TYPE"};
    const char *argv[12];
    size_t len[12];
    rp_cmd cmds[6];
    rp_reply *replies[6] = {0};
    for (int i = 0; i < 6; i++) {
        argv[2 * i] = verbs[i % 3];
        len[2 * i] = strlen(verbs[i % 3]);
        argv[2 * i + 1] = k[i / 3];
        len[2 * i + 1] = strlen(k[i / 3]);
        cmds[i] = (rp_cmd){2, &argv[2 * i], &len[2 * i]};
    }
    sqclaim_rc rc = c->tp->pipeline(c->t, 6, cmds, replies, err);
    if (rc == SQCLAIM_OK)
        rc = inspect_key(sq, false, replies, out, err);
    if (rc == SQCLAIM_OK)
        rc = inspect_key(sq, true, replies + 3, out, err);
    for (int i = 0; i < 6; i++)
        rp_reply_free(replies[i]);
    return rc;
}

sqclaim_rc rp_break(rp_conn *c, const sqb_break_req *req, unsigned *removed, sqb_err *err)
{
    cmdb b;
    if (!cmdb_init(&b, arena_size(c, 2) + 2 * SQCLAIM_FINGERPRINT_MAX))
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cmdb_eval(&b, S_BREAK);
    cmdb_key(&b, c, "sq:", req->sq);
    cmdb_key(&b, c, "refund:", req->sq);
    cmdb_keys_done(&b);
    cmdb_add(&b, req->check ? "1" : "0", 1);
    const char *cfp = req->check && req->claim_fp ? req->claim_fp : "";
    const char *rfp = req->check && req->res_fp ? req->res_fp : "";
    cmdb_add(&b, cfp, strlen(cfp));
    cmdb_add(&b, rfp, strlen(rfp));
    cmdb_add(&b, req->force ? "1" : "0", 1);
    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_BREAK, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;
    const char *what = scripts[S_BREAK].name;
    if (r->type != RP_ARR || r->n < 1 || !is_int(r->elem[0]))
        rc = bad_reply(err, what, r, "expected an array starting with a status code");
    else if (r->elem[0]->integer == 1 && r->n == 2 && is_int(r->elem[1]) &&
             r->elem[1]->integer >= 0 && r->elem[1]->integer <= 3) {
        *removed = (unsigned)r->elem[1]->integer;
        rc = SQCLAIM_OK;
    } else if (r->elem[0]->integer == 0 && r->n == 1)
        rc = SQCLAIM_LOST;
    else if (r->elem[0]->integer == 2 && r->n == 1)
        rc = SQCLAIM_BUSY;
    else
        rc = bad_reply(err, what, r, "unknown status code or length");
    rp_reply_free(r);
    return script_reply(rc, err);
}

/* One counter from its GET and TYPE replies. */
static sqclaim_rc counter_state(const rp_reply *get, const rp_reply *type, bool cursor,
                                uint64_t *value, unsigned *state, char *detail, size_t dlen,
                                sqb_err *err)
{
    if (type && type->type == RP_ERR)
        return rp_server_error(type->str, type->len, err);
    const char *t = type_name(type);
    if (!t)
        return bad_reply(err, "TYPE", type, "expected a type name");
    bool wrongtype = get && get->type == RP_ERR && starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (strcmp(t, "none") == 0) {
        *state = SQCLAIM_COUNTER_MISSING;
        return SQCLAIM_OK;
    }
    if (wrongtype || strcmp(t, "string") != 0 || !get || get->type != RP_STR) {
        *state = SQCLAIM_COUNTER_INVALID;
        snprintf(detail, dlen, "a %s", t);
        return SQCLAIM_OK;
    }
    /* The scripts' own rules: the fence any integer INCR takes (>= 1 to
     * be usable), the cursor 1 to 15 decimal digits. */
    size_t digits = strspn(get->str, "0123456789");
    bool ok = get->len > 0 && digits == get->len && get->len <= (cursor ? 15u : 19u);
    uint64_t v = ok ? strtoull(get->str, NULL, 10) : 0;
    if (ok && !cursor && v == 0) {
        /* INCR takes 0 to 1, which the claim script treats as missing. */
        *state = SQCLAIM_COUNTER_MISSING;
        snprintf(detail, dlen, "0");
        return SQCLAIM_OK;
    }
    if (!ok) {
        *state = SQCLAIM_COUNTER_INVALID;
        char raw[SQCLAIM_RAW_MAX + 1];
        if (sqb_raw_preview(raw, get->str, get->len))
            snprintf(detail, dlen, "\"%s\"", raw);
        else
            snprintf(detail, dlen, "a text that mentions a token");
        return SQCLAIM_OK;
    }
    *state = SQCLAIM_COUNTER_OK;
    *value = v;
    return SQCLAIM_OK;
}

sqclaim_rc rp_counters(rp_conn *c, sqclaim_counters *out, sqb_err *err)
{
    snprintf(out->fence_key, sizeof out->fence_key, "%ssqclaim:fence", c->prefix);
    snprintf(out->cursor_key, sizeof out->cursor_key, "%ssqclaim:rowcursor", c->prefix);
    const char *argv[8] = {"GET", out->fence_key,  "TYPE", out->fence_key,
                           "GET", out->cursor_key, "TYPE", out->cursor_key};
    size_t len[8];
    rp_cmd cmds[4];
    for (int i = 0; i < 8; i++)
        len[i] = strlen(argv[i]);
    for (int i = 0; i < 4; i++)
        cmds[i] = (rp_cmd){2, &argv[2 * i], &len[2 * i]};
    rp_reply *r[4] = {0};
    sqclaim_rc rc = c->tp->pipeline(c->t, 4, cmds, r, err);
    if (rc == SQCLAIM_OK)
        rc = counter_state(r[0], r[1], false, &out->fence, &out->fence_state, out->fence_detail,
                           sizeof out->fence_detail, err);
    if (rc == SQCLAIM_OK)
        rc = counter_state(r[2], r[3], true, &out->row_cursor, &out->cursor_state,
                           out->cursor_detail, sizeof out->cursor_detail, err);
    for (int i = 0; i < 4; i++)
        rp_reply_free(r[i]);
    return rc;
}

sqclaim_rc rp_raise_cursor(rp_conn *c, uint64_t row, uint64_t *cursor, sqb_err *err)
{
    cmdb b;
    if (!cmdb_init(&b, arena_size(c, 1)))
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cmdb_eval(&b, S_RAISE);
    cmdb_addf(&b, "%ssqclaim:rowcursor", c->prefix);
    cmdb_keys_done(&b);
    cmdb_addf(&b, "%" PRIu64, row);
    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_RAISE, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;
    const char *what = scripts[S_RAISE].name;
    if (r->type != RP_ARR || r->n != 2 || !is_int(r->elem[0]) || !is_int(r->elem[1]) ||
        r->elem[1]->integer < 1)
        rc = bad_reply(err, what, r, "expected {code, cursor}");
    else if (r->elem[0]->integer == 1 && (uint64_t)r->elem[1]->integer == row)
        rc = SQCLAIM_OK;
    else if (r->elem[0]->integer == 2 && (uint64_t)r->elem[1]->integer > row)
        rc = SQCLAIM_BUSY;
    else
        rc = bad_reply(err, what, r, "unknown status code, or a cursor that does not fit it");
    if (rc >= 0)
        *cursor = (uint64_t)r->elem[1]->integer;
    rp_reply_free(r);
    return script_reply(rc, err);
}

/* ------------------------------------------------------------------ */
/* Backend table entries (conn starts with its rp_conn; see proto.h)    */

/* Every failure leaves through here: whatever path built the message
 * (a server's text, a reply shown for a protocol error), it carries no
 * lease token. */
static sqclaim_rc scrubbed(sqclaim_rc rc, sqb_err *err, const char *token)
{
    if (rc != SQCLAIM_OK && err) {
        rp_redact(err->msg, sizeof err->msg, token);
        rp_scrub(err->msg, sizeof err->msg);
    }
    return rc;
}

sqclaim_rc rp_be_ping(void *conn, sqb_err *err) { return scrubbed(rp_ping(conn, err), err, NULL); }

sqclaim_rc rp_be_claim(void *conn, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    return scrubbed(rp_claim(conn, req, res, err), err, req->token);
}

sqclaim_rc rp_be_renew(void *conn, const sqb_lease_req *req, sqb_err *err)
{
    return scrubbed(rp_renew(conn, req, err), err, req->token);
}

sqclaim_rc rp_be_release(void *conn, const sqb_lease_req *req, sqb_err *err)
{
    return scrubbed(rp_release(conn, req, err), err, req->token);
}

sqclaim_rc rp_be_reserve(void *conn, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err)
{
    return scrubbed(rp_reserve(conn, req, rows, err), err, req->token);
}

sqclaim_rc rp_be_finish(void *conn, const sqb_lease_req *req, sqb_err *err)
{
    return scrubbed(rp_finish(conn, req, err), err, req->token);
}

sqclaim_rc rp_be_status(void *conn, sqclaim_status *out, sqb_err *err)
{
    return scrubbed(rp_status(conn, out, err), err, NULL);
}

/* The operator tools carry no lease token of their own, but a reply they
 * quote (a server error, a value shown by bad_reply) can hold another
 * bot's: scrubbed like every other entry (proto.h). */
sqclaim_rc rp_be_inspect(void *conn, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    return scrubbed(rp_inspect(conn, sq, out, err), err, NULL);
}

sqclaim_rc rp_be_break(void *conn, const sqb_break_req *req, unsigned *removed, sqb_err *err)
{
    return scrubbed(rp_break(conn, req, removed, err), err, NULL);
}

sqclaim_rc rp_be_counters(void *conn, sqclaim_counters *out, sqb_err *err)
{
    return scrubbed(rp_counters(conn, out, err), err, NULL);
}

sqclaim_rc rp_be_raise_cursor(void *conn, uint64_t row, uint64_t *cursor, sqb_err *err)
{
    return scrubbed(rp_raise_cursor(conn, row, cursor, err), err, NULL);
}
