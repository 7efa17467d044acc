/*
 * kvrest.h — internal interfaces of kvrest, the local Upstash / Vercel KV
 * REST server in front of a real redis-server (see docs/kvrest.md).
 *
 *   buf.c       growable byte buffer, allocation helpers
 *   json.c      JSON string escaping, base64, redis reply -> JSON
 *   cmdparse.c  request bodies and paths -> redis argument vectors
 *   commands.c  command classes (read allowlist, refused commands)
 *   pool.c      pool of hiredis connections
 *   server.c    HTTP routes, auth, faults (libmicrohttpd)
 *   admin.c     the admin API (/_kvrest/stats, /_kvrest/faults)
 *   main.c      command line, startup, signals, shutdown
 */
#ifndef KVREST_H
#define KVREST_H

#include "util/squtil.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define KVREST_NAME "kvrest"

#if defined(__GNUC__)
#define KV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KV_PRINTF(a, b)
#endif

/* ---- buf.c ------------------------------------------------------------ */

/* Allocation helpers: kvrest aborts on out-of-memory (a test server; all
 * inputs are bounded by --max-body). */
void *kv_xmalloc(size_t n);
void *kv_xcalloc(size_t n, size_t size);
void *kv_xrealloc(void *p, size_t n);
char *kv_xstrdup(const char *s);

/* The tree's one growable buffer (core/util/squtil.h); kvrest's appends
 * abort when memory runs out, as its other allocations do. */
typedef sq_buf kv_buf;

void kv_buf_add(kv_buf *b, const void *p, size_t n);
void kv_buf_adds(kv_buf *b, const char *s);
void kv_buf_addc(kv_buf *b, char c);
void kv_buf_addf(kv_buf *b, const char *fmt, ...) KV_PRINTF(2, 3);
void kv_buf_free(kv_buf *b);

/* ---- json.c ----------------------------------------------------------- */

/* Append s[0..n) as a quoted JSON string: sq_buf_json (squtil.h), whose
 * every maximal invalid UTF-8 subsequence becomes U+FFFD (the WHATWG /
 * Node.js rule), so the output is always valid JSON.  Aborts when memory
 * runs out, as every kv_buf append does. */
void kv_json_string(kv_buf *b, const char *s, size_t n);

/* Append the standard padded base64 of s[0..n) (no quotes). */
void kv_base64(kv_buf *b, const unsigned char *s, size_t n);

/* Append a redis reply as JSON.  b64: Upstash-Encoding: base64 (every
 * string at every depth is base64, except a top-level "OK").  top: r is
 * the result of one command (not an element of an array). */
void kv_json_reply(kv_buf *b, const redisReply *r, bool b64, bool top);

/* {"error":"<text>"} */
void kv_json_error(kv_buf *b, const char *text, size_t n);

/* ---- cmdparse.c ------------------------------------------------------- */

typedef struct kv_cmd {
    int argc;
    const char **argv;
    const size_t *argvlen;
} kv_cmd;

typedef struct kv_cmds {
    kv_cmd *cmd; /* n commands */
    size_t n;
    const char **argv; /* all arguments of all commands */
    size_t *argvlen;
    size_t nargs, capargs;
    size_t *first; /* index of each command's first argument */
    size_t capcmds;
    char *arena; /* decoded argument bytes, each NUL-terminated */
    size_t arena_len, arena_cap;
} kv_cmds;

/* Parse a JSON request body.  nested=false: one command, ["SET","k",1].
 * nested=true: a list of commands, [["SET","k",1],["GET","k"]].
 * Arguments may be strings, numbers (kept by their literal text) or
 * booleans ("true"/"false").  Returns 0, or -1 with a Redis-style error
 * text ("ERR …") in err. */
int kv_parse_commands(kv_cmds *out, const char *body, size_t len, bool nested, char *err,
                      size_t errlen);

/* Path style: "/set/foo/bar" (raw, still %-encoded) -> SET foo bar; if
 * body is non-empty it is appended as the last argument.  Returns 0 or -1
 * with err. */
int kv_path_command(kv_cmds *out, const char *path, const char *body, size_t bodylen, char *err,
                    size_t errlen);

void kv_cmds_free(kv_cmds *c);

/* Percent-decode s in place ("%41" -> "A"; malformed escapes are kept as
 * they are; '+' is not touched).  Returns the new length. */
size_t kv_percent_decode(char *s, size_t n);

/* ---- commands.c ------------------------------------------------------- */

typedef enum kv_cmdclass {
    KV_CLASS_WRITE = 0, /* anything not known to be a pure read */
    KV_CLASS_READ,      /* on the read-only token's allowlist */
    KV_CLASS_REFUSED    /* would change the pooled connection's state */
} kv_cmdclass;

kv_cmdclass kv_classify(const char *name, size_t len);

/* ---- pool.c ----------------------------------------------------------- */

typedef struct kv_redis_addr {
    char host[256]; /* TCP host ("" when unix) */
    int port;
    char unix_path[512]; /* "" when TCP */
    char *password;      /* NULL or the AUTH password (never logged) */
    int timeout_ms;      /* connect and command timeout */
} kv_redis_addr;

typedef struct kv_pool kv_pool;

kv_pool *kv_pool_new(const kv_redis_addr *addr, int size);

/* A connected context, held exclusively until kv_pool_release.  Waits up
 * to the redis timeout for a free slot.  NULL with a message in err when
 * redis cannot be reached (or the pool is shutting down). */
redisContext *kv_pool_acquire(kv_pool *p, char *err, size_t errlen);

/* Give the context back.  A context with an error, or broken=true, is
 * closed and the slot reconnects on its next use. */
void kv_pool_release(kv_pool *p, redisContext *c, bool broken);

/* Wake every waiter; later acquires fail. */
void kv_pool_shutdown(kv_pool *p);
void kv_pool_free(kv_pool *p);

/* Human text for a context error ("timed out" for EAGAIN timeouts). */
void kv_redis_errtext(const redisContext *c, char *out, size_t outlen);

/* ---- gate.c ----------------------------------------------------------- */

/* The front door: accepts connections on a listening socket and checks
 * each one's first request line (peeking) before handing it over.  A line
 * that cannot start an HTTP/1.x request gets a JSON 400 and the
 * connection is closed; no complete line within 10 s gets a 408. */
typedef struct kv_gate_ops {
    void *cls;
    /* Take over fd (the request line is valid; nothing was read). */
    void (*handoff)(void *cls, int fd, const struct sockaddr *addr, socklen_t addrlen);
    /* The current upstash-sync-token, for the refusals' headers. */
    void (*sync_token)(void *cls, char *buf, size_t len);
} kv_gate_ops;

typedef struct kv_gate kv_gate;

/* Start the gate's thread on lfd (made non-blocking; still owned by the
 * caller).  NULL on failure. */
kv_gate *kv_gate_start(int lfd, const kv_gate_ops *ops);
/* Stop the thread, close the connections still in the gate. */
void kv_gate_stop(kv_gate *g);

/* buf[0..n): the start of what a client sent.  1: a complete, valid
 * HTTP/1.x request line (after at most 4 empty lines); 0: a valid start,
 * incomplete; -1: not a request line (a method that is not a token, a
 * control byte or space in the target, a version other than HTTP/d.d,
 * anything after it). */
int kv_request_line_check(const char *buf, size_t n);

/* ---- server.c --------------------------------------------------------- */

typedef struct kv_faults {
    long latency_ms;
    long jitter_ms;
    double fail_rate;
    double drop_rate;
    double stall_rate;
    long stall_ms;
    unsigned long long quota; /* 0 = unlimited */
    uint64_t seed;
} kv_faults;

typedef struct kv_options {
    const char *listen;    /* address to bind */
    int port;              /* 0 = ephemeral */
    const char *port_file; /* NULL or where to write the port */
    kv_redis_addr redis;
    const char *token;    /* full-access bearer token */
    const char *ro_token; /* NULL or read-only token */
    size_t max_body;
    int threads; /* 0 = thread per connection, else pool size */
    int pool;    /* redis connections */
    bool quiet;
    kv_faults faults;
} kv_options;

typedef struct kv_server kv_server;

/* Start listening.  Returns NULL with a message on stderr on failure. */
kv_server *kv_server_start(const kv_options *opt);
int kv_server_port(const kv_server *s);
/* Wake sleepers (latency, stall), stop accepting, finish the requests in
 * flight, free everything. */
void kv_server_stop(kv_server *s);

#endif
