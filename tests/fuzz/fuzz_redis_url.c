/* fuzz_redis_url.c — the redis backend's URL parser (adapters/redis/url.c,
 * REDIS_URL and the redis_url option).
 *
 * Invariants: an accepted URL has a host of host characters (or an IPv6
 * address), a port 1..65535, a db >= 0, no user without a password, a
 * unix path that is absolute; written again (every user, password and
 * path byte percent-encoded) it parses to the same fields; a refusal is
 * ECONFIG and its message never quotes the userinfo or a password=
 * value (the password). */
#include "fuzz.h"

#include "../../adapters/redis/url.h"

#include <ctype.h>

typedef struct sb {
    char p[4096];
    size_t n;
    bool over;
} sb;

static void add(sb *b, const char *s, size_t n)
{
    if (b->n + n >= sizeof b->p) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void adds(sb *b, const char *s) { add(b, s, strlen(s)); }

static void add_pct(sb *b, const char *s)
{
    for (; *s; s++) {
        char e[4];
        snprintf(e, sizeof e, "%%%02X", (unsigned char)*s);
        add(b, e, 3);
    }
}

static bool same(const redis_url *a, const redis_url *b)
{
    return a->is_unix == b->is_unix && strcmp(a->host, b->host) == 0 && a->port == b->port &&
           strcmp(a->path, b->path) == 0 && strcmp(a->user, b->user) == 0 &&
           strcmp(a->password, b->password) == 0 && a->db == b->db;
}

/* The secret parts of text are the userinfo of redis:// (before the last
 * '@') and the password= value of unix://.  Swapping their letters' case
 * changes nothing the parser decides on: the message must not change. */
static void check_secret_hidden(const char *text, const char *msg)
{
    const char *sep = strstr(text, "://");
    if (!sep)
        return;
    char *copy = fz_cstr((const uint8_t *)text, strlen(text));
    char *rest = copy + (sep + 3 - text);
    char *at = strrchr(rest, '@');
    if (strncmp(text, "redis://", 8) == 0 && at)
        fz_swapcase(rest, (size_t)(at - rest));
    char *q = strncmp(text, "unix://", 7) == 0 ? strchr(rest, '?') : NULL;
    while (q) {
        q++; /* a parameter starts here */
        size_t len = strcspn(q, "&");
        if (len >= 9 && strncmp(q, "password=", 9) == 0)
            fz_swapcase(q + 9, len - 9);
        q = q[len] ? q + len : NULL;
    }
    redis_url u;
    sqb_err err = {0};
    sqclaim_rc rc = redis_url_parse(copy, "REDIS_URL", &u, &err);
    FUZZ_CHECK(rc != SQCLAIM_OK && strcmp(err.msg, msg) == 0,
               "the message depends on the password: \"%s\" vs \"%s\"", msg, err.msg);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = fz_cstr(data, size);
    redis_url u;
    sqb_err err = {0};
    sqclaim_rc rc = redis_url_parse(text, "REDIS_URL", &u, &err);
    if (rc != SQCLAIM_OK) {
        FUZZ_CHECK(rc == SQCLAIM_ECONFIG, "rc %d", (int)rc);
        FUZZ_CHECK(strstr(err.msg, "REDIS_URL") != NULL, "the message does not name the source");
        check_secret_hidden(text, err.msg);
        free(text);
        return 0;
    }
    FUZZ_CHECK(!u.user[0] || u.password[0], "a user without a password");
    FUZZ_CHECK(u.db >= 0, "db %d", u.db);
    sb b = {0};
    if (u.is_unix) {
        FUZZ_CHECK(u.path[0] == '/', "relative socket path");
        adds(&b, "unix:///");
        add_pct(&b, u.path + 1);
        char q[64];
        snprintf(q, sizeof q, "?db=%d", u.db);
        adds(&b, q);
        if (u.password[0]) {
            adds(&b, "&password=");
            add_pct(&b, u.password);
        }
        if (u.user[0]) {
            adds(&b, "&user=");
            add_pct(&b, u.user);
        }
    } else {
        FUZZ_CHECK(u.port >= 1 && u.port <= 65535, "port %d", u.port);
        FUZZ_CHECK(u.host[0], "empty host");
        bool v6 = strchr(u.host, ':') != NULL;
        for (const char *p = u.host; *p; p++) {
            unsigned char c = (unsigned char)*p;
            bool ok = v6 ? (isxdigit(c) || c == ':' || c == '.')
                         : (isalnum(c) || c == '.' || c == '-' || c == '_');
            FUZZ_CHECK(ok, "host character 0x%02x", c);
        }
        adds(&b, "redis://");
        if (u.user[0]) {
            add_pct(&b, u.user);
            adds(&b, ":");
        }
        if (u.password[0]) {
            if (!u.user[0])
                adds(&b, ":");
            add_pct(&b, u.password);
            adds(&b, "@");
        }
        if (v6)
            adds(&b, "[");
        adds(&b, u.host);
        if (v6)
            adds(&b, "]");
        char tail[64];
        snprintf(tail, sizeof tail, ":%d/%d", u.port, u.db);
        adds(&b, tail);
    }
    if (!b.over) {
        redis_url u2;
        sqb_err err2 = {0};
        rc = redis_url_parse(b.p, "again", &u2, &err2);
        FUZZ_CHECK(rc == SQCLAIM_OK, "re-encoded URL refused: %s", err2.msg);
        FUZZ_CHECK(same(&u, &u2), "re-encoded URL parses differently");
    }
    free(text);
    return 0;
}
