/*
 * keyspace.h — an in-process Redis keyspace for the deterministic
 * simulator: the data types, expiry and commands the claim scripts (and
 * tests) use, with Redis 7.0's semantics and exact reply and error texts.
 *
 * Deterministic by construction: no clock of its own (the caller sets the
 * time before each top-level command with det_ks_set_time), no randomness,
 * no threads, no global state.  Several keyspaces live side by side.
 * Not thread-safe: one keyspace is used by one thread at a time (the store
 * in transport.h serialises access when asked to).
 *
 * Expiry is Redis's: a key with an expiry time T (Unix-style milliseconds
 * on the caller's clock) is live while now <= T and gone once now > T.
 * Expired keys are invisible to every command (KEYS, SCAN and DBSIZE
 * included): set_time removes every key whose time has passed, in order,
 * and each lookup checks again.  Time stands still between two set_time
 * calls, so a script sees one instant from start to end (Redis 7).
 *
 * Replies are written into a det_reply: a flat, reusable buffer of nodes
 * in preorder (an array node is followed by its elements), so a command
 * allocates nothing once the buffers have grown.
 */
#ifndef SQCLAIM_DET_KEYSPACE_H
#define SQCLAIM_DET_KEYSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Replies                                                              */

typedef enum det_rtype {
    DET_NIL = 0, /* nil bulk ($-1) */
    DET_INT,     /* :n */
    DET_BULK,    /* $len bytes */
    DET_STATUS,  /* +text */
    DET_ERR,     /* -text (text without the '-') */
    DET_ARR      /* *n, followed by n elements */
} det_rtype;

typedef struct det_rnode {
    det_rtype type;
    long long v;     /* DET_INT: the value; DET_ARR: the number of elements */
    size_t off, len; /* strings: bytes at buf + off */
} det_rnode;

typedef struct det_reply {
    det_rnode *node;
    size_t n, cap;
    char *buf;
    size_t used, bufcap;
    bool oom; /* an allocation failed: the reply is incomplete */
} det_reply;

void det_reply_init(det_reply *r);
void det_reply_reset(det_reply *r); /* empty, buffers kept */
void det_reply_free(det_reply *r);

void det_reply_nil(det_reply *r);
void det_reply_int(det_reply *r, long long v);
void det_reply_bulk(det_reply *r, const char *s, size_t len);
/* Status and error texts have CR and LF replaced by spaces, as Redis does
 * for every status and error reply it sends. */
void det_reply_status(det_reply *r, const char *s, size_t len);
void det_reply_err(det_reply *r, const char *s, size_t len);
void det_reply_errf(det_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An array of n elements; the caller appends them next. */
void det_reply_arr(det_reply *r, long long n);
/* An array whose length is known later: returns its node index for
 * det_reply_arr_set. */
size_t det_reply_arr_open(det_reply *r);
void det_reply_arr_set(det_reply *r, size_t idx, long long n);

/* Index of the node after the subtree that starts at node i. */
size_t det_reply_next(const det_reply *r, size_t i);
static inline const char *det_reply_str(const det_reply *r, size_t i)
{
    return r->buf + r->node[i].off;
}

/* Append the RESP2 encoding of the subtree at node i to *out (a malloc'd
 * buffer of *cap bytes, *len used; grown as needed).  0 or -1 (out of
 * memory). */
int det_reply_resp(const det_reply *r, size_t i, char **out, size_t *len, size_t *cap);

/* ------------------------------------------------------------------ */
/* Keyspace                                                             */

typedef struct det_ks det_ks;

/* The scripting commands (EVAL, EVALSHA, SCRIPT) are dispatched by the
 * keyspace (arity and "not allowed from script" checks) and run by this
 * handler (lua.c).  argv[0] is the command name as sent. */
typedef void (*det_script_fn)(void *ctx, int argc, const char *const *argv, const size_t *lens,
                              det_reply *out);

det_ks *det_ks_new(void); /* NULL: out of memory */
void det_ks_free(det_ks *ks);
void det_ks_set_scripting(det_ks *ks, det_script_fn fn, void *ctx);

/* Set the time for the next command(s): now_ns on the store's clock,
 * read as nanoseconds since the Unix epoch (TIME answers it; expiry uses
 * whole milliseconds of it).  Removes every key whose expiry has passed.
 * Time never goes back: an earlier now_ns is ignored. */
void det_ks_set_time(det_ks *ks, int64_t now_ns);
int64_t det_ks_now_ms(const det_ks *ks);

/* Delete every key (FLUSHALL). */
void det_ks_flush(det_ks *ks);
/* Number of live keys. */
size_t det_ks_size(const det_ks *ks);

/* Run one command as a client would (argv[0] is the name, any case).
 * The reply (possibly an error reply) is appended to out. */
void det_ks_exec(det_ks *ks, int argc, const char *const *argv, const size_t *lens, det_reply *out);

/* Run one command from a script (redis.call).  Returns NULL with the
 * reply appended to out, or the text of a script-level refusal that Redis
 * raises before running the command ("Unknown Redis command called from
 * script", "Wrong number of args calling Redis command from script",
 * "This Redis command is not allowed from script"); then nothing is
 * appended. */
const char *det_ks_exec_script(det_ks *ks, int argc, const char *const *argv, const size_t *lens,
                               det_reply *out);

/* Commands run from scripts so far (each redis.call or redis.pcall that
 * reached a command; Upstash bills each one besides the EVAL itself). */
uint64_t det_ks_script_calls(const det_ks *ks);

/* True if name (any case) is a command of the keyspace. */
bool det_ks_known_command(const det_ks *ks, const char *name, size_t len);

/* Redis's glob matcher (KEYS, SCAN MATCH): * ? [abc] [^a] [a-z] \x.
 * Exposed for tests. */
bool det_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* Redis's strict integer parser (string2ll): no sign but '-', no leading
 * zeros, no spaces, at most 20 characters, within long long. */
bool det_parse_ll(const char *s, size_t len, long long *out);

#endif
