/*
 * serve_bench.c — sqclaim-serve-bench: claim+release through `sqclaim
 * serve` next to the same through the library directly and through kvrest
 * (the vercel backend's REST path), all on one real redis-server, in one
 * run.
 *
 *   sqclaim-serve-bench [-n PAIRS] [-t THREADS] [--rounds R]
 *
 * Starts a redis-server, a kvrest in front of it and `sqclaim serve
 * --adapter redis` on it (free ports, temporary directories), then, in R
 * interleaved rounds, runs PAIRS claim+release pairs per thread on THREADS
 * threads (one connection or handle each) along three paths:
 *   direct   the library, redis backend (one round trip per operation)
 *   serve    HTTP/1.1 keep-alive: POST /api/claim, POST /api/release with
 *            the lease from the answer; serve uses the redis backend
 *   kvrest   the library, vercel backend, to kvrest (HTTP/1.1 + REST
 *            JSON), which forwards to the same redis-server
 * and prints pairs/s and the p50/p99 latency of one pair per path, the
 * median over rounds, and serve's rate over kvrest's (target >= 0.5).
 *
 * The serve process logs every request to a file (its default access log
 * is on: the cost is part of what is measured).  The programs are
 * $SQCLAIM_CLI and $SQCLAIM_KVREST, else build/sqclaim and build/kvrest.
 */
#include "servers.h"
#include "sqclaim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_TOKEN "serve-bench-token-0123456789abcdef"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "sqclaim-serve-bench: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    exit(1);
}

/* ------------------------------------------------------------------ */
/* A minimal HTTP/1.1 keep-alive client (one connection)                */

typedef struct hconn {
    int fd;
    char buf[16384];
    size_t len;
} hconn;

static void h_connect(hconn *h, int port)
{
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (h->fd < 0 || connect(h->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect to serve", strerror(errno));
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h->len = 0;
}

/* POST body to path; the status, and the body in out[outlen]. */
static int h_post(hconn *h, const char *path, const char *body, char *out, size_t outlen)
{
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " BENCH_TOKEN
                     "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, strlen(body), body);
    if (n <= 0 || (size_t)n >= sizeof req)
        die("request too long", NULL);
    for (int off = 0; off < n;) {
        ssize_t w = write(h->fd, req + off, (size_t)(n - off));
        if (w <= 0)
            die("write to serve", strerror(errno));
        off += (int)w;
    }
    for (;;) {
        h->buf[h->len] = '\0';
        char *end = strstr(h->buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(h->buf, "\r\nContent-Length:");
            if (!cl || cl > end)
                die("answer without Content-Length", NULL);
            size_t blen = strtoul(cl + 17, NULL, 10);
            size_t head = (size_t)(end + 4 - h->buf);
            if (h->len >= head + blen) {
                int status = atoi(h->buf + 9);
                size_t c = blen < outlen - 1 ? blen : outlen - 1;
                memcpy(out, h->buf + head, c);
                out[c] = '\0';
                memmove(h->buf, h->buf + head + blen, h->len - head - blen);
                h->len -= head + blen;
                return status;
            }
        }
        if (h->len >= sizeof h->buf - 1)
            die("answer too large", NULL);
        ssize_t r = read(h->fd, h->buf + h->len, sizeof h->buf - 1 - h->len);
        if (r <= 0)
            die("read from serve", r == 0 ? "connection closed" : strerror(errno));
        h->len += (size_t)r;
    }
}

/* The "lease" object of a claim's answer, copied into out. */
static void lease_of(const char *answer, char *out, size_t len)
{
    const char *p = strstr(answer, "\"lease\":{");
    if (!p)
        die("claim answer without a lease", answer);
    p += 8;
    const char *q = strchr(p, '}'); /* the lease holds no nested object */
    if (!q || (size_t)(q - p + 2) > len)
        die("malformed lease", answer);
    memcpy(out, p, (size_t)(q - p + 1));
    out[q - p + 1] = '\0';
}

/* ------------------------------------------------------------------ */
/* The three paths                                                      */

enum path { P_DIRECT, P_SERVE, P_KVREST, NPATHS };
static const char *const path_name[NPATHS] = {"direct", "serve", "kvrest"};

typedef struct job {
    enum path path;
    int thread, round, pairs;
    int serve_port;
    const char *redis_url, *kv_url, *kv_token;
    int64_t *lat; /* pairs latencies, ns */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    char sq[64];
    if (j->path == P_SERVE) {
        hconn h;
        h_connect(&h, j->serve_port);
        char body[512], ans[2048], lease[600], rel[700];
        for (int i = 0; i < j->pairs; i++) {
            snprintf(sq, sizeof sq, "bench-s%d-%d-%d", j->round, j->thread, i);
            snprintf(body, sizeof body, "{\"sq\":\"%s\",\"bot\":\"BENCH%d\"}", sq, j->thread);
            int64_t t0 = now_ns();
            int st = h_post(&h, "/api/claim", body, ans, sizeof ans);
            if (st != 200)
                die("serve claim failed", ans);
            lease_of(ans, lease, sizeof lease);
            snprintf(rel, sizeof rel, "{\"lease\":%s}", lease);
            st = h_post(&h, "/api/release", rel, ans, sizeof ans);
            if (st != 200)
                die("serve release failed", ans);
            j->lat[i] = now_ns() - t0;
        }
        close(h.fd);
        return NULL;
    }
    sqclaim_options o;
    sqclaim_options_init(&o);
    if (j->path == P_DIRECT) {
        o.adapter = "redis";
        o.redis_url = j->redis_url;
    } else {
        o.adapter = "vercel";
        o.rest_url = j->kv_url;
        o.rest_token = j->kv_token;
    }
    sqclaim_store *s = NULL;
    if (sqclaim_open(&o, &s) != SQCLAIM_OK)
        die("open", sqclaim_errmsg(s));
    char bot[32];
    snprintf(bot, sizeof bot, "BENCH%d", j->thread);
    for (int i = 0; i < j->pairs; i++) {
        snprintf(sq, sizeof sq, "bench-%c%d-%d-%d", path_name[j->path][0], j->round, j->thread, i);
        sqclaim_lease l;
        int64_t t0 = now_ns();
        if (sqclaim_claim(s, sq, bot, 0, &l, NULL) != SQCLAIM_OK)
            die("claim failed", sqclaim_errmsg(s));
        if (sqclaim_release(s, &l) != SQCLAIM_OK)
            die("release failed", sqclaim_errmsg(s));
        j->lat[i] = now_ns() - t0;
    }
    sqclaim_close(s);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct result {
    double rate; /* pairs/s, all threads */
    double p50_us, p99_us;
} result;

static result run_path(enum path p, int threads, int pairs, int round, int serve_port,
                       const char *redis_url, const char *kv_url, const char *kv_token)
{
    job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    int64_t *lat = calloc((size_t)threads * (size_t)pairs, sizeof *lat);
    if (!jobs || !tid || !lat)
        die("out of memory", NULL);
    int64_t t0 = now_ns();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){.path = p,
                        .thread = t,
                        .round = round,
                        .pairs = pairs,
                        .serve_port = serve_port,
                        .redis_url = redis_url,
                        .kv_url = kv_url,
                        .kv_token = kv_token,
                        .lat = lat + (size_t)t * (size_t)pairs};
        pthread_create(&tid[t], NULL, run_job, &jobs[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    size_t n = (size_t)threads * (size_t)pairs;
    qsort(lat, n, sizeof *lat, cmp64);
    result r = {.rate = (double)n / secs,
                .p50_us = (double)lat[n / 2] / 1e3,
                .p99_us = (double)lat[(n * 99) / 100] / 1e3};
    free(jobs);
    free(tid);
    free(lat);
    return r;
}

/* ------------------------------------------------------------------ */
/* sqclaim serve                                                        */

static pid_t serve_pid;
static char serve_dir[] = "/tmp/sqclaim-serve-bench-XXXXXX";

static int start_serve(const char *redis_url)
{
    if (!mkdtemp(serve_dir))
        die("mkdtemp", strerror(errno));
    const char *cli = getenv("SQCLAIM_CLI");
    if (!cli || !*cli)
        cli = "build/sqclaim";
    char portfile[128], logfile[128], env_url[600];
    snprintf(portfile, sizeof portfile, "%s/port", serve_dir);
    snprintf(logfile, sizeof logfile, "%s/access.log", serve_dir);
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", redis_url);
    serve_pid = fork();
    if (serve_pid < 0)
        die("fork", strerror(errno));
    if (serve_pid == 0) {
        int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        static char env_tok[] = "SQCLAIM_SERVE_TOKEN=" BENCH_TOKEN;
        char *envp[] = {env_url, env_tok, NULL};
        execle(cli, cli, "serve", "--adapter", "redis", "--port", "0", "--port-file", portfile,
               "--threads", "8", (char *)NULL, envp);
        _exit(127);
    }
    int64_t deadline = now_ns() + 10 * 1000000000LL;
    while (now_ns() < deadline) {
        FILE *f = fopen(portfile, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port > 0 && tsrv_port_open(port))
            return port;
        if (waitpid(serve_pid, NULL, WNOHANG) == serve_pid)
            die("sqclaim serve exited; see", logfile);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    die("sqclaim serve did not start", logfile);
    return 0;
}

static void stop_serve(void)
{
    if (serve_pid > 0) {
        kill(serve_pid, SIGTERM);
        waitpid(serve_pid, NULL, 0);
        serve_pid = 0;
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", serve_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "sqclaim-serve-bench: could not remove %s\n", serve_dir);
}

int main(int argc, char **argv)
{
    int pairs = 2000, threads = 1, rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            pairs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: sqclaim-serve-bench [-n PAIRS] [-t THREADS] [--rounds R]\n");
            return argv[i][1] == 'h' || strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (pairs < 100 || threads < 1 || threads > 64 || rounds < 1 || rounds > 20)
        die("-n at least 100, -t 1..64, --rounds 1..20", NULL);
    signal(SIGPIPE, SIG_IGN);

    tsrv redis, kv;
    if (tsrv_redis_start(&redis, NULL) != 0)
        die("cannot start redis-server", NULL);
    if (tsrv_kvrest_start(&kv, &redis, "bench-kv-token-0123456789", NULL) != 0) {
        tsrv_stop(&redis);
        die("cannot start kvrest", NULL);
    }
    int port = start_serve(redis.url);

    printf("claim+release pairs, %d per thread, %d thread%s, %d rounds, one redis-server\n", pairs,
           threads, threads == 1 ? "" : "s", rounds);
    printf("%-6s %-8s %12s %10s %10s\n", "round", "path", "pairs/s", "p50 us", "p99 us");
    double rate[NPATHS][20] = {{0}}, p50[NPATHS][20] = {{0}}, p99[NPATHS][20] = {{0}},
           ratio[20] = {0};
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < NPATHS; p++) {
            result res =
                run_path((enum path)p, threads, pairs, r, port, redis.url, kv.url, kv.token);
            rate[p][r] = res.rate;
            p50[p][r] = res.p50_us;
            p99[p][r] = res.p99_us;
            printf("%-6d %-8s %12.0f %10.0f %10.0f\n", r + 1, path_name[p], res.rate, res.p50_us,
                   res.p99_us);
            fflush(stdout);
        }
        ratio[r] = rate[P_SERVE][r] / rate[P_KVREST][r];
    }
    printf("\nmedian over rounds\n%-8s %12s %10s %10s\n", "path", "pairs/s", "p50 us", "p99 us");
    for (int p = 0; p < NPATHS; p++) {
        qsort(rate[p], (size_t)rounds, sizeof(double), cmpd);
        qsort(p50[p], (size_t)rounds, sizeof(double), cmpd);
        qsort(p99[p], (size_t)rounds, sizeof(double), cmpd);
        printf("%-8s %12.0f %10.0f %10.0f\n", path_name[p], rate[p][rounds / 2], p50[p][rounds / 2],
               p99[p][rounds / 2]);
    }
    qsort(ratio, (size_t)rounds, sizeof(double), cmpd);
    printf("\nserve / kvrest rate (median of per-round ratios): %.2f (target >= 0.5)\n",
           ratio[rounds / 2]);
    printf("serve / direct rate: %.2f\n", rate[P_SERVE][rounds / 2] / rate[P_DIRECT][rounds / 2]);

    stop_serve();
    tsrv_stop(&kv);
    tsrv_stop(&redis);
    return ratio[rounds / 2] >= 0.5 ? 0 : 1;
}
