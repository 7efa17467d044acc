/*
 * cmdparse.c — request bodies and paths -> redis argument vectors.
 *
 * A dedicated parser rather than cJSON: the shapes are tiny (an array of
 * scalars, or an array of such arrays) and cJSON keeps numbers only as a
 * double, which would turn 9007199254740993 into 9007199254740992 and
 * 1.50 into 1.5.  Here a number argument is its literal text, exactly as
 * sent.  Nesting deeper than the route allows is an error, so the parser
 * never recurses.
 *
 * Strings: every JSON escape is decoded (\u0000 included: arguments are
 * binary-safe); surrogate pairs become 4-byte UTF-8; a lone surrogate
 * becomes U+FFFD (what Node.js does when it re-encodes such a string).
 * Raw bytes >= 0x80 are passed through unchanged, even when they are not
 * valid UTF-8; raw control bytes (< 0x20, NUL included) are an error, as
 * JSON requires.
 */
#include "kvrest.h"
#include "util/squtil.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t n;
    size_t i;
    kv_cmds *out;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, const char *fmt, ...) KV_PRINTF(2, 3);
static int fail(parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void arena_reserve(kv_cmds *c, size_t extra)
{
    if (c->arena_len + extra + 1 <= c->arena_cap)
        return;
    size_t cap = c->arena_cap ? c->arena_cap : 256;
    while (cap < c->arena_len + extra + 1)
        cap *= 2;
    c->arena = kv_xrealloc(c->arena, cap);
    c->arena_cap = cap;
}

static void arena_put(kv_cmds *c, const void *p, size_t n)
{
    arena_reserve(c, n);
    memcpy(c->arena + c->arena_len, p, n);
    c->arena_len += n;
}

/* Arguments are recorded as arena offsets (argv[] holds them cast to
 * pointers until finish() fixes them up: the arena may move). */
static void begin_command(kv_cmds *c)
{
    if (c->n == c->capcmds) {
        c->capcmds = c->capcmds ? c->capcmds * 2 : 4;
        c->first = kv_xrealloc(c->first, c->capcmds * sizeof *c->first);
    }
    c->first[c->n++] = c->nargs;
}

static void add_arg(kv_cmds *c, size_t off, size_t len)
{
    if (c->nargs == c->capargs) {
        c->capargs = c->capargs ? c->capargs * 2 : 8;
        c->argv = kv_xrealloc(c->argv, c->capargs * sizeof *c->argv);
        c->argvlen = kv_xrealloc(c->argvlen, c->capargs * sizeof *c->argvlen);
    }
    c->argv[c->nargs] = (const char *)(uintptr_t)off;
    c->argvlen[c->nargs] = len;
    c->nargs++;
    char nul = '\0';
    arena_put(c, &nul, 1);
}

static void finish(kv_cmds *c)
{
    for (size_t i = 0; i < c->nargs; i++)
        c->argv[i] = c->arena + (uintptr_t)c->argv[i];
    c->cmd = kv_xcalloc(c->n, sizeof *c->cmd);
    for (size_t k = 0; k < c->n; k++) {
        size_t end = k + 1 < c->n ? c->first[k + 1] : c->nargs;
        c->cmd[k].argc = (int)(end - c->first[k]);
        c->cmd[k].argv = c->argv + c->first[k];
        c->cmd[k].argvlen = c->argvlen + c->first[k];
    }
}

void kv_cmds_free(kv_cmds *c)
{
    free(c->cmd);
    free(c->argv);
    free(c->argvlen);
    free(c->first);
    free(c->arena);
    memset(c, 0, sizeof *c);
}

static void skip_ws(parser *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static long read_u4(parser *p, size_t at)
{
    if (at + 4 > p->n)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = sq_hexval(p->s[at + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(kv_cmds *c, unsigned long cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    arena_put(c, u, n);
}

/* p->s[p->i] == '"'.  Decodes into the arena; *len = decoded length. */
static int parse_string(parser *p, size_t *len)
{
    kv_cmds *c = p->out;
    size_t start = c->arena_len;
    size_t at = p->i;
    p->i++;
    for (;;) {
        size_t run = p->i;
        while (run < p->n && p->s[run] != '"' && p->s[run] != '\\' && p->s[run] >= 0x20)
            run++;
        if (run > p->i) {
            arena_put(c, p->s + p->i, run - p->i);
            p->i = run;
        }
        if (p->i >= p->n)
            return fail(p, "ERR invalid JSON: unterminated string starting at offset %zu", at);
        unsigned char ch = p->s[p->i];
        if (ch == '"') {
            p->i++;
            break;
        }
        if (ch < 0x20)
            return fail(p, "ERR invalid JSON: control character 0x%02x in string at offset %zu", ch,
                        p->i);
        /* backslash */
        if (p->i + 1 >= p->n)
            return fail(p, "ERR invalid JSON: unterminated string starting at offset %zu", at);
        unsigned char e = p->s[p->i + 1];
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            long u = read_u4(p, p->i + 2);
            if (u < 0)
                return fail(p, "ERR invalid JSON: bad \\u escape at offset %zu", p->i);
            p->i += 6;
            unsigned long cp = (unsigned long)u;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = -1;
                if (p->i + 1 < p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u')
                    lo = read_u4(p, p->i + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                    p->i += 6;
                } else {
                    cp = 0xFFFD; /* lone high surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* lone low surrogate */
            }
            put_utf8(c, cp);
            continue;
        }
        default:
            return fail(p, "ERR invalid JSON: bad escape '\\%c' at offset %zu",
                        e >= 0x20 && e < 0x7f ? e : '?', p->i);
        }
        arena_put(c, &out, 1);
        p->i += 2;
    }
    *len = c->arena_len - start;
    return 0;
}

/* A JSON number by its literal text (strict RFC 8259 grammar). */
static int parse_number(parser *p, size_t *len)
{
    size_t at = p->i, i = p->i;
    const unsigned char *s = p->s;
    if (i < p->n && s[i] == '-')
        i++;
    if (i >= p->n || s[i] < '0' || s[i] > '9')
        return fail(p, "ERR invalid JSON: bad number at offset %zu", at);
    if (s[i] == '0') {
        i++;
    } else {
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->n && s[i] == '.') {
        i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9')
            return fail(p, "ERR invalid JSON: bad number at offset %zu", at);
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9')
            return fail(p, "ERR invalid JSON: bad number at offset %zu", at);
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    arena_put(p->out, s + at, i - at);
    *len = i - at;
    p->i = i;
    return 0;
}

static bool literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->n - p->i >= n && memcmp(p->s + p->i, word, n) == 0) {
        p->i += n;
        return true;
    }
    return false;
}

/* One argument: string, number or boolean. */
static int parse_arg(parser *p, size_t argno)
{
    kv_cmds *c = p->out;
    size_t off = c->arena_len, len = 0;
    unsigned char ch = p->s[p->i];
    if (ch == '"') {
        if (parse_string(p, &len) != 0)
            return -1;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
        if (argno == 0)
            return fail(p, "ERR command name must be a string");
        if (parse_number(p, &len) != 0)
            return -1;
    } else if (ch == 't' || ch == 'f' || ch == 'n') {
        size_t at = p->i;
        if (literal(p, "true")) {
            arena_put(c, "true", 4);
            len = 4;
        } else if (literal(p, "false")) {
            arena_put(c, "false", 5);
            len = 5;
        } else if (literal(p, "null")) {
            return fail(p, "ERR invalid argument #%zu: null is not a valid redis argument",
                        argno + 1);
        } else {
            return fail(p, "ERR invalid JSON: unexpected character at offset %zu", at);
        }
        if (argno == 0)
            return fail(p, "ERR command name must be a string");
    } else if (ch == '[' || ch == '{') {
        if (argno == 0)
            return fail(p, "ERR command name must be a string");
        return fail(p, "ERR invalid argument #%zu: must be a string, number or boolean, not an %s",
                    argno + 1, ch == '[' ? "array" : "object");
    } else {
        return fail(p, "ERR invalid JSON: unexpected character at offset %zu", p->i);
    }
    add_arg(c, off, len);
    return 0;
}

/* p->s[p->i] == '['.  One command: an array of scalars. */
static int parse_command(parser *p)
{
    p->i++;
    begin_command(p->out);
    size_t argc = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return fail(p, "ERR empty command");
    }
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n)
            return fail(p, "ERR invalid JSON: unexpected end of input");
        if (parse_arg(p, argc) != 0)
            return -1;
        if (++argc > INT_MAX / 2)
            return fail(p, "ERR too many arguments");
        skip_ws(p);
        if (p->i >= p->n)
            return fail(p, "ERR invalid JSON: unexpected end of input");
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == ']') {
            p->i++;
            return 0;
        }
        return fail(p, "ERR invalid JSON: expected ',' or ']' at offset %zu", p->i);
    }
}

int kv_parse_commands(kv_cmds *out, const char *body, size_t len, bool nested, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    parser p = {(const unsigned char *)body, len, 0, out, err, errlen};
    int rc = -1;
    const char *what =
        nested ? "a JSON array of commands, e.g. [[\"SET\",\"k\",\"v\"],[\"GET\",\"k\"]]"
               : "a JSON array, e.g. [\"SET\",\"k\",\"v\"]";
    skip_ws(&p);
    if (p.i >= p.n) {
        fail(&p, "ERR empty request body: expected %s", what);
        goto out;
    }
    if (p.s[p.i] != '[') {
        fail(&p, "ERR request body must be %s", what);
        goto out;
    }
    if (!nested) {
        if (parse_command(&p) != 0)
            goto out;
    } else {
        p.i++;
        skip_ws(&p);
        if (p.i < p.n && p.s[p.i] == ']') {
            p.i++;
            fail(&p, "ERR empty pipeline: expected %s", what);
            goto out;
        }
        for (;;) {
            skip_ws(&p);
            if (p.i >= p.n) {
                fail(&p, "ERR invalid JSON: unexpected end of input");
                goto out;
            }
            if (p.s[p.i] != '[') {
                fail(&p, "ERR command #%zu must be a JSON array of strings", out->n + 1);
                goto out;
            }
            if (parse_command(&p) != 0)
                goto out;
            skip_ws(&p);
            if (p.i < p.n && p.s[p.i] == ',') {
                p.i++;
                continue;
            }
            if (p.i < p.n && p.s[p.i] == ']') {
                p.i++;
                break;
            }
            if (p.i >= p.n)
                fail(&p, "ERR invalid JSON: unexpected end of input");
            else
                fail(&p, "ERR invalid JSON: expected ',' or ']' at offset %zu", p.i);
            goto out;
        }
    }
    skip_ws(&p);
    if (p.i != p.n) {
        fail(&p, "ERR invalid JSON: trailing characters at offset %zu", p.i);
        goto out;
    }
    finish(out);
    rc = 0;
out:
    if (rc != 0)
        kv_cmds_free(out);
    return rc;
}

size_t kv_percent_decode(char *s, size_t n)
{
    size_t r = 0, w = 0;
    while (r < n) {
        if (s[r] == '%' && r + 2 < n && sq_hexval((unsigned char)s[r + 1]) >= 0 &&
            sq_hexval((unsigned char)s[r + 2]) >= 0) {
            s[w++] = (char)(sq_hexval((unsigned char)s[r + 1]) * 16 +
                            sq_hexval((unsigned char)s[r + 2]));
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    if (w < n)
        s[w] = '\0';
    return w;
}

int kv_path_command(kv_cmds *out, const char *path, const char *body, size_t bodylen, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    size_t i = 0;
    if (i < n && path[i] == '/')
        i++;
    /* One trailing '/' is ignored: "/get/k/" is GET k. */
    if (n > i && path[n - 1] == '/')
        n--;
    if (i >= n) {
        snprintf(err, errlen,
                 "ERR no command: POST a JSON array to /, or use /COMMAND/arg1/arg2 (path style)");
        return -1;
    }
    begin_command(out);
    size_t argc = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t off = out->arena_len;
        arena_put(out, path + i, j - i);
        size_t len = kv_percent_decode(out->arena + off, j - i);
        out->arena_len = off + len;
        add_arg(out, off, len);
        argc++;
        i = j + 1;
    }
    if (body && bodylen) {
        size_t off = out->arena_len;
        arena_put(out, body, bodylen);
        add_arg(out, off, bodylen);
        argc++;
    }
    if (argc > INT_MAX / 2) {
        snprintf(err, errlen, "ERR too many arguments");
        kv_cmds_free(out);
        return -1;
    }
    finish(out);
    return 0;
}
