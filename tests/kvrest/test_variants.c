/* test_variants.c — kvrest tests: other flags on servers of their own (unix socket, pools, threads,
 * body and quota limits, token from the environment).  Fixtures and shorthands: kvsuite.h. */
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

/* ---- variants: other flags, own servers ------------------------------------------ */

static tsrv kv_unix, kv_threads, kv_small, kv_quota, kv_env;
#define ENV_TOKEN    "env-token-9f8e7d"
#define ENV_RO_TOKEN "env-ro-token-1a2b"

static void variants_up(void)
{
    servers_up();
    const char *unix_args[] = {"--redis", redis_srv.unixsock, "--pool", "2", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_unix, &redis_srv, TOKEN, unix_args), 0);
    const char *thr_args[] = {"--threads", "4", "--pool", "3", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_threads, &redis_srv, TOKEN, thr_args), 0);
    const char *small_args[] = {"--max-body", "1000", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_small, &redis_srv, TOKEN, small_args), 0);
    const char *quota_args[] = {"--quota", "2", "--seed", "5", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_quota, &redis_srv, TOKEN, quota_args), 0);
    /* token from the environment: an empty --token means "not given" */
    setenv("KVREST_TOKEN", ENV_TOKEN, 1);
    setenv("KVREST_READONLY_TOKEN", ENV_RO_TOKEN, 1);
    const char *env_args[] = {"--quiet", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&kv_env, &redis_srv, "", env_args), 0);
    unsetenv("KVREST_TOKEN");
    unsetenv("KVREST_READONLY_TOKEN");
}

static void variants_down(void)
{
    tsrv_stop(&kv_env);
    tsrv_stop(&kv_quota);
    tsrv_stop(&kv_small);
    tsrv_stop(&kv_threads);
    tsrv_stop(&kv_unix);
    servers_down();
}

START_TEST(redis_over_unix_socket)
{
    EXPECT_ON(&kv_unix, "/", TOKEN, "[\"SET\",\"via-unix\",\"1\"]", 0, 200, "{\"result\":\"OK\"}");
    assert_raw("via-unix", "1");
    char want[400];
    snprintf(want, sizeof want, "(redis %s)", redis_srv.unixsock);
    char log[400];
    snprintf(log, sizeof log, "%s/kvrest.log", kv_unix.dir);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_msg(strstr(line, want) != NULL, "startup line: %s", line);
}
END_TEST

/* 24 clients at once through 2 pooled redis connections: requests wait
 * for a free one (never "all connections busy"), nothing is lost. */
START_TEST(many_clients_small_pool)
{
    run_load(&kv_unix, "/pipeline", 24, 40);
    run_load(&kv_unix, "/multi-exec", 24, 10);
}
END_TEST

START_TEST(thread_pool_mode)
{
    kvt_session ss = kvt_session_open();
    for (int i = 0; i < 10; i++) {
        kt_req q = {.kv = &kv_threads,
                    .path = "/pipeline",
                    .token = TOKEN,
                    .body = "[[\"INCR\",\"tp\"],[\"GET\",\"tp\"]]"};
        char want[64];
        snprintf(want, sizeof want, "[{\"result\":%d},{\"result\":\"%d\"}]", i + 1, i + 1);
        kvt_session_expect(&ss, &q, 200, want);
    }
    long total = kvt_session_close(&ss);
    ck_assert_int_eq(total, 1);
}
END_TEST

START_TEST(max_body_flag)
{
    char body[2048];
    int n = snprintf(body, sizeof body, "[\"SET\",\"small\",\"");
    memset(body + n, 'y', 1100);
    strcpy(body + n + 1100, "\"]");
    EXPECT_ON(&kv_small, "/", TOKEN, body, 0, 400, "{\"error\":\"ERR max request size exceeded\"}");
    EXPECT_ON(&kv_small, "/", TOKEN, body, KT_CHUNKED, 400,
              "{\"error\":\"ERR max request size exceeded\"}");
    EXPECT_ON(&kv_small, "/set/small", TOKEN, body, KT_CHUNKED, 400,
              "{\"error\":\"ERR max request size exceeded\"}");
    strcpy(body + n + 900, "\"]"); /* 919 bytes: fits */
    EXPECT_ON(&kv_small, "/", TOKEN, body, KT_CHUNKED, 200, "{\"result\":\"OK\"}");
    EXPECT_POST("/", "[\"STRLEN\",\"small\"]", 200, "{\"result\":900}");
    /* a streamed oversized body leaves the connection usable */
    kvt_session ss = kvt_session_open();
    for (int i = 0; i < 2; i++) {
        body[n + 900] = 'y';
        strcpy(body + n + 1100, "\"]");
        kt_req q = {.kv = &kv_small,
                    .path = "/",
                    .token = TOKEN,
                    .body = i ? "[\"PING\"]" : body,
                    .flags = KT_CHUNKED};
        kvt_session_expect(&ss, &q, i ? 200 : 400, NULL);
    }
    ck_assert_int_eq(kvt_session_close(&ss), 1);
}
END_TEST

START_TEST(quota_flag)
{
    EXPECT_ON(&kv_quota, "/pipeline", TOKEN, "[[\"PING\"],[\"PING\"]]", 0, 200,
              "[{\"result\":\"PONG\"},{\"result\":\"PONG\"}]");
    EXPECT_ON(&kv_quota, "/", TOKEN, "[\"PING\"]", 0, 400,
              "{\"error\":\"ERR max daily request limit exceeded. Limit: 2, Usage: 2.\"}");
    EXPECT_ON(&kv_quota, "/_kvrest/faults", TOKEN, NULL, 0, 200,
              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,\"stall_rate\":0,"
              "\"stall_ms\":10000,\"quota\":2,\"quota_used\":2,\"seed\":5}");
}
END_TEST

START_TEST(token_from_environment)
{
    kt_resp r;
    EXPECT_ON(&kv_env, "/", ENV_TOKEN, "[\"SET\",\"env\",\"1\"]", 0, 200, "{\"result\":\"OK\"}");
    EXPECT_ON(&kv_env, "/", ENV_RO_TOKEN, "[\"GET\",\"env\"]", 0, 200, "{\"result\":\"1\"}");
    on(&kv_env, &r, "/", ENV_RO_TOKEN, "[\"DEL\",\"env\"]", 0);
    EXPECT_ERROR(&r, 400, "NOPERM");
    kt_free(&r);
    EXPECT_ON(&kv_env, "/", "", "[\"GET\",\"env\"]", 0, 401, "{\"error\":\"Unauthorized\"}");
    /* --quiet: nothing on stderr */
    char log[400];
    snprintf(log, sizeof log, "%s/kvrest.log", kv_env.dir);
    struct stat st;
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
}
END_TEST

void kvt_add_variants(Suite *s)
{
    TCASE_ADD(s,
              ((tcase_spec){.name = "variants",
                            .timeout = TEST_TIMEOUT,
                            .setup = fresh,
                            .once_setup = variants_up,
                            .once_teardown = variants_down}),
              redis_over_unix_socket, many_clients_small_pool, thread_pool_mode, max_body_flag,
              quota_flag, token_from_environment);
}
