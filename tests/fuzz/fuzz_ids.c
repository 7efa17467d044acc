/* fuzz_ids.c — SQ and bot ids (core/validate.c) and the JSON quoting
 * every stored value goes through (sq_json_quote, core/util/jsonstr.c).
 *
 * Invariants: an accepted SQ id is 1..SQCLAIM_SQ_MAX bytes of
 * A-Z a-z 0-9 . _ - not starting with '-' or '.' (checked here from the
 * documented rule, not the code); an accepted bot id is 1..SQCLAIM_BOT_MAX
 * bytes of valid UTF-8 without control characters (C0, DEL, C1); every
 * refusal has a message that quotes at most 40 bytes and no raw control
 * byte; the quoted JSON of any text is valid JSON that cJSON reads back to
 * the text itself (valid UTF-8) and fits the size sq_json_quote reports. */
#include "fuzz.h"

#include "backend.h"
#include "util/squtil.h"

#include <cjson/cJSON.h>

static bool sq_rule(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SQCLAIM_SQ_MAX || s[0] == '-' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Decode one UTF-8 scalar at s (independent of the library); 0 if invalid. */
static size_t utf8_cp(const unsigned char *s, unsigned long *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4)
        return 0;
    unsigned long v = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static bool bot_rule(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SQCLAIM_BOT_MAX)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned long cp;
        size_t k = utf8_cp((const unsigned char *)s + i, &cp);
        if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return false;
        i += k;
    }
    return true;
}

static bool valid_utf8(const char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned long cp;
        size_t k = utf8_cp((const unsigned char *)s + i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static void check_msg(const char *msg)
{
    FUZZ_CHECK(msg[0] != '\0', "refusal without a message");
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "raw control byte in a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = fz_cstr(data, size);
    char msg[512];
    sqclaim_rc rc = sqclaim_check_sq(s, msg, sizeof msg);
    FUZZ_CHECK((rc == SQCLAIM_OK) == sq_rule(s), "SQ id verdict %d differs from the rule", (int)rc);
    if (rc != SQCLAIM_OK)
        check_msg(msg);
    rc = sqclaim_check_bot(s, msg, sizeof msg);
    FUZZ_CHECK((rc == SQCLAIM_OK) == bot_rule(s), "bot id verdict %d differs from the rule",
               (int)rc);
    if (rc != SQCLAIM_OK)
        check_msg(msg);

    /* JSON quoting: exact size, valid JSON, and the text itself back when
     * the text is valid UTF-8. */
    size_t need = sq_json_quote(NULL, 0, s, SQ_JSON_CSTR, 0);
    char *q = malloc(need + 1);
    if (!q)
        abort();
    size_t again = sq_json_quote(q, need + 1, s, SQ_JSON_CSTR, 0);
    FUZZ_CHECK(again == need && strlen(q) == need, "quote size %zu vs %zu", again, need);
    cJSON *j = cJSON_Parse(q);
    FUZZ_CHECK(j && cJSON_IsString(j), "quoted text is not a JSON string: %s", q);
    if (valid_utf8(s))
        FUZZ_CHECK(strcmp(j->valuestring, s) == 0, "quoting changed valid text");
    FUZZ_CHECK(valid_utf8(j->valuestring), "quoted text decodes to invalid UTF-8");
    cJSON_Delete(j);
    /* A short buffer: truncated, terminated, never overrun (ASan). */
    char small[8];
    sq_json_quote(small, sizeof small, s, SQ_JSON_CSTR, 0);
    FUZZ_CHECK(strlen(small) < sizeof small, "short buffer not terminated");
    free(q);
    free(s);
    return 0;
}
