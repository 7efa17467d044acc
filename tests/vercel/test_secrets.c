/* test_secrets.c — no message of the vercel backend ever carries a secret:
 * the REST token, the redis password behind kvrest, or a lease token.
 *
 * Every error path reachable from here is driven with every operation:
 * kvrest with a wrong URL path, a wrong token, each injected fault, its
 * redis down; a refused connection; and a local responder playing a
 * hostile server that quotes back what it received (the request body with
 * the lease token, the Authorization header with the REST token) in every
 * kind of reply: 4xx, 5xx, HTML, 200 with an error, a reply of the wrong
 * shape, a timeout, a dropped connection.  Each message is checked for
 * each secret, and for any run of 32 or more hex digits (a lease token,
 * ours or another bot's).  The CLI is run once on the issue's
 * reproduction: a URL with a wrong path must be a configuration error
 * (exit 4), not a server error that quotes the request. */
#include "run.h"
#include "storeops.h"
#include "tcase.h"
#include "vtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REST_TOKEN "rest-Tok3n-c0ffee-9d1b"
#define REDIS_PW   "redis-PW-5ecret-77"
/* The lease token of every operation but claim (claim makes its own). */
#define LEASE_TOKEN TOPS_LEASE_TOKEN

static const char *const secrets[] = {REST_TOKEN, REDIS_PW, LEASE_TOKEN};
static const tops_args args = TOPS_SECRETS_ARGS(secrets);

typedef struct target {
    const char *url, *token;
    int retries, timeout_ms;
} target;

static sqclaim_store *open_target(const void *ctx)
{
    const target *t = ctx;
    return vt_open(t->url, t->token, NULL, t->retries, t->timeout_ms);
}

/* Every operation on a fresh handle, each failure's message checked;
 * returns how many failed. */
static int all_ops(const char *url, const char *token, int retries, int timeout_ms,
                   const char *where, sqclaim_rc *rcs)
{
    target t = {url, token, retries, timeout_ms};
    return tops_all(&args, open_target, &t, where, rcs);
}

/* ---- through kvrest ----------------------------------------------------- */

static tsrv redis, kv;
static bool servers_up;

static void servers_start(void)
{
    servers_up = vt_servers_start(&redis, &kv, REDIS_PW, REST_TOKEN);
}
static void servers_stop(void) { vt_servers_stop(&redis, &kv); }
static void each_setup(void) { vt_servers_each(servers_up, &kv); }

/* A URL whose path the server takes as a Redis command is a configuration
 * error, for every operation (single commands and the status pipeline),
 * never a server error quoting the request. */
START_TEST(wrong_path_is_a_configuration_error)
{
    static const char *const paths[] = {"/some/path", "/set", "/v2/kv"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s%s", kv.url, paths[i]);
        sqclaim_rc rcs[TOPS_COUNT];
        all_ops(url, REST_TOKEN, 1, 0, paths[i], rcs);
        tops_expect_all(rcs, SQCLAIM_ECONFIG, paths[i]);
    }
    /* The message says what to fix. */
    char url[256];
    snprintf(url, sizeof url, "%s/some/path", kv.url);
    sqclaim_store *s = vt_open(url, REST_TOKEN, NULL, -1, 0);
    sqclaim_lease l;
    ck_assert_int_eq(sqclaim_claim(s, "SEC-1", "BOT1", 0, &l, NULL), SQCLAIM_ECONFIG);
    ck_assert_msg(strstr(sqclaim_errmsg(s), "path") && strstr(sqclaim_errmsg(s), "rest_url"), "%s",
                  sqclaim_errmsg(s));
    ck_assert(!(l.flags & SQCLAIM_LEASE_UNCERTAIN));
    sqclaim_close(s);
    /* Paths that happen to name a command that accepts the request as
     * arguments (GET, ECHO) fail otherwise, but show no secret either. */
    static const char *const odd[] = {"/get", "/echo"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        snprintf(url, sizeof url, "%s%s", kv.url, odd[i]);
        ck_assert_int_gt(all_ops(url, REST_TOKEN, 1, 0, odd[i], NULL), 0);
    }
}
END_TEST

START_TEST(kvrest_error_paths)
{
    /* Wrong token. */
    sqclaim_rc rcs[TOPS_COUNT];
    all_ops(kv.url, "not-the-" REST_TOKEN, 1, 0, "wrong token", rcs);
    tops_expect_all(rcs, SQCLAIM_EAUTH, "wrong token");
    /* Each fault. */
    static const struct {
        const char *faults;
        int timeout_ms;
    } faults[] = {
        {"{\"fail_rate\":1}", 0},
        {"{\"drop_rate\":1}", 0},
        {"{\"stall_rate\":1,\"stall_ms\":1500}", 300},
        {"{\"quota\":1}", 0},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        vt_faults_clear(&kv);
        vt_faults(&kv, faults[i].faults);
        int failed = all_ops(kv.url, REST_TOKEN, 1, faults[i].timeout_ms, faults[i].faults, NULL);
        ck_assert_msg(failed >= TOPS_COUNT - 1, "%s: only %d failed", faults[i].faults, failed);
    }
    vt_faults_clear(&kv);
}
END_TEST

/* kvrest up, its redis down: 500s with kvrest's own texts. */
START_TEST(kvrest_redis_down)
{
    tsrv r, k;
    ck_assert_int_eq(tsrv_redis_start(&r, REDIS_PW), 0);
    ck_assert_int_eq(tsrv_kvrest_start(&k, &r, REST_TOKEN, NULL), 0);
    tsrv_stop(&r);
    ck_assert_int_eq(all_ops(k.url, REST_TOKEN, 1, 0, "redis down", NULL), TOPS_COUNT);
    tsrv_stop(&k);
}
END_TEST

/* ---- a hostile server ----------------------------------------------------- */

START_TEST(hostile_server_quotes_the_request)
{
    static const rs_action actions[] = {
        /* Redis's own echo of the arguments, for the command we sent and
         * for one we did not */
        {.status = 400,
         .body = "{\"error\":\"ERR unknown command 'EVALSHA', with args beginning with: @REQ@\"}",
         .echo = true},
        {.status = 400,
         .body = "{\"error\":\"ERR unknown command 'x', with args beginning with: @REQ@\"}",
         .echo = true},
        {.status = 400, .body = "{\"error\":\"ERR bad request @REQ@ from @AUTH@\"}", .echo = true},
        {.status = 401, .body = "{\"error\":\"Unauthorized: @AUTH@\"}", .echo = true},
        {.status = 403, .body = "{\"error\":\"NOPERM @AUTH@ @REQ@\"}", .echo = true},
        {.status = 404, .body = "{\"error\":\"no route @REQ@\"}", .echo = true},
        {.status = 413, .body = "{\"error\":\"@REQ@\"}", .echo = true},
        {.status = 429, .body = "{\"error\":\"slow down @AUTH@ @REQ@\"}", .echo = true},
        {.status = 500,
         .body = "{\"error\":\"upstream failed on @REQ@ with @AUTH@\"}",
         .echo = true},
        {.status = 502, .body = "<html><pre>@REQ@ @AUTH@</pre></html>", .echo = true},
        {.status = 503, .body = "@REQ@", .echo = true},
        {.status = 200, .body = "{\"error\":\"ERR @REQ@ @AUTH@\"}", .echo = true},
        {.status = 200, .body = "[{\"error\":\"ERR @REQ@ @AUTH@\"}]", .echo = true},
        {.status = 200, .body = "{\"result\":\"@REQ@\"}", .echo = true},
        {.status = 200, .body = "@REQ@ @AUTH@", .echo = true},
        /* a reply of the wrong shape carrying a lease token: base64 of
         * LEASE_TOKEN, and of a stored value with it */
        {.status = 200, .body = "{\"result\":\"NWVjMmU3NWVjMmU3NWVjMmU3NWVjMmU3NWVjMmU3YWE=\"}"},
        {.status = 200,
         .body = "{\"result\":[\"NWVjMmU3NWVjMmU3NWVjMmU3NWVjMmU3NWVjMmU3YWE=\",1]}"},
        {.status = 301, .headers = "Location: https://elsewhere.example/" REST_TOKEN "\r\n"},
        {.status = 0}, /* connection closed without a reply */
        {.status = 200, .body = "{\"result\":1}", .delay_ms = 700}, /* past the timeout */
    };
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        rs_set_default(vt_rs, &actions[i]);
        char where[64];
        snprintf(where, sizeof where, "responder action %zu (HTTP %d)", i, actions[i].status);
        int failed = all_ops(rs_url(vt_rs), REST_TOKEN, 1, 300, where, NULL);
        ck_assert_msg(failed > 0, "%s: nothing failed", where);
    }
}
END_TEST

START_TEST(refused_connection)
{
    /* A port nothing listens on: the responder's, after it stopped. */
    char url[64];
    snprintf(url, sizeof url, "%s", rs_url(vt_rs));
    rs_stop(vt_rs);
    vt_rs = NULL;
    ck_assert_int_eq(all_ops(url, REST_TOKEN, 1, 300, "refused", NULL), TOPS_COUNT);
    vt_rs = rs_start();
}
END_TEST

/* The issue's reproduction through the CLI: exit 4 (configuration), and
 * stderr quotes no secret. */
START_TEST(cli_wrong_path_exits_4)
{
    ck_assert_msg(access(cr_program(), X_OK) == 0, "%s is not built", cr_program());
    char url[300], urlenv[320];
    snprintf(url, sizeof url, "%s/some/path", kv.url);
    snprintf(urlenv, sizeof urlenv, "KV_REST_API_URL=%s", url);
    const char *env[] = {"SQCLAIM_ADAPTER=vercel", urlenv, "KV_REST_API_TOKEN=" REST_TOKEN, NULL};
    cr_opts o = {.env = env};
    cr_result r;
    cr_runv(&r, &o, "claim", "SEC-9", "--bot", "BOT1", NULL);
    ck_assert_msg(r.code == 4, "exit %d, stderr %s", r.code, r.err);
    ck_assert_str_eq(r.out, "");
    tops_check_message(&args, "cli", TOPS_CLAIM, SQCLAIM_ECONFIG, r.err, NULL);
    ck_assert_ptr_nonnull(strstr(r.err, "KV_REST_API_URL"));
    cr_free(&r);
}
END_TEST

Suite *vt_secrets_suite(void)
{
    Suite *s = suite_create("vercel-secrets");
    TCASE_ADD(s, vt_kvrest_case(servers_start, servers_stop, each_setup),
              wrong_path_is_a_configuration_error, kvrest_error_paths, kvrest_redis_down,
              cli_wrong_path_exits_4);
    TCASE_ADD(
        s,
        ((tcase_spec){
            .name = "hostile", .timeout = 120, .setup = vt_rs_setup, .teardown = vt_rs_teardown}),
        hostile_server_quotes_the_request, refused_connection);
    return s;
}
