/* runs_test.c — sqsim end to end: it must catch every negative control,
 * pass the correct backends with coverage met, and say so in its exit
 * status and its JSON report; and ci/with-servers.sh, which CI runs it
 * under, must never leave a server behind.
 *
 * The programs are $SQCLAIM_SQSIM (make check sets it, else build/sqsim)
 * and $SQCLAIM_WITH_SERVERS (else ci/with-servers.sh).  They run through
 * tests/cli/run.c: no shell, a timeout, and an environment without the
 * developer's sqclaim settings (SQCLAIM_*, REDIS_URL, KV_*), so only what
 * a test passes reaches them.  Every negative control runs five times
 * with different seeds; each run must exit 1 with at least one violation
 * in its report within 10 s. */
#include "run.h"
#include "servers.h"
#include "skip.h"
#include "tfile.h"
#include "tjson.h"
#include "tcase.h"

#include <cJSON.h>
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const controls[] = {
    "broken-check-then-set", "broken-private-memory", "broken-release-no-owner",
    "broken-renew-revives",  "broken-racy-cursor",
};
#define NCONTROLS (sizeof controls / sizeof controls[0])

static char tmpdir[256];

static const char *env_or(const char *name, const char *dflt)
{
    const char *p = getenv(name);
    return p && *p ? p : dflt;
}

static const char *sqsim_path(void) { return env_or("SQCLAIM_SQSIM", "build/sqsim"); }
static const char *kvrest_path(void) { return env_or("SQCLAIM_KVREST", "build/kvrest"); }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

typedef struct run_result {
    int status;     /* exit status, or 128 + signal */
    double seconds; /* wall time */
    cJSON *report;  /* parsed --report, or NULL */
    char *json;     /* the report's text, or NULL */
    char *out;      /* stdout then stderr */
} run_result;

static void run_free(run_result *r)
{
    cJSON_Delete(r->report);
    free(r->json);
    free(r->out);
    memset(r, 0, sizeof *r);
}

/* The argv for sqsim: args (NULL-terminated) plus --report into tmpdir. */
static const char **sqsim_argv(const char *const *args, char *report, size_t len)
{
    static int seq;
    static const char *argv[64];
    snprintf(report, len, "%s/report-%d.json", tmpdir, seq++);
    int n = 0;
    argv[n++] = sqsim_path();
    for (int i = 0; args[i] && n < 60; i++)
        argv[n++] = args[i];
    argv[n++] = "--report";
    argv[n++] = report;
    argv[n] = NULL;
    return argv;
}

static void collect(run_result *r, cr_result *cr, const char *report, long long t0)
{
    r->seconds = (double)(tsrv_now_ms() - t0) / 1000.0;
    r->status = cr->code;
    size_t n = cr->outlen + cr->errlen;
    r->out = malloc(n + 1);
    ck_assert_ptr_nonnull(r->out);
    memcpy(r->out, cr->out, cr->outlen);
    memcpy(r->out + cr->outlen, cr->err, cr->errlen);
    r->out[n] = '\0';
    cr_free(cr);
    r->json = tfile_read(report, NULL);
    r->report = r->json ? cJSON_Parse(r->json) : NULL;
    unlink(report);
}

/* Run sqsim with args (NULL-terminated) and env ("NAME=value" strings,
 * NULL-terminated, may be NULL) plus --report FILE, killed after limit_s. */
static void run_sqsim_env(run_result *r, double limit_s, const char *const *args,
                          const char *const *env)
{
    memset(r, 0, sizeof *r);
    char report[320];
    const char **argv = sqsim_argv(args, report, sizeof report);
    cr_opts o = {.env = env, .raw_argv = true, .timeout_ms = (int)(limit_s * 1000)};
    cr_result cr;
    long long t0 = tsrv_now_ms();
    cr_run(&cr, &o, argv);
    collect(r, &cr, report, t0);
}

static void run_sqsim(run_result *r, double limit_s, const char *const *args)
{
    run_sqsim_env(r, limit_s, args, NULL);
}

/* An operation's count of one outcome in latency_us (0 if not there). */
static double outcomes(const cJSON *report, const char *op, const char *outcome)
{
    const cJSON *x = tjson_get(tjson_get(report, "latency_us", op), outcome, NULL);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* One temporary directory per test case, made and removed (with whatever
 * a failed test left in it) by the runner process: an unchecked fixture,
 * whose teardown runs even when a test fails. */
static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqsim-test.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static void teardown(void) { nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

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
        ck_assert_msg(r.status == 1, "%s seed %s: exit %d, expected 1 (a violation)\n%s", control,
                      seed, r.status, r.out);
        ck_assert_msg(r.seconds < 10.0, "%s seed %s: caught only after %.2f s", control, seed,
                      r.seconds);
        ck_assert_ptr_nonnull(r.report);
        ck_assert_str_eq(tjson_str(r.report, "verdict"), "violation");
        ck_assert_msg(tjson_num(r.report, "violations", "count") >= 1, "%s: no violation listed",
                      control);
        ck_assert_ptr_nonnull(strstr(r.out, "VIOLATION"));
        ck_assert_ptr_nonnull(strstr(r.out, "reproduce: "));
        ck_assert_ptr_nonnull(strstr(tjson_str(r.report, "reproduce"), seed));
        run_free(&r);
    }
}
END_TEST

/* The same workloads on the correct backend find nothing: the controls are
 * caught for their bugs, not for the workload. */
START_TEST(control_workload_on_correct_backend_passes)
{
    const char *args[] = {"--workload", controls[_i], "--duration", "1s",
                          "--seed",     "42",         "--quiet",    NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    ck_assert_msg(r.status == 0, "%s workload on memory: exit %d\n%s", controls[_i], r.status,
                  r.out);
    ck_assert_ptr_nonnull(r.report);
    ck_assert_uint_eq((unsigned)tjson_num(r.report, "violations", "count"), 0);
    ck_assert_str_eq(cJSON_GetStringValue(tjson_get(r.report, "config", "workload")), controls[_i]);
    run_free(&r);
}
END_TEST

/* ---- the correct backends --------------------------------------------- */

static void expect_pass_with_coverage(run_result *r, const char *what)
{
    ck_assert_msg(r->status == 0, "%s: exit %d\n%s", what, r->status, r->out);
    ck_assert_ptr_nonnull(r->report);
    ck_assert_str_eq(tjson_str(r->report, "verdict"), "pass");
    ck_assert_uint_eq((unsigned)tjson_num(r->report, "violations", "count"), 0);
    ck_assert(tjson_num(r->report, "counters", "refusals") >=
              tjson_num(r->report, "config", "min_refusals"));
    ck_assert(tjson_num(r->report, "counters", "takeovers") >=
              tjson_num(r->report, "config", "min_takeovers"));
    ck_assert(tjson_num(r->report, "counters", "stale_writes_rejected") >=
              tjson_num(r->report, "config", "min_stale_writes"));
    ck_assert(tjson_num(r->report, "counters", "grants") > 0);
    ck_assert_ptr_nonnull(strstr(r->out, "PASS"));
}

START_TEST(memory_default_passes_with_coverage)
{
    const char *args[] = {"--adapter", "memory", "--seed", "7", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    expect_pass_with_coverage(&r, "memory");
    ck_assert(tjson_num(r.report, "counters", "takeovers") >= 3);
    ck_assert(tjson_num(r.report, "counters", "stale_writes_rejected") >= 1);
    const cJSON *claim = tjson_get(r.report, "latency_us", "claim");
    ck_assert(cJSON_IsObject(claim));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(claim, "p99.9")));
    ck_assert(tjson_num(r.report, "oracle", "grants") == tjson_num(r.report, "counters", "grants"));
    run_free(&r);
}
END_TEST

START_TEST(nothing_exercised_is_not_a_pass)
{
    /* One bot cannot be refused: coverage is missing, so exit 1. */
    const char *args[] = {"--bots", "1", "--ops", "50", "--seed", "3", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    ck_assert_msg(r.status == 1, "exit %d\n%s", r.status, r.out);
    ck_assert_str_eq(tjson_str(r.report, "verdict"), "coverage");
    ck_assert_ptr_nonnull(strstr(r.out, "refusals 0 < 10"));
    run_free(&r);
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
        run_free(&r);
    }
}
END_TEST

START_TEST(unreachable_backend_exits_2)
{
    char url[64];
    snprintf(url, sizeof url, "REDIS_URL=redis://127.0.0.1:%d", tsrv_free_port());
    const char *env[] = {url, NULL};
    const char *args[] = {"--adapter", "redis", "--duration", "1s", NULL};
    run_result r;
    run_sqsim_env(&r, 30, args, env);
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    run_free(&r);
}
END_TEST

START_TEST(bench_oracle_runs)
{
    const char *args[] = {"--bench-oracle", "100000", NULL};
    run_result r;
    run_sqsim(&r, 60, args);
    ck_assert_msg(r.status == 0, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "ms CPU"));
    run_free(&r);
}
END_TEST

/* Wait until process pid catches sig (its handler is installed), at most
 * wait_ms; true if it does. */
static bool catches(pid_t pid, int sig, long wait_ms)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    for (long t = 0; t <= wait_ms; t += 10) {
        char *st = tfile_read(path, NULL);
        const char *c = st ? strstr(st, "SigCgt:") : NULL;
        unsigned long long mask = c ? strtoull(c + 7, NULL, 16) : 0;
        free(st);
        if (mask & (1ULL << (sig - 1)))
            return true;
        sleep_ms(10);
    }
    return false;
}

/* Read sqsim's progress lines ("... grants N refusals ...") from the
 * terminal until one shows N > 0, at most wait_ms; true if one does. */
static bool granted_on_terminal(cr_pty *p, int wait_ms)
{
    long long deadline = tsrv_now_ms() + wait_ms;
    for (int lines = 1; tsrv_now_ms() < deadline; lines++) {
        if (!cr_pty_read_until(p, " refusals ", lines, (int)(deadline - tsrv_now_ms())))
            return false;
        const char *out = cr_pty_output(p), *last = NULL;
        for (const char *g = strstr(out, "grants "); g; g = strstr(g + 1, "grants "))
            last = g;
        if (last && strtoull(last + 7, NULL, 10) > 0)
            return true;
    }
    return false;
}

/* SIGTERM (a CI timeout, Ctrl-C) ends the run early but cleanly: the
 * history is still checked and the report written, and the exit status
 * says nothing was proven. */
START_TEST(interrupted_run_reports_and_exits_2)
{
    const char *args[] = {"--duration", "60s", "--seed", "5", NULL};
    char report[320];
    const char **argv = sqsim_argv(args, report, sizeof report);
    cr_opts o = {.raw_argv = true, .timeout_ms = 30000};
    long long t0 = tsrv_now_ms();
    /* On a terminal sqsim prints its progress: signal it once that shows
     * grants, so the interrupted run has something to report. */
    cr_pty *p = cr_pty_start(&o, argv);
    ck_assert_ptr_nonnull(p);
    ck_assert(catches(cr_pty_pid(p), SIGTERM, 10000));
    ck_assert_msg(granted_on_terminal(p, 20000), "no grant shown on the terminal:\n%s",
                  cr_pty_output(p));
    kill(cr_pty_pid(p), SIGTERM);
    cr_result cr;
    cr_pty_finish(p, &cr);
    run_result r;
    memset(&r, 0, sizeof r);
    collect(&r, &cr, report, t0);
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    ck_assert_msg(r.seconds < 10, "took %.1f s to stop", r.seconds);
    ck_assert_ptr_nonnull(r.report);
    ck_assert_str_eq(tjson_str(r.report, "verdict"), "interrupted");
    ck_assert(tjson_num(r.report, "counters", "grants") > 0);
    ck_assert(tjson_num(r.report, "oracle", "events") > 0);
    ck_assert_ptr_nonnull(strstr(r.out, "INTERRUPTED"));
    run_free(&r);
}
END_TEST

/* True if s is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n = *s >= 0xf0 ? 4 : *s >= 0xe0 ? 3 : 2;
        if (*s < 0xc2 || *s > 0xf4)
            return false;
        unsigned cp = *s & (0x3fu >> (n - 1));
        for (int i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += n;
    }
    return true;
}

/* The report is valid JSON in UTF-8 whatever bytes the command line held,
 * and complete: configuration, seed, counters, errors, percentiles. */
START_TEST(report_is_valid_and_complete)
{
    /* The report is under test, not the coverage of a short run. */
    const char *args[] = {"--duration",
                          "1s",
                          "--seed",
                          "9",
                          "--key-prefix",
                          "bad\xff\xc3(\x01",
                          "--min-refusals",
                          "0",
                          "--min-takeovers",
                          "0",
                          "--min-stale-writes",
                          "0",
                          NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    ck_assert_msg(r.status == 0, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(r.json);
    ck_assert_msg(valid_utf8((const unsigned char *)r.json), "report is not UTF-8");
    ck_assert_ptr_nonnull(r.report);
    ck_assert_uint_eq((unsigned)tjson_num(r.report, "seed", NULL), 9);
    ck_assert_ptr_nonnull(strstr(tjson_str(r.report, "reproduce"), "bad\xef\xbf\xbd"));
    static const char *const sections[] = {"config",   "throughput", "counters", "errors",
                                           "coverage", "latency_us", "oracle",   "violations"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        ck_assert_msg(cJSON_IsObject(tjson_get(r.report, sections[i], NULL)), "no %s", sections[i]);
    static const char *const pcts[] = {"p50", "p90", "p99", "p99.9", "max"};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        ck_assert(
            cJSON_IsNumber(tjson_get(tjson_get(r.report, "latency_us", "release"), pcts[i], NULL)));
    ck_assert(tjson_num(r.report, "config", "max_events") > 0);
    ck_assert(cJSON_IsNull(tjson_get(r.report, "errors", "first")));
    run_free(&r);
}
END_TEST

/* ---- real servers: redis, and vercel through kvrest with faults -------- */

static tsrv redis, kv;
static bool have_redis, have_kv;

static bool built(const char *adapter)
{
    const char *args[] = {"--list-adapters", NULL};
    run_result r;
    run_sqsim(&r, 30, args);
    bool yes = false;
    for (const char *p = r.out; p && *p; p += strcspn(p, "\n"), p += *p == '\n')
        if (strncmp(p, adapter, strlen(adapter)) == 0 && strchr("\n", p[strlen(adapter)]))
            yes = true;
    run_free(&r);
    return yes;
}

static bool have_redis_server(void)
{
    return access("/usr/bin/redis-server", X_OK) == 0 ||
           system("command -v redis-server >/dev/null 2>&1") == 0;
}

static void servers_up(void)
{
    have_redis = have_kv = false;
    if (!have_redis_server() || tsrv_redis_start(&redis, NULL) != 0)
        return;
    have_redis = true;
    if (tsrv_kvrest_start(&kv, &redis, "sqsim-test-token", NULL) == 0)
        have_kv = true;
}

/* A test on a real backend: the adapter not built into sqsim, or no
 * redis-server installed, is a missing prerequisite (skip.h: a failure
 * under CI=true, else a counted SKIP); a server that is installed but did
 * not start is a failure. */
#define NEED_BACKEND(adapter, need_kv)                                                             \
    do {                                                                                           \
        TSKIP_IF(!built(adapter), "sqsim is built without the " adapter " adapter");               \
        TSKIP_IF(!have_redis_server(), "redis-server is not installed");                           \
        ck_assert_msg(have_redis, "redis-server is installed but did not start");                  \
        ck_assert_msg(!(need_kv) || have_kv, "kvrest (%s) did not start", kvrest_path());          \
    } while (0)

static void servers_down(void)
{
    if (have_kv)
        tsrv_stop(&kv);
    if (have_redis)
        tsrv_stop(&redis);
}

static char redis_env[200], kv_env[2][200];

static const char *const *redis_envp(const tsrv *s)
{
    static const char *env[2];
    snprintf(redis_env, sizeof redis_env, "REDIS_URL=%s", s->url);
    env[0] = redis_env;
    env[1] = NULL;
    return env;
}

static const char *const *kv_envp(void)
{
    static const char *env[3];
    snprintf(kv_env[0], sizeof kv_env[0], "KV_REST_API_URL=%s", kv.url);
    snprintf(kv_env[1], sizeof kv_env[1], "KV_REST_API_TOKEN=%s", kv.token);
    env[0] = kv_env[0];
    env[1] = kv_env[1];
    env[2] = NULL;
    return env;
}

START_TEST(redis_passes_with_coverage)
{
    NEED_BACKEND("redis", false);
    const char *args[] = {"--adapter", "redis", "--seed", "11", NULL};
    run_result r;
    run_sqsim_env(&r, 60, args, redis_envp(&redis));
    expect_pass_with_coverage(&r, "redis");
    ck_assert(tjson_num(r.report, "counters", "round_trips") > 0);
    run_free(&r);
}
END_TEST

START_TEST(vercel_with_faults_passes)
{
    NEED_BACKEND("vercel", true);
    /* Fewer, slower leases over HTTP: more pauses keep stale writes likely. */
    const char *args[] = {"--adapter", "vercel",          "--kv-faults", "--seed",
                          "12",        "--duration",      "4s",          "--pause-rate",
                          "0.2",       "--min-takeovers", "1",           NULL};
    run_result r;
    run_sqsim_env(&r, 90, args, kv_envp());
    expect_pass_with_coverage(&r, "vercel");
    ck_assert(tjson_num(r.report, "counters", "round_trips") > 0);
    /* The token is a secret: never printed, never in the report. */
    ck_assert_ptr_null(strstr(r.out, kv.token));
    ck_assert_ptr_null(strstr(r.json, kv.token));
    run_free(&r);
}
END_TEST

/* Kill the redis-server once the run has written to it (claims landed:
 * its key count is no longer 0), at most 30 s after start; *landed says
 * whether they did. */
typedef struct killer {
    tsrv *server;
    bool landed;
} killer;

static void *kill_once_claims_land(void *arg)
{
    killer *k = arg;
    long long deadline = tsrv_now_ms() + 30000;
    while (!k->landed && tsrv_now_ms() < deadline) {
        char reply[64] = "";
        if (tsrv_redis_raw(k->server, reply, sizeof reply, 1, (const char *const[]){"DBSIZE"}) ==
                0 &&
            reply[0] == ':' && atol(reply + 1) > 0)
            k->landed = true;
        else
            sleep_ms(5); /* polling the server, not synchronising */
    }
    tsrv_kill(k->server, SIGKILL);
    return NULL;
}

/* A backend that stops answering mid-run is a backend error, not a pass;
 * claims refused before they were sent are "fail", not "info" (unknown):
 * only claims whose reply was lost are unknown. */
START_TEST(backend_dying_midrun_exits_2)
{
    NEED_BACKEND("redis", false);
    tsrv own;
    ck_assert_int_eq(tsrv_redis_start(&own, NULL), 0);
    pthread_t t;
    killer k = {.server = &own};
    ck_assert_int_eq(pthread_create(&t, NULL, kill_once_claims_land, &k), 0);
    const char *args[] = {"--adapter", "redis", "--duration", "3s", "--seed", "13", NULL};
    run_result r;
    run_sqsim_env(&r, 60, args, redis_envp(&own));
    pthread_join(t, NULL);
    tsrv_stop(&own);
    ck_assert_msg(k.landed, "no key reached the server before it was killed");
    ck_assert_msg(r.status == 2, "exit %d\n%s", r.status, r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "ERROR: the backend failed"));
    ck_assert_ptr_nonnull(r.report);
    double errors = tjson_num(r.report, "counters", "errors");
    double uncertain = tjson_num(r.report, "counters", "uncertain_claims");
    double info = outcomes(r.report, "claim", "info") + outcomes(r.report, "claim_first", "info");
    ck_assert_msg(errors > uncertain, "errors %.0f, uncertain %.0f", errors, uncertain);
    ck_assert_msg(info <= uncertain, "%.0f claims recorded as unknown, %.0f were uncertain", info,
                  uncertain);
    ck_assert(cJSON_IsString(tjson_get(tjson_get(r.report, "errors", "last"), "message", NULL)));
    run_free(&r);
}
END_TEST

/* ---- ci/with-servers.sh ------------------------------------------------ */

static const char *ws_path(void) { return env_or("SQCLAIM_WITH_SERVERS", "ci/with-servers.sh"); }

static char kvrest_env[300];

/* Start `ci/with-servers.sh sh -c SCRIPT` (extra env may be NULL).  The
 * script sees $OUT, a file in tmpdir. */
static cr_proc *ws_spawn(const char *script, const char *extra, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/ws.out", tmpdir);
    unlink(out);
    snprintf(kvrest_env, sizeof kvrest_env, "SQCLAIM_KVREST=%s", kvrest_path());
    static char outenv[340];
    snprintf(outenv, sizeof outenv, "OUT=%s", out);
    const char *env[] = {kvrest_env, outenv, extra, NULL};
    const char *argv[] = {ws_path(), "sh", "-c", script, NULL};
    cr_opts o = {.env = env, .raw_argv = true, .timeout_ms = 30000};
    return cr_spawn(&o, argv, NULL);
}

/* What the command wrote into $OUT: "REDIS_URL KV_REST_API_URL DIR" (the
 * last two may be missing). */
typedef struct ws_seen {
    int redis_port, kv_port;
    char dir[256];
} ws_seen;

static bool ws_read(const char *out, ws_seen *w, long wait_ms)
{
    memset(w, 0, sizeof *w);
    for (long t = 0; t <= wait_ms; t += 20) {
        char *s = tfile_read(out, NULL);
        if (s && strchr(s, '\n')) {
            char kvurl[200] = "";
            int n = sscanf(s, "redis://127.0.0.1:%d %199s %255s", &w->redis_port, kvurl, w->dir);
            free(s);
            if (n >= 2)
                sscanf(kvurl, "http://127.0.0.1:%d", &w->kv_port);
            return n >= 1;
        }
        free(s);
        sleep_ms(20);
    }
    return false;
}

static bool gone_within(int port, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        if (!port || !tsrv_port_open(port))
            return true;
        sleep_ms(20);
    }
    return false;
}

/* If a test failed with a server still up, stop it. */
static void shut_down_redis(int port)
{
    if (!port || !tsrv_port_open(port))
        return;
    tsrv s;
    memset(&s, 0, sizeof s);
    s.port = port;
    char reply[128];
    tsrv_redis_raw(&s, reply, sizeof reply, 2, (const char *const[]){"SHUTDOWN", "NOSAVE"});
}

static const char ws_script[] =
    "echo \"$REDIS_URL ${KV_REST_API_URL:-none} $WITH_SERVERS_DIR\" > \"$OUT\"; ";

START_TEST(with_servers_passes_the_exit_status_and_cleans_up)
{
    TSKIP_IF(!have_redis_server(), "redis-server is not installed");
    char out[300], script[400];
    snprintf(script, sizeof script, "%sexit 7", ws_script);
    cr_result cr;
    cr_wait(ws_spawn(script, NULL, out, sizeof out), &cr);
    ws_seen w;
    bool seen = ws_read(out, &w, 0);
    ck_assert_msg(cr.code == 7, "exit %d\n%s", cr.code, cr.err);
    cr_free(&cr);
    ck_assert(seen);
    ck_assert(gone_within(w.redis_port, 2000));
    ck_assert(gone_within(w.kv_port, 2000));
    struct stat sb;
    ck_assert_msg(stat(w.dir, &sb) != 0, "%s left behind", w.dir);
}
END_TEST

/* What became of with-servers and its servers after a signal. */
typedef struct ws_after {
    ws_seen w;
    int code;    /* with-servers' exit status */
    double secs; /* from the signal until its output closed */
    bool servers_gone;
} ws_after;

/* Start with-servers running `sleep 30`, send it sig, wait for it (its
 * output closes once the command is gone too), then for its servers to
 * go, at most wait_ms; a server still up afterwards is shut down. */
static void ws_signal(int sig, long wait_ms, ws_after *r)
{
    char out[300], script[400];
    snprintf(script, sizeof script, "%sexec sleep 30", ws_script);
    cr_proc *p = ws_spawn(script, NULL, out, sizeof out);
    ck_assert_ptr_nonnull(p);
    memset(r, 0, sizeof *r);
    ck_assert_msg(ws_read(out, &r->w, 20000), "with-servers did not start the command");
    long long t0 = tsrv_now_ms();
    kill(cr_proc_pid(p), sig);
    cr_result cr;
    cr_wait(p, &cr);
    r->secs = (double)(tsrv_now_ms() - t0) / 1000.0;
    r->code = cr.code;
    cr_free(&cr);
    r->servers_gone = gone_within(r->w.redis_port, wait_ms) && gone_within(r->w.kv_port, wait_ms);
    shut_down_redis(r->w.redis_port);
}

/* SIGTERM to the script (a CI runner stopping a step) reaches the command
 * at once, and the servers go with it. */
START_TEST(with_servers_term_stops_everything_at_once)
{
    TSKIP_IF(!have_redis_server(), "redis-server is not installed");
    ws_after r;
    ws_signal(SIGTERM, 2000, &r);
    ck_assert_msg(r.secs < 5, "took %.1f s to stop after SIGTERM", r.secs);
    ck_assert_int_eq(r.code, 143);
    ck_assert(r.servers_gone);
    struct stat sb;
    ck_assert_msg(stat(r.w.dir, &sb) != 0, "%s left behind", r.w.dir);
}
END_TEST

/* Killed outright (SIGKILL: nothing of it runs), its servers and command
 * still go. */
START_TEST(with_servers_killed_leaves_no_server)
{
    TSKIP_IF(!have_redis_server(), "redis-server is not installed");
    /* without util-linux setpriv, only a trap cleans up */
    TSKIP_IF(system("setpriv --pdeathsig TERM true 2>/dev/null") != 0,
             "util-linux setpriv (--pdeathsig) is not installed");
    ws_after r;
    ws_signal(SIGKILL, 5000, &r);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", r.w.dir); /* nobody is left to remove it */
    ck_assert_int_eq(system(rm), 0);
    ck_assert_msg(r.secs < 5, "the command outlived the script by %.1f s", r.secs);
    ck_assert(r.servers_gone);
}
END_TEST

/* A redis-server that answers on the port but is not the one started
 * here (another one won the port) is never used. */
START_TEST(with_servers_never_uses_a_foreign_redis)
{
    TSKIP_IF(!have_redis_server(), "redis-server is not installed");
    tsrv foreign;
    ck_assert_int_eq(tsrv_redis_start(&foreign, NULL), 0);
    char port[64], out[300], script[400];
    snprintf(port, sizeof port, "WITH_SERVERS_REDIS_PORT=%d", foreign.port);
    snprintf(script, sizeof script, "%sexit 0", ws_script);
    cr_result cr;
    cr_wait(ws_spawn(script, port, out, sizeof out), &cr);
    ws_seen w;
    bool ran = ws_read(out, &w, 0);
    bool foreign_up = tsrv_port_open(foreign.port);
    tsrv_stop(&foreign);
    ck_assert_msg(cr.code == 2 && !ran, "exit %d, command ran: %d\n%s", cr.code, ran, cr.err);
    ck_assert_ptr_nonnull(strstr(cr.err, "another server holds its port"));
    ck_assert(foreign_up);
    cr_free(&cr);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sqsim-runs");
    /* Every case has its own temporary directory (setup/teardown). */
    TCase *tc = tcase_add_all(s,
                              (tcase_spec){.name = "negative-controls",
                                           .timeout = 300,
                                           .once_setup = setup,
                                           .once_teardown = teardown},
                              NULL, 0);
    tcase_add_loop_test(tc, control_is_caught_five_times, 0, (int)NCONTROLS);
    tcase_add_loop_test(tc, control_workload_on_correct_backend_passes, 0, (int)NCONTROLS);

    TCASE_ADD(
        s,
        ((tcase_spec){
            .name = "memory", .timeout = 120, .once_setup = setup, .once_teardown = teardown}),
        memory_default_passes_with_coverage, nothing_exercised_is_not_a_pass, usage_errors_exit_2,
        unreachable_backend_exits_2, bench_oracle_runs, interrupted_run_reports_and_exits_2,
        report_is_valid_and_complete);

    /* The servers first, then the directory (Check runs unchecked
     * fixtures in the order they were added). */
    tc = TCASE_ADD(s,
                   ((tcase_spec){.name = "servers",
                                 .timeout = 180,
                                 .once_setup = servers_up,
                                 .once_teardown = servers_down}),
                   redis_passes_with_coverage, vercel_with_faults_passes,
                   backend_dying_midrun_exits_2);
    tcase_add_unchecked_fixture(tc, setup, teardown);

    TCASE_ADD(s,
              ((tcase_spec){.name = "with-servers",
                            .timeout = 120,
                            .once_setup = setup,
                            .once_teardown = teardown}),
              with_servers_passes_the_exit_status_and_cleans_up,
              with_servers_term_stops_everything_at_once, with_servers_killed_leaves_no_server,
              with_servers_never_uses_a_foreign_redis);
    return s;
}

int main(void) { return run_suite(suite()); }
