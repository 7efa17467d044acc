/*
 * test_framing.c — what kvrest does with requests that are not HTTP, or
 * whose framing is ambiguous, over raw sockets (libcurl would never send
 * them): conflicting Content-Length headers, Content-Length with
 * Transfer-Encoding, and request lines of binary garbage.  Each must get
 * a 400 at once and its connection closed, with nothing applied; well-
 * formed requests (also a request line sent in pieces, or after an empty
 * line) keep working.  Every wait has a deadline; nothing sleeps.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvtest.h"
#include "tcase.h"

#define TOKEN "framing-T0ken"
/* Generous for a loaded machine; the 30 s and more of the bug are far. */
#define DEADLINE_MS 3000

static tsrv redis_srv, kv;

static void servers_up(void)
{
    ck_assert_int_eq(tsrv_redis_start(&redis_srv, NULL), 0);
    ck_assert_int_eq(tsrv_kvrest_start(&kv, &redis_srv, TOKEN, NULL), 0);
}

static void servers_down(void)
{
    tsrv_stop(&kv);
    tsrv_stop(&redis_srv);
}

static void fresh(void) { freeReplyObject(kt_redis(&redis_srv, "FLUSHALL")); }

static int connect_kv(void)
{
    int fd = tsrv_connect(kv.port);
    ck_assert_int_ge(fd, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

typedef struct raw_resp {
    char buf[8192];
    size_t len;
    bool eof;      /* the server closed the connection */
    bool complete; /* a whole response (headers + Content-Length body) */
    long long ms;  /* from the send to the end of reading */
    int status;
} raw_resp;

/* Read one response: until the server closes the connection, or (when
 * until_eof is false) until a whole response has arrived, or the
 * deadline. */
static void read_resp(int fd, raw_resp *r, long long t0, bool until_eof)
{
    for (;;) {
        const char *hend = r->len ? strstr(r->buf, "\r\n\r\n") : NULL;
        if (hend && !r->complete) {
            const char *cl = strcasestr(r->buf, "\r\nContent-Length:");
            size_t want = (size_t)(hend + 4 - r->buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
            r->complete = r->len >= want;
        }
        if (r->eof || (r->complete && !until_eof))
            break;
        long long left = DEADLINE_MS - (tsrv_now_ms() - t0);
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, r->buf + r->len, sizeof r->buf - 1 - r->len, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            r->eof = true; /* closed (or reset after the reply) */
            break;
        }
        if (n > 0) {
            r->len += (size_t)n;
            r->buf[r->len] = '\0';
        }
    }
    r->ms = tsrv_now_ms() - t0;
    r->status = strncmp(r->buf, "HTTP/1.1 ", 9) == 0 ? atoi(r->buf + 9) : 0;
}

/* Send req on a fresh connection, read the reply. */
static void exchange(const char *req, size_t len, raw_resp *r, bool until_eof)
{
    memset(r, 0, sizeof *r);
    int fd = connect_kv();
    long long t0 = tsrv_now_ms();
    send_all(fd, req, len);
    read_resp(fd, r, t0, until_eof);
    close(fd);
}

/* The same for a request the server may refuse (and close) before it has
 * all been sent: a failed send ends the sending. */
static void exchange_oversized(const char *req, size_t len, raw_resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = connect_kv();
    long long t0 = tsrv_now_ms();
    while (len) {
        ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        req += w;
        len -= (size_t)w;
    }
    read_resp(fd, r, t0, true);
    close(fd);
}

#define EXPECT_REFUSED(r, what)                                                                    \
    do {                                                                                           \
        ck_assert_msg((r)->status == 400, "%s: status %d after %lld ms: %.200s", (what),           \
                      (r)->status, (r)->ms, (r)->buf);                                             \
        ck_assert_msg((r)->eof, "%s: the connection stayed open (%lld ms)", (what), (r)->ms);      \
        ck_assert_msg((r)->ms < DEADLINE_MS, "%s: took %lld ms", (what), (r)->ms);                 \
    } while (0)

static bool key_exists(const char *key)
{
    redisReply *r = kt_redis(&redis_srv, "EXISTS %s", key);
    bool e = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return e;
}

/* RFC 9112 6.3: differing Content-Length values make the framing
 * invalid; the server answers 400 and closes.  The command is not run. */
START_TEST(conflicting_content_length)
{
    static const char body[] = "[\"SET\",\"cl\",\"x\"]"; /* 16 bytes */
    static const char *const heads[] = {
        "Content-Length: 16\r\nContent-Length: 30\r\n",
        "Content-Length: 30\r\nContent-Length: 16\r\n",
        "Content-Length: 16\r\nX-Other: 1\r\ncontent-length: 0\r\n",
        /* both framings at once (request smuggling) */
        "Transfer-Encoding: chunked\r\nContent-Length: 16\r\n",
        "Content-Length: 16\r\nTransfer-Encoding: chunked\r\n",
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        char req[512];
        bool chunked = strstr(heads[i], "chunked") != NULL;
        int n = chunked ? snprintf(req, sizeof req,
                                   "POST / HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN
                                   "\r\n%s\r\n10\r\n%s\r\n0\r\n\r\n",
                                   heads[i], body)
                        : snprintf(req, sizeof req,
                                   "POST / HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN
                                   "\r\n%s\r\n%s",
                                   heads[i], body);
        raw_resp r;
        exchange(req, (size_t)n, &r, true);
        EXPECT_REFUSED(&r, heads[i]);
        ck_assert_msg(strstr(r.buf, "{\"error\":\"ERR "), "%zu: %s", i, r.buf);
        ck_assert_msg(!key_exists("cl"), "%zu: the command ran", i);
    }
    /* The same value twice is one framing (RFC 9112 allows it). */
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST / HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN
                     "\r\nContent-Length: 16\r\nContent-Length: 16\r\n\r\n%s",
                     body);
    raw_resp r;
    exchange(req, (size_t)n, &r, false);
    ck_assert_msg(r.status == 200 && strstr(r.buf, "{\"result\":\"OK\"}"), "%s", r.buf);
    ck_assert(key_exists("cl"));
}
END_TEST

/* Threads of the kvrest process (thread per connection by default). */
static int thread_count(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)kv.pid);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Request lines that are not HTTP/1.x: 400 at once, connection closed,
 * no thread left behind. */
START_TEST(garbage_request_line)
{
    static const struct {
        const char *bytes;
        size_t len;
    } garbage[] = {
        {"\x00\x01\x02\xff\xfe garbage \x80\x81\r\n\r\n", 18},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11}, /* a TLS ClientHello */
        {"\x80\x81\x82\x83", 4},
        {"GARBAGE\r\n\r\n", 11},
        {"GET\x00/ HTTP/1.1\r\n\r\n", 18},
        {"\xff\xfe\xfd / HTTP/1.1\r\n\r\n", 18},
        {"GET /\x01 HTTP/1.1\r\n\r\n", 19},
        {"GET / HTTP/1.1 extra\r\n\r\n", 24},
        {"GET  / HTTP/1.1\r\n\r\n", 19},
        {"GET / FTP/1.0\r\n\r\n", 17},
        {"GET /ping\r\n\r\n", 13},
        {"SSH-2.0-OpenSSH_9.2\r\n", 21},
        {"\r\n\r\n\r\n\r\n\x01", 9},
    };
    int before = thread_count();
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        raw_resp r;
        exchange(garbage[i].bytes, garbage[i].len, &r, true);
        char what[32];
        snprintf(what, sizeof what, "garbage %zu", i);
        EXPECT_REFUSED(&r, what);
        ck_assert_msg(strstr(r.buf, "Connection: close") && strstr(r.buf, "{\"error\":\"ERR "),
                      "%zu: %s", i, r.buf);
    }
    /* Many at once, kept open by the client: the server closes each, and
     * no thread stays behind for them. */
    enum { MANY = 20 };
    int fds[MANY];
    long long t0 = tsrv_now_ms();
    for (int i = 0; i < MANY; i++) {
        fds[i] = connect_kv();
        send_all(fds[i], "\x16\x03\x01\x02\x00\x01", 6);
    }
    for (int i = 0; i < MANY; i++) {
        raw_resp r;
        memset(&r, 0, sizeof r);
        read_resp(fds[i], &r, t0, true);
        EXPECT_REFUSED(&r, "one of many");
    }
    int during = thread_count();
    ck_assert_msg(during <= before + 2, "%d threads with %d refused connections open (%d before)",
                  during, MANY, before);
    for (int i = 0; i < MANY; i++)
        close(fds[i]);
    /* Still serving. */
    raw_resp r;
    static const char ping[] =
        "GET /ping HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
    exchange(ping, sizeof ping - 1, &r, false);
    ck_assert_msg(r.status == 200 && strstr(r.buf, "{\"result\":\"PONG\"}"), "%s", r.buf);
}
END_TEST

/* Well-formed requests the gate must let through. */
START_TEST(valid_request_lines_pass)
{
    /* In pieces (each piece its own segment: TCP_NODELAY). */
    static const char *const pieces[] = {"G", "ET /pi", "ng HTTP/1.", "1\r",
                                         "\nHost: k\r\nAuthorization: Bearer " TOKEN "\r\n\r\n"};
    int fd = connect_kv();
    long long t0 = tsrv_now_ms();
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        send_all(fd, pieces[i], strlen(pieces[i]));
    raw_resp r;
    memset(&r, 0, sizeof r);
    read_resp(fd, &r, t0, false);
    ck_assert_msg(r.status == 200 && strstr(r.buf, "{\"result\":\"PONG\"}"), "%s", r.buf);
    /* Keep-alive: a second request on the same connection. */
    static const char set[] =
        "POST /set/piece/1 HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN
        "\r\nContent-Length: 0\r\n\r\n";
    memset(&r, 0, sizeof r);
    t0 = tsrv_now_ms();
    send_all(fd, set, sizeof set - 1);
    read_resp(fd, &r, t0, false);
    ck_assert_msg(r.status == 200 && strstr(r.buf, "{\"result\":\"OK\"}"), "%s", r.buf);
    close(fd);
    /* An empty line before the request line (RFC 9112 2.2), HTTP/1.0, a
     * long path-style URL, a query string, raw UTF-8 in the path. */
    static const char *const ok[] = {
        "\r\nGET /ping HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
        "GET /ping HTTP/1.0\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
        "GET /ping?_token=" TOKEN " HTTP/1.1\r\nHost: k\r\n\r\n",
        "GET /echo/caf\xc3\xa9 HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        exchange(ok[i], strlen(ok[i]), &r, false);
        ck_assert_msg(r.status == 200, "%zu: %s", i, r.buf);
    }
    size_t big = 200000; /* docs/kvrest.md: a path-style URL of 200 KB works */
    char *longreq = malloc(big + 200);
    ck_assert_ptr_nonnull(longreq);
    size_t n = (size_t)sprintf(longreq, "GET /set/long/");
    memset(longreq + n, 'v', big);
    n += big;
    n += (size_t)sprintf(longreq + n,
                         " HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer " TOKEN "\r\n\r\n");
    exchange(longreq, n, &r, false);
    ck_assert_msg(r.status == 200, "long URL: %.200s", r.buf);
    free(longreq);
    redisReply *len = kt_redis(&redis_srv, "STRLEN long");
    ck_assert_int_eq(len->integer, (long long)big);
    freeReplyObject(len);
}
END_TEST

/* What libmicrohttpd answers itself, as docs/kvrest.md says: 414 for a
 * request line that does not fit in 256 KiB, 431 for headers that do not;
 * both closed at once. */
START_TEST(oversized_line_and_headers)
{
    size_t big = 300000;
    char *req = malloc(big + 200);
    ck_assert_ptr_nonnull(req);
    size_t n = (size_t)sprintf(req, "GET /set/k/");
    memset(req + n, 'v', big);
    n += big;
    n += (size_t)sprintf(req + n, " HTTP/1.1\r\nHost: k\r\n\r\n");
    raw_resp r;
    exchange_oversized(req, n, &r);
    ck_assert_msg(r.status == 414 && r.eof && r.ms < DEADLINE_MS, "%d %d %lld: %.100s", r.status,
                  r.eof, r.ms, r.buf);
    n = (size_t)sprintf(req, "GET /ping HTTP/1.1\r\nHost: k\r\nX-Big: ");
    memset(req + n, 'h', big);
    n += big;
    n += (size_t)sprintf(req + n, "\r\n\r\n");
    exchange_oversized(req, n, &r);
    ck_assert_msg(r.status == 431 && r.eof && r.ms < DEADLINE_MS, "%d %d %lld: %.100s", r.status,
                  r.eof, r.ms, r.buf);
    free(req);
    ck_assert(!key_exists("k"));
}
END_TEST

Suite *kt_framing_suite(void)
{
    Suite *s = suite_create("kvrest-framing");
    TCASE_ADD(s,
              ((tcase_spec){.name = "framing",
                            .timeout = 60,
                            .setup = fresh,
                            .once_setup = servers_up,
                            .once_teardown = servers_down}),
              conflicting_content_length, garbage_request_line, valid_request_lines_pass,
              oversized_line_and_headers);
    return s;
}
