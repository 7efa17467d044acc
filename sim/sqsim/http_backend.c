/* http_backend.c — sqsim's `--adapter http`: the bots' store operations
 * sent to a running `sqclaim serve` (docs/http.md) instead of a store, so
 * the oracle checks the HTTP path too: serve's JSON, its status mapping,
 * and a claim retried with the same token across HTTP.
 *
 * A backend table for sqclaim_open_backend() (core/backend.h), like the
 * negative controls: it never goes into the library.  The core keeps doing
 * what it does for every backend — tokens, deadlines from its own clock
 * (taken before the request leaves, so they are conservative), retries of
 * ambiguous replies with the same token, keep-alives — and this table only
 * turns each operation into one HTTP/1.1 request on a keep-alive
 * connection per handle:
 *   claim    POST /api/claim-first {"sqs","bot","ttlMs","token"}: serve
 *            claims with our token, so a re-sent claim finds it
 *   renew, release, reserve, finish   POST with {"lease":{sq,bot,token,
 *            fence,ttlMs}}
 *   status   GET /api/queue; ping GET /api/health
 * Where the server is: $SQCLAIM_SERVE_URL (http://127.0.0.1:PORT) and
 * $SQCLAIM_SERVE_TOKEN.
 *
 * Outcomes come back as statuses: 200 OK, 409 BUSY, 410 LOST, 400 EINVAL;
 * 502/504 are the store's failures behind serve: transient, and for
 * anything but a read "maybe applied" (serve's own call may have landed).
 * A connection that fails after the request was written is "maybe
 * applied" too. */
#include "backend.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sqsim_http.h"

typedef struct hconn {
    int fd;
    int port;
    char token[520];
    int timeout_ms;
    char *buf;
    size_t len, cap;
} hconn;

static sqclaim_rc h_open(const sqclaim_options *opts, void **out, sqb_err *err)
{
    const char *url = sqb_getenv("SQCLAIM_SERVE_URL");
    const char *tok = sqb_getenv("SQCLAIM_SERVE_TOKEN");
    if (!url || !tok)
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "the http adapter needs SQCLAIM_SERVE_URL (http://127.0.0.1:PORT of "
                          "a running `sqclaim serve`) and SQCLAIM_SERVE_TOKEN");
    int port = 0;
    if (sscanf(url, "http://127.0.0.1:%d", &port) != 1 || port <= 0 || port > 65535)
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "SQCLAIM_SERVE_URL must be http://127.0.0.1:PORT (a local serve)");
    if (strlen(tok) >= sizeof((hconn *)0)->token)
        return sqb_seterr(err, SQCLAIM_ECONFIG, "SQCLAIM_SERVE_TOKEN is too long");
    hconn *h = calloc(1, sizeof *h);
    if (!h)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    h->fd = -1;
    h->port = port;
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    sqb_strlcpy(h->token, tok, sizeof h->token);
    *out = h;
    return SQCLAIM_OK;
}

static void h_drop(hconn *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->len = 0;
}

static void h_close(void *vc)
{
    hconn *h = vc;
    if (!h)
        return;
    h_drop(h);
    explicit_bzero(h->token, sizeof h->token);
    free(h->buf);
    free(h);
}

static int h_connect(hconn *h)
{
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(h->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        h_drop(h);
        return -1;
    }
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = h->timeout_ms / 1000, .tv_usec = (h->timeout_ms % 1000) * 1000};
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

/* One request.  Returns the HTTP status and the body in *body (malloc'd),
 * or 0 with err set (transport failure; maybe_applied when the request
 * had been written). */
static unsigned h_request(hconn *h, const char *method, const char *path, const char *json,
                          bool mutating, char **body, sqb_err *err)
{
    *body = NULL;
    size_t jlen = json ? strlen(json) : 0;
    size_t need = jlen + strlen(h->token) + strlen(path) + 256;
    char *req = malloc(need);
    if (!req) {
        sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        return 0;
    }
    int n = snprintf(req, need,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, h->token, jlen, json ? json : "");
    /* A kept-alive connection the server closed meanwhile fails on the
     * first write or read: one fresh connection, before anything of this
     * request can have been read by the server. */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = h->fd < 0;
        if (fresh && h_connect(h) != 0) {
            explicit_bzero(req, (size_t)n);
            free(req);
            err->transient = true;
            sqb_seterr(err, SQCLAIM_EIO, "cannot connect to sqclaim serve on port %d: %s", h->port,
                       strerror(errno));
            return 0;
        }
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = send(h->fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += w;
        }
        if (off < n) {
            h_drop(h);
            if (!fresh)
                continue;
            explicit_bzero(req, (size_t)n);
            free(req);
            err->transient = true;
            err->maybe_applied = mutating && off > 0;
            sqb_seterr(err, SQCLAIM_EIO, "sending to sqclaim serve failed: %s", strerror(errno));
            return 0;
        }
        /* Read the answer: headers, then Content-Length bytes. */
        h->len = 0;
        for (;;) {
            if (h->len + 4097 > h->cap) {
                size_t nc = h->cap ? h->cap * 2 : 16384;
                char *nb = realloc(h->buf, nc);
                if (!nb) {
                    h_drop(h);
                    free(req);
                    sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
                    return 0;
                }
                h->buf = nb;
                h->cap = nc;
            }
            h->buf[h->len] = '\0';
            char *end = strstr(h->buf, "\r\n\r\n");
            if (end) {
                const char *cl = strcasestr(h->buf, "\r\nContent-Length:");
                size_t head = (size_t)(end + 4 - h->buf);
                size_t blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                if (h->len >= head + blen) {
                    unsigned status = (unsigned)atoi(h->buf + 9);
                    *body = malloc(blen + 1);
                    if (*body) {
                        memcpy(*body, h->buf + head, blen);
                        (*body)[blen] = '\0';
                    }
                    if (strcasestr(h->buf, "\r\nConnection: close") &&
                        strcasestr(h->buf, "\r\nConnection: close") < end)
                        h_drop(h);
                    h->len = 0;
                    explicit_bzero(req, (size_t)n);
                    free(req);
                    if (!*body) {
                        sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
                        return 0;
                    }
                    return status;
                }
            }
            ssize_t r = recv(h->fd, h->buf + h->len, h->cap - 1 - h->len, 0);
            if (r > 0) {
                h->len += (size_t)r;
                continue;
            }
            bool nothing = h->len == 0;
            int e = r == 0 ? ECONNRESET : errno;
            h_drop(h);
            if (nothing && !fresh && r == 0)
                break; /* a stale keep-alive connection: try a fresh one */
            explicit_bzero(req, (size_t)n);
            free(req);
            err->transient = true;
            err->maybe_applied = mutating;
            bool to = e == EAGAIN || e == EWOULDBLOCK;
            sqb_seterr(err, to ? SQCLAIM_ETIMEOUT : SQCLAIM_EIO, "no answer from sqclaim serve: %s",
                       to ? "timed out" : strerror(e));
            return 0;
        }
    }
    explicit_bzero(req, (size_t)n);
    free(req);
    err->transient = true;
    err->maybe_applied = mutating;
    sqb_seterr(err, SQCLAIM_EIO, "sqclaim serve closed the connection");
    return 0;
}

static sqclaim_rc rc_named(const char *code)
{
    static const sqclaim_rc all[] = {
        SQCLAIM_BUSY,     SQCLAIM_LOST,    SQCLAIM_EINVAL,    SQCLAIM_ECONFIG, SQCLAIM_EIO,
        SQCLAIM_ETIMEOUT, SQCLAIM_EAUTH,   SQCLAIM_EPROTOCOL, SQCLAIM_ENOMEM,  SQCLAIM_EUNSUPPORTED,
        SQCLAIM_EQUOTA,   SQCLAIM_ESERVER, SQCLAIM_ESTATE};
    for (size_t i = 0; code && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(sqclaim_rcname(all[i]), code) == 0)
            return all[i];
    return SQCLAIM_EPROTOCOL;
}

/* Send, parse, map.  OK with *root (the answer, to cJSON_Delete), an
 * outcome (BUSY/LOST, *root set too), or an error. */
static sqclaim_rc call(hconn *h, const char *method, const char *path, const char *json,
                       bool mutating, cJSON **root, sqb_err *err)
{
    *root = NULL;
    char *body = NULL;
    unsigned st = h_request(h, method, path, json, mutating, &body, err);
    if (!st)
        return err->rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        err->maybe_applied = mutating;
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "sqclaim serve answered %u without JSON", st);
    }
    if (st == 200) {
        *root = j;
        return SQCLAIM_OK;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
    sqclaim_rc rc = rc_named(cJSON_IsString(code) ? code->valuestring : NULL);
    if (rc == SQCLAIM_BUSY || rc == SQCLAIM_LOST) {
        *root = j;
        return rc;
    }
    if (st == 502 || st == 504 || st == 503) {
        err->transient = true;
        err->maybe_applied = mutating;
    }
    sqb_seterr(err, rc < 0 ? rc : SQCLAIM_EPROTOCOL, "serve (%u): %s", st,
               cJSON_IsString(msg) ? msg->valuestring : "no message");
    cJSON_Delete(j);
    return err->rc;
}

static double num(const cJSON *o, const char *name, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static sqclaim_rc h_ping(void *vc, sqb_err *err)
{
    cJSON *j;
    sqclaim_rc rc = call(vc, "GET", "/api/health", NULL, false, &j, err);
    cJSON_Delete(j);
    return rc;
}

static sqclaim_rc h_claim(void *vc, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "sqs");
    for (size_t i = 0; i < req->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(req->sqs[i]));
    cJSON_AddStringToObject(o, "bot", req->bot);
    cJSON_AddNumberToObject(o, "ttlMs", (double)req->ttl_ms);
    cJSON_AddStringToObject(o, "token", req->token);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cJSON *j;
    sqclaim_rc rc = call(vc, "POST", "/api/claim-first", json, true, &j, err);
    explicit_bzero(json, strlen(json));
    cJSON_free(json);
    if (rc == SQCLAIM_OK) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "lease");
        const char *sq = str(l, "sq");
        res->index = req->n;
        for (size_t i = 0; i < req->n; i++)
            if (strcmp(req->sqs[i], sq) == 0) {
                res->index = i;
                break;
            }
        if (res->index == req->n || strcmp(str(l, "token"), req->token) != 0) {
            cJSON_Delete(j);
            return sqb_seterr(err, SQCLAIM_EPROTOCOL, "serve granted a lease not asked for");
        }
        res->fence = (uint64_t)num(l, "fence", 0);
        res->reclaimed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "reclaimed"));
        /* Remaining TTL of a reclaimed grant: its expiry as serve computed
         * it, against our wall clock now (later than serve's: shorter,
         * the safe side). */
        res->ttl_ms = req->ttl_ms;
        if (res->reclaimed) {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            int ms = 0;
            const char *ex = str(l, "expiresAt");
            if (sscanf(ex, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                int64_t exp_ms = (int64_t)timegm(&tm) * 1000 + ms;
                int64_t left = exp_ms - sqb_unix_ms();
                res->ttl_ms = left > 0 ? left : 0;
            }
        }
    } else if (rc == SQCLAIM_BUSY) {
        const cJSON *hd = cJSON_GetObjectItemCaseSensitive(j, "holder");
        sqb_strlcpy(res->holder.bot, str(hd, "bot"), sizeof res->holder.bot);
        res->holder.remaining_ms = (int64_t)num(hd, "remainingMs", -1);
    }
    cJSON_Delete(j);
    return rc;
}

static char *lease_body(const sqb_lease_req *req, uint32_t rows, uint64_t hint, bool reserve)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *l = cJSON_AddObjectToObject(o, "lease");
    cJSON_AddStringToObject(l, "sq", req->sq);
    if (req->bot && *req->bot)
        cJSON_AddStringToObject(l, "bot", req->bot);
    cJSON_AddStringToObject(l, "token", req->token);
    cJSON_AddNumberToObject(l, "fence", (double)req->fence);
    if (req->ttl_ms > 0)
        cJSON_AddNumberToObject(o, "ttlMs", (double)req->ttl_ms);
    if (reserve) {
        cJSON_AddNumberToObject(o, "rows", rows);
        if (hint)
            cJSON_AddNumberToObject(o, "hint", (double)hint);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static sqclaim_rc lease_op(void *vc, const char *path, const sqb_lease_req *req, sqb_err *err)
{
    char *json = lease_body(req, 0, 0, false);
    if (!json)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cJSON *j;
    sqclaim_rc rc = call(vc, "POST", path, json, true, &j, err);
    explicit_bzero(json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(j);
    return rc;
}

static sqclaim_rc h_renew(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    return lease_op(vc, "/api/renew", req, err);
}

static sqclaim_rc h_release(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    sqb_lease_req r = *req;
    r.ttl_ms = 0; /* release takes no TTL */
    return lease_op(vc, "/api/release", &r, err);
}

static sqclaim_rc h_finish(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    sqb_lease_req r = *req;
    r.ttl_ms = 0;
    return lease_op(vc, "/api/finish", &r, err);
}

static sqclaim_rc h_reserve(void *vc, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err)
{
    sqb_lease_req lr = {.sq = req->sq, .token = req->token, .bot = req->bot, .fence = req->fence};
    char *json = lease_body(&lr, req->count, req->hint, true);
    if (!json)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    cJSON *j;
    sqclaim_rc rc = call(vc, "POST", "/api/reserve", json, true, &j, err);
    explicit_bzero(json, strlen(json));
    cJSON_free(json);
    if (rc == SQCLAIM_OK) {
        rows->start_row = (uint64_t)num(j, "startRow", 0);
        rows->count = (uint32_t)num(j, "rowCount", 0);
        rows->fence = (uint64_t)num(j, "fence", 0);
    }
    cJSON_Delete(j);
    return rc;
}

static void entry_common(const cJSON *e, char *bot, size_t botlen, char *ts, char *status,
                         uint64_t *fence, int64_t *ttl, unsigned *flags)
{
    sqb_strlcpy(bot, str(e, "botId"), botlen);
    sqb_strlcpy(ts, str(e, "timestamp"), SQCLAIM_TIMESTAMP_LEN + 1);
    sqb_strlcpy(status, str(e, "status"), SQCLAIM_STATUS_MAX + 1);
    *fence = (uint64_t)num(e, "fence", 0);
    *ttl = (int64_t)num(e, "ttlMs", -1);
    *flags = 0;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "foreign")))
        *flags |= SQCLAIM_ENTRY_FOREIGN;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "unreadable")))
        *flags |= SQCLAIM_ENTRY_UNREADABLE;
}

static sqclaim_rc h_status(void *vc, sqclaim_status *out, sqb_err *err)
{
    cJSON *j;
    sqclaim_rc rc = call(vc, "GET", "/api/queue", NULL, false, &j, err);
    if (rc != SQCLAIM_OK) {
        cJSON_Delete(j);
        return rc < 0 ? rc : sqb_seterr(err, SQCLAIM_EPROTOCOL, "unexpected status answer");
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "sqClaims"))
    {
        sqclaim_claim_info ci;
        memset(&ci, 0, sizeof ci);
        sqb_strlcpy(ci.sq, e->string, sizeof ci.sq);
        entry_common(e, ci.bot, sizeof ci.bot, ci.timestamp, ci.status, &ci.fence, &ci.ttl_ms,
                     &ci.flags);
        if (sqb_status_add_claim(out, &ci) != SQCLAIM_OK) {
            cJSON_Delete(j);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "refundReservations"))
    {
        sqclaim_reservation_info ri;
        memset(&ri, 0, sizeof ri);
        sqb_strlcpy(ri.sq, e->string, sizeof ri.sq);
        entry_common(e, ri.bot, sizeof ri.bot, ri.timestamp, ri.status, &ri.fence, &ri.ttl_ms,
                     &ri.flags);
        ri.start_row = (uint64_t)num(e, "startRow", 0);
        ri.row_count = (uint32_t)num(e, "rowCount", 0);
        if (sqb_status_add_reservation(out, &ri) != SQCLAIM_OK) {
            cJSON_Delete(j);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
    }
    cJSON_Delete(j);
    return SQCLAIM_OK;
}

const sqclaim_backend sim_http_backend = {
    /* 2, not SQB_VERSION: serve's /api/finish takes no reservation, so this
     * backend cannot finish one range (sqclaim_finish_range answers
     * EUNSUPPORTED through it). */
    .version = 2,
    .name = "http",
    .summary = "a running `sqclaim serve` (SQCLAIM_SERVE_URL, SQCLAIM_SERVE_TOKEN)",
    .caps = SQCLAIM_CAP_CROSS_PROCESS | SQCLAIM_CAP_FOREIGN,
    .open = h_open,
    .close = h_close,
    .ping = h_ping,
    .claim = h_claim,
    .renew = h_renew,
    .release = h_release,
    .reserve = h_reserve,
    .finish = h_finish,
    .status = h_status,
};
