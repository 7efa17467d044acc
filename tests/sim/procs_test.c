/* procs_test.c — sqsim --procs end to end (docs/simulator.md, "--procs"):
 *
 *   - on sqlite the bots are really separate processes (the report lists a
 *     PID per bot process: all distinct, none the simulator's own), the
 *     parent really killed some with SIGKILL and restarted them, and the
 *     oracle, fed from shared memory, passes the run with coverage;
 *   - the same on redis, against a private redis-server;
 *   - memory refuses --procs (exit 2, and says why);
 *   - the negative control that gives every handle private memory (the
 *     seed's bug, and what a non-shared backend does to processes) is
 *     caught in --procs mode, on memory and on sqlite, and so is every
 *     other sqlite negative control.
 *
 * sqsim is $SQCLAIM_SQSIM (make check sets it), else build/sqsim; it runs
 * through tests/support/run.c (no shell, a timeout, a scrubbed
 * environment).  A missing redis-server FAILS under CI=true, elsewhere it
 * is a printed SKIP. */
#include "run.h"
#include "servers.h"
#include "tcase.h"
#include "tfile.h"
#include "tjson.h"

#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *sqsim_path(void)
{
    const char *p = getenv("SQCLAIM_SQSIM");
    return p && *p ? p : "build/sqsim";
}

typedef struct res {
    int status;
    char *out; /* stdout then stderr */
    cJSON *report;
} res;

/* sqsim with args (NULL-terminated) and env, plus --report FILE. */
static void run(res *r, int limit_s, const char *const *args, const char *const *env)
{
    static int seq;
    char report[128];
    snprintf(report, sizeof report, "/tmp/sqsim-procs-test-%d-%d.json", (int)getpid(), seq++);
    const char *argv[40];
    int n = 0;
    argv[n++] = sqsim_path();
    for (int i = 0; args[i] && n < 36; i++)
        argv[n++] = args[i];
    argv[n++] = "--report";
    argv[n++] = report;
    argv[n] = NULL;
    cr_opts o = {.env = env, .raw_argv = true, .timeout_ms = limit_s * 1000};
    cr_result cr;
    cr_run(&cr, &o, argv);
    memset(r, 0, sizeof *r);
    r->status = cr.code;
    size_t len = cr.outlen + cr.errlen;
    r->out = malloc(len + 1);
    ck_assert_ptr_nonnull(r->out);
    memcpy(r->out, cr.out, cr.outlen);
    memcpy(r->out + cr.outlen, cr.err, cr.errlen);
    r->out[len] = '\0';
    cr_free(&cr);
    char *json = tfile_read(report, NULL);
    r->report = json ? cJSON_Parse(json) : NULL;
    free(json);
    unlink(report);
}

static void res_free(res *r)
{
    cJSON_Delete(r->report);
    free(r->out);
}

/* A passing --procs run whose report shows nbots bots run as distinct
 * processes, at least one killed with SIGKILL and restarted. */
static void expect_procs_pass(const res *r, int nbots, const char *what)
{
    ck_assert_msg(r->status == 0, "%s: exit %d\n%s", what, r->status, r->out);
    ck_assert_ptr_nonnull(r->report);
    ck_assert_str_eq(cJSON_GetStringValue(tjson_get(r->report, "verdict", NULL)), "pass");
    ck_assert_uint_eq((unsigned)tjson_num(r->report, "violations", "count"), 0);
    ck_assert(tjson_num(r->report, "counters", "grants") > 0);
    ck_assert(tjson_num(r->report, "counters", "refusals") >= 10);
    ck_assert(tjson_num(r->report, "counters", "takeovers") >= 3);
    ck_assert(tjson_num(r->report, "oracle", "grants") ==
              tjson_num(r->report, "counters", "grants"));

    const cJSON *p = tjson_get(r->report, "procs", NULL);
    ck_assert_msg(cJSON_IsObject(p), "%s: no \"procs\" in the report", what);
    double parent = tjson_num(p, "parent_pid", NULL);
    double kills = tjson_num(p, "kills", NULL);
    ck_assert_msg(kills >= 1, "%s: no bot process was killed", what);
    ck_assert(tjson_num(p, "restarts", NULL) == kills);
    ck_assert(tjson_num(p, "failed_processes", NULL) == 0);
    ck_assert(tjson_num(p, "bot_processes", NULL) == nbots + kills);
    ck_assert(tjson_num(r->report, "counters", "crashes") == kills);
    const cJSON *bots = tjson_get(p, "bots", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(bots), nbots);
    /* Every PID distinct, none the simulator's own. */
    double seen[4096];
    int nseen = 0, restarted = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, bots)
    {
        const cJSON *pids = tjson_get(b, "pids", NULL);
        ck_assert(cJSON_GetArraySize(pids) >= 1);
        ck_assert(cJSON_GetArraySize(pids) == (int)tjson_num(b, "processes", NULL));
        if (cJSON_GetArraySize(pids) > 1)
            restarted++;
        const cJSON *pid;
        cJSON_ArrayForEach(pid, pids)
        {
            ck_assert(cJSON_IsNumber(pid) && pid->valuedouble > 0);
            ck_assert_msg(pid->valuedouble != parent, "%s: a bot ran in the parent", what);
            for (int i = 0; i < nseen; i++)
                ck_assert_msg(seen[i] != pid->valuedouble, "%s: pid %.0f twice", what,
                              pid->valuedouble);
            if (nseen < 4096)
                seen[nseen++] = pid->valuedouble;
        }
    }
    ck_assert_int_eq(nseen, nbots + (int)kills);
    ck_assert(restarted >= 1);
    ck_assert_ptr_nonnull(strstr(r->out, "killed with SIGKILL"));
    ck_assert_ptr_nonnull(strstr(r->out, "PASS"));
}

START_TEST(sqlite_procs_pass_with_kills)
{
    /* --crash-rate 0.15: a kill every ~125 ms on average, a dozen or so. */
    const char *args[] = {"--backend", "sqlite", "--procs",      "--seed", "5",
                          "--bots",    "6",      "--crash-rate", "0.15",   NULL};
    res r;
    run(&r, 60, args, NULL);
    expect_procs_pass(&r, 6, "sqlite --procs");
    res_free(&r);
}
END_TEST

START_TEST(redis_procs_pass_with_kills)
{
    bool have = access("/usr/bin/redis-server", X_OK) == 0 ||
                system("command -v redis-server >/dev/null 2>&1") == 0;
    const char *ci = getenv("CI");
    if (!have) {
        ck_assert_msg(!(ci && strcmp(ci, "true") == 0), "redis-server is missing under CI=true");
        printf("SKIP: redis --procs: no redis-server\n");
        return;
    }
    tsrv redis;
    ck_assert_int_eq(tsrv_redis_start(&redis, NULL), 0);
    char url[200];
    snprintf(url, sizeof url, "REDIS_URL=%s", redis.url);
    const char *env[] = {url, NULL};
    const char *args[] = {"--backend", "redis",        "--procs", "--seed",
                          "9",         "--crash-rate", "0.15",    NULL};
    res r;
    run(&r, 60, args, env);
    tsrv_stop(&redis);
    expect_procs_pass(&r, 8, "redis --procs");
    res_free(&r);
}
END_TEST

START_TEST(memory_refuses_procs)
{
    const char *args[] = {"--backend", "memory", "--procs", "--duration", "1s", NULL};
    res r;
    run(&r, 20, args, NULL);
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "--procs"));
    ck_assert_ptr_nonnull(strstr(r.out, "one process's memory"));
    res_free(&r);
}
END_TEST

/* The negative controls that apply across processes: each caught (exit 1,
 * a violation in the report) within 10 s, on two seeds. */
static const char *const controls[][2] = {
    {"memory", "broken-private-memory"}, {"sqlite", "broken-private-memory"},
    {"sqlite", "broken-check-then-set"}, {"sqlite", "broken-release-no-owner"},
    {"sqlite", "broken-renew-revives"},  {"sqlite", "broken-racy-cursor"},
};

START_TEST(controls_caught_in_procs_mode)
{
    for (int k = 0; k < 2; k++) {
        char seed[16];
        snprintf(seed, sizeof seed, "%d", 300 + 7 * k + (int)_i);
        const char *args[] = {"--backend",
                              controls[_i][0],
                              "--procs",
                              "--negative-control",
                              controls[_i][1],
                              "--seed",
                              seed,
                              "--quiet",
                              NULL};
        res r;
        long long t0 = tsrv_now_ms();
        run(&r, 20, args, NULL);
        double secs = (double)(tsrv_now_ms() - t0) / 1000.0;
        ck_assert_msg(r.status == 1, "%s %s seed %s: exit %d, expected 1\n%s", controls[_i][0],
                      controls[_i][1], seed, r.status, r.out);
        ck_assert_msg(secs < 10.0, "%s: caught only after %.2f s", controls[_i][1], secs);
        ck_assert_ptr_nonnull(r.report);
        ck_assert_str_eq(cJSON_GetStringValue(tjson_get(r.report, "verdict", NULL)), "violation");
        ck_assert(tjson_num(r.report, "violations", "count") >= 1);
        ck_assert(cJSON_IsObject(tjson_get(r.report, "procs", NULL)));
        res_free(&r);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sqsim-procs");
    TCase *tc =
        TCASE_ADD(s, ((tcase_spec){.name = "procs", .timeout = 300}), sqlite_procs_pass_with_kills,
                  redis_procs_pass_with_kills, memory_refuses_procs);
    tcase_add_loop_test(tc, controls_caught_in_procs_mode, 0,
                        (int)(sizeof controls / sizeof controls[0]));
    return s;
}

int main(void) { return run_suite(suite()); }
