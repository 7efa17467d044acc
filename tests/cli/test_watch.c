/* test_watch.c — sqclaim watch: plain lines and JSON lines when stdout is
 * not a terminal; the in-place table on a pseudo-terminal, and the
 * terminal restored on --count, SIGTERM and Ctrl-C. */
#include "skip.h"
#include "tcli.h"
#include "tcase.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ESC "\033"

START_TEST(test_watch_plain)
{
    cr_result r;
    TC_RUNV(&r, NULL, 0, "watch", "--count", "2", "--interval", "10ms", NULL);
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(cr_count(r.out, r.outlen, "sqclaim watch: memory, every 10ms, "), 2);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "Claims: none\n"), 2);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "Refund reservations: none\n"), 2);
    ck_assert_msg(!memchr(r.out, '\033', r.outlen), "escape sequences in plain output");
    /* Each snapshot ends with an empty line. */
    ck_assert(r.outlen > 2 && strcmp(r.out + r.outlen - 2, "\n\n") == 0);
    cr_free(&r);
}
END_TEST

START_TEST(test_watch_json)
{
    cr_result r;
    TC_RUNV(&r, NULL, 0, "watch", "--json", "--count", "3", "--interval", "10ms", NULL);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "\n"), 3);
    char *save = NULL;
    int n = 0;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON_Delete(tc_check_status(line));
        n++;
    }
    ck_assert_int_eq(n, 3);
    cr_free(&r);
}
END_TEST

/* With claims and a reservation in a shared store. */
START_TEST(test_watch_remote)
{
    const tc_backend *b = &tc_backends[_i];
    char pfx[64], penv[96];
    snprintf(penv, sizeof penv, "SQCLAIM_KEY_PREFIX=%s", tc_prefix(pfx, sizeof pfx));
    const char *env[] = {penv, NULL};
    cr_opts o = tc_opts(b, env);
    cr_result r;
    TC_RUNV(&r, &o, 0, "claim", "251019-164rmb", "--bot", "BOT1", NULL);
    cr_opts ol = o;
    ol.input = r.out;
    cr_result q;
    TC_RUNV(&q, &ol, 0, "reserve", "--rows", "5", "--hint", "51", NULL);
    cJSON *rj = tc_json(q.out);
    long start = (long)cJSON_GetObjectItem(rj, "startRow")->valuedouble;
    cJSON_Delete(rj);
    cr_free(&q);
    cr_free(&r);

    TC_RUNV(&r, &o, 0, "watch", "--count", "2", "--interval", "10ms", NULL);
    char head[64], rows[64];
    snprintf(head, sizeof head, "sqclaim watch: %s, every 10ms, ", b->name);
    ck_assert_int_eq(cr_count(r.out, r.outlen, head), 2);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "Claims: 1\n"), 2);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "Refund reservations: 1\n"), 2);
    ck_assert(cr_contains(r.out, r.outlen, "251019-164rmb"));
    ck_assert(cr_contains(r.out, r.outlen, "BOT1"));
    ck_assert(cr_contains(r.out, r.outlen, "CLAIMING"));
    ck_assert(cr_contains(r.out, r.outlen, "WRITING"));
    snprintf(rows, sizeof rows, " %ld-%ld ", start, start + 4);
    ck_assert_msg(cr_contains(r.out, r.outlen, rows), "no %s in\n%s", rows, r.out);
    ck_assert(cr_contains(r.out, r.outlen, " 9m")); /* remaining of 10m, e.g. 9m59s */
    ck_assert(!cr_contains(r.out, r.outlen, "token"));
    cr_free(&r);
}
END_TEST

/* A store that is down: every refresh says so, the last one's status is
 * the exit status. */
START_TEST(test_watch_failing_store)
{
    TSKIP_IF(!tc_built("redis"), "sqclaim is built without the redis backend");
    char url[64];
    snprintf(url, sizeof url, "REDIS_URL=redis://127.0.0.1:%d", tsrv_free_port());
    const char *env[] = {"SQCLAIM_ADAPTER=redis", url, NULL};
    cr_opts o = tc_opts(NULL, env);
    cr_result r;
    TC_RUNV(&r, &o, 5, "watch", "--count", "2", "--interval", "10ms", "--timeout", "500ms", NULL);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "status failed (see standard error)"), 2);
    ck_assert_int_eq(cr_count(r.err, r.errlen, "sqclaim: status: "), 2);
    tc_check_stderr_form(&r);
    cr_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* On a terminal                                                        */

static const char *const term_env[] = {"TERM=xterm", NULL};

START_TEST(test_watch_tty_count)
{
    cr_opts o = tc_opts(NULL, term_env);
    const char *args[] = {"watch", "--count", "2", "--interval", "10ms", NULL};
    cr_result r;
    cr_pty_run(&r, &o, args);
    TC_EXIT(&r, 0);
    /* Cursor hidden and screen cleared first, two frames drawn from the
     * top, lines cleared to their end, the cursor shown again last. */
    ck_assert_msg(strncmp(r.out, ESC "[?25l" ESC "[H" ESC "[2J", 13) == 0, "%s", r.out);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "(Ctrl-C to quit)"), 2);
    ck_assert_int_eq(cr_count(r.out, r.outlen, ESC "[J"), 2);
    ck_assert(cr_contains(r.out, r.outlen, "Claims: none" ESC "[K"));
    const char *show = ESC "[?25h";
    ck_assert(r.outlen >= strlen(show) && cr_contains(r.out + r.outlen - 12, 12, show));
    cr_free(&r);
}
END_TEST

static void stop_with(int how)
{
    cr_opts o = tc_opts(NULL, term_env);
    const char *args[] = {"watch", "--interval", "20ms", NULL};
    cr_pty *p = cr_pty_start(&o, args);
    ck_assert_ptr_nonnull(p);
    /* Two frames drawn, so it is in its loop. */
    ck_assert(cr_pty_read_until(p, "(Ctrl-C to quit)", 2, 30000));
    if (how == 0)
        kill(cr_pty_pid(p), SIGTERM);
    else if (how == 1)
        cr_pty_write(p, "\003"); /* Ctrl-C: the terminal sends SIGINT */
    else
        kill(cr_pty_pid(p), SIGHUP);
    cr_result r;
    cr_pty_finish(p, &r);
    TC_EXIT(&r, 0);
    const char *show = ESC "[?25h";
    const char *last_hide = NULL;
    for (const char *s = r.out; (s = strstr(s, ESC "[?25l")); s++)
        last_hide = s;
    ck_assert(last_hide);
    ck_assert_msg(strstr(last_hide, show) != NULL, "cursor not restored:\n%s", r.out);
    cr_free(&r);
}

START_TEST(test_watch_tty_sigterm) { stop_with(0); }
END_TEST

START_TEST(test_watch_tty_ctrl_c) { stop_with(1); }
END_TEST

START_TEST(test_watch_tty_sighup) { stop_with(2); }
END_TEST

/* A resized window is redrawn at once (not at the next refresh, an hour
 * away), cut to the new width so the terminal never wraps. */
START_TEST(test_watch_tty_resize)
{
    cr_opts o = tc_opts(NULL, term_env);
    const char *args[] = {"watch", "--interval", "1h", NULL};
    cr_pty *p = cr_pty_start(&o, args);
    ck_assert_ptr_nonnull(p);
    ck_assert(cr_pty_read_until(p, "Claims: none", 1, 30000));
    ck_assert(cr_pty_resize(p, 20, 40) == 0);
    ck_assert_msg(cr_pty_read_until(p, "Claims: none", 2, 30000), "no redraw after resize");
    kill(cr_pty_pid(p), SIGTERM);
    cr_result r;
    cr_pty_finish(p, &r);
    TC_EXIT(&r, 0);
    /* The second frame's header is cut at 39 columns. */
    const char *second = strstr(strstr(r.out, "Claims: none") + 1, "Claims: none");
    ck_assert_ptr_nonnull(second);
    const char *frame = second;
    while (frame > r.out && strncmp(frame, ESC "[H", 3) != 0)
        frame--;
    const char *line = frame + 3;
    const char *end = strstr(line, ESC "[K");
    ck_assert_ptr_nonnull(end);
    ck_assert_int_eq((int)(end - line), 39);
    ck_assert(strncmp(line, "sqclaim watch: memory, every 1h00m", 34) == 0);
    cr_free(&r);
}
END_TEST

/* In /proc: is the process stopped (state T)? */
static bool stopped(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* after the command name */
    return paren && paren[1] == ' ' && paren[2] == 'T';
}

/* Ctrl-Z in a job-control shell: the cursor is shown before watch stops;
 * after fg (SIGCONT) it is hidden again and the frame redrawn. */
START_TEST(test_watch_tty_ctrl_z)
{
    cr_opts o = tc_opts(NULL, term_env);
    o.job = true;
    const char *args[] = {"watch", "--interval", "1h", NULL};
    cr_pty *p = cr_pty_start(&o, args);
    ck_assert_ptr_nonnull(p);
    ck_assert(cr_pty_read_until(p, "Claims: none", 1, 30000));
    pid_t job = cr_pty_fg(p);
    ck_assert_int_gt(job, 0);
    ck_assert_int_ne(job, cr_pty_pid(p));
    ck_assert(cr_pty_write(p, "\032") == 0); /* Ctrl-Z: SIGTSTP to the foreground job */
    ck_assert_msg(cr_pty_read_until(p, ESC "[?25h", 1, 30000), "cursor not shown on Ctrl-Z");
    /* valgrind (SQCLAIM_CLI_WRAPPER) does not carry out a default stop
     * action: the stop itself is checked only without a wrapper. */
    const char *wrapper = getenv("SQCLAIM_CLI_WRAPPER");
    long long deadline = tsrv_now_ms() + 30000;
    while (!(wrapper && *wrapper) && !stopped(job)) {
        ck_assert_msg(tsrv_now_ms() < deadline, "watch did not stop on Ctrl-Z");
        struct timespec ts = {0, 5000000}; /* polling /proc, not synchronising */
        nanosleep(&ts, NULL);
    }
    kill(-job, SIGCONT); /* fg */
    ck_assert_msg(cr_pty_read_until(p, "Claims: none", 2, 30000), "not redrawn after SIGCONT");
    kill(job, SIGTERM);
    cr_result r;
    cr_pty_finish(p, &r);
    TC_EXIT(&r, 0);
    /* hide (start), show (Ctrl-Z), hide + clear (continued), frame, show (quit) */
    const char *stop = strstr(r.out, ESC "[?25h");
    ck_assert_ptr_nonnull(stop);
    const char *again = strstr(stop, ESC "[?25l" ESC "[H" ESC "[2J");
    ck_assert_msg(again != NULL, "cursor not hidden after SIGCONT:\n%s", r.out);
    ck_assert_msg(strstr(again, "Claims: none") != NULL, "no frame after SIGCONT");
    ck_assert(strstr(strstr(again, "Claims: none"), ESC "[?25h") != NULL);
    cr_free(&r);
}
END_TEST

/* SIGTERM while a refresh waits for a slow store (kvrest with 20 s of
 * latency): watch restores the cursor and exits 0 at once. */
START_TEST(test_watch_tty_stop_while_fetching)
{
    TSKIP_IF(!tc_built("vercel"), "sqclaim is built without the vercel backend");
    tsrv slow;
    memset(&slow, 0, sizeof slow);
    const char *extra[] = {"--latency-ms", "20000", NULL};
    ck_assert_int_eq(tsrv_kvrest_start(&slow, &tc_redis, TC_KV_TOKEN, extra), 0);
    char url[200];
    snprintf(url, sizeof url, "KV_REST_API_URL=%s", slow.url);
    const char *env[] = {"TERM=xterm", "SQCLAIM_ADAPTER=vercel", url,
                         "KV_REST_API_TOKEN=" TC_KV_TOKEN, NULL};
    cr_opts o = tc_opts(NULL, env);
    const char *args[] = {"watch", "--timeout", "60s", NULL};
    cr_pty *p = cr_pty_start(&o, args);
    ck_assert_ptr_nonnull(p);
    /* The cursor is hidden before the first refresh starts. */
    ck_assert(cr_pty_read_until(p, ESC "[?25l", 1, 30000));
    long long t0 = tsrv_now_ms();
    kill(cr_pty_pid(p), SIGTERM);
    cr_result r;
    cr_pty_finish(p, &r);
    long long took = tsrv_now_ms() - t0;
    TC_EXIT(&r, 0);
    ck_assert_msg(took < 10000, "SIGTERM took %lld ms to stop a watch in a slow refresh", took);
    ck_assert(!cr_contains(r.out, r.outlen, "Claims:")); /* stopped before the first frame */
    const char *hide = strstr(r.out, ESC "[?25l");
    ck_assert_msg(hide && strstr(hide, ESC "[?25h"), "cursor not restored:\n%s", r.out);
    cr_free(&r);
    tsrv_stop(&slow);
}
END_TEST

/* TERM=dumb: plain lines even on a terminal. */
START_TEST(test_watch_dumb_terminal)
{
    static const char *const dumb[] = {"TERM=dumb", NULL};
    cr_opts o = tc_opts(NULL, dumb);
    const char *args[] = {"watch", "--count", "1", "--interval", "10ms", NULL};
    cr_result r;
    cr_pty_run(&r, &o, args);
    TC_EXIT(&r, 0);
    ck_assert(!memchr(r.out, '\033', r.outlen));
    ck_assert(cr_contains(r.out, r.outlen, "Claims: none"));
    cr_free(&r);
}
END_TEST

/* A lease command with a terminal on stdin and no lease: say how to give
 * one, instead of waiting for typing. */
START_TEST(test_lease_from_terminal)
{
    const char *args[] = {"release", NULL};
    cr_result r;
    cr_pty_run(&r, NULL, args);
    TC_EXIT(&r, 2);
    ck_assert_msg(cr_contains(r.out, r.outlen, "no lease given: pipe the output"), "%s", r.out);
    cr_free(&r);
}
END_TEST

Suite *tc_watch_suite(void)
{
    Suite *s = suite_create("cli-watch");
    TCase *tc = TCASE_ADD(s, ((tcase_spec){.name = "plain", .timeout = 120}), test_watch_plain,
                          test_watch_json, test_watch_failing_store);
    TC_ADD_LOOPS(tc, test_watch_remote);
    TCASE_ADD(s, ((tcase_spec){.name = "terminal", .timeout = 120}), test_watch_tty_count,
              test_watch_tty_sigterm, test_watch_tty_ctrl_c, test_watch_tty_sighup,
              test_watch_tty_resize, test_watch_tty_ctrl_z, test_watch_tty_stop_while_fetching,
              test_watch_dumb_terminal, test_lease_from_terminal);
    return s;
}
