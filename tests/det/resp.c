/* resp.c — see resp.h. */
#include "resp.h"
#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long line_end(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return (long)i;
    return -1;
}

static long frame_at(const char *buf, size_t len, size_t at)
{
    if (at >= len)
        return 0;
    long e = line_end(buf, len, at);
    if (e < 0)
        return 0;
    size_t after = (size_t)e + 2;
    char t = buf[at];
    switch (t) {
    case '+':
    case '-':
    case ':': return (long)(after - at);
    case '$': {
        long long n = strtoll(buf + at + 1, NULL, 10);
        if (n < 0)
            return (long)(after - at);
        if (len < after + (size_t)n + 2)
            return 0;
        return (long)(after + (size_t)n + 2 - at);
    }
    case '*': {
        long long n = strtoll(buf + at + 1, NULL, 10);
        size_t pos = after;
        for (long long k = 0; k < n; k++) {
            long f = frame_at(buf, len, pos);
            if (f <= 0)
                return f;
            pos += (size_t)f;
        }
        return (long)(pos - at);
    }
    default: return -1;
    }
}

long resp_frame(const char *buf, size_t len) { return frame_at(buf, len, 0); }

static rv *parse_at(const char *buf, size_t len, size_t *pos)
{
    long e = line_end(buf, len, *pos);
    if (e < 0)
        return NULL;
    rv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    char t = buf[*pos];
    const char *head = buf + *pos + 1;
    size_t hl = (size_t)e - *pos - 1;
    size_t after = (size_t)e + 2;
    v->t = t;
    switch (t) {
    case '+':
    case '-':
        v->s = malloc(hl + 1);
        memcpy(v->s, head, hl);
        v->s[hl] = '\0';
        v->len = hl;
        *pos = after;
        return v;
    case ':':
        v->i = strtoll(head, NULL, 10);
        *pos = after;
        return v;
    case '$': {
        long long n = strtoll(head, NULL, 10);
        if (n < 0) {
            v->t = 'n';
            *pos = after;
            return v;
        }
        v->s = malloc((size_t)n + 1);
        memcpy(v->s, buf + after, (size_t)n);
        v->s[n] = '\0';
        v->len = (size_t)n;
        *pos = after + (size_t)n + 2;
        return v;
    }
    case '*': {
        long long n = strtoll(head, NULL, 10);
        *pos = after;
        v->n = n > 0 ? (size_t)n : 0;
        v->e = v->n ? calloc(v->n, sizeof *v->e) : NULL;
        for (size_t k = 0; k < v->n; k++) {
            v->e[k] = parse_at(buf, len, pos);
            if (!v->e[k]) {
                rv_free(v);
                return NULL;
            }
        }
        return v;
    }
    default: free(v); return NULL;
    }
}

rv *rv_parse(const char *buf, size_t len)
{
    size_t pos = 0;
    return parse_at(buf, len, &pos);
}

void rv_free(rv *v)
{
    if (!v)
        return;
    for (size_t k = 0; k < v->n; k++)
        rv_free(v->e[k]);
    free(v->e);
    free(v->s);
    free(v);
}

rp_reply *rv_to_rp(const rv *v)
{
    rp_reply *r = NULL;
    switch (v->t) {
    case '+':
    case '$': return rp_reply_str(RP_STR, v->s, v->len);
    case '-': return rp_reply_str(RP_ERR, v->s, v->len);
    case 'n': return rp_reply_new(RP_NIL);
    case ':':
        r = rp_reply_new(RP_INT);
        r->integer = v->i;
        return r;
    case '*':
        r = rp_reply_new(RP_ARR);
        r->n = v->n;
        r->elem = v->n ? calloc(v->n, sizeof *r->elem) : NULL;
        for (size_t k = 0; k < v->n; k++)
            r->elem[k] = rv_to_rp(v->e[k]);
        return r;
    default: return NULL;
    }
}

int resp_connect(resp_conn *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = tsrv_connect(port);
    return c->fd < 0 ? -1 : 0;
}

void resp_close(resp_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

static int put(char **b, size_t *len, size_t *cap, const void *s, size_t n)
{
    if (*cap - *len < n + 1) {
        size_t nc = *cap ? *cap : 4096;
        while (nc - *len < n + 1)
            nc *= 2;
        char *g = realloc(*b, nc);
        if (!g)
            return -1;
        *b = g;
        *cap = nc;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = '\0';
    return 0;
}

static int format(char **b, size_t *len, size_t *cap, int argc, const char *const *argv,
                  const size_t *lens)
{
    char head[32];
    int n = snprintf(head, sizeof head, "*%d\r\n", argc);
    if (put(b, len, cap, head, (size_t)n))
        return -1;
    for (int i = 0; i < argc; i++) {
        n = snprintf(head, sizeof head, "$%zu\r\n", lens[i]);
        if (put(b, len, cap, head, (size_t)n) || put(b, len, cap, argv[i], lens[i]) ||
            put(b, len, cap, "\r\n", 2))
            return -1;
    }
    return 0;
}

static int send_all(int fd, const char *b, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, b + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Read until nreplies complete replies are buffered; move their bytes to
 * *raw. */
static int read_replies(resp_conn *c, size_t nreplies, char **raw, size_t *rawlen)
{
    for (;;) {
        size_t pos = 0, k = 0;
        for (; k < nreplies; k++) {
            long f = frame_at(c->buf ? c->buf : "", c->len, pos);
            if (f < 0)
                return -1;
            if (f == 0)
                break;
            pos += (size_t)f;
        }
        if (k == nreplies) {
            *raw = malloc(pos + 1);
            if (!*raw)
                return -1;
            memcpy(*raw, c->buf, pos);
            (*raw)[pos] = '\0';
            *rawlen = pos;
            memmove(c->buf, c->buf + pos, c->len - pos);
            c->len -= pos;
            return 0;
        }
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        char tmp[65536];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (put(&c->buf, &c->len, &c->cap, tmp, (size_t)n))
            return -1;
    }
}

int resp_call(resp_conn *c, int argc, const char **argv, const size_t *lens, char **raw,
              size_t *rawlen)
{
    rp_cmd cmd = {argc, argv, lens};
    return resp_pipeline(c, 1, &cmd, raw, rawlen);
}

int resp_pipeline(resp_conn *c, size_t n, const rp_cmd *cmds, char **raw, size_t *rawlen)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < n; i++)
        if (format(&b, &len, &cap, cmds[i].argc, cmds[i].argv, cmds[i].argvlen)) {
            free(b);
            return -1;
        }
    int rc = send_all(c->fd, b, len);
    free(b);
    if (rc)
        return -1;
    return read_replies(c, n, raw, rawlen);
}

void resp_escape(char *out, size_t outlen, const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 5 < outlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r') {
            out[k++] = '\\';
            out[k++] = 'r';
        } else if (ch == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
            k += (size_t)snprintf(out + k, outlen - k, "\\x%02x", ch);
        } else {
            out[k++] = (char)ch;
        }
    }
    if (k + 4 < outlen && len > 0 && k + 5 >= outlen)
        memcpy(out + k, "...", 3), k += 3;
    out[k < outlen ? k : outlen - 1] = '\0';
}
