/* kvtest.c — see kvtest.h. */
#include "kvtest.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    kt_resp *r = ud;
    size_t add = sz * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static void header_value(const char *p, size_t n, size_t namelen, char *out, size_t outlen)
{
    size_t i = namelen + 1;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
        e--;
    size_t len = e - i < outlen - 1 ? e - i : outlen - 1;
    memcpy(out, p + i, len);
    out[len] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    kt_resp *r = ud;
    size_t len = sz * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (after 100 Continue) */
        r->has_sync = false;
        r->sync[0] = r->ctype[0] = '\0';
    }
    static const char sync[] = "upstash-sync-token:", ct[] = "content-type:";
    if (len > sizeof sync - 1 && strncasecmp(p, sync, sizeof sync - 1) == 0) {
        r->has_sync = true;
        header_value(p, len, sizeof sync - 2, r->sync, sizeof r->sync);
    } else if (len > sizeof ct - 1 && strncasecmp(p, ct, sizeof ct - 1) == 0) {
        header_value(p, len, sizeof ct - 2, r->ctype, sizeof r->ctype);
    }
    return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t len = sz * n;
    if (len > u->left)
        len = u->left;
    if (len > 1000)
        len = 1000; /* several chunks */
    memcpy(p, u->p, len);
    u->p += len;
    u->left -= len;
    return len;
}

void kt_http(kt_resp *r, const kt_req *q)
{
    memset(r, 0, sizeof *r);
    CURL *h = q->handle;
    if (h)
        curl_easy_reset(h); /* keeps the connection cache */
    else
        h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", q->kv->url, q->path);
    struct curl_slist *hdrs = NULL;
    char auth[512];
    if (q->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (q->flags & KT_B64)
        hdrs = curl_slist_append(hdrs, "Upstash-Encoding: base64");
    if (q->flags & KT_CHUNKED)
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    if (q->header)
        hdrs = curl_slist_append(hdrs, q->header);
    if (q->flags & KT_NOEXPECT)
        hdrs = curl_slist_append(hdrs, "Expect:");
    const char *method = q->method ? q->method : q->body ? "POST" : "GET";
    size_t bodylen = q->body ? (q->bodylen ? q->bodylen : strlen(q->body)) : 0;
    upload up = {q->body, bodylen};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms ? q->timeout_ms : 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        if (q->body && (q->flags & KT_CHUNKED)) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &up);
        } else if (q->body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    long long t0 = tsrv_now_ms();
    r->rc = curl_easy_perform(h);
    r->ms = tsrv_now_ms() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    if (!r->body) {
        r->body = calloc(1, 1);
        ck_assert_ptr_nonnull(r->body);
    }
    curl_slist_free_all(hdrs);
    if (!q->handle)
        curl_easy_cleanup(h);
}

void kt_free(kt_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

void kt_expect_at(const char *file, int line, const kt_resp *r, long status, const char *body)
{
    ck_assert_msg(r->rc == CURLE_OK, "%s:%d: curl: %s", file, line, curl_easy_strerror(r->rc));
    ck_assert_msg(r->status == status, "%s:%d: status %ld, want %ld; body %s", file, line,
                  r->status, status, r->body);
    ck_assert_msg(strcmp(r->ctype, "application/json") == 0, "%s:%d: Content-Type '%s'", file, line,
                  r->ctype);
    ck_assert_msg(r->has_sync && r->sync[0], "%s:%d: no upstash-sync-token header", file, line);
    if (body)
        ck_assert_msg(r->len == strlen(body) && memcmp(r->body, body, r->len) == 0,
                      "%s:%d: body\n  %s\nwant\n  %s", file, line, r->body, body);
}

const char *kt_error_text_at(const char *file, int line, const kt_resp *r)
{
    static char text[1024];
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    ck_assert_msg(cJSON_IsObject(j), "%s:%d: body is not a JSON object: %s", file, line, r->body);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    ck_assert_msg(cJSON_IsString(e), "%s:%d: no \"error\" string in %s", file, line, r->body);
    ck_assert_msg(cJSON_GetArraySize(j) == 1, "%s:%d: extra members in %s", file, line, r->body);
    snprintf(text, sizeof text, "%s", e->valuestring);
    cJSON_Delete(j);
    return text;
}

redisReply *kt_redis(const tsrv *redis, const char *fmt, ...)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis->port, tv);
    ck_assert_msg(c && !c->err, "connect to redis: %s", c ? c->errstr : "no memory");
    if (redis->password[0]) {
        redisReply *a = redisCommand(c, "AUTH %s", redis->password);
        ck_assert_ptr_nonnull(a);
        freeReplyObject(a);
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "redis command failed: %s", c->errstr);
    redisFree(c);
    return r;
}

long long kt_stat(const tsrv *kv, const char *token, const char *name)
{
    kt_resp r;
    kt_req q = {.kv = kv, .path = "/_kvrest/stats", .token = token};
    kt_http(&r, &q);
    kt_expect(&r, 200, NULL);
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    ck_assert_msg(j != NULL, "stats: bad JSON %s", r.body);
    char path[128];
    snprintf(path, sizeof path, "%s", name);
    cJSON *node = j;
    for (char *save = NULL, *part = strtok_r(path, ".", &save); part;
         part = strtok_r(NULL, ".", &save))
        node = cJSON_GetObjectItemCaseSensitive(node, part);
    ck_assert_msg(cJSON_IsNumber(node), "stats: no counter %s in %s", name, r.body);
    long long v = (long long)node->valuedouble;
    cJSON_Delete(j);
    kt_free(&r);
    return v;
}

void kt_faults(const tsrv *kv, const char *token, const char *json)
{
    kt_resp r;
    kt_req q = {.kv = kv, .path = "/_kvrest/faults", .token = token, .body = json};
    kt_http(&r, &q);
    kt_expect(&r, 200, NULL);
    kt_free(&r);
}
