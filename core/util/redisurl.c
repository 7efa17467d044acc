/* redisurl.c — the redis backend's connection URL (see squtil.h); also
 * read by sqclaim-bench, so both accept the same forms.
 *
 * Messages never echo the URL: a malformed URL can put the password
 * anywhere (a forgotten '@' makes it look like a port), so they name the
 * part that is wrong and the forms that are accepted instead. */
#include "squtil.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMS                                                                                      \
    "expected redis://[[user]:password@]host[:port][/db] or "                                      \
    "unix:///path/to/socket[?db=N&password=P]"

static int bad(char *err, size_t errlen, const char *source, const char *what)
{
    snprintf(err, errlen, "invalid Redis URL in %s: %s; %s", source, what, FORMS);
    return -1;
}

/* Percent-decode s[0..len) into dst[size].  0, or -1 if malformed, too
 * long, or it decodes to a NUL byte. */
static int pct_decode(const char *s, size_t len, char *dst, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = sq_hexval((unsigned char)s[i + 1]), lo = sq_hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || n + 1 >= size)
            return -1;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 0;
}

/* A whole decimal number lo..hi from s[0..len).  0 or -1. */
static int parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
    if (len == 0 || len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static bool host_char_ok(unsigned char c) { return isalnum(c) || c == '.' || c == '-' || c == '_'; }

static int parse_tcp(const char *rest, const char *source, sq_redis_url *u, char *err,
                     size_t errlen)
{
    /* The password may contain '@', '/' or ':' (unencoded): the host part
     * starts after the LAST '@'. */
    const char *at = strrchr(rest, '@');
    const char *hp = rest;
    if (at) {
        const char *ui = rest;
        size_t uilen = (size_t)(at - rest);
        const char *colon = memchr(ui, ':', uilen);
        if (colon) {
            if (pct_decode(ui, (size_t)(colon - ui), u->user, sizeof u->user) != 0)
                return bad(err, errlen, source, "malformed or too long user name");
            if (pct_decode(colon + 1, uilen - (size_t)(colon + 1 - ui), u->password,
                           sizeof u->password) != 0)
                return bad(err, errlen, source, "malformed or too long password");
        } else if (pct_decode(ui, uilen, u->password, sizeof u->password) != 0) {
            return bad(err, errlen, source, "malformed or too long password");
        }
        if (u->user[0] && !u->password[0])
            return bad(err, errlen, source, "a user name needs a password (user:password@)");
        hp = at + 1;
    }
    /* host */
    const char *p = hp;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close == p + 1)
            return bad(err, errlen, source, "unterminated or empty IPv6 address");
        size_t hl = (size_t)(close - p - 1);
        if (hl >= sizeof u->host)
            return bad(err, errlen, source, "host name too long");
        for (const char *q = p + 1; q < close; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                return bad(err, errlen, source, "malformed IPv6 address");
        memcpy(u->host, p + 1, hl);
        u->host[hl] = '\0';
        p = close + 1;
    } else {
        size_t hl = 0;
        while (p[hl] && p[hl] != ':' && p[hl] != '/' && p[hl] != '?')
            hl++;
        if (hl == 0)
            return bad(err, errlen, source, "missing host");
        if (hl >= sizeof u->host)
            return bad(err, errlen, source, "host name too long");
        for (size_t i = 0; i < hl; i++)
            if (!host_char_ok((unsigned char)p[i]))
                return bad(err, errlen, source, "host name contains characters a host cannot have");
        memcpy(u->host, p, hl);
        u->host[hl] = '\0';
        p += hl;
    }
    /* port */
    u->port = 6379;
    if (*p == ':') {
        p++;
        size_t pl = strcspn(p, "/?");
        if (parse_int(p, pl, 1, 65535, &u->port) != 0)
            return bad(err, errlen, source, "the port must be a number from 1 to 65535");
        p += pl;
    }
    /* db */
    if (*p == '/') {
        p++;
        size_t dl = strcspn(p, "?");
        if (dl > 0 && parse_int(p, dl, 0, INT_MAX, &u->db) != 0)
            return bad(err, errlen, source, "the database (after '/') must be a number");
        p += dl;
    }
    if (*p == '?')
        return bad(err, errlen, source, "query parameters are not supported in redis:// URLs");
    if (*p)
        return bad(err, errlen, source, "unexpected text after the host");
    return 0;
}

static int parse_unix(const char *rest, const char *source, sq_redis_url *u, char *err,
                      size_t errlen)
{
    u->is_unix = true;
    if (rest[0] != '/')
        return bad(err, errlen, source, "a unix socket URL needs an absolute path (unix:///path)");
    /* The limit is on the decoded path (sun_path): "%20" is one byte. */
    size_t pl = strcspn(rest, "?");
    if (pct_decode(rest, pl, u->path, sizeof u->path) != 0)
        return bad(err, errlen, source, "malformed or too long socket path (at most 107 bytes)");
    const char *q = rest + pl;
    if (*q == '?')
        q++;
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (!eq)
            return bad(err, errlen, source, "query parameters must be name=value");
        size_t nl = (size_t)(eq - q), vl = len - nl - 1;
        const char *v = eq + 1;
        if (nl == 2 && memcmp(q, "db", 2) == 0) {
            if (parse_int(v, vl, 0, INT_MAX, &u->db) != 0)
                return bad(err, errlen, source, "db must be a number");
        } else if (nl == 8 && memcmp(q, "password", 8) == 0) {
            if (pct_decode(v, vl, u->password, sizeof u->password) != 0)
                return bad(err, errlen, source, "malformed or too long password");
        } else if (nl == 4 && memcmp(q, "user", 4) == 0) {
            if (pct_decode(v, vl, u->user, sizeof u->user) != 0)
                return bad(err, errlen, source, "malformed or too long user name");
        } else {
            return bad(err, errlen, source, "unknown query parameter (known: db, password, user)");
        }
        q += len;
        if (*q == '&')
            q++;
    }
    if (u->user[0] && !u->password[0])
        return bad(err, errlen, source, "a user name needs a password");
    return 0;
}

int sq_redis_url_parse(const char *text, const char *source, sq_redis_url *u, char *err,
                       size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (!text || !*text)
        return bad(err, errlen, source, "empty");
    const char *sep = strstr(text, "://");
    size_t sl = sep ? (size_t)(sep - text) : 0;
    bool scheme_ok = sep && sl > 0 && sl <= 16;
    for (size_t i = 0; scheme_ok && i < sl; i++)
        scheme_ok =
            isalnum((unsigned char)text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.';
    if (!scheme_ok)
        return bad(err, errlen, source, "missing scheme");
    if (sl == 5 && strncmp(text, "redis", 5) == 0)
        return parse_tcp(sep + 3, source, u, err, errlen);
    if (sl == 4 && strncmp(text, "unix", 4) == 0)
        return parse_unix(sep + 3, source, u, err, errlen);
    if (sl == 6 && strncmp(text, "rediss", 6) == 0) {
        snprintf(err, errlen,
                 "invalid Redis URL in %s: TLS (rediss://) is not supported by the redis "
                 "backend; use a TLS tunnel, or the vercel backend for Upstash",
                 source);
        return -1;
    }
    char scheme[20];
    memcpy(scheme, text, sl);
    scheme[sl] = '\0';
    snprintf(err, errlen, "invalid Redis URL in %s: unknown scheme \"%s\"; %s", source, scheme,
             FORMS);
    return -1;
}
