/* test_secrets.c — no message of the redis backend ever carries a secret:
 * the password in the URL, or a lease token (ours, or another bot's).
 *
 * Every error path reachable from here is driven with every operation: a
 * real redis-server with a password (wrong password, none given, a
 * database it does not have), the server down, a connection that is
 * never answered, garbage, and peers that quote the request back the way
 * Redis does for a command it refuses ("with args beginning with: …"),
 * or in a form of their own, AUTH included.  Each message is checked for
 * each secret and for any run of 32 or more hex digits. */
#include "rtest.h"
#include "storeops.h"
#include "tcase.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WRONG_PW "wr0ng-PW-secret-41"
/* The lease token of every operation but claim (claim makes its own). */
#define LEASE_TOKEN TOPS_LEASE_TOKEN

static const char *const secrets[] = {RT_PASSWORD, WRONG_PW, LEASE_TOKEN};
static const tops_args args = TOPS_SECRETS_ARGS(secrets);

typedef struct target {
    const char *url;
    int timeout_ms;
    const char *where;
} target;

/* A handle (not registered for teardown: tops_all closes it). */
static sqclaim_store *open_target(const void *ctx)
{
    const target *t = ctx;
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = t->url;
    o.key_prefix = rt_prefix;
    o.connect_timeout_ms = t->timeout_ms;
    o.timeout_ms = t->timeout_ms;
    o.retries = 1;
    o.adapter = "redis";
    sqclaim_store *s = NULL;
    sqclaim_rc orc = sqclaim_open(&o, &s);
    ck_assert_msg(orc == SQCLAIM_OK, "%s: open: %s", t->where, sqclaim_errmsg(s));
    return s;
}

/* Every operation, each on a fresh handle; the rcs in rcs[] (may be NULL).
 * Returns how many failed. */
static int all_ops(const char *url, int timeout_ms, const char *where, sqclaim_rc *rcs)
{
    target t = {url, timeout_ms, where};
    return tops_all(&args, open_target, &t, where, rcs);
}

START_TEST(test_auth_failures_show_no_password)
{
    char url[256];
    sqclaim_rc rcs[TOPS_COUNT];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d", WRONG_PW, rt_srv.port);
    all_ops(url, 2000, "wrong password", rcs);
    tops_expect_all(rcs, SQCLAIM_EAUTH, "wrong password");
    snprintf(url, sizeof url, "redis://default:%s@127.0.0.1:%d", WRONG_PW, rt_srv.port);
    all_ops(url, 2000, "wrong user password", rcs);
    tops_expect_all(rcs, SQCLAIM_EAUTH, "wrong user password");
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", rt_srv.port);
    all_ops(url, 2000, "no password", rcs);
    tops_expect_all(rcs, SQCLAIM_EAUTH, "no password");
    /* The right password, a database the server does not have. */
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/999", RT_PASSWORD, rt_srv.port);
    all_ops(url, 2000, "bad database", rcs);
    tops_expect_all(rcs, SQCLAIM_ECONFIG, "bad database");
}
END_TEST

START_TEST(test_unreachable_servers_show_no_secret)
{
    /* Down: a port nothing listens on. */
    int port;
    int fd = tsrv_listen(-1, &port);
    ck_assert_int_ge(fd, 0);
    char url[256];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/3", RT_PASSWORD, port);
    ck_assert_int_eq(all_ops(url, 300, "refused", NULL), TOPS_COUNT);
    /* Never answered: a listener that does not accept. */
    ck_assert_int_eq(listen(fd, 64), 0);
    ck_assert_int_eq(all_ops(url, 300, "no reply", NULL), TOPS_COUNT);
    close(fd);
}
END_TEST

START_TEST(test_hostile_peers_show_no_secret)
{
    /* Peers quoting each request (AUTH with the password, EVALSHA with
     * the lease token) in an error reply. */
    static const char modes[] = {'u', 'e'};
    for (size_t i = 0; i < sizeof modes; i++) {
        rt_rogue r;
        rt_rogue_start_echo(&r, modes[i]);
        char where[32];
        snprintf(where, sizeof where, "echo '%c'", modes[i]);
        ck_assert_int_eq(all_ops(r.url, 1000, where, NULL), TOPS_COUNT);
        ck_assert_int_eq(all_ops(r.auth_url, 1000, where, NULL), TOPS_COUNT);
        rt_rogue_stop(&r);
    }
    /* Replies of the wrong shape carrying a lease token, or another
     * bot's stored value; garbage. */
    static const char *const replies[] = {
        "$32\r\n" LEASE_TOKEN "\r\n",
        "+" LEASE_TOKEN "\r\n",
        "-ERR " LEASE_TOKEN "\r\n",
        "*2\r\n$32\r\n" LEASE_TOKEN "\r\n:1\r\n",
        "$41\r\n" LEASE_TOKEN "\",\"f\":\r\n",
        "!!! " LEASE_TOKEN " not RESP\r\n",
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        rt_rogue r;
        rt_rogue_start(&r, replies[i]);
        char where[32];
        snprintf(where, sizeof where, "canned reply %zu", i);
        ck_assert_int_gt(all_ops(r.url, 1000, where, NULL), 0);
        rt_rogue_stop(&r);
    }
}
END_TEST

Suite *rt_secrets_suite(void)
{
    Suite *su = suite_create("redis-secrets");
    TCASE_ADD(su,
              ((tcase_spec){.name = "auth",
                            .timeout = 60,
                            .setup = rt_setup,
                            .teardown = rt_teardown,
                            .once_setup = rt_auth_server_start,
                            .once_teardown = rt_server_stop}),
              test_auth_failures_show_no_password);
    TCASE_ADD(
        su,
        ((tcase_spec){.name = "peers", .timeout = 60, .setup = rt_setup, .teardown = rt_teardown}),
        test_unreachable_servers_show_no_secret, test_hostile_peers_show_no_secret);
    return su;
}
