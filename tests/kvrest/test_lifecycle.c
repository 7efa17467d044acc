/* test_lifecycle.c — kvrest tests: own servers: the command line, SIGTERM, redis outages.  Fixtures
 * and shorthands: kvsuite.h. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvsuite.h"
#include "kvtest.h"

/* ---- own servers: outages, signals, command line --------------------------------- */

/* Run kvrest with args (NULL-terminated) and env additions; capture
 * stdout+stderr.  Returns the exit status (or -1). */
static int run_kvrest(const char *const *args, char *out, size_t outlen)
{
    const char *bin = getenv("SQCLAIM_KVREST");
    if (!bin || !*bin)
        bin = "build/kvrest";
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        char *argv[32];
        int i = 0;
        argv[i++] = strdup(bin);
        for (int k = 0; args[k] && i < 31; k++)
            argv[i++] = strdup(args[k]);
        argv[i] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t got;
    while ((got = read(pipefd[0], out + n, outlen - 1 - n)) > 0 && n + 1 < outlen)
        n += (size_t)got;
    out[n] = '\0';
    close(pipefd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(command_line)
{
    char out[8192];
    unsetenv("KVREST_TOKEN");
    const char *none[] = {"--port", "0", NULL};
    ck_assert_int_eq(run_kvrest(none, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "token") != NULL, "%s", out);
    const char *empty[] = {"--token", "", NULL};
    ck_assert_int_eq(run_kvrest(empty, out, sizeof out), 2);
    const char *bad[][4] = {{"--token", "t", "--port", "70000"},
                            {"--token", "t", "--fail-rate", "1.5"},
                            {"--token", "t", "--drop-rate", "x"},
                            {"--token", "t", "--pool", "0"},
                            {"--token", "t", "--max-body", "-1"},
                            {"--token", "t", "--redis", "host:notaport"},
                            {"--token", "t", "--bogus", "1"},
                            {"--token", "t", "--seed", "-3"},
                            {"--token", "t", "--readonly-token", "t"},
                            /* secrets in a mistyped flag or a pasted URL are never echoed */
                            {"--token", "t", "--tokn=SECRET-a1", "--quiet"},
                            {"--token", "t", "--re=SECRET-a1", "--quiet"},
                            {"--token", "t", "--redis", "redis://:SECRET-a1@127.0.0.1:6379"},
                            {"--token", "t", "--redis", "user:SECRET-a1@127.0.0.1:6379"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[5] = {bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL};
        ck_assert_msg(run_kvrest(args, out, sizeof out) == 2, "%s %s: %s", bad[i][2], bad[i][3],
                      out);
        ck_assert_msg(strstr(out, "kvrest:") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "SECRET") == NULL, "secret echoed: %s", out);
    }
    /* --help documents every flag and never shows a token value */
    setenv("KVREST_TOKEN", "help-must-not-show-this", 1);
    const char *help[] = {"--token", "nor-this-one", "--help", NULL};
    ck_assert_int_eq(run_kvrest(help, out, sizeof out), 0);
    unsetenv("KVREST_TOKEN");
    ck_assert(strstr(out, "help-must-not-show-this") == NULL &&
              strstr(out, "nor-this-one") == NULL);
    const char *flags[] = {"--listen",         "--port",      "--port-file",      "--redis",
                           "--redis-password", "--token",     "--readonly-token", "--max-body",
                           "--threads",        "--pool",      "--latency-ms",     "--jitter-ms",
                           "--fail-rate",      "--drop-rate", "--stall-rate",     "--stall-ms",
                           "--quota",          "--seed",      "--quiet",          "--version"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        ck_assert_msg(strstr(out, flags[i]) != NULL, "--help lacks %s", flags[i]);
    const char *ver[] = {"--version", NULL};
    ck_assert_int_eq(run_kvrest(ver, out, sizeof out), 0);
    ck_assert_msg(strncmp(out, "kvrest ", 7) == 0, "%s", out);
}
END_TEST

START_TEST(sigterm_clean_exit)
{
    tsrv r, k;
    ck_assert_int_eq(tsrv_redis_start(&r, NULL), 0);
    const char *args[] = {"--stall-rate", "1", "--stall-ms", "60000", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&k, &r, TOKEN, args), 0);
    /* a request stalled for a minute must not delay shutdown */
    pid_t c = fork();
    if (c == 0) {
        kt_resp resp;
        kt_req q = {.kv = &k,
                    .path = "/",
                    .token = TOKEN,
                    .body = "[\"SET\",\"x\",\"1\"]",
                    .timeout_ms = 20000};
        kt_http(&resp, &q);
        _exit(resp.rc == CURLE_OK ? 1 : 0);
    }
    /* Wait until the stall began (otherwise the test proves nothing). */
    long long t0 = tsrv_now_ms();
    while (kt_stat(&k, TOKEN, "faults.stalled") < 1) {
        ck_assert_msg(tsrv_now_ms() - t0 < 30000, "the request never stalled");
        struct timespec ts = {0, 5 * 1000000L}; /* poll interval */
        nanosleep(&ts, NULL);
    }
    char portfile[400];
    snprintf(portfile, sizeof portfile, "%s/port", k.dir);
    ck_assert_int_eq(access(portfile, F_OK), 0);
    long long t1 = tsrv_now_ms();
    ck_assert_int_eq(kill(k.pid, SIGTERM), 0);
    int st;
    ck_assert_int_eq(waitpid(k.pid, &st, 0), k.pid);
    long long took = tsrv_now_ms() - t1;
    k.pid = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kvrest exit status 0x%x", st);
    ck_assert_msg(took < 4000, "shutdown took %lld ms", took);
    ck_assert_int_ne(access(portfile, F_OK), 0); /* removed on exit */
    int cst;
    ck_assert_int_eq(waitpid(c, &cst, 0), c);
    ck_assert_msg(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "stalled client got a reply");
    redisReply *x = kt_redis(&r, "EXISTS x");
    ck_assert_int_eq(x->integer, 0); /* a stall cut short by shutdown never lands */
    freeReplyObject(x);
    tsrv_stop(&k);
    tsrv_stop(&r);
}
END_TEST

START_TEST(redis_outage_and_recovery)
{
    tsrv r, k;
    ck_assert_int_eq(tsrv_redis_start(&r, "redis-pass-77"), 0);
    const char *args[] = {"--redis-timeout-ms", "800", "--pool", "4", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&k, &r, TOKEN, args), 0);
    kt_resp resp;
    on(&k, &resp, "/", TOKEN, "[\"SET\",\"o\",\"1\"]", 0);
    kt_expect(&resp, 200, "{\"result\":\"OK\"}"); /* --redis-password passed by the harness */
    kt_free(&resp);
    /* hung redis: the command times out, the request does not hang */
    ck_assert_int_eq(kill(r.pid, SIGSTOP), 0);
    on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
    kill(r.pid, SIGCONT);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: redis");
    ck_assert_msg(strstr(kt_error_text(&resp), "timed out") != NULL, "%s", resp.body);
    ck_assert_msg(resp.ms < 3000, "hung redis: request took %lld ms", resp.ms);
    kt_free(&resp);
    EXPECT_ON(&k, "/", TOKEN, "[\"GET\",\"o\"]", 0, 200, "{\"result\":\"1\"}");
    /* redis down: a 500 JSON error, quickly */
    tsrv_kill(&r, SIGKILL);
    on(&k, &resp, "/", TOKEN, "[\"GET\",\"o\"]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    ck_assert_msg(resp.ms < 3000, "redis down: request took %lld ms", resp.ms);
    kt_free(&resp);
    on(&k, &resp, "/pipeline", TOKEN, "[[\"GET\",\"o\"]]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    kt_free(&resp);
    on(&k, &resp, "/multi-exec", TOKEN, "[[\"GET\",\"o\"]]", 0);
    EXPECT_ERROR(&resp, 500, "ERR kvrest: ");
    kt_free(&resp);
    /* back again (empty: no persistence): the pool reconnects */
    ck_assert_int_eq(tsrv_redis_restart(&r), 0);
    long long t0 = tsrv_now_ms();
    long status = 0;
    while (status != 200 && tsrv_now_ms() - t0 < 10000) {
        on(&k, &resp, "/", TOKEN, "[\"SET\",\"o\",\"2\"]", 0);
        status = resp.status;
        kt_free(&resp);
    }
    ck_assert_int_eq(status, 200);
    for (int i = 0; i < 8; i++) { /* every pooled connection works again */
        EXPECT_ON(&k, "/", TOKEN, "[\"GET\",\"o\"]", 0, 200, "{\"result\":\"2\"}");
    }
    tsrv_stop(&k);
    tsrv_stop(&r);
}
END_TEST

void kvt_add_lifecycle(Suite *s)
{
    TCASE_ADD(s, ((tcase_spec){.name = "lifecycle", .timeout = TEST_TIMEOUT}), command_line,
              sigterm_clean_exit, redis_outage_and_recovery);
}
