/* target_vercel.c — the contract suite on the vercel backend, through
 * kvrest (the local Upstash-compatible REST server) in front of a
 * redis-server, both started by this target on free ports.  Each test's
 * namespace becomes its key prefix, so tests never see each other's keys. */
#ifdef SQCLAIM_WITH_VERCEL
#include "contract.h"
#include "servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/* POST the faults to kvrest's admin API (never subject to faults); 0 if
 * it answered 200. */
static int vercel_faults(const char *json)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)kv.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[1024], resp[64];
    int n = snprintf(req, sizeof req,
                     "POST /_kvrest/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     kv.token, strlen(json), json);
    int rc = -1;
    if (n > 0 && (size_t)n < sizeof req && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, req, (size_t)n) == n) {
        ssize_t got = read(fd, resp, sizeof resp - 1);
        if (got > 12) {
            resp[got] = '\0';
            rc = strncmp(resp, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
        }
    }
    close(fd);
    return rc;
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
