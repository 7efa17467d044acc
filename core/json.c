/* json.c — the seed's /api/queue JSON, the error JSON, and leases as JSON.
 *
 * Written by hand rather than through cJSON so that 64-bit numbers are
 * exact and the field order is the seed's. */
#include "internal.h"
#include "util/squtil.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    sq_buf buf; /* the text (its oom flag: memory ran out) */
    bool pretty;
    int depth;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) { sq_buf_add(&b->buf, s, n); }

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sq_buf_vaddf(&b->buf, fmt, ap);
    va_end(ap);
}

static void sb_quote(sbuf *b, const char *s) { sq_buf_json(&b->buf, s, SQ_JSON_CSTR, 0); }

static void sb_newline(sbuf *b)
{
    if (!b->pretty)
        return;
    sb_puts(b, "\n");
    for (int i = 0; i < b->depth; i++)
        sb_puts(b, "  ");
}

static void sb_open(sbuf *b, char c)
{
    char s[2] = {c, 0};
    sb_puts(b, s);
    b->depth++;
}

static void sb_close(sbuf *b, char c, bool empty)
{
    b->depth--;
    if (!empty)
        sb_newline(b);
    char s[2] = {c, 0};
    sb_puts(b, s);
}

/* Start member `key` of an object; `first` says whether it is the first. */
static void sb_key(sbuf *b, const char *key, bool first)
{
    if (!first)
        sb_puts(b, ",");
    sb_newline(b);
    sb_quote(b, key);
    sb_puts(b, b->pretty ? ": " : ":");
}

static char *sb_finish(sbuf *b)
{
    if (b->buf.oom) {
        free(b->buf.p);
        return NULL;
    }
    if (!b->buf.p)
        sb_puts(b, "");
    return b->buf.oom ? NULL : b->buf.p;
}

/* The members only flagged entries have (none for sqclaim's own). */
static void sb_entry_flags(sbuf *b, unsigned flags, const char *type, const char *raw)
{
    if (flags & (SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE)) {
        sb_key(b, "foreign", false);
        sb_puts(b, "true");
    }
    if (flags & SQCLAIM_ENTRY_UNREADABLE) {
        sb_key(b, "unreadable", false);
        sb_puts(b, "true");
        sb_key(b, "type", false);
        sb_quote(b, type);
        sb_key(b, "raw", false);
        sb_quote(b, (flags & SQCLAIM_ENTRY_RAW_HIDDEN) ? "" : raw);
    }
    if (flags & SQCLAIM_ENTRY_RAW_HIDDEN) {
        sb_key(b, "rawHidden", false);
        sb_puts(b, "true");
    }
}

char *sqclaim_status_json(const sqclaim_status *st, unsigned flags)
{
    if (!st)
        return NULL;
    sbuf b = {0};
    b.pretty = (flags & SQCLAIM_JSON_PRETTY) != 0;
    sb_open(&b, '{');
    sb_key(&b, "success", true);
    sb_puts(&b, "true");

    sb_key(&b, "sqClaims", false);
    sb_open(&b, '{');
    for (size_t i = 0; i < st->nclaims; i++) {
        const sqclaim_claim_info *c = &st->claims[i];
        sb_key(&b, c->sq, i == 0);
        sb_open(&b, '{');
        sb_key(&b, "botId", true);
        sb_quote(&b, c->bot);
        sb_key(&b, "timestamp", false);
        sb_quote(&b, c->timestamp);
        sb_key(&b, "status", false);
        sb_quote(&b, c->status);
        sb_key(&b, "fence", false);
        sb_printf(&b, "%" PRIu64, c->fence);
        sb_key(&b, "ttlMs", false);
        sb_printf(&b, "%" PRId64, c->ttl_ms);
        sb_entry_flags(&b, c->flags, c->type, c->raw);
        sb_close(&b, '}', false);
    }
    sb_close(&b, '}', st->nclaims == 0);

    sb_key(&b, "refundReservations", false);
    sb_open(&b, '{');
    for (size_t i = 0; i < st->nreservations; i++) {
        const sqclaim_reservation_info *r = &st->reservations[i];
        sb_key(&b, r->sq, i == 0);
        sb_open(&b, '{');
        sb_key(&b, "botId", true);
        sb_quote(&b, r->bot);
        sb_key(&b, "startRow", false);
        sb_printf(&b, "%" PRIu64, r->start_row);
        sb_key(&b, "rowCount", false);
        sb_printf(&b, "%" PRIu32, r->row_count);
        sb_key(&b, "status", false);
        sb_quote(&b, r->status);
        sb_key(&b, "timestamp", false);
        sb_quote(&b, r->timestamp);
        sb_key(&b, "fence", false);
        sb_printf(&b, "%" PRIu64, r->fence);
        sb_key(&b, "ttlMs", false);
        sb_printf(&b, "%" PRId64, r->ttl_ms);
        sb_entry_flags(&b, r->flags, r->type, r->raw);
        sb_close(&b, '}', false);
    }
    sb_close(&b, '}', st->nreservations == 0);

    sb_key(&b, "timestamp", false);
    sb_quote(&b, st->timestamp);
    sb_key(&b, "kvConfigured", false);
    sb_puts(&b, "true");
    sb_close(&b, '}', false);
    return sb_finish(&b);
}

char *sqclaim_error_json(const char *message, unsigned flags)
{
    sbuf b = {0};
    b.pretty = (flags & SQCLAIM_JSON_PRETTY) != 0;
    sb_open(&b, '{');
    sb_key(&b, "success", true);
    sb_puts(&b, "false");
    sb_key(&b, "error", false);
    sb_quote(&b, message ? message : "");
    sb_close(&b, '}', false);
    return sb_finish(&b);
}

char *sqclaim_lease_to_json(const sqclaim_lease *lease)
{
    if (!lease)
        return NULL;
    sbuf b = {0};
    char ts[SQCLAIM_TIMESTAMP_LEN + 1] = "";
    if (lease->expires_unix_ms > 0)
        sqb_format_timestamp(lease->expires_unix_ms, ts);
    sb_open(&b, '{');
    sb_key(&b, "sq", true);
    sb_quote(&b, lease->sq);
    /* A lease without a bot (rebuilt from JSON that had none) is written
     * without "bot": sqclaim_lease_from_json() refuses "bot":"". */
    if (lease->bot[0]) {
        sb_key(&b, "bot", false);
        sb_quote(&b, lease->bot);
    }
    sb_key(&b, "token", false);
    sb_quote(&b, lease->token);
    sb_key(&b, "fence", false);
    sb_printf(&b, "%" PRIu64, lease->fence);
    sb_key(&b, "ttlMs", false);
    sb_printf(&b, "%" PRId64, lease->ttl_ms);
    sb_key(&b, "expiresAt", false);
    sb_quote(&b, ts);
    sb_close(&b, '}', false);
    return sb_finish(&b);
}

/* A non-negative integer field below 2^53 (exact as a JSON number). */
static bool get_uint(const cJSON *obj, const char *name, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return true;
    return cJSON_IsNumber(v) && sq_whole_u64(v->valuedouble, SQ_EXACT_MAX - 1, out);
}

sqclaim_rc sqclaim_lease_from_json(const char *json, sqclaim_lease *lease, char *errbuf,
                                   size_t errlen)
{
    if (!lease)
        return sqc_einval(errbuf, errlen, "lease is NULL");
    memset(lease, 0, sizeof *lease);
    if (!json)
        return sqc_einval(errbuf, errlen, "no lease given");
    if (strstr(json, "\\u0000"))
        return sqc_einval(errbuf, errlen, "the lease contains a NUL character (\\u0000)");
    cJSON *root = cJSON_ParseWithOpts(json, NULL, 1); /* nothing may follow */
    if (!root)
        return sqc_einval(errbuf, errlen,
                          "the lease is not valid JSON (expected the output of `sqclaim claim`)");
    sqclaim_rc rc = SQCLAIM_EINVAL;
    char sub[256];
    if (!cJSON_IsObject(root)) {
        sqc_einval(errbuf, errlen, "the lease must be a JSON object");
        goto out;
    }
    const cJSON *sq = cJSON_GetObjectItemCaseSensitive(root, "sq");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(root, "token");
    const cJSON *bot = cJSON_GetObjectItemCaseSensitive(root, "bot");
    if (!cJSON_IsString(sq) || !cJSON_IsString(token)) {
        sqc_einval(errbuf, errlen, "the lease needs string fields \"sq\" and \"token\"");
        goto out;
    }
    if (sqclaim_check_sq(sq->valuestring, sub, sizeof sub) != SQCLAIM_OK ||
        sqc_check_token(token->valuestring, sub, sizeof sub) != SQCLAIM_OK) {
        sqc_einval(errbuf, errlen, "the lease is invalid: %s", sub);
        goto out;
    }
    if (bot && (!cJSON_IsString(bot) ||
                sqclaim_check_bot(bot->valuestring, sub, sizeof sub) != SQCLAIM_OK)) {
        sqc_einval(errbuf, errlen, "the lease's \"bot\" is invalid%s%s",
                   cJSON_IsString(bot) ? ": " : "", cJSON_IsString(bot) ? sub : "");
        goto out;
    }
    uint64_t fence = 0, ttl = 0;
    if (!get_uint(root, "fence", &fence) || !get_uint(root, "ttlMs", &ttl)) {
        sqc_einval(errbuf, errlen,
                   "the lease's \"fence\" and \"ttlMs\" must be whole numbers >= 0");
        goto out;
    }
    if (ttl && sqc_check_ttl((int64_t)ttl, sub, sizeof sub) != SQCLAIM_OK) {
        sqc_einval(errbuf, errlen, "the lease's ttlMs is invalid: %s", sub);
        goto out;
    }
    sqb_strlcpy(lease->sq, sq->valuestring, sizeof lease->sq);
    sqb_strlcpy(lease->token, token->valuestring, sizeof lease->token);
    if (bot)
        sqb_strlcpy(lease->bot, bot->valuestring, sizeof lease->bot);
    lease->fence = fence;
    lease->ttl_ms = (int64_t)ttl;
    rc = SQCLAIM_OK;
out:
    cJSON_Delete(root);
    return rc;
}
