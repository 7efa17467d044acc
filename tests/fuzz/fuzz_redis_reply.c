/* fuzz_redis_reply.c — the redis transport's reply reading
 * (adapters/redis/redis.c, through adapters/redis/reply.h): RESP bytes into
 * hiredis's reader with the transport's guard against huge array headers,
 * conversion to rp_reply, what is left over after the replies asked for,
 * and the scrubbing of error texts.
 *
 * Input: byte 0: how many replies the "request" expects (1-4) and how the
 * bytes arrive (in one piece, or cut where byte 1 says); the rest is what
 * the server sent.  Invariants:
 *   - an array header is refused only when it announces more than
 *     RC_MAX_ELEMENTS, and then the reader stops (nothing allocated for it);
 *   - the converted tree is the reply, value for value;
 *   - written again as RESP and read back, it is the same tree;
 *   - bytes after the expected replies are reported as unparsed (the
 *     transport then drops the connection rather than read a reply that
 *     belongs to nobody);
 *   - after rp_redact + rp_scrub an error text holds neither the password
 *     nor any run of 32 hex digits, nor the arguments Redis quoted. */
#include "fuzz.h"

#include "../../adapters/redis/reply.h"
#include "reply_equal.h"

#include <ctype.h>

static bool same(const redisReply *r, const rp_reply *x)
{
    if (!x)
        return false;
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        return x->type == (r->type == REDIS_REPLY_ERROR ? RP_ERR : RP_STR) &&
               x->len == (size_t)r->len && memcmp(x->str, r->str, x->len) == 0 &&
               x->str[x->len] == '\0';
    case REDIS_REPLY_INTEGER: return x->type == RP_INT && x->integer == r->integer;
    case REDIS_REPLY_NIL: return x->type == RP_NIL;
    case REDIS_REPLY_ARRAY:
        if (x->type != RP_ARR || x->n != r->elements)
            return false;
        for (size_t i = 0; i < r->elements; i++)
            if (!same(r->element[i], x->elem[i]))
                return false;
        return true;
    default: return false;
    }
}

typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void put(out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n)
            cap *= 2;
        o->p = realloc(o->p, cap);
        if (!o->p)
            abort();
        o->cap = cap;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

/* A RESP header: type byte, number, CRLF. */
static void putf(out *o, char type, long long v)
{
    char b[40];
    int n = snprintf(b, sizeof b, "%c%lld\r\n", type, v);
    put(o, b, (size_t)n);
}

/* rp_reply -> RESP (bulk strings; errors as "-" lines). */
static bool to_resp(out *o, const rp_reply *x)
{
    switch (x->type) {
    case RP_NIL: put(o, "$-1\r\n", 5); return true;
    case RP_INT: putf(o, ':', x->integer); return true;
    case RP_STR:
        putf(o, '$', (long long)x->len);
        put(o, x->str, x->len);
        put(o, "\r\n", 2);
        return true;
    case RP_ERR:
        if (memchr(x->str, '\r', x->len) || memchr(x->str, '\n', x->len))
            return false; /* a line reply cannot carry these */
        put(o, "-", 1);
        put(o, x->str, x->len);
        put(o, "\r\n", 2);
        return true;
    case RP_ARR:
        putf(o, '*', (long long)x->n);
        for (size_t i = 0; i < x->n; i++)
            if (!to_resp(o, x->elem[i]))
                return false;
        return true;
    }
    return false;
}

static void reparse(const rp_reply *x)
{
    out o = {0};
    if (!to_resp(&o, x)) {
        free(o.p);
        return;
    }
    redisReader *rd = redisReaderCreate();
    long long refused = 0;
    if (!rd || redis_reader_guard(rd, &refused) != 0)
        abort();
    redisReaderFeed(rd, o.p, o.len);
    void *raw = NULL;
    int rc = redisReaderGetReply(rd, &raw);
    FUZZ_CHECK(rc == REDIS_OK && raw, "re-encoded reply did not parse");
    rp_reply *again = NULL;
    FUZZ_CHECK(redis_reply_convert(raw, &again) == 0, "re-encoded reply did not convert");
    FUZZ_CHECK(rp_equal(x, again), "RESP round trip changed the reply");
    FUZZ_CHECK(!redis_reader_unparsed(rd), "bytes left after the re-encoded reply");
    rp_reply_free(again);
    freeReplyObject(raw);
    redisReaderFree(rd);
    free(o.p);
}

static void check_scrub(const rp_reply *x)
{
    static const char secret[] = "s3cr3t-pass";
    char *s = malloc(x->len + 1);
    if (!s)
        abort();
    memcpy(s, x->str, x->len + 1);
    rp_redact(s, x->len + 1, secret);
    rp_scrub(s, x->len + 1);
    FUZZ_CHECK(strstr(s, secret) == NULL, "password left in an error text");
    size_t run = 0;
    for (const char *p = s; *p; p++) {
        run = isxdigit((unsigned char)*p) ? run + 1 : 0;
        FUZZ_CHECK(run < 32, "a run of 32 hex digits left in an error text");
    }
    const char *echo = strstr(s, "with args beginning with:");
    if (echo)
        FUZZ_CHECK(strncmp(echo + 25, " (not shown)", strlen(echo + 25)) == 0,
                   "quoted arguments left: %s", echo); /* (cut short when it does not fit) */
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 20)
        return 0;
    size_t want = 1 + data[0] % 4;
    bool split = data[0] & 0x10;
    size_t cut = 2 + (size_t)data[1] * 7 % (size - 1);
    const char *body = (const char *)data + 2;
    size_t blen = size - 2;
    if (cut > blen)
        cut = blen;

    redisReader *rd = redisReaderCreate();
    long long refused = 0;
    if (!rd || redis_reader_guard(rd, &refused) != 0)
        abort();
    /* The bytes arrive in one piece or in two (a reply cut by the network). */
    redisReaderFeed(rd, body, split ? cut : blen);
    bool fed_all = !split;
    size_t got = 0;
    while (got < want) {
        void *raw = NULL;
        if (redisReaderGetReply(rd, &raw) != REDIS_OK) {
            if (refused)
                FUZZ_CHECK(refused > RC_MAX_ELEMENTS, "array of %lld refused", refused);
            break;
        }
        if (!raw) {
            if (fed_all)
                break; /* incomplete: the transport waits, then times out */
            redisReaderFeed(rd, body + cut, blen - cut);
            fed_all = true;
            continue;
        }
        FUZZ_CHECK(refused == 0, "a refused array still produced a reply");
        rp_reply *x = NULL;
        int c = redis_reply_convert(raw, &x);
        FUZZ_CHECK(c == 0, "conversion failed (%d)", c);
        FUZZ_CHECK(same(raw, x), "converted tree differs from the reply");
        reparse(x);
        if (x->type == RP_ERR)
            check_scrub(x);
        rp_reply_free(x);
        freeReplyObject(raw);
        got++;
    }
    if (got == want && fed_all && refused == 0) {
        /* Nothing reported as left over: then there is no further reply
         * (an extra reply is what the transport must notice). */
        if (!redis_reader_unparsed(rd)) {
            void *raw = NULL;
            int rc = redisReaderGetReply(rd, &raw);
            FUZZ_CHECK(rc == REDIS_OK && raw == NULL, "an extra reply was not reported");
        }
    }
    redisReaderFree(rd);
    return 0;
}
