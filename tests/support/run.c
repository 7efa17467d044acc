/* run.c — see run.h. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef SQCLAIM_CLI_PATH
#define SQCLAIM_CLI_PATH "build/sqclaim"
#endif

#define DEFAULT_TIMEOUT_MS 120000
#define MAX_ARGS           400

const char *cr_program(void)
{
    const char *p = getenv("SQCLAIM_CLI");
    return p && *p ? p : SQCLAIM_CLI_PATH;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool scrubbed(const char *kv)
{
    static const char *const prefixes[] = {"SQCLAIM_", "REDIS_URL=", "KV_", "UPSTASH_", NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(kv, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static bool same_name(const char *a, const char *b)
{
    size_t n = strcspn(a, "=");
    return strncmp(a, b, n) == 0 && b[n] == '=';
}

/* Is the variable set by the test's extras? */
static bool overridden(const cr_opts *o, const char *kv)
{
    const char *const *lists[2] = {o ? o->env : NULL, o ? o->env2 : NULL};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] && lists[l][i]; i++)
            if (same_name(lists[l][i], kv))
                return true;
    return false;
}

/* The child's environment: ours without sqclaim settings, plus extras.
 * Built before fork (malloc after fork in a threaded parent is unsafe). */
static char **build_env(const cr_opts *o)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    if (o && o->env)
        while (o->env[extra])
            extra++;
    size_t extra2 = 0;
    if (o && o->env2)
        while (o->env2[extra2])
            extra2++;
    /* The CLI's default backend is sqlite, in a file under the home
     * directory: a test names its backend (memory unless it says
     * otherwise), and a sqlite run that names no file fails instead of
     * writing to the real home. */
    static const char *const defaults[] = {"SQCLAIM_ADAPTER=memory",
                                           "SQCLAIM_DB=/nonexistent/sqclaim-tests/name-a-db", NULL};
    size_t ndefaults = sizeof defaults / sizeof defaults[0] - 1;
    char **env = calloc(n + extra + extra2 + ndefaults + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    /* SQCLAIM_BACKEND and its old name SQCLAIM_ADAPTER are one setting. */
    bool named = overridden(o, "SQCLAIM_BACKEND=") || overridden(o, "SQCLAIM_ADAPTER=");
    for (size_t i = 0; i < ndefaults; i++)
        if (!overridden(o, defaults[i]) && !(i == 0 && named))
            env[k++] = (char *)(uintptr_t)defaults[i];
    for (size_t i = 0; i < n; i++)
        if (!scrubbed(environ[i]) && !overridden(o, environ[i]))
            env[k++] = environ[i];
    for (size_t i = 0; i < extra2; i++)
        env[k++] = (char *)(uintptr_t)o->env2[i];
    for (size_t i = 0; i < extra; i++)
        env[k++] = (char *)(uintptr_t)o->env[i];
    env[k] = NULL;
    return env;
}

/* argv: [wrapper words...] program args... */
static char **build_argv(const cr_opts *o, const char *const *args, char **wrapbuf)
{
    char **argv = calloc(MAX_ARGS + 32, sizeof *argv);
    if (!argv)
        return NULL;
    size_t k = 0;
    *wrapbuf = NULL;
    const char *w = getenv("SQCLAIM_CLI_WRAPPER");
    if (w && *w && !(o && o->raw_argv)) {
        *wrapbuf = strdup(w);
        char *save = NULL;
        for (char *t = strtok_r(*wrapbuf, " ", &save); t && k < 30; t = strtok_r(NULL, " ", &save))
            argv[k++] = t;
    }
    if (!(o && o->raw_argv))
        argv[k++] = (char *)(uintptr_t)cr_program();
    for (size_t i = 0; args && args[i] && k < MAX_ARGS + 30; i++)
        argv[k++] = (char *)(uintptr_t)args[i];
    argv[k] = NULL;
    return argv;
}

struct cr_proc {
    pid_t pid;
    int in, out, err; /* parent ends; -1 when closed */
    const char *input;
    size_t inputlen, inputoff;
    long long deadline;
};

static void exec_child(char **argv, char **env) __attribute__((noreturn));

static void exec_child(char **argv, char **env)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Default dispositions and mask, whatever the test runner set. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execve(argv[0], argv, env);
    if (!strchr(argv[0], '/'))
        execvpe(argv[0], argv, env);
    dprintf(2, "run: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int cr_gate_open(cr_gate *g) { return pipe2(g->fd, O_CLOEXEC); }

void cr_gate_release(cr_gate *g)
{
    if (g->fd[1] >= 0)
        close(g->fd[1]);
    if (g->fd[0] >= 0)
        close(g->fd[0]);
    g->fd[0] = g->fd[1] = -1;
}

cr_proc *cr_spawn(const cr_opts *o, const char *const *args, const cr_gate *gate)
{
    cr_proc *p = calloc(1, sizeof *p);
    char *wrapbuf = NULL;
    char **env = build_env(o);
    char **argv = build_argv(o, args, &wrapbuf);
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (!p || !env || !argv || pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
        pipe2(perr, O_CLOEXEC))
        goto fail;
    int outfd = -1;
    if (o && o->stdout_path) {
        outfd = open(o->stdout_path, O_WRONLY | O_CLOEXEC);
        if (outfd < 0)
            goto fail;
    }
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0) {
        if (outfd >= 0)
            close(outfd);
        goto fail;
    }
    if (p->pid == 0) {
        dup2(pin[0], 0);
        dup2(outfd >= 0 ? outfd : pout[1], 1);
        dup2(perr[1], 2);
        if (gate) {
            char c;
            close(gate->fd[1]);
            while (read(gate->fd[0], &c, 1) < 0 && errno == EINTR) {
            }
        }
        exec_child(argv, env);
    }
    if (outfd >= 0)
        close(outfd);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    p->in = pin[1];
    p->out = pout[0];
    p->err = perr[0];
    p->input = o && o->input ? o->input : "";
    p->inputlen = o && o->input ? (o->inputlen ? o->inputlen : strlen(o->input)) : 0;
    p->deadline = now_ms() + (o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
    fcntl(p->in, F_SETFL, O_NONBLOCK);
    if (p->inputlen == 0) {
        close(p->in);
        p->in = -1;
    }
    free(env);
    free(argv);
    free(wrapbuf);
    return p;
fail:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    free(env);
    free(argv);
    free(wrapbuf);
    free(p);
    return NULL;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb)
        abort();
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int cr_wait(cr_proc *p, cr_result *r)
{
    memset(r, 0, sizeof *r);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (!p) {
        r->code = -1;
        return -1;
    }
    bool killed = false;
    while (p->out >= 0 || p->err >= 0) {
        struct pollfd fds[3];
        int nf = 0, iin = -1, iout = -1, ierr = -1;
        if (p->in >= 0) {
            fds[nf] = (struct pollfd){p->in, POLLOUT, 0};
            iin = nf++;
        }
        if (p->out >= 0) {
            fds[nf] = (struct pollfd){p->out, POLLIN, 0};
            iout = nf++;
        }
        if (p->err >= 0) {
            fds[nf] = (struct pollfd){p->err, POLLIN, 0};
            ierr = nf++;
        }
        long long left = p->deadline - now_ms();
        if (left <= 0 && !killed) {
            kill(p->pid, SIGKILL);
            killed = true;
            left = 5000;
            p->deadline = now_ms() + 5000;
        } else if (left <= 0) {
            break;
        }
        int n = poll(fds, (nfds_t)nf, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (iin >= 0 && fds[iin].revents) {
            ssize_t w = write(p->in, p->input + p->inputoff, p->inputlen - p->inputoff);
            if (w > 0)
                p->inputoff += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                p->inputoff = p->inputlen; /* EPIPE: the program did not read it */
            if (p->inputoff >= p->inputlen) {
                close(p->in);
                p->in = -1;
            }
        }
        char buf[8192];
        if (iout >= 0 && fds[iout].revents) {
            ssize_t m = read(p->out, buf, sizeof buf);
            if (m > 0)
                append(&r->out, &r->outlen, buf, (size_t)m);
            else if (m == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(p->out);
                p->out = -1;
            }
        }
        if (ierr >= 0 && fds[ierr].revents) {
            ssize_t m = read(p->err, buf, sizeof buf);
            if (m > 0)
                append(&r->err, &r->errlen, buf, (size_t)m);
            else if (m == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(p->err);
                p->err = -1;
            }
        }
    }
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    if (p->err >= 0)
        close(p->err);
    int st = 0;
    long long end = now_ms() + 10000;
    pid_t w;
    while ((w = waitpid(p->pid, &st, WNOHANG)) == 0 && now_ms() < end) {
        struct timespec ts = {0, 2000000}; /* polling the exit, not synchronising */
        nanosleep(&ts, NULL);
    }
    if (w == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
        killed = true;
    }
    r->code = killed ? 128 + SIGKILL : decode_status(st);
    if (killed)
        append(&r->err, &r->errlen, "\n[run.c: killed after the timeout]\n", 35);
    free(p);
    return r->code;
}

pid_t cr_proc_pid(const cr_proc *p) { return p->pid; }

int cr_run(cr_result *r, const cr_opts *o, const char *const *args)
{
    return cr_wait(cr_spawn(o, args, NULL), r);
}

void cr_free(cr_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */
/* Pseudo-terminal                                                      */

struct cr_pty {
    pid_t pid;
    int master;
    char *buf;
    size_t len;
};

/* The forkpty child in job mode: a stand-in for a job-control shell.
 * Only async-signal-safe calls (the test program may have threads). */
static void run_job(char **argv, char **env) __attribute__((noreturn));

static void run_job(char **argv, char **env)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGTTOU, SIG_IGN); /* tcsetpgrp from outside the foreground */
    int go[2];
    if (pipe(go) != 0)
        _exit(127);
    pid_t job = fork();
    if (job < 0)
        _exit(127);
    if (job == 0) {
        char c;
        setpgid(0, 0);
        close(go[1]);
        /* Start once the group is the terminal's foreground. */
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
        close(go[0]);
        signal(SIGTTOU, SIG_DFL);
        exec_child(argv, env);
    }
    setpgid(job, job);
    tcsetpgrp(STDIN_FILENO, job);
    close(go[0]);
    close(go[1]);
    int st;
    while (waitpid(job, &st, 0) < 0) /* stops are the job's business */
        if (errno != EINTR)
            _exit(127);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

cr_pty *cr_pty_start(const cr_opts *o, const char *const *args)
{
    cr_pty *p = calloc(1, sizeof *p);
    char *wrapbuf = NULL;
    char **env = build_env(o);
    char **argv = build_argv(o, args, &wrapbuf);
    if (!p || !env || !argv)
        goto fail;
    struct winsize ws = {.ws_row = 40, .ws_col = 120};
    fflush(NULL);
    p->pid = forkpty(&p->master, NULL, NULL, &ws);
    if (p->pid < 0)
        goto fail;
    if (p->pid == 0) {
        if (o && o->job)
            run_job(argv, env);
        exec_child(argv, env);
    }
    fcntl(p->master, F_SETFD, FD_CLOEXEC);
    p->buf = calloc(1, 1);
    free(env);
    free(argv);
    free(wrapbuf);
    return p;
fail:
    free(env);
    free(argv);
    free(wrapbuf);
    free(p);
    return NULL;
}

pid_t cr_pty_pid(const cr_pty *p) { return p->pid; }

pid_t cr_pty_fg(const cr_pty *p) { return tcgetpgrp(p->master); }

int cr_pty_write(cr_pty *p, const char *s)
{
    size_t n = strlen(s);
    return write(p->master, s, n) == (ssize_t)n ? 0 : -1;
}

int cr_pty_resize(cr_pty *p, int rows, int cols)
{
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    return ioctl(p->master, TIOCSWINSZ, &ws);
}

/* Read what is there within timeout_ms.  1 data, 0 timeout, -1 EOF. */
static int pty_read_some(cr_pty *p, int timeout_ms)
{
    struct pollfd pfd = {p->master, POLLIN, 0};
    int n = poll(&pfd, 1, timeout_ms);
    if (n <= 0)
        return 0;
    char buf[8192];
    ssize_t m = read(p->master, buf, sizeof buf);
    if (m <= 0)
        return -1; /* EIO once the slave side is closed */
    append(&p->buf, &p->len, buf, (size_t)m);
    return 1;
}

bool cr_pty_read_until(cr_pty *p, const char *needle, int times, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (cr_count(p->buf, p->len, needle) < times) {
        long long left = end - now_ms();
        if (left <= 0)
            return false;
        if (pty_read_some(p, (int)(left > 1000 ? 1000 : left)) < 0)
            return cr_count(p->buf, p->len, needle) >= times;
    }
    return true;
}

const char *cr_pty_output(const cr_pty *p) { return p->buf ? p->buf : ""; }

int cr_pty_finish(cr_pty *p, cr_result *r)
{
    memset(r, 0, sizeof *r);
    long long end = now_ms() + 30000;
    while (now_ms() < end && pty_read_some(p, 1000) >= 0) {
    }
    int st = 0;
    pid_t w;
    while ((w = waitpid(p->pid, &st, WNOHANG)) == 0 && now_ms() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (w == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
    }
    r->code = decode_status(st);
    r->out = p->buf;
    r->outlen = p->len;
    r->err = calloc(1, 1);
    close(p->master);
    free(p);
    return r->code;
}

int cr_pty_run(cr_result *r, const cr_opts *o, const char *const *args)
{
    cr_pty *p = cr_pty_start(o, args);
    if (!p) {
        memset(r, 0, sizeof *r);
        r->out = calloc(1, 1);
        r->err = calloc(1, 1);
        r->code = -1;
        return -1;
    }
    return cr_pty_finish(p, r);
}

bool cr_contains(const char *hay, size_t len, const char *needle)
{
    return cr_count(hay, len, needle) > 0;
}

int cr_count(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    int c = 0;
    if (!n || !hay)
        return 0;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            c++;
    return c;
}
