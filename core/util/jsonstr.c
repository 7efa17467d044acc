/* jsonstr.c — the tree's one JSON string quoter (see squtil.h). */
#include "squtil.h"

#include <stdlib.h>
#include <string.h>

/* Where the output goes: buf[size] (snprintf-like: n counts every byte,
 * at most size-1 are written). */
typedef struct out {
    char *buf;
    size_t size, n;
} out;

static void put(out *o, const void *p, size_t len)
{
    if (o->n + 1 < o->size) {
        size_t room = o->size - 1 - o->n;
        memcpy(o->buf + o->n, p, len < room ? len : room);
    }
    o->n += len;
}

/* The escape for byte c (< 0x80), or NULL when c stands for itself. */
static const char *escape(unsigned char c, unsigned flags, char tmp[8])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '<':
    case '>':
    case '&':
        if (!(flags & SQ_JSON_HTML))
            return NULL;
        break;
    default:
        if (c >= 0x20 && c != 0x7f)
            return NULL;
        break;
    }
    memcpy(tmp, "\\u00", 4);
    tmp[4] = hex[c >> 4];
    tmp[5] = hex[c & 15];
    tmp[6] = '\0';
    return tmp;
}

size_t sq_json_quote(char *buf, size_t size, const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    bool cstr = n == SQ_JSON_CSTR;
    if (flags & SQ_JSON_STRICT) {
        for (size_t i = 0; cstr ? p[i] != 0 : i < n;) {
            size_t len = sq_utf8_seq(p + i, cstr ? SIZE_MAX : n - i, NULL);
            if (len == 0) {
                if (size > 0)
                    buf[0] = '\0';
                return 0;
            }
            i += len;
        }
    }
    out o = {buf, size, 0};
    put(&o, "\"", 1);
    size_t i = 0;
    while (cstr ? p[i] != 0 : i < n) {
        /* Copy the longest run that stands for itself in one go. */
        size_t run = i;
        char tmp[8];
        for (;;) {
            if (cstr ? p[run] == 0 : run >= n)
                break;
            unsigned char c = p[run];
            size_t len = 1;
            if (c < 0x80) {
                if (escape(c, flags, tmp))
                    break;
            } else {
                len = sq_utf8_seq(p + run, cstr ? SIZE_MAX : n - run, NULL);
                if (len == 0)
                    break;
            }
            run += len;
        }
        put(&o, p + i, run - i);
        i = run;
        if (cstr ? p[i] == 0 : i >= n)
            break;
        if (p[i] < 0x80) {
            const char *e = escape(p[i], flags, tmp);
            put(&o, e, strlen(e));
            i++;
        } else { /* not UTF-8: one U+FFFD for each maximal invalid subpart */
            size_t bad;
            sq_utf8_seq(p + i, cstr ? SIZE_MAX : n - i, &bad);
            put(&o, "\xef\xbf\xbd", 3);
            i += bad;
        }
    }
    put(&o, "\"", 1);
    if (size > 0)
        buf[o.n < size ? o.n : size - 1] = '\0';
    return o.n;
}

int sq_buf_json(sq_buf *b, const char *s, size_t n, unsigned flags)
{
    size_t need = sq_json_quote(NULL, 0, s, n, flags);
    if (need == 0)
        return -2;
    char *at = sq_buf_room(b, need);
    if (!at)
        return -1;
    sq_json_quote(at, need + 1, s, n, flags);
    b->len += need;
    return 0;
}

int sq_json_fput(FILE *f, const char *s, size_t n, unsigned flags)
{
    char small[256];
    size_t need = sq_json_quote(small, sizeof small, s, n, flags);
    if (need == 0)
        return -1;
    char *text = small;
    if (need >= sizeof small) {
        text = malloc(need + 1);
        if (!text)
            return -1;
        sq_json_quote(text, need + 1, s, n, flags);
    }
    int rc = fwrite(text, 1, need, f) == need ? 0 : -1;
    if (text != small)
        free(text);
    return rc;
}
