/* test_http.c — the REST transport against a tiny local HTTP responder
 * playing a broken or unusual proxy: exact requests, sync tokens,
 * keep-alive, and every failure mapped for the core's retry loop. */
#include "skip.h"
#include "tcase.h"
#include "vtest.h"

#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "tok-AAAA-1234-secret"

static void push_action(rs_action a) { rs_push(vt_rs, &a); }

static void push(int status, const char *body)
{
    push_action((rs_action){.status = status, .body = body});
}

static void push_headers(int status, const char *body, const char *headers)
{
    push_action((rs_action){.status = status, .body = body, .headers = headers});
}

static sqclaim_store *open_rs(int retries, int timeout_ms)
{
    return vt_open(rs_url(vt_rs), TOKEN, NULL, retries, timeout_ms);
}

/* Claim "sq1": the answer is want, the message holds text (NULL: any), and
 * the lease is marked uncertain exactly when `uncertain`. */
static void expect_claim(sqclaim_store *s, sqclaim_rc want, const char *text, bool uncertain)
{
    sqclaim_lease l;
    sqclaim_rc rc = sqclaim_claim(s, "sq1", "BOT1", 0, &l, NULL);
    const char *m = sqclaim_errmsg(s);
    ck_assert_msg(rc == want, "claim: %s (%s), want %s", sqclaim_rcname(rc), m,
                  sqclaim_rcname(want));
    ck_assert_msg(!text || strstr(m, text), "claim: message \"%s\" lacks \"%s\"", m, text);
    ck_assert_msg(!(l.flags & SQCLAIM_LEASE_UNCERTAIN) == !uncertain,
                  "claim: uncertain %d, want %d", !!(l.flags & SQCLAIM_LEASE_UNCERTAIN), uncertain);
}

/* Ping: the answer is want, the message holds text (NULL: any). */
static void expect_ping(sqclaim_store *s, sqclaim_rc want, const char *text)
{
    sqclaim_rc rc = sqclaim_ping(s);
    const char *m = sqclaim_errmsg(s);
    ck_assert_msg(rc == want, "ping: %s (%s), want %s", sqclaim_rcname(rc), m,
                  sqclaim_rcname(want));
    ck_assert_msg(!text || strstr(m, text), "ping: message \"%s\" lacks \"%s\"", m, text);
}

/* The next request is answered with status and body: ping, expect_ping(). */
static void ping_answered(sqclaim_store *s, int status, const char *body, sqclaim_rc want,
                          const char *text)
{
    push(status, body);
    expect_ping(s, want, text);
}

static sqclaim_stats stats_of(sqclaim_store *s)
{
    sqclaim_stats st;
    ck_assert_int_eq(sqclaim_stats_get(s, &st), SQCLAIM_OK);
    return st;
}

/* How many header lines named `name` (case-insensitive) the block has,
 * and the value of the last one in val. */
static int header_count(const char *headers, const char *name, char *val, size_t vlen)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            n++;
            if (val) {
                const char *v = p + nl + 1;
                while (*v == ' ')
                    v++;
                snprintf(val, vlen, "%.*s", (int)(len - (size_t)(v - p)), v);
            }
        }
        p = eol ? eol + 2 : NULL;
    }
    return n;
}

START_TEST(request_format_exact)
{
    sqclaim_store *s = open_rs(-1, 0);
    ck_assert_int_eq(rs_connections(vt_rs), 0); /* open did no network I/O */
    expect_ping(s, SQCLAIM_OK, NULL);
    char line[256], headers[4096], body[4096], val[512];
    ck_assert(rs_request(vt_rs, 0, line, sizeof line, headers, sizeof headers, body, sizeof body));
    ck_assert_str_eq(line, "POST / HTTP/1.1");
    ck_assert_str_eq(body, "[\"PING\"]");
    ck_assert_int_eq(header_count(headers, "Authorization", val, sizeof val), 1);
    ck_assert_str_eq(val, "Bearer " TOKEN);
    ck_assert_int_eq(header_count(headers, "Content-Type", val, sizeof val), 1);
    ck_assert_str_eq(val, "application/json");
    ck_assert_int_eq(header_count(headers, "Upstash-Encoding", val, sizeof val), 1);
    ck_assert_str_eq(val, "base64");
    ck_assert_int_eq(header_count(headers, "Content-Length", val, sizeof val), 1);
    ck_assert_str_eq(val, "8");
    ck_assert_int_eq(header_count(headers, "Expect", NULL, 0), 0);
    ck_assert_int_eq(header_count(headers, "Transfer-Encoding", NULL, 0), 0);
    ck_assert_int_eq(header_count(headers, "upstash-sync-token", NULL, 0), 0);
    sqclaim_close(s);

    /* A pipeline goes to {base}/pipeline, an array of command arrays. */
    vc_config cfg;
    sqclaim_options o;
    sqclaim_options_init(&o);
    char url[128];
    snprintf(url, sizeof url, "%s/base/", rs_url(vt_rs));
    o.rest_url = url;
    o.rest_token = TOKEN;
    sqb_err err = {0};
    ck_assert_int_eq(vc_config_resolve(&o, &cfg, &err), SQCLAIM_OK);
    vc_http *h = vc_http_new(&cfg, 2000, 5000, &err);
    vc_config_free(&cfg);
    ck_assert_ptr_nonnull(h);
    push(200, "[{\"result\":\"T0s=\"},{\"result\":\"YQ==\"}]");
    const char *a1[] = {"SET", "k", "a"}, *a2[] = {"GET", "k"};
    rp_cmd cmds[2] = {{3, a1, NULL}, {2, a2, NULL}};
    rp_reply *rep[2];
    ck_assert_int_eq(vc_http_transport.pipeline(h, 2, cmds, rep, &err), SQCLAIM_OK);
    ck_assert_str_eq(rep[0]->str, "OK");
    ck_assert_str_eq(rep[1]->str, "a");
    rp_reply_free(rep[0]);
    rp_reply_free(rep[1]);
    ck_assert(rs_request(vt_rs, -1, line, sizeof line, headers, sizeof headers, body, sizeof body));
    ck_assert_str_eq(line, "POST /base/pipeline HTTP/1.1");
    ck_assert_str_eq(body, "[[\"SET\",\"k\",\"a\"],[\"GET\",\"k\"]]");
    /* A single command to {base}/. */
    rp_reply *r;
    ck_assert_int_eq(vc_http_transport.command(h, &(rp_cmd){2, a2, NULL}, &r, &err), SQCLAIM_OK);
    rp_reply_free(r);
    ck_assert(rs_request(vt_rs, -1, line, sizeof line, NULL, 0, NULL, 0));
    ck_assert_str_eq(line, "POST /base/ HTTP/1.1");
    vc_http_free(h);
}
END_TEST

START_TEST(sync_token_echoed)
{
    sqclaim_store *s = open_rs(-1, 0);
    rs_action a = {.status = 200,
                   .body = "{\"result\":\"UE9ORw==\"}",
                   .headers = "upstash-sync-token: st-1\r\n"};
    rs_push(vt_rs, &a);
    a.headers = "Upstash-Sync-Token: st-2\r\n";
    rs_push(vt_rs, &a);
    push(200, "{\"result\":\"UE9ORw==\"}"); /* no token: the last one stays */
    for (int i = 0; i < 4; i++)
        expect_ping(s, SQCLAIM_OK, NULL);
    char headers[4096], val[256];
    static const char *const want[] = {NULL, "st-1", "st-2", "st-2"};
    for (int i = 0; i < 4; i++) {
        ck_assert(rs_request(vt_rs, i, NULL, 0, headers, sizeof headers, NULL, 0));
        if (!want[i]) {
            ck_assert_int_eq(header_count(headers, "upstash-sync-token", NULL, 0), 0);
        } else {
            ck_assert_int_eq(header_count(headers, "upstash-sync-token", val, sizeof val), 1);
            ck_assert_str_eq(val, want[i]);
        }
    }
    /* A token that could break a header is ignored. */
    a.headers = "upstash-sync-token: bad token\r\n";
    rs_push(vt_rs, &a);
    expect_ping(s, SQCLAIM_OK, NULL);
    expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert(rs_request(vt_rs, -1, NULL, 0, headers, sizeof headers, NULL, 0));
    ck_assert_int_eq(header_count(headers, "upstash-sync-token", val, sizeof val), 1);
    ck_assert_str_eq(val, "st-2");
    sqclaim_close(s);
}
END_TEST

/* A reply that is not the Upstash JSON is EPROTOCOL with a message, never
 * a crash; the server did answer, so the request may have run. */
START_TEST(malformed_bodies)
{
    static const struct {
        const char *body;
        const char *needle;
    } cases[] = {
        {"<html><body><h1>Sign in to the Wi-Fi</h1></body></html>", "HTML"},
        {"not json at all", "not valid JSON"},
        {"{\"result\":\"UE9", "not valid JSON"},
        {"", "empty body"},
        {"{\"foo\":\"bar\"}", "no \"result\""},
        {"{\"result\":{\"a\":1}}", "JSON object"},
        {"{\"result\":true}", "boolean"},
        {"{\"result\":\"P\xc3\xa9NG\"}", "base64"},
        {"{\"result\":1.5}", "64-bit"},
        {"[{\"result\":\"UE9ORw==\"}]", "not {\"result\""},
        {"{\"result\":\"UE9ORw==\"}<br>", "extra text"},
    };
    sqclaim_store *s = open_rs(-1, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        push(200, cases[i].body);
        sqclaim_rc rc = sqclaim_ping(s);
        ck_assert_msg(rc == SQCLAIM_EPROTOCOL, "%s: rc %d %s", cases[i].body, rc,
                      sqclaim_errmsg(s));
        ck_assert_msg(strstr(sqclaim_errmsg(s), cases[i].needle), "%s: %s", cases[i].body,
                      sqclaim_errmsg(s));
        ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "127.0.0.1"));
    }
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.ambiguous, sizeof cases / sizeof cases[0]);
    /* A wrong reply type for a claim script: EPROTOCOL from the protocol
     * layer; the claim is reported as uncertain (the server answered). */
    push(200, "{\"result\":\"T0s=\"}");
    sqclaim_lease l;
    sqclaim_rc rc = sqclaim_claim(s, "251019-164rmb", "BOT1", 0, &l, NULL);
    ck_assert_int_eq(rc, SQCLAIM_EPROTOCOL);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, SQCLAIM_LEASE_UNCERTAIN);
    ck_assert_msg(strstr(sqclaim_errmsg(s), "may have been granted"), "%s", sqclaim_errmsg(s));
    ck_assert_uint_eq(stats_of(s).ambiguous, sizeof cases / sizeof cases[0]); /* a decoding
                                                    failure, not a lost reply */
    /* With retries the same token is re-sent, and a grant found. */
    sqclaim_close(s);
    s = open_rs(1, 0);
    push(200, "{\"result\":\"T0s=\"}");
    push(200, "{\"result\":[1,0,7,59000,1]}");
    rc = sqclaim_claim(s, "251019-164rmb", "BOT1", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "%s", sqclaim_errmsg(s));
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_RECLAIMED, SQCLAIM_LEASE_RECLAIMED);
    ck_assert_uint_eq(l.fence, 7);
    char b1[4096], b2[4096];
    ck_assert(rs_request(vt_rs, -2, NULL, 0, NULL, 0, b1, sizeof b1));
    ck_assert(rs_request(vt_rs, -1, NULL, 0, NULL, 0, b2, sizeof b2));
    ck_assert_str_eq(b1, b2); /* the same request, same token */
    /* Still usable afterwards. */
    expect_ping(s, SQCLAIM_OK, NULL);
    sqclaim_close(s);
}
END_TEST

/* A 200 reply that a lenient reader would take as a grant, but that says
 * two things at once: never a grant, always a claim that may be held. */
START_TEST(ambiguous_grant_is_uncertain)
{
    static const char *const bodies[] = {
        "{\"result\":[1,0,9,60000,0],\"result\":[2,\"Qk9UMg==\",5000]}",
        "{\"result\":[1,0,9,60000,0],\"error\":\"ERR not granted\"}",
        "\xEF\xBB\xBF{\"result\":[1,0,9,60000,0]}",
    };
    sqclaim_store *s = open_rs(-1, 0);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        push(200, bodies[i]);
        sqclaim_lease l;
        sqclaim_rc rc = sqclaim_claim(s, "251019-164rmb", "BOT1", 0, &l, NULL);
        const char *m = sqclaim_errmsg(s);
        ck_assert_msg(rc == SQCLAIM_EPROTOCOL, "case %zu: %s %s", i, sqclaim_rcname(rc), m);
        ck_assert_msg(l.flags & SQCLAIM_LEASE_UNCERTAIN, "case %zu: not uncertain", i);
        ck_assert_msg(strstr(m, "may have been granted"), "case %zu: %s", i, m);
        ck_assert_msg(strstr(m, "ambiguous") || strstr(m, "byte order mark"), "case %zu: %s", i, m);
    }
    ck_assert_uint_eq(stats_of(s).ambiguous, sizeof bodies / sizeof bodies[0]);
    sqclaim_close(s);
}
END_TEST

START_TEST(truncated_and_huge_replies)
{
    sqclaim_store *s = open_rs(-1, 0);
    /* The connection closes before the announced length: a transport
     * failure after sending (ambiguous), not a protocol error. */
    push_action((rs_action){.status = 200, .body = "{\"result\":", .announce = 100});
    expect_ping(s, SQCLAIM_EIO, "lost after the request was sent");
    ck_assert_uint_eq(stats_of(s).ambiguous, 1);
    /* 40 MiB of body: refused past 32 MiB, without reading it all into
     * memory. */
    push_action((rs_action){.status = 200, .body = "{\"result\":\"", .huge = 40u << 20});
    expect_ping(s, SQCLAIM_EPROTOCOL, "larger than");
    /* A fresh connection afterwards. */
    expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert_int_ge(rs_connections(vt_rs), 2);
    sqclaim_close(s);
}
END_TEST

START_TEST(unauthorized_is_eauth_without_token)
{
    sqclaim_store *s = open_rs(0, 0); /* default retries: 401 must not be retried */
    /* A server that echoes what it got, token included. */
    ping_answered(s, 401, "{\"error\":\"Unauthorized: Bearer " TOKEN " is not valid\"}",
                  SQCLAIM_EAUTH, NULL);
    const char *m = sqclaim_errmsg(s);
    ck_assert_ptr_null(strstr(m, TOKEN));
    ck_assert_ptr_null(strstr(m, "1234-secret"));
    ck_assert_ptr_nonnull(strstr(m, "HTTP 401"));
    ck_assert_ptr_nonnull(strstr(m, "rest_token option"));
    ck_assert_int_eq(rs_requests(vt_rs), 1);
    ck_assert_uint_eq(stats_of(s).retries, 0);
    /* The same through a claim; the lease is not uncertain (refused). */
    push(401, "{\"error\":\"WRONGPASS invalid or missing auth token\"}");
    expect_claim(s, SQCLAIM_EAUTH, NULL, false);
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), TOKEN));
    /* A Redis error text echoing the token is redacted as well. */
    push(400, "{\"error\":\"ERR token " TOKEN " not allowed\"}");
    ck_assert_int_lt(sqclaim_ping(s), 0);
    ck_assert_ptr_null(strstr(sqclaim_errmsg(s), TOKEN));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "***"));
    /* 403 too. */
    ping_answered(s, 403, "{\"error\":\"NOPERM\"}", SQCLAIM_EAUTH, NULL);
    sqclaim_close(s);
}
END_TEST

START_TEST(server_errors_are_retried)
{
    sqclaim_store *s = open_rs(2, 0);
    /* 5xx: transient and ambiguous; retried up to opts.retries. */
    push(503, "{\"error\":\"overloaded\"}");
    ping_answered(s, 502, "<html>Bad Gateway</html>", SQCLAIM_OK, NULL);
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.retries, 2);
    ck_assert_uint_eq(st.ambiguous, 2);
    ck_assert_uint_eq(st.round_trips, 3);
    /* Three in a row: the third error is returned, with its status. */
    push(500, "{\"error\":\"boom\"}");
    push(500, "{\"error\":\"boom\"}");
    ping_answered(s, 504, "", SQCLAIM_ESERVER, "HTTP 504");
    /* A claim that only met 5xx may have been applied by whatever stood
     * behind the proxy: uncertain, to be resolved with claim_retry. */
    for (int i = 0; i < 3; i++)
        push(503, "{\"error\":\"unavailable\"}");
    expect_claim(s, SQCLAIM_ESERVER, "may have been granted", true);
    sqclaim_close(s);
}
END_TEST

START_TEST(rate_limit_and_quota)
{
    sqclaim_store *s = open_rs(1, 0);
    /* 429 is transient (refused before running), Retry-After honoured. */
    push_headers(429, "{\"error\":\"slow down\"}", "Retry-After: 1\r\n");
    long long t0 = tsrv_now_ms();
    expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert_int_ge(tsrv_now_ms() - t0, 900);
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.retries, 1);
    ck_assert_uint_eq(st.ambiguous, 0);
    push(429, "{\"error\":\"slow down\"}");
    ping_answered(s, 429, "{\"error\":\"slow down\"}", SQCLAIM_EQUOTA, "rate limiting");
    /* Quota and size errors: EQUOTA with the text, never retried. */
    static const char *const texts[] = {
        "ERR max daily request limit exceeded. Limit: 10000, Usage: 10000.",
        "ERR max requests limit exceeded",
        "ERR max request size exceeded",
    };
    for (size_t i = 0; i < 3; i++) {
        rs_reset(vt_rs);
        char body[256];
        snprintf(body, sizeof body, "{\"error\":\"%s\"}", texts[i]);
        push(i == 1 ? 429 : 400, body);
        expect_claim(s, SQCLAIM_EQUOTA, texts[i], false);
        ck_assert_int_eq(rs_requests(vt_rs), 1);
    }
    ping_answered(s, 413, "", SQCLAIM_EQUOTA, NULL);
    sqclaim_close(s);
}
END_TEST

START_TEST(redirects_and_odd_statuses)
{
    sqclaim_store *s = open_rs(2, 0);
    push_headers(301, "", "Location: https://elsewhere.example/\r\n");
    /* A redirect, 404 or 405: the URL is wrong (configuration), and
     * asking again would not help. */
    expect_ping(s, SQCLAIM_ECONFIG, "redirect");
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "rest_url option"));
    ck_assert_int_eq(rs_requests(vt_rs), 1);
    ping_answered(s, 404, "<html>Not Found</html>", SQCLAIM_ECONFIG, "HTTP 404");
    ck_assert_int_eq(rs_requests(vt_rs), 2);
    ping_answered(s, 405, "{\"error\":\"method not allowed\"}", SQCLAIM_ECONFIG,
                  "no REST API at the rest_url option");
    /* 400 without an error text. */
    ping_answered(s, 400, "<html>Bad Request</html>", SQCLAIM_ESERVER, NULL);
    ck_assert_int_eq(rs_requests(vt_rs), 4);
    /* 400 with a Redis error reaches the protocol layer as an error reply. */
    ping_answered(s, 400, "{\"error\":\"ERR unknown command 'PING'\"}", SQCLAIM_ESERVER,
                  "ERR unknown command");
    sqclaim_close(s);
}
END_TEST

START_TEST(keep_alive_one_connection)
{
    sqclaim_store *s = open_rs(-1, 0);
    for (int i = 0; i < 100; i++)
        expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert_int_eq(rs_connections(vt_rs), 1);
    ck_assert_int_eq(rs_requests(vt_rs), 100);
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.round_trips, 100);
    ck_assert_uint_eq(st.reconnects, 0); /* the first connection is not a reconnect */
    /* A reply with Connection: close: the next request reconnects. */
    push_action(
        (rs_action){.status = 200, .body = "{\"result\":\"UE9ORw==\"}", .close_after = true});
    expect_ping(s, SQCLAIM_OK, NULL);
    expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert_int_eq(rs_connections(vt_rs), 2);
    ck_assert_uint_eq(stats_of(s).reconnects, 1);
    sqclaim_close(s);
}
END_TEST

/* A loopback URL never goes through a proxy, whatever the environment
 * says (here: proxies that do not exist). */
START_TEST(loopback_bypasses_proxies)
{
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", tsrv_free_port());
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        setenv(vars[i], proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    sqclaim_store *s = open_rs(-1, 0);
    sqclaim_rc rc = sqclaim_ping(s);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sqclaim_errmsg(s));
    sqclaim_close(s);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    ck_assert_msg(rc == SQCLAIM_OK, "%s", msg);
    ck_assert_int_eq(rs_requests(vt_rs), 1);
}
END_TEST

/* libcurl re-sends a request by itself when a reused connection dies
 * before any reply byte.  The transport refuses that silent re-send: the
 * server may already have run the first copy. */
START_TEST(no_silent_resend_on_reused_connection)
{
    sqclaim_store *s = open_rs(-1, 0);
    expect_ping(s, SQCLAIM_OK, NULL);
    push(0, NULL); /* read the request, close without a reply */
    expect_ping(s, SQCLAIM_EIO, NULL);
    ck_assert_int_eq(rs_requests(vt_rs), 2); /* the dropped request came once */
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.ambiguous, 1);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "after the request was sent"));
    expect_ping(s, SQCLAIM_OK, NULL);
    ck_assert_int_eq(rs_requests(vt_rs), 3);
    /* (libcurl may open the connection for its re-send before asking to
     * rewind the body: 2 or 3 connections, but never a second copy.) */
    ck_assert_int_ge(rs_connections(vt_rs), 2);
    /* With retries the core re-sends it, knowing it may be a repeat. */
    sqclaim_close(s);
    s = open_rs(2, 0);
    expect_ping(s, SQCLAIM_OK, NULL);
    ping_answered(s, 0, NULL, SQCLAIM_OK, NULL);
    st = stats_of(s);
    ck_assert_uint_eq(st.retries, 1);
    ck_assert_uint_eq(st.ambiguous, 1);
    sqclaim_close(s);
}
END_TEST

START_TEST(timeouts_and_refused_connections)
{
    sqclaim_store *s = open_rs(-1, 300);
    push_action((rs_action){.status = 200, .body = "{\"result\":\"UE9ORw==\"}", .delay_ms = 1200});
    long long t0 = tsrv_now_ms();
    expect_ping(s, SQCLAIM_ETIMEOUT, NULL);
    long long took = tsrv_now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 1100);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "after the request was sent"));
    ck_assert_uint_eq(stats_of(s).ambiguous, 1);
    sqclaim_close(s);

    /* Nothing listening: EIO, transient (retried), not ambiguous. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tsrv_free_port());
    s = vt_open(url, TOKEN, NULL, 2, 0);
    expect_claim(s, SQCLAIM_EIO, "cannot connect", false);
    sqclaim_stats st = stats_of(s);
    ck_assert_uint_eq(st.retries, 2);
    ck_assert_uint_eq(st.ambiguous, 0);
    ck_assert_uint_eq(st.round_trips, 0);
    sqclaim_close(s);
}
END_TEST

START_TEST(transport_redis_error_reply)
{
    /* A 400 with a Redis error is a reply (RP_ERR), so that NOSCRIPT can
     * drive the EVALSHA -> EVAL fallback. */
    vc_config cfg;
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.rest_url = rs_url(vt_rs);
    o.rest_token = TOKEN;
    sqb_err err = {0};
    ck_assert_int_eq(vc_config_resolve(&o, &cfg, &err), SQCLAIM_OK);
    vc_http *h = vc_http_new(&cfg, 2000, 5000, &err);
    vc_config_free(&cfg);
    push(400, "{\"error\":\"NOSCRIPT No matching script. Please use EVAL.\"}");
    const char *argv[] = {"EVALSHA", "abc", "0"};
    rp_reply *r = NULL;
    ck_assert_int_eq(vc_http_transport.command(h, &(rp_cmd){3, argv, NULL}, &r, &err), SQCLAIM_OK);
    ck_assert_int_eq(r->type, RP_ERR);
    ck_assert_str_eq(r->str, "NOSCRIPT No matching script. Please use EVAL.");
    rp_reply_free(r);
    /* An error entry inside a pipeline, too. */
    push(200, "[{\"error\":\"ERR wrong type\"},{\"result\":5}]");
    rp_cmd cmds[2] = {{3, argv, NULL}, {3, argv, NULL}};
    rp_reply *rep[2];
    ck_assert_int_eq(vc_http_transport.pipeline(h, 2, cmds, rep, &err), SQCLAIM_OK);
    ck_assert_int_eq(rep[0]->type, RP_ERR);
    ck_assert_int_eq(rep[1]->integer, 5);
    rp_reply_free(rep[0]);
    rp_reply_free(rep[1]);
    /* A pipeline-level failure leaves every slot NULL. */
    push(200, "[{\"result\":5}]");
    ck_assert_int_eq(vc_http_transport.pipeline(h, 2, cmds, rep, &err), SQCLAIM_EPROTOCOL);
    ck_assert_ptr_null(rep[0]);
    ck_assert_ptr_null(rep[1]);
    vc_http_stats st;
    vc_http_get_stats(h, &st);
    ck_assert_uint_eq(st.requests, 3);
    vc_http_free(h);
}
END_TEST

/* Run argv quietly; returns the exit status, or -1. */
static int run_quiet(const char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* TLS verification is always on: a server with a self-signed certificate
 * (openssl s_server) is refused, and that is not retried. */
START_TEST(tls_verification_always_on)
{
    /* CI installs it (ci/install-deps.sh): there a skip would be a test
     * that cannot fail. */
    TSKIP_IF(access("/usr/bin/openssl", X_OK) != 0,
             "/usr/bin/openssl is missing: TLS verification is not tested");
    char dir[] = "/tmp/sqclaim-tls-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cert[64], key[64], subj[] = "/CN=127.0.0.1";
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    const char *gen[] = {
        "openssl", "req",   "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes",  "-days", "1",     "-subj",   subj, "-keyout",  key,
        "-out",    cert,    NULL};
    ck_assert_int_eq(run_quiet(gen), 0);
    int port = tsrv_free_port();
    char accept_arg[32];
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key", key,
               "-www", (char *)NULL);
        _exit(127);
    }
    long long deadline = tsrv_now_ms() + 10000;
    while (!tsrv_port_open(port)) {
        int st;
        ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "openssl s_server exited");
        ck_assert_msg(tsrv_now_ms() < deadline, "openssl s_server did not start");
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    sqclaim_store *s = vt_open(url, TOKEN, NULL, 0, 0);
    sqclaim_lease l;
    sqclaim_rc rc = sqclaim_claim(s, "sq1", "BOT1", 0, &l, NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sqclaim_errmsg(s));
    sqclaim_stats st = stats_of(s);
    sqclaim_close(s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    ck_assert_msg(rc == SQCLAIM_EIO, "rc %d: %s", rc, msg);
    ck_assert_msg(strstr(msg, "TLS verification"), "%s", msg);
    ck_assert_ptr_null(strstr(msg, TOKEN));
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_uint_eq(l.flags & SQCLAIM_LEASE_UNCERTAIN, 0);
}
END_TEST

Suite *vt_http_suite(void)
{
    Suite *s = suite_create("vercel-http");
    TCASE_ADD(
        s,
        ((tcase_spec){
            .name = "responder", .timeout = 30, .setup = vt_rs_setup, .teardown = vt_rs_teardown}),
        request_format_exact, sync_token_echoed, malformed_bodies, ambiguous_grant_is_uncertain,
        truncated_and_huge_replies, unauthorized_is_eauth_without_token, server_errors_are_retried,
        rate_limit_and_quota, redirects_and_odd_statuses, keep_alive_one_connection,
        loopback_bypasses_proxies, no_silent_resend_on_reused_connection,
        timeouts_and_refused_connections, transport_redis_error_reply);
    TCASE_ADD(s, ((tcase_spec){.name = "tls", .timeout = 30}), tls_verification_always_on);
    return s;
}
