/* status.c — reading the store without changing it: status (every claim
 * and reservation, by SCAN), inspect (one SQ's keys) and counters (the
 * fencing counter and the row cursor).  Values are decoded with full
 * validation, as in proto.c: a foreign or malformed value is shown as
 * such, never guessed at. */
#include "proto.h"
#include "protoint.h"
#include "sha1.h"
#include "util/squtil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Status                                                               */

#define SCAN_COUNT "200"

/* Whole non-negative JSON numbers up to 2^53; anything else is 0. */
static uint64_t json_u64(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    uint64_t n;
    return cJSON_IsNumber(v) && sq_whole_u64(v->valuedouble, SQ_EXACT_MAX, &n) ? n : 0;
}

static void json_str(const cJSON *obj, const char *name, char *dst, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v) && v->valuestring)
        sqb_strlcpy(dst, v->valuestring, size);
    else
        dst[0] = '\0';
}

/* A stored value of sqclaim's own: a JSON object with a 32-hex-digit token
 * and a fence >= 1. */
static bool written_by_us(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t) || !t->valuestring || strlen(t->valuestring) != SQCLAIM_TOKEN_LEN ||
        strspn(t->valuestring, "0123456789abcdef") != SQCLAIM_TOKEN_LEN)
        return false;
    return json_u64(j, "fence") >= 1;
}

/* What one key holds, as status shows it (both kinds of entry). */
typedef struct rp_view {
    char bot[SQCLAIM_BOT_MAX + 1];
    char timestamp[SQCLAIM_TIMESTAMP_LEN + 1];
    char status[SQCLAIM_STATUS_MAX + 1];
    uint64_t fence, start, count;
    unsigned flags;
    char type[16];
    char raw[SQCLAIM_RAW_MAX + 1];
    char fingerprint[SQCLAIM_FINGERPRINT_MAX + 1];
} rp_view;

/* Decode a string value (v[0..len)), or describe a key of another type
 * (v NULL, type its TYPE).  The fingerprint is what the break script
 * computes: redis.sha1hex of the value, or "type:<type>". */
static void view_value(const char *v, size_t len, const char *type, rp_view *out)
{
    memset(out, 0, sizeof *out);
    if (!v) {
        if (!type)
            type = "?";
        out->flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
        sqb_strlcpy(out->type, type, sizeof out->type);
        snprintf(out->fingerprint, sizeof out->fingerprint, "type:%.40s", type);
        return;
    }
    char hex[41];
    rp_sha1_hex(v, len, hex);
    sqb_strlcpy(out->fingerprint, hex, sizeof out->fingerprint);
    cJSON *j = cJSON_ParseWithLength(v, len);
    if (!j || !cJSON_IsObject(j)) {
        out->flags = SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE;
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
        sqb_strlcpy(out->type, "string", sizeof out->type);
        if (!sqb_raw_preview(out->raw, v, len))
            out->flags |= SQCLAIM_ENTRY_RAW_HIDDEN;
        cJSON_Delete(j);
        return;
    }
    json_str(j, "botId", out->bot, sizeof out->bot);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "botId")))
        sqb_strlcpy(out->bot, "?", sizeof out->bot);
    json_str(j, "timestamp", out->timestamp, sizeof out->timestamp);
    json_str(j, "status", out->status, sizeof out->status);
    out->fence = json_u64(j, "fence");
    out->start = json_u64(j, "startRow");
    out->count = json_u64(j, "rowCount");
    if (out->count > UINT32_MAX)
        out->count = 0;
    if (!written_by_us(j))
        out->flags = SQCLAIM_ENTRY_FOREIGN;
    cJSON_Delete(j);
}

/* The fields a claim's and a reservation's info share (dst points to
 * either), filled from the view v of the SQ id with ttl ms left; the rest
 * zeroed. */
#define VIEW_COMMON(dst, id, v, ttl)                                                               \
    do {                                                                                           \
        memset((dst), 0, sizeof *(dst));                                                           \
        sqb_strlcpy((dst)->sq, (id), sizeof(dst)->sq);                                             \
        sqb_strlcpy((dst)->bot, (v)->bot, sizeof(dst)->bot);                                       \
        sqb_strlcpy((dst)->status, (v)->status, sizeof(dst)->status);                              \
        sqb_strlcpy((dst)->timestamp, (v)->timestamp, sizeof(dst)->timestamp);                     \
        (dst)->fence = (v)->fence;                                                                 \
        (dst)->ttl_ms = (ttl);                                                                     \
        (dst)->flags = (v)->flags;                                                                 \
        sqb_strlcpy((dst)->type, (v)->type, sizeof(dst)->type);                                    \
        sqb_strlcpy((dst)->raw, (v)->raw, sizeof(dst)->raw);                                       \
        sqb_strlcpy((dst)->fingerprint, (v)->fingerprint, sizeof(dst)->fingerprint);               \
    } while (0)

static void view_claim(const char *id, const rp_view *v, int64_t ttl, sqclaim_claim_info *ci)
{
    VIEW_COMMON(ci, id, v, ttl);
}

static void view_res(const char *id, const rp_view *v, int64_t ttl, sqclaim_reservation_info *ri)
{
    VIEW_COMMON(ri, id, v, ttl);
    ri->start_row = v->start;
    ri->row_count = (uint32_t)v->count;
}

/* The SQ id of a key "{prefix}{kind}{id}", or NULL if it is not one we can
 * name through the API (another tool's key with an invalid id). */
static const char *key_id(const rp_conn *c, const char *kind, const rp_reply *key)
{
    size_t plen = strlen(c->prefix), klen = strlen(kind);
    if (key->len <= plen + klen || memcmp(key->str, c->prefix, plen) != 0 ||
        memcmp(key->str + plen, kind, klen) != 0)
        return NULL;
    const char *id = key->str + plen + klen;
    if (strlen(id) != key->len - plen - klen || sqclaim_check_sq(id, NULL, 0) != SQCLAIM_OK)
        return NULL;
    return id;
}

/* A key of another type seen by status: its TYPE is asked afterwards. */
typedef struct pending_type {
    bool refund;
    char sq[SQCLAIM_SQ_MAX + 1];
    char *key;
    size_t keylen;
} pending_type;

typedef struct pending_list {
    pending_type *v;
    size_t n, cap;
} pending_list;

static void pending_free(pending_list *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].key);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Turn one key's GET and PTTL replies into a status entry.  Skips what has
 * vanished or expired, and keys we cannot name; a key of another type
 * (WRONGTYPE) is shown with its type filled in later (pending).  Fails on
 * server errors or replies of the wrong shape. */
static sqclaim_rc status_entry(rp_conn *c, bool refund, const rp_reply *key, const rp_reply *get,
                               const rp_reply *pttl, sqclaim_status *out, pending_list *pend,
                               sqb_err *err)
{
    bool wrongtype = get && get->type == RP_ERR && rp_starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (pttl && pttl->type == RP_ERR)
        return rp_server_error(pttl->str, pttl->len, err);
    if (!wrongtype && (!get || (get->type != RP_NIL && get->type != RP_STR)))
        return rp_bad_reply(err, "GET", get, "expected a string or nil");
    if (!rp_is_int(pttl))
        return rp_bad_reply(err, "PTTL", pttl, "expected an integer");
    if ((!wrongtype && get->type == RP_NIL) || pttl->integer == -2)
        return SQCLAIM_OK; /* expired or deleted since SCAN saw it */
    const char *id = key_id(c, refund ? "refund:" : "sq:", key);
    if (!id)
        return SQCLAIM_OK;
    int64_t ttl = pttl->integer >= 0 ? pttl->integer : -1;
    rp_view v;
    if (wrongtype) {
        view_value(NULL, 0, "?", &v); /* the type is asked for below */
        if (pend->n == pend->cap) {
            size_t cap = pend->cap ? pend->cap * 2 : 8;
            pending_type *nv = realloc(pend->v, cap * sizeof *nv);
            if (!nv)
                return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
            pend->v = nv;
            pend->cap = cap;
        }
        pending_type *pt = &pend->v[pend->n];
        pt->key = malloc(key->len + 1);
        if (!pt->key)
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        memcpy(pt->key, key->str, key->len + 1);
        pt->keylen = key->len;
        pt->refund = refund;
        sqb_strlcpy(pt->sq, id, sizeof pt->sq);
        pend->n++;
    } else {
        view_value(get->str, get->len, NULL, &v);
    }
    sqclaim_rc rc;
    if (!refund) {
        sqclaim_claim_info ci;
        view_claim(id, &v, ttl, &ci);
        rc = sqb_status_add_claim(out, &ci);
    } else {
        sqclaim_reservation_info ri;
        view_res(id, &v, ttl, &ri);
        rc = sqb_status_add_reservation(out, &ri);
    }
    if (rc != SQCLAIM_OK)
        sqb_seterr(err, rc, "out of memory");
    return rc;
}

/* A TYPE reply as a short type name ("hash"), or NULL if it is not one. */
static const char *type_name(const rp_reply *r)
{
    if (!r || r->type != RP_STR || r->len == 0 || r->len >= 16)
        return NULL;
    for (size_t i = 0; i < r->len; i++)
        if (r->str[i] < 'a' || r->str[i] > 'z')
            return NULL;
    return r->str;
}

/* Fill in the types of the keys of another type status saw (one more
 * round trip, only when there are such keys).  A key gone meanwhile
 * ("none") keeps "?". */
static sqclaim_rc resolve_types(rp_conn *c, pending_list *pend, sqclaim_status *out, sqb_err *err)
{
    if (pend->n == 0)
        return SQCLAIM_OK;
    rp_cmd *cmds = calloc(pend->n, sizeof *cmds);
    rp_reply **replies = calloc(pend->n, sizeof *replies);
    const char **argvs = calloc(pend->n * 2, sizeof *argvs);
    size_t *lens = calloc(pend->n * 2, sizeof *lens);
    sqclaim_rc rc = SQCLAIM_OK;
    if (!cmds || !replies || !argvs || !lens) {
        rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pend->n; i++) {
        argvs[2 * i] = "TYPE";
        lens[2 * i] = 4;
        argvs[2 * i + 1] = pend->v[i].key;
        lens[2 * i + 1] = pend->v[i].keylen;
        cmds[i] = (rp_cmd){2, &argvs[2 * i], &lens[2 * i]};
    }
    rc = c->tp->pipeline(c->t, pend->n, cmds, replies, err);
    if (rc != SQCLAIM_OK)
        goto out;
    for (size_t i = 0; i < pend->n; i++) {
        if (replies[i] && replies[i]->type == RP_ERR) {
            rc = rp_server_error(replies[i]->str, replies[i]->len, err);
            goto out;
        }
        const char *t = type_name(replies[i]);
        if (!t) {
            rc = rp_bad_reply(err, "TYPE", replies[i], "expected a type name");
            goto out;
        }
        if (strcmp(t, "none") == 0 || strcmp(t, "string") == 0)
            continue; /* changed since: keep "?" */
        /* The entry with this SQ and kind whose type is still unknown. */
        if (!pend->v[i].refund) {
            for (size_t k = 0; k < out->nclaims; k++) {
                sqclaim_claim_info *ci = &out->claims[k];
                if (strcmp(ci->sq, pend->v[i].sq) == 0 && strcmp(ci->type, "?") == 0) {
                    sqb_strlcpy(ci->type, t, sizeof ci->type);
                    snprintf(ci->fingerprint, sizeof ci->fingerprint, "type:%s", t);
                }
            }
        } else {
            for (size_t k = 0; k < out->nreservations; k++) {
                sqclaim_reservation_info *ri = &out->reservations[k];
                if (strcmp(ri->sq, pend->v[i].sq) == 0 && strcmp(ri->type, "?") == 0) {
                    sqb_strlcpy(ri->type, t, sizeof ri->type);
                    snprintf(ri->fingerprint, sizeof ri->fingerprint, "type:%s", t);
                }
            }
        }
    }
out:
    for (size_t i = 0; replies && i < pend->n; i++)
        rp_reply_free(replies[i]);
    free(replies);
    free(cmds);
    free(argvs);
    free(lens);
    return rc;
}

/* Validate a SCAN reply: {cursor, {key...}}. */
static sqclaim_rc check_scan(const rp_reply *r, sqb_err *err)
{
    if (r && r->type == RP_ERR)
        return rp_server_error(r->str, r->len, err);
    if (!r || r->type != RP_ARR || r->n != 2 || r->elem[0]->type != RP_STR ||
        r->elem[1]->type != RP_ARR)
        return rp_bad_reply(err, "SCAN", r, "expected {cursor, keys}");
    const rp_reply *cur = r->elem[0];
    if (cur->len == 0 || cur->len > 20 || strspn(cur->str, "0123456789") != cur->len)
        return rp_bad_reply(err, "SCAN", cur, "cursor must be a number");
    for (size_t i = 0; i < r->elem[1]->n; i++)
        if (r->elem[1]->elem[i]->type != RP_STR)
            return rp_bad_reply(err, "SCAN", r->elem[1]->elem[i], "keys must be strings");
    return SQCLAIM_OK;
}

static int cmp_claim_sq(const void *a, const void *b)
{
    return strcmp(((const sqclaim_claim_info *)a)->sq, ((const sqclaim_claim_info *)b)->sq);
}

static int cmp_res_sq(const void *a, const void *b)
{
    return strcmp(((const sqclaim_reservation_info *)a)->sq,
                  ((const sqclaim_reservation_info *)b)->sq);
}

/* SCAN may return a key more than once: keep one entry per SQ. */
static void dedupe(sqclaim_status *st)
{
    if (st->nclaims > 1) {
        qsort(st->claims, st->nclaims, sizeof *st->claims, cmp_claim_sq);
        size_t k = 1;
        for (size_t i = 1; i < st->nclaims; i++)
            if (strcmp(st->claims[i].sq, st->claims[k - 1].sq) != 0)
                st->claims[k++] = st->claims[i];
        st->nclaims = k;
    }
    if (st->nreservations > 1) {
        qsort(st->reservations, st->nreservations, sizeof *st->reservations, cmp_res_sq);
        size_t k = 1;
        for (size_t i = 1; i < st->nreservations; i++)
            if (strcmp(st->reservations[i].sq, st->reservations[k - 1].sq) != 0)
                st->reservations[k++] = st->reservations[i];
        st->nreservations = k;
    }
}

/* One SCAN iteration (sq:* or refund:*). */
typedef struct scan_stream {
    bool refund;
    char pattern[2 * RP_PREFIX_MAX + 16];
    char cursor[24]; /* the cursor to ask for next */
    bool done;       /* SCAN answered cursor 0: no more pages */
    rp_reply *page;  /* the SCAN reply whose keys are read next (owned) */
} scan_stream;

/*
 * The snapshot is taken in rounds.  Each round trip is one pipeline holding
 * the GET and PTTL of every key of the pages the previous round's SCANs
 * returned AND the next SCAN of each iteration that is not finished; the
 * two iterations (sq:* and refund:*) run side by side.  So a snapshot
 * costs (pages of the longer iteration) + 1 round trips: 2 when everything
 * fits in one page.
 *
 * Why a pipeline rather than one read-only script per page: it runs on any
 * Redis-compatible server with nothing to cache, bills 2 commands per key
 * on Upstash (a script would bill 1 + 2 per key), and needs no atomicity:
 * each key's GET and PTTL are adjacent, a key that expires or is deleted
 * between SCAN and GET reads as nil / -2 and is skipped, and a status is a
 * snapshot that can be stale the moment it is returned anyway.
 */
sqclaim_rc rp_status(rp_conn *c, sqclaim_status *out, sqb_err *err)
{
    scan_stream st[2];
    memset(st, 0, sizeof st);
    for (int k = 0; k < 2; k++) {
        st[k].refund = k == 1;
        rp_match_pattern(c, k ? "refund:" : "sq:", st[k].pattern, sizeof st[k].pattern);
        strcpy(st[k].cursor, "0");
    }
    rp_reply **replies = NULL;
    rp_cmd *cmds = NULL;
    const char **argvs = NULL;
    size_t *lens = NULL;
    size_t nrep = 0; /* entries of replies[] */
    sqclaim_rc rc = SQCLAIM_OK;
    pending_list pend = {0};

    for (;;) {
        size_t nreads = 0, nscans = 0;
        for (int k = 0; k < 2; k++) {
            nreads += st[k].page ? st[k].page->elem[1]->n : 0;
            nscans += st[k].done ? 0 : 1;
        }
        size_t ncmds = 2 * nreads + nscans;
        if (ncmds == 0)
            break;
        cmds = calloc(ncmds, sizeof *cmds);
        replies = calloc(ncmds, sizeof *replies);
        argvs = calloc(ncmds * 6, sizeof *argvs);
        lens = calloc(ncmds * 6, sizeof *lens);
        if (!cmds || !replies || !argvs || !lens) {
            rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
            goto out;
        }
        nrep = ncmds;
        size_t ci = 0;
        for (int k = 0; k < 2; k++) {
            const rp_reply *keys = st[k].page ? st[k].page->elem[1] : NULL;
            for (size_t i = 0; keys && i < keys->n; i++) {
                for (int g = 0; g < 2; g++, ci++) {
                    argvs[6 * ci] = g == 0 ? "GET" : "PTTL";
                    lens[6 * ci] = g == 0 ? 3 : 4;
                    argvs[6 * ci + 1] = keys->elem[i]->str;
                    lens[6 * ci + 1] = keys->elem[i]->len;
                    cmds[ci] = (rp_cmd){2, &argvs[6 * ci], &lens[6 * ci]};
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            if (st[k].done)
                continue;
            const char *sargv[] = {"SCAN",        st[k].cursor, "MATCH",
                                   st[k].pattern, "COUNT",      SCAN_COUNT};
            for (int a = 0; a < 6; a++) {
                argvs[6 * ci + (size_t)a] = sargv[a];
                lens[6 * ci + (size_t)a] = strlen(sargv[a]);
            }
            cmds[ci] = (rp_cmd){6, &argvs[6 * ci], &lens[6 * ci]};
            ci++;
        }
        rc = c->tp->pipeline(c->t, ncmds, cmds, replies, err);
        if (rc != SQCLAIM_OK)
            goto out;
        /* The keys read in this round. */
        ci = 0;
        for (int k = 0; k < 2; k++) {
            const rp_reply *keys = st[k].page ? st[k].page->elem[1] : NULL;
            for (size_t i = 0; keys && i < keys->n; i++, ci += 2) {
                rc = status_entry(c, st[k].refund, keys->elem[i], replies[ci], replies[ci + 1], out,
                                  &pend, err);
                if (rc != SQCLAIM_OK)
                    goto out;
            }
            rp_reply_free(st[k].page);
            st[k].page = NULL;
        }
        /* The next pages. */
        for (int k = 0; k < 2; k++) {
            if (st[k].done)
                continue;
            rc = check_scan(replies[ci], err);
            if (rc != SQCLAIM_OK)
                goto out;
            st[k].page = replies[ci];
            replies[ci] = NULL;
            ci++;
            sqb_strlcpy(st[k].cursor, st[k].page->elem[0]->str, sizeof st[k].cursor);
            st[k].done = strcmp(st[k].cursor, "0") == 0;
            if (st[k].page->elem[1]->n == 0) {
                rp_reply_free(st[k].page);
                st[k].page = NULL;
            }
        }
        for (size_t i = 0; i < nrep; i++)
            rp_reply_free(replies[i]);
        free(replies);
        free(cmds);
        free(argvs);
        free(lens);
        replies = NULL;
        nrep = 0;
        cmds = NULL;
        argvs = NULL;
        lens = NULL;
    }
    rc = resolve_types(c, &pend, out, err);
    if (rc == SQCLAIM_OK)
        dedupe(out);
out:
    pending_free(&pend);
    /* After a failed pipeline the transport has left no replies (NULLs);
     * after a decoding failure they are all here. */
    for (size_t i = 0; replies && i < nrep; i++)
        rp_reply_free(replies[i]);
    for (int k = 0; k < 2; k++)
        rp_reply_free(st[k].page);
    free(cmds);
    free(argvs);
    free(lens);
    free(replies);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Operator tools                                                       */

/* One key of inspect's pipeline: GET, PTTL, TYPE replies -> present? */
static sqclaim_rc inspect_key(const char *id, bool refund, rp_reply **r, sqclaim_entry *out,
                              sqb_err *err)
{
    const rp_reply *get = r[0], *pttl = r[1], *type = r[2];
    if (type && type->type == RP_ERR)
        return rp_server_error(type->str, type->len, err);
    if (pttl && pttl->type == RP_ERR)
        return rp_server_error(pttl->str, pttl->len, err);
    const char *t = type_name(type);
    if (!t)
        return rp_bad_reply(err, "TYPE", type, "expected a type name");
    if (!rp_is_int(pttl))
        return rp_bad_reply(err, "PTTL", pttl, "expected an integer");
    bool wrongtype = get && get->type == RP_ERR && rp_starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (!wrongtype && (!get || (get->type != RP_NIL && get->type != RP_STR)))
        return rp_bad_reply(err, "GET", get, "expected a string or nil");
    if (strcmp(t, "none") == 0 || pttl->integer == -2 || (!wrongtype && get->type == RP_NIL))
        return SQCLAIM_OK; /* nothing there (or gone between the commands) */
    int64_t ttl = pttl->integer >= 0 ? pttl->integer : -1;
    rp_view v;
    if (wrongtype || strcmp(t, "string") != 0)
        view_value(NULL, 0, t, &v);
    else
        view_value(get->str, get->len, NULL, &v);
    if (!refund) {
        out->has_claim = true;
        view_claim(id, &v, ttl, &out->claim);
    } else {
        out->has_reservation = true;
        view_res(id, &v, ttl, &out->reservation);
    }
    return SQCLAIM_OK;
}

sqclaim_rc rp_inspect(rp_conn *c, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    char k[2][RP_PREFIX_MAX + SQCLAIM_SQ_MAX + 16];
    snprintf(k[0], sizeof k[0], "%ssq:%s", c->prefix, sq);
    snprintf(k[1], sizeof k[1], "%srefund:%s", c->prefix, sq);
    static const char *const verbs[3] = {"GET", "PTTL", "TYPE"};
    const char *argv[12];
    size_t len[12];
    rp_cmd cmds[6];
    rp_reply *replies[6] = {0};
    for (int i = 0; i < 6; i++) {
        argv[2 * i] = verbs[i % 3];
        len[2 * i] = strlen(verbs[i % 3]);
        argv[2 * i + 1] = k[i / 3];
        len[2 * i + 1] = strlen(k[i / 3]);
        cmds[i] = (rp_cmd){2, &argv[2 * i], &len[2 * i]};
    }
    sqclaim_rc rc = c->tp->pipeline(c->t, 6, cmds, replies, err);
    if (rc == SQCLAIM_OK)
        rc = inspect_key(sq, false, replies, out, err);
    if (rc == SQCLAIM_OK)
        rc = inspect_key(sq, true, replies + 3, out, err);
    for (int i = 0; i < 6; i++)
        rp_reply_free(replies[i]);
    return rc;
}

/* One counter from its GET and TYPE replies. */
static sqclaim_rc counter_state(const rp_reply *get, const rp_reply *type, bool cursor,
                                uint64_t *value, unsigned *state, char *detail, size_t dlen,
                                sqb_err *err)
{
    if (type && type->type == RP_ERR)
        return rp_server_error(type->str, type->len, err);
    const char *t = type_name(type);
    if (!t)
        return rp_bad_reply(err, "TYPE", type, "expected a type name");
    bool wrongtype = get && get->type == RP_ERR && rp_starts_with(get->str, get->len, "WRONGTYPE");
    if (get && get->type == RP_ERR && !wrongtype)
        return rp_server_error(get->str, get->len, err);
    if (strcmp(t, "none") == 0) {
        *state = SQCLAIM_COUNTER_MISSING;
        return SQCLAIM_OK;
    }
    if (wrongtype || strcmp(t, "string") != 0 || !get || get->type != RP_STR) {
        *state = SQCLAIM_COUNTER_INVALID;
        snprintf(detail, dlen, "a %s", t);
        return SQCLAIM_OK;
    }
    /* The scripts' own rules: the fence any integer INCR takes (>= 1 to
     * be usable), the cursor 1 to 15 decimal digits. */
    size_t digits = strspn(get->str, "0123456789");
    bool ok = get->len > 0 && digits == get->len && get->len <= (cursor ? 15u : 19u);
    uint64_t v = ok ? strtoull(get->str, NULL, 10) : 0;
    if (ok && !cursor && v == 0) {
        /* INCR takes 0 to 1, which the claim script treats as missing. */
        *state = SQCLAIM_COUNTER_MISSING;
        snprintf(detail, dlen, "0");
        return SQCLAIM_OK;
    }
    if (!ok) {
        *state = SQCLAIM_COUNTER_INVALID;
        char raw[SQCLAIM_RAW_MAX + 1];
        if (sqb_raw_preview(raw, get->str, get->len))
            snprintf(detail, dlen, "\"%s\"", raw);
        else
            snprintf(detail, dlen, "a text that mentions a token");
        return SQCLAIM_OK;
    }
    *state = SQCLAIM_COUNTER_OK;
    *value = v;
    return SQCLAIM_OK;
}

sqclaim_rc rp_counters(rp_conn *c, sqclaim_counters *out, sqb_err *err)
{
    snprintf(out->fence_key, sizeof out->fence_key, "%ssqclaim:fence", c->prefix);
    snprintf(out->cursor_key, sizeof out->cursor_key, "%ssqclaim:rowcursor", c->prefix);
    const char *argv[8] = {"GET", out->fence_key,  "TYPE", out->fence_key,
                           "GET", out->cursor_key, "TYPE", out->cursor_key};
    size_t len[8];
    rp_cmd cmds[4];
    for (int i = 0; i < 8; i++)
        len[i] = strlen(argv[i]);
    for (int i = 0; i < 4; i++)
        cmds[i] = (rp_cmd){2, &argv[2 * i], &len[2 * i]};
    rp_reply *r[4] = {0};
    sqclaim_rc rc = c->tp->pipeline(c->t, 4, cmds, r, err);
    if (rc == SQCLAIM_OK)
        rc = counter_state(r[0], r[1], false, &out->fence, &out->fence_state, out->fence_detail,
                           sizeof out->fence_detail, err);
    if (rc == SQCLAIM_OK)
        rc = counter_state(r[2], r[3], true, &out->row_cursor, &out->cursor_state,
                           out->cursor_detail, sizeof out->cursor_detail, err);
    for (int i = 0; i < 4; i++)
        rp_reply_free(r[i]);
    return rc;
}
