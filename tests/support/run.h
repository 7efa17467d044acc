/*
 * run.h — run a real, built program (sqclaim by default) and capture what
 * it does.  Shared by tests/cli and tests/sim.
 *
 * No shell is involved: the program is forked and exec'd with an argv
 * and an environment built here.  The environment is the test's own with
 * every sqclaim setting removed (SQCLAIM_*, REDIS_URL, KV_*, UPSTASH_*),
 * plus what the test passes, so a developer's settings never leak in.
 *
 *   SQCLAIM_CLI          the program (default: the build's sqclaim)
 *   SQCLAIM_CLI_WRAPPER  words put in front of it, e.g.
 *                        "valgrind -q --error-exitcode=99 --log-file=/tmp/vg.%p"
 *                        (log to a file: tests read stderr)
 */
#ifndef SQCLAIM_TEST_RUN_H
#define SQCLAIM_TEST_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct cr_result {
    int code;  /* exit status; 128 + signal if killed; -1 if it could not run */
    char *out; /* stdout, NUL-terminated (never NULL after a run) */
    size_t outlen;
    char *err; /* stderr, NUL-terminated */
    size_t errlen;
} cr_result;

typedef struct cr_opts {
    const char *const *env;  /* extra "NAME=value" strings, NULL-terminated; may be NULL */
    const char *const *env2; /* more of them (e.g. a backend's), may be NULL */
    const char *input;       /* standard input; NULL: empty (/dev/null) */
    size_t inputlen;         /* 0: strlen(input) */
    const char *stdout_path; /* send stdout to this file instead (e.g. /dev/full) */
    bool raw_argv;           /* argv[0] is the program to run (not sqclaim) */
    int timeout_ms;          /* kill after this long; 0: 120 s */
    bool job;                /* cr_pty_start: run as a job of a job-control
                                shell (see there) */
} cr_opts;

/* The sqclaim program's path. */
const char *cr_program(void);

/* Run sqclaim with args (NULL-terminated, without the program name) and
 * wait for it.  Returns r->code.  Free with cr_free(). */
int cr_run(cr_result *r, const cr_opts *o, const char *const *args);

/* Convenience: cr_runv(&r, &o, "claim", "X", "--bot", "B", NULL) -- the
 * arguments become an array (no variadic call, so NULL needs no cast). */
#define cr_runv(r, o, ...) cr_run((r), (o), (const char *const[]){__VA_ARGS__})

void cr_free(cr_result *r);

/* Several processes at once.  cr_gate_open() makes a gate; processes
 * spawned with it wait (before exec) until cr_gate_release(), so they all
 * start together.  cr_wait() collects one. */
typedef struct cr_proc cr_proc;
typedef struct cr_gate {
    int fd[2];
} cr_gate;
int cr_gate_open(cr_gate *g);
void cr_gate_release(cr_gate *g);
cr_proc *cr_spawn(const cr_opts *o, const char *const *args, const cr_gate *gate);
int cr_wait(cr_proc *p, cr_result *r);
pid_t cr_proc_pid(const cr_proc *p);

/* Run sqclaim on a pseudo-terminal (stdin, stdout and stderr all the
 * pty's slave), for terminal behaviour.  cr_pty_start returns the
 * process, or NULL.  cr_pty_read_until reads output (appending to the
 * process's buffer) until `needle` occurs `times` times in it or
 * timeout_ms passes; returns true if found.  cr_pty_finish reads to the
 * end, waits, and fills r (out = everything the terminal received; err
 * empty). */
typedef struct cr_pty cr_pty;
/* With o->job, the program runs the way a job-control shell runs a
 * foreground job: in a process group of its own, the terminal's
 * foreground group, under a parent in the same session (a small
 * stand-in for the shell that waits for it and exits with its status).
 * Its group is then not orphaned, so Ctrl-Z really stops it. */
cr_pty *cr_pty_start(const cr_opts *o, const char *const *args);
/* The terminal's foreground process group (in job mode, the job's, whose
 * leader is the program), or -1. */
pid_t cr_pty_fg(const cr_pty *p);
bool cr_pty_read_until(cr_pty *p, const char *needle, int times, int timeout_ms);
/* What the terminal received so far (NUL-terminated; "" before any
 * output), valid until the next cr_pty_* call. */
const char *cr_pty_output(const cr_pty *p);
pid_t cr_pty_pid(const cr_pty *p);
int cr_pty_write(cr_pty *p, const char *s);
/* Resize the terminal (the program gets SIGWINCH). */
int cr_pty_resize(cr_pty *p, int rows, int cols);
int cr_pty_finish(cr_pty *p, cr_result *r);
/* cr_pty_start, then cr_pty_finish: a run on a terminal to its end. */
int cr_pty_run(cr_result *r, const cr_opts *o, const char *const *args);

/* Does haystack (of len bytes) contain needle?  How many times? */
bool cr_contains(const char *hay, size_t len, const char *needle);
int cr_count(const char *hay, size_t len, const char *needle);

#endif
