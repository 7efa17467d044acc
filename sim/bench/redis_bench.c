/*
 * redis_bench.c — sqclaim-bench: how fast the redis backend claims, next to
 * what the same redis-server does for a bare `SET key v NX PX 600000`.
 *
 *   sqclaim-bench [--url URL] [-n PAIRS] [-t THREADS] [--rounds R] [--no-baseline]
 *   ci/with-servers.sh build/sqclaim-bench      (a redis-server started for it)
 *
 * Measures, in R interleaved rounds (the machine may be noisy: compare the
 * numbers of one round, and the median of the ratios):
 *   - redis-benchmark -n 2*PAIRS -c 1 -P 1 -r 1000000 SET <key> v NX PX 600000
 *     (the single-connection round-trip rate of this server and machine);
 *   - claim+release pairs on one handle: pairs/s, round trips per
 *     operation (must be 1.00), claim latency p50/p99/p99.9;
 *   - claim/release, bare SET NX PX and a minimal 3-call script alternated
 *     one by one on one connection (the noise-robust comparison);
 *   - the same on THREADS threads, one handle each;
 *   - redis-benchmark with -c THREADS for the multi-connection baseline.
 * The ratio printed is sqclaim round trips/s over redis-benchmark
 * requests/s on one connection; the target is >= 0.8.
 *
 * The server is --url, else $REDIS_URL (ci/with-servers.sh starts one and
 * sets it).  Keys go under a prefix unique to this run and are deleted at
 * the end (the redis-benchmark keys too).  Like any program that links
 * libsqclaim it uses the public header, and core/util/squtil.h for the
 * URL parser the redis backend uses (docs/architecture.md, "Include
 * rules").
 */
#include "sqclaim.h"
#include "util/squtil.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "sqclaim-bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* ------------------------------------------------------------------ */
/* Where the server is (for redis-benchmark and the cleanup)            */

typedef struct target {
    char url[512];
    sq_redis_url u; /* parsed by the redis backend's parser: the same forms, the
                       same %-decoding, user names and IPv6 */
} target;

static void parse_target(target *t)
{
    char err[512];
    if (sq_redis_url_parse(t->url, "the server URL", &t->u, err, sizeof err) != 0)
        die(err, NULL); /* never contains the password */
}

/* A reply that is not an error, or die saying what failed (never with the
 * server's text: it might quote the password). */
static void expect_ok(redisContext *c, redisReply *r, const char *what)
{
    if (!r)
        die(what, c->errstr);
    bool failed = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (failed)
        die(what, "refused by the server");
}

static redisContext *raw_connect(const target *t)
{
    struct timeval tv = {5, 0};
    redisContext *c = t->u.is_unix ? redisConnectUnixWithTimeout(t->u.path, tv)
                                   : redisConnectWithTimeout(t->u.host, t->u.port, tv);
    if (!c || c->err)
        die("cannot connect to the server", c ? c->errstr : "out of memory");
    if (t->u.user[0])
        expect_ok(c, redisCommand(c, "AUTH %s %s", t->u.user, t->u.password), "AUTH");
    else if (t->u.password[0])
        expect_ok(c, redisCommand(c, "AUTH %s", t->u.password), "AUTH");
    if (t->u.db)
        expect_ok(c, redisCommand(c, "SELECT %d", t->u.db), "SELECT");
    return c;
}

/* Delete every key matching pattern. */
static void cleanup(const target *t, const char *pattern)
{
    redisContext *c = raw_connect(t);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            freeReplyObject(redisCommand(c, "UNLINK %s", r->element[1]->element[i]->str));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
}

/* ------------------------------------------------------------------ */
/* The redis-benchmark baseline                                         */

static char bench_key[96];

/* Run redis-benchmark; requests per second, or -1. */
static double redis_benchmark(const target *t, long requests, int clients, char *cmdline,
                              size_t cmdlen)
{
    char n[32], c[16], port[16], db[16];
    snprintf(n, sizeof n, "%ld", requests);
    snprintf(c, sizeof c, "%d", clients);
    snprintf(port, sizeof port, "%d", t->u.port);
    snprintf(db, sizeof db, "%d", t->u.db);
    /* execvp wants char *const[]: copy every argument into one buffer. */
    const char *args[40];
    int k = 0;
    args[k++] = "redis-benchmark";
    if (t->u.is_unix) {
        args[k++] = "-s";
        args[k++] = t->u.path;
    } else {
        args[k++] = "-h";
        args[k++] = t->u.host;
        args[k++] = "-p";
        args[k++] = port;
    }
    if (t->u.user[0]) {
        args[k++] = "--user";
        args[k++] = t->u.user;
    }
    if (t->u.password[0]) {
        args[k++] = "-a";
        args[k++] = t->u.password;
    }
    if (t->u.db) {
        args[k++] = "--dbnum";
        args[k++] = db;
    }
    const char *rest[] = {"-n",    n,     "-c",      c,   "-P", "1",  "-r",    "1000000",
                          "--csv", "SET", bench_key, "v", "NX", "PX", "600000"};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        args[k++] = rest[i];
    static char store[4096];
    char *argv[40];
    size_t off = 0;
    for (int i = 0; i < k; i++) {
        size_t len = strlen(args[i]) + 1;
        if (off + len > sizeof store)
            return -1;
        memcpy(store + off, args[i], len);
        argv[i] = store + off;
        off += len;
    }
    argv[k] = NULL;
    if (cmdline) {
        size_t used = 0;
        cmdline[0] = '\0';
        for (int i = 0; i < k && used < cmdlen; i++) {
            const char *a = argv[i];
            if (i > 0 && strcmp(argv[i - 1], "-a") == 0)
                a = "***";
            used += (size_t)snprintf(cmdline + used, cmdlen - used, "%s%s", i ? " " : "", a);
        }
    }
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        int devnull = open("/dev/null", 0);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char out[8192];
    size_t have = 0;
    ssize_t r;
    while (have + 1 < sizeof out && (r = read(fds[0], out + have, sizeof out - 1 - have)) > 0)
        have += (size_t)r;
    out[have] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    /* CSV: a header line, then "SET …","<rps>",… */
    const char *line = strstr(out, "\n\"SET");
    if (!line)
        return -1;
    const char *comma = strstr(line, "\",\"");
    if (!comma)
        return -1;
    return atof(comma + 3);
}

/* ------------------------------------------------------------------ */
/* sqclaim runs                                                         */

typedef struct worker {
    sqclaim_store *s;
    int id;
    long pairs;
    int64_t *lat; /* claim latencies, ns */
    long failures;
    pthread_barrier_t *start;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char sq[32], bot[16];
    snprintf(bot, sizeof bot, "BENCH%d", w->id);
    if (w->start)
        pthread_barrier_wait(w->start);
    for (long i = 0; i < w->pairs; i++) {
        snprintf(sq, sizeof sq, "b%d-%ld", w->id, i % 64);
        sqclaim_lease l;
        int64_t t0 = now_ns();
        sqclaim_rc rc = sqclaim_claim(w->s, sq, bot, 600000, &l, NULL);
        w->lat[i] = now_ns() - t0;
        if (rc != SQCLAIM_OK || sqclaim_release(w->s, &l) != SQCLAIM_OK)
            w->failures++;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const int64_t *sorted, long n, double p)
{
    long i = (long)(p / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return (double)sorted[i] / 1000.0;
}

typedef struct result {
    double pairs_per_s;
    double rt_per_s;
    double rt_per_op;
    double p50, p99, p999;
    long failures;
} result;

static sqclaim_store *open_handle(const char *url, const char *prefix)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "redis";
    o.redis_url = url;
    o.key_prefix = prefix;
    sqclaim_store *s = NULL;
    if (sqclaim_open(&o, &s) != SQCLAIM_OK || sqclaim_ping(s) != SQCLAIM_OK)
        die("cannot use the redis backend", sqclaim_errmsg(s));
    return s;
}

static result run_sqclaim(const char *url, const char *prefix, int threads, long pairs)
{
    worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    int64_t *lat = calloc((size_t)pairs, sizeof *lat);
    if (!w || !th || !lat)
        die("out of memory", NULL);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    long per = pairs / threads;
    sqclaim_stats before[64];
    for (int i = 0; i < threads; i++) {
        w[i].s = open_handle(url, prefix);
        /* Warm up: scripts cached, connection made. */
        w[i].id = i;
        w[i].pairs = 50;
        w[i].lat = lat + (long)i * per;
        work(&w[i]);
        w[i].pairs = per;
        w[i].failures = 0;
        w[i].start = &start;
        sqclaim_stats_get(w[i].s, &before[i % 64]);
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    pthread_barrier_wait(&start);
    int64_t t0 = now_ns();
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    result r;
    memset(&r, 0, sizeof r);
    uint64_t rts = 0, ops = 0;
    for (int i = 0; i < threads; i++) {
        sqclaim_stats after;
        sqclaim_stats_get(w[i].s, &after);
        rts += after.round_trips - before[i % 64].round_trips;
        ops += after.operations - before[i % 64].operations;
        r.failures += w[i].failures;
        sqclaim_close(w[i].s);
    }
    long n = per * threads;
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    r.pairs_per_s = (double)n / secs;
    r.rt_per_s = (double)rts / secs;
    r.rt_per_op = ops ? (double)rts / (double)ops : 0;
    r.p50 = pct_us(lat, n, 50);
    r.p99 = pct_us(lat, n, 99);
    r.p999 = pct_us(lat, n, 99.9);
    pthread_barrier_destroy(&start);
    free(w);
    free(th);
    free(lat);
    return r;
}

/* The noise-robust comparison: sqclaim operations and bare SET NX PX
 * round trips (hiredis, one connection, same server) alternated one by
 * one, so both see the same machine at the same moments.  Returns the
 * ratio of median latencies (bare round trip / sqclaim operation), i.e.
 * sqclaim's rate relative to a bare round trip's. */
typedef struct interleaved {
    double raw_p50, op_p50; /* us */
    double floor_p50;       /* a minimal script with the claim's 3 calls */
    double ratio;
    long failures;
} interleaved;

/* The cheapest script that does what a claim must (read, mint a fence,
 * write): the floor for any atomic claim done in one script. */
static const char floor_script[] =
    "redis.call('MGET', KEYS[1], KEYS[2]) redis.call('INCR', KEYS[3]) "
    "return redis.call('SET', KEYS[1], ARGV[1], 'PX', 600000) and 1";

static interleaved run_interleaved(const target *t, const char *prefix, long pairs)
{
    interleaved res;
    memset(&res, 0, sizeof res);
    sqclaim_store *s = open_handle(t->url, prefix);
    redisContext *raw = raw_connect(t);
    int64_t *rawlat = calloc((size_t)(2 * pairs), sizeof *rawlat);
    int64_t *oplat = calloc((size_t)(2 * pairs), sizeof *oplat);
    int64_t *floorlat = calloc((size_t)(2 * pairs), sizeof *floorlat);
    if (!rawlat || !oplat || !floorlat)
        die("out of memory", NULL);
    redisReply *loaded = redisCommand(raw, "SCRIPT LOAD %s", floor_script);
    if (!loaded || loaded->type != REDIS_REPLY_STRING)
        die("SCRIPT LOAD failed", raw->errstr);
    char sha[48];
    snprintf(sha, sizeof sha, "%s", loaded->str);
    freeReplyObject(loaded);
    char key[160], key2[160], ctr[160];
    snprintf(ctr, sizeof ctr, "%sfloor:ctr", prefix);
    for (long i = -50; i < pairs; i++) { /* 50 warm-up pairs, not counted */
        int64_t t0, t1;
        sqclaim_lease l;
        sqclaim_rc rc;
        for (int half = 0; half < 2; half++) {
            snprintf(key, sizeof key, "%srb:%ld-%d", prefix, i, half);
            t0 = now_ns();
            redisReply *r = redisCommand(raw, "SET %s v NX PX 600000", key);
            t1 = now_ns();
            if (!r)
                die("SET failed", raw->errstr);
            freeReplyObject(r);
            if (i >= 0)
                rawlat[2 * i + half] = t1 - t0;
            t0 = now_ns();
            rc = half == 0 ? sqclaim_claim(s, "il", "BENCH", 600000, &l, NULL)
                           : sqclaim_release(s, &l);
            t1 = now_ns();
            if (rc != SQCLAIM_OK)
                res.failures++;
            if (i >= 0)
                oplat[2 * i + half] = t1 - t0;
            snprintf(key, sizeof key, "%sfloor:%ld-%d", prefix, i, half);
            snprintf(key2, sizeof key2, "%sfloor2:%ld-%d", prefix, i, half);
            t0 = now_ns();
            r = redisCommand(raw, "EVALSHA %s 3 %s %s %s v", sha, key, key2, ctr);
            t1 = now_ns();
            if (!r)
                die("EVALSHA failed", raw->errstr);
            freeReplyObject(r);
            if (i >= 0)
                floorlat[2 * i + half] = t1 - t0;
        }
    }
    qsort(rawlat, (size_t)(2 * pairs), sizeof *rawlat, cmp_i64);
    qsort(oplat, (size_t)(2 * pairs), sizeof *oplat, cmp_i64);
    res.raw_p50 = pct_us(rawlat, 2 * pairs, 50);
    res.op_p50 = pct_us(oplat, 2 * pairs, 50);
    qsort(floorlat, (size_t)(2 * pairs), sizeof *floorlat, cmp_i64);
    res.floor_p50 = pct_us(floorlat, 2 * pairs, 50);
    res.ratio = res.raw_p50 / res.op_p50;
    free(rawlat);
    free(oplat);
    free(floorlat);
    redisFree(raw);
    sqclaim_close(s);
    return res;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: sqclaim-bench [--url URL] [-n PAIRS] [-t THREADS] [--rounds R]\n"
                    "                     [--no-baseline]\n"
                    "  The server: --url, else $REDIS_URL (ci/with-servers.sh sqclaim-bench\n"
                    "  starts one and sets it).\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long pairs = 10000;
    int threads = 4, rounds = 5;
    bool baseline = true;
    const char *url = getenv("REDIS_URL");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            pairs = atol(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-baseline") == 0)
            baseline = false;
        else
            usage();
    }
    if (pairs < 100 || threads < 1 || threads > 64 || rounds < 1 || rounds > 64)
        usage();
    signal(SIGPIPE, SIG_IGN);

    target t;
    memset(&t, 0, sizeof t);
    if (url && *url) {
        snprintf(t.url, sizeof t.url, "%s", url);
    } else {
        usage();
    }
    parse_target(&t);
    char prefix[64], pattern[80];
    snprintf(prefix, sizeof prefix, "sqclaim-bench:%ld:", (long)getpid());
    snprintf(bench_key, sizeof bench_key, "sqclaim-bench:%ld:rb:__rand_int__", (long)getpid());

    printf("sqclaim-bench %s: %ld claim+release pairs per run, %d threads, %d rounds\n",
           sqclaim_version(), pairs, threads, rounds);
    printf("server: %s\n", t.u.is_unix ? t.u.path : t.u.host);
    char cmd1[1024] = "", cmdn[1024] = "";
    double ratios[64], il_ratios[64];
    int nratios = 0, nil = 0;
    for (int round = 1; round <= rounds; round++) {
        printf("\nround %d\n", round);
        double rb1 = -1, rbn = -1;
        if (baseline)
            rb1 = redis_benchmark(&t, 2 * pairs, 1, cmd1, sizeof cmd1);
        result one = run_sqclaim(t.url, prefix, 1, pairs);
        interleaved il = run_interleaved(&t, prefix, pairs / 2);
        il_ratios[nil++] = il.ratio;
        result many = run_sqclaim(t.url, prefix, threads, pairs);
        if (baseline)
            rbn = redis_benchmark(&t, 2 * pairs, threads, cmdn, sizeof cmdn);
        printf("  sqclaim, 1 handle:    %8.0f pairs/s  %8.0f round trips/s  %.2f rt/op  "
               "claim p50 %6.1f us  p99 %6.1f us  p99.9 %7.1f us%s\n",
               one.pairs_per_s, one.rt_per_s, one.rt_per_op, one.p50, one.p99, one.p999,
               one.failures ? "  (FAILURES)" : "");
        printf("  interleaved, 1 connection: bare SET NX PX p50 %6.1f us, minimal 3-call "
               "script p50 %6.1f us, sqclaim operation p50 %6.1f us: ratio %.2f (floor %.2f)%s\n",
               il.raw_p50, il.floor_p50, il.op_p50, il.ratio, il.raw_p50 / il.floor_p50,
               il.failures ? "  (FAILURES)" : "");
        printf("  sqclaim, %2d threads: %8.0f pairs/s  %8.0f round trips/s  %.2f rt/op  "
               "claim p50 %6.1f us  p99 %6.1f us  p99.9 %7.1f us%s\n",
               threads, many.pairs_per_s, many.rt_per_s, many.rt_per_op, many.p50, many.p99,
               many.p999, many.failures ? "  (FAILURES)" : "");
        if (baseline) {
            if (rb1 <= 0 || rbn <= 0) {
                printf("  redis-benchmark failed (is it installed?)\n");
            } else {
                double ratio = one.rt_per_s / rb1;
                ratios[nratios++] = ratio;
                printf("  redis-benchmark SET NX PX, 1 connection:  %8.0f requests/s\n", rb1);
                printf("  redis-benchmark SET NX PX, %d connections: %8.0f requests/s\n", threads,
                       rbn);
                printf("  ratio, 1 connection (sqclaim round trips/s / redis-benchmark "
                       "requests/s): %.2f\n",
                       ratio);
                printf("  ratio, %d threads vs %d connections: %.2f\n", threads, threads,
                       many.rt_per_s / rbn);
            }
        }
        if (one.failures || many.failures || il.failures) {
            fprintf(stderr, "sqclaim-bench: %ld operations failed\n",
                    one.failures + many.failures + il.failures);
            return 1;
        }
    }
    qsort(il_ratios, (size_t)nil, sizeof il_ratios[0], cmp_double);
    printf("\nmedian interleaved ratio (bare round trip p50 / sqclaim operation p50): %.2f\n",
           il_ratios[nil / 2]);
    if (nratios > 0) {
        qsort(ratios, (size_t)nratios, sizeof ratios[0], cmp_double);
        double median = ratios[nratios / 2];
        printf("median single-connection ratio vs redis-benchmark: %.2f (target >= 0.80) %s\n",
               median, median >= 0.8 ? "OK" : "BELOW TARGET");
        printf("baseline: %s\n          %s\n", cmd1, cmdn);
    }
    snprintf(pattern, sizeof pattern, "sqclaim-bench:%ld:*", (long)getpid());
    cleanup(&t, pattern);
    return 0;
}
