/* env.c — strings and the environment (see squtil.h). */
#include "squtil.h"

#include <stdlib.h>
#include <string.h>

const char *sq_getenv(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void sq_strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* NULL, empty or only white space. */
static const char *unblank(const char *s)
{
    for (const char *p = s; p && *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return s;
    return NULL;
}

void sq_rest_env(sq_rest_source *src)
{
    const char *kvu = unblank(sq_getenv("KV_REST_API_URL"));
    const char *kvt = unblank(sq_getenv("KV_REST_API_TOKEN"));
    const char *upu = unblank(sq_getenv("UPSTASH_REDIS_REST_URL"));
    const char *upt = unblank(sq_getenv("UPSTASH_REDIS_REST_TOKEN"));
    if (kvu && kvt) {
        src->url = kvu, src->token = kvt;
        src->url_var = "KV_REST_API_URL", src->token_var = "KV_REST_API_TOKEN";
    } else if (upu && upt) {
        src->url = upu, src->token = upt;
        src->url_var = "UPSTASH_REDIS_REST_URL", src->token_var = "UPSTASH_REDIS_REST_TOKEN";
    } else {
        src->url = kvu ? kvu : upu;
        src->url_var = kvu ? "KV_REST_API_URL" : "UPSTASH_REDIS_REST_URL";
        src->token = kvt ? kvt : upt;
        src->token_var = kvt ? "KV_REST_API_TOKEN" : "UPSTASH_REDIS_REST_TOKEN";
    }
}
