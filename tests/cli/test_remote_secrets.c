/* test_remote_secrets.c — the CLI against redis and vercel (through kvrest): secrets never printed;
 * configuration and transport errors; key prefixes; output failures. Shared helpers: remote.h. */
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Secrets never printed; configuration and transport errors            */

static const char *const lease_cmds[][8] = {
    {"claim", "X1", "--bot", "B", NULL},
    {"claim-first", "X1", "X2", "--bot", "B", NULL},
    {"renew", NULL},
    {"release", NULL},
    {"reserve", "--rows", "3", NULL},
    {"finish", NULL},
    {"status", NULL},
    {"status", "--pretty", NULL},
    {"watch", "--count", "1", "--interval", "10ms", NULL},
    {"watch", "--json", "--count", "1", "--interval", "10ms", NULL},
};
#define NLEASE_CMDS (sizeof lease_cmds / sizeof lease_cmds[0])
#define SOME_LEASE                                                                                 \
    "{\"sq\":\"X1\",\"bot\":\"B\",\"token\":\"0123456789abcdef0123456789abcdef\",\"fence\":1}"

/* Run every command with env; expect `code`, and no `secret` anywhere. */
static void every_command(const char *const *env, const char *const *env2, int code,
                          const char *secret, const char *secret2, const char *expect)
{
    for (size_t i = 0; i < NLEASE_CMDS; i++) {
        const char *args[12];
        size_t n = 0;
        args[n++] = "--timeout";
        args[n++] = "1s";
        for (size_t k = 0; lease_cmds[i][k]; k++)
            args[n++] = lease_cmds[i][k];
        args[n] = NULL;
        cr_opts o;
        memset(&o, 0, sizeof o);
        o.env = env;
        o.env2 = env2;
        o.input = SOME_LEASE;
        cr_result r;
        cr_run(&r, &o, args);
        ck_assert_msg(r.code == code, "%s: exit %d, expected %d\n%s\n%s", lease_cmds[i][0], r.code,
                      code, r.out, r.err);
        tc_check_no_secret(&r, secret);
        if (secret2)
            tc_check_no_secret(&r, secret2);
        if (expect)
            ck_assert_msg(cr_contains(r.err, r.errlen, expect), "%s: %s", lease_cmds[i][0], r.err);
        tc_check_stderr_form(&r);
        if (strcmp(lease_cmds[i][0], "status") == 0) {
            /* The error as the seed's JSON on stdout. */
            cJSON *j = tc_json(r.out);
            ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")));
            ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
            cJSON_Delete(j);
        }
        cr_free(&r);
    }
}

START_TEST(test_secrets)
{
    const tc_backend *b = &tc_backends[_i];
    int closed = tsrv_free_port();
    if (strcmp(b->name, "redis") == 0) {
        /* A password in REDIS_URL, a server that is not there: 5, and the
         * password nowhere. */
        char url[256];
        snprintf(url, sizeof url, "REDIS_URL=redis://:%s@127.0.0.1:%d", TC_REDIS_PASSWORD, closed);
        const char *env[] = {"SQCLAIM_ADAPTER=redis", url, NULL};
        every_command(env, NULL, 5, TC_REDIS_PASSWORD, NULL, NULL);
        /* The same through --redis-url. */
        cr_result r;
        cr_opts o;
        memset(&o, 0, sizeof o);
        TC_RUNV(&r, &o, 5, "--adapter", "redis", "--redis-url", url + 10, "--timeout", "1s",
                "status", NULL);
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
        /* A wrong password: configuration (4); neither password shown. */
        snprintf(url, sizeof url, "REDIS_URL=redis://:wrong-Pw-77x@127.0.0.1:%d", tc_redis_pw.port);
        const char *env2[] = {"SQCLAIM_ADAPTER=redis", url, NULL};
        every_command(env2, NULL, 4, "wrong-Pw-77x", TC_REDIS_PASSWORD, NULL);
        /* The right one: works, still never shown. */
        snprintf(url, sizeof url, "REDIS_URL=redis://:%s@127.0.0.1:%d", TC_REDIS_PASSWORD,
                 tc_redis_pw.port);
        char pfx[64], penv[96];
        snprintf(penv, sizeof penv, "SQCLAIM_KEY_PREFIX=%s", tc_prefix(pfx, sizeof pfx));
        const char *env3[] = {"SQCLAIM_ADAPTER=redis", url, penv, NULL};
        o.env = env3;
        TC_RUNV(&r, &o, 0, "claim", "X1", "--bot", "B", NULL);
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
        TC_RUNV(&r, &o, 0, "status", NULL);
        ck_assert(cr_contains(r.out, r.outlen, "\"X1\""));
        tc_check_no_secret(&r, TC_REDIS_PASSWORD);
        cr_free(&r);
    } else {
        /* The REST token with a server that is not there: 5. */
        char url[200];
        snprintf(url, sizeof url, "KV_REST_API_URL=http://127.0.0.1:%d", closed);
        const char *env[] = {"SQCLAIM_ADAPTER=vercel", url, "KV_REST_API_TOKEN=" TC_KV_TOKEN, NULL};
        every_command(env, NULL, 5, TC_KV_TOKEN, NULL, NULL);
        /* A wrong token: 4, neither token shown. */
        snprintf(url, sizeof url, "KV_REST_API_URL=%s", tc_kvrest.url);
        const char *env2[] = {"SQCLAIM_ADAPTER=vercel", url, "KV_REST_API_TOKEN=wrong-Tok-99q",
                              NULL};
        every_command(env2, NULL, 4, "wrong-Tok-99q", TC_KV_TOKEN, NULL);
        /* Upstash's names work too. */
        const char *env3[] = {"SQCLAIM_ADAPTER=vercel", "UPSTASH_REDIS_REST_TOKEN=" TC_KV_TOKEN,
                              NULL};
        char up[160];
        snprintf(up, sizeof up, "UPSTASH_REDIS_REST_URL=%s", tc_kvrest.url);
        const char *env4[] = {up, NULL};
        cr_opts o;
        memset(&o, 0, sizeof o);
        o.env = env3;
        o.env2 = env4;
        cr_result r;
        TC_RUNV(&r, &o, 0, "status", NULL);
        tc_check_no_secret(&r, TC_KV_TOKEN);
        cr_free(&r);
    }
}
END_TEST

/* Keys under one prefix are invisible under another. */
START_TEST(test_prefix)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "X1", NULL, &l);
    char other[64];
    tc_prefix(other, sizeof other);
    cr_opts o = tc_opts(x.b, NULL);
    cr_result r;
    TC_RUNV(&r, &o, 0, "--prefix", other, "status", NULL);
    ck_assert(!cr_contains(r.out, r.outlen, "\"X1\""));
    cr_free(&r);
    TC_RUNV(&r, &o, 0, "status", "--prefix", x.prefix, NULL);
    ck_assert(cr_contains(r.out, r.outlen, "\"X1\""));
    cr_free(&r);
    TC_EXITS(&o, 0, "claim", "X1", "--bot", "BOT2", "--prefix", other, NULL);
}
END_TEST

/* stdout gone: the claim is released, not left for its TTL. */
START_TEST(test_output_failure_releases)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    o.stdout_path = "/dev/full";
    cr_result r;
    TC_RUNV(&r, &o, 5, "claim", "X1", "--bot", "BOT1", NULL);
    ck_assert(cr_contains(r.err, r.errlen, "has been released"));
    cr_free(&r);
    tc_lease l;
    claim_ok(&x, "X1", "BOT2", NULL, &l);
    /* reserve: the range is finished (removed) again. */
    const char *reserve[] = {"reserve", "--rows", "4", NULL};
    o.input = l.line;
    cr_run(&r, &o, reserve);
    TC_EXIT(&r, 5);
    ck_assert(cr_contains(r.err, r.errlen, "has been finished"));
    cr_free(&r);
    int claims, reservations;
    held_counts(&x, &claims, &reservations);
    ck_assert_int_eq(claims, 1); /* BOT2's claim stays */
    ck_assert_int_eq(reservations, 0);
}
END_TEST

void trm_add_secrets(TCase *tc)
{
    TC_ADD_LOOPS(tc, test_secrets, test_prefix, test_output_failure_releases);
}
