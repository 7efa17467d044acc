/* responder.c — see responder.h. */
#include "responder.h"
#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RS_MAX_RECORDED 512
#define RS_QUEUE        64

typedef struct rs_req {
    char *line, *headers, *body;
} rs_req;

struct responder {
    int lfd;
    int wake[2];
    int port;
    char url[64];
    pthread_t thread;
    pthread_mutex_t mu;
    rs_action queue[RS_QUEUE];
    size_t qhead, qlen;
    rs_action dflt;
    int connections, requests;
    rs_req rec[RS_MAX_RECORDED];
    int nrec;
};

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void action_copy(rs_action *dst, const rs_action *src)
{
    *dst = *src;
    size_t blen = src->body ? (src->body_len ? src->body_len : strlen(src->body)) : 0;
    dst->body = src->body ? dup_n(src->body, blen) : NULL;
    dst->body_len = blen;
    dst->headers = src->headers ? dup_n(src->headers, strlen(src->headers)) : NULL;
}

static void action_free(rs_action *a)
{
    free((void *)(uintptr_t)a->body);
    free((void *)(uintptr_t)a->headers);
    a->body = a->headers = NULL;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool send_reply(int fd, const rs_action *a);

/* Append s[0..n) to out[*len..cap) as JSON string content. */
static void json_add(char *out, size_t *len, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *len + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[(*len)++] = '\\';
            out[(*len)++] = (char)c;
        } else if (c < 0x20) {
            *len += (size_t)snprintf(out + *len, cap - *len, "\\u%04x", c);
        } else {
            out[(*len)++] = (char)c;
        }
    }
}

/* The value of header `name` in the raw header block, or NULL; *n set. */
static const char *header_value(const char *hdrs, const char *name, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *p = hdrs; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            *n = eol ? (size_t)(eol - v) : strlen(v);
            return v;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

/* The body of an echoing action for this request (malloc'd), or NULL. */
static char *echo_body(const rs_action *a, const char *hdrs, const char *body, size_t *outlen)
{
    size_t cap = a->body_len * 2 + 8 * strlen(body) + 8 * strlen(hdrs) + 64;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < a->body_len && len + 1 < cap;) {
        if (strncmp(a->body + i, "@REQ@", 5) == 0) {
            json_add(out, &len, cap, body, strlen(body));
            i += 5;
        } else if (strncmp(a->body + i, "@AUTH@", 6) == 0) {
            size_t n = 0;
            const char *v = header_value(hdrs, "Authorization", &n);
            if (v)
                json_add(out, &len, cap, v, n);
            i += 6;
        } else {
            out[len++] = a->body[i++];
        }
    }
    out[len] = '\0';
    *outlen = len;
    return out;
}

/* Reply to one request (hdrs, body: what it sent); returns false if the
 * connection must close. */
static bool reply(int fd, const rs_action *in, const char *hdrs, const char *body)
{
    rs_action echoed = *in;
    char *owned = NULL;
    if (in->echo && in->body) {
        owned = echo_body(in, hdrs, body, &echoed.body_len);
        echoed.body = owned;
    }
    const rs_action *a = &echoed;
    bool keep = true;
    if (a->delay_ms > 0)
        sleep_ms(a->delay_ms);
    if (a->status == 0)
        keep = false;
    else
        keep = send_reply(fd, a);
    free(owned);
    return keep;
}

static bool send_reply(int fd, const rs_action *a)
{
    size_t blen = a->body ? a->body_len : 0;
    size_t total = a->huge ? a->huge : blen;
    char head[1024];
    int n = snprintf(
        head, sizeof head,
        "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n%s%s\r\n",
        a->status, a->announce > 0 ? a->announce : (long)total, a->headers ? a->headers : "",
        a->close_after ? "Connection: close\r\n" : "");
    if (send_all(fd, head, (size_t)n) != 0)
        return false;
    if (a->huge) {
        size_t sent = 0;
        const char *chunk = blen ? a->body : "A";
        size_t clen = blen ? blen : 1;
        char buf[65536];
        size_t fill = 0;
        while (fill + clen <= sizeof buf) {
            memcpy(buf + fill, chunk, clen);
            fill += clen;
        }
        while (sent < total) {
            size_t k = total - sent < fill ? total - sent : fill;
            if (send_all(fd, buf, k) != 0)
                return false;
            sent += k;
        }
    } else if (blen && send_all(fd, a->body, blen) != 0) {
        return false;
    }
    return !a->close_after && a->announce <= 0;
}

/* A complete request in buf[0..len)?  Returns its total length or 0. */
static size_t complete(const char *buf, size_t len, size_t *hdr_end, size_t *clen)
{
    const char *e = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            e = buf + i;
            break;
        }
    if (!e)
        return 0;
    *hdr_end = (size_t)(e - buf) + 4;
    *clen = 0;
    for (const char *p = buf; p < e; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            *clen = (size_t)strtoul(p + 15, NULL, 10);
            break;
        }
    }
    return *hdr_end + *clen <= len ? *hdr_end + *clen : 0;
}

static void record(responder *r, const char *buf, size_t hdr_end, size_t clen)
{
    const char *eol = strstr(buf, "\r\n");
    size_t ll = eol ? (size_t)(eol - buf) : 0;
    pthread_mutex_lock(&r->mu);
    r->requests++;
    if (r->nrec < RS_MAX_RECORDED) {
        rs_req *q = &r->rec[r->nrec++];
        q->line = dup_n(buf, ll);
        q->headers = dup_n(buf + ll + 2, hdr_end - ll - 2);
        q->body = dup_n(buf + hdr_end, clen);
    }
    pthread_mutex_unlock(&r->mu);
}

static void next_action(responder *r, rs_action *out)
{
    pthread_mutex_lock(&r->mu);
    if (r->qlen) {
        *out = r->queue[r->qhead];
        r->qhead = (r->qhead + 1) % RS_QUEUE;
        r->qlen--;
    } else {
        action_copy(out, &r->dflt);
    }
    pthread_mutex_unlock(&r->mu);
}

static void *run(void *arg)
{
    responder *r = arg;
    int cfd = -1;
    char *buf = malloc(1 << 20);
    size_t len = 0, cap = 1 << 20;
    for (;;) {
        struct pollfd p[3] = {{r->wake[0], POLLIN, 0}, {r->lfd, POLLIN, 0}, {cfd, POLLIN, 0}};
        if (poll(p, cfd >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        if (p[1].revents & POLLIN) {
            int nfd = accept(r->lfd, NULL, NULL);
            if (nfd >= 0) {
                if (cfd >= 0)
                    close(cfd);
                cfd = nfd;
                len = 0;
                pthread_mutex_lock(&r->mu);
                r->connections++;
                pthread_mutex_unlock(&r->mu);
            }
        }
        if (cfd >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (len == cap) {
                close(cfd);
                cfd = -1;
                continue;
            }
            ssize_t n = recv(cfd, buf + len, cap - len - 1, 0);
            if (n <= 0) {
                close(cfd);
                cfd = -1;
                continue;
            }
            len += (size_t)n;
            buf[len] = '\0';
            size_t hdr_end, clen, total;
            while (cfd >= 0 && (total = complete(buf, len, &hdr_end, &clen)) > 0) {
                char save = buf[total];
                buf[total] = '\0';
                record(r, buf, hdr_end, clen);
                char *hdrs = dup_n(buf, hdr_end);
                char *rbody = dup_n(buf + hdr_end, clen);
                buf[total] = save;
                memmove(buf, buf + total, len - total);
                len -= total;
                rs_action a;
                next_action(r, &a);
                bool keep = reply(cfd, &a, hdrs ? hdrs : "", rbody ? rbody : "");
                free(hdrs);
                free(rbody);
                action_free(&a);
                if (!keep) {
                    close(cfd);
                    cfd = -1;
                }
            }
        }
    }
    if (cfd >= 0)
        close(cfd);
    free(buf);
    return NULL;
}

responder *rs_start(void)
{
    responder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->lfd = tsrv_listen(16, &r->port);
    if (r->lfd < 0 || pipe(r->wake) != 0) {
        if (r->lfd >= 0)
            close(r->lfd);
        free(r);
        return NULL;
    }
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->port);
    rs_action d = {.status = 200, .body = "{\"result\":\"UE9ORw==\"}"};
    action_copy(&r->dflt, &d);
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        close(r->lfd);
        close(r->wake[0]);
        close(r->wake[1]);
        action_free(&r->dflt);
        free(r);
        return NULL;
    }
    return r;
}

int rs_port(const responder *r) { return r->port; }
const char *rs_url(const responder *r) { return r->url; }

void rs_push(responder *r, const rs_action *a)
{
    pthread_mutex_lock(&r->mu);
    if (r->qlen < RS_QUEUE) {
        action_copy(&r->queue[(r->qhead + r->qlen) % RS_QUEUE], a);
        r->qlen++;
    }
    pthread_mutex_unlock(&r->mu);
}

void rs_set_default(responder *r, const rs_action *a)
{
    pthread_mutex_lock(&r->mu);
    action_free(&r->dflt);
    action_copy(&r->dflt, a);
    pthread_mutex_unlock(&r->mu);
}

int rs_connections(responder *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->connections;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int rs_requests(responder *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->requests;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void copy_out(char *dst, size_t dlen, const char *src)
{
    if (!dst || !dlen)
        return;
    snprintf(dst, dlen, "%s", src ? src : "");
}

bool rs_request(responder *r, int n, char *line, size_t linelen, char *headers, size_t hlen,
                char *body, size_t blen)
{
    pthread_mutex_lock(&r->mu);
    if (n < 0)
        n = r->nrec + n;
    bool ok = n >= 0 && n < r->nrec;
    if (ok) {
        copy_out(line, linelen, r->rec[n].line);
        copy_out(headers, hlen, r->rec[n].headers);
        copy_out(body, blen, r->rec[n].body);
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void clear_records(responder *r)
{
    for (int i = 0; i < r->nrec; i++) {
        free(r->rec[i].line);
        free(r->rec[i].headers);
        free(r->rec[i].body);
    }
    r->nrec = 0;
}

void rs_reset(responder *r)
{
    pthread_mutex_lock(&r->mu);
    clear_records(r);
    r->connections = r->requests = 0;
    while (r->qlen) {
        action_free(&r->queue[r->qhead]);
        r->qhead = (r->qhead + 1) % RS_QUEUE;
        r->qlen--;
    }
    pthread_mutex_unlock(&r->mu);
}

void rs_stop(responder *r)
{
    if (!r)
        return;
    if (write(r->wake[1], "x", 1) != 1) {
        /* the thread also stops when the pipe closes */
    }
    pthread_join(r->thread, NULL);
    close(r->lfd);
    close(r->wake[0]);
    close(r->wake[1]);
    rs_reset(r);
    action_free(&r->dflt);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
