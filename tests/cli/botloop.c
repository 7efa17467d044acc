/* botloop.c — docs/cli.md's shell bot loop for the CLI tests (botloop.h). */
#include "botloop.h"

#include "tfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SQCLAIM_SRCDIR
#define SQCLAIM_SRCDIR "."
#endif

/* The script between docs/cli.md's bot-loop markers, without the fence. */
static char *loop_script(void)
{
    char *doc = tfile_read(SQCLAIM_SRCDIR "/docs/cli.md", NULL);
    ck_assert_msg(doc != NULL, "cannot read docs/cli.md");
    const char *b = strstr(doc, "<!-- bot-loop:begin -->");
    const char *e = b ? strstr(b, "<!-- bot-loop:end -->") : NULL;
    ck_assert_msg(b && e, "docs/cli.md lacks the bot-loop markers");
    b = strstr(b, "```sh\n");
    ck_assert(b && b < e);
    b += 6;
    const char *end = strstr(b, "\n```");
    ck_assert(end && end < e);
    char *s = strndup(b, (size_t)(end - b + 1));
    free(doc);
    return s;
}

void tc_loop_init(tc_loop *L, const char *const *extra)
{
    memset(L, 0, sizeof *L);
    snprintf(L->dir, sizeof L->dir, "/tmp/sqclaim-cli-loop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(L->dir));
    snprintf(L->script, sizeof L->script, "%s/bot.sh", L->dir);
    snprintf(L->donef, sizeof L->donef, "%s/done.txt", L->dir);
    snprintf(L->rowsf, sizeof L->rowsf, "%s/refund-log.txt", L->dir);
    char *text = loop_script();
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
    L->env[k++] = L->path;
    L->env[k++] = L->e_done;
    L->env[k++] = L->e_rows;
    L->env[k++] = "BUSY_WAIT=0.05";
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert(k + 1 < sizeof L->env / sizeof *L->env);
        L->env[k++] = extra[i];
    }
    L->env[k] = NULL;
}

void tc_loop_free(const tc_loop *L)
{
    unlink(L->script);
    unlink(L->donef);
    unlink(L->rowsf);
    rmdir(L->dir);
}

void tc_loop_spawn(const tc_loop *L, const cr_opts *o, const char *const *sqs, int nsq, int nbots,
                   const cr_gate *gate, cr_proc **procs)
{
    for (int k = 0; k < nbots; k++) {
        char bot[16];
        snprintf(bot, sizeof bot, "BOT%d", k + 1);
        const char **args = calloc((size_t)nsq + 4, sizeof *args);
        ck_assert_ptr_nonnull(args);
        size_t n = 0;
        args[n++] = "/bin/sh";
        args[n++] = L->script;
        args[n++] = bot;
        for (int q = 0; q < nsq; q++)
            args[n++] = sqs[q];
        args[n] = NULL;
        procs[k] = cr_spawn(o, args, gate);
        free(args);
        ck_assert_ptr_nonnull(procs[k]);
    }
}

void tc_loop_check_rows(const tc_loop *L, const char *const *sqs, int nsq, int max_lines)
{
    char *log = tfile_read(L->rowsf, NULL);
    ck_assert_ptr_nonnull(log);
    int *seen = calloc((size_t)nsq, sizeof *seen);
    long *lo = calloc((size_t)max_lines, sizeof *lo), *hi = calloc((size_t)max_lines, sizeof *hi);
    ck_assert(seen && lo && hi);
    int nr = 0;
    char *save = NULL;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char sq[80], bot[16];
        long start, count;
        ck_assert_msg(sscanf(line, "%79s %ld %ld %15s", sq, &start, &count, bot) == 4, "%s", line);
        int q = -1;
        for (int k = 0; k < nsq; k++)
            if (strcmp(sqs[k], sq) == 0)
                q = k;
        ck_assert_msg(q >= 0, "unknown SQ in the log: %s", line);
        seen[q]++;
        ck_assert(nr < max_lines);
        lo[nr] = start;
        hi[nr] = start + count - 1;
        for (int k = 0; k < nr; k++)
            ck_assert_msg(hi[nr] < lo[k] || lo[nr] > hi[k], "rows overlap: %s", line);
        nr++;
    }
    for (int k = 0; k < nsq; k++)
        ck_assert_msg(seen[k] == 1, "%s written %d times", sqs[k], seen[k]);
    free(seen);
    free(lo);
    free(hi);
    free(log);
}
