/* http.c — the REST transport under the Redis protocol layer.
 *
 * One curl easy handle per store, reused for every request, so libcurl
 * keeps one connection alive (the core serialises calls on a handle, so
 * there is never more than one request in flight).  Every request is
 *   POST {base}/          ["EVALSHA","<sha>","2","sq:1",…]
 *   POST {base}/pipeline  [["SCAN","0",…],["GET","sq:1"],…]
 * with exactly the headers the official client sends:
 *   Authorization: Bearer <token>
 *   Content-Type: application/json
 *   Upstash-Encoding: base64
 *   upstash-sync-token: <the last one received>   (once one was received)
 *
 * Ambiguity.  The body is fed through a read callback, so "the read
 * callback ran" means the request went out (or was about to) and its
 * reply may be lost after the server applied it.  libcurl silently
 * re-sends a request when a reused connection dies before any reply
 * byte: that would run a script twice without our knowing, so the seek
 * callback refuses the rewind and the failure is reported as ambiguous
 * instead; the core then retries with the same token, which the scripts
 * make idempotent, and knows that it did.
 *
 * The token is only ever in a header (never in a URL, so never in a curl
 * error message); every message is redacted anyway. */
#include "vercel.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define VC_SYNC_MAX           256
#define VC_DEFAULT_MAX_REPLY  (32u << 20)
#define VC_RETRY_AFTER_CAP_MS 5000

struct vc_http {
    CURL *curl;
    char *token; /* for redaction */
    char *auth;  /* "Authorization: Bearer <token>" */
    const char *token_source;
    const char *url_source;
    char host[VC_HOST_MAX];
    char url_cmd[VC_URL_MAX + 2];
    char url_pipe[VC_URL_MAX + 10];
    struct curl_slist *headers;
    char headers_sync[VC_SYNC_MAX]; /* sync token the header list carries */
    bool headers_built;
    char sync[VC_SYNC_MAX]; /* last sync token received */

    sq_buf req; /* request body */
    size_t req_off;
    bool req_read; /* the read callback ran: the request went out */
    bool rewind_refused;

    sq_buf resp; /* response body */
    size_t max_reply;
    bool too_big;
    long retry_after_s; /* from the current response, -1 if none */
    int64_t not_before_ms;

    int timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
    vc_http_stats st;
};

/* ------------------------------------------------------------------ */
/* libcurl global state                                                 */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    /* Thread-safe since libcurl 7.84; never cleaned up (a library cannot
     * know when the program is done with libcurl). */
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    vc_http *h = ud;
    h->req_read = true;
    size_t room = size * nitems;
    size_t left = h->req.len - h->req_off;
    size_t n = left < room ? left : room;
    if (n)
        memcpy(buf, h->req.p + h->req_off, n);
    h->req_off += n;
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    vc_http *h = ud;
    if (offset == 0 && origin == SEEK_SET && h->req_off == 0)
        return CURL_SEEKFUNC_OK; /* nothing was read yet */
    /* A re-send after the body went out: refuse (see the top). */
    h->rewind_refused = true;
    return CURL_SEEKFUNC_CANTSEEK;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    vc_http *h = ud;
    size_t n = size * nmemb;
    if (h->resp.len + n > h->max_reply) {
        h->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (sq_buf_add(&h->resp, ptr, n) != 0)
        return 0;
    return n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **val,
                      size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *vlen = (size_t)(end - v);
    return true;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    vc_http *h = ud;
    size_t len = size * nitems;
    const char *v;
    size_t vlen;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        h->retry_after_s = -1; /* a new response (or an interim 1xx) */
    } else if (header_is(buf, len, "upstash-sync-token", &v, &vlen)) {
        bool ok = vlen > 0 && vlen < VC_SYNC_MAX;
        for (size_t i = 0; ok && i < vlen; i++)
            ok = v[i] > 0x20 && v[i] < 0x7f;
        if (ok) {
            memcpy(h->sync, v, vlen);
            h->sync[vlen] = '\0';
        }
    } else if (header_is(buf, len, "retry-after", &v, &vlen)) {
        long s = 0;
        size_t i = 0;
        for (; i < vlen && i < 6 && v[i] >= '0' && v[i] <= '9'; i++)
            s = s * 10 + (v[i] - '0');
        if (i == vlen && vlen > 0)
            h->retry_after_s = s; /* seconds; an HTTP-date is ignored */
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (curl_easy_setopt(h->curl, opt, val) != CURLE_OK)                                       \
            goto setopt_failed;                                                                    \
    } while (0)

vc_http *vc_http_new(const vc_config *cfg, int connect_timeout_ms, int timeout_ms, sqb_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        sqb_seterr(err, SQCLAIM_EUNSUPPORTED, "libcurl could not be initialised: %s",
                   curl_easy_strerror(global_rc));
        return NULL;
    }
    vc_http *h = calloc(1, sizeof *h);
    if (!h) {
        sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        return NULL;
    }
    h->max_reply = VC_DEFAULT_MAX_REPLY;
    h->timeout_ms = timeout_ms;
    h->retry_after_s = -1;
    h->token_source = cfg->token_source ? cfg->token_source : "the token";
    h->url_source = cfg->url_source ? cfg->url_source : "the REST URL";
    sqb_strlcpy(h->host, cfg->host, sizeof h->host);
    snprintf(h->url_cmd, sizeof h->url_cmd, "%s/", cfg->url);
    snprintf(h->url_pipe, sizeof h->url_pipe, "%s/pipeline", cfg->url);
    h->token = strdup(cfg->token ? cfg->token : "");
    h->auth = concat("Authorization: Bearer ", cfg->token ? cfg->token : "");
    h->curl = curl_easy_init();
    if (!h->token || !h->auth || !h->curl) {
        vc_http_free(h);
        sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory (or libcurl could not make a handle)");
        return NULL;
    }
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_READFUNCTION, on_read);
    SETOPT(CURLOPT_READDATA, h);
    SETOPT(CURLOPT_SEEKFUNCTION, on_seek);
    SETOPT(CURLOPT_SEEKDATA, h);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, h);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, h);
    SETOPT(CURLOPT_USERAGENT, "sqclaim/" SQCLAIM_VERSION);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    /* TLS verification is always on (these are libcurl's defaults; set
     * here so that no later change can silently drop them). */
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    /* Do not reuse a connection idle for 50 s or more: load balancers and
     * NAT often forget idle connections after 60 s without telling either
     * end, and a request sent into such a connection only ends with a
     * timeout, an ambiguous one.  A keep-alive renewing every ttl/3
     * (200 s by default) reconnects instead. */
    SETOPT(CURLOPT_MAXAGE_CONN, 50L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* Proxies: the standard environment variables (https_proxy, no_proxy,
     * …) apply to remote hosts; a loopback server is never proxied. */
    if (cfg->loopback)
        SETOPT(CURLOPT_NOPROXY, "*");
    return h;

setopt_failed:
    vc_http_free(h);
    sqb_seterr(err, SQCLAIM_EUNSUPPORTED, "this libcurl lacks an option the vercel backend needs");
    return NULL;
}

void vc_http_free(vc_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    wipe_free(h->auth);
    wipe_free(h->token);
    if (h->req.p)
        explicit_bzero(h->req.p, h->req.cap);
    sq_buf_free(&h->req);
    sq_buf_free(&h->resp);
    free(h);
}

void vc_http_get_stats(const vc_http *h, vc_http_stats *out) { *out = h->st; }

const char *vc_http_sync_token(const vc_http *h) { return h->sync; }

void vc_http_set_max_reply(vc_http *h, size_t max)
{
    h->max_reply = max ? max : VC_DEFAULT_MAX_REPLY;
}

static int build_headers(vc_http *h)
{
    if (h->headers_built && strcmp(h->headers_sync, h->sync) == 0)
        return 0;
    struct curl_slist *l = NULL, *t;
    static const char *const fixed[] = {
        "Content-Type: application/json", "Upstash-Encoding: base64",
        "Expect:", /* no 100-continue round trip */
    };
    if (!(l = curl_slist_append(NULL, h->auth)))
        return -1;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(l, fixed[i])))
            goto fail;
        l = t;
    }
    if (h->sync[0]) {
        char line[VC_SYNC_MAX + 32];
        snprintf(line, sizeof line, "upstash-sync-token: %s", h->sync);
        if (!(t = curl_slist_append(l, line)))
            goto fail;
        l = t;
    }
    if (curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, l) != CURLE_OK)
        goto fail;
    curl_slist_free_all(h->headers);
    h->headers = l;
    memcpy(h->headers_sync, h->sync, sizeof h->sync);
    h->headers_built = true;
    return 0;
fail:
    curl_slist_free_all(l);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

/* Copy `text` for a message: at most 200 bytes, control bytes as '?', the
 * token redacted. */
static void clean_text(const vc_http *h, const char *text, char *out, size_t outlen)
{
    /* Redact and scrub the whole text first: a cut could split a secret. */
    char *copy = strdup(text ? text : "");
    if (copy) {
        rp_redact(copy, strlen(copy) + 1, h->token);
        rp_scrub(copy, strlen(copy) + 1);
    }
    sqb_strlcpy(out, copy ? copy : "(out of memory)", outlen < 201 ? outlen : 201);
    free(copy);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    rp_redact(out, outlen, h->token);
}

/* The command a Redis error text names: "ERR unknown command 'x'…" or
 * "ERR wrong number of arguments for 'x' command".  Its printable name in
 * name[size], or false. */
static bool named_command(const char *text, char *name, size_t size)
{
    static const char *const heads[] = {"ERR unknown command ",
                                        "ERR wrong number of arguments for "};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        size_t hl = strlen(heads[i]);
        if (strncmp(text, heads[i], hl) != 0)
            continue;
        const char *p = text + hl;
        char q = *p; /* ' (Redis 7) or ` (Redis 6) */
        if (q != '\'' && q != '`')
            return false;
        const char *e = strchr(p + 1, q);
        if (!e)
            return false;
        size_t n = (size_t)(e - p - 1);
        if (n >= size)
            n = size - 1;
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)p[1 + k];
            name[k] = c > 0x20 && c < 0x7f ? (char)c : '?';
        }
        name[n] = '\0';
        return true;
    }
    return false;
}

static sqclaim_rc transport_error(vc_http *h, CURLcode cc, sqb_err *err)
{
    char detail[CURL_ERROR_SIZE + 64];
    clean_text(h, h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc), detail, sizeof detail);
    bool sent = h->req_read;
    if (h->too_big) {
        err->maybe_applied = true; /* the server answered: it ran the command */
        h->st.ambiguous++;
        return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                          "the reply from %s is larger than %zu bytes; not read", h->host,
                          h->max_reply);
    }
    if (h->rewind_refused) {
        err->maybe_applied = true;
        err->transient = true;
        h->st.ambiguous++;
        h->st.resent_refused++;
        return sqb_seterr(err, SQCLAIM_EIO,
                          "the connection to %s closed after the request was sent; its reply "
                          "was lost",
                          h->host);
    }
    if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY) {
        err->transient = true;
        return sqb_seterr(err, SQCLAIM_EIO, "cannot resolve %s: %s", h->host, detail);
    }
    if (cc == CURLE_COULDNT_CONNECT) {
        err->transient = true;
        return sqb_seterr(err, SQCLAIM_EIO, "cannot connect to %s: %s", h->host, detail);
    }
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
        cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
        return sqb_seterr(err, SQCLAIM_EIO,
                          "TLS verification of %s failed: %s (verification is never disabled)",
                          h->host, detail);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        err->transient = true;
        if (!sent)
            return sqb_seterr(err, SQCLAIM_ETIMEOUT, "%s did not answer in time (%s)", h->host,
                              detail);
        err->maybe_applied = true;
        h->st.ambiguous++;
        return sqb_seterr(err, SQCLAIM_ETIMEOUT,
                          "no reply from %s within %d ms after the request was sent (%s)", h->host,
                          h->timeout_ms, detail);
    }
    err->transient = true;
    if (!sent)
        return sqb_seterr(err, SQCLAIM_EIO, "request to %s failed before it was sent: %s", h->host,
                          detail);
    err->maybe_applied = true;
    h->st.ambiguous++;
    return sqb_seterr(err, SQCLAIM_EIO, "the reply from %s was lost after the request was sent: %s",
                      h->host, detail);
}

/* Is name the name of cmd (case-insensitive)? */
static bool is_command(const rp_cmd *cmd, const char *name)
{
    if (cmd->argc < 1)
        return false;
    size_t len = cmd->argvlen ? cmd->argvlen[0] : strlen(cmd->argv[0]);
    return strlen(name) == len && strncasecmp(name, cmd->argv[0], len) == 0;
}

/* Map a non-2xx status to an error, or (400 with an error text, single
 * command `cmd`) to an RP_ERR reply in *errreply.  cmd is NULL for a
 * pipeline. */
static sqclaim_rc status_error(vc_http *h, long status, const rp_cmd *cmd, rp_reply **errreply,
                               sqb_err *err)
{
    char *raw = vc_error_text(h->resp.p ? h->resp.p : "", h->resp.len);
    char text[256];
    clean_text(h, raw ? raw : "", text, sizeof text);
    bool quota = raw && vc_is_quota_error(raw);
    bool single = cmd != NULL;
    char named[48];
    sqclaim_rc rc;
    if (status == 400 && raw && named_command(raw, named, sizeof named) &&
        !(single && is_command(cmd, named))) {
        /* The server refused a command we did not send: it took the URL's
         * path as one (path-style requests, /cmd/arg…).  A wrong URL, not
         * a server failure; nothing ran. */
        rc = sqb_seterr(err, SQCLAIM_ECONFIG,
                        "%s took the path of %s as a Redis command ('%s'): the URL must be the "
                        "database's REST URL as the dashboard shows it, usually with no path",
                        h->host, h->url_source, named);
    } else if (status == 401 || status == 403) {
        rc = sqb_seterr(err, SQCLAIM_EAUTH,
                        "%s refused the token from %s (HTTP %ld%s%s); check that it is the "
                        "database's current REST token, not the read-only one",
                        h->host, h->token_source, status, raw ? ": " : "", text);
    } else if (quota) {
        rc = sqb_seterr(err, SQCLAIM_EQUOTA, "%s (HTTP %ld from %s)", text, status, h->host);
    } else if (status == 400 && raw && single) {
        /* A Redis error: the protocol layer reads it (NOSCRIPT …). */
        rp_redact(raw, strlen(raw) + 1, h->token);
        *errreply = rp_reply_str(RP_ERR, raw, strlen(raw));
        rc = *errreply ? SQCLAIM_OK : sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    } else if (status == 400 && raw) {
        rc = sqb_seterr(err, SQCLAIM_ESERVER, "%s refused the request: %s", h->host, text);
    } else if (status == 413) {
        rc = sqb_seterr(err, SQCLAIM_EQUOTA, "%s: request too large (HTTP 413)", h->host);
    } else if (status == 429) {
        err->transient = true; /* rate limited: refused before running */
        rc = sqb_seterr(err, SQCLAIM_EQUOTA, "%s is rate limiting (HTTP 429%s%s)", h->host,
                        raw ? ": " : "", text);
    } else if (status == 408) {
        err->transient = true;
        rc = sqb_seterr(err, SQCLAIM_ETIMEOUT, "%s timed out reading the request (HTTP 408)",
                        h->host);
    } else if (status >= 500 && status <= 599) {
        /* A 5xx may come from a proxy after the store ran the command:
         * ambiguous.  The scripts are idempotent by token, so the core
         * retries it safely. */
        err->transient = true;
        err->maybe_applied = true;
        h->st.ambiguous++;
        rc = sqb_seterr(err, SQCLAIM_ESERVER, "%s answered HTTP %ld%s%s", h->host, status,
                        raw ? ": " : "", raw ? text : " (not a Redis error)");
    } else if (status >= 300 && status <= 399) {
        rc = sqb_seterr(err, SQCLAIM_ECONFIG,
                        "%s answered with a redirect (HTTP %ld); set %s to the final "
                        "https:// address",
                        h->host, status, h->url_source);
    } else if (status == 404 || status == 405) {
        /* No REST API at this URL: its path (or host) is wrong. */
        rc = sqb_seterr(err, SQCLAIM_ECONFIG,
                        "%s answered HTTP %ld%s%s: no REST API at %s; check its host and path",
                        h->host, status, raw ? ": " : "", text, h->url_source);
    } else {
        rc = sqb_seterr(err, SQCLAIM_ESERVER, "%s answered HTTP %ld%s%s; check the REST URL",
                        h->host, status, raw ? ": " : "", text);
    }
    free(raw);
    return rc;
}

/* POST the body in h->req to url.  OK with *status set (the body in
 * h->resp), or a transport error. */
static sqclaim_rc perform(vc_http *h, const char *url, long *status, sqb_err *err)
{
    if (h->not_before_ms) {
        int64_t wait = h->not_before_ms - mono_ms();
        if (wait > 0)
            sleep_ms(wait);
        h->not_before_ms = 0;
    }
    sq_buf_reset(&h->resp);
    h->req_off = 0;
    h->req_read = false;
    h->rewind_refused = false;
    h->too_big = false;
    h->retry_after_s = -1;
    h->errbuf[0] = '\0';
    if (build_headers(h) != 0)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory building request headers");
    if (curl_easy_setopt(h->curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->req.len) != CURLE_OK)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory setting up a request");
    CURLcode cc = curl_easy_perform(h->curl);
    long connects = 0;
    if (curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        h->st.connects += (uint64_t)connects;
    if (h->req_read)
        h->st.requests++;
    if (cc != CURLE_OK)
        return transport_error(h, cc, err);
    *status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    if (h->retry_after_s > 0 && (*status == 429 || *status == 503)) {
        int64_t ms = (int64_t)h->retry_after_s * 1000;
        if (ms > VC_RETRY_AFTER_CAP_MS)
            ms = VC_RETRY_AFTER_CAP_MS;
        if (ms > h->timeout_ms)
            ms = h->timeout_ms;
        h->not_before_ms = mono_ms() + ms;
    }
    return SQCLAIM_OK;
}

/* A reply the server sent: make it safe (token redacted from error
 * texts) and turn quota errors into EQUOTA. */
static sqclaim_rc check_reply(vc_http *h, rp_reply *r, sqb_err *err)
{
    if (!r || r->type != RP_ERR || !r->str)
        return SQCLAIM_OK;
    rp_redact(r->str, r->len + 1, h->token);
    rp_scrub(r->str, r->len + 1);
    r->len = strlen(r->str);
    if (vc_is_quota_error(r->str)) {
        char text[256];
        clean_text(h, r->str, text, sizeof text);
        return sqb_seterr(err, SQCLAIM_EQUOTA, "%s (from %s)", text, h->host);
    }
    return SQCLAIM_OK;
}

/* A 2xx body that does not decode: the server did answer, so it may have
 * run the command. */
static sqclaim_rc bad_body(vc_http *h, sqclaim_rc rc, long status, sqb_err *err)
{
    if (rc == SQCLAIM_EPROTOCOL) {
        char msg[sizeof err->msg];
        sqb_strlcpy(msg, err->msg, sizeof msg);
        rp_redact(msg, sizeof msg, h->token);
        rp_scrub(msg, sizeof msg);
        sqb_seterr(err, rc, "%s answered HTTP %ld but %s", h->host, status, msg);
    }
    err->maybe_applied = true;
    h->st.ambiguous++;
    return rc;
}

static sqclaim_rc vc_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    vc_http *h = t;
    *out = NULL;
    sqclaim_rc rc = vc_body_command(&h->req, cmd, err);
    if (rc != SQCLAIM_OK)
        return rc;
    long status;
    rc = perform(h, h->url_cmd, &status, err);
    if (rc != SQCLAIM_OK)
        return rc;
    if (status < 200 || status > 299)
        return status_error(h, status, cmd, out, err);
    rc = vc_decode_single(h->resp.p ? h->resp.p : "", h->resp.len, out, err);
    if (rc != SQCLAIM_OK)
        return bad_body(h, rc, status, err);
    rc = check_reply(h, *out, err);
    if (rc != SQCLAIM_OK) {
        rp_reply_free(*out);
        *out = NULL;
    }
    return rc;
}

static sqclaim_rc vc_pipeline(void *t, size_t ncmds, const rp_cmd *cmds, rp_reply **replies,
                              sqb_err *err)
{
    vc_http *h = t;
    if (rp_pipeline_empty(ncmds, replies))
        return SQCLAIM_OK;
    sqclaim_rc rc = vc_body_pipeline(&h->req, ncmds, cmds, err);
    if (rc != SQCLAIM_OK)
        return rc;
    long status;
    rc = perform(h, h->url_pipe, &status, err);
    if (rc != SQCLAIM_OK)
        return rc;
    if (status < 200 || status > 299)
        return status_error(h, status, NULL, NULL, err);
    rc = vc_decode_pipeline(h->resp.p ? h->resp.p : "", h->resp.len, ncmds, replies, err);
    if (rc == SQCLAIM_ESERVER || rc == SQCLAIM_EQUOTA) {
        rp_redact(err->msg, sizeof err->msg, h->token);
        rp_scrub(err->msg, sizeof err->msg);
        return rc;
    }
    if (rc == SQCLAIM_ECONFIG) {
        /* The pipeline may have been run as some command (SET pipeline
         * <body>): say so, and that the URL is what to fix. */
        err->maybe_applied = true;
        return sqb_seterr(err, rc,
                          "%s answered a pipeline with one command's reply: it took the path "
                          "of %s as a Redis command (and may have run it); the URL must be the "
                          "database's REST URL as the dashboard shows it, usually with no path",
                          h->host, h->url_source);
    }
    if (rc != SQCLAIM_OK)
        return bad_body(h, rc, status, err);
    for (size_t i = 0; i < ncmds && rc == SQCLAIM_OK; i++)
        rc = check_reply(h, replies[i], err);
    if (rc != SQCLAIM_OK) {
        for (size_t i = 0; i < ncmds; i++) {
            rp_reply_free(replies[i]);
            replies[i] = NULL;
        }
    }
    return rc;
}

const rp_transport vc_http_transport = {
    .command = vc_command,
    .pipeline = vc_pipeline,
};
