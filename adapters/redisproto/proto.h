/*
 * proto.h — the claim protocol over Redis commands, shared by every backend
 * that speaks Redis: `redis` (hiredis over TCP/unix sockets) and `vercel`
 * (the Upstash REST API over HTTPS).  They differ only in transport.
 *
 * This layer owns the Lua scripts, the key names, the stored values and
 * the decoding of the scripts' replies.  A transport only has to run
 * "command + arguments -> reply" (and, for status, several commands in one
 * round trip).
 *
 * Keys and values: the seed's layout with token and fence appended, each
 * key behind the key_prefix option; the one table of it is in
 * docs/protocol.md ("Data layout").  The key names are built in proto.c.
 * A value written by another tool in the seed layout (no token/fence), or
 * any other value under sq:{id}, counts as held: claims are refused, and
 * renew/release/finish by us answer LOST.
 *
 * Every operation is ONE script run (EVALSHA, falling back to EVAL when
 * the server answers NOSCRIPT, e.g. after a restart or SCRIPT FLUSH), so
 * it costs one round trip in the normal case.  Every key a script touches
 * is passed in KEYS.  The scripts themselves, with their KEYS, ARGV and
 * replies, are in scripts.h; docs/redis.md explains them.  (The history
 * of this interface is in git: `git log -p adapters/redisproto/proto.h`.)
 */
#ifndef SQCLAIM_REDISPROTO_H
#define SQCLAIM_REDISPROTO_H

#include "backend.h"

/* A reply, independent of transport (hiredis reply or Upstash JSON). */
typedef enum rp_type {
    RP_NIL = 0,
    RP_INT, /* integer */
    RP_STR, /* bulk or simple string (binary-safe: str + len) */
    RP_ARR, /* array of elem[n] */
    RP_ERR  /* error reply; str is the server's text ("NOSCRIPT …") */
} rp_type;

typedef struct rp_reply {
    rp_type type;
    long long integer;
    char *str; /* NUL-terminated copy; len excludes the NUL */
    size_t len;
    size_t n;
    struct rp_reply **elem;
} rp_reply;

/* Allocation helpers for transports building replies; rp_reply_free(NULL)
 * is a no-op and frees recursively. */
rp_reply *rp_reply_new(rp_type type);
rp_reply *rp_reply_str(rp_type type, const char *s, size_t len); /* RP_STR or RP_ERR */
void rp_reply_free(rp_reply *r);

/* One command: argv[0..argc-1] with lengths (binary-safe). */
typedef struct rp_cmd {
    int argc;
    const char **argv;
    const size_t *argvlen;
} rp_cmd;

/* What a transport provides.  Both functions return OK with *out / replies
 * filled (an RP_ERR reply is still OK at this level: the server answered),
 * or a failure with err set (rc, maybe_applied, transient, msg).  A
 * transport counts round trips itself. */
typedef struct rp_transport {
    /* Run one command; *out owned by the caller (rp_reply_free). */
    sqclaim_rc (*command)(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err);
    /* Run ncmds commands in one round trip, in order (a pipeline: not
     * atomic); replies[i] owned by the caller.  Used for status batches.
     * On failure every replies[i] is left NULL (the transport frees what
     * it had). */
    sqclaim_rc (*pipeline)(void *t, size_t ncmds, const rp_cmd *cmds, rp_reply **replies,
                           sqb_err *err);
} rp_transport;

/* The start of every transport's pipeline: set each replies[i] to NULL (as
 * a failure must leave them) and return true when ncmds is 0 (then the
 * pipeline is SQCLAIM_OK with no round trip).  Use as
 *   if (rp_pipeline_empty(ncmds, replies))
 *       return SQCLAIM_OK;  */
static inline bool rp_pipeline_empty(size_t ncmds, rp_reply **replies)
{
    for (size_t i = 0; i < ncmds; i++)
        replies[i] = NULL;
    return ncmds == 0;
}

/* Per-connection protocol state: the transport, the key prefix and the
 * script SHAs. */
typedef struct rp_conn {
    const rp_transport *tp;
    void *t;
    char prefix[128];
    uint64_t noscript_fallbacks; /* EVAL after NOSCRIPT (for tests/stats) */
} rp_conn;

/* The longest key prefix accepted. */
#define RP_PREFIX_MAX 127

/* Initialise (no I/O).  prefix may be NULL.  EINVAL if the prefix is too
 * long or contains bytes that would break a key pattern. */
sqclaim_rc rp_init(rp_conn *c, const rp_transport *tp, void *t, const char *prefix, sqb_err *err);

/* rp_init with the prefix of opts->key_prefix, else $SQCLAIM_KEY_PREFIX,
 * else "".  An invalid prefix is SQCLAIM_ECONFIG naming where it came
 * from (an open error: the configuration is wrong). */
sqclaim_rc rp_open(rp_conn *c, const rp_transport *tp, void *t, const sqclaim_options *opts,
                   sqb_err *err);

/* The backend operations (see core/backend.h for their semantics).  A
 * reply of a script that does not decode is SQCLAIM_EPROTOCOL with
 * err->maybe_applied set: the server ran the script, and what it did is
 * unknown, so the core retries with the same token (idempotent) or
 * reports a claim as uncertain. */
sqclaim_rc rp_claim(rp_conn *c, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err);
sqclaim_rc rp_renew(rp_conn *c, const sqb_lease_req *req, sqb_err *err);
sqclaim_rc rp_release(rp_conn *c, const sqb_lease_req *req, sqb_err *err);
sqclaim_rc rp_reserve(rp_conn *c, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err);
sqclaim_rc rp_finish(rp_conn *c, const sqb_lease_req *req, sqb_err *err);
/* SCAN (never KEYS) for sq:* and refund:*, then batched reads (one
 * pipeline of GET+PTTL per SCAN page); keys of another type get one more
 * pipeline of TYPE. */
sqclaim_rc rp_status(rp_conn *c, sqclaim_status *out, sqb_err *err);
/* The operator tools (core/backend.h, version 2): inspect is one pipeline
 * of GET, PTTL, TYPE for both keys; counters one pipeline of GET, TYPE for
 * both counters; break and raise_cursor are scripts. */
sqclaim_rc rp_inspect(rp_conn *c, const char *sq, sqclaim_entry *out, sqb_err *err);
sqclaim_rc rp_break(rp_conn *c, const sqb_break_req *req, unsigned *removed, sqb_err *err);
sqclaim_rc rp_counters(rp_conn *c, sqclaim_counters *out, sqb_err *err);
sqclaim_rc rp_raise_cursor(rp_conn *c, uint64_t row, uint64_t *cursor, sqb_err *err);
sqclaim_rc rp_ping(rp_conn *c, sqb_err *err);

/* Map a Redis error reply's text (text[0..len), e.g. "NOSCRIPT …",
 * "WRONGPASS …", "LOADING …") to a failure: NOAUTH/WRONGPASS/NOPERM (and
 * "ERR Protocol error: unauthenticated …") -> EAUTH; "… limit exceeded" / "max request size"
 * (Upstash) -> EQUOTA; LOADING/BUSY/TRYAGAIN/MASTERDOWN/CLUSTERDOWN and "ERR max number of clients
 * reached" -> ESERVER with transient set (the server did not run the command); anything else (OOM,
 * READONLY, script errors) -> ESERVER.  The message carries the server's text. Returns the code,
 * err filled. */
sqclaim_rc rp_server_error(const char *text, size_t len, sqb_err *err);

/* Replace every occurrence of secret (a password, a token) in the
 * NUL-terminated s[size] with "***" (in place; a secret shorter than 3
 * bytes is masked byte for byte).  NULL or "" secret: no-op.  Transports
 * run it over every server text that can reach a message. */
void rp_redact(char *s, size_t size, const char *secret);

/* Make a server's text (or a message quoting one) safe to show, in place
 * in the NUL-terminated s[size]: Redis's quotation of a refused command's
 * arguments ("…, with args beginning with: 'a' 'b'") is replaced by
 * " (not shown)", and every run of 32 or more hex digits (a lease token)
 * by "***".  Transports run it over every server text that can reach a
 * message; the RP_BACKEND_OPS entries run it (and rp_redact with the
 * request's lease token) over every failure message they return. */
void rp_scrub(char *s, size_t size);

/* SHA-1 (40 hex digits) of script `which` (0 claim, 1 renew, 2 release,
 * 3 reserve, 4 finish, 5 break, 6 raise-cursor); NULL for any other
 * number.  For tests. */
const char *rp_script_sha(int which);
/* The text of script `which` (numbered as above); NULL for any other
 * number.  For tests. */
const char *rp_script_text(int which);

/* Backend table entries for a transport whose connection object (the
 * backend's `void *conn`) has its rp_conn as FIRST member: each casts conn
 * to rp_conn * and calls the rp_ operation.  Use as
 *   const sqclaim_backend b = { ..., .open = x_open, .close = x_close,
 *                               RP_BACKEND_OPS, .stats = x_stats };  */
sqclaim_rc rp_be_ping(void *conn, sqb_err *err);
sqclaim_rc rp_be_claim(void *conn, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err);
sqclaim_rc rp_be_renew(void *conn, const sqb_lease_req *req, sqb_err *err);
sqclaim_rc rp_be_release(void *conn, const sqb_lease_req *req, sqb_err *err);
sqclaim_rc rp_be_reserve(void *conn, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err);
sqclaim_rc rp_be_finish(void *conn, const sqb_lease_req *req, sqb_err *err);
sqclaim_rc rp_be_status(void *conn, sqclaim_status *out, sqb_err *err);
sqclaim_rc rp_be_inspect(void *conn, const char *sq, sqclaim_entry *out, sqb_err *err);
sqclaim_rc rp_be_break(void *conn, const sqb_break_req *req, unsigned *removed, sqb_err *err);
sqclaim_rc rp_be_counters(void *conn, sqclaim_counters *out, sqb_err *err);
sqclaim_rc rp_be_raise_cursor(void *conn, uint64_t row, uint64_t *cursor, sqb_err *err);
#define RP_BACKEND_OPS                                                                             \
    .ping = rp_be_ping, .claim = rp_be_claim, .renew = rp_be_renew, .release = rp_be_release,      \
    .reserve = rp_be_reserve, .finish = rp_be_finish, .status = rp_be_status,                      \
    .inspect = rp_be_inspect, .break_sq = rp_be_break, .counters = rp_be_counters,                 \
    .raise_cursor = rp_be_raise_cursor

/* Define `const sqclaim_backend var`, the whole table of a backend that
 * runs this layer over a transport to a real Redis (the `redis` and
 * `vercel` backends): shared across processes, persistent, sees values
 * other tools wrote, counts round trips; open/close/stats are the transport's
 * and every operation is RP_BACKEND_OPS.  Use as
 *   RP_TRANSPORT_BACKEND(sqclaim_backend_x, "x", "what it is", x_open, x_close, x_stats); */
#define RP_TRANSPORT_BACKEND(var, name_, summary_, open_, close_, stats_)                          \
    const sqclaim_backend var = {                                                                  \
        .version = SQB_VERSION,                                                                    \
        .name = name_,                                                                             \
        .summary = summary_,                                                                       \
        .caps = SQCLAIM_CAP_CROSS_PROCESS | SQCLAIM_CAP_PERSISTENT | SQCLAIM_CAP_FOREIGN |         \
                SQCLAIM_CAP_STATS,                                                                 \
        .open = open_,                                                                             \
        .close = close_,                                                                           \
        RP_BACKEND_OPS,                                                                            \
        .stats = stats_,                                                                           \
    }

#endif
