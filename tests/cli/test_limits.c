/* test_limits.c — the CLI at the edges of its process, with real
 * processes and real servers:
 *
 *   - standard streams closed or failing (issue 9.5): a lease or a row
 *     range that cannot be printed is never left held, and nothing the
 *     tool prints ever lands in the store's connection;
 *   - a store that does not answer (9.14): --timeout bounds the whole
 *     command, retries and backoff included, and the library's
 *     op_timeout_ms bounds one operation.
 *
 * Every test runs once per backend that shares data (redis; vercel
 * through kvrest), in a key prefix of its own. */
#include "remote.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run sqclaim through /bin/sh with `redir` applied first (">&-", "2>&-",
 * "<&-" ...): what a user's shell does.  `input` is standard input
 * before the redirection (NULL: empty).  The exit status must be `want`. */
static void run_redirected(cr_result *r, const rctx *x, const char *redir, const char *input,
                           const char *const *args, int want)
{
    char script[200];
    snprintf(script, sizeof script, "exec \"$0\" \"$@\" %s", redir);
    const char *argv[40];
    size_t n = 0;
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = script;
    argv[n++] = cr_program();
    for (size_t i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cr_opts o = ropts(x);
    o.raw_argv = true;
    o.input = input;
    cr_run(r, &o, argv);
    TC_EXIT(r, want);
}

/* sq claimed for BOTL (the lease in *l), then `reserve --rows rows` run
 * with `redir`: exit 5, and stderr says `says` (and `says2`, when not
 * NULL). */
static void reserve_redirected(const rctx *x, const char *sq, const char *rows, const char *redir,
                               const char *says, const char *says2, tc_lease *l)
{
    claim_ok(x, sq, "BOTL", NULL, l);
    const char *reserve[] = {"reserve", "--rows", rows, NULL};
    cr_result r;
    run_redirected(&r, x, redir, l->line, reserve, 5);
    ck_assert_msg(cr_contains(r.err, r.errlen, says), "%s", r.err);
    ck_assert_msg(!says2 || cr_contains(r.err, r.errlen, says2), "%s", r.err);
    cr_free(&r);
}

#define RUN_REDIRECTED(r, x, redir, input, want, ...)                                              \
    run_redirected((r), (x), (redir), (input), (const char *const[]){__VA_ARGS__}, (want))

static bool claimed(const cJSON *st, const char *sq)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(st, "sqClaims"), sq) != NULL;
}

static bool reserved(const cJSON *st, const char *sq)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(st, "refundReservations"), sq) != NULL;
}

/* ------------------------------------------------------------------ */
/* Standard streams (issue 9.5)                                         */

/* `sqclaim claim SQ --bot B >&-`: stdout closed.  Before the fix the
 * connection to the store became fd 1, the lease JSON (token and all)
 * was written into it, and the command exited 0 with the claim held. */
START_TEST(test_stdout_closed)
{
    rctx x;
    rctx_init(&x, _i);
    cr_result r;
    const char *claim[] = {"claim", "C1", "--bot", "BOTC", NULL};
    run_redirected(&r, &x, ">&-", NULL, claim, 5);
    ck_assert_msg(cr_contains(r.err, r.errlen, "standard output is closed"), "%s", r.err);
    tc_check_stderr_form(&r);
    cr_free(&r);
    RUN_REDIRECTED(&r, &x, ">&-", NULL, 5, "claim-first", "C2", "C3", "--bot", "BOTC", NULL);
    cr_free(&r);

    /* reserve: a range nobody can read is not left reserved. */
    tc_lease l;
    reserve_redirected(&x, "C4", "3", ">&-", "standard output is closed", NULL, &l);

    cJSON *st = status_checked(&x);
    ck_assert_msg(!claimed(st, "C1") && !claimed(st, "C2") && !claimed(st, "C3"),
                  "a claim was left held with stdout closed");
    ck_assert_msg(claimed(st, "C4") && !reserved(st, "C4"), "C4: reservation left behind");
    cJSON_Delete(st);

    /* The store's connection was never fd 1: the store still works
     * through the same kind of handle, and the rows come next in line. */
    const char *reserve2[] = {"reserve", "--rows", "3", NULL};
    cr_opts o = ropts(&x);
    o.input = l.line;
    cr_run(&r, &o, reserve2);
    TC_EXIT(&r, 0);
    cr_free(&r);
}
END_TEST

/* stderr closed: messages are lost, never written into the store's
 * connection; results and exit statuses are unchanged.  stdin closed:
 * no lease to read, nothing done. */
START_TEST(test_stderr_stdin_closed)
{
    rctx x;
    rctx_init(&x, _i);
    cr_result r;
    const char *claim[] = {"claim", "E1", "--bot", "BOTE", NULL};
    run_redirected(&r, &x, "2>&-", NULL, claim, 0);
    tc_lease l;
    tc_check_lease(r.out, "E1", "BOTE", -1, &l);
    cr_free(&r);
    /* BUSY prints a message: with stderr closed it goes nowhere, and the
     * next request on the connection (none here; a retry elsewhere)
     * would not read a garbage reply. */
    RUN_REDIRECTED(&r, &x, "2>&-", NULL, 1, "claim", "E1", "--bot", "BOTF", NULL);
    ck_assert_str_eq(r.out, "");
    cr_free(&r);
    /* Closed stdin: the lease cannot be read (exit 2); the claim stays. */
    RUN_REDIRECTED(&r, &x, "<&-", l.line, 2, "release", NULL);
    ck_assert_msg(cr_contains(r.err, r.errlen, "standard input"), "%s", r.err);
    cr_free(&r);
    cJSON *st = status_checked(&x);
    ck_assert(claimed(st, "E1"));
    cJSON_Delete(st);
    /* All three closed: nothing printed, nothing left held. */
    RUN_REDIRECTED(&r, &x, "<&- >&- 2>&-", NULL, 5, "claim", "E2", "--bot", "BOTE", NULL);
    cr_free(&r);
    st = status_checked(&x);
    ck_assert(!claimed(st, "E2"));
    cJSON_Delete(st);
}
END_TEST

/* stdout is a pipe nobody reads (EPIPE), or a full disk (ENOSPC): the
 * lease is released, the range finished, exit 5. */
START_TEST(test_stdout_write_fails)
{
    rctx x;
    rctx_init(&x, _i);
    char fifo[] = "/tmp/sqclaim-cli-fifo-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(fifo));
    char path[sizeof fifo + 8];
    snprintf(path, sizeof path, "%s/f", fifo);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    /* Open the FIFO for reading and writing (so opening it for writing
     * does not block), point stdout at it, then close the reader: the
     * write gets EPIPE. */
    char redir[300];
    snprintf(redir, sizeof redir, "3<>%s >%s 3<&-", path, path);
    cr_result r;
    RUN_REDIRECTED(&r, &x, redir, NULL, 5, "claim", "P1", "--bot", "BOTP", NULL);
    ck_assert_msg(cr_contains(r.err, r.errlen, "could not write the lease (Broken pipe)"), "%s",
                  r.err);
    ck_assert_msg(cr_contains(r.err, r.errlen, "has been released"), "%s", r.err);
    cr_free(&r);

    tc_lease l;
    reserve_redirected(&x, "P2", "2", ">/dev/full", "No space left on device", "has been finished",
                       &l);

    cJSON *st = status_checked(&x);
    ck_assert(!claimed(st, "P1"));
    ck_assert(claimed(st, "P2") && !reserved(st, "P2"));
    cJSON_Delete(st);
    unlink(path);
    rmdir(fifo);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A store that does not answer (issue 9.14)                            */

/* A process that sends SIGKILL to `victim` when this test process dies,
 * so that a SIGSTOPped server never outlives a failed test (the servers'
 * own parent-death signal, SIGTERM, waits while they are stopped). */
static pid_t guard_start(pid_t victim)
{
    pid_t parent = getpid();
    pid_t g = fork();
    ck_assert(g >= 0);
    if (g == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == parent) {
            int sig = 0;
            sigwait(&set, &sig);
        }
        kill(victim, SIGKILL);
        kill(victim, SIGCONT);
        _exit(0);
    }
    return g;
}

static void guard_stop(pid_t g)
{
    kill(g, SIGKILL);
    waitpid(g, NULL, 0);
}

/* A private redis-server (and, for vercel, a kvrest in front of it) that
 * is then stopped with SIGSTOP: connections are still accepted by the
 * kernel, nothing ever answers. */
typedef struct stopped {
    tsrv redis, kv;
    pid_t guard;
    char env[3][300];
    const char *envp[5];
    cr_opts o;
} stopped;

static void stopped_start(stopped *sp, const rctx *x)
{
    memset(sp, 0, sizeof *sp);
    ck_assert_int_eq(tsrv_redis_start(&sp->redis, NULL), 0);
    size_t k = 0;
    if (strcmp(x->b->name, "vercel") == 0) {
        ck_assert_int_eq(tsrv_kvrest_start(&sp->kv, &sp->redis, TC_KV_TOKEN, NULL), 0);
        snprintf(sp->env[0], sizeof sp->env[0], "SQCLAIM_ADAPTER=vercel");
        snprintf(sp->env[1], sizeof sp->env[1], "KV_REST_API_URL=%s", sp->kv.url);
        snprintf(sp->env[2], sizeof sp->env[2], "KV_REST_API_TOKEN=%s", TC_KV_TOKEN);
        k = 3;
    } else {
        snprintf(sp->env[0], sizeof sp->env[0], "SQCLAIM_ADAPTER=redis");
        snprintf(sp->env[1], sizeof sp->env[1], "REDIS_URL=%s", sp->redis.url);
        k = 2;
    }
    for (size_t i = 0; i < k; i++)
        sp->envp[i] = sp->env[i];
    sp->envp[k++] = x->penv;
    sp->envp[k] = NULL;
    sp->o = tc_opts(NULL, sp->envp);
}

static void stopped_stop(stopped *sp)
{
    sp->guard = guard_start(sp->redis.pid);
    ck_assert_int_eq(kill(sp->redis.pid, SIGSTOP), 0);
}

static void stopped_end(stopped *sp)
{
    kill(sp->redis.pid, SIGCONT);
    guard_stop(sp->guard);
    tsrv_stop(&sp->kv);
    tsrv_stop(&sp->redis);
}

/* How long the CLI may take beyond --timeout: starting and ending a
 * process (ASan builds, a loaded CI machine), never a retry. */
#define SLACK_MS 700

/* `--timeout 1s` against a stopped server took 13-14 s (12 attempts of
 * 1 s: the claim, the CLI's retry, two rounds of giving it up, each with
 * the library's two retries).  Every command now ends within the bound. */
START_TEST(test_timeout_bounds_command)
{
    rctx x;
    rctx_init(&x, _i);
    stopped sp;
    stopped_start(&sp, &x);
    /* A lease and its reservation while the server still answers. */
    cr_result r;
    cr_runv(&r, &sp.o, "claim", "T1", "--bot", "BOTT", NULL);
    TC_EXIT(&r, 0);
    tc_lease l;
    tc_check_lease(r.out, "T1", "BOTT", -1, &l);
    cr_free(&r);
    stopped_stop(&sp);

    static const struct {
        const char *args[10];
        bool lease;
    } cmds[] = {
        {{"--timeout", "1s", "claim", "T2", "--bot", "BOTT", NULL}, false},
        {{"--timeout", "1s", "claim-first", "T3", "T4", "--bot", "BOTT", NULL}, false},
        {{"--timeout", "1s", "renew", NULL}, true},
        {{"--timeout", "1s", "reserve", "--rows", "2", NULL}, true},
        {{"--timeout", "1s", "finish", NULL}, true},
        {{"--timeout", "1s", "release", NULL}, true},
        {{"--timeout", "1s", "status", NULL}, false},
        {{"--timeout", "1500ms", "watch", "--count", "1", NULL}, false},
        {{"--timeout", "300ms", "claim", "T5", "--bot", "BOTT", NULL}, false},
        {{"--timeout", "1s", "break", "T1", "--force", "--yes", NULL}, false},
        {{"--timeout", "1s", "counters", NULL}, false},
        {{"--timeout", "1s", "counters", "--raise-cursor", "9", "--yes", NULL}, false},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int64_t bound = 0;
        ck_assert_int_eq(sqclaim_parse_duration(cmds[i].args[1], &bound, NULL, 0), SQCLAIM_OK);
        cr_opts o = sp.o;
        o.input = cmds[i].lease ? l.line : NULL;
        long long t0 = tsrv_now_ms();
        cr_run(&r, &o, cmds[i].args);
        long long took = tsrv_now_ms() - t0;
        ck_assert_msg(r.code == 5, "%s %s: exit %d\n%s", cmds[i].args[2], cmds[i].args[1], r.code,
                      r.err);
        ck_assert_msg(took <= bound + SLACK_MS, "%s with --timeout %s took %lld ms:\n%s",
                      cmds[i].args[2], cmds[i].args[1], took, r.err);
        tc_check_stderr_form(&r);
        tc_check_no_secret(&r, l.token);
        cr_free(&r);
    }
    stopped_end(&sp);
}
END_TEST

/* The library option itself: one operation within op_timeout_ms, and
 * retries still made while the budget lasts. */
START_TEST(test_op_timeout_option)
{
    rctx x;
    rctx_init(&x, _i);
    stopped sp;
    stopped_start(&sp, &x);
    stopped_stop(&sp);
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = x.b->name;
    if (strcmp(x.b->name, "vercel") == 0) {
        o.rest_url = sp.kv.url;
        o.rest_token = TC_KV_TOKEN;
    } else {
        o.redis_url = sp.redis.url;
    }
    o.key_prefix = x.prefix;
    o.timeout_ms = 200;
    o.connect_timeout_ms = 100;
    o.retries = 10;
    o.op_timeout_ms = 900;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    sqclaim_status *st = NULL;
    long long t0 = tsrv_now_ms();
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    long long took = tsrv_now_ms() - t0;
    ck_assert_msg(rc == SQCLAIM_ETIMEOUT, "%s: %s", sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_msg(took <= 900 + 150, "one status took %lld ms with op_timeout_ms 900", took);
    sqclaim_stats stats;
    ck_assert_int_eq(sqclaim_stats_get(s, &stats), SQCLAIM_OK);
    /* 200 ms attempts and 300 ms each with a connection: at least one
     * retry fits in 900 ms, ten do not. */
    ck_assert_msg(stats.retries >= 1 && stats.retries <= 3, "%llu retries",
                  (unsigned long long)stats.retries);
    sqclaim_close(s);

    /* timeout_ms larger than the budget is cut to it. */
    o.timeout_ms = 5000;
    o.connect_timeout_ms = 5000;
    o.op_timeout_ms = 400;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_OK);
    t0 = tsrv_now_ms();
    rc = sqclaim_status_get(s, &st);
    took = tsrv_now_ms() - t0;
    ck_assert_int_eq(rc, SQCLAIM_ETIMEOUT);
    ck_assert_msg(took <= 400 + 150, "took %lld ms with op_timeout_ms 400", took);
    sqclaim_close(s);

    /* Out of range: refused at open. */
    o.op_timeout_ms = -1;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_EINVAL);
    ck_assert_msg(strstr(sqclaim_errmsg(s), "op_timeout_ms"), "%s", sqclaim_errmsg(s));
    sqclaim_close(s);
    stopped_end(&sp);
}
END_TEST

Suite *tc_limits_suite(void)
{
    Suite *s = suite_create("cli-limits");
    TC_LOOP_CASE(s, ((tcase_spec){.name = "streams", .timeout = 120}), test_stdout_closed,
                 test_stderr_stdin_closed, test_stdout_write_fails);
    TC_LOOP_CASE(s, ((tcase_spec){.name = "timeout", .timeout = 180}), test_timeout_bounds_command,
                 test_op_timeout_option);
    return s;
}
