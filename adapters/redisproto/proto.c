/* proto.c — the claim protocol over Redis commands; see proto.h.
 *
 * Every operation builds one EVALSHA (script SHA-1s are computed here, so
 * no SCRIPT LOAD round trip is ever needed), sends it through the
 * transport, falls back to EVAL with the script text if the server answers
 * NOSCRIPT, and decodes the reply with full validation: a reply of any
 * unexpected shape is SQCLAIM_EPROTOCOL with a message saying what came
 * back, never a crash and never a guess. */
#include "proto.h"
#include "protoint.h"

#include "scripts.h"
#include "sha1.h"
#include "util/squtil.h"

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

sqclaim_rc rp_bad_reply(sqb_err *err, const char *what, const rp_reply *r, const char *why)
{
    char sh[96];
    shape(r, sh, sizeof sh);
    return sqb_seterr(err, SQCLAIM_EPROTOCOL, "unexpected reply to %s: %s (%s)", what, sh, why);
}

bool rp_is_int(const rp_reply *r) { return r && r->type == RP_INT; }

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

bool rp_starts_with(const char *s, size_t len, const char *word)
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
    if (rp_starts_with(text, len, "NOAUTH") ||
        /* Redis >= 6.2 refuses a long command from an unauthenticated
         * client before it gets to say NOAUTH. */
        strstr(shown, "Protocol error: unauthenticated"))
        return sqb_seterr(err, SQCLAIM_EAUTH,
                          "the server requires a password (put it in the URL): %s", shown);
    if (rp_starts_with(text, len, "WRONGPASS") || rp_starts_with(text, len, "NOPERM"))
        return sqb_seterr(err, SQCLAIM_EAUTH, "the server refused our credentials: %s", shown);
    if (strstr(shown, "limit exceeded") || strstr(shown, "max request size"))
        return sqb_seterr(err, SQCLAIM_EQUOTA, "the service's limit was hit: %s", shown);
    if (rp_starts_with(text, len, "LOADING") || rp_starts_with(text, len, "BUSY") ||
        rp_starts_with(text, len, "TRYAGAIN") || rp_starts_with(text, len, "MASTERDOWN") ||
        rp_starts_with(text, len, "CLUSTERDOWN") ||
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
void rp_match_pattern(const rp_conn *c, const char *kind, char *out, size_t outlen)
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
    if (r->type == RP_ERR && rp_starts_with(r->str, r->len, "NOSCRIPT")) {
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
        rc = rp_bad_reply(err, "PING", r, "expected PONG");
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
    sq_json_quote(qbot, sizeof qbot, req->bot, SQ_JSON_CSTR, 0);
    sq_json_quote(qts, sizeof qts, req->timestamp, SQ_JSON_CSTR, 0);

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
    rp_match_pattern(c, "sq:", pattern, sizeof pattern);
    cmdb_add(&b, pattern, strlen(pattern));

    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_CLAIM, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;

    const char *what = scripts[S_CLAIM].name;
    if (r->type != RP_ARR || r->n < 1 || !rp_is_int(r->elem[0])) {
        rc = rp_bad_reply(err, what, r, "expected an array starting with a status code");
    } else if (r->elem[0]->integer == 1) {
        if (r->n != 5 || !rp_is_int(r->elem[1]) || !rp_is_int(r->elem[2]) ||
            !rp_is_int(r->elem[3]) || !rp_is_int(r->elem[4])) {
            rc = rp_bad_reply(err, what, r, "a grant must be 5 integers");
        } else if (r->elem[1]->integer < 0 || (size_t)r->elem[1]->integer >= req->n) {
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "unexpected reply to %s: granted candidate %lld of %zu", what,
                            r->elem[1]->integer, req->n);
        } else if (r->elem[2]->integer < 1) {
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL,
                            "the stored claim carries our token but no valid fence (%lld)",
                            r->elem[2]->integer);
        } else if (r->elem[4]->integer != 0 && r->elem[4]->integer != 1) {
            rc = rp_bad_reply(err, what, r, "reclaimed flag must be 0 or 1");
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
        if (r->n != 3 || r->elem[1]->type != RP_STR || !rp_is_int(r->elem[2])) {
            rc = rp_bad_reply(err, what, r, "BUSY must be {2, botId, pttl}");
        } else {
            copy_bot(res->holder.bot, r->elem[1]->str, r->elem[1]->len);
            res->holder.remaining_ms = r->elem[2]->integer >= 0 ? r->elem[2]->integer : -1;
            rc = SQCLAIM_BUSY;
        }
    } else {
        rc = rp_bad_reply(err, what, r, "unknown status code");
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
    if (rp_is_int(r) && r->integer == 1)
        rc = SQCLAIM_OK;
    else if (rp_is_int(r) && r->integer == 3 && script == S_FINISH)
        rc = SQCLAIM_OK; /* ours, and no reservation of ours left: a retry converges */
    else if (rp_is_int(r) && r->integer == 0)
        rc = SQCLAIM_LOST;
    else
        rc = rp_bad_reply(err, scripts[script].name, r,
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
    sq_json_quote(qts, sizeof qts, req->timestamp, SQ_JSON_CSTR, 0);
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
    rp_match_pattern(c, "refund:", pattern, sizeof pattern);
    cmdb_add(&b, pattern, strlen(pattern));
    rp_reply *r = NULL;
    sqclaim_rc rc = run_script(c, S_RESERVE, &b, &r, err);
    cmdb_free(&b);
    if (rc != SQCLAIM_OK)
        return rc;
    const char *what = scripts[S_RESERVE].name;
    if (r->type != RP_ARR || r->n < 1 || !rp_is_int(r->elem[0])) {
        rc = rp_bad_reply(err, what, r, "expected an array starting with a status code");
    } else if (r->elem[0]->integer == 1) {
        if (r->n != 4 || !rp_is_int(r->elem[1]) || !rp_is_int(r->elem[2]) || !rp_is_int(r->elem[3]))
            rc = rp_bad_reply(err, what, r, "a reservation must be 4 integers");
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
        rc = rp_bad_reply(err, what, r, "unknown status code or length");
    }
    rp_reply_free(r);
    return script_reply(rc, err);
}

/* ------------------------------------------------------------------ */
/* Operator writes (the reads are in status.c)                          */

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
    if (r->type != RP_ARR || r->n < 1 || !rp_is_int(r->elem[0]))
        rc = rp_bad_reply(err, what, r, "expected an array starting with a status code");
    else if (r->elem[0]->integer == 1 && r->n == 2 && rp_is_int(r->elem[1]) &&
             r->elem[1]->integer >= 0 && r->elem[1]->integer <= 3) {
        *removed = (unsigned)r->elem[1]->integer;
        rc = SQCLAIM_OK;
    } else if (r->elem[0]->integer == 0 && r->n == 1)
        rc = SQCLAIM_LOST;
    else if (r->elem[0]->integer == 2 && r->n == 1)
        rc = SQCLAIM_BUSY;
    else
        rc = rp_bad_reply(err, what, r, "unknown status code or length");
    rp_reply_free(r);
    return script_reply(rc, err);
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
    if (r->type != RP_ARR || r->n != 2 || !rp_is_int(r->elem[0]) || !rp_is_int(r->elem[1]) ||
        r->elem[1]->integer < 1)
        rc = rp_bad_reply(err, what, r, "expected {code, cursor}");
    else if (r->elem[0]->integer == 1 && (uint64_t)r->elem[1]->integer == row)
        rc = SQCLAIM_OK;
    else if (r->elem[0]->integer == 2 && (uint64_t)r->elem[1]->integer > row)
        rc = SQCLAIM_BUSY;
    else
        rc = rp_bad_reply(err, what, r, "unknown status code, or a cursor that does not fit it");
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
