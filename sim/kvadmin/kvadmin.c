/* kvadmin.c — a client for kvrest's admin API (see kvadmin.h). */
#include "kvadmin.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    char *p;
    size_t len, cap;
} sink;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t k = size * n;
    if (s->cap && s->len + 1 < s->cap) {
        size_t c = s->cap - 1 - s->len < k ? s->cap - 1 - s->len : k;
        memcpy(s->p + s->len, ptr, c);
        s->len += c;
        s->p[s->len] = '\0';
    }
    return k;
}

long kva_call(const char *base_url, const char *token, const char *method, const char *path,
              const char *body, char *out, size_t outlen, char *err, size_t errlen)
{
    char noerr[8];
    if (!err) {
        err = noerr;
        errlen = sizeof noerr;
    }
    if (out && outlen)
        out[0] = '\0';
    if (!base_url || !token) {
        snprintf(err, errlen, "KV_REST_API_URL and KV_REST_API_TOKEN must be set");
        return -1;
    }
    if (strncmp(base_url, "http://", 7) != 0) {
        /* The URL itself is not printed: it may carry credentials. */
        snprintf(err, errlen,
                 "kvrest faults need a local kvrest: the REST URL must be http://host:port");
        return -1;
    }
    size_t ulen = strlen(base_url);
    while (ulen && base_url[ulen - 1] == '/')
        ulen--;
    char *url = malloc(ulen + strlen(path) + 1);
    char *auth = malloc(strlen(token) + 32);
    CURL *c = curl_easy_init();
    if (!url || !auth || !c) {
        free(url);
        free(auth);
        if (c)
            curl_easy_cleanup(c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(url, base_url, ulen);
    strcpy(url + ulen, path);
    sprintf(auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    sink s = {out, 0, out ? outlen : 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    long status = -1;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "cannot reach kvrest: %s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    memset(auth, 0, strlen(auth));
    free(auth);
    free(url);
    return status;
}

int kva_faults(const char *base_url, const char *token, const char *json, char *err, size_t errlen)
{
    char resp[1024];
    long st =
        kva_call(base_url, token, "POST", "/_kvrest/faults", json, resp, sizeof resp, err, errlen);
    if (st < 0)
        return -1;
    if (st != 200) {
        if (err)
            snprintf(err, errlen, "kvrest refused the fault settings (HTTP %ld): %.200s", st, resp);
        return -1;
    }
    return 0;
}

long long kva_stat(const char *base_url, const char *token, const char *name)
{
    char body[4096];
    if (kva_call(base_url, token, "GET", "/_kvrest/stats", NULL, body, sizeof body, NULL, 0) != 200)
        return -1;
    cJSON *root = cJSON_Parse(body);
    if (!root)
        return -1;
    char first[64];
    snprintf(first, sizeof first, "%s", name);
    char *dot = strchr(first, '.');
    const cJSON *v;
    if (dot) {
        *dot = '\0';
        v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, first),
                                             dot + 1);
    } else {
        v = cJSON_GetObjectItemCaseSensitive(root, first);
    }
    long long n = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
    cJSON_Delete(root);
    return n;
}
