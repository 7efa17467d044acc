/* main.c — the CLI tests: start the servers the remote backends need
 * (redis-server, one with a password, kvrest), then run every suite
 * against the real, built sqclaim program. */
#include "tcli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tc_backend tc_backends[TC_MAX_BACKENDS];
int tc_nbackends;
tsrv tc_redis, tc_redis_pw, tc_kvrest;

bool tc_built(const char *name)
{
    for (const char *const *n = sqclaim_adapters(); *n; n++)
        if (strcmp(*n, name) == 0)
            return true;
    return false;
}

static void add_backend(const char *name, const char *url_var, const char *url, const char *token)
{
    tc_backend *b = &tc_backends[tc_nbackends++];
    b->name = name;
    int k = 0;
    snprintf(b->store[0], sizeof b->store[0], "SQCLAIM_ADAPTER=%s", name);
    b->env[k++] = b->store[0];
    snprintf(b->store[1], sizeof b->store[1], "%s=%s", url_var, url);
    b->env[k++] = b->store[1];
    if (token) {
        snprintf(b->store[2], sizeof b->store[2], "KV_REST_API_TOKEN=%s", token);
        b->env[k++] = b->store[2];
    }
    b->env[k] = NULL;
}

static int start_servers(void)
{
    bool redis = tc_built("redis"), vercel = tc_built("vercel");
    if (!redis && !vercel)
        return 0;
    if (tsrv_redis_start(&tc_redis, NULL) != 0)
        return -1;
    if (redis) {
        if (tsrv_redis_start(&tc_redis_pw, TC_REDIS_PASSWORD) != 0)
            return -1;
        add_backend("redis", "REDIS_URL", tc_redis.url, NULL);
    }
    if (vercel) {
        if (tsrv_kvrest_start(&tc_kvrest, &tc_redis, TC_KV_TOKEN, NULL) != 0)
            return -1;
        add_backend("vercel", "KV_REST_API_URL", tc_kvrest.url, TC_KV_TOKEN);
    }
    return 0;
}

static void stop_servers(void)
{
    tsrv_stop(&tc_kvrest);
    tsrv_stop(&tc_redis_pw);
    tsrv_stop(&tc_redis);
}

int main(void)
{
    /* A program that does not read all of its input must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (access(cr_program(), X_OK) != 0) {
        fprintf(stderr, "cli tests: %s is not an executable (build it, or set SQCLAIM_CLI)\n",
                cr_program());
        return EXIT_FAILURE;
    }
    if (start_servers() != 0) {
        fprintf(stderr, "cli tests: could not start the servers\n");
        stop_servers();
        return EXIT_FAILURE;
    }
    fprintf(stderr, "cli tests: program %s; remote backends:", cr_program());
    for (int i = 0; i < tc_nbackends; i++)
        fprintf(stderr, " %s", tc_backends[i].name);
    fprintf(stderr, "%s\n", tc_nbackends ? "" : " none built");

    SRunner *sr = srunner_create(tc_unit_suite());
    srunner_add_suite(sr, tc_basic_suite());
    srunner_add_suite(sr, tc_watch_suite());
    srunner_add_suite(sr, tc_operator_suite());
    if (tc_nbackends)
        srunner_add_suite(sr, tc_remote_suite());
    if (tc_nbackends)
        srunner_add_suite(sr, tc_limits_suite());
    if (tc_built("vercel"))
        srunner_add_suite(sr, tc_botloop_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_servers();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
