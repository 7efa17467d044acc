/* main.c — the scripted store's tests (sim/det/, docs/det.md):
 *   store  — its own behaviour in virtual time (expiry at the exact
 *            instant, time frozen inside a script, restart and NOSCRIPT,
 *            the fault hooks, determinism, several stores side by side);
 *   raw    — random command sequences compared with a real redis-server;
 *   proto  — random protocol operations through proto.c compared with a
 *            real redis-server.
 * The differential cases start their own redis-server (tests/support). */
#include "diffcommon.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

TCase *store_tcase(void);
TCase *diff_raw_tcase(void);
TCase *diff_proto_tcase(void);

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

int main(void)
{
    Suite *s = suite_create("det");
    suite_add_tcase(s, store_tcase());
    TCase *diff[] = {diff_raw_tcase(), diff_proto_tcase()};
    for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++) {
        tcase_add_unchecked_fixture(diff[i], start_redis, stop_redis);
        tcase_add_checked_fixture(diff[i], connect_redis, disconnect_redis);
        suite_add_tcase(s, diff[i]);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
