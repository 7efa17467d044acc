/* target_vercel.c — the contract suite on the vercel backend, through
 * kvrest (the local Upstash-compatible REST server) in front of a
 * redis-server, both started by this target on free ports.  Each test's
 * namespace becomes its key prefix, so tests never see each other's keys. */
#ifdef SQCLAIM_WITH_VERCEL
#include "contract.h"
#include "kvadmin.h"
#include "servers.h"

#include <stdio.h>
#include <string.h>

static tsrv redis, kv;

static int vercel_setup(void)
{
    if (tsrv_redis_start(&redis, NULL) != 0)
        return -1;
    if (tsrv_kvrest_start(&kv, &redis, "contract-vercel-token", NULL) != 0) {
        tsrv_stop(&redis);
        return -1;
    }
    return 0;
}

static void vercel_teardown(void)
{
    tsrv_stop(&kv);
    tsrv_stop(&redis);
}

/* The values behind kvrest are in its redis-server. */
static int vercel_raw(char *out, size_t outlen, int argc, const char *const *argv)
{
    return tsrv_redis_raw(&redis, out, outlen, argc, argv);
}

/* POST the faults to kvrest's admin API (kvadmin.h; never subject to
 * faults); 0 if it answered 200. */
static int vercel_faults(const char *json)
{
    char err[256];
    return kva_faults(kv.url, kv.token, json, err, sizeof err);
}

static void vercel_options(sqclaim_options *o, const char *ns)
{
    o->adapter = "vercel";
    o->rest_url = kv.url;
    o->rest_token = kv.token;
    o->key_prefix = ns;
    o->timeout_ms = 5000;
}

const ct_target ct_target_vercel = {
    .name = "vercel",
    .setup = vercel_setup,
    .teardown = vercel_teardown,
    .options = vercel_options,
    .fake_clock = false,
    /* Leases the tests let expire in real time.  Steps such as "claim,
     * then renew before it expires" and a keep-alive renewing every ttl/3
     * fail if the process stalls for about the ttl; with 400 ms a 270 ms
     * stall (a loaded 2-core CI machine under ASan) was enough.  Each
     * 100 ms here costs about 2 s of contract run per remote backend. */
    .short_ttl_ms = 800,
    .scale = 0.5,
    .raw = vercel_raw,
    .faults = vercel_faults,
};
#endif
