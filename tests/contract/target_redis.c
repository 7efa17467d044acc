/* target_redis.c — the contract suite on the redis backend, against a
 * redis-server this target starts itself (temp dir, 127.0.0.1, free port,
 * no persistence).  Each test's namespace becomes its key prefix, so tests
 * never see each other's keys. */
#ifdef SQCLAIM_WITH_REDIS
#include "contract.h"
#include "servers.h"

#include <stdio.h>

static tsrv server;

static int redis_setup(void) { return tsrv_redis_start(&server, NULL); }

static void redis_teardown(void) { tsrv_stop(&server); }

static void redis_options(sqclaim_options *o, const char *ns)
{
    o->adapter = "redis";
    o->redis_url = server.url;
    o->key_prefix = ns;
    o->timeout_ms = 5000;
}

const ct_target ct_target_redis = {
    .name = "redis",
    .setup = redis_setup,
    .teardown = redis_teardown,
    .options = redis_options,
    .fake_clock = false,
    .short_ttl_ms = 400,
    .scale = 0.5,
};
#endif
