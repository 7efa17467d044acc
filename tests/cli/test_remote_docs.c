/* test_remote_docs.c — the CLI against redis and vercel (through kvrest): the shell bot loop of
 * docs/cli.md, run as written by three bots at once. Shared helpers: remote.h. */
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SQCLAIM_SRCDIR
#define SQCLAIM_SRCDIR "."
#endif

/* ------------------------------------------------------------------ */
/* The shell bot loop of docs/cli.md, run as written by three bots at once */

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, fp);
    s[got] = '\0';
    fclose(fp);
    return s;
}

/* The script between the bot-loop markers, without the code fence. */
static char *docs_script(void)
{
    char *doc = read_text(SQCLAIM_SRCDIR "/docs/cli.md");
    ck_assert_msg(doc != NULL, "cannot read docs/cli.md");
    const char *b = strstr(doc, "<!-- bot-loop:begin -->");
    const char *e = b ? strstr(b, "<!-- bot-loop:end -->") : NULL;
    ck_assert_msg(b && e, "docs/cli.md lacks the bot-loop markers");
    b = strstr(b, "```sh\n");
    ck_assert(b && b < e);
    b += 6;
    const char *fence = b;
    const char *end = NULL;
    while ((fence = strstr(fence, "\n```")) && fence < e) {
        end = fence + 1;
        break;
    }
    ck_assert(end);
    char *s = strndup(b, (size_t)(end - b));
    free(doc);
    return s;
}

/* Write the docs' script into a new temporary directory; fill the
 * environment the bots run with (sqclaim on the PATH, the files). */
typedef struct loopenv {
    char dir[64];
    char script[300], donef[300], rowsf[300];
    char path[4096], e_done[400], e_rows[400];
    const char *env[8];
} loopenv;

static void loopenv_init(loopenv *L, const rctx *x)
{
    memset(L, 0, sizeof *L);
    snprintf(L->dir, sizeof L->dir, "/tmp/sqclaim-cli-loop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(L->dir));
    snprintf(L->script, sizeof L->script, "%s/bot.sh", L->dir);
    snprintf(L->donef, sizeof L->donef, "%s/done.txt", L->dir);
    snprintf(L->rowsf, sizeof L->rowsf, "%s/refund-log.txt", L->dir);
    char *text = docs_script();
    FILE *fp = fopen(L->script, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    free(text);
    /* sqclaim on the PATH, as the docs assume. */
    char bindir[512];
    snprintf(bindir, sizeof bindir, "%s", cr_program());
    char *slash = strrchr(bindir, '/');
    if (slash)
        *slash = '\0';
    char *real = realpath(bindir, NULL);
    snprintf(L->path, sizeof L->path, "PATH=%s:%s", real ? real : bindir,
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    free(real);
    snprintf(L->e_done, sizeof L->e_done, "DONE_FILE=%s", L->donef);
    snprintf(L->e_rows, sizeof L->e_rows, "ROWS_LOG=%s", L->rowsf);
    size_t k = 0;
    L->env[k++] = x->penv;
    L->env[k++] = L->path;
    L->env[k++] = L->e_done;
    L->env[k++] = L->e_rows;
    L->env[k++] = "BUSY_WAIT=0.05";
    L->env[k] = NULL;
}

static void loopenv_free(loopenv *L)
{
    unlink(L->script);
    unlink(L->donef);
    unlink(L->rowsf);
    rmdir(L->dir);
}

START_TEST(test_docs_bot_loop)
{
    rctx x;
    rctx_init(&x, _i);
    loopenv L;
    loopenv_init(&L, &x);
    cr_opts o = tc_opts(x.b, L.env);
    o.raw_argv = true;
    const char *script = L.script, *rowsf = L.rowsf;

    static const char *const sqs[] = {"251019-164rmb", "251019-165abc", "251019-166def",
                                      "251019-167ghi", "251019-168jkl", "251019-169mno",
                                      "251019-170pqr", "251019-171stu"};
    enum { NSQ = 8, NBOTS = 3 };
    cr_proc *procs[NBOTS];
    for (int k = 0; k < NBOTS; k++) {
        char bot[8];
        snprintf(bot, sizeof bot, "BOT%d", k + 1);
        const char *args[4 + NSQ];
        size_t n = 0;
        args[n++] = "/bin/sh";
        args[n++] = script;
        args[n++] = bot;
        for (int q = 0; q < NSQ; q++)
            args[n++] = sqs[q];
        args[n] = NULL;
        procs[k] = cr_spawn(&o, args, NULL);
        ck_assert_ptr_nonnull(procs[k]);
    }
    for (int k = 0; k < NBOTS; k++) {
        cr_result r;
        cr_wait(procs[k], &r);
        ck_assert_msg(r.code == 0, "bot %d: exit %d\n%s\n%s", k + 1, r.code, r.out, r.err);
        check_no_backend_secret(&x, &r);
        cr_free(&r);
    }
    /* Every SQ written exactly once, no two row ranges overlapping. */
    char *log = read_text(rowsf);
    ck_assert_ptr_nonnull(log);
    int seen[NSQ] = {0};
    long lo[NSQ], hi[NSQ];
    int nr = 0;
    char *save = NULL;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char sq[80], bot[16];
        long start, count;
        ck_assert_msg(sscanf(line, "%79s %ld %ld %15s", sq, &start, &count, bot) == 4, "%s", line);
        int q = -1;
        for (int k = 0; k < NSQ; k++)
            if (strcmp(sqs[k], sq) == 0)
                q = k;
        ck_assert_msg(q >= 0, "unknown SQ in the log: %s", line);
        seen[q]++;
        ck_assert(nr < NSQ);
        lo[nr] = start;
        hi[nr] = start + count - 1;
        for (int k = 0; k < nr; k++)
            ck_assert_msg(hi[nr] < lo[k] || lo[nr] > hi[k], "rows overlap: %s", line);
        nr++;
    }
    for (int k = 0; k < NSQ; k++)
        ck_assert_msg(seen[k] == 1, "%s written %d times", sqs[k], seen[k]);
    free(log);
    assert_nothing_held(&x);
    loopenv_free(&L);
}
END_TEST

/* The docs' bot killed in the middle of its work: its EXIT trap gives the
 * claim and the reservation back at once.  The Refund Log is a FIFO, so
 * the bot blocks while writing its rows, holding both. */
START_TEST(test_docs_bot_loop_killed)
{
    rctx x;
    rctx_init(&x, _i);
    loopenv L;
    loopenv_init(&L, &x);
    ck_assert(mkfifo(L.rowsf, 0600) == 0);
    cr_opts o = tc_opts(x.b, L.env);
    o.raw_argv = true;
    const char *args[] = {"/bin/sh", L.script, "BOT7", "K1", "K2", NULL};
    cr_proc *bot = cr_spawn(&o, args, NULL);
    ck_assert_ptr_nonnull(bot);
    /* Wait until it holds K1 and its rows (polling the store). */
    cr_opts so = ropts(&x);
    long long deadline = tsrv_now_ms() + 30000;
    for (;;) {
        cr_result r;
        cr_runv(&r, &so, "status", NULL);
        TC_EXIT(&r, 0);
        bool held =
            cr_contains(r.out, r.outlen, "\"refundReservations\":{\"K1\":{\"botId\":\"BOT7\"");
        cr_free(&r);
        if (held)
            break;
        ck_assert_msg(tsrv_now_ms() < deadline, "the bot never reserved rows");
        pause_ms(10);
    }
    kill(cr_proc_pid(bot), SIGTERM);
    cr_result r;
    cr_wait(bot, &r);
    TC_EXIT(&r, 143);
    cr_free(&r);
    assert_nothing_held(&x);
    loopenv_free(&L);
}
END_TEST

void trm_add_docs(TCase *tc)
{
    tcase_add_loop_test(tc, test_docs_bot_loop, 0, tc_nbackends);
    tcase_add_loop_test(tc, test_docs_bot_loop_killed, 0, tc_nbackends);
}
