/* runs_test.c — sqsim end to end: it must catch every negative control,
 * pass the correct backends with coverage met, and say so in its exit
 * status and its JSON report.
 *
 * The binary is $SQCLAIM_SQSIM (make check sets it), else build/sqsim.
 * Every negative control runs five times with different seeds; each run
 * must exit 1 with at least one violation in its report within 10 s. */
#include "servers.h"

#include <cJSON.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const controls[] = {
    "broken-check-then-set", "broken-private-memory", "broken-release-no-owner",
    "broken-renew-revives",  "broken-racy-cursor",
};
#define NCONTROLS (sizeof controls / sizeof controls[0])

static char tmpdir[256];

static const char *sqsim_path(void)
{
    const char *p = getenv("SQCLAIM_SQSIM");
    return p && *p ? p : "build/sqsim";
}

typedef struct run_result {
    int status;       /* exit status, or 128 + signal */
    double seconds;   /* wall time */
    cJSON *report;    /* parsed --report, or NULL */
    char out[8192];   /* stdout + stderr (truncated) */
} run_result;

/* Run sqsim with args (NULL-terminated) plus --report FILE, bounded by
 * limit_s (killed after that). */
static void run_sqsim(run_result *r, double limit_s, const char *const *args)
{
    memset(r, 0, sizeof *r);
    char report[320], outpath[320];
    static int seq;
    snprintf(report, sizeof report, "%s/report-%d.json", tmpdir, seq);
    snprintf(outpath, sizeof outpath, "%s/out-%d.txt", tmpdir, seq++);
    char *argv[64];
    int n = 0;
    argv[n++] = strdup(sqsim_path());
    for (int i = 0; args[i] && n < 60; i++)
        argv[n++] = strdup(args[i]);
    argv[n++] = strdup("--report");
    argv[n++] = strdup(report);
    argv[n] = NULL;
    long long t0 = tsrv_now_ms();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < n; i++)
        free(argv[i]);
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if ((double)(tsrv_now_ms() - t0) / 1000.0 > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    r->seconds = (double)(tsrv_now_ms() - t0) / 1000.0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    FILE *f = fopen(outpath, "r");
    if (f) {
        size_t got = fread(r->out, 1, sizeof r->out - 1, f);
        r->out[got] = '\0';
        fclose(f);
    }
    f = fopen(report, "r");
    if (f) {
        static char buf[1 << 20];
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        buf[got] = '\0';
        fclose(f);
        r->report = cJSON_Parse(buf);
    }
    unlink(report);
    unlink(outpath);
}

static double num(const cJSON *root, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    ck_assert_msg(cJSON_IsNumber(x), "report has no number %s.%s", a, b ? b : "");
    return x->valuedouble;
}

static const char *str(const cJSON *root, const char *a)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    ck_assert_msg(cJSON_IsString(x), "report has no string %s", a);
    return x->valuestring;
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqsim-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) { rmdir(tmpdir); }

/* ---- negative controls: 5 of 5 caught, each within 10 s ---------------- */

START_TEST(control_is_caught_five_times)
{
    const char *control = controls[_i];
    for (int k = 0; k < 5; k++) {
        char seed[32];
        snprintf(seed, sizeof seed, "%d", 1000 + 17 * k + (int)_i);
        const char *args[] = {"--negative-control", control, "--seed", seed, "--quiet", NULL};
        run_result r;
        run_sqsim(&r, 15, args);
        ck_assert_msg(r.status == 1, "%s seed %s: exit %d, expected 1 (a violation)\n%s",
                      control, seed, r.status, r.out);
        ck_assert_msg(r.seconds < 10.0, "%s seed %s: caught only after %.2f s", control, seed,
                      r.seconds);
        ck_assert_ptr_nonnull(r.report);
        ck_assert_str_eq(str(r.report, "verdict"), "violation");
        ck_assert_msg(num(r.report, "violations", "count") >= 1, "%s: no violation listed",
                      control);
        ck_assert_ptr_nonnull(strstr(r.out, "VIOLATION"));
        ck_assert_ptr_nonnull(strstr(r.out, "reproduce: "));
        ck_assert_ptr_nonnull(strstr(str(r.report, "reproduce"), seed));
        cJSON_Delete(r.report);
    }
}
END_TEST

/* The same workloads on the correct backend find nothing: the controls are
 * caught for their bugs, not for the workload. */
START_TEST(control_workload_on_correct_backend_passes)
{
    const char *args[] = {"--workload", controls[_i], "--duration", "1s", "--seed", "42",
                          "--quiet", NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    ck_assert_msg(r.status == 0, "%s workload on memory: exit %d\n%s", controls[_i], r.status,
                  r.out);
    ck_assert_ptr_nonnull(r.report);
    ck_assert_uint_eq((unsigned)num(r.report, "violations", "count"), 0);
    cJSON_Delete(r.report);
}
END_TEST

/* ---- the correct backends --------------------------------------------- */

static void expect_pass_with_coverage(run_result *r, const char *what)
{
    ck_assert_msg(r->status == 0, "%s: exit %d\n%s", what, r->status, r->out);
    ck_assert_ptr_nonnull(r->report);
    ck_assert_str_eq(str(r->report, "verdict"), "pass");
    ck_assert_uint_eq((unsigned)num(r->report, "violations", "count"), 0);
    ck_assert(num(r->report, "counters", "refusals") >= num(r->report, "config", "min_refusals"));
    ck_assert(num(r->report, "counters", "takeovers") >=
              num(r->report, "config", "min_takeovers"));
    ck_assert(num(r->report, "counters", "stale_writes_rejected") >=
              num(r->report, "config", "min_stale_writes"));
    ck_assert(num(r->report, "counters", "grants") > 0);
    ck_assert_ptr_nonnull(strstr(r->out, "PASS"));
}

START_TEST(memory_default_passes_with_coverage)
{
    const char *args[] = {"--adapter", "memory", "--seed", "7", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    expect_pass_with_coverage(&r, "memory");
    ck_assert(num(r.report, "counters", "takeovers") >= 3);
    ck_assert(num(r.report, "counters", "stale_writes_rejected") >= 1);
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(r.report, "latency_us");
    const cJSON *claim = cJSON_GetObjectItemCaseSensitive(lat, "claim");
    ck_assert(cJSON_IsObject(claim));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(claim, "p99.9")));
    cJSON_Delete(r.report);
}
END_TEST

START_TEST(nothing_exercised_is_not_a_pass)
{
    /* One bot cannot be refused: coverage is missing, so exit 1. */
    const char *args[] = {"--bots", "1", "--ops", "50", "--seed", "3", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    ck_assert_msg(r.status == 1, "exit %d\n%s", r.status, r.out);
    ck_assert_str_eq(str(r.report, "verdict"), "coverage");
    ck_assert_ptr_nonnull(strstr(r.out, "refusals 0 < 10"));
    cJSON_Delete(r.report);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    const char *bad[][5] = {
        {"--bots", "0", NULL},
        {"--adapter", "nosuch", NULL},
        {"--negative-control", "broken-nothing", NULL},
        {"--adapter", "redis", "--negative-control", "broken-racy-cursor", NULL},
        {"--ttl", "1ms", NULL},
        {"--frobnicate", NULL},
        {"--kv-fail-rate", "2", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r;
        run_sqsim(&r, 10, bad[i]);
        ck_assert_msg(r.status == 2, "args %s %s: exit %d\n%s", bad[i][0],
                      bad[i][1] ? bad[i][1] : "", r.status, r.out);
        cJSON_Delete(r.report);
    }
}
END_TEST

START_TEST(unreachable_backend_exits_2)
{
    int port = tsrv_free_port();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    setenv("REDIS_URL", url, 1);
    const char *args[] = {"--adapter", "redis", "--duration", "1s", NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    unsetenv("REDIS_URL");
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    cJSON_Delete(r.report);
}
END_TEST

START_TEST(bench_oracle_runs)
{
    const char *args[] = {"--bench-oracle", "100000", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    ck_assert_msg(r.status == 0, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "ms CPU"));
    cJSON_Delete(r.report);
}
END_TEST

/* ---- real servers: redis, and vercel through kvrest with faults -------- */

static tsrv redis, kv;
static bool have_redis, have_kv;

static void servers_up(void)
{
    have_redis = have_kv = false;
    if (access("/usr/bin/redis-server", X_OK) != 0 && system("command -v redis-server >/dev/null"))
        return;
    if (tsrv_redis_start(&redis, NULL) != 0)
        return;
    have_redis = true;
    if (tsrv_kvrest_start(&kv, &redis, "sqsim-test-token", NULL) == 0)
        have_kv = true;
}

static void servers_down(void)
{
    if (have_kv)
        tsrv_stop(&kv);
    if (have_redis)
        tsrv_stop(&redis);
}

static bool built(const char *adapter)
{
    /* sqsim refuses an unbuilt backend with exit 2 and says so. */
    const char *args[] = {"--adapter", adapter, "--ops", "1", "--quiet", NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    cJSON_Delete(r.report);
    return !strstr(r.out, "not built");
}

START_TEST(redis_passes_with_coverage)
{
    if (!have_redis || !built("redis"))
        return;
    setenv("REDIS_URL", redis.url, 1);
    const char *args[] = {"--adapter", "redis", "--seed", "11", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    expect_pass_with_coverage(&r, "redis");
    ck_assert(num(r.report, "counters", "round_trips") > 0);
    cJSON_Delete(r.report);
}
END_TEST

START_TEST(vercel_with_faults_passes)
{
    if (!have_kv || !built("vercel"))
        return;
    setenv("KV_REST_API_URL", kv.url, 1);
    setenv("KV_REST_API_TOKEN", kv.token, 1);
    /* Fewer, slower leases over HTTP: more pauses keep stale writes likely. */
    const char *args[] = {"--adapter", "vercel", "--kv-faults", "--seed", "12", "--duration", "4s",
                          "--pause-rate", "0.2", "--min-takeovers", "1", NULL};
    run_result r;
    run_sqsim(&r, 90, args);
    expect_pass_with_coverage(&r, "vercel");
    ck_assert(num(r.report, "counters", "round_trips") > 0);
    cJSON_Delete(r.report);
}
END_TEST

static void *kill_later(void *arg)
{
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    tsrv_kill(arg, SIGKILL);
    return NULL;
}

/* A backend that stops answering mid-run is a backend error, not a pass. */
START_TEST(backend_dying_midrun_exits_2)
{
    if (!have_redis || !built("redis"))
        return;
    tsrv own;
    ck_assert_int_eq(tsrv_redis_start(&own, NULL), 0);
    setenv("REDIS_URL", own.url, 1);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, kill_later, &own), 0);
    const char *args[] = {"--adapter", "redis", "--duration", "3s", "--seed", "13", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    pthread_join(t, NULL);
    tsrv_stop(&own);
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "ERROR: the backend failed"));
    cJSON_Delete(r.report);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sqsim-runs");
    TCase *tc = tcase_create("negative-controls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, control_is_caught_five_times, 0, (int)NCONTROLS);
    tcase_add_loop_test(tc, control_workload_on_correct_backend_passes, 0, (int)NCONTROLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, memory_default_passes_with_coverage);
    tcase_add_test(tc, nothing_exercised_is_not_a_pass);
    tcase_add_test(tc, usage_errors_exit_2);
    tcase_add_test(tc, unreachable_backend_exits_2);
    tcase_add_test(tc, bench_oracle_runs);
    suite_add_tcase(s, tc);

    tc = tcase_create("servers");
    tcase_add_unchecked_fixture(tc, servers_up, servers_down);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, redis_passes_with_coverage);
    tcase_add_test(tc, vercel_with_faults_passes);
    tcase_add_test(tc, backend_dying_midrun_exits_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
