/*
 * admin.c — kvrest's admin API (docs/kvrest.md): GET /_kvrest/stats,
 * POST /_kvrest/stats/reset, GET|POST /_kvrest/faults.  Full-access token
 * only.
 */
#include "kvrest.h"
#include "serverint.h"
#include "util/squtil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* ---- admin API ----------------------------------------------------------- */

static void fmt_double(kv_buf *b, double v)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    kv_buf_adds(b, tmp);
}

static void faults_json(kv_server *s, kv_buf *b)
{
    pthread_mutex_lock(&s->fmu);
    kv_faults f = s->faults;
    unsigned long long used = s->quota_used;
    pthread_mutex_unlock(&s->fmu);
    kv_buf_addf(b, "{\"latency_ms\":%ld,\"jitter_ms\":%ld,\"fail_rate\":", f.latency_ms,
                f.jitter_ms);
    fmt_double(b, f.fail_rate);
    kv_buf_adds(b, ",\"drop_rate\":");
    fmt_double(b, f.drop_rate);
    kv_buf_adds(b, ",\"stall_rate\":");
    fmt_double(b, f.stall_rate);
    kv_buf_addf(b, ",\"stall_ms\":%ld,\"quota\":%llu,\"quota_used\":%llu,\"seed\":%llu}",
                f.stall_ms, f.quota, used, (unsigned long long)f.seed);
}

static void stats_json(kv_server *s, kv_buf *b)
{
    kv_buf_addf(
        b,
        "{\"requests\":%llu,\"commands\":%llu,\"routes\":{\"single\":%llu,\"pipeline\":%llu,"
        "\"multi_exec\":%llu,\"path\":%llu},\"errors\":%llu,\"unauthorized\":%llu,"
        "\"faults\":{\"failed\":%llu,\"dropped\":%llu,\"stalled\":%llu}}",
        kv_get(&s->requests), kv_get(&s->commands), kv_get(&s->by_route[R_SINGLE]),
        kv_get(&s->by_route[R_PIPELINE]), kv_get(&s->by_route[R_MULTI]),
        kv_get(&s->by_route[R_PATH]), kv_get(&s->errors), kv_get(&s->unauthorized),
        kv_get(&s->failed), kv_get(&s->dropped), kv_get(&s->stalled));
}

static void stats_reset(kv_server *s)
{
    atomic_ullong *all[] = {&s->requests,
                            &s->commands,
                            &s->unauthorized,
                            &s->errors,
                            &s->by_route[R_SINGLE],
                            &s->by_route[R_PIPELINE],
                            &s->by_route[R_MULTI],
                            &s->by_route[R_PATH],
                            &s->failed,
                            &s->dropped,
                            &s->stalled};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        atomic_store(all[i], 0);
}

static int json_ms(const cJSON *v, long *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > (double)MAX_DELAY_MS || floor(v->valuedouble) != v->valuedouble)
        return -1;
    *out = (long)v->valuedouble;
    return 0;
}

static int json_rate(const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= 1.0))
        return -1;
    *out = v->valuedouble;
    return 0;
}

static int json_u64(const cJSON *v, uint64_t *out)
{
    if (cJSON_IsString(v)) {
        const char *str = v->valuestring;
        if (!*str || *str == '-' || *str == '+')
            return -1;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(str, &end, 10);
        if (errno || *end)
            return -1;
        *out = x;
        return 0;
    }
    return cJSON_IsNumber(v) && sq_whole_u64(v->valuedouble, SQ_EXACT_MAX, out) ? 0 : -1;
}

/* Apply a faults object; all-or-nothing.  Returns 0 or -1 with err. */
static int faults_update(kv_server *s, const char *body, size_t len, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "ERR faults: body must be a JSON object");
        return -1;
    }
    pthread_mutex_lock(&s->fmu);
    kv_faults f = s->faults;
    pthread_mutex_unlock(&s->fmu);
    bool set_seed = false, set_quota = false;
    int rc = 0;
    for (const cJSON *v = root->child; v && rc == 0; v = v->next) {
        const char *k = v->string ? v->string : "";
        uint64_t u;
        if (strcmp(k, "latency_ms") == 0)
            rc = json_ms(v, &f.latency_ms);
        else if (strcmp(k, "jitter_ms") == 0)
            rc = json_ms(v, &f.jitter_ms);
        else if (strcmp(k, "stall_ms") == 0)
            rc = json_ms(v, &f.stall_ms);
        else if (strcmp(k, "fail_rate") == 0)
            rc = json_rate(v, &f.fail_rate);
        else if (strcmp(k, "drop_rate") == 0)
            rc = json_rate(v, &f.drop_rate);
        else if (strcmp(k, "stall_rate") == 0)
            rc = json_rate(v, &f.stall_rate);
        else if (strcmp(k, "quota") == 0) {
            rc = json_u64(v, &u);
            f.quota = u;
            set_quota = true;
        } else if (strcmp(k, "seed") == 0) {
            rc = json_u64(v, &u);
            f.seed = u;
            set_seed = true;
        } else {
            snprintf(err, errlen,
                     "ERR faults: unknown setting (known: latency_ms, jitter_ms, "
                     "fail_rate, drop_rate, stall_rate, stall_ms, quota, seed)");
            cJSON_Delete(root);
            return -1;
        }
        if (rc != 0)
            snprintf(err, errlen,
                     "ERR faults: bad value for %.40s (rates: 0..1; *_ms: integer 0..%ld; "
                     "quota, seed: non-negative integer)",
                     k, MAX_DELAY_MS);
    }
    cJSON_Delete(root);
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&s->fmu);
    s->faults = f;
    if (set_seed)
        s->rng = f.seed;
    if (set_quota)
        s->quota_used = 0; /* a new quota starts a new "day" */
    pthread_mutex_unlock(&s->fmu);
    return 0;
}

enum MHD_Result kv_handle_admin(kv_server *s, struct MHD_Connection *conn, kv_req *rq,
                                const char *url, const char *method)
{
    if (!kv_is_read_method(method) && !kv_is_write_method(method))
        return kv_respond_error(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                "ERR method not allowed (HEAD, GET, POST, PUT)");
    role r = kv_authenticate(s, conn);
    if (r == ROLE_NONE) {
        kv_count(&s->unauthorized);
        return kv_respond_error(s, conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
    }
    if (r != ROLE_FULL)
        return kv_respond_error(s, conn, MHD_HTTP_FORBIDDEN,
                                "NOPERM the kvrest admin API needs the full-access token");
    if (rq->too_big)
        return kv_respond_error(s, conn, MHD_HTTP_BAD_REQUEST, "ERR max request size exceeded");
    kv_buf b = {0};
    if (strcmp(url, "/_kvrest/stats") == 0) {
        if (!kv_is_read_method(method))
            return kv_respond_error(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                    "ERR use GET /_kvrest/stats");
        stats_json(s, &b);
        return kv_respond(s, conn, MHD_HTTP_OK, &b);
    }
    if (strcmp(url, "/_kvrest/stats/reset") == 0) {
        if (!kv_is_write_method(method))
            return kv_respond_error(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                    "ERR use POST /_kvrest/stats/reset");
        stats_reset(s);
        stats_json(s, &b);
        return kv_respond(s, conn, MHD_HTTP_OK, &b);
    }
    if (strcmp(url, "/_kvrest/faults") == 0) {
        if (kv_is_write_method(method)) {
            char err[256];
            if (faults_update(s, rq->body.p ? rq->body.p : "", rq->body.len, err, sizeof err) != 0)
                return kv_respond_error(s, conn, MHD_HTTP_BAD_REQUEST, err);
        }
        faults_json(s, &b);
        return kv_respond(s, conn, MHD_HTTP_OK, &b);
    }
    return kv_respond_error(
        s, conn, MHD_HTTP_NOT_FOUND,
        "ERR unknown admin route (GET /_kvrest/stats, POST /_kvrest/stats/reset, "
        "GET|POST /_kvrest/faults)");
}
