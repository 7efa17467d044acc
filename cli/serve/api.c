/* api.c — the routes of `sqclaim serve`: parse the JSON body, make one
 * library call on a pooled store handle, answer with JSON.
 *
 * Every answer has "success".  Failures and outcomes add "code" (the
 * library's rc name: BUSY, LOST, EINVAL...) and "error" (the library's
 * message), and the HTTP status says the same (serve_http_status).  GET
 * /api/queue answers exactly the seed's document instead.  Lease tokens
 * appear only in the answers that hand a lease to its holder (claim,
 * claim-first, renew, an uncertain claim), never elsewhere. */
#include "serve.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The pool of store handles                                            */

struct serve_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, nfree;
    sqclaim_store **all;
    sqclaim_store **free_;
    char adapter[32];
};

serve_pool *serve_pool_open(const sqclaim_options *o, int n, sqclaim_rc *rc, char *msg, size_t len)
{
    serve_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->all = calloc((size_t)n, sizeof *p->all);
    p->free_ = calloc((size_t)n, sizeof *p->free_);
    if (!p->all || !p->free_) {
        free(p->all);
        free(p->free_);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *rc = SQCLAIM_OK;
    msg[0] = '\0';
    for (int i = 0; i < n; i++) {
        sqclaim_store *s = NULL;
        sqclaim_rc r = sqclaim_open(o, &s);
        if (r != SQCLAIM_OK) {
            *rc = r;
            snprintf(msg, len, "%s", sqclaim_errmsg(s));
            sqclaim_close(s);
            break;
        }
        p->all[p->n++] = s;
    }
    if (*rc != SQCLAIM_OK) { /* all or nothing */
        for (int i = 0; i < p->n; i++)
            sqclaim_close(p->all[i]);
        p->n = 0;
    }
    for (int i = 0; i < p->n; i++)
        p->free_[i] = p->all[i];
    p->nfree = p->n;
    if (p->n)
        snprintf(p->adapter, sizeof p->adapter, "%s", sqclaim_adapter(p->all[0]));
    return p;
}

void serve_pool_close(serve_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        sqclaim_close(p->all[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->all);
    free(p->free_);
    free(p);
}

const char *serve_pool_adapter(const serve_pool *p) { return p ? p->adapter : ""; }

sqclaim_store *serve_pool_get(serve_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    sqclaim_store *s = p->free_[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    return s;
}

void serve_pool_put(serve_pool *p, sqclaim_store *s)
{
    pthread_mutex_lock(&p->mu);
    p->free_[p->nfree++] = s;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------------ */
/* Statuses and answers                                                 */

unsigned serve_http_status(sqclaim_rc rc)
{
    switch (rc) {
    case SQCLAIM_OK: return 200;
    case SQCLAIM_BUSY: return 409;
    case SQCLAIM_LOST: return 410;
    case SQCLAIM_EINVAL: return 400;
    case SQCLAIM_ECONFIG: return 503;
    case SQCLAIM_EUNSUPPORTED: return 501;
    case SQCLAIM_EIO:
    case SQCLAIM_EAUTH:
    case SQCLAIM_EPROTOCOL:
    case SQCLAIM_ESERVER: return 502;
    case SQCLAIM_ETIMEOUT: return 504;
    case SQCLAIM_EQUOTA: return 503;
    case SQCLAIM_ENOMEM:
    case SQCLAIM_ESTATE: return 500;
    }
    return 500;
}

static void reply_json(serve_reply *out, unsigned status, cJSON *obj)
{
    out->status = status;
    out->body = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!out->body) {
        out->status = 500;
        out->body = strdup("{\"success\":false,\"code\":\"ENOMEM\",\"error\":\"out of memory\"}");
    }
}

static cJSON *failure(sqclaim_rc rc, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", false);
    cJSON_AddStringToObject(o, "code", sqclaim_rcname(rc));
    cJSON_AddStringToObject(o, "error", msg);
    return o;
}

static void reply_error(serve_reply *out, sqclaim_rc rc, const char *msg)
{
    reply_json(out, serve_http_status(rc), failure(rc, msg));
}

/* A string made by the library that holds a token: wiped, then freed. */
static void free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    sqclaim_free(s);
}

/* Add the lease under "lease" (as sqclaim_lease_to_json writes it). */
static bool add_lease(cJSON *o, const sqclaim_lease *lease)
{
    char *j = sqclaim_lease_to_json(lease);
    cJSON *l = j ? cJSON_Parse(j) : NULL;
    free_secret(j);
    if (!l)
        return false;
    cJSON_AddItemToObject(o, "lease", l);
    return true;
}

/* The printed answer holds a token: wipe the cJSON text too. */
static void reply_secret(serve_reply *out, unsigned status, cJSON *o)
{
    reply_json(out, status, o);
}

/* ------------------------------------------------------------------ */
/* Reading the body                                                     */

typedef struct body {
    cJSON *root;
    char err[320];
} body;

static bool parse_body(const serve_req *rq, body *b, const char *const *allowed)
{
    b->root = NULL;
    b->err[0] = '\0';
    if (strlen(rq->body) != rq->body_len) {
        snprintf(b->err, sizeof b->err, "the body contains a NUL byte: expected a JSON object");
        return false;
    }
    if (strstr(rq->body, "\\u0000")) {
        snprintf(b->err, sizeof b->err, "the body contains a NUL character (\\u0000)");
        return false;
    }
    b->root = cJSON_ParseWithOpts(rq->body, NULL, 1);
    if (!b->root || !cJSON_IsObject(b->root)) {
        snprintf(b->err, sizeof b->err, "the body must be one JSON object (see docs/http.md)");
        return false;
    }
    /* An unknown member is a typo ("ttl_ms") that would silently take a
     * default: refuse it, naming it. */
    for (const cJSON *it = b->root->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = it->string && strcmp(it->string, *a) == 0;
        if (!ok) {
            char name[48];
            cli_clean_text(name, sizeof name, it->string ? it->string : "", 40);
            snprintf(b->err, sizeof b->err, "unknown member \"%s\" (expected:", name);
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(b->err);
                snprintf(b->err + l, sizeof b->err - l, " %s", *a);
            }
            size_t l = strlen(b->err);
            snprintf(b->err + l, sizeof b->err - l, ")");
            return false;
        }
    }
    return true;
}

static const char *get_str(const body *b, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool has(const body *b, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(b->root, name) != NULL;
}

/* An optional whole number in [min, max]: 1 found, 0 absent, -1 bad. */
static int get_uint_in(const cJSON *obj, const char *name, uint64_t min, uint64_t max,
                       uint64_t *out, char *err, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        floor(v->valuedouble) != v->valuedouble) {
        snprintf(err, len, "\"%s\" must be a whole number from %" PRIu64 " to %" PRIu64, name, min,
                 max);
        return -1;
    }
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static int get_uint(const body *b, const char *name, uint64_t min, uint64_t max, uint64_t *out,
                    char *err, size_t len)
{
    return get_uint_in(b->root, name, min, max, out, err, len);
}

/* "ttlMs": number, or "ttl": "10m" (the CLI's duration grammar). */
static bool get_ttl(const body *b, int64_t *ttl, char *err, size_t len)
{
    *ttl = 0;
    uint64_t v;
    int r = get_uint(b, "ttlMs", SQCLAIM_MIN_TTL_MS, SQCLAIM_MAX_TTL_MS, &v, err, len);
    if (r < 0)
        return false;
    if (r > 0) {
        if (has(b, "ttl")) {
            snprintf(err, len, "give \"ttlMs\" or \"ttl\", not both");
            return false;
        }
        *ttl = (int64_t)v;
        return true;
    }
    if (!has(b, "ttl"))
        return true;
    const char *t = get_str(b, "ttl");
    char e[256];
    if (!t) {
        snprintf(err, len, "\"ttl\" must be a string such as \"10m\"");
        return false;
    }
    if (sqclaim_parse_duration(t, ttl, e, sizeof e) != SQCLAIM_OK) {
        snprintf(err, len, "\"ttl\": %s", e);
        return false;
    }
    if (*ttl < SQCLAIM_MIN_TTL_MS || *ttl > SQCLAIM_MAX_TTL_MS) {
        snprintf(err, len, "\"ttl\" must be from 10ms to 24h");
        return false;
    }
    return true;
}

/* The "lease" member: the lease JSON the CLI prints and claim answers. */
static bool get_lease(const body *b, sqclaim_lease *lease, char *err, size_t len)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(b->root, "lease");
    if (!cJSON_IsObject(l)) {
        snprintf(err, len, "\"lease\" must be the lease object that claim answered");
        return false;
    }
    char *text = cJSON_PrintUnformatted(l);
    if (!text) {
        snprintf(err, len, "out of memory");
        return false;
    }
    sqclaim_rc rc = sqclaim_lease_from_json(text, lease, err, len);
    explicit_bzero(text, strlen(text));
    cJSON_free(text);
    return rc == SQCLAIM_OK;
}

/* Wipe every string of a parsed body (it may hold a token). */
static void wipe_json(cJSON *j)
{
    for (; j; j = j->next) {
        if (j->valuestring)
            explicit_bzero(j->valuestring, strlen(j->valuestring));
        wipe_json(j->child);
    }
}

static void body_free(body *b)
{
    wipe_json(b->root);
    cJSON_Delete(b->root);
    b->root = NULL;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */

/* The library's message of the last operation on s. */
static void lib_error(serve_reply *out, sqclaim_store *s, sqclaim_rc rc)
{
    reply_error(out, rc, sqclaim_errmsg(s));
}

static void do_queue(serve_api *api, serve_reply *out)
{
    if (api->open_rc != SQCLAIM_OK) {
        out->status = serve_http_status(api->open_rc);
        out->body = sqclaim_error_json(api->open_msg, 0);
        return;
    }
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    char *json =
        rc == SQCLAIM_OK ? sqclaim_status_json(st, 0) : sqclaim_error_json(sqclaim_errmsg(s), 0);
    serve_pool_put(api->pool, s);
    sqclaim_status_free(st);
    out->status = serve_http_status(rc);
    if (json) {
        out->body = strdup(json);
        sqclaim_free(json);
    }
}

static void do_claim(serve_api *api, const serve_req *rq, bool first, serve_reply *out)
{
    static const char *const one[] = {"sq", "bot", "ttlMs", "ttl", "token", NULL};
    static const char *const many[] = {"sqs", "bot", "ttlMs", "ttl", "token", NULL};
    body b;
    char err[320];
    if (!parse_body(rq, &b, first ? many : one)) {
        reply_error(out, SQCLAIM_EINVAL, b.err);
        body_free(&b);
        return;
    }
    const char *sqs[SQCLAIM_MAX_CANDIDATES];
    size_t n = 0;
    if (first) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(b.root, "sqs");
        int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
        if (count < 1 || count > SQCLAIM_MAX_CANDIDATES) {
            reply_error(out, SQCLAIM_EINVAL,
                        "\"sqs\" must be an array of 1 to 256 SQ ids, in the order to try them");
            body_free(&b);
            return;
        }
        for (const cJSON *it = arr->child; it; it = it->next) {
            if (!cJSON_IsString(it)) {
                reply_error(out, SQCLAIM_EINVAL, "\"sqs\" must hold strings (SQ ids)");
                body_free(&b);
                return;
            }
            sqs[n++] = it->valuestring;
        }
    } else {
        sqs[0] = get_str(&b, "sq");
        n = 1;
        if (!sqs[0]) {
            reply_error(out, SQCLAIM_EINVAL, "\"sq\" (the SQ id, a string) is required");
            body_free(&b);
            return;
        }
    }
    const char *bot = get_str(&b, "bot");
    int64_t ttl;
    if (!bot) {
        reply_error(out, SQCLAIM_EINVAL, "\"bot\" (who claims, a string) is required");
        body_free(&b);
        return;
    }
    if (!get_ttl(&b, &ttl, err, sizeof err)) {
        reply_error(out, SQCLAIM_EINVAL, err);
        body_free(&b);
        return;
    }
    const char *token = get_str(&b, "token");
    bool hex = token && strlen(token) == SQCLAIM_TOKEN_LEN;
    for (size_t i = 0; hex && i < SQCLAIM_TOKEN_LEN; i++)
        hex = (token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f');
    if (has(&b, "token") && !hex) {
        reply_error(out, SQCLAIM_EINVAL, "\"token\" must be a string of 32 lowercase hex digits");
        body_free(&b);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (sqclaim_check_sq(sqs[i], err, sizeof err) != SQCLAIM_OK) {
            reply_error(out, SQCLAIM_EINVAL, err);
            body_free(&b);
            return;
        }
    if (sqclaim_check_bot(bot, err, sizeof err) != SQCLAIM_OK) {
        char m[360];
        snprintf(m, sizeof m, "\"bot\": %s", err);
        reply_error(out, SQCLAIM_EINVAL, m);
        body_free(&b);
        return;
    }

    sqclaim_lease lease;
    sqclaim_holder holder;
    memset(&lease, 0, sizeof lease);
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_rc rc;
    if (token) {
        /* The bot chose its token: a retry of a claim whose answer it
         * never got is idempotent (finding its own token = granted). */
        char lj[512]; /* both checked above: nothing in them needs escaping */
        snprintf(lj, sizeof lj, "{\"sq\":\"%s\",\"token\":\"%s\"}", sqs[0], token);
        rc = sqclaim_lease_from_json(lj, &lease, err, sizeof err);
        explicit_bzero(lj, sizeof lj);
        if (rc != SQCLAIM_OK) {
            serve_pool_put(api->pool, s);
            reply_error(out, SQCLAIM_EINVAL, err);
            body_free(&b);
            return;
        }
        snprintf(lease.bot, sizeof lease.bot, "%s", bot);
        lease.ttl_ms = ttl ? ttl : SQCLAIM_DEFAULT_TTL_MS;
        lease.flags = SQCLAIM_LEASE_UNCERTAIN;
        rc = sqclaim_claim_retry(s, sqs, n, &lease, &holder);
    } else {
        rc = sqclaim_claim_first(s, sqs, n, bot, ttl, &lease, &holder);
    }
    cJSON *o;
    if (rc == SQCLAIM_OK) {
        o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "success", true);
        if (!add_lease(o, &lease)) {
            cJSON_Delete(o);
            /* Granted, but the answer cannot be built: give it back. */
            sqclaim_release(s, &lease);
            o = failure(SQCLAIM_ENOMEM, "out of memory; the claim was released");
            rc = SQCLAIM_ENOMEM;
        } else {
            cJSON_AddBoolToObject(o, "reclaimed", (lease.flags & SQCLAIM_LEASE_RECLAIMED) != 0);
        }
    } else {
        o = failure(rc, sqclaim_errmsg(s));
        if (rc == SQCLAIM_BUSY) {
            cJSON *h = cJSON_AddObjectToObject(o, "holder");
            cJSON_AddStringToObject(h, "sq", holder.sq);
            cJSON_AddStringToObject(h, "bot", holder.bot);
            cJSON_AddNumberToObject(h, "remainingMs", (double)holder.remaining_ms);
        } else if (rc < 0 && (lease.flags & SQCLAIM_LEASE_UNCERTAIN)) {
            /* The store may have granted it: hand the lease over so the
             * bot can retry with its token or release it. */
            cJSON_AddBoolToObject(o, "uncertain", true);
            add_lease(o, &lease);
        }
    }
    serve_pool_put(api->pool, s);
    explicit_bzero(&lease, sizeof lease);
    reply_secret(out, serve_http_status(rc), o);
    body_free(&b);
}

/* finish's optional "range": the object /api/reserve answered (startRow,
 * rowCount, fence; other members such as "sq" and "success" are ignored).
 * With it only that reservation is finished (sqclaim_finish_range). */
static bool get_range(const body *b, sqclaim_rows *out, bool *has, char *err, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->root, "range");
    *has = false;
    err[0] = '\0';
    if (!v)
        return true;
    if (!cJSON_IsObject(v)) {
        snprintf(err, len, "\"range\" must be the object /api/reserve answered");
        return false;
    }
    uint64_t start = 0, count = 0, fence = 0;
    if (get_uint_in(v, "startRow", 1, SQCLAIM_MAX_ROW, &start, err, len) <= 0 ||
        get_uint_in(v, "rowCount", 1, SQCLAIM_MAX_ROWS, &count, err, len) <= 0 ||
        get_uint_in(v, "fence", 1, UINT64_C(9007199254740991), &fence, err, len) <= 0) {
        if (!err[0] || !strstr(err, "must be"))
            snprintf(err, len,
                     "\"range\" needs startRow, rowCount and fence, as /api/reserve answered");
        return false;
    }
    memset(out, 0, sizeof *out);
    out->start_row = start;
    out->count = (uint32_t)count;
    out->fence = fence;
    *has = true;
    return true;
}

enum lease_op { OP_RENEW, OP_RELEASE, OP_RESERVE, OP_FINISH };

static void do_lease_op(serve_api *api, const serve_req *rq, enum lease_op op, serve_reply *out)
{
    static const char *const renew_m[] = {"lease", "ttlMs", "ttl", NULL};
    static const char *const plain_m[] = {"lease", NULL};
    static const char *const reserve_m[] = {"lease", "rows", "hint", NULL};
    static const char *const finish_m[] = {"lease", "range", NULL};
    const char *const *allowed = op == OP_RENEW     ? renew_m
                                 : op == OP_RESERVE ? reserve_m
                                 : op == OP_FINISH  ? finish_m
                                                    : plain_m;
    body b;
    char err[320];
    sqclaim_lease lease;
    memset(&lease, 0, sizeof lease);
    int64_t ttl = 0;
    uint64_t rows = 0, hint = 0;
    if (!parse_body(rq, &b, allowed)) {
        reply_error(out, SQCLAIM_EINVAL, b.err);
        body_free(&b);
        return;
    }
    bool ok = get_lease(&b, &lease, err, sizeof err);
    if (ok && op == OP_RENEW)
        ok = get_ttl(&b, &ttl, err, sizeof err);
    if (ok && op == OP_RESERVE) {
        int r = get_uint(&b, "rows", 1, SQCLAIM_MAX_ROWS, &rows, err, sizeof err);
        if (r == 0)
            snprintf(err, sizeof err, "\"rows\" (how many rows of the Refund Log) is required");
        ok = r > 0 && get_uint(&b, "hint", 0, SQCLAIM_MAX_ROW, &hint, err, sizeof err) >= 0;
    }
    sqclaim_rows range;
    bool has_range = false;
    if (ok && op == OP_FINISH)
        ok = get_range(&b, &range, &has_range, err, sizeof err);
    body_free(&b);
    if (!ok) {
        explicit_bzero(&lease, sizeof lease);
        reply_error(out, SQCLAIM_EINVAL, err);
        return;
    }
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_rc rc = SQCLAIM_OK;
    sqclaim_rows r;
    memset(&r, 0, sizeof r);
    switch (op) {
    case OP_RENEW: rc = sqclaim_renew(s, &lease, ttl); break;
    case OP_RELEASE: rc = sqclaim_release(s, &lease); break;
    case OP_RESERVE: rc = sqclaim_reserve_rows(s, &lease, (uint32_t)rows, hint, &r); break;
    case OP_FINISH:
        rc = has_range ? sqclaim_finish_range(s, &lease, &range) : sqclaim_finish_rows(s, &lease);
        break;
    }
    if (rc != SQCLAIM_OK) {
        lib_error(out, s, rc);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "success", true);
        if (op == OP_RENEW) {
            add_lease(o, &lease);
        } else if (op == OP_RESERVE) {
            cJSON_AddStringToObject(o, "sq", lease.sq);
            cJSON_AddNumberToObject(o, "startRow", (double)r.start_row);
            cJSON_AddNumberToObject(o, "rowCount", (double)r.count);
            cJSON_AddNumberToObject(o, "fence", (double)r.fence);
        }
        reply_secret(out, 200, o);
    }
    serve_pool_put(api->pool, s);
    explicit_bzero(&lease, sizeof lease);
}

static void add_entry_fields(cJSON *o, const char *bot, const char *timestamp, const char *status,
                             uint64_t fence, int64_t ttl_ms, unsigned flags, const char *type,
                             const char *raw, const char *fingerprint)
{
    cJSON_AddStringToObject(o, "botId", bot);
    cJSON_AddStringToObject(o, "timestamp", timestamp);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "fence", (double)fence);
    cJSON_AddNumberToObject(o, "ttlMs", (double)ttl_ms);
    cJSON_AddBoolToObject(o, "foreign", (flags & SQCLAIM_ENTRY_FOREIGN) != 0);
    if (flags & SQCLAIM_ENTRY_UNREADABLE) {
        cJSON_AddBoolToObject(o, "unreadable", true);
        cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "raw", raw);
    }
    cJSON_AddStringToObject(o, "fingerprint", fingerprint);
}

static void do_inspect(serve_api *api, const serve_req *rq, serve_reply *out)
{
    char err[320];
    const char *sq = rq->query_sq;
    if (!sq) {
        reply_error(out, SQCLAIM_EINVAL, "give the SQ: /api/inspect?sq=SQ");
        return;
    }
    if (sqclaim_check_sq(sq, err, sizeof err) != SQCLAIM_OK) {
        reply_error(out, SQCLAIM_EINVAL, err);
        return;
    }
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_entry e;
    sqclaim_rc rc = sqclaim_inspect(s, sq, &e);
    if (rc != SQCLAIM_OK) {
        lib_error(out, s, rc);
        serve_pool_put(api->pool, s);
        return;
    }
    serve_pool_put(api->pool, s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", true);
    cJSON_AddStringToObject(o, "sq", sq);
    if (e.has_claim) {
        const sqclaim_claim_info *c = &e.claim;
        cJSON *co = cJSON_AddObjectToObject(o, "claim");
        add_entry_fields(co, c->bot, c->timestamp, c->status, c->fence, c->ttl_ms, c->flags,
                         c->type, c->raw, c->fingerprint);
    } else {
        cJSON_AddNullToObject(o, "claim");
    }
    if (e.has_reservation) {
        const sqclaim_reservation_info *r = &e.reservation;
        cJSON *ro = cJSON_AddObjectToObject(o, "reservation");
        add_entry_fields(ro, r->bot, r->timestamp, r->status, r->fence, r->ttl_ms, r->flags,
                         r->type, r->raw, r->fingerprint);
        cJSON_AddNumberToObject(ro, "startRow", (double)r->start_row);
        cJSON_AddNumberToObject(ro, "rowCount", (double)r->row_count);
    } else {
        cJSON_AddNullToObject(o, "reservation");
    }
    reply_json(out, 200, o);
}

/* An expected fingerprint: null/absent (nothing expected) or a string. */
static bool get_fp(const cJSON *exp, const char *name, bool *present, char *fp, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(exp, name);
    *present = false;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
        return false;
    *present = true;
    snprintf(fp, len, "%s", v->valuestring);
    return true;
}

static void do_break(serve_api *api, const serve_req *rq, serve_reply *out)
{
    static const char *const allowed[] = {"sq", "force", "expected", NULL};
    body b;
    char err[320];
    if (!parse_body(rq, &b, allowed)) {
        reply_error(out, SQCLAIM_EINVAL, b.err);
        body_free(&b);
        return;
    }
    const char *sq = get_str(&b, "sq");
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(b.root, "force");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(b.root, "expected");
    sqclaim_entry e;
    memset(&e, 0, sizeof e);
    const char *bad = NULL;
    if (!sq)
        bad = "\"sq\" (the SQ id, a string) is required";
    else if (sqclaim_check_sq(sq, err, sizeof err) != SQCLAIM_OK)
        bad = err;
    else if (force && !cJSON_IsBool(force))
        bad = "\"force\" must be true or false";
    else if (exp && !cJSON_IsObject(exp))
        bad = "\"expected\" must be {\"claim\":FINGERPRINT|null,\"reservation\":FINGERPRINT|null}"
              " as /api/inspect answered";
    else if (exp && (!get_fp(exp, "claim", &e.has_claim, e.claim.fingerprint,
                             sizeof e.claim.fingerprint) ||
                     !get_fp(exp, "reservation", &e.has_reservation, e.reservation.fingerprint,
                             sizeof e.reservation.fingerprint)))
        bad = "\"expected\" holds fingerprints (strings) or null, as /api/inspect answered";
    if (bad) {
        reply_error(out, SQCLAIM_EINVAL, bad);
        body_free(&b);
        return;
    }
    snprintf(e.sq, sizeof e.sq, "%s", sq);
    unsigned flags = cJSON_IsTrue(force) ? SQCLAIM_BREAK_FORCE : 0;
    unsigned removed = 0;
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_rc rc = sqclaim_break(s, sq, exp ? &e : NULL, flags, &removed);
    if (rc != SQCLAIM_OK) {
        lib_error(out, s, rc);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "success", true);
        cJSON *r = cJSON_AddObjectToObject(o, "removed");
        cJSON_AddBoolToObject(r, "claim", (removed & SQCLAIM_BROKE_CLAIM) != 0);
        cJSON_AddBoolToObject(r, "reservation", (removed & SQCLAIM_BROKE_RESERVATION) != 0);
        reply_json(out, 200, o);
    }
    serve_pool_put(api->pool, s);
    body_free(&b);
}

static cJSON *counter_json(const char *key, unsigned state, uint64_t value, const char *detail)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "state",
                            state == SQCLAIM_COUNTER_OK        ? "ok"
                            : state == SQCLAIM_COUNTER_MISSING ? "missing"
                                                               : "invalid");
    if (state == SQCLAIM_COUNTER_OK)
        cJSON_AddNumberToObject(o, "value", (double)value);
    else
        cJSON_AddNullToObject(o, "value");
    cJSON_AddStringToObject(o, "detail", detail);
    return o;
}

static void do_counters(serve_api *api, serve_reply *out)
{
    sqclaim_store *s = serve_pool_get(api->pool);
    sqclaim_counters c;
    sqclaim_rc rc = sqclaim_counters_get(s, &c);
    if (rc != SQCLAIM_OK) {
        lib_error(out, s, rc);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "success", true);
        cJSON_AddItemToObject(
            o, "rowCursor",
            counter_json(c.cursor_key, c.cursor_state, c.row_cursor, c.cursor_detail));
        cJSON_AddItemToObject(o, "fenceCounter",
                              counter_json(c.fence_key, c.fence_state, c.fence, c.fence_detail));
        reply_json(out, 200, o);
    }
    serve_pool_put(api->pool, s);
}

static void do_health(serve_api *api, serve_reply *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", api->open_rc == SQCLAIM_OK);
    cJSON_AddStringToObject(o, "adapter", serve_pool_adapter(api->pool));
    cJSON_AddStringToObject(o, "version", SQCLAIM_VERSION);
    if (api->open_rc != SQCLAIM_OK)
        cJSON_AddStringToObject(o, "error", api->open_msg);
    reply_json(out, api->open_rc == SQCLAIM_OK ? 200 : serve_http_status(api->open_rc), o);
}

/* ------------------------------------------------------------------ */
/* Routing                                                              */

typedef struct route {
    const char *path;
    const char *method; /* GET (HEAD too) or POST */
    int id;
} route;

enum {
    R_DASHBOARD,
    R_QUEUE,
    R_COUNTERS,
    R_INSPECT,
    R_HEALTH,
    R_CLAIM,
    R_CLAIM_FIRST,
    R_RENEW,
    R_RELEASE,
    R_RESERVE,
    R_FINISH,
    R_BREAK
};

static const route routes[] = {
    {"/", "GET", R_DASHBOARD},
    {"/api/queue", "GET", R_QUEUE},
    {"/api/counters", "GET", R_COUNTERS},
    {"/api/inspect", "GET", R_INSPECT},
    {"/api/health", "GET", R_HEALTH},
    {"/api/claim", "POST", R_CLAIM},
    {"/api/claim-first", "POST", R_CLAIM_FIRST},
    {"/api/renew", "POST", R_RENEW},
    {"/api/release", "POST", R_RELEASE},
    {"/api/reserve", "POST", R_RESERVE},
    {"/api/finish", "POST", R_FINISH},
    {"/api/break", "POST", R_BREAK},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static const route *find_route(const char *path)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(routes[i].path, path) == 0)
            return &routes[i];
    return NULL;
}

bool serve_route_mutates(const char *method, const char *path)
{
    const route *r = find_route(path);
    (void)method;
    return r && strcmp(r->method, "POST") == 0;
}

void serve_api_handle(serve_api *api, const serve_req *rq, serve_reply *out)
{
    memset(out, 0, sizeof *out);
    const route *r = find_route(rq->path);
    if (!r) {
        reply_error(out, SQCLAIM_EINVAL, "no such resource (see docs/http.md for the routes)");
        out->status = 404;
        return;
    }
    bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    bool method_ok = strcmp(r->method, "GET") == 0 ? get : strcmp(rq->method, "POST") == 0;
    if (!method_ok) {
        reply_error(out, SQCLAIM_EINVAL,
                    strcmp(r->method, "GET") == 0 ? "method not allowed: use GET"
                                                  : "method not allowed: use POST");
        out->status = 405;
        out->allow = strcmp(r->method, "GET") == 0 ? "GET, HEAD" : "POST";
        return;
    }
    if (r->id == R_DASHBOARD) {
        out->status = 200;
        out->body = malloc(serve_dashboard_html_len + 1);
        if (out->body) {
            memcpy(out->body, serve_dashboard_html, serve_dashboard_html_len);
            out->body[serve_dashboard_html_len] = '\0';
        }
        out->content_type = "text/html; charset=utf-8";
        return;
    }
    if (r->id == R_QUEUE) {
        do_queue(api, out);
        return;
    }
    if (r->id == R_HEALTH) {
        do_health(api, out);
        return;
    }
    if (api->open_rc != SQCLAIM_OK) {
        reply_error(out, api->open_rc, api->open_msg);
        return;
    }
    switch (r->id) {
    case R_COUNTERS: do_counters(api, out); break;
    case R_INSPECT: do_inspect(api, rq, out); break;
    case R_CLAIM: do_claim(api, rq, false, out); break;
    case R_CLAIM_FIRST: do_claim(api, rq, true, out); break;
    case R_RENEW: do_lease_op(api, rq, OP_RENEW, out); break;
    case R_RELEASE: do_lease_op(api, rq, OP_RELEASE, out); break;
    case R_RESERVE: do_lease_op(api, rq, OP_RESERVE, out); break;
    case R_FINISH: do_lease_op(api, rq, OP_FINISH, out); break;
    case R_BREAK: do_break(api, rq, out); break;
    default: break;
    }
}
