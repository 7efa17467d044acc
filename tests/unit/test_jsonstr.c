/* test_jsonstr.c — the tree's one JSON string quoter (core/util/jsonstr.c):
 * what it writes for tricky text in each of its modes, the same through
 * its three doors (fixed buffer, sq_buf, FILE), truncation, and that what
 * it writes is JSON that reads back to the text.
 *
 * Its users and the mode each one takes: the library's stored values and
 * JSON (core/, adapters/sqlite, adapters/redisproto; NUL-terminated), the
 * REST codec's request bodies (adapters/vercel/codec.c; counted,
 * SQ_JSON_STRICT), kvrest's replies (counted), sqsim's report (report.c)
 * and timeline page (timeline.c, SQ_JSON_HTML), the CLI's counters JSON. */
#include "util/squtil.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FFFD "\xef\xbf\xbd"

typedef struct jcase {
    const char *in;
    size_t n;         /* SQ_JSON_CSTR: up to the NUL */
    unsigned flags;   /* SQ_JSON_HTML, SQ_JSON_STRICT */
    const char *want; /* NULL: refused (SQ_JSON_STRICT) */
} jcase;

static const jcase cases[] = {
    {"", SQ_JSON_CSTR, 0, "\"\""},
    {NULL, SQ_JSON_CSTR, 0, "\"\""},
    {"plain text", SQ_JSON_CSTR, 0, "\"plain text\""},
    {"q\"b\\s/", SQ_JSON_CSTR, 0, "\"q\\\"b\\\\s/\""}, /* '/' stays */
    /* every C0 control: the five short escapes, the rest \u00XX */
    {"\x01\x02\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x1b\x1f", SQ_JSON_CSTR, 0,
     "\"\\u0001\\u0002\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001b\\u001f\""},
    {"del\x7f.", SQ_JSON_CSTR, 0, "\"del\\u007f.\""},
    {"<a>&</script>", SQ_JSON_CSTR, 0, "\"<a>&</script>\""},
    {"<a>&</script><!--", SQ_JSON_CSTR, SQ_JSON_HTML,
     "\"\\u003ca\\u003e\\u0026\\u003c/script\\u003e\\u003c!--\""},
    /* 2-, 3- and 4-byte UTF-8 as it is; C1 (U+0085) too */
    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc2\x85", SQ_JSON_CSTR, 0,
     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc2\x85\""},
    /* not UTF-8: one U+FFFD per maximal invalid subpart (a lone byte, a
     * cut sequence, an overlong form, a surrogate, past U+10FFFF) */
    {"a\xff"
     "b\xe2\x82 c\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
     SQ_JSON_CSTR, 0, "\"a" FFFD "b" FFFD " c" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "\""},
    {"cut at the end \xf0\x9f\x98", SQ_JSON_CSTR, 0, "\"cut at the end " FFFD "\""},
    {"a\xff", SQ_JSON_CSTR, SQ_JSON_STRICT, NULL},
    {"\xc3\xa9 ok", SQ_JSON_CSTR, SQ_JSON_STRICT, "\"\xc3\xa9 ok\""},
    /* counted: a NUL byte is text, and a sequence cut by n is not UTF-8 */
    {"nul\0x", 5, 0, "\"nul\\u0000x\""},
    {"nul\0x", 5, SQ_JSON_STRICT, "\"nul\\u0000x\""},
    {"ab\xc3\xa9", 3, 0, "\"ab" FFFD "\""},
    {"ab\xc3\xa9", 3, SQ_JSON_STRICT, NULL},
    {"abc", 0, 0, "\"\""},
};

/* Whether s[0..n) is valid UTF-8 (then cJSON reads the text back). */
static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = sq_utf8_seq((const unsigned char *)s + i, n - i, NULL);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

START_TEST(quote_cases)
{
    const jcase *c = &cases[_i];
    size_t n = c->n == SQ_JSON_CSTR ? (c->in ? strlen(c->in) : 0) : c->n;
    char buf[256];

    /* the fixed buffer */
    size_t need = sq_json_quote(buf, sizeof buf, c->in, c->n, c->flags);
    if (!c->want) {
        ck_assert_uint_eq(need, 0);
        ck_assert_str_eq(buf, "");
    } else {
        ck_assert_uint_eq(need, strlen(c->want));
        ck_assert_str_eq(buf, c->want);
        ck_assert_uint_eq(sq_json_quote(NULL, 0, c->in, c->n, c->flags), need);
    }

    /* sq_buf: the same text after what the buffer held */
    sq_buf b = {0};
    ck_assert_int_eq(sq_buf_adds(&b, "x"), 0);
    int r = sq_buf_json(&b, c->in, c->n, c->flags);
    ck_assert_int_eq(r, c->want ? 0 : -2);
    ck_assert_str_eq(b.p + 1, c->want ? c->want : "");
    ck_assert_uint_eq(b.len, 1 + (c->want ? strlen(c->want) : 0));
    sq_buf_free(&b);

    /* FILE */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(sq_json_fput(f, c->in, c->n, c->flags), c->want ? 0 : -1);
    fclose(f);
    ck_assert_str_eq(text, c->want ? c->want : "");
    free(text);

    /* valid JSON, and the text itself when it was valid UTF-8 */
    if (c->want) {
        cJSON *j = cJSON_Parse(c->want);
        ck_assert_ptr_nonnull(j);
        ck_assert(cJSON_IsString(j));
        if (c->in && valid_utf8(c->in, n) && !memchr(c->in, 0, n)) {
            ck_assert_uint_eq(strlen(j->valuestring), n);
            ck_assert_mem_eq(j->valuestring, c->in, n);
        }
        cJSON_Delete(j);
    }
}
END_TEST

/* The fixed buffer cuts like snprintf: the full length back, size-1 bytes
 * written wherever they end (inside an escape or a UTF-8 sequence), and
 * always a NUL; a caller that needs the whole literal sizes the buffer by
 * the returned length. */
START_TEST(quote_truncates)
{
    char small[6];
    ck_assert_uint_eq(sq_json_quote(small, sizeof small, "ab\"cd", SQ_JSON_CSTR, 0), 8);
    ck_assert_str_eq(small, "\"ab\\\"");
    ck_assert_uint_eq(sq_json_quote(small, 5, "ab\"cd", SQ_JSON_CSTR, 0), 8);
    ck_assert_str_eq(small, "\"ab\\"); /* inside the escape */
    ck_assert_uint_eq(sq_json_quote(small, sizeof small, "\xc3\xa9\xc3\xa9", SQ_JSON_CSTR, 0), 6);
    ck_assert_str_eq(small, "\"\xc3\xa9\xc3\xa9"); /* the closing quote does not fit */
    ck_assert_uint_eq(sq_json_quote(small, 1, "abc", SQ_JSON_CSTR, 0), 5);
    ck_assert_str_eq(small, "");
    /* size 0 writes nothing at all */
    small[0] = 'z';
    ck_assert_uint_eq(sq_json_quote(small, 0, "abc", SQ_JSON_CSTR, 0), 5);
    ck_assert_int_eq(small[0], 'z');
    /* a literal longer than sq_json_fput's stack buffer */
    char big[1000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    ck_assert_int_eq(sq_json_fput(f, big, SQ_JSON_CSTR, 0), 0);
    fclose(f);
    ck_assert_uint_eq(tlen, 2 * (sizeof big - 1) + 2);
    ck_assert_uint_eq(sq_json_quote(NULL, 0, big, SQ_JSON_CSTR, 0), tlen);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonstr");
    TCase *tc = tcase_create("quote");
    tcase_add_loop_test(tc, quote_cases, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, quote_truncates);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
