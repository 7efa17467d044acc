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

static int redis_raw(char *out, size_t outlen, int argc, const char *const *argv)
{
    return tsrv_redis_raw(&server, out, outlen, argc, argv);
}

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
    /* Leases the tests let expire in real time.  Steps such as "claim,
     * then renew before it expires" and a keep-alive renewing every ttl/3
     * fail if the process stalls for about the ttl; with 400 ms a 270 ms
     * stall (a loaded 2-core CI machine under ASan) was enough.  Each
     * 100 ms here costs about 2 s of contract run per remote backend. */
    .short_ttl_ms = 800,
    .scale = 0.5,
    .raw = redis_raw,
};
#endif
