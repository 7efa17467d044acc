/* fuzz_duration.c — sqclaim_parse_duration / _us (core/validate.c), the
 * one duration grammar of the CLI (--ttl, --timeout, --interval) and sqsim.
 *
 * Invariants: the verdict and the value agree with a reference reading of
 * the documented grammar (digits, optional '.' and 1-9 digits, a unit of
 * us|ms|s|m|h; bare "0"-valued numbers only; exact to the microsecond; no
 * overflow), computed here in 128-bit arithmetic; _ms accepts exactly the
 * whole milliseconds of _us; messages quote at most 40 bytes, escaped. */
#include "fuzz.h"

#include "sqclaim.h"

__extension__ typedef unsigned __int128 u128;

/* Reference: 1 and *us, or 0 (refused). */
static int ref_parse(const char *s, int64_t *us)
{
    size_t i = 0;
    if (!(s[0] >= '0' && s[0] <= '9'))
        return 0;
    u128 whole = 0;
    bool huge = false;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        whole = whole * 10 + (unsigned)(s[i] - '0');
        if (whole > ((u128)1 << 100))
            huge = true, whole = (u128)1 << 100;
    }
    u128 frac = 0, scale = 1;
    if (s[i] == '.') {
        i++;
        if (!(s[i] >= '0' && s[i] <= '9'))
            return 0;
        int digits = 0;
        for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (digits == 9)
                return 0;
            frac = frac * 10 + (unsigned)(s[i] - '0');
            scale *= 10;
        }
    }
    const char *u = s + i;
    u128 mult;
    if (strcmp(u, "us") == 0)
        mult = 1;
    else if (strcmp(u, "ms") == 0)
        mult = 1000;
    else if (strcmp(u, "s") == 0)
        mult = 1000000;
    else if (strcmp(u, "m") == 0)
        mult = 60000000;
    else if (strcmp(u, "h") == 0)
        mult = 3600000000ULL;
    else if (*u == '\0' && !huge && whole == 0 && frac == 0)
        mult = 1;
    else
        return 0;
    if (huge)
        return 0;
    u128 num = whole * mult * scale + frac * mult;
    if (num % scale != 0)
        return 0;
    u128 v = num / scale;
    if (v > (u128)INT64_MAX)
        return 0;
    *us = (int64_t)v;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char *s = fz_cstr(data, size);
    int64_t us = -1, ms = -1, want = -1;
    char msg[512] = "";
    sqclaim_rc rc = sqclaim_parse_duration_us(s, &us, msg, sizeof msg);
    int ok = ref_parse(s, &want);
    FUZZ_CHECK((rc == SQCLAIM_OK) == (ok == 1), "verdict %d, reference %d for \"%.60s\"", (int)rc,
               ok, s);
    if (rc == SQCLAIM_OK)
        FUZZ_CHECK(us == want, "%lld us, reference %lld", (long long)us, (long long)want);
    else
        FUZZ_CHECK(strlen(msg) > 0 && strlen(msg) < 400, "message length %zu", strlen(msg));
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "raw byte 0x%02x in a message", *p);
    sqclaim_rc rc2 = sqclaim_parse_duration(s, &ms, msg, sizeof msg);
    FUZZ_CHECK((rc2 == SQCLAIM_OK) == (ok == 1 && want % 1000 == 0), "ms verdict %d", (int)rc2);
    if (rc2 == SQCLAIM_OK)
        FUZZ_CHECK(ms == want / 1000, "ms value");
    FUZZ_CHECK(sqclaim_parse_duration(s, NULL, NULL, 0) == rc2, "verdict without outputs differs");
    free(s);
    return 0;
}
