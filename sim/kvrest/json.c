/* json.c — JSON output: strings, base64, redis replies (see kvrest.h). */
#include "kvrest.h"
#include "util/squtil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kv_json_string(kv_buf *b, const char *str, size_t n)
{
    if (sq_buf_json(b, str, n, 0) != 0) {
        fprintf(stderr, KVREST_NAME ": out of memory (%zu bytes)\n", b->len + n);
        abort();
    }
}

void kv_base64(kv_buf *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    char out[4];
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[0] = tab[v >> 18];
        out[1] = tab[(v >> 12) & 63];
        out[2] = tab[(v >> 6) & 63];
        out[3] = tab[v & 63];
        kv_buf_add(b, out, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        out[0] = tab[v >> 18];
        out[1] = tab[(v >> 12) & 63];
        out[2] = out[3] = '=';
        kv_buf_add(b, out, 4);
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        out[0] = tab[v >> 18];
        out[1] = tab[(v >> 12) & 63];
        out[2] = tab[(v >> 6) & 63];
        out[3] = '=';
        kv_buf_add(b, out, 4);
    }
}

void kv_json_reply(kv_buf *b, const redisReply *r, bool b64, bool top)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        if (b64 && !(top && r->len == 2 && memcmp(r->str, "OK", 2) == 0)) {
            kv_buf_addc(b, '"');
            kv_base64(b, (const unsigned char *)r->str, r->len);
            kv_buf_addc(b, '"');
        } else {
            kv_json_string(b, r->str, r->len);
        }
        break;
    case REDIS_REPLY_INTEGER:
        /* long long printed as an integer: all 64 bits, never a double. */
        kv_buf_addf(b, "%lld", r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        kv_buf_addc(b, '[');
        for (size_t i = 0; i < r->elements; i++) {
            if (i)
                kv_buf_addc(b, ',');
            if (r->element[i])
                kv_json_reply(b, r->element[i], b64, false);
            else
                kv_buf_adds(b, "null");
        }
        kv_buf_addc(b, ']');
        break;
    case REDIS_REPLY_ERROR:
        /* An error nested in an array (rare: only scripts build these).
         * Error texts are never base64-encoded. */
        kv_json_string(b, r->str, r->len);
        break;
    case REDIS_REPLY_NIL:
    default: kv_buf_adds(b, "null"); break;
    }
}

void kv_json_error(kv_buf *b, const char *text, size_t n)
{
    kv_buf_adds(b, "{\"error\":");
    kv_json_string(b, text, n);
    kv_buf_addc(b, '}');
}
