/* diffcommon.c — see diffcommon.h. */
#include "diffcommon.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

tsrv diff_redis;
resp_conn diff_conn = {.fd = -1};

int64_t diff_realtime_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long long diff_realtime_ms(void) { return diff_realtime_ns(NULL) / 1000000; }

void diff_wait_until_ms(long long ms)
{
    /* Waiting for time itself to pass (an expiry), not for another
     * thread: poll the clock. */
    while (diff_realtime_ms() <= ms) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
}

uint64_t gen_next(gen *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t gen_below(gen *g, uint64_t n) { return n ? gen_next(g) % n : 0; }

bool gen_chance(gen *g, int percent) { return (int)gen_below(g, 100) < percent; }

static bool close_enough(long long a, long long b, long long tol)
{
    /* -1 (no expiry) and -2 (no key) are states, not durations */
    if (a < 0 || b < 0)
        return a == b;
    long long d = a > b ? a - b : b - a;
    return d <= tol;
}

static bool same_tree(const rv *a, const rv *b, cmp_mode mode, char *why, size_t whylen,
                      const char *path)
{
    if (a->t != b->t) {
        snprintf(why, whylen, "%s: types differ ('%c' vs '%c')", path, a->t, b->t);
        return false;
    }
    switch (a->t) {
    case ':': {
        long long tol = mode == CMP_TIME_MS ? DIFF_TOL_MS : mode == CMP_TIME_S ? 1 : 0;
        if (a->i == b->i || (tol && close_enough(a->i, b->i, tol)))
            return true;
        snprintf(why, whylen, "%s: %lld vs %lld", path, a->i, b->i);
        return false;
    }
    case '*':
        if (a->n != b->n) {
            snprintf(why, whylen, "%s: %zu vs %zu elements", path, a->n, b->n);
            return false;
        }
        for (size_t k = 0; k < a->n; k++) {
            char p[128];
            snprintf(p, sizeof p, "%s[%zu]", path, k);
            if (!same_tree(a->e[k], b->e[k], mode, why, whylen, p))
                return false;
        }
        return true;
    case 'n': return true;
    default:
        if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0)
            return true;
        snprintf(why, whylen, "%s: strings differ", path);
        return false;
    }
}

static int cmp_rv(const void *x, const void *y)
{
    const rv *a = *(rv *const *)x, *b = *(rv *const *)y;
    if (a->t != b->t)
        return a->t - b->t;
    size_t m = a->len < b->len ? a->len : b->len;
    int d = m ? memcmp(a->s, b->s, m) : 0;
    if (d)
        return d;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

bool diff_same(const char *a, size_t alen, const char *b, size_t blen, cmp_mode mode, char *why,
               size_t whylen)
{
    why[0] = '\0';
    if (alen == blen && memcmp(a, b, alen) == 0)
        return true;
    if (mode == CMP_EXACT) {
        snprintf(why, whylen, "bytes differ");
        return false;
    }
    rv *x = rv_parse(a, alen), *y = rv_parse(b, blen);
    bool ok = false;
    if (!x || !y) {
        snprintf(why, whylen, "unparsable reply");
    } else if (mode == CMP_SET) {
        if (x->t == '*' && y->t == '*' && x->n == y->n) {
            qsort(x->e, x->n, sizeof *x->e, cmp_rv);
            qsort(y->e, y->n, sizeof *y->e, cmp_rv);
        }
        ok = same_tree(x, y, CMP_EXACT, why, whylen, "reply");
    } else if (mode == CMP_PAIRS) {
        if (x->t == '*' && y->t == '*' && x->n == y->n && x->n % 2 == 0) {
            /* pair up field and value, sort by field, then compare */
            for (int side = 0; side < 2; side++) {
                rv *v = side ? y : x;
                for (size_t i = 2; i < v->n; i += 2) /* insertion sort by field */
                    for (size_t j = i; j >= 2 && cmp_rv(&v->e[j - 2], &v->e[j]) > 0; j -= 2) {
                        rv *t0 = v->e[j - 2], *t1 = v->e[j - 1];
                        v->e[j - 2] = v->e[j];
                        v->e[j - 1] = v->e[j + 1];
                        v->e[j] = t0;
                        v->e[j + 1] = t1;
                    }
            }
        }
        ok = same_tree(x, y, CMP_EXACT, why, whylen, "reply");
    } else if (mode == CMP_CLOCK) {
        if (x->t != '*' || y->t != '*') {
            snprintf(why, whylen, "bytes differ");
            rv_free(x);
            rv_free(y);
            return false;
        }
        ok = x->t == '*' && y->t == '*' && x->n == 2 && y->n == 2 && x->e[0]->t == '$' &&
             y->e[0]->t == '$' && llabs(atoll(x->e[0]->s) - atoll(y->e[0]->s)) <= 2;
        if (!ok)
            snprintf(why, whylen, "TIME differs by more than 2 s");
    } else {
        ok = same_tree(x, y, mode, why, whylen, "reply");
    }
    rv_free(x);
    rv_free(y);
    return ok;
}

int diff_nseqs(int def)
{
    const char *e = getenv("DET_DIFF_SEQS");
    int n = e ? atoi(e) : 0;
    return n > 0 ? n : def;
}

bool diff_one_seed(uint64_t *seed)
{
    const char *e = getenv("DET_DIFF_SEED");
    if (!e || !*e)
        return false;
    *seed = strtoull(e, NULL, 0);
    return true;
}

int diff_run_seeds(const char *what, uint64_t base, int def, int ops,
                   bool (*run)(uint64_t seed, int ops, char *msg, size_t msglen), bool *single)
{
    uint64_t one = 0;
    *single = diff_one_seed(&one);
    int nseq = *single ? 1 : diff_nseqs(def);
    char msg[4096];
    int failed = 0;
    for (int i = 0; i < nseq; i++) {
        uint64_t seed = *single ? one : base + (uint64_t)i;
        msg[0] = '\0';
        if (!run(seed, ops, msg, sizeof msg)) {
            failed++;
            fprintf(stderr, "%s difference (replay: DET_DIFF_SEED=%" PRIu64 "):\n%s\n", what, seed,
                    msg);
            if (failed >= 5)
                break;
        }
    }
    ck_assert_msg(failed == 0, "%d of %d %s sequences differ from redis-server", failed, nseq,
                  what);
    return nseq;
}

static void start_redis(void)
{
    if (tsrv_redis_start(&diff_redis, NULL) != 0) {
        fprintf(stderr, "det: could not start redis-server\n");
        exit(EXIT_FAILURE);
    }
}

static void stop_redis(void) { tsrv_stop(&diff_redis); }

static void connect_redis(void)
{
    ck_assert_msg(resp_connect(&diff_conn, diff_redis.port) == 0, "connect to redis-server");
}

static void disconnect_redis(void) { resp_close(&diff_conn); }

tcase_spec diff_spec(const char *name)
{
    return (tcase_spec){.name = name,
                        .timeout = 600,
                        .setup = connect_redis,
                        .teardown = disconnect_redis,
                        .once_setup = start_redis,
                        .once_teardown = stop_redis};
}
