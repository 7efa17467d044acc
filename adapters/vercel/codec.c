/* codec.c — what goes over the wire: request bodies as the official
 * @upstash/redis client writes them, and the decoding of its replies.
 *
 * Replies are parsed with cJSON for their structure only.  Numbers are not
 * taken from cJSON (its valuedouble loses precision above 2^53): the
 * number literals are collected from the raw text, in document order, and
 * each number item of the tree is matched with its literal by position
 * (cJSON keeps members and elements in document order).  With
 * `Upstash-Encoding: base64` every string of a result is padded base64,
 * except a top-level "OK"; error texts are never encoded. */
#include "vercel.h"
#include "util/squtil.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Request bodies                                                       */

static sqclaim_rc add_command(sq_buf *b, const rp_cmd *cmd, sqb_err *err)
{
    if (cmd->argc < 1)
        return sqb_seterr(err, SQCLAIM_EINVAL, "empty Redis command");
    if (sq_buf_add(b, "[", 1) != 0)
        goto nomem;
    for (int i = 0; i < cmd->argc; i++) {
        if (i && sq_buf_add(b, ",", 1) != 0)
            goto nomem;
        size_t len = cmd->argvlen ? cmd->argvlen[i] : strlen(cmd->argv[i]);
        int r = sq_buf_json(b, cmd->argv[i], len, SQ_JSON_STRICT);
        if (r == -1)
            goto nomem;
        if (r == -2)
            return sqb_seterr(err, SQCLAIM_EINVAL,
                              "argument %d of a %.20s command is not valid UTF-8; the REST "
                              "API carries JSON text only",
                              i, cmd->argv[0]);
    }
    if (sq_buf_add(b, "]", 1) != 0)
        goto nomem;
    return SQCLAIM_OK;
nomem:
    return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory building a request");
}

sqclaim_rc vc_body_command(sq_buf *b, const rp_cmd *cmd, sqb_err *err)
{
    sq_buf_reset(b);
    return add_command(b, cmd, err);
}

sqclaim_rc vc_body_pipeline(sq_buf *b, size_t ncmds, const rp_cmd *cmds, sqb_err *err)
{
    sq_buf_reset(b);
    if (sq_buf_add(b, "[", 1) != 0)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory building a request");
    for (size_t i = 0; i < ncmds; i++) {
        if (i && sq_buf_add(b, ",", 1) != 0)
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory building a request");
        sqclaim_rc rc = add_command(b, &cmds[i], err);
        if (rc != SQCLAIM_OK)
            return rc;
    }
    if (sq_buf_add(b, "]", 1) != 0)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory building a request");
    return SQCLAIM_OK;
}

/* ------------------------------------------------------------------ */
/* Small readers                                                        */

int vc_parse_int(const char *lit, size_t len, long long *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && lit[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= len || lit[i] < '0' || lit[i] > '9')
        return -1;
    if (lit[i] == '0' && i + 1 < len)
        return -1; /* leading zero, or "0.5" */
    unsigned long long limit =
        neg ? (unsigned long long)LLONG_MAX + 1ULL : (unsigned long long)LLONG_MAX;
    unsigned long long v = 0;
    for (; i < len; i++) {
        if (lit[i] < '0' || lit[i] > '9')
            return -1;
        unsigned d = (unsigned)(lit[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN : -(long long)v;
    else
        *out = (long long)v;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int vc_base64_decode(const char *in, size_t inlen, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (inlen % 4)
        return -1;
    size_t pad = 0;
    if (inlen && in[inlen - 1] == '=') {
        pad++;
        if (in[inlen - 2] == '=')
            pad++;
    }
    size_t n = inlen / 4 * 3 - pad;
    char *buf = malloc(n + 1);
    if (!buf)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        bool last = i + 4 == inlen;
        int v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && last && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64val(c);
            if (v[k] < 0) {
                free(buf);
                return -1;
            }
        }
        unsigned triple =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        size_t take = last ? 3 - pad : 3;
        if (take >= 1)
            buf[o++] = (char)(triple >> 16);
        if (take >= 2)
            buf[o++] = (char)(triple >> 8 & 0xff);
        if (take >= 3)
            buf[o++] = (char)(triple & 0xff);
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

bool vc_is_quota_error(const char *text)
{
    if (!text || strncasecmp(text, "ERR max ", 8) != 0)
        return false;
    /* "ERR max daily request limit exceeded. Limit: …", "ERR max requests
     * limit exceeded", "ERR max request size exceeded", "ERR max
     * concurrent connections exceeded", … */
    return strstr(text, "exceeded") != NULL;
}

/* ------------------------------------------------------------------ */
/* Replies                                                              */

typedef struct lits {
    const char **at; /* start of each number literal, document order */
    size_t *len;
    size_t n, cap;
} lits;

static void lits_free(lits *l)
{
    free(l->at);
    free(l->len);
}

static int lits_push(lits *l, const char *at, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        const char **a = realloc(l->at, cap * sizeof *a);
        if (!a)
            return -1;
        l->at = a;
        size_t *ln = realloc(l->len, cap * sizeof *ln);
        if (!ln)
            return -1;
        l->len = ln;
        l->cap = cap;
    }
    l->at[l->n] = at;
    l->len[l->n] = len;
    l->n++;
    return 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The strict lexical check cJSON does not make, and the number literals
 * in document order.  cJSON quietly accepts text a stricter reader (or
 * the server) would take differently: it skips a UTF-8 byte order mark
 * and any byte <= 0x20 as whitespace, keeps raw control characters and
 * invalid UTF-8 inside strings, and cuts a string at \u0000.  A lock
 * client must not guess what such a reply meant.  0 (valid so far: cJSON
 * checks the grammar), -1 out of memory, -2 refused with *why set. */
static int scan_text(const char *s, size_t n, lits *l, char *why, size_t whylen)
{
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        snprintf(why, whylen, "the reply starts with a UTF-8 byte order mark");
        return -2;
    }
    bool in_str = false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (in_str) {
            if (c == '"') {
                in_str = false;
                i++;
            } else if (c == '\\') {
                char e = i + 1 < n ? s[i + 1] : '\0';
                if (e == 'u') {
                    if (i + 6 > n || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) || !is_hex(s[i + 4]) ||
                        !is_hex(s[i + 5]))
                        break; /* cJSON refuses it */
                    if (memcmp(s + i + 2, "0000", 4) == 0) {
                        snprintf(why, whylen,
                                 "the reply has \\u0000 inside a string (a lenient reader cuts "
                                 "the string there)");
                        return -2;
                    }
                    i += 6;
                } else {
                    i += 2; /* cJSON refuses an unknown escape */
                }
            } else if (c < 0x20) {
                snprintf(why, whylen, "the reply has a raw control character (0x%02x) in a string",
                         c);
                return -2;
            } else if (c >= 0x80) {
                size_t k = sq_utf8_seq((const unsigned char *)s + i, n - i, NULL);
                if (k == 0) {
                    snprintf(why, whylen, "the reply has a string that is not valid UTF-8");
                    return -2;
                }
                i += k;
            } else {
                i++;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(why, whylen,
                     "the reply has a control character (0x%02x) outside its strings, which "
                     "JSON does not allow",
                     c);
            return -2;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < n && s[i] && strchr("0123456789+-.eE", s[i]))
                i++;
            if (lits_push(l, s + start, i - start) != 0)
                return -1;
        } else {
            i++;
        }
    }
    return 0;
}

/* Number every cJSON number item in document order (valueint is free
 * scratch space: this code never reads cJSON's own number values). */
static void number_items(cJSON *item, size_t *idx)
{
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item))
            item->valueint = (int)(*idx)++;
        if (item->child)
            number_items(item->child, idx);
    }
}

typedef struct parsed {
    cJSON *root;
    lits lits;
} parsed;

static void parsed_free(parsed *p)
{
    cJSON_Delete(p->root);
    lits_free(&p->lits);
}

static const char *describe_body(const char *body, size_t len)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return "an empty body";
    if (body[i] == '<')
        return "HTML or XML, not JSON (a proxy or an error page?)";
    return "not valid JSON (truncated or garbled)";
}

static sqclaim_rc parse(const char *body, size_t len, parsed *p, sqb_err *err)
{
    memset(p, 0, sizeof *p);
    if (len > (size_t)INT32_MAX)
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply is too large");
    if (memchr(body, '\0', len))
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply contains a NUL byte: not JSON");
    const char *end = NULL;
    p->root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!p->root)
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply is %s", describe_body(body, len));
    size_t used = (size_t)(end - body);
    while (used < len &&
           (body[used] == ' ' || body[used] == '\n' || body[used] == '\r' || body[used] == '\t'))
        used++;
    if (used != len) {
        parsed_free(p);
        return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                          "the reply has extra text after its JSON value (%zu bytes)", len - used);
    }
    char why[160];
    int sc = scan_text(body, len, &p->lits, why, sizeof why);
    if (sc == -1) {
        parsed_free(p);
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory decoding a reply");
    }
    if (sc == -2) {
        parsed_free(p);
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "%s", why);
    }
    size_t count = 0;
    number_items(p->root, &count);
    if (count != p->lits.n) {
        parsed_free(p);
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply's numbers could not be read");
    }
    return SQCLAIM_OK;
}

static sqclaim_rc convert(const parsed *p, const cJSON *v, bool top, int depth, rp_reply **out,
                          sqb_err *err)
{
    *out = NULL;
    if (cJSON_IsNull(v)) {
        *out = rp_reply_new(RP_NIL);
    } else if (cJSON_IsNumber(v)) {
        size_t i = (size_t)v->valueint;
        long long x;
        if (i >= p->lits.n || vc_parse_int(p->lits.at[i], p->lits.len[i], &x) != 0)
            return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                              "the reply has a number that is not a 64-bit integer (%.*s)",
                              i < p->lits.n ? (int)(p->lits.len[i] > 40 ? 40 : p->lits.len[i]) : 0,
                              i < p->lits.n ? p->lits.at[i] : "");
        *out = rp_reply_new(RP_INT);
        if (*out)
            (*out)->integer = x;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (top && strcmp(s, "OK") == 0) {
            *out = rp_reply_str(RP_STR, "OK", 2);
        } else {
            char *dec;
            size_t dlen;
            if (vc_base64_decode(s, strlen(s), &dec, &dlen) != 0)
                return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                                  "the reply has a string that is not base64 although "
                                  "Upstash-Encoding: base64 was asked for");
            *out = rp_reply_str(RP_STR, dec, dlen);
            free(dec);
        }
    } else if (cJSON_IsArray(v)) {
        if (depth > 64)
            return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply is nested too deeply");
        size_t n = (size_t)cJSON_GetArraySize(v);
        rp_reply *r = rp_reply_new(RP_ARR);
        if (!r)
            goto nomem;
        if (n) {
            r->elem = calloc(n, sizeof *r->elem);
            if (!r->elem) {
                rp_reply_free(r);
                goto nomem;
            }
        }
        r->n = n;
        size_t i = 0;
        for (const cJSON *e = v->child; e && i < n; e = e->next, i++) {
            sqclaim_rc rc = convert(p, e, false, depth + 1, &r->elem[i], err);
            if (rc != SQCLAIM_OK) {
                rp_reply_free(r);
                return rc;
            }
        }
        *out = r;
    } else {
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the reply has a %s where Redis values are",
                          cJSON_IsBool(v) ? "boolean" : "JSON object");
    }
    if (!*out)
        goto nomem;
    return SQCLAIM_OK;
nomem:
    return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory decoding a reply");
}

/* One {"result": …} or {"error": "…"} entry.  Exactly one member: a
 * second one (a duplicate "result", a "result" with an "error", anything
 * else) makes the entry ambiguous, and a lenient reader would pick one
 * of them silently (cJSON: the first). */
static sqclaim_rc convert_entry(const parsed *p, const cJSON *obj, rp_reply **out, sqb_err *err)
{
    *out = NULL;
    if (!cJSON_IsObject(obj))
        return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                          "the reply is JSON but not {\"result\": …} or {\"error\": …}");
    int members = cJSON_GetArraySize(obj);
    if (members > 1)
        return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                          "the reply has %d members where exactly one member, \"result\" or "
                          "\"error\", is allowed: it is ambiguous",
                          members);
    const cJSON *m = obj->child;
    if (m && m->string && strcmp(m->string, "result") == 0)
        return convert(p, m, true, 0, out, err);
    if (m && m->string && strcmp(m->string, "error") == 0 && cJSON_IsString(m)) {
        *out = rp_reply_str(RP_ERR, m->valuestring, strlen(m->valuestring));
        return *out ? SQCLAIM_OK : sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    }
    return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                      "the reply has no \"result\" (and no \"error\" text); its one member "
                      "must be \"result\" or \"error\"");
}

sqclaim_rc vc_decode_single(const char *body, size_t len, rp_reply **out, sqb_err *err)
{
    *out = NULL;
    parsed p;
    sqclaim_rc rc = parse(body, len, &p, err);
    if (rc != SQCLAIM_OK)
        return rc;
    rc = convert_entry(&p, p.root, out, err);
    parsed_free(&p);
    return rc;
}

sqclaim_rc vc_decode_pipeline(const char *body, size_t len, size_t ncmds, rp_reply **replies,
                              sqb_err *err)
{
    for (size_t i = 0; i < ncmds; i++)
        replies[i] = NULL;
    parsed p;
    sqclaim_rc rc = parse(body, len, &p, err);
    if (rc != SQCLAIM_OK)
        return rc;
    if (cJSON_IsObject(p.root)) {
        const cJSON *e = p.root->child;
        if (cJSON_GetArraySize(p.root) == 1 && e->string && strcmp(e->string, "error") == 0 &&
            cJSON_IsString(e))
            rc = sqb_seterr(err,
                            vc_is_quota_error(e->valuestring) ? SQCLAIM_EQUOTA : SQCLAIM_ESERVER,
                            "%s", e->valuestring);
        else if (cJSON_GetArraySize(p.root) == 1 && e->string && strcmp(e->string, "result") == 0)
            /* One command's reply: the server did not see a pipeline but
             * ran the URL's path as a command (/set/pipeline). */
            rc = sqb_seterr(err, SQCLAIM_ECONFIG,
                            "the pipeline request got one command's reply: the URL's path was "
                            "run as a command");
        else
            rc = sqb_seterr(err, SQCLAIM_EPROTOCOL, "the pipeline reply is not an array");
        parsed_free(&p);
        return rc;
    }
    if (!cJSON_IsArray(p.root)) {
        parsed_free(&p);
        return sqb_seterr(err, SQCLAIM_EPROTOCOL, "the pipeline reply is not an array");
    }
    size_t n = (size_t)cJSON_GetArraySize(p.root);
    if (n != ncmds) {
        parsed_free(&p);
        return sqb_seterr(err, SQCLAIM_EPROTOCOL,
                          "the pipeline reply has %zu entries for %zu commands", n, ncmds);
    }
    size_t i = 0;
    for (const cJSON *e = p.root->child; e && i < n; e = e->next, i++) {
        rc = convert_entry(&p, e, &replies[i], err);
        if (rc != SQCLAIM_OK)
            break;
    }
    parsed_free(&p);
    if (rc != SQCLAIM_OK) {
        for (size_t k = 0; k < ncmds; k++) {
            rp_reply_free(replies[k]);
            replies[k] = NULL;
        }
    }
    return rc;
}

char *vc_error_text(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    parsed p;
    sqb_err scratch = {0};
    if (parse(body, len, &p, &scratch) != SQCLAIM_OK)
        return NULL;
    /* Only an unambiguous {"error":"…"}: exactly one member. */
    char *text = NULL;
    const cJSON *e = cJSON_IsObject(p.root) ? p.root->child : NULL;
    if (e && !e->next && e->string && strcmp(e->string, "error") == 0 && cJSON_IsString(e))
        text = strdup(e->valuestring);
    parsed_free(&p);
    return text;
}
