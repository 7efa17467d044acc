/* det_bench.c — sqdet-bench: how fast the scripted store (sim/det/) runs
 * the claim protocol on one core, next to baselines measured in the same
 * run.  The deterministic simulator needs >= 100 000 simulated operations
 * per second; a claim+release pair is two of them.
 *
 * Rows:
 *   proto.c on the store     rp_claim + rp_release on a det_conn: proto.c
 *                            builds EVALSHA, the store runs the production
 *                            scripts in Lua, proto.c decodes the replies
 *   library on the store     sqclaim_claim + sqclaim_release on a handle
 *                            opened on the store's backend table (adds the
 *                            core: validation, tokens, deadlines)
 *   library on memory        the same on the memory backend (baseline: the
 *                            other in-process store, no Lua)
 *   keyspace, no Lua         SET NX PX + DEL on the store, the commands the
 *                            scripts would send, without scripting
 *
 * Usage: sqdet-bench [--seconds S] [--sqs N] [--only ROW] [--pairs N]
 *   (defaults: 2 s per row, 1000 SQs, every row; --pairs runs exactly N
 *   pairs per row instead, for instruction counts under a profiler)
 * Time: the store's clock is its built-in virtual clock, moved 1 ms per
 * pair, so leases of 600 s never expire during the run and virtual time
 * runs far faster than real time. */
#include "transport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    const char *name;
    uint64_t pairs;
    double secs;
    double p50, p99, max; /* microseconds per pair */
} result;

#define SAMPLES 200000

static double *lat;
static size_t nlat;

static void report(const result *r, double base)
{
    double per = r->pairs / r->secs;
    printf("%-26s %11.0f %11.0f %8.2f %8.2f %8.2f %8.1f  %5.2fx\n", r->name, per, 2 * per,
           1e6 / per, r->p50, r->p99, r->max, base > 0 ? per / base : 1.0);
}

static void finish(result *r)
{
    qsort(lat, nlat, sizeof *lat, cmp_d);
    r->p50 = nlat ? lat[nlat / 2] : 0;
    r->p99 = nlat ? lat[(size_t)(nlat * 0.99)] : 0;
    r->max = nlat ? lat[nlat - 1] : 0;
}

static void sample(double t0, double t1)
{
    if (nlat < SAMPLES)
        lat[nlat++] = (t1 - t0) * 1e6;
}

static char (*sqs)[16];
static uint64_t fixed_pairs; /* --pairs N: exactly N pairs per row (for a profiler) */

static bool more(double start, double t, double secs, uint64_t n)
{
    return fixed_pairs ? n < fixed_pairs : t - start < secs;
}

/* 32 hex digits of n, cheaply (the token of pair n). */
static void hex32(uint64_t n, char out[SQCLAIM_TOKEN_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = SQCLAIM_TOKEN_LEN - 1; i >= 0; i--, n >>= 4)
        out[i] = digits[n & 15];
    out[SQCLAIM_TOKEN_LEN] = '\0';
}

/* What a row's pair works on (each row uses its part): the store, and a
 * connection or a handle on it, a reply buffer. */
typedef struct bench_ctx {
    det_store *st;
    det_conn *c;
    sqclaim_store *h;
    det_reply rep;
    sqb_err err;
    int nsq;
} bench_ctx;

/* Time pairs on x->st: pair(x, n) for n = 0, 1, ... (the store's clock
 * moved 1 ms after each), for secs or --pairs N, into r. */
static void run_pairs(result *r, double secs, void (*pair)(bench_ctx *, uint64_t), bench_ctx *x)
{
    nlat = 0;
    double start = now_s(), t = start;
    uint64_t n = 0;
    while (more(start, t, secs, n)) {
        for (int k = 0; k < 256 && (!fixed_pairs || n < fixed_pairs); k++, n++) {
            double t0 = now_s();
            pair(x, n);
            det_store_advance(x->st, 1000000);
            sample(t0, now_s());
        }
        t = now_s();
    }
    r->pairs = n;
    r->secs = t - start;
    finish(r);
}

static void proto_pair(bench_ctx *x, uint64_t n)
{
    char tok[SQCLAIM_TOKEN_LEN + 1];
    hex32(n, tok);
    const char *cand[] = {sqs[n % (uint64_t)x->nsq]};
    sqb_claim_req req = {cand, 1, "BOT1", tok, 600000, "2025-10-26T12:34:56.789Z", 0};
    sqb_claim_res res;
    if (rp_claim(&x->c->proto, &req, &res, &x->err) != SQCLAIM_OK) {
        fprintf(stderr, "sqdet-bench: claim failed: %s\n", x->err.msg);
        exit(1);
    }
    sqb_lease_req lr = {.sq = cand[0], .token = tok, .bot = "BOT1", .fence = res.fence};
    if (rp_release(&x->c->proto, &lr, &x->err) != SQCLAIM_OK) {
        fprintf(stderr, "sqdet-bench: release failed: %s\n", x->err.msg);
        exit(1);
    }
}

static void bench_proto(result *r, double secs, int nsq)
{
    bench_ctx x = {.st = det_store_new(&(det_store_config){.seed = 1}), .nsq = nsq};
    if (!x.st || det_conn_open(x.st, NULL, &x.c, &x.err) != SQCLAIM_OK) {
        fprintf(stderr, "sqdet-bench: cannot open the store\n");
        exit(2);
    }
    run_pairs(r, secs, proto_pair, &x);
    det_conn_close(x.c);
    det_store_free(x.st);
}

static void library_pair(bench_ctx *x, uint64_t n)
{
    sqclaim_lease l;
    if (sqclaim_claim(x->h, sqs[n % (uint64_t)x->nsq], "BOT1", 600000, &l, NULL) != SQCLAIM_OK ||
        sqclaim_release(x->h, &l) != SQCLAIM_OK) {
        fprintf(stderr, "sqdet-bench: %s\n", sqclaim_errmsg(x->h));
        exit(1);
    }
}

static void bench_library(result *r, double secs, int nsq, bool memory)
{
    bench_ctx x = {.st = det_store_new(&(det_store_config){.seed = 1}), .nsq = nsq};
    sqclaim_backend be;
    det_backend_init(&be, x.st);
    sqclaim_options o;
    sqclaim_options_init(&o);
    sqclaim_rc rc;
    if (memory) {
        o.adapter = "memory";
        o.memory_space = "sqdet-bench";
        rc = sqclaim_open(&o, &x.h);
    } else {
        rc = sqclaim_open_backend(&be, &o, &x.h);
    }
    if (rc != SQCLAIM_OK) {
        fprintf(stderr, "sqdet-bench: open: %s\n", sqclaim_errmsg(x.h));
        exit(2);
    }
    run_pairs(r, secs, library_pair, &x);
    sqclaim_close(x.h);
    det_store_free(x.st);
}

static void keyspace_pair(bench_ctx *x, uint64_t n)
{
    const char *key = sqs[n % (uint64_t)x->nsq];
    const char *set[] = {"SET", key, "{\"botId\":\"BOT1\"}", "NX", "PX", "600000"};
    size_t setl[] = {3, strlen(key), 16, 2, 2, 6};
    const char *del[] = {"DEL", key};
    size_t dell[] = {3, strlen(key)};
    det_reply_reset(&x->rep);
    det_store_exec(x->st, 6, set, setl, &x->rep);
    det_store_exec(x->st, 2, del, dell, &x->rep);
}

static void bench_keyspace(result *r, double secs, int nsq)
{
    bench_ctx x = {.st = det_store_new(&(det_store_config){.seed = 1}), .nsq = nsq};
    det_reply_init(&x.rep);
    run_pairs(r, secs, keyspace_pair, &x);
    det_reply_free(&x.rep);
    det_store_free(x.st);
}

int main(int argc, char **argv)
{
    double secs = 2;
    int nsq = 1000;
    int only = 0; /* 1..4: run one row only (for a profiler) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--sqs") == 0 && i + 1 < argc)
            nsq = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = atoi(argv[++i]);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            fixed_pairs = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr,
                    "usage: sqdet-bench [--seconds S] [--sqs N] [--only ROW] [--pairs N]\n");
            return 2;
        }
    }
    if (secs <= 0 || nsq < 1) {
        fprintf(stderr, "sqdet-bench: --seconds and --sqs must be positive\n");
        return 2;
    }
    lat = malloc(SAMPLES * sizeof *lat);
    sqs = malloc((size_t)nsq * sizeof *sqs);
    if (!lat || !sqs)
        return 2;
    for (int i = 0; i < nsq; i++)
        snprintf(sqs[i], sizeof sqs[i], "SQ%06d", i);

    result r[4] = {{.name = "proto.c on the store"},
                   {.name = "library on the store"},
                   {.name = "library on memory"},
                   {.name = "keyspace, no Lua"}};
    if (!only || only == 1)
        bench_proto(&r[0], secs, nsq);
    if (!only || only == 2)
        bench_library(&r[1], secs, nsq, false);
    if (!only || only == 3)
        bench_library(&r[2], secs, nsq, true);
    if (!only || only == 4)
        bench_keyspace(&r[3], secs, nsq);

    printf("claim+release pairs on one core, %d SQs, %.1f s per row (latency in us per pair)\n",
           nsq, secs);
    printf("%-26s %11s %11s %8s %8s %8s %8s  %6s\n", "", "pairs/s", "ops/s", "mean", "p50", "p99",
           "max", "vs row1");
    for (int i = 0; i < 4; i++)
        if (r[i].pairs)
            report(&r[i], r[0].pairs ? r[0].pairs / r[0].secs : 0);
    free(lat);
    free(sqs);
    return 0;
}
