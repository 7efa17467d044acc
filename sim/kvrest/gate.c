/*
 * gate.c — kvrest's front door: it accepts connections and looks at the
 * first request line of each (peeking, without consuming a byte) before
 * libmicrohttpd gets the connection.
 *
 * Why: libmicrohttpd 0.9.75 reads a request line until it finds its end.
 * Bytes that are not HTTP (a TLS ClientHello, a port scanner's probe,
 * binary garbage, a NUL) got no answer and held a connection and its
 * thread until the 300 s idle timeout; a line without spaces was closed
 * without any answer.  MHD has no hook before the request line is
 * complete, so the check happens here: a line that cannot be the start of
 * an HTTP/1.x request gets a JSON 400 at once and its connection is
 * closed; a valid one is handed to MHD (MHD_add_connection) with every
 * byte still unread.
 *
 * One thread polls the listening socket and every connection whose first
 * line is still incomplete.  While a line is incomplete its socket's
 * SO_RCVLOWAT is set one byte above what was seen, so poll() wakes only
 * when more arrives.  A refused connection is closed gracefully: the
 * answer, then FIN, then what the client still sends is read and dropped
 * (at most 2 s), so that the answer is not lost to a reset.  Only the
 * first request line of a connection is checked; later requests on a
 * kept-alive connection are MHD's to parse.
 */
#include "kvrest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GATE_MAX       1024  /* connections in the gate at once */
#define GATE_PEEK      8192  /* bytes of a request line checked */
#define GATE_FIRST_MS  10000 /* time for the first request line */
#define GATE_LINGER_MS 2000  /* drain a refused connection this long */

typedef enum gstate { G_SNIFF, G_LINGER } gstate;

typedef struct gconn {
    int fd;
    gstate state;
    size_t seen; /* bytes peeked so far (a valid, incomplete line) */
    int64_t deadline;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} gconn;

struct kv_gate {
    int lfd;
    int wake[2];
    pthread_t thread;
    kv_gate_ops ops;
    gconn *conns;
    size_t n;
    int64_t listen_pause_until; /* accept failed (EMFILE…): retry later */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the check ------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

int kv_request_line_check(const char *buf, size_t n)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    for (int empties = 0; i < n && (b[i] == '\r' || b[i] == '\n'); empties++) {
        if (empties == 4)
            return -1;
        if (b[i] == '\r') {
            if (i + 1 == n)
                return 0;
            if (b[i + 1] != '\n')
                return -1;
            i++;
        }
        i++;
    }
    /* method = token */
    size_t m = 0;
    for (; i < n && is_tchar(b[i]); i++)
        if (++m > 32)
            return -1;
    if (i == n)
        return 0;
    if (m == 0 || b[i++] != ' ')
        return -1;
    /* request-target: visible bytes (bytes >= 0x80 are let through: MHD
     * and the routes decide what a path may hold) */
    size_t t = 0;
    for (; i < n && b[i] > 0x20 && b[i] != 0x7f; i++)
        t++;
    if (i == n)
        return 0;
    if (t == 0 || b[i++] != ' ')
        return -1;
    /* HTTP-version: the number is MHD's to judge (505) */
    static const char version[] = "HTTP/d.d";
    for (size_t k = 0; k < sizeof version - 1; k++, i++) {
        if (i == n)
            return 0;
        if (version[k] == 'd' ? !is_digit(b[i]) : b[i] != (unsigned char)version[k])
            return -1;
    }
    if (i == n)
        return 0;
    if (b[i] == '\n')
        return 1;
    if (b[i++] != '\r')
        return -1;
    if (i == n)
        return 0;
    return b[i] == '\n' ? 1 : -1;
}

/* ---- connections in the gate ---------------------------------------- */

static void set_lowat(int fd, size_t bytes)
{
    int v = (int)bytes;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

static void drop_at(kv_gate *g, size_t i, bool close_fd)
{
    if (close_fd)
        close(g->conns[i].fd);
    g->conns[i] = g->conns[--g->n];
}

/* Answer status with a JSON error, then close gracefully (see the top). */
static void refuse(kv_gate *g, gconn *c, int status, const char *reason, const char *text)
{
    char sync[32] = "0";
    if (g->ops.sync_token)
        g->ops.sync_token(g->ops.cls, sync, sizeof sync);
    char body[256];
    int blen = snprintf(body, sizeof body, "{\"error\":\"%s\"}", text);
    char resp[640];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "upstash-sync-token: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                     status, reason, sync, blen, body);
    /* Small enough for an empty socket buffer: one non-blocking send. */
    (void)send(c->fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)shutdown(c->fd, SHUT_WR);
    set_lowat(c->fd, 1);
    c->state = G_LINGER;
    c->deadline = now_ms() + GATE_LINGER_MS;
}

/* A connection in the gate is readable (revents), or its time is up. */
static void step(kv_gate *g, size_t i, short revents, int64_t now)
{
    bool readable = revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR);
    bool hangup = revents & (POLLRDHUP | POLLHUP | POLLERR);
    gconn *c = &g->conns[i];
    if (c->state == G_LINGER) {
        char scratch[4096];
        for (;;) {
            ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) && now < c->deadline)
                return;
            break; /* EOF, error, or time is up */
        }
        drop_at(g, i, true);
        return;
    }
    if (readable) {
        char buf[GATE_PEEK];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            goto check_time;
        if (n <= 0) {
            drop_at(g, i, true); /* gone before sending anything, or reset */
            return;
        }
        if ((size_t)n == c->seen && hangup) {
            /* Closed its side with the line unfinished. */
            refuse(g, c, 400, "Bad Request", "ERR kvrest: the request line was never finished");
            return;
        }
        if ((size_t)n == c->seen)
            goto check_time; /* nothing new (a spurious wake-up) */
        int v = kv_request_line_check(buf, (size_t)n);
        if (v < 0) {
            refuse(g, c, 400, "Bad Request", "ERR kvrest: this is not an HTTP/1.x request line");
            return;
        }
        if (v > 0 || (size_t)n == sizeof buf) {
            /* A request line (or the start of a very long one): MHD's. */
            gconn hand = *c;
            drop_at(g, i, false);
            set_lowat(hand.fd, 1);
            g->ops.handoff(g->ops.cls, hand.fd, (const struct sockaddr *)&hand.addr, hand.addrlen);
            return;
        }
        c->seen = (size_t)n;
        set_lowat(c->fd, c->seen + 1); /* wake when more has arrived */
    }
check_time:
    if (now >= c->deadline)
        refuse(g, c, 408, "Request Timeout", "ERR kvrest: no complete request line within 10 s");
}

static void accept_all(kv_gate *g, int64_t now)
{
    while (g->n < GATE_MAX) {
        gconn c;
        memset(&c, 0, sizeof c);
        c.addrlen = sizeof c.addr;
        c.fd =
            accept4(g->lfd, (struct sockaddr *)&c.addr, &c.addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c.fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                g->listen_pause_until = now + 100; /* EMFILE and the like */
            return;
        }
        c.state = G_SNIFF;
        c.deadline = now + GATE_FIRST_MS;
        g->conns[g->n++] = c;
    }
}

static void *gate_main(void *arg)
{
    kv_gate *g = arg;
    struct pollfd *p = calloc(GATE_MAX + 2, sizeof *p);
    if (!p)
        return NULL;
    for (;;) {
        int64_t now = now_ms();
        nfds_t np = 0;
        p[np++] = (struct pollfd){g->wake[0], POLLIN, 0};
        bool listening = g->n < GATE_MAX && now >= g->listen_pause_until;
        p[np++] = (struct pollfd){listening ? g->lfd : -1, POLLIN, 0};
        int64_t next = -1;
        for (size_t i = 0; i < g->n; i++) {
            p[np++] = (struct pollfd){g->conns[i].fd, POLLIN | POLLRDHUP, 0};
            if (next < 0 || g->conns[i].deadline < next)
                next = g->conns[i].deadline;
        }
        if (!listening && g->n < GATE_MAX && (next < 0 || g->listen_pause_until < next))
            next = g->listen_pause_until;
        int timeout = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
        int r = poll(p, np, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        now = now_ms();
        /* Connections first (from the end: drop_at moves the last one
         * into the freed slot), then new ones. */
        size_t count = g->n;
        for (size_t k = count; k-- > 0;) {
            short revents = r > 0 ? p[2 + k].revents : 0;
            if (revents || now >= g->conns[k].deadline)
                step(g, k, revents, now);
        }
        if (r > 0 && (p[1].revents & POLLIN))
            accept_all(g, now);
    }
    free(p);
    return NULL;
}

kv_gate *kv_gate_start(int lfd, const kv_gate_ops *ops)
{
    kv_gate *g = kv_xcalloc(1, sizeof *g);
    g->lfd = lfd;
    g->ops = *ops;
    g->conns = kv_xcalloc(GATE_MAX, sizeof *g->conns);
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) != 0 || pipe2(g->wake, O_CLOEXEC) != 0) {
        free(g->conns);
        free(g);
        return NULL;
    }
    if (pthread_create(&g->thread, NULL, gate_main, g) != 0) {
        close(g->wake[0]);
        close(g->wake[1]);
        free(g->conns);
        free(g);
        return NULL;
    }
    return g;
}

void kv_gate_stop(kv_gate *g)
{
    if (!g)
        return;
    if (write(g->wake[1], "x", 1) != 1) {
        /* the pipe cannot be full: one byte, written once */
    }
    pthread_join(g->thread, NULL);
    for (size_t i = 0; i < g->n; i++)
        close(g->conns[i].fd);
    close(g->wake[0]);
    close(g->wake[1]);
    free(g->conns);
    free(g);
}
