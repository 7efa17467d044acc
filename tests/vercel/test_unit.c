/* test_unit.c — configuration and wire format of the vercel backend,
 * without a server. */
#include "vtest.h"
#include "tcase.h"
#include "storeops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------ */

static sqclaim_rc open_env(sqclaim_store **s)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "vercel";
    return sqclaim_open(&o, s);
}

START_TEST(config_missing_is_the_seed_message)
{
    vt_clear_env();
    sqclaim_store *s = NULL;
    ck_assert_int_eq(open_env(&s), SQCLAIM_ECONFIG);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(sqclaim_errmsg(s),
                     "KV not configured. Visit Vercel dashboard to set up KV storage.");
    ck_assert_str_eq(sqclaim_errmsg(s), SQCLAIM_KV_NOT_CONFIGURED);
    /* Every later call answers with the same error. */
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "251019-164rmb", "BOT1", 0, &l, NULL), SQCLAIM_ECONFIG);
    char *j = sqclaim_error_json(sqclaim_errmsg(s), 0);
    ck_assert_str_eq(j, "{\"success\":false,\"error\":\"KV not configured. Visit Vercel dashboard "
                        "to set up KV storage.\"}");
    sqclaim_free(j);
    sqclaim_close(s);

    /* Half a pair is still "not configured", and the message names what
     * is set and what is missing (a blank value counts as unset). */
    static const struct {
        const char *set[2][2];
        const char *want;
    } halves[] = {
        {{{"KV_REST_API_URL", "https://x.upstash.io"}, {NULL, NULL}},
         "KV not configured: KV_REST_API_URL is set but KV_REST_API_TOKEN is not."},
        {{{"KV_REST_API_TOKEN", "tok"}, {NULL, NULL}},
         "KV not configured: KV_REST_API_TOKEN is set but KV_REST_API_URL is not."},
        {{{"UPSTASH_REDIS_REST_URL", "https://x.upstash.io"}, {NULL, NULL}},
         "KV not configured: UPSTASH_REDIS_REST_URL is set but UPSTASH_REDIS_REST_TOKEN is not."},
        {{{"UPSTASH_REDIS_REST_TOKEN", "tok"}, {NULL, NULL}},
         "KV not configured: UPSTASH_REDIS_REST_TOKEN is set but UPSTASH_REDIS_REST_URL is not."},
        {{{"KV_REST_API_URL", "  \n"}, {"KV_REST_API_TOKEN", "tok"}},
         "KV not configured: KV_REST_API_TOKEN is set but KV_REST_API_URL is not."},
    };
    for (size_t i = 0; i < sizeof halves / sizeof halves[0]; i++) {
        vt_clear_env();
        for (int k = 0; k < 2; k++)
            if (halves[i].set[k][0])
                setenv(halves[i].set[k][0], halves[i].set[k][1], 1);
        ck_assert_int_eq(open_env(&s), SQCLAIM_ECONFIG);
        const char *m = sqclaim_errmsg(s);
        ck_assert_msg(strncmp(m, halves[i].want, strlen(halves[i].want)) == 0,
                      "case %zu: \"%s\", want \"%s…\"", i, m, halves[i].want);
        ck_assert_ptr_null(strstr(m, "tok\""));
        sqclaim_close(s);
    }
    /* The same through the options. */
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "vercel";
    o.rest_url = "https://x.upstash.io";
    vt_clear_env();
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_ECONFIG);
    ck_assert_msg(strstr(sqclaim_errmsg(s), "the rest_url option is set but no token is"), "%s",
                  sqclaim_errmsg(s));
    sqclaim_close(s);
    o.rest_url = NULL;
    o.rest_token = "opt-secret";
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_ECONFIG);
    ck_assert_msg(strstr(sqclaim_errmsg(s), "the rest_token option is set but no URL is"), "%s",
                  sqclaim_errmsg(s));
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), "opt-secret"));
    sqclaim_close(s);
    vt_clear_env();
}
END_TEST

static void resolve(vc_config *cfg, const char *url, const char *token)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.rest_url = url;
    o.rest_token = token;
    sqb_err err = {0};
    sqclaim_rc rc = vc_config_resolve(&o, cfg, &err);
    ck_assert_msg(rc == SQCLAIM_OK, "resolve: %s", err.msg);
}

START_TEST(config_precedence)
{
    vc_config c;
    vt_clear_env();
    /* Both pairs complete: KV_* wins, as a pair. */
    setenv("KV_REST_API_URL", "https://kv.example", 1);
    setenv("KV_REST_API_TOKEN", "kvtok", 1);
    setenv("UPSTASH_REDIS_REST_URL", "https://up.example", 1);
    setenv("UPSTASH_REDIS_REST_TOKEN", "uptok", 1);
    resolve(&c, NULL, NULL);
    ck_assert_str_eq(c.url, "https://kv.example");
    ck_assert_str_eq(c.token, "kvtok");
    ck_assert_str_eq(c.url_source, "KV_REST_API_URL");
    ck_assert_str_eq(c.token_source, "KV_REST_API_TOKEN");
    vc_config_free(&c);

    /* KV pair incomplete, UPSTASH pair complete: the UPSTASH pair, not a mix. */
    unsetenv("KV_REST_API_TOKEN");
    resolve(&c, NULL, NULL);
    ck_assert_str_eq(c.url, "https://up.example");
    ck_assert_str_eq(c.token, "uptok");
    vc_config_free(&c);

    /* Neither pair complete: each value on its own (KV_* first). */
    unsetenv("UPSTASH_REDIS_REST_URL");
    resolve(&c, NULL, NULL);
    ck_assert_str_eq(c.url, "https://kv.example");
    ck_assert_str_eq(c.token, "uptok");
    ck_assert_str_eq(c.token_source, "UPSTASH_REDIS_REST_TOKEN");
    vc_config_free(&c);

    /* Options win over the environment, each on its own. */
    setenv("KV_REST_API_TOKEN", "kvtok", 1);
    resolve(&c, "https://opt.example/", NULL);
    ck_assert_str_eq(c.url, "https://opt.example");
    ck_assert_str_eq(c.url_source, "the rest_url option");
    ck_assert_str_eq(c.token, "kvtok");
    vc_config_free(&c);
    resolve(&c, NULL, "opttok");
    ck_assert_str_eq(c.url, "https://kv.example");
    ck_assert_str_eq(c.token, "opttok");
    vc_config_free(&c);

    /* Whitespace around values (a pasted newline) is trimmed; a path is
     * kept without its trailing slash; the port is kept. */
    resolve(&c, "  https://h.example:8443/kv/ \n", "tok\n");
    ck_assert_str_eq(c.url, "https://h.example:8443/kv");
    ck_assert_str_eq(c.token, "tok");
    ck_assert_str_eq(c.host, "h.example:8443");
    vc_config_free(&c);
    vt_clear_env();
}
END_TEST

static void expect_config_error(const char *url, const char *token, const char *needle,
                                const char *secret)
{
    sqclaim_options o =
        tops_options((sqclaim_options){.adapter = "vercel", .rest_url = url, .rest_token = token});
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(&o, &s);
    ck_assert_msg(rc == SQCLAIM_ECONFIG, "%s: rc %d (%s)", url, rc, sqclaim_errmsg(s));
    ck_assert_msg(strstr(sqclaim_errmsg(s), needle), "%s: message \"%s\" lacks \"%s\"", url,
                  sqclaim_errmsg(s), needle);
    if (secret)
        ck_assert_msg(!strstr(sqclaim_errmsg(s), secret), "message shows a secret: %s",
                      sqclaim_errmsg(s));
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), token));
    sqclaim_close(s);
}

START_TEST(config_url_checks)
{
    vt_clear_env();
    /* http:// only to loopback. */
    expect_config_error("http://example.com", "tok-secret", "https://", NULL);
    expect_config_error("http://10.0.0.1:8080", "tok-secret", "http:// is only allowed", NULL);
    expect_config_error("http://128.0.0.1", "tok-secret", "https://", NULL);
    expect_config_error("http://localhost.example.com", "tok-secret", "https://", NULL);
    expect_config_error("http://[::2]:80", "tok-secret", "https://", NULL);
    /* Malformed. */
    expect_config_error("not a url", "tok-secret", "not a valid URL", NULL);
    expect_config_error("kv.example.com", "tok-secret", "not a valid URL", NULL);
    expect_config_error("https://", "tok-secret", "rest_url", NULL);
    /* Another scheme: the message says what is accepted. */
    expect_config_error("ftp://kv.example.com", "tok-secret",
                        "must start with https:// (or http:// to a loopback host: 127.0.0.0/8, "
                        "::1 or localhost); \"ftp\" is not supported",
                        NULL);
    expect_config_error("ftp://x", "tok-secret", "or http:// to a loopback host", NULL);
    expect_config_error("https://user:pw-secret@kv.example.com", "tok-secret", "user or password",
                        "pw-secret");
    expect_config_error("https://kv.example.com/?_token=qs-secret", "tok-secret", "query",
                        "qs-secret");
    expect_config_error("https://kv.example.com/#frag", "tok-secret", "fragment", NULL);
    /* Tokens that cannot go in a header. */
    expect_config_error("https://kv.example.com", "tok secret", "token option", NULL);
    expect_config_error("https://kv.example.com", "tok\r\nX-Evil: 1", "space, control", NULL);

    /* Accepted: loopback over http, anything over https.  Open does no
     * network I/O, so an unroutable host opens at once. */
    static const char *const ok[] = {"http://127.0.0.1:1",
                                     "http://127.5.6.7",
                                     "http://localhost:9",
                                     "http://LOCALHOST",
                                     "http://[::1]:9/",
                                     "https://10.255.255.1",
                                     "https://kv.example.com/base/path"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long t0 = tsrv_now_ms();
        sqclaim_options o;
        sqclaim_options_init(&o);
        o.adapter = "vercel";
        o.rest_url = ok[i];
        o.rest_token = "tok";
        sqclaim_store *s = NULL;
        ck_assert_msg(sqclaim_open(&o, &s) == SQCLAIM_OK, "%s: %s", ok[i], sqclaim_errmsg(s));
        ck_assert_int_lt(tsrv_now_ms() - t0, 500);
        ck_assert_str_eq(sqclaim_adapter(s), "vercel");
        ck_assert_uint_eq(sqclaim_caps(s), SQCLAIM_CAP_CROSS_PROCESS | SQCLAIM_CAP_PERSISTENT |
                                               SQCLAIM_CAP_FOREIGN | SQCLAIM_CAP_STATS);
        sqclaim_close(s);
    }
    ck_assert(vc_host_is_loopback("127.0.0.1"));
    ck_assert(vc_host_is_loopback("[::1]"));
    ck_assert(vc_host_is_loopback("[::ffff:127.0.0.1]"));
    ck_assert(vc_host_is_loopback("localhost"));
    ck_assert(!vc_host_is_loopback("localhost.evil.com"));
    ck_assert(!vc_host_is_loopback("127.0.0.1.nip.io"));
    ck_assert(!vc_host_is_loopback("[::]"));
    ck_assert(!vc_host_is_loopback("0.0.0.0"));
}
END_TEST

START_TEST(config_key_prefix)
{
    vt_clear_env();
    /* An invalid prefix (from the environment) is refused at open. */
    setenv("SQCLAIM_KEY_PREFIX", "bad\x01prefix", 1);
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "vercel";
    o.rest_url = "https://kv.example.com";
    o.rest_token = "tok";
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_ECONFIG); /* as the redis backend */
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "$SQCLAIM_KEY_PREFIX"));
    sqclaim_close(s);
    /* The option wins over the environment. */
    o.key_prefix = "good:";
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    sqclaim_close(s);
    vt_clear_env();
}
END_TEST

/* ---- request bodies ----------------------------------------------------- */

START_TEST(body_exact)
{
    sq_buf b = {0};
    sqb_err err = {0};
    const char *argv[] = {"EVALSHA", "0123abcd", "2", "sq:251019-164rmb", "refund:x", "600000"};
    rp_cmd cmd = {6, argv, NULL};
    ck_assert_int_eq(vc_body_command(&b, &cmd, &err), SQCLAIM_OK);
    ck_assert_str_eq(b.p, "[\"EVALSHA\",\"0123abcd\",\"2\",\"sq:251019-164rmb\",\"refund:x\","
                          "\"600000\"]");

    /* Escapes: quotes, backslashes, control characters; UTF-8 verbatim;
     * a NUL byte as \u0000 (binary-safe lengths). */
    const char raw[] = "a\"b\\c\nd\te\x01\xc3\xa9\xf0\x9f\x98\x80\0z";
    const char *argv2[] = {"SET", raw};
    size_t lens[] = {3, sizeof raw - 1};
    rp_cmd cmd2 = {2, argv2, lens};
    ck_assert_int_eq(vc_body_command(&b, &cmd2, &err), SQCLAIM_OK);
    ck_assert_str_eq(b.p,
                     "[\"SET\",\"a\\\"b\\\\c\\nd\\te\\u0001\xc3\xa9\xf0\x9f\x98\x80\\u0000z\"]");

    /* Pipelines: an array of command arrays. */
    rp_cmd cmds[2] = {{6, argv, NULL}, {1, (const char *[]){"PING"}, NULL}};
    ck_assert_int_eq(vc_body_pipeline(&b, 2, cmds, &err), SQCLAIM_OK);
    ck_assert_str_eq(b.p, "[[\"EVALSHA\",\"0123abcd\",\"2\",\"sq:251019-164rmb\",\"refund:x\","
                          "\"600000\"],[\"PING\"]]");

    /* Invalid UTF-8 cannot travel as JSON text. */
    static const char *const bad[] = {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv3[] = {"SET", "k", bad[i]};
        rp_cmd cmd3 = {3, argv3, NULL};
        ck_assert_int_eq(vc_body_command(&b, &cmd3, &err), SQCLAIM_EINVAL);
    }
    sq_buf_free(&b);
}
END_TEST

/* ---- reply decoding ----------------------------------------------------- */

static rp_reply *dec_ok(const char *body)
{
    rp_reply *r = NULL;
    sqb_err err = {0};
    sqclaim_rc rc = vc_decode_single(body, strlen(body), &r, &err);
    ck_assert_msg(rc == SQCLAIM_OK, "%s: %s", body, err.msg);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* body decodes to a string of exactly len bytes, want, NUL-terminated. */
static void dec_str(const char *body, const char *want, size_t len)
{
    rp_reply *r = dec_ok(body);
    ck_assert_msg(r->type == RP_STR, "%s: type %d", body, (int)r->type);
    ck_assert_msg(r->len == len && memcmp(r->str, want, len) == 0, "%s: %zu bytes \"%s\"", body,
                  r->len, r->str);
    ck_assert_msg(r->str[len] == '\0', "%s: not NUL-terminated", body);
    rp_reply_free(r);
}

static void dec_bad(const char *body, size_t len, const char *needle)
{
    rp_reply *r = NULL;
    sqb_err err = {0};
    sqclaim_rc rc = vc_decode_single(body, len, &r, &err);
    ck_assert_msg(rc == SQCLAIM_EPROTOCOL, "%.60s: rc %d", body, rc);
    ck_assert_ptr_null(r);
    if (needle)
        ck_assert_msg(strstr(err.msg, needle), "%.60s: \"%s\" lacks \"%s\"", body, err.msg, needle);
}

START_TEST(decode_base64_and_ok)
{
    dec_str("{\"result\":\"UE9ORw==\"}", "PONG", 4);
    /* The top-level "OK" is sent raw. */
    dec_str("{\"result\":\"OK\"}", "OK", 2);
    /* ... and an encoded "OK" decodes to OK too. */
    dec_str("{\"result\":\"T0s=\"}", "OK", 2);
    /* Binary: NUL, 0xff, CR LF; lengths exact. */
    dec_str("{\"result\":\"AP+ADQph\"}", "\x00\xff\x80\r\na", 6);
    dec_str("{\"result\":\"\"}", "", 0);
    /* Nested strings are all encoded (a nested raw "OK" is not base64). */
    rp_reply *r = dec_ok("{\"result\":[\"T0s=\",[\"eA==\",null,7],null]}");
    ck_assert_int_eq(r->type, RP_ARR);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_str_eq(r->elem[0]->str, "OK");
    ck_assert_int_eq(r->elem[1]->type, RP_ARR);
    ck_assert_str_eq(r->elem[1]->elem[0]->str, "x");
    ck_assert_int_eq(r->elem[1]->elem[1]->type, RP_NIL);
    ck_assert_int_eq(r->elem[1]->elem[2]->integer, 7);
    ck_assert_int_eq(r->elem[2]->type, RP_NIL);
    rp_reply_free(r);
    dec_bad("{\"result\":[\"OK\"]}", 17, "base64");
    r = dec_ok("{\"result\":null}");
    ck_assert_int_eq(r->type, RP_NIL);
    rp_reply_free(r);
    r = dec_ok("{\"result\":[]}");
    ck_assert_int_eq(r->type, RP_ARR);
    ck_assert_uint_eq(r->n, 0);
    rp_reply_free(r);
    /* An error entry (status 200 or 400) is an RP_ERR reply, never encoded. */
    r = dec_ok("{\"error\":\"NOSCRIPT No matching script. Please use EVAL.\"}");
    ck_assert_int_eq(r->type, RP_ERR);
    ck_assert_str_eq(r->str, "NOSCRIPT No matching script. Please use EVAL.");
    rp_reply_free(r);

    char *out;
    size_t n;
    static const char *const badb64[] = {
        "A", "AB", "ABC", "AB=C", "A===", "AB\nC", "QUJD*", "=AAA", "QQ==QQ=="};
    for (size_t i = 0; i < sizeof badb64 / sizeof badb64[0]; i++)
        ck_assert_msg(vc_base64_decode(badb64[i], strlen(badb64[i]), &out, &n) != 0, "%s",
                      badb64[i]);
    ck_assert_int_eq(vc_base64_decode("8J+YgA==", 8, &out, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(out, "\xf0\x9f\x98\x80");
    free(out);
}
END_TEST

START_TEST(decode_integers_exact)
{
    static const struct {
        const char *body;
        long long v;
    } cases[] = {
        {"{\"result\":0}", 0},
        {"{\"result\":-1}", -1},
        {"{\"result\":9007199254740993}", 9007199254740993LL}, /* 2^53 + 1: not a double */
        {"{\"result\":9223372036854775807}", 9223372036854775807LL},
        {"{\"result\":-9223372036854775808}", (-9223372036854775807LL - 1)},
        {"{\"result\":1234567890123456789}", 1234567890123456789LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_reply *r = dec_ok(cases[i].body);
        ck_assert_int_eq(r->type, RP_INT);
        ck_assert_msg(r->integer == cases[i].v, "%s: %lld", cases[i].body, r->integer);
        rp_reply_free(r);
    }
    /* Numbers in arrays, after escaped quotes and digits in strings:
     * each number item gets its own literal. */
    const char *pipe = "[{\"error\":\"a\\\"1 2\"},{\"result\":[9223372036854775806,\"MTIz\",-5,"
                       "[18014398509481985]]},{\"result\":7}]";
    rp_reply *rep[3];
    sqb_err err = {0};
    ck_assert_int_eq(vc_decode_pipeline(pipe, strlen(pipe), 3, rep, &err), SQCLAIM_OK);
    ck_assert_str_eq(rep[0]->str, "a\"1 2");
    rp_reply *r = rep[1];
    ck_assert_int_eq(r->elem[0]->integer, 9223372036854775806LL);
    ck_assert_str_eq(r->elem[1]->str, "123");
    ck_assert_int_eq(r->elem[2]->integer, -5);
    ck_assert_int_eq(r->elem[3]->elem[0]->integer, 18014398509481985LL);
    ck_assert_int_eq(rep[2]->integer, 7);
    for (int i = 0; i < 3; i++)
        rp_reply_free(rep[i]);

    long long v;
    ck_assert_int_eq(vc_parse_int("9223372036854775808", 19, &v), -1);
    ck_assert_int_eq(vc_parse_int("-9223372036854775809", 20, &v), -1);
    ck_assert_int_eq(vc_parse_int("01", 2, &v), -1);
    ck_assert_int_eq(vc_parse_int("1.0", 3, &v), -1);
    ck_assert_int_eq(vc_parse_int("1e3", 3, &v), -1);
    ck_assert_int_eq(vc_parse_int("-", 1, &v), -1);
    ck_assert_int_eq(vc_parse_int("", 0, &v), -1);
    dec_bad("{\"result\":1.5}", 14, "64-bit integer");
    dec_bad("{\"result\":1e3}", 14, "64-bit integer");
    dec_bad("{\"result\":99999999999999999999}", 31, "64-bit integer");
    dec_bad("{\"result\":-0.0}", 15, "64-bit integer");
}
END_TEST

START_TEST(decode_malformed)
{
    static const struct {
        const char *body;
        const char *needle;
    } cases[] = {
        {"", "empty"},
        {"   ", "empty"},
        {"<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML"},
        {"not json", "not valid JSON"},
        {"{\"result\":\"UE9", "not valid JSON"},
        {"{\"result\":\"UE9ORw==\"} trailing", "extra text"},
        {"{\"result\":\"UE9ORw==\"}{}", "extra text"},
        {"{\"foo\":1}", "no \"result\""},
        {"{\"error\":42}", "no \"result\""},
        {"{}", "no \"result\""},
        {"[]", "not {\"result\""},
        {"\"UE9ORw==\"", "not {\"result\""},
        {"42", "not {\"result\""},
        {"null", "not {\"result\""},
        {"{\"result\":{\"a\":1}}", "JSON object"},
        {"{\"result\":true}", "boolean"},
        {"{\"result\":[false]}", "boolean"},
        {"{\"result\":\"@@@@\"}", "base64"},
        {"{\"result\":\"UE9ORw\"}", "base64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        dec_bad(cases[i].body, strlen(cases[i].body), cases[i].needle);
    /* Embedded NUL bytes. */
    dec_bad("{\"result\":1}\0", 13, "NUL");
    dec_bad("{\"result\"\0:1}", 13, "NUL");
    /* Deep nesting does not crash. */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 16);
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"result\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    dec_bad(deep, n, NULL);
    free(deep);
}
END_TEST

/* Replies a lenient parser (cJSON) would read one way while another
 * reader, or the server, meant them another: a lock client must refuse
 * them, never guess.  G is a grant, B a refusal. */
#define G "[1,0,9,60000,0]"
#define B "[2,\"Qk9UMg==\",5000]"
START_TEST(decode_ambiguous)
{
    static const struct {
        const char *body;
        size_t len; /* 0: strlen */
        const char *needle;
    } cases[] = {
        /* duplicate members: cJSON takes the first */
        {"{\"result\":" G ",\"result\":" B "}", 0, "exactly one member"},
        {"{\"result\":" B ",\"result\":" G "}", 0, "exactly one member"},
        /* a key escaped so that it only matches after decoding */
        {"{\"result\":" G ",\"res\\u0075lt\":" B "}", 0, "exactly one member"},
        /* a result and an error */
        {"{\"result\":" G ",\"error\":\"x\"}", 0, "exactly one member"},
        {"{\"error\":\"x\",\"result\":" G "}", 0, "exactly one member"},
        /* a member nobody knows */
        {"{\"result\":" G ",\"note\":1}", 0, "exactly one member"},
        {"{\"Result\":" G "}", 0, "\"result\" or \"error\""},
        /* a byte order mark (cJSON skips it) */
        {"\xEF\xBB\xBF{\"result\":" G "}", 0, "byte order mark"},
        /* control characters cJSON takes as whitespace */
        {"{\x01\"result\":" G "}", 0, "control character"},
        {"\x0c{\"result\":" G "}", 0, "control character"},
        {"{\"result\":[1,\x0b"
         "0,9,60000,0]}",
         0, "control character"},
        /* raw control characters inside a string */
        {"{\"result\":\"T0s=\x01\"}", 0, "control character"},
        {"{\"error\":\"ERR x\ny\"}", 0, "control character"},
        /* \u0000 inside a string: cJSON cuts the string there */
        {"{\"result\":\"T0s=\\u0000QkFE\"}", 0, "\\u0000"},
        {"{\"error\":\"NOSCRIPT\\u0000 but granted\"}", 0, "\\u0000"},
        /* invalid UTF-8 (JSON text is UTF-8) */
        {"{\"error\":\"ERR \xff\"}", 0, "UTF-8"},
        {"{\"error\":\"ERR \xc0\x80\"}", 0, "UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
        dec_bad(cases[i].body, len, cases[i].needle);
    }
    /* The same rules inside a pipeline, and for a whole-request error. */
    static const char *const pipes[] = {
        "[{\"result\":\"T0s=\",\"result\":\"QkFE\"}]", "[{\"result\":\"T0s=\",\"error\":\"x\"}]",
        "\xEF\xBB\xBF[{\"result\":\"T0s=\"}]",         "{\"error\":\"ERR a\",\"error\":\"ERR b\"}",
        "[{\"result\":\"T0s=\\u0000QkFE\"}]",
    };
    for (size_t i = 0; i < sizeof pipes / sizeof pipes[0]; i++) {
        rp_reply *rep[1];
        sqb_err err = {0};
        sqclaim_rc rc = vc_decode_pipeline(pipes[i], strlen(pipes[i]), 1, rep, &err);
        ck_assert_msg(rc == SQCLAIM_EPROTOCOL, "%s: rc %d (%s)", pipes[i], rc, err.msg);
        ck_assert_ptr_null(rep[0]);
    }
    /* Still accepted: escapes that change nothing, whitespace JSON
     * allows, a 200 error reply. */
    rp_reply *r = dec_ok(" \t\r\n{ \"result\" : \"T0s\\u003d\" }\n");
    ck_assert_str_eq(r->str, "OK");
    rp_reply_free(r);
    r = dec_ok("{\"error\":\"ERR caf\xc3\xa9 \\\"quoted\\\" \\/ \\u00e9\"}");
    ck_assert_int_eq(r->type, RP_ERR);
    ck_assert_str_eq(r->str, "ERR caf\xc3\xa9 \"quoted\" / \xc3\xa9");
    rp_reply_free(r);
}
END_TEST
#undef G
#undef B

START_TEST(decode_pipeline)
{
    const char *body = "[{\"result\":\"T0s=\"},{\"result\":\"OK\"},{\"error\":\"ERR wrong type\"},"
                       "{\"result\":18446744073709551615}]";
    rp_reply *rep[4];
    sqb_err err = {0};
    /* 2^64-1 is out of range: the whole pipeline is a protocol error, and
     * every reply slot is NULL. */
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 4, rep, &err), SQCLAIM_EPROTOCOL);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_null(rep[i]);
    body = "[{\"result\":\"T0s=\"},{\"result\":\"OK\"},{\"error\":\"ERR wrong type\"},"
           "{\"result\":[\"YQ==\",4611686018427387904]}]";
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 4, rep, &err), SQCLAIM_OK);
    ck_assert_str_eq(rep[0]->str, "OK");
    ck_assert_str_eq(rep[1]->str, "OK");
    ck_assert_int_eq(rep[2]->type, RP_ERR);
    ck_assert_str_eq(rep[2]->str, "ERR wrong type");
    ck_assert_str_eq(rep[3]->elem[0]->str, "a");
    ck_assert_int_eq(rep[3]->elem[1]->integer, 4611686018427387904LL);
    for (int i = 0; i < 4; i++)
        rp_reply_free(rep[i]);
    /* Wrong count. */
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 3, rep, &err), SQCLAIM_EPROTOCOL);
    ck_assert_ptr_nonnull(strstr(err.msg, "4 entries for 3"));
    /* A whole-request error. */
    body = "{\"error\":\"ERR max daily request limit exceeded. Limit: 10000, Usage: 10000\"}";
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 1, rep, &err), SQCLAIM_EQUOTA);
    body = "{\"error\":\"ERR syntax\"}";
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 1, rep, &err), SQCLAIM_ESERVER);
    /* One command's reply to a pipeline: the URL's path ran as a command. */
    body = "{\"result\":1}";
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 1, rep, &err), SQCLAIM_ECONFIG);
    body = "[1]";
    ck_assert_int_eq(vc_decode_pipeline(body, strlen(body), 1, rep, &err), SQCLAIM_EPROTOCOL);
}
END_TEST

START_TEST(quota_and_redaction)
{
    ck_assert(
        vc_is_quota_error("ERR max daily request limit exceeded. Limit: 10000, Usage: 10000."));
    ck_assert(vc_is_quota_error("ERR max requests limit exceeded"));
    ck_assert(vc_is_quota_error("ERR max request size exceeded"));
    ck_assert(!vc_is_quota_error("ERR wrong number of arguments"));
    ck_assert(!vc_is_quota_error("NOSCRIPT No matching script. Please use EVAL."));
    ck_assert(!vc_is_quota_error(NULL));

    char s[128] = "token=AbC123secret and again AbC123secret.";
    rp_redact(s, sizeof s, "AbC123secret");
    ck_assert_str_eq(s, "token=*** and again ***.");
    char t[16] = "xyxy";
    rp_redact(t, sizeof t, "y");
    ck_assert_str_eq(t, "x*x*");
    char *e = vc_error_text("{\"error\":\"Unauthorized\"}", 24);
    ck_assert_str_eq(e, "Unauthorized");
    free(e);
    ck_assert_ptr_null(vc_error_text("<html>", 6));
    ck_assert_ptr_null(vc_error_text("{\"result\":1}", 12));
    /* Only an unambiguous error body has a text. */
    ck_assert_ptr_null(vc_error_text("{\"error\":\"a\",\"error\":\"b\"}", 25));
    ck_assert_ptr_null(vc_error_text("{\"error\":\"a\",\"result\":1}", 24));
    ck_assert_ptr_null(vc_error_text("\xEF\xBB\xBF{\"error\":\"a\"}", 16));
}
END_TEST

Suite *vt_unit_suite(void)
{
    Suite *s = suite_create("vercel-unit");
    TCASE_ADD(s, ((tcase_spec){.name = "config"}), config_missing_is_the_seed_message,
              config_precedence, config_url_checks, config_key_prefix);
    TCASE_ADD(s, ((tcase_spec){.name = "wire"}), body_exact, decode_base64_and_ok,
              decode_integers_exact, decode_malformed, decode_ambiguous, decode_pipeline,
              quota_and_redaction);
    return s;
}
