/* serve.c — `sqclaim serve`: the HTTP daemon around api.c.
 *
 * libmicrohttpd runs a pool of worker threads on a listening socket we
 * open ourselves (so --port 0 can say which port it got).  Each request
 * is checked in this order, before its body is read: the route's method,
 * the bearer token for every POST (and for reads with --auth-reads), the
 * declared body size.  Then the body is read (at most SERVE_MAX_BODY) and
 * handed to api.c.  The Authorization header and bodies are never logged;
 * the one-line access log on stderr names the client address, method,
 * path, status, size and time.
 *
 * SIGINT and SIGTERM stop it gracefully: no new connections are
 * accepted, requests in flight finish (up to --timeout plus a grace),
 * then the daemon stops and the store handles are closed. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVE_DEFAULT_PORT    8080
#define SERVE_DEFAULT_THREADS 4
#define SERVE_HEADER_LIMIT    (32 * 1024) /* per connection: headers + our buffers */
#define SERVE_IDLE_TIMEOUT_S  30          /* a connection silent this long is closed */
#define SERVE_MAX_CONNECTIONS 256
#define SERVE_TOKEN_MIN       16
#define SERVE_TOKEN_MAX       512

typedef struct server {
    serve_api api;
    char token[SERVE_TOKEN_MAX + 1];
    size_t token_len;
    bool have_token;
    bool auth_reads;
    const char *cors; /* allowed origin, or NULL: no CORS headers */
    bool quiet;
    atomic_int inflight;
    atomic_bool stopping;
} server;

/* Per request (MHD's con_cls). */
typedef struct request {
    int64_t t0_ns;
    char *body;
    size_t len;
    bool responded; /* a response was queued before the body was read */
    bool too_big;   /* the body grew past SERVE_MAX_BODY */
    unsigned status;
    size_t sent;
    char method[12];
    char path[96];
    char client[64];
} request;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Access log                                                           */

static void log_line(const server *sv, const request *rq)
{
    (void)sv;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    double ms = (double)(now_ns() - rq->t0_ns) / 1e6;
    /* One write, so lines of concurrent requests never interleave. */
    char line[320];
    int n =
        snprintf(line, sizeof line, "%s.%03ldZ %s \"%s %s\" %u %zu %.1fms\n", when,
                 ts.tv_nsec / 1000000, rq->client, rq->method, rq->path, rq->status, rq->sent, ms);
    if (n > 0) {
        ssize_t w =
            write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */

static void add_common_headers(const server *sv, struct MHD_Response *r, const char *ctype)
{
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (ctype && strncmp(ctype, "text/html", 9) == 0)
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src "
                                "'unsafe-inline'; connect-src 'self'; img-src data:; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    if (sv->cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", sv->cors);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    if (atomic_load(&sv->stopping))
        MHD_add_response_header(r, "Connection", "close");
}

/* Queue body (taken: wiped and freed here) with status. */
static enum MHD_Result send_reply(server *sv, struct MHD_Connection *conn, request *rq,
                                  serve_reply *rep)
{
    if (!rep->body) {
        rep->status = 500;
        rep->body = strdup("{\"success\":false,\"code\":\"ENOMEM\",\"error\":\"out of memory\"}");
        if (!rep->body)
            return MHD_NO;
    }
    size_t len = strlen(rep->body);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, rep->body, MHD_RESPMEM_MUST_COPY);
    explicit_bzero(rep->body, len); /* may hold a lease token */
    free(rep->body);
    rep->body = NULL;
    if (!r)
        return MHD_NO;
    add_common_headers(sv, r, rep->content_type);
    if (rep->allow)
        MHD_add_response_header(r, "Allow", rep->allow);
    if (rep->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sqclaim\"");
    rq->status = rep->status;
    rq->sent = len;
    enum MHD_Result ret = MHD_queue_response(conn, rep->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(server *sv, struct MHD_Connection *conn, request *rq,
                                  unsigned status, const char *code, const char *msg)
{
    serve_reply rep = {0};
    rep.status = status;
    size_t n = strlen(msg) + strlen(code) + 64;
    rep.body = malloc(n);
    if (rep.body)
        snprintf(rep.body, n, "{\"success\":false,\"code\":\"%s\",\"error\":\"%s\"}", code, msg);
    return send_reply(sv, conn, rq, &rep);
}

/* ------------------------------------------------------------------ */
/* Authentication                                                       */

/* Constant time in the length of the expected token: every byte is
 * compared, whatever the first difference. */
static bool token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned char diff = (unsigned char)(glen != wlen);
    for (size_t i = 0; i < wlen; i++) {
        unsigned char g = i < glen ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

/* 0: allowed; else the HTTP status to refuse with (msg set). */
static unsigned check_auth(const server *sv, struct MHD_Connection *conn, const char **msg)
{
    if (!sv->have_token) {
        *msg = "this server has no token (set SQCLAIM_SERVE_TOKEN or --token-file): it only "
               "serves reads";
        return 403;
    }
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        *msg = "missing bearer token: send the header Authorization: Bearer TOKEN";
        return 401;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    if (!token_equal(t, strlen(t), sv->token, sv->token_len)) {
        *msg = "wrong bearer token";
        return 401;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The request callback                                                 */

static void clean_copy(char *out, size_t outlen, const char *in)
{
    size_t i = 0;
    for (; in[i] && i + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch <= 0x20 || ch >= 0x7f || ch == '"') ? '?' : (char)ch;
    }
    out[i] = '\0';
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t len)
{
    snprintf(out, len, "-");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    server *sv = cls;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&sv->inflight, 1);
        rq->t0_ns = now_ns();
        clean_copy(rq->method, sizeof rq->method, method);
        clean_copy(rq->path, sizeof rq->path, url);
        client_addr(conn, rq->client, sizeof rq->client);

        bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        bool is_post = strcmp(method, "POST") == 0;
        if (sv->cors && strcmp(method, "OPTIONS") == 0) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (!r)
                return MHD_NO;
            add_common_headers(sv, r, NULL);
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST");
            MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
            rq->status = 204;
            rq->responded = true;
            enum MHD_Result ret = MHD_queue_response(conn, 204, r);
            MHD_destroy_response(r);
            return ret;
        }
        /* A method the route does not take, or no such route: answered
         * at once (404, 405), before any token or body is looked at. */
        if ((!is_get && !is_post) || (is_post && !serve_route_mutates(method, url))) {
            serve_reply rep;
            serve_req req = {.method = method, .path = url, .body = "", .body_len = 0};
            serve_api_handle(&sv->api, &req, &rep);
            rq->responded = true;
            return send_reply(sv, conn, rq, &rep);
        }
        /* The dashboard page holds no data: it is served without the
         * token even with --auth-reads (a browser cannot send a bearer
         * token on navigation); the page then asks for the token and
         * sends it with its reads. */
        bool page = is_get && strcmp(url, "/") == 0;
        if (is_post || (sv->auth_reads && !page)) {
            const char *why = NULL;
            unsigned st = check_auth(sv, conn, &why);
            if (st) {
                rq->responded = true;
                return send_error(sv, conn, rq, st, st == 401 ? "EAUTH" : "EUNSUPPORTED", why);
            }
        }
        if (is_post) {
            const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > SERVE_MAX_BODY) {
                rq->responded = true;
                return send_error(sv, conn, rq, 413, "EINVAL",
                                  "request body too large (at most 65536 bytes)");
            }
        }
        return MHD_YES; /* come back with the body (if any) */
    }
    if (rq->responded) {
        *upload_data_size = 0; /* discard what still comes */
        return MHD_YES;
    }
    if (rq->too_big) {
        /* A body without Content-Length (chunked) that grew past the
         * limit: what remains is discarded as it comes (the connection
         * timeout bounds it), then answered with 413. */
        if (*upload_data_size) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        rq->responded = true;
        return send_error(sv, conn, rq, 413, "EINVAL",
                          "request body too large (at most 65536 bytes)");
    }
    if (*upload_data_size) {
        if (rq->len + *upload_data_size > SERVE_MAX_BODY) {
            rq->too_big = true;
            explicit_bzero(rq->body, rq->len);
            free(rq->body);
            rq->body = NULL;
            rq->len = 0;
            *upload_data_size = 0;
            return MHD_YES;
        }
        char *nb = realloc(rq->body, rq->len + *upload_data_size + 1);
        if (!nb)
            return MHD_NO;
        rq->body = nb;
        memcpy(rq->body + rq->len, upload_data, *upload_data_size);
        rq->len += *upload_data_size;
        rq->body[rq->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    serve_req req = {
        .method = method, .path = url, .body = rq->body ? rq->body : "", .body_len = rq->len};
    req.query_sq = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sq");
    serve_reply rep;
    serve_api_handle(&sv->api, &req, &rep);
    rq->responded = true;
    return send_reply(sv, conn, rq, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    server *sv = cls;
    request *rq = *con_cls;
    if (!rq)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !rq->status)
        rq->status = 0; /* logged as 0: the client went away or timed out */
    if (!sv->quiet)
        log_line(sv, rq);
    if (rq->body) {
        explicit_bzero(rq->body, rq->len); /* may hold a token */
        free(rq->body);
    }
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&sv->inflight, 1);
}

/* URLs are taken as sent: no %-decoding of the path (routes are plain
 * ASCII), so "/api/%71ueue" is not /api/queue.  Query arguments are
 * decoded by MHD's default for GET arguments. */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    server *sv = cls;
    if (sv->quiet)
        return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    cli_msg("serve: %s", buf);
}

/* ------------------------------------------------------------------ */
/* Options                                                              */

static int read_token(const cli *c, server *sv)
{
    const char *file = c->val[OPT_TOKEN_FILE];
    char buf[SERVE_TOKEN_MAX + 2] = "";
    const char *src;
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            cli_msg("--token-file %.200s: %s", file, strerror(errno));
            return CLI_EXIT_CONFIG;
        }
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        src = "--token-file";
    } else {
        const char *env = getenv("SQCLAIM_SERVE_TOKEN");
        if (!env || !*env)
            return 0;
        if (strlen(env) > SERVE_TOKEN_MAX) {
            cli_msg("SQCLAIM_SERVE_TOKEN is too long (at most %d bytes)", SERVE_TOKEN_MAX);
            return CLI_EXIT_CONFIG;
        }
        snprintf(buf, sizeof buf, "%s", env);
        src = "SQCLAIM_SERVE_TOKEN";
    }
    size_t len = strlen(buf);
    bool printable = true;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
            printable = false;
    if (len < SERVE_TOKEN_MIN || len > SERVE_TOKEN_MAX || !printable) {
        explicit_bzero(buf, sizeof buf);
        cli_msg("%s: the token must be %d to %d printable ASCII characters without spaces "
                "(e.g. `openssl rand -hex 32`)",
                src, SERVE_TOKEN_MIN, SERVE_TOKEN_MAX);
        return CLI_EXIT_CONFIG;
    }
    memcpy(sv->token, buf, len + 1);
    sv->token_len = len;
    sv->have_token = true;
    explicit_bzero(buf, sizeof buf);
    return 0;
}

/* Open the listening socket: IPv4 or IPv6 literal, port (0: any free). */
static int open_listener(const char *addr, int port, int *fd_out, int *port_out, char *shown,
                         size_t shownlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    int fam;
    struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        fam = AF_INET;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        fam = AF_INET6;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
    } else {
        return -2;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(fam == AF_INET ? a4->sin_port : a6->sin6_port);
    *fd_out = fd;
    snprintf(shown, shownlen, fam == AF_INET6 ? "[%s]" : "%s", addr);
    return 0;
}

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

int cmd_serve(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "serve takes no arguments");
    static server sv;
    memset(&sv, 0, sizeof sv);
    atomic_init(&sv.inflight, 0);
    atomic_init(&sv.stopping, false);
    sv.quiet = c->flag[OPT_QUIET];
    sv.auth_reads = c->flag[OPT_AUTH_READS];
    sv.cors = c->val[OPT_CORS];
    if (sv.cors) {
        for (const char *p = sv.cors; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                return cli_usage_error(c, "--cors: an origin such as https://ops.example.com");
        if (!*sv.cors)
            return cli_usage_error(c, "--cors: an origin such as https://ops.example.com");
    }
    const char *addr = c->val[OPT_LISTEN] ? c->val[OPT_LISTEN] : "127.0.0.1";
    uint64_t port = SERVE_DEFAULT_PORT, threads = SERVE_DEFAULT_THREADS;
    int ex = 0;
    if (c->val[OPT_PORT])
        ex = cli_uint_opt(c, "--port", c->val[OPT_PORT], 0, 65535, &port);
    if (!ex && c->val[OPT_THREADS])
        ex = cli_uint_opt(c, "--threads", c->val[OPT_THREADS], 1, 64, &threads);
    int64_t timeout = CLI_DEFAULT_TIMEOUT_MS;
    if (!ex && c->val[OPT_TIMEOUT])
        ex = cli_duration_opt(c, OPT_TIMEOUT, "--timeout", 1, 600000, &timeout);
    if (ex)
        return ex;
    ex = read_token(c, &sv);
    if (ex)
        return ex;
    if (sv.auth_reads && !sv.have_token)
        return cli_usage_error(c, "--auth-reads needs a token (SQCLAIM_SERVE_TOKEN or "
                                  "--token-file)");

    /* Each request is one operation: --timeout bounds it, as it bounds
     * one CLI command. */
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = c->val[OPT_ADAPTER];
    o.redis_url = c->val[OPT_REDIS_URL];
    o.key_prefix = c->val[OPT_PREFIX];
    o.op_timeout_ms = (int)timeout;
    o.timeout_ms = (int)(timeout / 3 > 0 ? timeout / 3 : 1);
    o.connect_timeout_ms = (int)(timeout / 6 > 0 ? timeout / 6 : 1);
    sv.api.pool =
        serve_pool_open(&o, (int)threads, &sv.api.open_rc, sv.api.open_msg, sizeof sv.api.open_msg);
    if (!sv.api.pool) {
        cli_msg("serve: out of memory");
        return CLI_EXIT_FAILURE;
    }
    if (sv.api.open_rc != SQCLAIM_OK) {
        /* The seed's endpoint answered "KV not configured" rather than
         * not answering: so does serve, for a configuration it lacks.
         * A backend that does not exist is the operator's typo: stop. */
        cli_msg("%s", sv.api.open_msg);
        if (sv.api.open_rc != SQCLAIM_ECONFIG) {
            serve_pool_close(sv.api.pool);
            return cli_exit_for(sv.api.open_rc);
        }
        cli_msg("serve: serving anyway: every request answers this error (HTTP 503)");
    }

    int lfd = -1, bound = 0;
    char shown[80];
    int lr = open_listener(addr, (int)port, &lfd, &bound, shown, sizeof shown);
    if (lr == -2) {
        serve_pool_close(sv.api.pool);
        return cli_usage_error(c, "--listen: an IPv4 or IPv6 address such as 127.0.0.1 or ::1");
    }
    if (lr != 0) {
        cli_msg("serve: cannot listen on %s port %d: %s", addr, (int)port, strerror(errno));
        serve_pool_close(sv.api.pool);
        return CLI_EXIT_FAILURE;
    }

    /* Stop signals are taken by sigwait below, never by a worker thread:
     * block them before the threads start (they inherit the mask). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    /* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon() on a
     * thread pool with epoll can abort ("Failed to remove listen FD from
     * epoll set") when a worker touched the listen socket meanwhile; with
     * poll it only sets a flag the workers read.  A few connections per
     * worker thread is what serve expects anyway. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    flags |= MHD_USE_POLL;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &sv,
        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &sv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)SERVE_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)SERVE_HEADER_LIMIT, MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_MAX_CONNECTIONS,
        MHD_OPTION_END);
    if (!d) {
        cli_msg("serve: the HTTP server could not start");
        close(lfd);
        serve_pool_close(sv.api.pool);
        return CLI_EXIT_FAILURE;
    }

    if (c->val[OPT_PORT_FILE]) {
        /* Written whole, then renamed, so a reader never sees half. */
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%.4000s.tmp", c->val[OPT_PORT_FILE]);
        FILE *f = fopen(tmp, "w");
        bool ok = f && fprintf(f, "%d\n", bound) > 0;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok || rename(tmp, c->val[OPT_PORT_FILE]) != 0) {
            cli_msg("serve: cannot write --port-file %.200s: %s", c->val[OPT_PORT_FILE],
                    strerror(errno));
            MHD_stop_daemon(d);
            serve_pool_close(sv.api.pool);
            return CLI_EXIT_FAILURE;
        }
    }
    if (!sv.quiet) {
        cli_msg("serve: listening on http://%s:%d/ (backend %s; %s%s)", shown, bound,
                sv.api.open_rc == SQCLAIM_OK ? serve_pool_adapter(sv.api.pool) : "unusable",
                sv.have_token ? "token required for changes" : "no token: read-only",
                sv.auth_reads ? " and reads" : "");
        if (!is_loopback(addr))
            cli_msg("serve: note: %s is reachable from other hosts; requests and the token "
                    "travel unencrypted (put a TLS proxy in front)",
                    addr);
    }

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    atomic_store(&sv.stopping, true);
    /* No new connections from here.  The listening socket may only be
     * closed after MHD_stop_daemon() (a worker may still hold it); shut
     * down, it stops listening at once (Linux), so new clients are
     * refused instead of waiting in the backlog. */
    MHD_socket q = MHD_quiesce_daemon(d);
    if (q != MHD_INVALID_SOCKET)
        shutdown(q, SHUT_RDWR);
    int64_t deadline = now_ns() + (timeout + 5000) * 1000000;
    int waiting = atomic_load(&sv.inflight);
    if (!sv.quiet)
        cli_msg("serve: %s: stopping; %d request%s in flight", sig == SIGINT ? "SIGINT" : "SIGTERM",
                waiting, waiting == 1 ? "" : "s");
    while (atomic_load(&sv.inflight) > 0 && now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
    if (q != MHD_INVALID_SOCKET)
        close(q);
    serve_pool_close(sv.api.pool);
    explicit_bzero(sv.token, sizeof sv.token);
    if (!sv.quiet)
        cli_msg("serve: stopped");
    return CLI_EXIT_OK;
}

const char serve_help[] =
    "Usage: sqclaim serve [--listen ADDR] [--port N] [--port-file FILE] [--token-file FILE]\n"
    "                     [--auth-reads] [--cors ORIGIN] [--threads N]\n"
    "\n"
    "Serve the store over HTTP (docs/http.md):\n"
    "  GET  /                  a live dashboard (self-contained page)\n"
    "  GET  /api/queue         the seed's status document, exactly as `sqclaim status`\n"
    "  GET  /api/counters      the row cursor and the fencing counter\n"
    "  GET  /api/inspect?sq=SQ what the store holds for one SQ (before /api/break)\n"
    "  GET  /api/health        backend name and whether it is usable\n"
    "  POST /api/claim, /api/claim-first, /api/renew, /api/release, /api/reserve,\n"
    "       /api/finish        the bot API: JSON in, JSON out, the CLI's lease JSON\n"
    "  POST /api/break         operator: end a stuck claim\n"
    "\n"
    "Every POST needs the header Authorization: Bearer TOKEN.  The token comes from\n"
    "$SQCLAIM_SERVE_TOKEN or --token-file (16 to 512 printable characters); without\n"
    "one the server only serves reads.  It is compared in constant time and never\n"
    "logged.  Outcomes map to statuses: 200 OK, 409 BUSY, 410 LOST, 400 invalid\n"
    "input, 401 token, 404, 405, 413 body over 64 KiB, 502/504 store failures, 503\n"
    "store not configured (the seed's \"KV not configured\" document).\n"
    "\n"
    "Options:\n"
    "  --listen ADDR         IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
    "  --port N              TCP port (default 8080; 0: any free port)\n"
    "  --port-file FILE      write the port bound to FILE once listening\n"
    "  --token-file FILE     read the bearer token from FILE's first line\n"
    "  --auth-reads          require the token for GET requests too\n"
    "  --cors ORIGIN         allow browser pages from ORIGIN (default: no CORS)\n"
    "  --threads N           worker threads and store connections (default 4)\n"
    "  --timeout DURATION    bound of each store operation (default 10s)\n"
    "  -q, --quiet           no access log and no notes on stderr\n"
    "  --adapter, --redis-url, --prefix: as for every command (sqclaim --help)\n"
    "\n"
    "Each request is logged on stderr as one line: time, client, method and path,\n"
    "status, bytes, duration (never headers or bodies).  SIGINT or SIGTERM stop it:\n"
    "no new connections, requests in flight finish, then exit 0.\n"
    "\n"
    "Exit status: 0 stopped by a signal; 2 usage error; 4 configuration (unknown\n"
    "backend, bad token); 5 cannot listen.  A vercel backend without KV_REST_API_URL\n"
    "and KV_REST_API_TOKEN is served anyway: every request answers the seed's\n"
    "{\"success\":false,\"error\":\"KV not configured. ...\"} with status 503.\n";
