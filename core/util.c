/* util.c — small helpers shared by the core and the backends. */
#include "internal.h"
#include "util/squtil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

sqclaim_rc sqb_vseterr(sqb_err *err, sqclaim_rc rc, const char *fmt, va_list ap)
{
    if (!err)
        return rc;
    err->rc = rc;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return rc;
}

sqclaim_rc sqb_seterr(sqb_err *err, sqclaim_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqb_vseterr(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

sqclaim_rc sqc_einval(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return SQCLAIM_EINVAL;
}

void sqb_strlcpy(char *dst, const char *src, size_t size) { sq_strlcpy(dst, src, size); }

int64_t sqb_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sqb_format_timestamp(int64_t unix_ms, char *buf)
{
    /* Clamp to years 1970..9999 so the shape never changes. */
    const int64_t max_ms = 253402300799999LL; /* 9999-12-31T23:59:59.999Z */
    if (unix_ms < 0)
        unix_ms = 0;
    if (unix_ms > max_ms)
        unix_ms = max_ms;
    time_t secs = (time_t)(unix_ms / 1000);
    int ms = (int)(unix_ms % 1000);
    struct tm tm;
    char date[32];
    if (!gmtime_r(&secs, &tm) || strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
        snprintf(date, sizeof date, "1970-01-01T00:00:00");
    snprintf(buf, SQCLAIM_TIMESTAMP_LEN + 1, "%.19s.%03dZ", date, ms);
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool sqb_raw_preview(char *out, const char *value, size_t len)
{
    out[0] = '\0';
    if (!value)
        return true;
    /* A value that mentions a token is never shown, whatever its shape. */
    static const char word[] = "token";
    for (size_t i = 0; i + 5 <= len; i++) {
        size_t k = 0;
        while (k < 5 && (value[i + k] | 0x20) == word[k])
            k++;
        if (k == 5)
            return false;
    }
    const size_t room = SQCLAIM_RAW_MAX - 3; /* keep space for "..." */
    size_t n = 0, i = 0;
    while (i < len && n < room) {
        unsigned char c = (unsigned char)value[i];
        if (is_hex(c)) {
            size_t run = 0;
            while (i + run < len && is_hex((unsigned char)value[i + run]))
                run++;
            if (run >= 16) { /* could be a secret: never shown */
                if (n + 5 > room)
                    break;
                memcpy(out + n, "<hex>", 5);
                n += 5;
                i += run;
                continue;
            }
        }
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
        i++;
    }
    if (i < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return true;
}

const char *sqb_getenv(const char *name) { return sq_getenv(name); }

static sqclaim_rc grow(void **arr, size_t n, size_t elem)
{
    /* Capacity 16, then doubling: reallocate when n reaches 16, 32, ... */
    if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 16;
        void *p = realloc(*arr, cap * elem);
        if (!p)
            return SQCLAIM_ENOMEM;
        *arr = p;
    }
    return SQCLAIM_OK;
}

sqclaim_rc sqb_status_add_claim(sqclaim_status *st, const sqclaim_claim_info *ci)
{
    void *arr = st->claims;
    if (grow(&arr, st->nclaims, sizeof *ci) != SQCLAIM_OK)
        return SQCLAIM_ENOMEM;
    st->claims = arr;
    st->claims[st->nclaims++] = *ci;
    return SQCLAIM_OK;
}

sqclaim_rc sqb_status_add_reservation(sqclaim_status *st, const sqclaim_reservation_info *ri)
{
    void *arr = st->reservations;
    if (grow(&arr, st->nreservations, sizeof *ri) != SQCLAIM_OK)
        return SQCLAIM_ENOMEM;
    st->reservations = arr;
    st->reservations[st->nreservations++] = *ri;
    return SQCLAIM_OK;
}

void sqclaim_free(void *ptr) { free(ptr); }

const char *sqclaim_version(void) { return SQCLAIM_VERSION; }

const char *sqclaim_rcname(sqclaim_rc rc)
{
    switch (rc) {
    case SQCLAIM_OK: return "OK";
    case SQCLAIM_BUSY: return "BUSY";
    case SQCLAIM_LOST: return "LOST";
    case SQCLAIM_EINVAL: return "EINVAL";
    case SQCLAIM_ECONFIG: return "ECONFIG";
    case SQCLAIM_EIO: return "EIO";
    case SQCLAIM_ETIMEOUT: return "ETIMEOUT";
    case SQCLAIM_EAUTH: return "EAUTH";
    case SQCLAIM_EPROTOCOL: return "EPROTOCOL";
    case SQCLAIM_ENOMEM: return "ENOMEM";
    case SQCLAIM_EUNSUPPORTED: return "EUNSUPPORTED";
    case SQCLAIM_EQUOTA: return "EQUOTA";
    case SQCLAIM_ESERVER: return "ESERVER";
    case SQCLAIM_ESTATE: return "ESTATE";
    }
    return "UNKNOWN";
}

const char *sqclaim_strerror(sqclaim_rc rc)
{
    switch (rc) {
    case SQCLAIM_OK: return "OK";
    case SQCLAIM_BUSY: return "BUSY: held by another bot";
    case SQCLAIM_LOST: return "LOST: the lease expired or moved on";
    case SQCLAIM_EINVAL: return "invalid argument";
    case SQCLAIM_ECONFIG: return "missing or malformed configuration";
    case SQCLAIM_EIO: return "connection or transport error";
    case SQCLAIM_ETIMEOUT: return "no reply within the timeout";
    case SQCLAIM_EAUTH: return "authentication failed (password or token)";
    case SQCLAIM_EPROTOCOL: return "malformed or unexpected reply";
    case SQCLAIM_ENOMEM: return "out of memory";
    case SQCLAIM_EUNSUPPORTED: return "not supported or not built";
    case SQCLAIM_EQUOTA: return "request, size or rate limit exceeded";
    case SQCLAIM_ESERVER: return "the server reported an error";
    case SQCLAIM_ESTATE: return "not allowed in this state";
    }
    return "unknown result code";
}
