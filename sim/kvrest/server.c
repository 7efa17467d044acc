/*
 * server.c — HTTP side of kvrest: routes, auth, fault injection, quota,
 * statistics and the admin API, on libmicrohttpd (see docs/kvrest.md).
 *
 * Threading: by default one thread per HTTP connection, so a request that
 * blocks (a slow redis call, an injected latency or stall) delays only its
 * own connection.  Shared state: the redis pool (its own lock), the fault
 * settings + PRNG + quota (fmu), counters (atomics), the stop flag (smu).
 */
#include "kvrest.h"
#include "serverint.h"
#include "util/squtil.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* ---- small helpers --------------------------------------------------- */

/* Uniform in [0,1); call with fmu held. */
static double rng_u01(kv_server *s) { return sq_unit(sq_splitmix64(&s->rng)); }

/* Sleep ms, waking early on shutdown.  Returns true if stopping. */
static bool nap(kv_server *s, long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->smu);
    while (!s->stopping)
        if (pthread_cond_timedwait(&s->scv, &s->smu, &dl) == ETIMEDOUT)
            break;
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->smu);
    return stop;
}

/* Compare a presented token with a secret in time that depends only on
 * the secret's length. */
static bool ct_equal(const char *given, size_t glen, const char *secret, size_t slen)
{
    volatile unsigned char d = (unsigned char)(glen != slen);
    for (size_t i = 0; i < slen; i++)
        d |= (unsigned char)(secret[i] ^ (i < glen ? given[i] : 0));
    return d == 0;
}

/* ---- responses ------------------------------------------------------- */

/* Queue body (taken over) with status and the headers every response
 * carries. */
enum MHD_Result kv_respond(kv_server *s, struct MHD_Connection *conn, unsigned status, kv_buf *body)
{
    if (!body->p)
        kv_buf_adds(body, "{}");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        kv_buf_free(body);
        return MHD_NO;
    }
    body->p = NULL;
    body->len = body->cap = 0;
    char sync[32];
    snprintf(sync, sizeof sync, "%llu", kv_get(&s->sync));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "upstash-sync-token", sync);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "HEAD, GET, POST, PUT");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An error after which the connection is closed: the rest of what the
 * client sent cannot be framed (RFC 9112 6.3). */
static enum MHD_Result respond_error_close(kv_server *s, struct MHD_Connection *conn,
                                           unsigned status, const char *text)
{
    kv_buf b = {0};
    kv_json_error(&b, text, strlen(text));
    if (!b.p)
        kv_buf_adds(&b, "{}");
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        kv_buf_free(&b);
        return MHD_NO;
    }
    char sync[32];
    snprintf(sync, sizeof sync, "%llu", kv_get(&s->sync));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "upstash-sync-token", sync);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result kv_respond_error(kv_server *s, struct MHD_Connection *conn, unsigned status,
                                 const char *text)
{
    kv_buf b = {0};
    kv_json_error(&b, text, strlen(text));
    return kv_respond(s, conn, status, &b);
}

/* ---- auth -------------------------------------------------------------- */

role kv_authenticate(kv_server *s, struct MHD_Connection *conn)
{
    const char *tok = NULL;
    size_t len = 0;
    char *q = NULL;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h) {
        while (*h == ' ' || *h == '\t')
            h++;
        if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
            tok = h + 6;
            while (*tok == ' ' || *tok == '\t')
                tok++;
            len = strlen(tok);
            while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
                len--;
        }
    }
    if (!tok) {
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "_token");
        if (v) {
            q = kv_xstrdup(v);
            len = kv_percent_decode(q, strlen(q));
            tok = q;
        }
    }
    role r = ROLE_NONE;
    if (tok) {
        if (ct_equal(tok, len, s->token, s->token_len))
            r = ROLE_FULL;
        else if (s->ro_token && ct_equal(tok, len, s->ro_token, s->ro_len))
            r = ROLE_READONLY;
    }
    if (q) {
        memset(q, 0, len);
        free(q);
    }
    return r;
}

/* ---- executing commands ------------------------------------------------ */

/* Printable, bounded copy of a command name for error texts. */
static void name_for_error(const kv_cmd *c, char *out, size_t outlen, bool lower)
{
    size_t n = c->argvlen[0], w = 0;
    for (size_t i = 0; i < n && w + 1 < outlen && i < 64; i++) {
        unsigned char ch = (unsigned char)c->argv[0][i];
        if (ch < 0x20 || ch >= 0x7f)
            ch = '?';
        else if (lower && ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        else if (!lower && ch >= 'a' && ch <= 'z')
            ch = (unsigned char)(ch - 'a' + 'A');
        out[w++] = (char)ch;
    }
    out[w] = '\0';
}

/* The local verdict on one command: NULL (send it) or an error text. */
static const char *local_check(const kv_cmd *c, role r, kv_cmdclass *cls, char *err, size_t errlen)
{
    char name[72];
    *cls = kv_classify(c->argv[0], c->argvlen[0]);
    if (*cls == KV_CLASS_REFUSED) {
        name_for_error(c, name, sizeof name, false);
        snprintf(err, errlen,
                 "ERR Command is not available over REST: '%s' (transactions: POST /multi-exec)",
                 name);
        return err;
    }
    if (r == ROLE_READONLY && *cls != KV_CLASS_READ) {
        name_for_error(c, name, sizeof name, true);
        snprintf(err, errlen, "NOPERM this user has no permissions to run the '%s' command", name);
        return err;
    }
    return NULL;
}

/* Quota: take n commands, or fail with the Upstash text. */
static bool quota_take(kv_server *s, size_t n, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->fmu);
    unsigned long long q = s->faults.quota, used = s->quota_used;
    bool ok = q == 0 || used < q;
    if (ok)
        s->quota_used += n;
    pthread_mutex_unlock(&s->fmu);
    if (!ok)
        snprintf(err, errlen, "ERR max daily request limit exceeded. Limit: %llu, Usage: %llu.", q,
                 used);
    return ok;
}

static void entry(kv_buf *b, const redisReply *r, bool b64)
{
    if (r->type == REDIS_REPLY_ERROR) {
        kv_json_error(b, r->str, r->len);
    } else {
        kv_buf_adds(b, "{\"result\":");
        kv_json_reply(b, r, b64, true);
        kv_buf_addc(b, '}');
    }
}

static void redis_failure(kv_buf *b, const redisContext *c, bool sent)
{
    char why[160], text[256];
    kv_redis_errtext(c, why, sizeof why);
    snprintf(text, sizeof text, "ERR kvrest: redis %s: %s",
             sent ? "connection failed after the command was sent (it may have been applied)"
                  : "connection failed",
             why);
    kv_buf_free(b);
    kv_json_error(b, text, strlen(text));
}

/* Single, path and pipeline requests: commands are sent together on one
 * pooled connection, replies read in order.  Returns the HTTP status. */
static unsigned run_commands(kv_server *s, const kv_cmds *cmds, route rt, role ro, bool b64,
                             kv_buf *out)
{
    size_t n = cmds->n;
    char(*err)[200] = kv_xcalloc(n, sizeof *err);
    const char **local = kv_xcalloc(n, sizeof *local);
    kv_cmdclass *cls = kv_xcalloc(n, sizeof *cls);
    redisReply **rep = kv_xcalloc(n, sizeof *rep);
    size_t nsend = 0;
    unsigned status = MHD_HTTP_OK;
    char text[256];
    for (size_t i = 0; i < n; i++) {
        local[i] = local_check(&cmds->cmd[i], ro, &cls[i], err[i], sizeof err[i]);
        if (!local[i])
            nsend++;
    }
    if (rt != R_PIPELINE && local[0]) {
        kv_json_error(out, local[0], strlen(local[0]));
        status = MHD_HTTP_BAD_REQUEST;
        goto done;
    }
    if (!quota_take(s, nsend, text, sizeof text)) {
        kv_json_error(out, text, strlen(text));
        status = MHD_HTTP_BAD_REQUEST;
        goto done;
    }
    if (nsend) {
        redisContext *c = kv_pool_acquire(s->pool, text, sizeof text);
        if (!c) {
            kv_json_error(out, text, strlen(text));
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (!local[i])
                redisAppendCommandArgv(c, cmds->cmd[i].argc, cmds->cmd[i].argv,
                                       cmds->cmd[i].argvlen);
        atomic_fetch_add(&s->commands, nsend);
        bool broken = false, wrote = false;
        for (size_t i = 0; i < n && !broken; i++) {
            if (local[i])
                continue;
            void *r = NULL;
            if (redisGetReply(c, &r) != REDIS_OK || !r) {
                broken = true;
                break;
            }
            rep[i] = r;
            if (cls[i] == KV_CLASS_WRITE && rep[i]->type != REDIS_REPLY_ERROR)
                wrote = true;
        }
        if (broken) {
            for (size_t i = 0; i < n; i++)
                if (!local[i] && cls[i] == KV_CLASS_WRITE)
                    wrote = true; /* may have been applied */
            redis_failure(out, c, true);
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
        if (wrote)
            atomic_fetch_add(&s->sync, 1);
        kv_pool_release(s->pool, c, broken);
        if (broken)
            goto done;
    }
    if (rt == R_PIPELINE) {
        kv_buf_addc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                kv_buf_addc(out, ',');
            if (local[i])
                kv_json_error(out, local[i], strlen(local[i]));
            else
                entry(out, rep[i], b64);
        }
        kv_buf_addc(out, ']');
    } else if (rep[0]->type == REDIS_REPLY_ERROR) {
        kv_json_error(out, rep[0]->str, rep[0]->len);
        status = MHD_HTTP_BAD_REQUEST;
    } else {
        entry(out, rep[0], b64);
    }
done:
    for (size_t i = 0; i < n; i++)
        if (rep[i])
            freeReplyObject(rep[i]);
    free(rep);
    free(cls);
    free(local);
    free(err);
    return status;
}

/* MULTI / commands / EXEC on one exclusively held connection. */
static unsigned run_transaction(kv_server *s, const kv_cmds *cmds, role ro, bool b64, kv_buf *out)
{
    size_t n = cmds->n;
    char err[200], text[256];
    bool writes = false;
    for (size_t i = 0; i < n; i++) {
        kv_cmdclass cls;
        const char *e = local_check(&cmds->cmd[i], ro, &cls, err, sizeof err);
        if (e) {
            kv_json_error(out, e, strlen(e));
            return MHD_HTTP_BAD_REQUEST;
        }
        if (cls == KV_CLASS_WRITE)
            writes = true;
    }
    if (!quota_take(s, n, text, sizeof text)) {
        kv_json_error(out, text, strlen(text));
        return MHD_HTTP_BAD_REQUEST;
    }
    redisContext *c = kv_pool_acquire(s->pool, text, sizeof text);
    if (!c) {
        kv_json_error(out, text, strlen(text));
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    redisAppendCommand(c, "MULTI");
    for (size_t i = 0; i < n; i++)
        redisAppendCommandArgv(c, cmds->cmd[i].argc, cmds->cmd[i].argv, cmds->cmd[i].argvlen);
    redisAppendCommand(c, "EXEC");
    atomic_fetch_add(&s->commands, n);
    bool broken = false;
    unsigned status = MHD_HTTP_OK;
    redisReply *exec = NULL;
    for (size_t i = 0; i < n + 2; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK || !r) {
            broken = true;
            break;
        }
        if (i == n + 1)
            exec = r;
        else
            freeReplyObject(r); /* +OK for MULTI, +QUEUED (or a queue-time error) */
    }
    if (broken || !exec) {
        if (exec)
            freeReplyObject(exec);
        redis_failure(out, c, true);
        if (writes)
            atomic_fetch_add(&s->sync, 1);
        kv_pool_release(s->pool, c, true);
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    kv_pool_release(s->pool, c, false);
    if (exec->type == REDIS_REPLY_ARRAY) {
        if (writes)
            atomic_fetch_add(&s->sync, 1);
        kv_buf_addc(out, '[');
        for (size_t i = 0; i < exec->elements; i++) {
            if (i)
                kv_buf_addc(out, ',');
            entry(out, exec->element[i], b64);
        }
        kv_buf_addc(out, ']');
    } else if (exec->type == REDIS_REPLY_ERROR) {
        /* EXECABORT: a command was refused while queueing; nothing ran. */
        kv_json_error(out, exec->str, exec->len);
        status = MHD_HTTP_BAD_REQUEST;
    } else {
        const char *t = "EXECABORT Transaction discarded.";
        kv_json_error(out, t, strlen(t));
        status = MHD_HTTP_BAD_REQUEST;
    }
    freeReplyObject(exec);
    return status;
}

/* ---- the data routes ----------------------------------------------------- */

static bool wants_base64(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upstash-Encoding");
    if (!v)
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    return strncasecmp(v, "base64", 6) == 0 && (v[6] == '\0' || v[6] == ' ' || v[6] == '\t');
}

/* Queue a data-route response, counting it in "errors" when it is one. */
static enum MHD_Result data_respond(kv_server *s, struct MHD_Connection *conn, unsigned status,
                                    kv_buf *body)
{
    if (status >= 400)
        kv_count(&s->errors);
    return kv_respond(s, conn, status, body);
}

static enum MHD_Result data_error(kv_server *s, struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
    kv_buf b = {0};
    kv_json_error(&b, text, strlen(text));
    return data_respond(s, conn, status, &b);
}

static enum MHD_Result handle_data(kv_server *s, struct MHD_Connection *conn, kv_req *rq,
                                   const char *url, const char *method)
{
    kv_count(&s->requests);
    bool rd = kv_is_read_method(method), wr = kv_is_write_method(method);
    if (!rd && !wr)
        return data_error(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "ERR method not allowed (HEAD, GET, POST, PUT)");
    role ro = kv_authenticate(s, conn);
    if (ro == ROLE_NONE) {
        kv_count(&s->unauthorized);
        return kv_respond_error(s, conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
    }
    route rt;
    if (strcmp(url, "/pipeline") == 0 || strcmp(url, "/multi-exec") == 0) {
        if (!wr)
            return data_error(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                              "ERR /pipeline and /multi-exec take POST with a JSON body");
        rt = url[1] == 'p' ? R_PIPELINE : R_MULTI;
    } else if (strcmp(url, "/") == 0 && wr) {
        rt = R_SINGLE;
    } else {
        rt = R_PATH;
    }
    kv_count(&s->by_route[rt]);
    if (rq->too_big)
        return data_error(s, conn, MHD_HTTP_BAD_REQUEST, "ERR max request size exceeded");

    /* Faults: one draw decides fail / drop / stall (exclusive, in that
     * order of precedence); latency + jitter apply to every request. */
    pthread_mutex_lock(&s->fmu);
    kv_faults f = s->faults;
    long delay = f.latency_ms;
    if (f.jitter_ms > 0)
        delay += (long)(rng_u01(s) * (double)(f.jitter_ms + 1));
    double u = (f.fail_rate > 0 || f.drop_rate > 0 || f.stall_rate > 0) ? rng_u01(s) : 2.0;
    pthread_mutex_unlock(&s->fmu);
    if (delay > 0 && nap(s, delay))
        return MHD_NO;
    if (u < f.fail_rate) {
        kv_count(&s->failed);
        return kv_respond_error(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "injected fault: service unavailable");
    }
    bool drop = u < f.fail_rate + f.drop_rate;
    bool stall = !drop && u < f.fail_rate + f.drop_rate + f.stall_rate;
    if (stall) {
        kv_count(&s->stalled);
        if (nap(s, f.stall_ms))
            return MHD_NO; /* shutting down: the stalled request never lands */
    }

    kv_cmds cmds;
    char err[256];
    kv_buf out = {0};
    unsigned status;
    const char *body = rq->body.p ? rq->body.p : "";
    int rc = rt == R_PATH
                 ? kv_path_command(&cmds, url, wr ? body : NULL, rq->body.len, err, sizeof err)
                 : kv_parse_commands(&cmds, body, rq->body.len, rt != R_SINGLE, err, sizeof err);
    if (rc != 0) {
        kv_json_error(&out, err, strlen(err));
        status = MHD_HTTP_BAD_REQUEST;
    } else {
        bool b64 = wants_base64(conn);
        status = rt == R_MULTI ? run_transaction(s, &cmds, ro, b64, &out)
                               : run_commands(s, &cmds, rt, ro, b64, &out);
        kv_cmds_free(&cmds);
    }
    if (drop) {
        /* Applied, but the client never hears back: MHD_NO closes the
         * connection without sending anything. */
        kv_count(&s->dropped);
        kv_buf_free(&out);
        return MHD_NO;
    }
    return data_respond(s, conn, status, &out);
}

/* ---- libmicrohttpd callbacks --------------------------------------------- */

static bool is_admin_url(const char *url)
{
    return strncmp(url, "/_kvrest/", 9) == 0 || strcmp(url, "/_kvrest") == 0;
}

/* true if the Content-Length header announces more than max. */
static bool announces_too_much(const char *cl, size_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (end == cl)
        return false;
    return errno == ERANGE || v > (unsigned long long)max;
}

/* The framing headers of a request. */
typedef struct framing {
    int lengths;       /* Content-Length headers */
    const char *first; /* the first one's value */
    bool conflict;     /* two with different values */
    bool chunked;      /* a Transfer-Encoding header */
} framing;

static enum MHD_Result scan_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    framing *f = cls;
    (void)kind;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->lengths++ == 0)
            f->first = value ? value : "";
        else if (strcmp(f->first, value ? value : "") != 0)
            f->conflict = true;
    } else if (key && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->chunked = true;
    }
    return MHD_YES;
}

/* NULL, or why the request's body cannot be framed unambiguously (RFC
 * 9112 6.3): Content-Length headers that differ (libmicrohttpd would use
 * the first), or one with Transfer-Encoding (request smuggling). */
static const char *framing_problem(struct MHD_Connection *conn)
{
    framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_framing, &f);
    if (f.conflict)
        return "ERR conflicting Content-Length headers";
    if (f.chunked && f.lengths > 0)
        return "ERR both Content-Length and Transfer-Encoding";
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    kv_server *s = cls;
    kv_req *rq = *con_cls;
    (void)version;
    if (!rq) {
        rq = kv_xcalloc(1, sizeof *rq);
        *con_cls = rq;
        const char *framing_err = framing_problem(conn);
        if (framing_err) {
            /* Answer before reading any of the body, then close. */
            rq->answered = true;
            if (!is_admin_url(url)) {
                kv_count(&s->requests);
                kv_count(&s->errors);
            }
            return respond_error_close(s, conn, MHD_HTTP_BAD_REQUEST, framing_err);
        }
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && announces_too_much(cl, s->max_body)) {
            /* Refuse before reading the body (curl waits for this when it
             * sent Expect: 100-continue). */
            rq->answered = true;
            if (is_admin_url(url))
                return kv_respond_error(s, conn, MHD_HTTP_BAD_REQUEST,
                                        "ERR max request size exceeded");
            kv_count(&s->requests);
            return data_error(s, conn, MHD_HTTP_BAD_REQUEST, "ERR max request size exceeded");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->answered && !rq->too_big) {
            if (*upload_size > s->max_body - rq->body.len) {
                rq->too_big = true; /* keep reading, discard, answer at the end */
                kv_buf_free(&rq->body);
            } else {
                kv_buf_add(&rq->body, upload_data, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = true;
    if (is_admin_url(url))
        return kv_handle_admin(s, conn, rq, url, method);
    return handle_data(s, conn, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    kv_req *rq = *con_cls;
    if (rq) {
        kv_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* Keep the URL and query arguments as sent: path segments are decoded by
 * kv_path_command after splitting (so %2F stays inside one argument), and
 * _token by authenticate. */
static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *str)
{
    (void)cls;
    (void)conn;
    return strlen(str);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) KV_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    kv_server *s = cls;
    /* While running, MHD reports every client that hangs up or every
     * dropped reply; only startup problems (bind errors) are worth
     * showing. */
    if (atomic_load(&s->started))
        return;
    fputs(KVREST_NAME ": http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void free_server(kv_server *s)
{
    kv_pool_free(s->pool);
    if (s->token) {
        memset(s->token, 0, s->token_len);
        free(s->token);
    }
    if (s->ro_token) {
        memset(s->ro_token, 0, s->ro_len);
        free(s->ro_token);
    }
    free(s->d);
    pthread_mutex_destroy(&s->fmu);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->scv);
    free(s);
}

/* The gate passed a connection whose request line is valid. */
static void gate_handoff(void *cls, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    kv_server *s = cls;
    unsigned i = atomic_fetch_add(&s->next_d, 1) % s->nd;
    /* MHD closes fd itself if it cannot take it. */
    (void)MHD_add_connection(s->d[i], fd, addr, addrlen);
}

static void gate_sync(void *cls, char *buf, size_t len)
{
    kv_server *s = cls;
    snprintf(buf, len, "%llu", kv_get(&s->sync));
}

/* Bind and listen on the first address of ai that works; the port
 * actually bound in *port.  The socket, or -1 with a message. */
static int listen_on(const struct addrinfo *ai, const kv_options *opt, int *port)
{
    int err = 0;
    for (; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_storage a;
        socklen_t alen = sizeof a;
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
            *port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                                  : ((struct sockaddr_in *)&a)->sin_port);
            return fd;
        }
        err = errno;
        close(fd);
    }
    fprintf(stderr, KVREST_NAME ": cannot listen on %s port %d: %s\n", opt->listen, opt->port,
            strerror(err));
    return -1;
}

kv_server *kv_server_start(const kv_options *opt)
{
    kv_server *s = kv_xcalloc(1, sizeof *s);
    s->lfd = -1;
    s->max_body = opt->max_body;
    s->token = kv_xstrdup(opt->token);
    s->token_len = strlen(s->token);
    if (opt->ro_token && *opt->ro_token) {
        s->ro_token = kv_xstrdup(opt->ro_token);
        s->ro_len = strlen(s->ro_token);
    }
    s->faults = opt->faults;
    s->rng = opt->faults.seed;
    pthread_mutex_init(&s->fmu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->scv, &ca);
    pthread_condattr_destroy(&ca);
    s->pool = kv_pool_new(&opt->redis, opt->pool);

    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", opt->port);
    int gai = getaddrinfo(opt->listen, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, KVREST_NAME ": cannot resolve listen address %s: %s\n", opt->listen,
                gai_strerror(gai));
        if (ai)
            freeaddrinfo(ai);
        free_server(s);
        return NULL;
    }
    s->lfd = listen_on(ai, opt, &s->port);
    freeaddrinfo(ai);
    if (s->lfd < 0) {
        free_server(s);
        return NULL;
    }

    /* The gate accepts; MHD gets the connections it passes.  Without a
     * listening socket MHD cannot run a thread pool, so --threads N runs
     * N daemons of one event-loop thread each, connections dealt round
     * robin. */
    s->nd = opt->threads > 0 ? (unsigned)opt->threads : 1;
    s->d = kv_xcalloc(s->nd, sizeof *s->d);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (opt->threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    else
        flags |= MHD_USE_AUTO;
    for (unsigned i = 0; i < s->nd; i++) {
        s->d[i] = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK,
            unescape_none, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024, MHD_OPTION_END);
        if (!s->d[i]) {
            fprintf(stderr, KVREST_NAME ": cannot start the HTTP server\n");
            for (unsigned k = 0; k < i; k++)
                MHD_stop_daemon(s->d[k]);
            close(s->lfd);
            free_server(s);
            return NULL;
        }
    }
    kv_gate_ops ops = {.cls = s, .handoff = gate_handoff, .sync_token = gate_sync};
    s->gate = kv_gate_start(s->lfd, &ops);
    if (!s->gate) {
        fprintf(stderr, KVREST_NAME ": cannot start the accepting thread\n");
        for (unsigned k = 0; k < s->nd; k++)
            MHD_stop_daemon(s->d[k]);
        close(s->lfd);
        free_server(s);
        return NULL;
    }
    atomic_store(&s->started, true);
    return s;
}

int kv_server_port(const kv_server *s) { return s->port; }

void kv_server_stop(kv_server *s)
{
    if (!s)
        return;
    /* No new connections first; then wake sleepers and finish. */
    kv_gate_stop(s->gate);
    close(s->lfd);
    pthread_mutex_lock(&s->smu);
    s->stopping = true;
    pthread_cond_broadcast(&s->scv);
    pthread_mutex_unlock(&s->smu);
    kv_pool_shutdown(s->pool);
    for (unsigned i = 0; i < s->nd; i++)
        MHD_stop_daemon(s->d[i]);
    free_server(s);
}
