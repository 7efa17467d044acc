/* url.h — the redis backend's connection URL: the parser is the tree's one
 * (core/util/redisurl.c, shared with sqclaim-bench); this wraps its message
 * into the backend's error.  Private to adapters/redis. */
#ifndef SQCLAIM_REDIS_URL_H
#define SQCLAIM_REDIS_URL_H

#include "backend.h"
#include "util/squtil.h"

typedef sq_redis_url redis_url;

/* sq_redis_url_parse: OK, or SQCLAIM_ECONFIG with its message in err. */
static inline sqclaim_rc redis_url_parse(const char *text, const char *source, redis_url *out,
                                         sqb_err *err)
{
    char msg[512];
    if (sq_redis_url_parse(text, source, out, msg, sizeof msg) == 0)
        return SQCLAIM_OK;
    return sqb_seterr(err, SQCLAIM_ECONFIG, "%s", msg);
}

#endif
