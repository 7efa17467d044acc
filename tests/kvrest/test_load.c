/* test_load.c — kvrest tests: concurrency and fuzzing.  Fixtures and shorthands: kvsuite.h. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvsuite.h"
#include "kvtest.h"

/* ---- concurrency ---------------------------------------------------------------------- */

#define TX_THREADS 8
#define TX_ROUNDS  200

/* Many clients at once: each thread sends `rounds` requests of
 * [["INCR","ld:a"],["INCR","ld:b"],["INCR","ld:t<id>"]] to `path` over its
 * own keep-alive connection. */
typedef struct load_arg {
    const tsrv *srv;
    const char *path; /* /multi-exec (atomic: a == b in every reply) or /pipeline */
    int id, rounds;
    char failure[512];
} load_arg;

static void *load_worker(void *p)
{
    load_arg *a = p;
    bool atomic = strcmp(a->path, "/multi-exec") == 0;
    CURL *h = curl_easy_init();
    char body[256];
    snprintf(body, sizeof body, "[[\"INCR\",\"ld:a\"],[\"INCR\",\"ld:b\"],[\"INCR\",\"ld:t%d\"]]",
             a->id);
    for (int i = 0; i < a->rounds && !a->failure[0]; i++) {
        kt_resp r;
        kt_req q = {.kv = a->srv, .handle = h, .path = a->path, .token = TOKEN, .body = body};
        kt_http(&r, &q);
        long long x = -1, y = -2, z = -3;
        char tail = 0;
        if (r.rc != CURLE_OK || r.status != 200 ||
            sscanf(r.body, "[{\"result\":%lld},{\"result\":%lld},{\"result\":%lld}%c", &x, &y, &z,
                   &tail) != 4 ||
            tail != ']' || (atomic && x != y) || z != i + 1)
            snprintf(a->failure, sizeof a->failure, "thread %d round %d: rc %d status %ld body %s",
                     a->id, i, (int)r.rc, r.status, r.body);
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* Run `threads` load workers on srv; every reply checked, totals exact. */
void run_load(const tsrv *srv, const char *path, int threads, int rounds)
{
    pthread_t th[64];
    load_arg args[64];
    ck_assert(threads <= 64);
    freeReplyObject(kt_redis(&redis_srv, "FLUSHALL"));
    for (int i = 0; i < threads; i++) {
        args[i] = (load_arg){.srv = srv, .path = path, .id = i, .rounds = rounds};
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_worker, &args[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < threads; i++)
        ck_assert_msg(args[i].failure[0] == '\0', "%s", args[i].failure);
    char want[32];
    snprintf(want, sizeof want, "%d", threads * rounds);
    assert_raw("ld:a", want);
    assert_raw("ld:b", want);
}

START_TEST(concurrent_transactions)
{
    run_load(&kv, "/multi-exec", TX_THREADS, TX_ROUNDS);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "routes.multi_exec"), TX_THREADS * TX_ROUNDS);
    ck_assert_int_eq(kt_stat(&kv, TOKEN, "commands"), 3 * TX_THREADS * TX_ROUNDS);
}
END_TEST

typedef struct slow_arg {
    kt_resp r;
} slow_arg;

static void *slow_worker(void *p)
{
    slow_arg *a = p;
    kt_req q = {.kv = &kv, .path = "/", .token = TOKEN, .body = "[\"BLPOP\",\"empty\",\"4\"]"};
    kt_http(&a->r, &q);
    return NULL;
}

START_TEST(slow_request_does_not_block_others)
{
    slow_arg a;
    pthread_t th;
    long long t0 = tsrv_now_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, slow_worker, &a), 0);
    /* wait until the BLPOP is really blocked inside redis */
    bool blocked = false;
    while (!blocked && tsrv_now_ms() - t0 < 3500) {
        redisReply *r = kt_redis(&redis_srv, "INFO clients");
        blocked = r->type == REDIS_REPLY_STRING && strstr(r->str, "blocked_clients:1") != NULL;
        freeReplyObject(r);
    }
    ck_assert_msg(blocked, "BLPOP never blocked");
    long long t1 = tsrv_now_ms();
    for (int i = 0; i < 10; i++)
        EXPECT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}");
    long long took = tsrv_now_ms() - t1;
    bool still_blocked;
    {
        redisReply *r = kt_redis(&redis_srv, "INFO clients");
        still_blocked = strstr(r->str, "blocked_clients:1") != NULL;
        freeReplyObject(r);
    }
    pthread_join(th, NULL);
    ck_assert_msg(still_blocked, "10 PINGs took %lld ms: they waited for the BLPOP", took);
    kt_expect(&a.r, 200, "{\"result\":null}");
    kt_free(&a.r);
}
END_TEST

/* ---- fuzzing ------------------------------------------------------------------------- */

static uint64_t fz_state;
static uint64_t fz_next(void)
{
    fz_state ^= fz_state << 13;
    fz_state ^= fz_state >> 7;
    fz_state ^= fz_state << 17;
    return fz_state;
}

static const char *const fz_templates[] = {
    "[\"SET\",\"fz:a\",\"v\",\"PX\",600000,\"NX\"]",
    "[\"GET\",\"fz:a\"]",
    "[[\"SET\",\"fz:b\",1],[\"INCR\",\"fz:b\"],[\"GET\",\"fz:b\"]]",
    "[\"MGET\",\"fz:a\",\"fz:b\",\"fz:\\ud83c\\udf89\"]",
    "[\"EVAL\",\"return {1,'x',{2}}\",\"0\"]",
    "[\"HSET\",\"fz:h\",\"f\",\"\\u00e9\\n\",\"g\",true]",
    "[\"LRANGE\",\"fz:l\",0,-1]",
    "[\"ECHO\",\"\xF0\x9F\x8E\x89\\\"\\\\\"]",
};

static const char fz_bytes[] = {'[',  ']', '{', '}',  '"',    ',',   ':',
                                '\\', 'u', '0', '\0', '\xFF', '\xC3'};

static void fz_body(char *buf, size_t cap, size_t *len)
{
    uint64_t kind = fz_next() % 6;
    size_t n = 0;
    if (kind == 0) { /* random bytes */
        n = fz_next() % 200;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(fz_next() & 0xFF);
    } else if (kind == 1) { /* deep or unbalanced nesting */
        size_t d = 1 + fz_next() % (cap / 2 - 1);
        for (size_t i = 0; i < d; i++)
            buf[n++] = '[';
        size_t close = fz_next() % 2 ? d : fz_next() % (d + 1);
        for (size_t i = 0; i < close; i++)
            buf[n++] = ']';
    } else if (kind == 2) { /* many arguments */
        n = (size_t)snprintf(buf, cap, "[\"MGET\"");
        size_t k = fz_next() % 3000;
        for (size_t i = 0; i < k && n + 16 < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, ",\"fz:%zu\"", i);
        buf[n++] = ']';
    } else { /* mutated template */
        const char *t = fz_templates[fz_next() % (sizeof fz_templates / sizeof *fz_templates)];
        n = strlen(t);
        memcpy(buf, t, n);
        int muts = 1 + (int)(fz_next() % 4);
        for (int m = 0; m < muts && n > 0; m++) {
            size_t at = fz_next() % n;
            switch (fz_next() % 4) {
            case 0: buf[at] = (char)(fz_next() & 0xFF); break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            case 2:
                if (n + 1 < cap) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = fz_bytes[fz_next() % sizeof fz_bytes];
                    n++;
                }
                break;
            default: n = at; break; /* truncate */
            }
        }
    }
    *len = n;
}

/* A well-formed kvrest answer for route path with this status. */
static void fz_check(const kt_resp *r, const char *path, const char *body, size_t blen)
{
    (void)blen;
    ck_assert_msg(r->rc == CURLE_OK, "fuzz %s: curl %s", path, curl_easy_strerror(r->rc));
    ck_assert_msg(r->status == 200 || r->status == 400, "fuzz %s: status %ld for %.80s: %s", path,
                  r->status, body, r->body);
    ck_assert_str_eq(r->ctype, "application/json");
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    ck_assert_msg(j != NULL, "fuzz %s: invalid JSON response %s", path, r->body);
    if (r->status == 400) {
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    } else if (strcmp(path, "/pipeline") == 0 || strcmp(path, "/multi-exec") == 0) {
        ck_assert(cJSON_IsArray(j));
        for (cJSON *e = j->child; e; e = e->next)
            ck_assert(cJSON_HasObjectItem(e, "result") || cJSON_HasObjectItem(e, "error"));
    } else {
        ck_assert(cJSON_HasObjectItem(j, "result"));
    }
    cJSON_Delete(j);
}

START_TEST(fuzz_bodies_and_paths)
{
    fz_state = 0x9E3779B97F4A7C15ULL;
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    CURL *h = curl_easy_init();
    static const char *const routes[] = {"/", "/pipeline", "/multi-exec"};
    for (int i = 0; i < 1500; i++) {
        size_t len;
        fz_body(buf, cap, &len);
        const char *path = routes[fz_next() % 3];
        kt_resp r;
        kt_req q = {.kv = &kv,
                    .handle = h,
                    .path = path,
                    .token = TOKEN,
                    .body = buf,
                    .bodylen = len ? len : 0,
                    .flags = fz_next() % 2 ? KT_B64 : 0};
        if (len == 0)
            q.body = "";
        kt_http(&r, &q);
        fz_check(&r, path, buf, len);
        kt_free(&r);
    }
    /* path style with random (escaped) bytes */
    char path[1024];
    for (int i = 0; i < 300; i++) {
        size_t n = (size_t)snprintf(path, sizeof path, "/%s", fz_next() % 2 ? "echo" : "get");
        int segs = (int)(fz_next() % 4);
        for (int s = 0; s < segs; s++) {
            path[n++] = '/';
            int bytes = (int)(fz_next() % 20);
            for (int b = 0; b < bytes; b++)
                n += (size_t)snprintf(path + n, sizeof path - n, "%%%02X",
                                      (unsigned)(fz_next() & 0xFF));
        }
        path[n] = '\0';
        kt_resp r;
        kt_req q = {.kv = &kv, .handle = h, .path = path, .token = TOKEN};
        kt_http(&r, &q);
        fz_check(&r, path, path, n);
        kt_free(&r);
    }
    curl_easy_cleanup(h);
    free(buf);
    EXPECT_POST("/", "[\"PING\"]", 200, "{\"result\":\"PONG\"}");
}
END_TEST

void kvt_add_load(Suite *s)
{
    TCASE_ADD(s, kvt_shared_case("concurrency"), concurrent_transactions,
              slow_request_does_not_block_others, fuzz_bodies_and_paths);
}
