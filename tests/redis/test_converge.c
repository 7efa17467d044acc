/* test_converge.c — retries converge against a real redis-server: a proxy
 * between the client and the server forwards a request, waits until the
 * server's reply starts (the script ran: applied), and then closes the
 * client's connection instead of passing the reply on.  The library sees
 * a dropped connection after sending (ambiguous), retries with the same
 * token, and every operation must answer what the first attempt did. */
#include "rtest.h"
#include "tcase.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The dropping proxy                                                   */

typedef struct dropper {
    int lfd, port;
    int upstream; /* the redis-server's port */
    char url[64];
    pthread_t thread;
    atomic_bool stop;
    atomic_int drop_next; /* drop the replies of this many next requests */
    atomic_int dropped;   /* replies dropped so far */
} dropper;

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Relay one client connection until either side closes or a reply is
 * dropped. */
static void relay(void *arg, int cfd)
{
    dropper *d = arg;
    int sfd = tsrv_connect(d->upstream);
    if (sfd < 0)
        return;
    char buf[65536];
    while (!atomic_load(&d->stop)) {
        struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(p, 2, 100) <= 0)
            continue;
        if (p[0].revents) {
            ssize_t n = recv(cfd, buf, sizeof buf, 0);
            if (n <= 0 || !write_all(sfd, buf, (size_t)n))
                break;
            if (atomic_load(&d->drop_next) > 0) {
                /* Let the server run it: wait for the first byte of its
                 * reply (a poll with a deadline, not a sleep), then hang
                 * up on the client without passing the reply on. */
                struct pollfd ps = {sfd, POLLIN, 0};
                if (poll(&ps, 1, 5000) == 1) {
                    atomic_fetch_sub(&d->drop_next, 1);
                    atomic_fetch_add(&d->dropped, 1);
                }
                break;
            }
        }
        if (p[1].revents) {
            ssize_t n = recv(sfd, buf, sizeof buf, 0);
            if (n <= 0 || !write_all(cfd, buf, (size_t)n))
                break;
        }
    }
    close(sfd);
}

static void *dropper_main(void *arg)
{
    dropper *d = arg;
    tsrv_accept_loop(d->lfd, &d->stop, relay, d);
    return NULL;
}

static void dropper_start(dropper *d, int upstream)
{
    memset(d, 0, sizeof *d);
    d->upstream = upstream;
    d->lfd = tsrv_listen(16, &d->port);
    ck_assert_int_ge(d->lfd, 0);
    snprintf(d->url, sizeof d->url, "redis://127.0.0.1:%d", d->port);
    ck_assert_int_eq(pthread_create(&d->thread, NULL, dropper_main, d), 0);
}

static void dropper_stop(dropper *d)
{
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    close(d->lfd);
}

/* ------------------------------------------------------------------ */

static dropper drop;

static void drop_setup(void)
{
    rt_setup();
    dropper_start(&drop, rt_srv.port);
}

static void drop_teardown(void)
{
    rt_teardown();
    dropper_stop(&drop);
}

/* A handle through the proxy, with its scripts cached (warm-up), so that
 * the next request of an operation is its one EVALSHA. */
static sqclaim_store *open_via_proxy(int retries)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = drop.url;
    o.key_prefix = rt_prefix;
    o.timeout_ms = 5000;
    o.retries = retries;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(rt_open_opts(&o, &s), SQCLAIM_OK);
    sqclaim_lease w;
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_claim(s, "warm", "BOT0", 60000, &w, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_renew(s, &w, 0), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &w, 1, 0, &rows), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_finish_rows(s, &w), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_release(s, &w), SQCLAIM_OK);
    uint64_t cur;
    ck_assert_int_eq(sqclaim_raise_cursor(s, 1, &cur), SQCLAIM_BUSY);
    ck_assert_int_eq(sqclaim_break(s, "warm", NULL, 0, NULL), SQCLAIM_OK);
    return s;
}

/* BOT1 claims sq (60 s) and reserves count rows: both must succeed. */
static sqclaim_rows claim_with_rows(sqclaim_store *s, const char *sq, uint32_t count,
                                    sqclaim_lease *l)
{
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_claim(s, sq, "BOT1", 60000, l, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_reserve_rows(s, l, count, 0, &rows), SQCLAIM_OK);
    return rows;
}

/* Drop the replies of the next n requests; run; check that n were dropped
 * and that the client saw them as ambiguous. */
#define DROPPING(s, n, call)                                                                       \
    do {                                                                                           \
        uint64_t amb_ = rt_stats(s).ambiguous;                                                     \
        int before_ = atomic_load(&drop.dropped);                                                  \
        atomic_store(&drop.drop_next, (n));                                                        \
        call;                                                                                      \
        ck_assert_int_eq(atomic_load(&drop.dropped) - before_, (n));                               \
        ck_assert_uint_eq(rt_stats(s).ambiguous - amb_, (uint64_t)(n));                            \
    } while (0)

START_TEST(test_finish_after_lost_reply_is_ok)
{
    /* Issue 9, item 1: a finish whose reply was lost said LOST although
     * the claim was still held. */
    sqclaim_store *s = open_via_proxy(2);
    sqclaim_lease l;
    sqclaim_rows rows = claim_with_rows(s, "SQ-F", 5, &l);
    sqclaim_rc rc;
    DROPPING(s, 1, rc = sqclaim_finish_rows(s, &l));
    ck_assert_msg(rc == SQCLAIM_OK, "finish: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_null(rt_get("refund:SQ-F"));
    ck_assert_int_gt(rt_pttl("sq:SQ-F"), 50000); /* still held */
    /* Twice in a row lost: still converges. */
    ck_assert_int_eq(sqclaim_reserve_rows(s, &l, 5, 0, &rows), SQCLAIM_OK);
    DROPPING(s, 2, rc = sqclaim_finish_rows(s, &l));
    ck_assert_msg(rc == SQCLAIM_OK, "finish: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_int_eq(sqclaim_release(s, &l), SQCLAIM_OK);
}
END_TEST

START_TEST(test_release_after_lost_reply_is_ok)
{
    sqclaim_store *s = open_via_proxy(2);
    sqclaim_lease l, other;
    claim_with_rows(s, "SQ-R", 2, &l);
    sqclaim_rc rc;
    DROPPING(s, 1, rc = sqclaim_release(s, &l));
    ck_assert_msg(rc == SQCLAIM_OK, "release: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_null(rt_get("sq:SQ-R"));
    ck_assert_ptr_null(rt_get("refund:SQ-R"));
    /* A lease rebuilt from its token (the CLI's) has no local deadline:
     * the retry's "not held" cannot be told from an expiry, so LOST, with
     * a message that says the lost attempt may have released it. */
    ck_assert_int_eq(sqclaim_claim(s, "SQ-R", "BOT2", 60000, &other, NULL), SQCLAIM_OK);
    sqclaim_lease rebuilt;
    char *json = sqclaim_lease_to_json(&other);
    ck_assert_int_eq(sqclaim_lease_from_json(json, &rebuilt, NULL, 0), SQCLAIM_OK);
    sqclaim_free(json);
    DROPPING(s, 1, rc = sqclaim_release(s, &rebuilt));
    ck_assert_int_eq(rc, SQCLAIM_LOST);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have released it"));
    ck_assert_ptr_null(rt_get("sq:SQ-R"));
}
END_TEST

START_TEST(test_renew_reserve_claim_after_lost_reply)
{
    sqclaim_store *s = open_via_proxy(2);
    sqclaim_lease l;
    sqclaim_rc rc;
    /* claim: the retry finds its own token; one fence minted. */
    redisReply *r = rt_cmd(rt_raw, "SET %ssqclaim:fence 500", rt_prefix);
    freeReplyObject(r);
    DROPPING(s, 1, rc = sqclaim_claim(s, "SQ-C", "BOT1", 60000, &l, NULL));
    ck_assert_msg(rc == SQCLAIM_OK, "claim: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert(l.flags & SQCLAIM_LEASE_RECLAIMED);
    ck_assert_uint_eq(l.fence, 501);
    char *fence = rt_get("sqclaim:fence");
    ck_assert_str_eq(fence, "501");
    free(fence);
    /* renew: extended (again) by the retry. */
    DROPPING(s, 1, rc = sqclaim_renew(s, &l, 120000));
    ck_assert_msg(rc == SQCLAIM_OK, "renew: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_int_gt(rt_pttl("sq:SQ-C"), 110000);
    /* reserve: the retry finds its own range; the cursor moved once. */
    sqclaim_rows rows;
    DROPPING(s, 1, rc = sqclaim_reserve_rows(s, &l, 7, 0, &rows));
    ck_assert_msg(rc == SQCLAIM_OK, "reserve: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    char *cur = rt_get("sqclaim:rowcursor");
    ck_assert_uint_eq(strtoull(cur, NULL, 10), rows.start_row + 7);
    free(cur);
    /* The operator tools: break and raise-cursor converge too. */
    uint64_t to = rows.start_row + 100, now = 0;
    DROPPING(s, 1, rc = sqclaim_raise_cursor(s, to, &now));
    ck_assert_int_eq(rc, SQCLAIM_OK);
    ck_assert_uint_eq(now, to);
    sqclaim_entry e;
    ck_assert_int_eq(sqclaim_inspect(s, "SQ-C", &e), SQCLAIM_OK);
    unsigned removed = 0;
    DROPPING(s, 1, rc = sqclaim_break(s, "SQ-C", &e, SQCLAIM_BREAK_FORCE, &removed));
    ck_assert_msg(rc == SQCLAIM_OK, "break: %s (%s)", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_uint_eq(removed, SQCLAIM_BROKE_CLAIM | SQCLAIM_BROKE_RESERVATION);
    ck_assert_ptr_null(rt_get("sq:SQ-C"));
}
END_TEST

Suite *rt_converge_suite(void)
{
    Suite *s = suite_create("redis-converge");
    TCASE_ADD(s,
              ((tcase_spec){.name = "dropped-replies",
                            .timeout = 60,
                            .setup = drop_setup,
                            .teardown = drop_teardown,
                            .once_setup = rt_server_start,
                            .once_teardown = rt_server_stop}),
              test_finish_after_lost_reply_is_ok, test_release_after_lost_reply_is_ok,
              test_renew_reserve_claim_after_lost_reply);
    return s;
}
