/* kvadmin.c — set kvrest's fault injection through its admin endpoint.
 *
 * A minimal HTTP/1.1 client: kvrest runs on this machine, so plain TCP to
 * the host and port of KV_REST_API_URL is all it takes (https is refused:
 * a real Upstash endpoint has no fault injection to set). */
#include "sqsim.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int parse_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                     char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        /* The URL itself is not printed: it may carry credentials. */
        snprintf(err, errlen,
                 "kvrest faults need a local kvrest: the REST URL must be "
                 "http://host:port");
        return -1;
    }
    p += 7;
    const char *end = p + strcspn(p, "/");
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p || (size_t)(hend - p) >= hostlen) {
        snprintf(err, errlen, "the REST URL has no usable host");
        return -1;
    }
    memcpy(host, p, (size_t)(hend - p));
    host[hend - p] = '\0';
    if (colon) {
        size_t n = (size_t)(end - colon - 1);
        if (n == 0 || n >= portlen) {
            snprintf(err, errlen, "the REST URL has no usable port");
            return -1;
        }
        memcpy(port, colon + 1, n);
        port[n] = '\0';
    } else {
        snprintf(port, portlen, "80");
    }
    return 0;
}

int sim_kvrest_faults(const char *rest_url, const char *token, const char *body, char *err,
                      size_t errlen)
{
    char host[128], port[16];
    if (!rest_url || !token) {
        snprintf(err, errlen, "KV_REST_API_URL and KV_REST_API_TOKEN must be set");
        return -1;
    }
    if (parse_url(rest_url, host, sizeof host, port, sizeof port, err, errlen) != 0)
        return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        snprintf(err, errlen, "%s:%s: %s", host, port, gai_strerror(gr));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to kvrest at %s:%s: %s", host, port, strerror(errno));
        return -1;
    }
    size_t blen = strlen(body);
    size_t cap = blen + strlen(token) + 512;
    char *req = malloc(cap);
    if (!req) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = snprintf(req, cap,
                     "POST /_kvrest/faults HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     host, port, token, blen, body);
    size_t off = 0;
    while (n > 0 && off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(req);
    char resp[1024];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    int status = 0;
    if (sscanf(resp, "HTTP/%*s %d", &status) != 1 || status != 200) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(err, errlen, "kvrest refused the fault settings (HTTP %d): %.200s", status,
                 b ? b + 4 : resp);
        return -1;
    }
    return 0;
}
