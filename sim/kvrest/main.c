/*
 * kvrest — a local Upstash / Vercel KV REST server in front of a real
 * redis-server, with seeded fault injection.  See docs/kvrest.md.
 *
 * main.c: command line, port file, signals, clean shutdown.
 */
#include "kvrest.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sqclaim.h" /* SQCLAIM_VERSION only: kvrest does not link libsqclaim */

#define DEFAULT_PORT             8079
#define DEFAULT_MAX_BODY         (10u * 1024u * 1024u) /* Upstash free tier: 10 MB */
#define DEFAULT_POOL             16
#define DEFAULT_STALL_MS         10000
#define DEFAULT_REDIS_TIMEOUT_MS 5000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvrest [options] --token TOKEN\n"
            "\n"
            "A local Upstash / Vercel KV REST server in front of a real redis-server.\n"
            "\n"
            "  --listen ADDR          address to bind (default 127.0.0.1)\n"
            "  --port N               TCP port, 0 = ephemeral (default %d)\n"
            "  --port-file FILE       write the actual port to FILE once listening\n"
            "  --redis HOST:PORT|PATH redis-server to use (default 127.0.0.1:6379);\n"
            "                         a path starting with '/' is a unix socket\n"
            "  --redis-password PW    AUTH password (or env KVREST_REDIS_PASSWORD)\n"
            "  --redis-timeout-ms MS  redis connect / command timeout (default %d)\n"
            "  --token TOKEN          bearer token for full access (or env KVREST_TOKEN)\n"
            "  --readonly-token TOKEN read-only token (or env KVREST_READONLY_TOKEN)\n"
            "  --max-body BYTES       largest request body (default %u)\n"
            "  --threads N            0 = a thread per connection (default); N > 0 = a\n"
            "                         pool of N event-loop threads\n"
            "  --pool N               redis connections (default %d)\n"
            "\n"
            "Fault injection (data routes only; also at runtime: POST /_kvrest/faults):\n"
            "  --latency-ms MS        fixed delay before each request (default 0)\n"
            "  --jitter-ms MS         plus a uniform random delay 0..MS (default 0)\n"
            "  --fail-rate R          answer 503 without applying, probability R (0..1)\n"
            "  --drop-rate R          apply, then close the connection without a reply\n"
            "  --stall-rate R         sleep --stall-ms, then apply and reply\n"
            "  --stall-ms MS          stall length (default %d)\n"
            "  --quota N              after N commands, refuse requests (0 = no limit)\n"
            "  --seed N               PRNG seed for the faults (default 1)\n"
            "\n"
            "  --quiet                no startup line\n"
            "  --help, --version\n",
            DEFAULT_PORT, DEFAULT_REDIS_TIMEOUT_MS, DEFAULT_MAX_BODY, DEFAULT_POOL,
            DEFAULT_STALL_MS);
}

static int bad(const char *flag, const char *why)
{
    fprintf(stderr, "kvrest: %s: %s (see kvrest --help)\n", flag, why);
    return -1;
}

static int parse_ll(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        char why[96];
        snprintf(why, sizeof why, "expected an integer in %lld..%lld", lo, hi);
        return bad(flag, why);
    }
    *out = x;
    return 0;
}

static int parse_rate(const char *flag, const char *v, double *out)
{
    return sq_parse_double(v, 0, 1, out) ? 0 : bad(flag, "expected a probability in 0..1");
}

static int parse_redis(const char *v, kv_redis_addr *a)
{
    a->host[0] = a->unix_path[0] = '\0';
    if (strncmp(v, "unix:", 5) == 0)
        v += 5;
    /* A URL (a pasted REDIS_URL) or user:password@host would put the
     * password into the startup line and error messages: refuse it, and
     * do not echo it. */
    if (strstr(v, "://") || strchr(v, '@'))
        return bad("--redis", "expected HOST:PORT or a unix socket path, not a URL or "
                              "user:password@host (the password goes in --redis-password or "
                              "KVREST_REDIS_PASSWORD)");
    if (v[0] == '/') {
        if (strlen(v) >= sizeof a->unix_path)
            return bad("--redis", "socket path too long");
        snprintf(a->unix_path, sizeof a->unix_path, "%s", v);
        return 0;
    }
    const char *colon = strrchr(v, ':');
    const char *host = v;
    size_t hlen = colon ? (size_t)(colon - v) : strlen(v);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') { /* [::1]:6379 */
        host++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof a->host)
        return bad("--redis", "expected HOST:PORT or a unix socket path");
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    a->port = 6379;
    if (colon) {
        long long p;
        if (parse_ll("--redis", colon + 1, 1, 65535, &p) != 0)
            return -1;
        a->port = (int)p;
    }
    return 0;
}

enum {
    OPT_LISTEN = 256,
    OPT_PORT,
    OPT_PORT_FILE,
    OPT_REDIS,
    OPT_REDIS_PASSWORD,
    OPT_REDIS_TIMEOUT,
    OPT_TOKEN,
    OPT_RO_TOKEN,
    OPT_MAX_BODY,
    OPT_THREADS,
    OPT_POOL,
    OPT_LATENCY,
    OPT_JITTER,
    OPT_FAIL,
    OPT_DROP,
    OPT_STALL_RATE,
    OPT_STALL_MS,
    OPT_QUOTA,
    OPT_SEED,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"port", required_argument, NULL, OPT_PORT},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"redis-password", required_argument, NULL, OPT_REDIS_PASSWORD},
    {"redis-timeout-ms", required_argument, NULL, OPT_REDIS_TIMEOUT},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"readonly-token", required_argument, NULL, OPT_RO_TOKEN},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"pool", required_argument, NULL, OPT_POOL},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"jitter-ms", required_argument, NULL, OPT_JITTER},
    {"fail-rate", required_argument, NULL, OPT_FAIL},
    {"drop-rate", required_argument, NULL, OPT_DROP},
    {"stall-rate", required_argument, NULL, OPT_STALL_RATE},
    {"stall-ms", required_argument, NULL, OPT_STALL_MS},
    {"quota", required_argument, NULL, OPT_QUOTA},
    {"seed", required_argument, NULL, OPT_SEED},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Returns 0 to run, 1 for --help/--version (exit 0), -1 for a usage error. */
static int parse_args(int argc, char **argv, kv_options *o, const char **port_file)
{
    long long v;
    const char *redis = "127.0.0.1:6379";
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1";
    o->port = DEFAULT_PORT;
    o->max_body = DEFAULT_MAX_BODY;
    o->pool = DEFAULT_POOL;
    o->faults.stall_ms = DEFAULT_STALL_MS;
    o->faults.seed = 1;
    o->redis.timeout_ms = DEFAULT_REDIS_TIMEOUT_MS;
    o->redis.password = getenv("KVREST_REDIS_PASSWORD");
    o->token = getenv("KVREST_TOKEN");
    o->ro_token = getenv("KVREST_READONLY_TOKEN");
    *port_file = NULL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_PORT:
            rc = parse_ll("--port", optarg, 0, 65535, &v);
            o->port = (int)v;
            break;
        case OPT_PORT_FILE: *port_file = optarg; break;
        case OPT_REDIS: redis = optarg; break;
        case OPT_REDIS_PASSWORD: o->redis.password = optarg; break;
        case OPT_REDIS_TIMEOUT:
            rc = parse_ll("--redis-timeout-ms", optarg, 1, 3600000, &v);
            o->redis.timeout_ms = (int)v;
            break;
        /* An empty --token means "not given": the environment may supply it. */
        case OPT_TOKEN:
            if (*optarg)
                o->token = optarg;
            break;
        case OPT_RO_TOKEN:
            if (*optarg)
                o->ro_token = optarg;
            break;
        case OPT_MAX_BODY:
            rc = parse_ll("--max-body", optarg, 1, (long long)1 << 40, &v);
            o->max_body = (size_t)v;
            break;
        case OPT_THREADS:
            rc = parse_ll("--threads", optarg, 0, 1024, &v);
            o->threads = (int)v;
            break;
        case OPT_POOL:
            rc = parse_ll("--pool", optarg, 1, 4096, &v);
            o->pool = (int)v;
            break;
        case OPT_LATENCY:
            rc = parse_ll("--latency-ms", optarg, 0, 3600000, &v);
            o->faults.latency_ms = (long)v;
            break;
        case OPT_JITTER:
            rc = parse_ll("--jitter-ms", optarg, 0, 3600000, &v);
            o->faults.jitter_ms = (long)v;
            break;
        case OPT_FAIL: rc = parse_rate("--fail-rate", optarg, &o->faults.fail_rate); break;
        case OPT_DROP: rc = parse_rate("--drop-rate", optarg, &o->faults.drop_rate); break;
        case OPT_STALL_RATE: rc = parse_rate("--stall-rate", optarg, &o->faults.stall_rate); break;
        case OPT_STALL_MS:
            rc = parse_ll("--stall-ms", optarg, 0, 3600000, &v);
            o->faults.stall_ms = (long)v;
            break;
        case OPT_QUOTA:
            rc = parse_ll("--quota", optarg, 0, LLONG_MAX, &v);
            o->faults.quota = (unsigned long long)v;
            break;
        case OPT_SEED:
            if (!sq_parse_u64(optarg, &o->faults.seed))
                rc = bad("--seed", "expected a non-negative integer");
            break;
        case OPT_QUIET: o->quiet = true; break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION:
            printf("kvrest %s (libmicrohttpd %s, hiredis %d.%d)\n", SQCLAIM_VERSION,
                   MHD_get_version(), HIREDIS_MAJOR, HIREDIS_MINOR);
            return 1;
        case '?':
        default: {
            /* The option as spelled, without "=value": the value of a
             * mistyped --token=… is a secret. */
            const char *a = argv[optind - 1];
            int n = (int)strcspn(a, "=");
            if (optopt)
                fprintf(stderr, "kvrest: option needs a value or is unknown: %.*s\n", n, a);
            else
                fprintf(stderr, "kvrest: unknown option: %.*s\n", n, a);
            rc = -1;
            break;
        }
        }
        if (rc != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "kvrest: unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    if (!o->token || !*o->token) {
        fprintf(stderr, "kvrest: a token is required (--token or KVREST_TOKEN)\n");
        return -1;
    }
    if (o->ro_token && !*o->ro_token)
        o->ro_token = NULL;
    if (o->ro_token && strcmp(o->ro_token, o->token) == 0) {
        fprintf(stderr, "kvrest: the read-only token must differ from the token\n");
        return -1;
    }
    if (o->redis.password && !*o->redis.password)
        o->redis.password = NULL;
    if (parse_redis(redis, &o->redis) != 0)
        return -1;
    return 0;
}

/* Atomically: write FILE.tmp.PID, then rename over FILE. */
static int write_port_file(const char *path, int port)
{
    size_t n = strlen(path) + 32;
    char *tmp = kv_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        int w = fprintf(f, "%d\n", port);
        int fl = fflush(f);
        int sy = fsync(fileno(f));
        if (fclose(f) == 0 && w > 0 && fl == 0 && sy == 0 && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc != 0) {
        fprintf(stderr, "kvrest: cannot write port file %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static void redis_label(const kv_redis_addr *a, char *out, size_t outlen)
{
    if (a->unix_path[0])
        snprintf(out, outlen, "%s", a->unix_path);
    else if (strchr(a->host, ':'))
        snprintf(out, outlen, "[%s]:%d", a->host, a->port);
    else
        snprintf(out, outlen, "%s:%d", a->host, a->port);
}

/* Warn (not fail) when redis cannot be reached at startup: it may come up
 * later, and each request reconnects. */
static void probe_redis(const kv_options *o, const char *label)
{
    kv_pool *p = kv_pool_new(&o->redis, 1);
    char err[256];
    redisContext *c = kv_pool_acquire(p, err, sizeof err);
    if (!c) {
        fprintf(stderr, "kvrest: warning: redis %s: %s\n", label, err);
    } else {
        redisReply *r = redisCommand(c, "PING");
        if (!r || r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "kvrest: warning: redis %s does not answer PING%s%.*s\n", label,
                    r ? ": " : "", r ? (int)(r->len > 200 ? 200 : r->len) : 0, r ? r->str : "");
        if (r)
            freeReplyObject(r);
        kv_pool_release(p, c, false);
    }
    kv_pool_free(p);
}

int main(int argc, char **argv)
{
    kv_options o;
    const char *port_file;
    int pr = parse_args(argc, argv, &o, &port_file);
    if (pr < 0)
        return 2;
    if (pr > 0)
        return 0;

    /* Block the stop signals in every thread; main waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    kv_server *s = kv_server_start(&o);
    if (!s)
        return 1;
    int port = kv_server_port(s);
    if (port_file && write_port_file(port_file, port) != 0) {
        kv_server_stop(s);
        return 1;
    }
    char label[600];
    redis_label(&o.redis, label, sizeof label);
    if (!o.quiet) {
        if (strchr(o.listen, ':'))
            fprintf(stderr, "kvrest listening on [%s]:%d (redis %s)\n", o.listen, port, label);
        else
            fprintf(stderr, "kvrest listening on %s:%d (redis %s)\n", o.listen, port, label);
    }
    if (!o.quiet)
        probe_redis(&o, label);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    kv_server_stop(s);
    if (port_file)
        unlink(port_file);
    return 0;
}
