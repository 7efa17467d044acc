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

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WRONG_PW "wr0ng-PW-secret-41"
/* The lease token of every operation but claim (claim makes its own). */
#define LEASE_TOKEN "5ec2e75ec2e75ec2e75ec2e75ec2e7aa"

enum op {
    OP_CLAIM,
    OP_CLAIM_FIRST,
    OP_RENEW,
    OP_RELEASE,
    OP_RESERVE,
    OP_FINISH,
    OP_STATUS,
    OP_PING
};
static const char *const op_names[] = {"claim",   "claim-first", "renew",  "release",
                                       "reserve", "finish",      "status", "ping"};
#define OP_COUNT 8

static bool has_hex_run(const char *s)
{
    size_t run = 0;
    for (; *s; s++) {
        run = isxdigit((unsigned char)*s) ? run + 1 : 0;
        if (run >= 32)
            return true;
    }
    return false;
}

static sqclaim_rc run_op(sqclaim_store *s, enum op op, const char *where)
{
    sqclaim_lease l;
    memset(&l, 0, sizeof l);
    snprintf(l.sq, sizeof l.sq, "SEC-1");
    snprintf(l.bot, sizeof l.bot, "BOT1");
    snprintf(l.token, sizeof l.token, "%s", LEASE_TOKEN);
    l.fence = 3;
    l.ttl_ms = 60000;
    sqclaim_rows rows;
    sqclaim_status *st = NULL;
    sqclaim_rc rc = SQCLAIM_OK;
    switch (op) {
    case OP_CLAIM: rc = sqclaim_claim(s, "SEC-1", "BOT1", 0, &l, NULL); break;
    case OP_CLAIM_FIRST: {
        const char *c[] = {"SEC-1", "SEC-2"};
        rc = sqclaim_claim_first(s, c, 2, "BOT1", 0, &l, NULL);
        break;
    }
    case OP_RENEW: rc = sqclaim_renew(s, &l, 0); break;
    case OP_RELEASE: rc = sqclaim_release(s, &l); break;
    case OP_RESERVE: rc = sqclaim_reserve_rows(s, &l, 5, 0, &rows); break;
    case OP_FINISH: rc = sqclaim_finish_rows(s, &l); break;
    case OP_STATUS:
        rc = sqclaim_status_get(s, &st);
        sqclaim_status_free(st);
        break;
    case OP_PING: rc = sqclaim_ping(s); break;
    }
    if (rc != SQCLAIM_OK) {
        const char *msg = sqclaim_errmsg(s);
        const char *secrets[] = {RT_PASSWORD, WRONG_PW, LEASE_TOKEN, l.token};
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            ck_assert_msg(!*secrets[i] || !strstr(msg, secrets[i]),
                          "%s, %s (%s): the message shows a secret: %s", where, op_names[op],
                          sqclaim_rcname(rc), msg);
        ck_assert_msg(!has_hex_run(msg), "%s, %s (%s): the message shows a token-like value: %s",
                      where, op_names[op], sqclaim_rcname(rc), msg);
    }
    return rc;
}

/* Every operation, each on a fresh handle; the rcs in rcs[] (may be NULL).
 * Returns how many failed. */
static int all_ops(const char *url, int timeout_ms, const char *where, sqclaim_rc *rcs)
{
    int failed = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        sqclaim_options o;
        sqclaim_options_init(&o);
        o.redis_url = url;
        o.key_prefix = rt_prefix;
        o.connect_timeout_ms = timeout_ms;
        o.timeout_ms = timeout_ms;
        o.retries = 1;
        o.adapter = "redis";
        sqclaim_store *s = NULL;
        sqclaim_rc orc = sqclaim_open(&o, &s);
        ck_assert_msg(orc == SQCLAIM_OK, "%s: open: %s", where, sqclaim_errmsg(s));
        sqclaim_rc rc = run_op(s, (enum op)op, where);
        sqclaim_close(s);
        if (rcs)
            rcs[op] = rc;
        failed += rc != SQCLAIM_OK;
    }
    return failed;
}

static void expect_all(const sqclaim_rc *rcs, sqclaim_rc want, const char *where)
{
    for (int op = 0; op < OP_COUNT; op++)
        ck_assert_msg(rcs[op] == want, "%s, %s: %s, want %s", where, op_names[op],
                      sqclaim_rcname(rcs[op]), sqclaim_rcname(want));
}

START_TEST(test_auth_failures_show_no_password)
{
    char url[256];
    sqclaim_rc rcs[OP_COUNT];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d", WRONG_PW, rt_srv.port);
    all_ops(url, 2000, "wrong password", rcs);
    expect_all(rcs, SQCLAIM_EAUTH, "wrong password");
    snprintf(url, sizeof url, "redis://default:%s@127.0.0.1:%d", WRONG_PW, rt_srv.port);
    all_ops(url, 2000, "wrong user password", rcs);
    expect_all(rcs, SQCLAIM_EAUTH, "wrong user password");
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", rt_srv.port);
    all_ops(url, 2000, "no password", rcs);
    expect_all(rcs, SQCLAIM_EAUTH, "no password");
    /* The right password, a database the server does not have. */
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/999", RT_PASSWORD, rt_srv.port);
    all_ops(url, 2000, "bad database", rcs);
    expect_all(rcs, SQCLAIM_ECONFIG, "bad database");
}
END_TEST

START_TEST(test_unreachable_servers_show_no_secret)
{
    /* Down: a port nothing listens on. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char url[256];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/3", RT_PASSWORD, ntohs(a.sin_port));
    ck_assert_int_eq(all_ops(url, 300, "refused", NULL), OP_COUNT);
    /* Never answered: a listener that does not accept. */
    ck_assert_int_eq(listen(fd, 64), 0);
    ck_assert_int_eq(all_ops(url, 300, "no reply", NULL), OP_COUNT);
    close(fd);
}
END_TEST

START_TEST(test_hostile_peers_show_no_secret)
{
    char url[256];
    /* Peers quoting each request (AUTH with the password, EVALSHA with
     * the lease token) in an error reply. */
    static const char modes[] = {'u', 'e'};
    for (size_t i = 0; i < sizeof modes; i++) {
        rt_rogue r;
        rt_rogue_start_echo(&r, modes[i]);
        char where[32];
        snprintf(where, sizeof where, "echo '%c'", modes[i]);
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", r.port);
        ck_assert_int_eq(all_ops(url, 1000, where, NULL), OP_COUNT);
        snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/2", RT_PASSWORD, r.port);
        ck_assert_int_eq(all_ops(url, 1000, where, NULL), OP_COUNT);
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
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", r.port);
        ck_assert_int_gt(all_ops(url, 1000, where, NULL), 0);
        rt_rogue_stop(&r);
    }
}
END_TEST

Suite *rt_secrets_suite(void)
{
    Suite *su = suite_create("redis-secrets");
    TCase *tc = tcase_create("auth");
    tcase_add_unchecked_fixture(tc, rt_auth_server_start, rt_server_stop);
    tcase_add_checked_fixture(tc, rt_setup, rt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_auth_failures_show_no_password);
    suite_add_tcase(su, tc);
    tc = tcase_create("peers");
    tcase_add_checked_fixture(tc, rt_setup, rt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unreachable_servers_show_no_secret);
    tcase_add_test(tc, test_hostile_peers_show_no_secret);
    suite_add_tcase(su, tc);
    return su;
}
