/* test_remote_docs.c — the CLI against redis and vercel (through kvrest): the shell bot loop of
 * docs/cli.md, run as written by three bots at once. Shared helpers: remote.h. */
#include "botloop.h"
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The shell bot loop of docs/cli.md, run as written by three bots at once */

START_TEST(test_docs_bot_loop)
{
    rctx x;
    rctx_init(&x, _i);
    tc_loop L;
    tc_loop_init(&L, (const char *const[]){x.penv, NULL});
    cr_opts o = tc_opts(x.b, L.env);
    o.raw_argv = true;

    static const char *const sqs[] = {"251019-164rmb", "251019-165abc", "251019-166def",
                                      "251019-167ghi", "251019-168jkl", "251019-169mno",
                                      "251019-170pqr", "251019-171stu"};
    enum { NSQ = 8, NBOTS = 3 };
    cr_proc *procs[NBOTS];
    tc_loop_spawn(&L, &o, sqs, NSQ, NBOTS, NULL, procs);
    for (int k = 0; k < NBOTS; k++) {
        cr_result r;
        cr_wait(procs[k], &r);
        ck_assert_msg(r.code == 0, "bot %d: exit %d\n%s\n%s", k + 1, r.code, r.out, r.err);
        check_no_backend_secret(&x, &r);
        cr_free(&r);
    }
    /* Every SQ written exactly once, no two row ranges overlapping. */
    tc_loop_check_rows(&L, sqs, NSQ, NSQ);
    assert_nothing_held(&x);
    tc_loop_free(&L);
}
END_TEST

/* The docs' bot killed in the middle of its work: its EXIT trap gives the
 * claim and the reservation back at once.  The Refund Log is a FIFO, so
 * the bot blocks while writing its rows, holding both. */
START_TEST(test_docs_bot_loop_killed)
{
    rctx x;
    rctx_init(&x, _i);
    tc_loop L;
    tc_loop_init(&L, (const char *const[]){x.penv, NULL});
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
        TC_RUNV(&r, &so, 0, "status", NULL);
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
    tc_loop_free(&L);
}
END_TEST

void trm_add_docs(TCase *tc) { TC_ADD_LOOPS(tc, test_docs_bot_loop, test_docs_bot_loop_killed); }
