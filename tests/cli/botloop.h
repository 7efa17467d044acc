/* botloop.h — docs/cli.md's shell bot loop, run as written by several bot
 * processes at once: shared by test_remote_docs.c (redis and vercel) and
 * test_botloop_faults.c (vercel through a lossy kvrest). */
#ifndef SQCLAIM_TEST_CLI_BOTLOOP_H
#define SQCLAIM_TEST_CLI_BOTLOOP_H

#include "tcli.h"

/* A temporary directory holding the docs' script (script), the files it
 * writes (donef, rowsf), and the environment the bots run with: sqclaim on
 * the PATH (as the docs assume), DONE_FILE, ROWS_LOG, BUSY_WAIT=0.05 and
 * the extra strings given to tc_loop_init(). */
typedef struct tc_loop {
    char dir[64];
    char script[300], donef[300], rowsf[300];
    char path[4096], e_done[400], e_rows[400];
    const char *env[16];
} tc_loop;

/* extra: more "NAME=value" strings for the bots (NULL-terminated, at most
 * 11; may be NULL).  Kept by pointer: they must outlive the loop. */
void tc_loop_init(tc_loop *L, const char *const *extra);

/* Remove the script, the files and the directory. */
void tc_loop_free(const tc_loop *L);

/* Spawn bots BOT1..BOT<nbots>, each running the script over all nsq SQs,
 * behind gate (NULL: none); procs gets them. */
void tc_loop_spawn(const tc_loop *L, const cr_opts *o, const char *const *sqs, int nsq, int nbots,
                   const cr_gate *gate, cr_proc **procs);

/* The bots' refund log: every SQ written exactly once, no two row ranges
 * overlapping, at most max_lines lines. */
void tc_loop_check_rows(const tc_loop *L, const char *const *sqs, int nsq, int max_lines);

#endif
