/*
 * test_kvrest.c — kvrest over real HTTP (libcurl) in front of a real
 * redis-server: routes, auth, encodings, errors, sync token, quota, every
 * fault knob, admin counters, keep-alive, concurrency, fuzzing, redis
 * outages and the command line.
 *
 * Shared servers are started in unchecked fixtures (once per TCase);
 * each test starts from an empty redis, no faults and zeroed counters
 * (checked fixture).  Tests that kill or restart a server start their own
 * servers, because a forked test cannot wait for the fixture's children.
 * Nothing synchronises by sleeping: waits poll with a deadline.
 *
 * This file holds the fixtures and the suite; the tests are in
 * test_<concern>.c (kvsuite.h).
 */
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

tsrv redis_srv, kv;

/* ---- fixtures and shorthands ------------------------------------------- */

void servers_up(void)
{
    ck_assert_int_eq(tsrv_redis_start(&redis_srv, NULL), 0);
    const char *args[] = {"--readonly-token", RO_TOKEN, NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv, &redis_srv, TOKEN, args), 0);
}

void servers_down(void)
{
    tsrv_stop(&kv);
    tsrv_stop(&redis_srv);
}

void fresh(void)
{
    kt_faults(&kv, TOKEN,
              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,"
              "\"stall_rate\":0,\"stall_ms\":10000,\"quota\":0,\"seed\":1}");
    freeReplyObject(kt_redis(&redis_srv, "FLUSHALL"));
    kt_resp r;
    kt_req q = {.kv = &kv, .path = "/_kvrest/stats/reset", .token = TOKEN, .body = ""};
    kt_http(&r, &q);
    kt_expect(&r, 200, NULL);
    kt_free(&r);
}

void req(kt_resp *r, const char *method, const char *path, const char *token, const char *body,
         unsigned flags)
{
    kt_req q = {
        .kv = &kv, .method = method, .path = path, .token = token, .body = body, .flags = flags};
    kt_http(r, &q);
}

void post(kt_resp *r, const char *path, const char *body) { req(r, NULL, path, TOKEN, body, 0); }

void get(kt_resp *r, const char *path) { req(r, NULL, path, TOKEN, NULL, 0); }

void expect_refused(const char *path, const char *token, const char *const *bodies, size_t n,
                    long status, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        kt_resp r;
        req(&r, NULL, path, token, bodies[i], 0);
        ck_assert_msg(r.status == status, "%s %s: status %ld, want %ld", path, bodies[i], r.status,
                      status);
        EXPECT_ERROR(&r, status, prefix);
        kt_free(&r);
    }
}

void expect_rows(const char *file, const kvt_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const kvt_row *w = &rows[i];
        char where[1024];
        snprintf(where, sizeof where, "%s%s%s%s at %s", w->path, w->body ? " " : "",
                 w->body ? w->body : "", w->flags & KT_B64 ? " (base64)" : "", file);
        kt_resp r;
        req(&r, NULL, w->path, w->token, w->body, w->flags);
        kt_expect_at(where, w->line, &r, w->status, w->want);
        kt_free(&r);
    }
}

void expect_sync(const char *path, const char *token, const char *body, long status,
                 const char *sync)
{
    kt_resp r;
    req(&r, NULL, path, token, body, 0);
    kt_expect(&r, status, NULL);
    ck_assert_str_eq(r.sync, sync);
    kt_free(&r);
}

kvt_session kvt_session_open(void)
{
    kvt_session ss = {.handle = curl_easy_init()};
    ck_assert_ptr_nonnull(ss.handle);
    return ss;
}

void kvt_session_expect(kvt_session *ss, kt_req *q, long status, const char *want)
{
    kt_resp r;
    q->handle = ss->handle;
    kt_http(&r, q);
    kt_expect(&r, status, want);
    ss->connects += r.connects;
    kt_free(&r);
}

long kvt_session_close(kvt_session *ss)
{
    curl_easy_cleanup(ss->handle);
    ss->handle = NULL;
    return ss->connects;
}

/* Raw redis GET; returns a malloc'd copy (NULL for nil) and its length. */
char *raw_get(const char *key, size_t klen, size_t *len)
{
    redisReply *r = kt_redis(&redis_srv, "GET %b", key, klen);
    char *out = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        out = malloc(r->len + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out, r->str, r->len);
        out[r->len] = '\0';
        if (len)
            *len = r->len;
    } else {
        ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    }
    freeReplyObject(r);
    return out;
}

void assert_raw(const char *key, const char *want)
{
    char *v = raw_get(key, strlen(key), NULL);
    if (!want) {
        ck_assert_msg(v == NULL, "key %s should be absent, has '%s'", key, v);
    } else {
        ck_assert_msg(v != NULL, "key %s absent, want '%s'", key, want);
        ck_assert_str_eq(v, want);
    }
    free(v);
}

/* A request to server s (not the shared one). */
void on(const tsrv *s, kt_resp *r, const char *path, const char *token, const char *body,
        unsigned flags)
{
    kt_req q = {.kv = s, .path = path, .token = token, .body = body, .flags = flags};
    kt_http(r, &q);
}

/* ---- suite ------------------------------------------------------------------------------ */

tcase_spec kvt_shared_case(const char *name)
{
    return (tcase_spec){.name = name,
                        .timeout = TEST_TIMEOUT,
                        .setup = fresh,
                        .once_setup = servers_up,
                        .once_teardown = servers_down};
}

static Suite *kvrest_suite(void)
{
    Suite *s = suite_create("kvrest");
    kvt_add_routes(s);
    kvt_add_encoding(s);
    kvt_add_errors(s);
    kvt_add_faults(s);
    kvt_add_load(s);
    kvt_add_variants(s);
    kvt_add_lifecycle(s);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    SRunner *sr = srunner_create(kvrest_suite());
    srunner_add_suite(sr, kt_framing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
