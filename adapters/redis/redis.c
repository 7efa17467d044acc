/* redis.c — the `redis` backend: the protocol layer (adapters/redisproto)
 * over one hiredis connection per handle, TCP or unix socket.
 *
 * hiredis 0.14 is used for connecting, command formatting and reply
 * parsing; the bytes are written and read here (send(MSG_NOSIGNAL),
 * recv() after poll()), for three reasons: a write to a connection the
 * server has closed must not raise SIGPIPE in the bot's process;
 * timeout_ms bounds the whole exchange, not each read (hiredis's socket
 * timeouts apply per read(), so a server trickling a reply would never
 * trip them); and the error classification the core's retry loop needs
 * depends on WHEN a failure happened:
 *
 *   - before the request was completely handed to the kernel (connect
 *     refused or timed out, AUTH failed, a send error): the server cannot
 *     have run it (a partial command on a connection we then close is
 *     discarded) -> transient, maybe_applied = false;
 *   - after it was written (reply timed out, EOF, reset): the server may
 *     have run it -> maybe_applied = true; the core re-sends the same
 *     token, which the scripts make idempotent.
 *
 * A broken connection is dropped and re-established lazily on the next
 * call.  Before each request a zero-timeout poll() checks whether the
 * server has closed an idle connection (restart, idle timeout): that is
 * found before writing, so it costs a reconnect, not an ambiguous reply.
 */
#include "../redisproto/proto.h"
#include "reply.h"
#include "url.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

typedef struct rconn {
    rp_conn proto; /* first: the protocol layer's entries (RP_BACKEND_OPS) cast to it */
    redis_url url;
    char where[300]; /* "127.0.0.1:6379" or "unix:/path": for messages */
    int connect_timeout_ms;
    int timeout_ms;
    redisContext *ctx; /* NULL: not connected */
    bool connected_once;
    long long refused_array; /* > 0: the reader refused an array this long */
    uint64_t round_trips, reconnects, ambiguous;
} rconn;

/* hiredis 0.14 allocates an array reply as soon as it reads its header:
 * "*2147483647\r\n" from a broken peer costs a 16 GB calloc (an abort under
 * ASan), and freeing the unfinished reply walks all its slots (seconds).
 * No reply of the protocol comes near RC_MAX_ELEMENTS (reply.h) elements
 * (the largest is a SCAN page, ~200 keys). */

static redisReplyObjectFunctions guarded_fns;
static void *(*default_create_array)(const redisReadTask *, int);
static pthread_once_t guarded_once = PTHREAD_ONCE_INIT;

static void *guarded_create_array(const redisReadTask *task, int elements)
{
    if (elements > RC_MAX_ELEMENTS) {
        long long *refused = task->privdata;
        if (refused)
            *refused = elements;
        return NULL; /* the reader stops with an error */
    }
    return default_create_array(task, elements);
}

static void guarded_init(void)
{
    redisReader *r = redisReaderCreate();
    if (!r)
        return;
    guarded_fns = *r->fn;
    default_create_array = guarded_fns.createArray;
    guarded_fns.createArray = guarded_create_array;
    redisReaderFree(r);
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

int redis_reader_guard(redisReader *rd, long long *refused)
{
    pthread_once(&guarded_once, guarded_init);
    if (!default_create_array || !rd)
        return -1;
    rd->fn = &guarded_fns;
    rd->privdata = refused;
    return 0;
}

bool redis_reader_unparsed(const redisReader *rd) { return rd && rd->len > rd->pos; }

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop(rconn *rc)
{
    if (rc->ctx) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
}

/* Has the server closed (or written unsolicited bytes on) the idle
 * connection?  Then it cannot be used. */
static bool stale(const rconn *rc)
{
    struct pollfd p = {rc->ctx->fd, POLLIN, 0};
    int n = poll(&p, 1, 0);
    if (n == 0)
        return false;
    if (n < 0)
        return errno != EINTR;
    char b;
    ssize_t r = recv(rc->ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    return true; /* EOF, error, or data nobody asked for */
}

/* Wait until fd is ready for `events` or the deadline (mono_ms) passes:
 * 1 ready, 0 timed out, -1 error (errno set). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Write all of buf before the deadline.  OK, or a failure before the
 * request was complete (never applied). */
static sqclaim_rc send_all(rconn *rc, const char *buf, size_t len, int64_t deadline, sqb_err *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(rc->ctx->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = n < 0 ? errno : EIO;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            int w = wait_fd(rc->ctx->fd, POLLOUT, deadline);
            if (w > 0)
                continue;
            e = w == 0 ? ETIMEDOUT : errno;
        }
        drop(rc);
        err->transient = true;
        if (e == ETIMEDOUT)
            return sqb_seterr(err, SQCLAIM_ETIMEOUT,
                              "redis %s: could not send the request within %d ms", rc->where,
                              rc->timeout_ms);
        return sqb_seterr(err, SQCLAIM_EIO, "redis %s: sending the request failed: %s", rc->where,
                          strerror(e));
    }
    return SQCLAIM_OK;
}

/* Why reading a reply failed. */
typedef enum read_fail { RF_TIMEOUT, RF_EOF, RF_IO, RF_OOM, RF_PROTOCOL } read_fail;

/* Classify a read failure and drop the connection.  `applied`: a protocol
 * request had been written (ambiguous outcome).  e: errno for RF_IO;
 * text: hiredis's description for RF_PROTOCOL. */
static sqclaim_rc read_failed(rconn *rc, read_fail kind, int e, const char *text, bool applied,
                              sqb_err *err)
{
    char detail[128];
    sqb_strlcpy(detail, text ? text : "", sizeof detail);
    drop(rc);
    err->transient = true;
    err->maybe_applied = applied;
    if (applied)
        rc->ambiguous++;
    const char *tail = applied ? "; the request may have been applied" : "";
    switch (kind) {
    case RF_TIMEOUT:
        return sqb_seterr(err, SQCLAIM_ETIMEOUT, "redis %s: no reply within %d ms%s", rc->where,
                          rc->timeout_ms, tail);
    case RF_EOF:
        return sqb_seterr(err, SQCLAIM_EIO, "redis %s: the server closed the connection%s",
                          rc->where, tail);
    case RF_OOM:
        return sqb_seterr(err, SQCLAIM_ENOMEM, "redis %s: out of memory reading the reply%s",
                          rc->where, tail);
    case RF_PROTOCOL:
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "redis %s: malformed reply (%s)%s", rc->where,
                          detail, tail);
    case RF_IO: break;
    }
    return sqb_seterr(err, SQCLAIM_EIO, "redis %s: reading the reply failed: %s%s", rc->where,
                      strerror(e), tail);
}

/* Read one reply into *raw before the deadline.  hiredis only parses:
 * the bytes are read here, so that timeout_ms bounds the whole exchange
 * (hiredis's own SO_RCVTIMEO applies per read(), and a server trickling a
 * reply byte by byte would never trip it). */
static sqclaim_rc read_reply(rconn *rc, int64_t deadline, bool applied, void **raw, sqb_err *err)
{
    *raw = NULL;
    for (;;) {
        if (redisGetReplyFromReader(rc->ctx, raw) != REDIS_OK) {
            if (rc->refused_array > 0) {
                char what[64];
                snprintf(what, sizeof what, "an array of %lld elements", rc->refused_array);
                return read_failed(rc, RF_PROTOCOL, 0, what, applied, err);
            }
            return read_failed(rc, rc->ctx->err == REDIS_ERR_OOM ? RF_OOM : RF_PROTOCOL, 0,
                               rc->ctx->errstr, applied, err);
        }
        if (*raw)
            return SQCLAIM_OK;
        int w = wait_fd(rc->ctx->fd, POLLIN, deadline);
        if (w <= 0)
            return read_failed(rc, w == 0 ? RF_TIMEOUT : RF_IO, errno, NULL, applied, err);
        char buf[16384];
        ssize_t n = recv(rc->ctx->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return read_failed(rc, RF_EOF, 0, NULL, applied, err);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return read_failed(rc, RF_IO, errno, NULL, applied, err);
        }
        if (redisReaderFeed(rc->ctx->reader, buf, (size_t)n) != REDIS_OK)
            return read_failed(rc, RF_OOM, 0, NULL, applied, err);
    }
}

/* Are there bytes after the replies the request asked for: unparsed in
 * the reader's buffer, or already waiting on the socket?  A server that
 * sends more than was asked (a second reply, part of one) is out of step
 * with us: the next reply read on this connection could belong to another
 * request, so the connection must not be used again. */
static bool unsolicited_bytes(const rconn *rc)
{
    if (redis_reader_unparsed(rc->ctx->reader))
        return true;
    char b;
    ssize_t n = recv(rc->ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0; /* 0: the server closed after replying (found before the next request) */
}

/* hiredis reply -> rp_reply.  0 OK, -1 out of memory, -2 unknown type. */
int redis_reply_convert(const redisReply *r, rp_reply **out)
{
    *out = NULL;
    rp_reply *x = NULL;
    if (!r)
        return -2;
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        x = rp_reply_str(RP_STR, r->str ? r->str : "", r->str ? (size_t)r->len : 0);
        break;
    case REDIS_REPLY_ERROR:
        x = rp_reply_str(RP_ERR, r->str ? r->str : "", r->str ? (size_t)r->len : 0);
        break;
    case REDIS_REPLY_INTEGER:
        x = rp_reply_new(RP_INT);
        if (x)
            x->integer = r->integer;
        break;
    case REDIS_REPLY_NIL: x = rp_reply_new(RP_NIL); break;
    case REDIS_REPLY_ARRAY:
        x = rp_reply_new(RP_ARR);
        if (!x)
            return -1;
        if (r->elements > 0) {
            x->elem = calloc(r->elements, sizeof *x->elem);
            if (!x->elem) {
                free(x);
                return -1;
            }
            x->n = r->elements;
            for (size_t i = 0; i < r->elements; i++) {
                int c = redis_reply_convert(r->element[i], &x->elem[i]);
                if (c != 0) {
                    rp_reply_free(x);
                    return c;
                }
            }
        }
        break;
    default: return -2;
    }
    if (!x)
        return -1;
    *out = x;
    return 0;
}

/* Format cmds into one buffer (*out, *outlen).  OK or ENOMEM. */
static sqclaim_rc format_all(size_t n, const rp_cmd *cmds, char **out, size_t *outlen, sqb_err *err)
{
    char *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char *one = NULL;
        int len = redisFormatCommandArgv(&one, cmds[i].argc, cmds[i].argv, cmds[i].argvlen);
        if (len < 0) {
            free(all);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory formatting a request");
        }
        char *grown = realloc(all, total + (size_t)len);
        if (!grown) {
            redisFreeCommand(one);
            free(all);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory formatting a request");
        }
        all = grown;
        memcpy(all + total, one, (size_t)len);
        total += (size_t)len;
        redisFreeCommand(one);
    }
    *out = all;
    *outlen = total;
    return SQCLAIM_OK;
}

/* Send formatted requests and read n replies, all within timeout_ms.
 * `applied`: whether a lost reply leaves the outcome ambiguous (protocol
 * requests) or not (the AUTH/SELECT handshake).  On failure every
 * replies[i] is NULL. */
static sqclaim_rc exchange(rconn *rc, const char *buf, size_t len, size_t n, rp_reply **replies,
                           bool applied, sqb_err *err)
{
    int64_t deadline = mono_ms() + rc->timeout_ms;
    sqclaim_rc r = send_all(rc, buf, len, deadline, err);
    if (r != SQCLAIM_OK)
        return r;
    rc->round_trips++;
    for (size_t i = 0; i < n; i++) {
        void *raw = NULL;
        r = read_reply(rc, deadline, applied, &raw, err);
        int c = r == SQCLAIM_OK ? redis_reply_convert(raw, &replies[i]) : 0;
        if (raw)
            freeReplyObject(raw);
        if (c == 0 && replies[i] && replies[i]->type == RP_ERR) {
            /* An error text may end up in a message: never with the
             * password in it (a proxy may quote the AUTH it refused),
             * nor a lease token (Redis quotes refused arguments). */
            rp_redact(replies[i]->str, replies[i]->len + 1, rc->url.password);
            rp_scrub(replies[i]->str, replies[i]->len + 1);
            replies[i]->len = strlen(replies[i]->str);
        }
        if (r != SQCLAIM_OK || c != 0) {
            for (size_t k = 0; k < i; k++) {
                rp_reply_free(replies[k]);
                replies[k] = NULL;
            }
            if (r != SQCLAIM_OK)
                return r;
            /* The rest of the replies are still on the wire: resync by
             * reconnecting. */
            drop(rc);
            err->maybe_applied = applied;
            if (applied)
                rc->ambiguous++;
            if (c == -1)
                return sqb_seterr(err, SQCLAIM_ENOMEM, "redis %s: out of memory reading a reply",
                                  rc->where);
            return sqb_seterr(err, SQCLAIM_EPROTOCOL, "redis %s: reply of an unknown type",
                              rc->where);
        }
    }
    if (unsolicited_bytes(rc)) {
        /* Never let them be read as the reply to a later request (e.g. a
         * grant after a NOSCRIPT, taken as the reply to the EVAL). */
        for (size_t k = 0; k < n; k++) {
            rp_reply_free(replies[k]);
            replies[k] = NULL;
        }
        return read_failed(rc, RF_PROTOCOL, 0,
                           "bytes nobody asked for followed the reply; the connection is out "
                           "of step and was closed",
                           applied, err);
    }
    return SQCLAIM_OK;
}

/* AUTH and SELECT in one round trip. */
static sqclaim_rc handshake(rconn *rc, sqb_err *err)
{
    rp_cmd cmds[2];
    size_t n = 0;
    const char *auth[3];
    size_t authlen[3];
    char dbtext[16];
    const char *sel[2] = {"SELECT", dbtext};
    size_t sellen[2] = {6, 0};
    if (rc->url.password[0]) {
        int k = 0;
        auth[k] = "AUTH";
        authlen[k++] = 4;
        if (rc->url.user[0]) {
            auth[k] = rc->url.user;
            authlen[k++] = strlen(rc->url.user);
        }
        auth[k] = rc->url.password;
        authlen[k++] = strlen(rc->url.password);
        cmds[n++] = (rp_cmd){k, auth, authlen};
    }
    if (rc->url.db != 0) {
        snprintf(dbtext, sizeof dbtext, "%d", rc->url.db);
        sellen[1] = strlen(dbtext);
        cmds[n++] = (rp_cmd){2, sel, sellen};
    }
    if (n == 0)
        return SQCLAIM_OK;
    char *buf = NULL;
    size_t len = 0;
    sqclaim_rc r = format_all(n, cmds, &buf, &len, err);
    if (r != SQCLAIM_OK)
        return r;
    rp_reply *replies[2] = {NULL, NULL};
    r = exchange(rc, buf, len, n, replies, false, err);
    if (buf)
        memset(buf, 0, len); /* it held the password */
    free(buf);
    if (r != SQCLAIM_OK)
        return r;
    size_t i = 0;
    if (rc->url.password[0]) {
        const rp_reply *a = replies[i++];
        if (a->type == RP_ERR) {
            char detail[200];
            sqb_strlcpy(detail, a->str, sizeof detail);
            r = sqb_seterr(err, SQCLAIM_EAUTH,
                           "redis %s: authentication failed (check the user and password in "
                           "the URL): %s",
                           rc->where, detail);
        }
    }
    if (r == SQCLAIM_OK && rc->url.db != 0) {
        const rp_reply *s = replies[i];
        if (s->type == RP_ERR) {
            if (strncmp(s->str, "NOAUTH", 6) == 0) {
                r = rp_server_error(s->str, s->len, err);
            } else {
                char detail[200];
                sqb_strlcpy(detail, s->str, sizeof detail);
                r = sqb_seterr(err, SQCLAIM_ECONFIG, "redis %s: SELECT %d failed: %s", rc->where,
                               rc->url.db, detail);
            }
        }
    }
    rp_reply_free(replies[0]);
    rp_reply_free(replies[1]);
    if (r != SQCLAIM_OK) {
        err->transient = false;
        drop(rc);
    }
    return r;
}

static sqclaim_rc connect_now(rconn *rc, sqb_err *err)
{
    struct timeval tv = ms_tv(rc->connect_timeout_ms);
    errno = 0;
    redisContext *ctx = rc->url.is_unix ? redisConnectUnixWithTimeout(rc->url.path, tv)
                                        : redisConnectWithTimeout(rc->url.host, rc->url.port, tv);
    int saved = errno;
    if (!ctx)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "redis %s: out of memory connecting", rc->where);
    if (ctx->err) {
        char text[128];
        sqb_strlcpy(text, ctx->errstr, sizeof text);
        redisFree(ctx);
        err->transient = true;
        if (saved == ETIMEDOUT || strstr(text, "timed out"))
            return sqb_seterr(err, SQCLAIM_ETIMEOUT, "redis %s: could not connect within %d ms",
                              rc->where, rc->connect_timeout_ms);
        return sqb_seterr(err, SQCLAIM_EIO, "redis %s: could not connect: %s", rc->where, text);
    }
    if (!rc->url.is_unix)
        (void)redisEnableKeepAlive(ctx); /* find dead peers of idle handles */
    rc->refused_array = 0;
    (void)redis_reader_guard(ctx->reader, &rc->refused_array);
    rc->ctx = ctx;
    sqclaim_rc r = handshake(rc, err);
    if (r != SQCLAIM_OK)
        return r;
    if (rc->connected_once)
        rc->reconnects++;
    rc->connected_once = true;
    return SQCLAIM_OK;
}

static sqclaim_rc ensure(rconn *rc, sqb_err *err)
{
    if (rc->ctx && stale(rc))
        drop(rc);
    if (rc->ctx)
        return SQCLAIM_OK;
    return connect_now(rc, err);
}

/* ------------------------------------------------------------------ */
/* The transport for the protocol layer                                 */

static sqclaim_rc t_pipeline(void *t, size_t n, const rp_cmd *cmds, rp_reply **replies,
                             sqb_err *err)
{
    rconn *rc = t;
    if (rp_pipeline_empty(n, replies))
        return SQCLAIM_OK;
    sqclaim_rc r = ensure(rc, err);
    if (r != SQCLAIM_OK)
        return r;
    char *buf = NULL;
    size_t len = 0;
    r = format_all(n, cmds, &buf, &len, err);
    if (r != SQCLAIM_OK)
        return r;
    r = exchange(rc, buf, len, n, replies, true, err);
    free(buf);
    return r;
}

static sqclaim_rc t_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    *out = NULL;
    return t_pipeline(t, 1, cmd, out, err);
}

static const rp_transport hiredis_transport = {
    .command = t_command,
    .pipeline = t_pipeline,
};

/* ------------------------------------------------------------------ */
/* Backend                                                              */

static sqclaim_rc redis_open(const sqclaim_options *opts, void **out, sqb_err *err)
{
    *out = NULL;
    const char *url = opts->redis_url && *opts->redis_url ? opts->redis_url : NULL;
    const char *source = "the redis_url option";
    if (!url) {
        url = sqb_getenv("REDIS_URL");
        source = "$REDIS_URL";
    }
    if (!url) {
        url = "redis://127.0.0.1:6379";
        source = "the default URL";
    }
    rconn *rc = calloc(1, sizeof *rc);
    if (!rc)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    sqclaim_rc r = redis_url_parse(url, source, &rc->url, err);
    if (r != SQCLAIM_OK) {
        memset(rc, 0, sizeof *rc);
        free(rc);
        return r;
    }
    r = rp_open(&rc->proto, &hiredis_transport, rc, opts, err);
    if (r != SQCLAIM_OK) {
        memset(rc, 0, sizeof *rc);
        free(rc);
        return r;
    }
    if (rc->url.is_unix)
        snprintf(rc->where, sizeof rc->where, "unix:%s", rc->url.path);
    else if (strchr(rc->url.host, ':'))
        snprintf(rc->where, sizeof rc->where, "[%s]:%d", rc->url.host, rc->url.port);
    else
        snprintf(rc->where, sizeof rc->where, "%s:%d", rc->url.host, rc->url.port);
    /* The core has put its defaults into zero timeouts (store.c, the one
     * place they are set); the backend is only ever opened through it. */
    rc->connect_timeout_ms = opts->connect_timeout_ms;
    rc->timeout_ms = opts->timeout_ms;
    *out = rc;
    return SQCLAIM_OK;
}

static void redis_close(void *conn)
{
    rconn *rc = conn;
    if (!rc)
        return;
    drop(rc);
    memset(rc, 0, sizeof *rc); /* the password */
    free(rc);
}

static void redis_stats(void *conn, sqclaim_stats *out)
{
    const rconn *rc = conn;
    out->round_trips = rc->round_trips;
    out->reconnects = rc->reconnects;
    out->ambiguous = rc->ambiguous;
}

RP_TRANSPORT_BACKEND(sqclaim_backend_redis, "redis",
                     "a Redis server (hiredis; redis://host:port[/db] or unix:///path)", redis_open,
                     redis_close, redis_stats);
