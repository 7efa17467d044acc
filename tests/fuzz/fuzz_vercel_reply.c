/* fuzz_vercel_reply.c — the vercel backend's reply decoder
 * (adapters/vercel/codec.c), in a round trip with kvrest's encoder
 * (sim/kvrest/json.c), which writes replies as Upstash does.
 *
 * Input: byte 0 picks the mode.
 *   0  the rest is a single-command body for vc_decode_single;
 *   1  byte 1 is a command count, the rest a pipeline body for
 *      vc_decode_pipeline;
 *   2  the rest is an error body for vc_error_text.
 *      In 0-2 anything accepted is written again by kvrest's encoder
 *      (Upstash-Encoding: base64) and must decode to the same tree.
 *   3  structured: redis replies built from the input (strings, status,
 *      integers, nil, nested arrays, a top-level error) -> kvrest's JSON
 *      -> the decoder gives the same tree back, single and pipelined. */
#include "fuzz.h"

#include "../../adapters/vercel/vercel.h"
#include "../../sim/kvrest/kvrest.h"
#include "reply_equal.h"

#include <cjson/cJSON.h>

/* ---- trees ----------------------------------------------------------- */

static void rr_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        rr_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static redisReply *rr_new(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->type = type;
    return r;
}

static void rr_setstr(redisReply *r, const char *s, size_t n)
{
    r->str = malloc(n + 1);
    if (!r->str)
        abort();
    if (n)
        memcpy(r->str, s, n);
    r->str[n] = '\0';
    r->len = n;
}

/* rp_reply -> redisReply, as redis would have sent it. */
static redisReply *to_redis(const rp_reply *x)
{
    redisReply *r = NULL;
    switch (x->type) {
    case RP_NIL: r = rr_new(REDIS_REPLY_NIL); break;
    case RP_INT:
        r = rr_new(REDIS_REPLY_INTEGER);
        r->integer = x->integer;
        break;
    case RP_STR:
    case RP_ERR:
        r = rr_new(x->type == RP_STR ? REDIS_REPLY_STRING : REDIS_REPLY_ERROR);
        rr_setstr(r, x->str, x->len);
        break;
    case RP_ARR:
        r = rr_new(REDIS_REPLY_ARRAY);
        r->elements = x->n;
        r->element = calloc(x->n ? x->n : 1, sizeof *r->element);
        if (!r->element)
            abort();
        for (size_t i = 0; i < x->n; i++)
            r->element[i] = to_redis(x->elem[i]);
        break;
    }
    return r;
}

/* redisReply -> the rp_reply the decoder must give. */
static rp_reply *expected(const redisReply *r)
{
    rp_reply *x = NULL;
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: x = rp_reply_str(RP_STR, r->str, r->len); break;
    case REDIS_REPLY_ERROR: x = rp_reply_str(RP_ERR, r->str, r->len); break;
    case REDIS_REPLY_INTEGER:
        x = rp_reply_new(RP_INT);
        x->integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        x = rp_reply_new(RP_ARR);
        x->n = r->elements;
        x->elem = calloc(r->elements ? r->elements : 1, sizeof *x->elem);
        for (size_t i = 0; i < r->elements; i++)
            x->elem[i] = expected(r->element[i]);
        break;
    default: x = rp_reply_new(RP_NIL); break;
    }
    return x;
}

/* One pipeline entry or single body, as kvrest writes it. */
static void kv_entry(kv_buf *b, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        kv_json_error(b, r->str, r->len);
        return;
    }
    kv_buf_adds(b, "{\"result\":");
    kv_json_reply(b, r, true, true);
    kv_buf_addc(b, '}');
}

/* Encode replies[0..n) with kvrest (single if !pipe) and decode. */
static void round_trip(redisReply **rs, size_t n, bool pipe)
{
    kv_buf b = {0};
    if (pipe) {
        kv_buf_addc(&b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                kv_buf_addc(&b, ',');
            kv_entry(&b, rs[i]);
        }
        kv_buf_addc(&b, ']');
    } else {
        kv_entry(&b, rs[0]);
    }
    sqb_err err = {0};
    if (!pipe) {
        rp_reply *got = NULL;
        sqclaim_rc rc = vc_decode_single(b.p, b.len, &got, &err);
        FUZZ_CHECK(rc == SQCLAIM_OK, "kvrest's body %.200s did not decode: %s", b.p, err.msg);
        rp_reply *want = expected(rs[0]);
        FUZZ_CHECK(rp_equal(got, want), "round trip changed the reply: %.200s", b.p);
        rp_reply_free(want);
        rp_reply_free(got);
    } else {
        rp_reply *got[8] = {0};
        sqclaim_rc rc = vc_decode_pipeline(b.p, b.len, n, got, &err);
        FUZZ_CHECK(rc == SQCLAIM_OK, "kvrest's pipeline body %.200s did not decode: %s", b.p,
                   err.msg);
        for (size_t i = 0; i < n; i++) {
            rp_reply *want = expected(rs[i]);
            FUZZ_CHECK(rp_equal(got[i], want), "pipeline round trip changed reply %zu", i);
            rp_reply_free(want);
            rp_reply_free(got[i]);
        }
    }
    kv_buf_free(&b);
}

/* ---- modes 0-2: decode what the input says ------------------------ */

/* A decoded reply must be one the decoder can produce: strings anywhere,
 * an error only at the top, no NULL elements. */
static void check_tree(const rp_reply *r, bool top)
{
    FUZZ_CHECK(r != NULL, "NULL reply in a decoded tree");
    FUZZ_CHECK(r->type != RP_ERR || top, "an error nested in a decoded array");
    if (r->type == RP_STR || r->type == RP_ERR)
        FUZZ_CHECK(r->str && r->str[r->len] == '\0', "string not terminated");
    if (r->type == RP_ARR)
        for (size_t i = 0; i < r->n; i++)
            check_tree(r->elem[i], false);
}

/* An accepted body is unambiguous (vercel.h): no byte order mark, and
 * every entry an object of exactly one member, "result" or "error" (a
 * lenient reader picks one of {"result":G,"result":B} or {"result":G,
 * "error":E} silently: issue 9 found such a body taken as a grant). */
static void check_unambiguous(const uint8_t *data, size_t size, bool pipe)
{
    FUZZ_CHECK(size < 3 || memcmp(data, "\xEF\xBB\xBF", 3) != 0, "accepted a byte order mark");
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    FUZZ_CHECK(root != NULL, "accepted what cJSON cannot read");
    const cJSON *e = pipe ? root->child : root;
    for (; e; e = pipe ? e->next : NULL) {
        FUZZ_CHECK(
            cJSON_IsObject(e) && cJSON_GetArraySize(e) == 1 && e->child->string &&
                (strcmp(e->child->string, "result") == 0 || strcmp(e->child->string, "error") == 0),
            "accepted an entry that is not exactly {\"result\"|\"error\": ...}");
    }
    cJSON_Delete(root);
}

static void mode_single(const uint8_t *data, size_t size)
{
    rp_reply *r = NULL;
    sqb_err err = {0};
    sqclaim_rc rc = vc_decode_single((const char *)data, size, &r, &err);
    if (rc != SQCLAIM_OK) {
        FUZZ_CHECK(r == NULL, "reply left after a failure");
        FUZZ_CHECK(rc == SQCLAIM_EPROTOCOL || rc == SQCLAIM_ENOMEM, "rc %d", (int)rc);
        return;
    }
    check_tree(r, true);
    check_unambiguous(data, size, false);
    redisReply *rr = to_redis(r);
    round_trip(&rr, 1, false);
    rr_free(rr);
    rp_reply_free(r);
}

static void mode_pipeline(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t n = data[0] % 8;
    rp_reply *r[8];
    sqb_err err = {0};
    sqclaim_rc rc = vc_decode_pipeline((const char *)data + 1, size - 1, n, r, &err);
    if (rc != SQCLAIM_OK) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(r[i] == NULL, "reply %zu left after a failure", i);
        return;
    }
    check_unambiguous(data + 1, size - 1, true);
    redisReply *rr[8] = {0};
    for (size_t i = 0; i < n; i++) {
        check_tree(r[i], true);
        rr[i] = to_redis(r[i]);
    }
    if (n)
        round_trip(rr, n, true);
    for (size_t i = 0; i < n; i++) {
        rr_free(rr[i]);
        rp_reply_free(r[i]);
    }
}

static void mode_error(const uint8_t *data, size_t size)
{
    char *text = vc_error_text((const char *)data, size);
    if (!text)
        return;
    kv_buf b = {0};
    kv_json_error(&b, text, strlen(text));
    char *again = vc_error_text(b.p, b.len);
    FUZZ_CHECK(again && strcmp(again, text) == 0, "error text round trip differs: %s", b.p);
    free(again);
    kv_buf_free(&b);
    free(text);
}

/* ---- mode 3: structured ---------------------------------------------- */

static redisReply *gen(fz *f, int depth, bool top)
{
    unsigned t = fz_u8(f) % (top ? 6 : 5);
    if (depth > 6 && t == 3)
        t = 0;
    redisReply *r;
    const uint8_t *p;
    size_t n;
    switch (t) {
    case 0:
    case 1:
        r = rr_new(t == 0 ? REDIS_REPLY_STRING : REDIS_REPLY_STATUS);
        if (fz_u8(f) % 4 == 0) {
            rr_setstr(r, "OK", 2); /* the one string sent without base64 */
        } else {
            n = fz_bytes(f, fz_u8(f) % 40, &p);
            rr_setstr(r, (const char *)p, n);
        }
        break;
    case 2: {
        r = rr_new(REDIS_REPLY_INTEGER);
        unsigned k = fz_u8(f);
        if (k % 4 == 0)
            r->integer = (long long)fz_u64(f);
        else if (k % 4 == 1)
            r->integer = k % 8 == 1 ? INT64_MIN : INT64_MAX;
        else
            r->integer = (long long)(k / 4) - 16;
        break;
    }
    case 3:
        r = rr_new(REDIS_REPLY_ARRAY);
        r->elements = fz_u8(f) % 6;
        r->element = calloc(r->elements ? r->elements : 1, sizeof *r->element);
        if (!r->element)
            abort();
        for (size_t i = 0; i < r->elements; i++)
            r->element[i] = gen(f, depth + 1, false);
        break;
    case 5: {
        /* A top-level error: text without NUL, valid UTF-8 (ASCII). */
        r = rr_new(REDIS_REPLY_ERROR);
        n = fz_bytes(f, fz_u8(f) % 40, &p);
        char buf[40];
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(p[i] % 0x7f == 0 ? 'x' : p[i] % 0x7f);
        rr_setstr(r, buf, n);
        break;
    }
    default: r = rr_new(REDIS_REPLY_NIL); break;
    }
    return r;
}

static void mode_structured(const uint8_t *data, size_t size)
{
    fz f = {data, size, 0};
    size_t n = 1 + fz_u8(&f) % 8;
    redisReply *rs[8];
    for (size_t i = 0; i < n; i++)
        rs[i] = gen(&f, 0, true);
    round_trip(rs, 1, false);
    round_trip(rs, n, true);
    for (size_t i = 0; i < n; i++)
        rr_free(rs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    switch (data[0] % 4) {
    case 0: mode_single(data + 1, size - 1); break;
    case 1: mode_pipeline(data + 1, size - 1); break;
    case 2: mode_error(data + 1, size - 1); break;
    default: mode_structured(data + 1, size - 1); break;
    }
    return 0;
}
