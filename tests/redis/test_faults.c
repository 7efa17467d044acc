/* test_faults.c — the redis backend when things go wrong: server down,
 * connect and reply timeouts, restarts, malformed replies; and processes
 * racing for the same SQs, checked by an oracle outside the library. */
#include "rtest.h"
#include "storeops.h"
#include "tcase.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static sqclaim_store *open_timeouts(const char *url, int connect_ms, int timeout_ms, int retries)
{
    sqclaim_options o = tops_options((sqclaim_options){.redis_url = url,
                                                       .key_prefix = rt_prefix,
                                                       .connect_timeout_ms = connect_ms,
                                                       .timeout_ms = timeout_ms,
                                                       .retries = retries});
    sqclaim_store *s = NULL;
    sqclaim_rc rc = rt_open_opts(&o, &s);
    ck_assert_msg(rc == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    return s;
}

/* Backoff between attempts in the core: < 1.5 x (25 ms << attempt). */
static long long backoff_bound_ms(int retries)
{
    long long sum = 0;
    for (int a = 0; a < retries; a++)
        sum += (25LL << a) * 3 / 2;
    return sum;
}

/* Claim sq for BOT1 (ttl; sq NULL: ping instead), timed: the answer must be
 * want, with text in its message.  The milliseconds it took. */
static long long timed(sqclaim_store *s, const char *sq, int64_t ttl, sqclaim_lease *l,
                       sqclaim_rc want, const char *text)
{
    long long t0 = tsrv_now_ms();
    sqclaim_rc rc = sq ? sqclaim_claim(s, sq, "BOT1", ttl, l, NULL) : sqclaim_ping(s);
    long long elapsed = tsrv_now_ms() - t0;
    ck_assert_msg(rc == want, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), text));
    return elapsed;
}

/* An operation with `retries` of `timeout` ms each took at least min ms and
 * no longer than every attempt, the backoffs and 500 ms of slack. */
static void expect_took(long long elapsed, long long min, int retries, int timeout)
{
    ck_assert_msg(elapsed >= min &&
                      elapsed <= (retries + 1) * timeout + backoff_bound_ms(retries) + 500,
                  "took %lld ms", elapsed);
}

/* A listening socket on 127.0.0.1 that never accepts.  backlog 0: after
 * one pending connection the kernel drops further SYNs, so connects hang
 * (connect timeout); with a large backlog connects complete and requests
 * are never answered (reply timeout). */
static int silent_listener(int backlog, int *port)
{
    int fd = tsrv_listen(backlog, port);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* ------------------------------------------------------------------ */
/* Server down, timeouts                                                */

START_TEST(test_server_down_is_eio_within_timeout)
{
    tsrv dead;
    ck_assert_int_eq(tsrv_redis_start(&dead, NULL), 0);
    char url[128];
    snprintf(url, sizeof url, "%s", dead.url);
    tsrv_kill(&dead, SIGTERM); /* keep the port: nothing listens there now */

    enum { TIMEOUT = 300, RETRIES = 2 };
    sqclaim_store *s = open_timeouts(url, TIMEOUT, TIMEOUT, RETRIES);
    sqclaim_lease l;
    long long elapsed = timed(s, "SQ-D", 0, &l, SQCLAIM_EIO, "could not connect");
    expect_took(elapsed, 0, RETRIES, TIMEOUT);
    /* Nothing was sent: the claim is not uncertain. */
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    sqclaim_stats st = rt_stats(s);
    ck_assert_uint_eq(st.ambiguous, 0);
    ck_assert_uint_eq(st.round_trips, 0);
    ck_assert_uint_eq(st.retries, RETRIES);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_EIO);
    tsrv_stop(&dead);
}
END_TEST

START_TEST(test_connect_timeout)
{
    int port;
    int lfd = silent_listener(0, &port);
    /* Fill the accept queue so the next SYNs are dropped. */
    struct sockaddr_in a = tsrv_loopback(port);
    int filler[2];
    for (int i = 0; i < 2; i++) {
        filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)connect(filler[i], (struct sockaddr *)&a, sizeof a);
    }
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    enum { TIMEOUT = 250, RETRIES = 1 };
    sqclaim_store *s = open_timeouts(url, TIMEOUT, TIMEOUT, RETRIES);
    long long elapsed =
        timed(s, NULL, 0, NULL, SQCLAIM_ETIMEOUT, "could not connect within 250 ms");
    expect_took(elapsed, TIMEOUT, RETRIES, TIMEOUT);
    ck_assert_uint_eq(rt_stats(s).ambiguous, 0);
    for (int i = 0; i < 2; i++)
        close(filler[i]);
    close(lfd);
}
END_TEST

START_TEST(test_reply_timeout_is_ambiguous)
{
    int port;
    int lfd = silent_listener(64, &port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    enum { TIMEOUT = 250, RETRIES = 2 };
    sqclaim_store *s = open_timeouts(url, TIMEOUT, TIMEOUT, RETRIES);
    sqclaim_lease l;
    long long elapsed = timed(s, "SQ-T", 60000, &l, SQCLAIM_ETIMEOUT, "no reply within 250 ms");
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "may have been granted"));
    /* The request was sent: the lease may be held, and says so. */
    ck_assert(l.flags & SQCLAIM_LEASE_UNCERTAIN);
    ck_assert_str_eq(l.sq, "SQ-T");
    ck_assert_int_eq(strlen(l.token), SQCLAIM_TOKEN_LEN);
    ck_assert(!sqclaim_may_act(s, &l));
    expect_took(elapsed, (RETRIES + 1) * TIMEOUT, RETRIES, TIMEOUT);
    sqclaim_stats st = rt_stats(s);
    ck_assert_uint_eq(st.ambiguous, RETRIES + 1);
    ck_assert_uint_eq(st.round_trips, RETRIES + 1);
    ck_assert_uint_eq(st.reconnects, RETRIES);
    close(lfd);
}
END_TEST

/* timeout_ms bounds the whole exchange.  A peer that sends a byte every
 * 100 ms is never silent for a whole timeout, so a timeout per read()
 * (hiredis's SO_RCVTIMEO) would wait out the full 29-byte reply, ~2.9 s. */
START_TEST(test_trickling_reply_times_out)
{
    enum { TIMEOUT = 300 };
    rt_rogue r;
    rt_rogue_start_trickle(&r, "*5\r\n:1\r\n:0\r\n:3\r\n:100\r\n:0\r\n", 100);
    sqclaim_store *s = open_timeouts(r.url, 1000, TIMEOUT, -1);
    sqclaim_lease l;
    long long elapsed = timed(s, "SQ-TR", 60000, &l, SQCLAIM_ETIMEOUT, "no reply within 300 ms");
    ck_assert(l.flags & SQCLAIM_LEASE_UNCERTAIN);
    /* Generous for a loaded machine, far below the 2.9 s of a per-read
     * timeout. */
    ck_assert_msg(elapsed >= TIMEOUT && elapsed < 1500, "took %lld ms", elapsed);
    rt_rogue_stop(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Restarts                                                             */

START_TEST(test_restart_reconnects_without_wrong_answers)
{
    tsrv srv;
    ck_assert_int_eq(tsrv_redis_start(&srv, NULL), 0);
    sqclaim_store *s = open_timeouts(srv.url, 2000, 2000, 2);
    sqclaim_lease a, b;
    ck_assert_int_eq(sqclaim_claim(s, "SQ-A", "BOT1", 60000, &a, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s, "SQ-B", "BOT1", 60000, &b, NULL), SQCLAIM_OK);
    ck_assert_uint_eq(b.fence, a.fence + 1);
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(s, &a, 10, 0, &rows), SQCLAIM_OK);
    ck_assert_uint_eq(rows.start_row, 1);

    /* No persistence: the restart loses every key, the fence counter and
     * the row cursor included (docs/redis.md says so). */
    ck_assert_int_eq(tsrv_redis_restart(&srv), 0);

    /* The claim made before the restart is gone: renew says LOST, which is
     * the truth; it is never revived. */
    sqclaim_rc rc = sqclaim_renew(s, &a, 0);
    ck_assert_msg(rc == SQCLAIM_LOST, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    sqclaim_stats st = rt_stats(s);
    ck_assert_uint_eq(st.reconnects, 1);
    /* The closed connection was noticed before sending: not ambiguous. */
    ck_assert_uint_eq(st.ambiguous, 0);
    ck_assert_int_eq(sqclaim_release(s, &b), SQCLAIM_LOST);

    /* Another bot can claim it now; the lost fence counter is rebuilt from
     * the server's clock, so fences never go back (docs/protocol.md). */
    sqclaim_lease c;
    ck_assert_int_eq(sqclaim_claim(s, "SQ-A", "BOT2", 60000, &c, NULL), SQCLAIM_OK);
    ck_assert_uint_gt(c.fence, b.fence);
    ck_assert_int_eq(sqclaim_reserve_rows(s, &c, 3, 0, &rows), SQCLAIM_OK);
    ck_assert_uint_eq(rows.start_row, 1); /* the row cursor restarted too */

    /* Server down: clear EIO; back up: the handle reconnects by itself. */
    tsrv_kill(&srv, SIGTERM);
    rc = sqclaim_renew(s, &c, 0);
    ck_assert_msg(rc == SQCLAIM_EIO, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_int_eq(tsrv_redis_restart(&srv), 0);
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(s, "SQ-A", "BOT3", 60000, &c, NULL), SQCLAIM_OK);
    ck_assert_uint_ge(rt_stats(s).reconnects, 2);
    tsrv_stop(&srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Malformed and unexpected replies, from a peer speaking RESP           */

/* The made-up lease of the operations that need one: what they send does
 * not matter, the peer answers every request with the same bytes. */
static const tops_args op_args = {
    .sq = "SQ", .first = {"SQ1", "SQ2"}, .token = "0123456789abcdef0123456789abcdef", .fence = 1};

static sqclaim_rc run_op(sqclaim_store *s, tops_op op, sqclaim_lease *out_lease)
{
    return tops_run(s, op, &op_args, out_lease);
}

typedef struct rogue_case {
    const char *reply;
    tops_op op;
    sqclaim_rc want;
    const char *text; /* expected in the message */
    int requests;     /* expected requests seen by the peer (retries 2) */
} rogue_case;

/* A peer answering every request with c->reply: c->op answers c->want with
 * c->text in its message, after c->requests requests (retries 2); a claim
 * whose reply did not decode is uncertain.  label and i name the case. */
static void expect_rogue(const rogue_case *c, const char *label, size_t i)
{
    rt_rogue r;
    rt_rogue_start(&r, c->reply);
    sqclaim_store *s = open_timeouts(r.url, 1000, 2000, 2);
    sqclaim_lease l;
    sqclaim_rc rc = run_op(s, c->op, &l);
    const char *msg = sqclaim_errmsg(s);
    ck_assert_msg(rc == c->want && strstr(msg, c->text) != NULL,
                  "%s %zu (%s): got %s \"%s\", want %s with \"%s\"", label, i, c->reply,
                  sqclaim_rcname(rc), msg, sqclaim_rcname(c->want), c->text);
    int seen = atomic_load(&r.requests);
    ck_assert_msg(seen == c->requests, "%s %zu: %d requests, want %d", label, i, seen, c->requests);
    if ((c->op == TOPS_CLAIM || c->op == TOPS_CLAIM_FIRST) && c->want == SQCLAIM_EPROTOCOL) {
        ck_assert_msg(l.flags & SQCLAIM_LEASE_UNCERTAIN,
                      "%s %zu: a claim whose reply did not decode is not uncertain", label, i);
        ck_assert_msg(strstr(msg, "may have been granted"), "%s %zu: %s", label, i, msg);
    }
    rt_rogue_stop(&r);
}

START_TEST(test_malformed_replies)
{
    /* A script reply that does not decode means the script ran and did
     * something the reply failed to say: maybe applied, so the core
     * re-sends it (3 requests with retries 2) and a claim is left
     * uncertain, never reported as simply failed. */
    static const struct {
        const char *reply;
        tops_op op;
        const char *text;
    } undecodable[] = {
        {":5\r\n", TOPS_CLAIM, "unexpected reply to the claim script"},
        {"*2\r\n:1\r\n:0\r\n", TOPS_CLAIM, "5 integers"},
        {"*5\r\n:1\r\n:7\r\n:3\r\n:100\r\n:0\r\n", TOPS_CLAIM, "granted candidate 7"},
        {"*5\r\n:1\r\n:-1\r\n:3\r\n:100\r\n:0\r\n", TOPS_CLAIM_FIRST, "granted candidate"},
        {"*5\r\n:1\r\n:0\r\n:0\r\n:100\r\n:1\r\n", TOPS_CLAIM, "no valid fence"},
        {"*5\r\n:1\r\n:0\r\n:3\r\n:100\r\n:9\r\n", TOPS_CLAIM, "reclaimed flag"},
        {"*5\r\n:1\r\n:0\r\n:3\r\n$3\r\n100\r\n:0\r\n", TOPS_CLAIM, "5 integers"},
        {"*3\r\n:2\r\n:5\r\n:100\r\n", TOPS_CLAIM, "BUSY must be"},
        {"*3\r\n:9\r\n$1\r\nx\r\n:1\r\n", TOPS_CLAIM, "unknown status code"},
        {"$5\r\nhello\r\n", TOPS_CLAIM, "string \"hello\""},
        {"*0\r\n", TOPS_CLAIM, "array of 0"},
        {"*1\r\n*1\r\n:1\r\n", TOPS_CLAIM, "status code"},
        {"$-1\r\n", TOPS_CLAIM, "nil"},
        /* A header announcing 2^31 elements: refused at once, never a
         * 16 GB allocation and a wait for the timeout. */
        {"*2147483647\r\n", TOPS_CLAIM, "an array of 2147483647 elements"},
        {"*2\r\n:1\r\n*9999999\r\n", TOPS_CLAIM, "an array of 9999999"},
        {":7\r\n", TOPS_RENEW, "expected 1 or 0"},
        {"+OK\r\n", TOPS_FINISH, "expected 1, 3 or 0"},
        {"*4\r\n:1\r\n:0\r\n:5\r\n:1\r\n", TOPS_RESERVE, "rows 0+5"},
        {"*4\r\n:1\r\n:3\r\n:4\r\n:1\r\n", TOPS_RESERVE, "rows 3+4"},
        {"*4\r\n:1\r\n:3\r\n:5\r\n:-1\r\n", TOPS_RESERVE, "no valid fence"},
        {"*2\r\n:0\r\n:0\r\n", TOPS_RESERVE, "unknown status code"},
    };
    for (size_t i = 0; i < sizeof undecodable / sizeof undecodable[0]; i++)
        expect_rogue(&(rogue_case){undecodable[i].reply, undecodable[i].op, SQCLAIM_EPROTOCOL,
                                   undecodable[i].text, 3},
                     "undecodable", i);
    /* Errors, transient errors, replies to the other operations. */
    static const rogue_case cases[] = {
        {"-ERR oops\r\n", TOPS_CLAIM, SQCLAIM_ESERVER, "server error: ERR oops", 1},
        {"-OOM command not allowed when used memory > 'maxmemory'.\r\n", TOPS_RESERVE,
         SQCLAIM_ESERVER, "OOM command not allowed", 1},
        {"-READONLY You can't write against a read only replica.\r\n", TOPS_RENEW, SQCLAIM_ESERVER,
         "READONLY", 1},
        {"-NOAUTH Authentication required.\r\n", TOPS_CLAIM, SQCLAIM_EAUTH, "requires a password",
         1},
        {"-WRONGPASS invalid username-password pair\r\n", TOPS_FINISH, SQCLAIM_EAUTH, "WRONGPASS",
         1},
        /* Transient: retried (retries = 2), then reported. */
        {"-LOADING Redis is loading the dataset in memory\r\n", TOPS_CLAIM, SQCLAIM_ESERVER,
         "temporarily unavailable", 3},
        {"-BUSY Redis is busy running a script.\r\n", TOPS_RENEW, SQCLAIM_ESERVER,
         "temporarily unavailable", 3},
        {"-ERR max number of clients reached\r\n", TOPS_CLAIM, SQCLAIM_ESERVER,
         "temporarily unavailable", 3},
        /* NOSCRIPT to EVALSHA and to EVAL: one fallback, then an error. */
        {"-NOSCRIPT No matching script.\r\n", TOPS_CLAIM, SQCLAIM_ESERVER, "NOSCRIPT", 2},
        /* Status: the first round trip is a pipeline of two SCANs; reads
         * change nothing, so a bad reply is not retried. */
        {"*2\r\n$1\r\nx\r\n*0\r\n", TOPS_STATUS, SQCLAIM_EPROTOCOL, "cursor must be a number", 2},
        {"*2\r\n$1\r\n0\r\n*1\r\n:5\r\n", TOPS_STATUS, SQCLAIM_EPROTOCOL, "keys must be strings",
         2},
        {":1\r\n", TOPS_STATUS, SQCLAIM_EPROTOCOL, "expected {cursor, keys}", 2},
        {"+NOPE\r\n", TOPS_PING, SQCLAIM_EPROTOCOL, "expected PONG", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_rogue(&cases[i], "case", i);
}
END_TEST

/* A server (or a proxy in front of one) that quotes the password back in
 * its error text: no message may show it. */
START_TEST(test_password_never_in_messages)
{
    static const char *const replies[] = {
        "-WRONGPASS the password " RT_PASSWORD " is not valid\r\n",
        "-ERR AUTH " RT_PASSWORD " called without any password configured\r\n",
        "-NOAUTH need " RT_PASSWORD "\r\n",
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        rt_rogue r;
        rt_rogue_start(&r, replies[i]);
        sqclaim_store *s = open_timeouts(r.auth_url, 1000, 2000, -1);
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(s, "SQ", "BOT1", 0, &l, NULL);
        const char *msg = sqclaim_errmsg(s);
        ck_assert_msg(rc == SQCLAIM_EAUTH, "case %zu: %s: %s", i, sqclaim_rcname(rc), msg);
        ck_assert_msg(strstr(msg, RT_PASSWORD) == NULL, "case %zu shows the password: %s", i, msg);
        ck_assert_msg(strstr(msg, "***"), "case %zu: %s", i, msg);
        rt_rogue_stop(&r);
    }
}
END_TEST

START_TEST(test_garbage_bytes_are_a_protocol_error)
{
    rt_rogue r;
    rt_rogue_start(&r, "!!! this is not RESP\r\n");
    sqclaim_store *s = open_timeouts(r.url, 1000, 2000, -1);
    sqclaim_lease l;
    ck_assert_int_eq(run_op(s, TOPS_CLAIM, &l), SQCLAIM_EPROTOCOL);
    sqclaim_lease got;
    sqclaim_rc rc = sqclaim_claim(s, "SQ", "BOT1", 0, &got, NULL);
    ck_assert_int_eq(rc, SQCLAIM_EPROTOCOL);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "malformed reply"));
    /* The request went out; its effect is unknown. */
    ck_assert(got.flags & SQCLAIM_LEASE_UNCERTAIN);
    ck_assert_uint_eq(rt_stats(s).ambiguous, 2);
    rt_rogue_stop(&r);
}
END_TEST

/* A reply nobody asked for must never be taken as the answer to a later
 * request.  This server answers EVALSHA with NOSCRIPT and, in the same
 * write, a grant: had the client kept the grant in its buffer, it would
 * read it as the reply to its EVAL fallback and report a claim (fence 9)
 * that no script granted.  Bytes left over after the expected replies are
 * a protocol error: the connection is dropped, and the request may have
 * run (the server is not to be trusted), so the claim is uncertain. */
START_TEST(test_unsolicited_reply_is_a_protocol_error)
{
    static const struct {
        const char *reply;
        tops_op op;
        int requests; /* commands the server saw (retries 1; a status attempt is 2 SCANs) */
    } cases[] = {
        {"-NOSCRIPT No matching script.\r\n*5\r\n:1\r\n:0\r\n:9\r\n:100\r\n:0\r\n", TOPS_CLAIM, 2},
        /* the expected reply, then a second one */
        {":1\r\n:1\r\n", TOPS_RENEW, 2},
        /* the expected reply, then part of another */
        {"+PONG\r\n*5\r\n:1\r\n", TOPS_PING, 2},
        /* a pipeline (status: two SCANs) answered with three replies */
        {"*2\r\n$1\r\n0\r\n*0\r\n*2\r\n$1\r\n0\r\n*0\r\n*0\r\n", TOPS_STATUS, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_rogue r;
        rt_rogue_start(&r, cases[i].reply);
        sqclaim_store *s = open_timeouts(r.url, 1000, 2000, 1);
        sqclaim_lease l;
        sqclaim_rc rc = run_op(s, cases[i].op, &l);
        const char *msg = sqclaim_errmsg(s);
        ck_assert_msg(rc == SQCLAIM_EPROTOCOL && strstr(msg, "bytes nobody asked for"),
                      "case %zu: %s \"%s\"", i, sqclaim_rcname(rc), msg);
        if (cases[i].op == TOPS_CLAIM) {
            ck_assert_msg(l.flags & SQCLAIM_LEASE_UNCERTAIN, "case %zu: not uncertain", i);
            ck_assert_msg(strstr(msg, "may have been granted"), "case %zu: %s", i, msg);
        }
        /* Each attempt ran on a fresh connection: the stream was not
         * trusted after the extra bytes.  The server thread counts a
         * pipeline's last command after the client may already have
         * returned: wait (bounded) for the count to settle. */
        long long until = tsrv_now_ms() + 2000;
        while (atomic_load(&r.requests) < cases[i].requests && tsrv_now_ms() < until)
            poll(NULL, 0, 5);
        int seen = atomic_load(&r.requests);
        ck_assert_msg(seen == cases[i].requests, "case %zu: %d requests, want %d", i, seen,
                      cases[i].requests);
        rt_rogue_stop(&r);
    }

    /* The AUTH of the handshake answered twice: refused before the claim
     * was sent, so the claim is not uncertain. */
    rt_rogue r;
    rt_rogue_start(&r, "+OK\r\n+OK\r\n");
    char url[128];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d", RT_PASSWORD, r.port);
    sqclaim_store *s = open_timeouts(url, 1000, 2000, -1);
    sqclaim_lease l;
    sqclaim_rc rc = sqclaim_claim(s, "SQ", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_EPROTOCOL && strstr(sqclaim_errmsg(s), "bytes nobody asked for"),
                  "%s \"%s\"", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), RT_PASSWORD));
    ck_assert_int_eq(atomic_load(&r.requests), 1);
    rt_rogue_stop(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Processes racing for the same SQs                                     */

/*
 * Each child process claims the first free of two SQs, many times.  The
 * oracle lives outside the library, in plain Redis keys the children
 * update with raw commands while they believe they hold an SQ:
 *   INCR inside:SQ must answer 1 (nobody else inside), and
 *   the fence must exceed the last fence recorded for the SQ;
 * either failing increments `violations`.  A negative control runs the
 * same children with a check-then-set claimer (GET, then SET in a second
 * round trip) and must find violations, so the oracle is known to work.
 */
#define RACE_SQS 2
static const char *const race_sqs[RACE_SQS] = {"race-a", "race-b"};

/* Run `cmd key [arg]` on a raw connection, key = rt_prefix + name (+ sq);
 * the integer (or number in a string) it answers, 0 for nil, -1 on error. */
static long long raw_int(redisContext *c, const char *cmd, const char *name, const char *sq,
                         const char *arg)
{
    char key[160];
    snprintf(key, sizeof key, "%s%s%s", rt_prefix, name, sq ? sq : "");
    redisReply *r =
        arg ? redisCommand(c, "%s %s %s", cmd, key, arg) : redisCommand(c, "%s %s", cmd, key);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    else if (r && r->type == REDIS_REPLY_NIL)
        v = 0;
    else if (r && r->type == REDIS_REPLY_STATUS)
        v = 0;
    if (r)
        freeReplyObject(r);
    return v;
}

static void race_child(int id, int iters, bool broken)
{
    /* The parent's raw connection is not ours to use (and would show as
     * leaked under valgrind, which follows forks). */
    if (rt_raw) {
        redisFree(rt_raw);
        rt_raw = NULL;
    }
    struct timeval tv = {10, 0};
    redisContext *raw = redisConnectWithTimeout("127.0.0.1", rt_srv.port, tv);
    if (!raw || raw->err)
        _exit(3);
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "redis";
    o.redis_url = rt_srv.url;
    o.key_prefix = rt_prefix;
    sqclaim_store *s = NULL;
    if (sqclaim_open(&o, &s) != SQCLAIM_OK)
        _exit(4);
    char bot[16];
    snprintf(bot, sizeof bot, "BOT%d", id);
    for (int i = 0; i < iters; i++) {
        if (broken && raw_int(raw, "GET", "oracle:violations", NULL, NULL) > 0)
            break; /* found what the control looks for */
        sqclaim_lease l;
        const char *sq = NULL;
        uint64_t fence = 0;
        if (!broken) {
            sqclaim_rc rc = sqclaim_claim_first(s, race_sqs, RACE_SQS, bot, 10000, &l, NULL);
            if (rc == SQCLAIM_BUSY) {
                raw_int(raw, "INCR", "oracle:busy", NULL, NULL);
                continue;
            }
            if (rc != SQCLAIM_OK) {
                raw_int(raw, "INCR", "oracle:errors", NULL, NULL);
                continue;
            }
            sq = l.sq;
            fence = l.fence;
        } else {
            /* Broken on purpose: check, then set, in two round trips. */
            sq = race_sqs[i % RACE_SQS];
            if (raw_int(raw, "EXISTS", "sq:", sq, NULL) != 0) {
                raw_int(raw, "INCR", "oracle:busy", NULL, NULL);
                continue;
            }
            char key[160];
            snprintf(key, sizeof key, "%ssq:%s", rt_prefix, sq);
            redisReply *r = redisCommand(raw, "SET %s held PX 10000", key);
            if (r)
                freeReplyObject(r);
            fence = (uint64_t)raw_int(raw, "INCR", "sqclaim:fence", NULL, NULL);
        }
        /* Inside: nobody else may be. */
        if (raw_int(raw, "INCR", "oracle:inside:", sq, NULL) != 1)
            raw_int(raw, "INCR", "oracle:violations", NULL, NULL);
        long long last = raw_int(raw, "GET", "oracle:fence:", sq, NULL);
        if (last >= (long long)fence)
            raw_int(raw, "INCR", "oracle:violations", NULL, NULL);
        char fbuf[32];
        snprintf(fbuf, sizeof fbuf, "%llu", (unsigned long long)fence);
        raw_int(raw, "SET", "oracle:fence:", sq, fbuf);
        raw_int(raw, "INCR", "oracle:grants", NULL, NULL);
        raw_int(raw, "DECR", "oracle:inside:", sq, NULL);
        if (!broken) {
            if (sqclaim_release(s, &l) != SQCLAIM_OK)
                raw_int(raw, "INCR", "oracle:errors", NULL, NULL);
        } else {
            raw_int(raw, "DEL", "sq:", sq, NULL);
        }
    }
    sqclaim_close(s);
    redisFree(raw);
    _exit(0);
}

static long long oracle(const char *name)
{
    redisReply *r = rt_cmd(rt_raw, "GET %soracle:%s", rt_prefix, name);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static void run_race(int procs, int iters, bool broken)
{
    pid_t pids[8];
    ck_assert_int_le(procs, 8);
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            race_child(i + 1, iters, broken);
    }
    long long deadline = tsrv_now_ms() + 120000;
    int done = 0;
    while (done < procs) {
        for (int i = 0; i < procs; i++) {
            if (pids[i] <= 0)
                continue;
            int st;
            pid_t w = waitpid(pids[i], &st, WNOHANG);
            if (w == pids[i]) {
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", i, st);
                pids[i] = 0;
                done++;
            }
        }
        if (tsrv_now_ms() > deadline) {
            for (int i = 0; i < procs; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            ck_abort_msg("race children did not finish in time");
        }
        struct timespec ts = {0, 5 * 1000 * 1000}; /* polling interval */
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_processes_race)
{
    enum { PROCS = 4, ITERS = 300 };
    /* A counter that exists (a missing one is rebuilt from the clock). */
    freeReplyObject(rt_cmd(rt_raw, "SET %ssqclaim:fence 1000", rt_prefix));
    run_race(PROCS, ITERS, false);
    long long grants = oracle("grants"), busy = oracle("busy");
    ck_assert_int_eq(oracle("violations"), 0);
    ck_assert_int_eq(oracle("errors"), 0);
    ck_assert_int_eq(grants + busy, PROCS * ITERS);
    /* Contention was exercised: some claims were refused. */
    ck_assert_msg(grants > PROCS && busy > 0, "grants %lld busy %lld", grants, busy);
    /* Every grant minted a fence. */
    redisReply *r = rt_cmd(rt_raw, "GET %ssqclaim:fence", rt_prefix);
    ck_assert_int_eq(atoll(r->str), 1000 + grants);
    freeReplyObject(r);
}
END_TEST

START_TEST(test_processes_race_negative_control)
{
    run_race(4, 2000, true);
    ck_assert_msg(oracle("violations") > 0,
                  "the oracle saw no violation with a check-then-set claimer (grants %lld): it "
                  "cannot be trusted",
                  oracle("grants"));
}
END_TEST

Suite *rt_faults_suite(void)
{
    Suite *su = suite_create("redis-faults");
    TCASE_ADD(
        su,
        ((tcase_spec){.name = "down", .timeout = 60, .setup = rt_setup, .teardown = rt_teardown}),
        test_server_down_is_eio_within_timeout, test_connect_timeout,
        test_reply_timeout_is_ambiguous, test_trickling_reply_times_out,
        test_restart_reconnects_without_wrong_answers, test_malformed_replies,
        test_garbage_bytes_are_a_protocol_error, test_unsolicited_reply_is_a_protocol_error,
        test_password_never_in_messages);
    TCASE_ADD(su,
              ((tcase_spec){.name = "processes",
                            .timeout = 180,
                            .setup = rt_setup,
                            .teardown = rt_teardown,
                            .once_setup = rt_server_start,
                            .once_teardown = rt_server_stop}),
              test_processes_race, test_processes_race_negative_control);
    return su;
}
