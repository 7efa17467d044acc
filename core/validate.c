/* validate.c — the validation rules every operation applies before anything
 * is sent.  See sqclaim.h "Limits" and docs/protocol.md "Validation". */
#include "internal.h"
#include "util/squtil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Render untrusted text for an error message: printable ASCII as is, other
 * bytes as \xNN, at most 40 bytes of input. */
static void show(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    size_t i;
    for (i = 0; i < 40 && s[i] && n + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
    }
    if (s[i] && n + 4 < outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* An id's own rule, after the checks every id takes: OK, or EINVAL with
 * the message (quoting `shown`, the id rendered by show()) in errbuf. */
typedef sqclaim_rc (*id_rule)(const char *id, size_t len, const char *shown, char *errbuf,
                              size_t errlen);

/* Check an id: present, not empty, at most max bytes, then its rule. */
static sqclaim_rc check_id(const char *what, const char *id, size_t max, id_rule rule, char *errbuf,
                           size_t errlen)
{
    if (!id)
        return sqc_einval(errbuf, errlen, "invalid %s: missing (NULL)", what);
    size_t len = strlen(id);
    if (len == 0)
        return sqc_einval(errbuf, errlen, "invalid %s: empty", what);
    char shown[200];
    show(shown, sizeof shown, id);
    if (len > max)
        return sqc_einval(errbuf, errlen, "invalid %s \"%s\": %zu bytes, at most %zu allowed", what,
                          shown, len, max);
    return rule(id, len, shown, errbuf, errlen);
}

static bool sq_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static sqclaim_rc sq_rule(const char *sq, size_t len, const char *shown, char *errbuf,
                          size_t errlen)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sq[i];
        if (!sq_char_ok(c)) {
            char what[16];
            if (c > 0x20 && c < 0x7f)
                snprintf(what, sizeof what, "'%c'", c);
            else
                snprintf(what, sizeof what, "byte 0x%02x", c);
            return sqc_einval(errbuf, errlen,
                              "invalid SQ id \"%s\": %s at position %zu is not allowed "
                              "(allowed: A-Z a-z 0-9 . _ -)",
                              shown, what, i + 1);
        }
    }
    if (sq[0] == '-' || sq[0] == '.')
        return sqc_einval(errbuf, errlen, "invalid SQ id \"%s\": must not start with '%c'", shown,
                          sq[0]);
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_check_sq(const char *sq, char *errbuf, size_t errlen)
{
    return check_id("SQ id", sq, SQCLAIM_SQ_MAX, sq_rule, errbuf, errlen);
}

/* Length of the valid UTF-8 sequence at p that is not a C1 control
 * character (U+0080..U+009F), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    size_t n = sq_utf8_seq(p, SIZE_MAX, NULL);
    if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
        return 0;
    return n;
}

static sqclaim_rc bot_rule(const char *bot, size_t len, const char *shown, char *errbuf,
                           size_t errlen)
{
    const unsigned char *p = (const unsigned char *)bot;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return sqc_einval(errbuf, errlen,
                              "invalid bot id \"%s\": control character 0x%02x at position %zu",
                              shown, p[i], i + 1);
        size_t n = utf8_seq(p + i);
        if (n == 0)
            return sqc_einval(errbuf, errlen,
                              "invalid bot id \"%s\": not valid UTF-8 (or a control character) "
                              "at position %zu",
                              shown, i + 1);
        i += n;
    }
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_check_bot(const char *bot, char *errbuf, size_t errlen)
{
    return check_id("bot id", bot, SQCLAIM_BOT_MAX, bot_rule, errbuf, errlen);
}

sqclaim_rc sqc_check_ttl(int64_t ttl_ms, char *errbuf, size_t errlen)
{
    if (ttl_ms < SQCLAIM_MIN_TTL_MS || ttl_ms > SQCLAIM_MAX_TTL_MS)
        return sqc_einval(errbuf, errlen,
                          "invalid TTL %lld ms: must be between %d ms and %d ms (one day); "
                          "0 means the default %d ms",
                          (long long)ttl_ms, SQCLAIM_MIN_TTL_MS, SQCLAIM_MAX_TTL_MS,
                          SQCLAIM_DEFAULT_TTL_MS);
    return SQCLAIM_OK;
}

sqclaim_rc sqc_check_rows(uint32_t count, uint64_t hint, char *errbuf, size_t errlen)
{
    if (count < 1 || count > SQCLAIM_MAX_ROWS)
        return sqc_einval(errbuf, errlen, "invalid row count %u: must be between 1 and %d", count,
                          SQCLAIM_MAX_ROWS);
    if (hint > SQCLAIM_MAX_ROW)
        return sqc_einval(errbuf, errlen,
                          "invalid row hint %llu: must be 0 (no hint) or a row between 1 and %d",
                          (unsigned long long)hint, SQCLAIM_MAX_ROW);
    return SQCLAIM_OK;
}

sqclaim_rc sqc_check_token(const char *token, char *errbuf, size_t errlen)
{
    if (!token)
        return sqc_einval(errbuf, errlen, "invalid lease: no token");
    size_t len = strlen(token);
    if (len != SQCLAIM_TOKEN_LEN)
        return sqc_einval(errbuf, errlen,
                          "invalid lease token: %zu characters, expected %d hex digits", len,
                          SQCLAIM_TOKEN_LEN);
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return sqc_einval(errbuf, errlen,
                              "invalid lease token: character %zu is not a lowercase hex digit",
                              i + 1);
    }
    return SQCLAIM_OK;
}

/* The one duration grammar, shared by sqclaim (the CLI) and sqsim: a
 * decimal number and a unit, "250us", "250ms", "1.5s", "10m", "1h".  A
 * bare number is refused (does "600" mean 600 ms or the 600 s of a
 * TTL?), except 0, which is zero in every unit.  The value is exact to
 * the microsecond. */
#define DUR_UNITS "us, ms, s, m or h"

static sqclaim_rc parse_us(const char *text, int64_t *us, char *errbuf, size_t errlen)
{
    char shown[200];
    if (!text || !*text)
        return sqc_einval(errbuf, errlen, "invalid duration: empty (use e.g. 600s, 10m, 250ms)");
    show(shown, sizeof shown, text);
    if (*text < '0' || *text > '9')
        return sqc_einval(errbuf, errlen,
                          "invalid duration \"%s\": must start with a digit "
                          "(use e.g. 600s, 10m, 250ms)",
                          shown);
    /* Whole part, then up to 9 decimals, kept as integers. */
    const char *p = text;
    uint64_t whole = 0;
    bool big = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - 9) / 10)
            big = true;
        else
            whole = whole * 10 + (uint64_t)(*p - '0');
    }
    uint64_t frac = 0, scale = 1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return sqc_einval(errbuf, errlen,
                              "invalid duration \"%s\": a digit must follow the '.' "
                              "(use e.g. 1.5s)",
                              shown);
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale == 1000000000)
                return sqc_einval(errbuf, errlen, "invalid duration \"%s\": more than 9 decimals",
                                  shown);
            frac = frac * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
    }
    size_t numlen = (size_t)(p - text);
    uint64_t mult;
    if (strcmp(p, "us") == 0)
        mult = 1;
    else if (strcmp(p, "ms") == 0)
        mult = 1000;
    else if (strcmp(p, "s") == 0)
        mult = 1000000;
    else if (strcmp(p, "m") == 0)
        mult = 60000000;
    else if (strcmp(p, "h") == 0)
        mult = 3600000000ULL;
    else if (*p == '\0' && !big && whole == 0 && frac == 0)
        mult = 1; /* "0": zero in any unit */
    else if (*p == '\0')
        return sqc_einval(errbuf, errlen,
                          "invalid duration \"%s\": no unit; did you mean %.*ss? (%.*sms is "
                          "milliseconds; units: " DUR_UNITS ")",
                          shown, (int)(numlen < 40 ? numlen : 40), text,
                          (int)(numlen < 40 ? numlen : 40), text);
    else
        return sqc_einval(errbuf, errlen,
                          "invalid duration \"%s\": unknown unit (use " DUR_UNITS ", e.g. 600s)",
                          shown);
    if (big || whole > (uint64_t)INT64_MAX / mult)
        return sqc_einval(errbuf, errlen, "invalid duration \"%s\": too large", shown);
    /* frac < 10^9 and mult <= 3.6e9: the product fits in 64 bits. */
    uint64_t part = frac * mult;
    if (part % scale != 0)
        return sqc_einval(errbuf, errlen, "invalid duration \"%s\": finer than a microsecond",
                          shown);
    uint64_t total = whole * mult;
    if (part / scale > (uint64_t)INT64_MAX - total)
        return sqc_einval(errbuf, errlen, "invalid duration \"%s\": too large", shown);
    *us = (int64_t)(total + part / scale);
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_parse_duration_us(const char *text, int64_t *us, char *errbuf, size_t errlen)
{
    int64_t v = 0;
    sqclaim_rc rc = parse_us(text, &v, errbuf, errlen);
    if (rc == SQCLAIM_OK && us)
        *us = v;
    return rc;
}

sqclaim_rc sqclaim_parse_duration(const char *text, int64_t *ms, char *errbuf, size_t errlen)
{
    int64_t us = 0;
    sqclaim_rc rc = parse_us(text, &us, errbuf, errlen);
    if (rc != SQCLAIM_OK)
        return rc;
    if (us % 1000 != 0) {
        char shown[200];
        show(shown, sizeof shown, text);
        return sqc_einval(errbuf, errlen,
                          "invalid duration \"%s\": not a whole number of milliseconds", shown);
    }
    if (ms)
        *ms = us / 1000;
    return SQCLAIM_OK;
}
