/* util.c — messages, exit codes, durations and numbers, output, opening
 * the store, trimming library advice, deferred stop signals. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void vmsg(const char *fmt, va_list ap)
{
    fputs("sqclaim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int cli_usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    if (c && c->cmd)
        fprintf(stderr, "Try 'sqclaim %s --help' for more information.\n", c->cmd);
    else
        fputs("Try 'sqclaim --help' for more information.\n", stderr);
    return CLI_EXIT_USAGE;
}

void cli_clean_text(char *out, size_t outlen, const char *in, size_t inlen)
{
    if (!outlen)
        return;
    size_t i = 0;
    for (; i < inlen && in[i] && i + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    out[i] = '\0';
}

int cli_exit_for(sqclaim_rc rc)
{
    switch (rc) {
    case SQCLAIM_OK: return CLI_EXIT_OK;
    case SQCLAIM_BUSY: return CLI_EXIT_BUSY;
    case SQCLAIM_LOST: return CLI_EXIT_LOST;
    case SQCLAIM_EINVAL: return CLI_EXIT_USAGE;
    case SQCLAIM_ECONFIG:
    case SQCLAIM_EUNSUPPORTED:
    case SQCLAIM_EAUTH: return CLI_EXIT_CONFIG;
    case SQCLAIM_EIO:
    case SQCLAIM_ETIMEOUT:
    case SQCLAIM_EPROTOCOL:
    case SQCLAIM_ENOMEM:
    case SQCLAIM_EQUOTA:
    case SQCLAIM_ESERVER:
    case SQCLAIM_ESTATE: return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_FAILURE;
}

void cli_fmt_duration(int64_t ms, char *buf, size_t len)
{
    if (ms < 0) {
        snprintf(buf, len, "-");
    } else if (ms < 1000) {
        snprintf(buf, len, "%" PRId64 "ms", ms);
    } else if (ms < 60000) {
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", ms / 1000, ms % 1000 / 100);
    } else if (ms < 3600000) {
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms % 60000 / 1000);
    } else {
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms % 3600000 / 60000);
    }
}

int cli_duration_opt(const cli *c, enum cli_opt opt, const char *name, int64_t min, int64_t max,
                     int64_t *ms)
{
    char err[256];
    if (sqclaim_parse_duration(c->val[opt], ms, err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "%s: %s", name, err);
    if (*ms < min || *ms > max) {
        char lo[24], hi[24];
        cli_fmt_duration(min, lo, sizeof lo);
        cli_fmt_duration(max, hi, sizeof hi);
        return cli_usage_error(c, "%s: %s is out of range: between %s and %s", name, c->val[opt],
                               lo, hi);
    }
    return 0;
}

int cli_uint_opt(const cli *c, const char *name, const char *text, uint64_t min, uint64_t max,
                 uint64_t *out)
{
    const char *p = text;
    uint64_t v = 0;
    if (!*p)
        return cli_usage_error(c, "%s: empty, expected a number", name);
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return cli_usage_error(c, "%s: \"%.40s\" is not a whole number", name, text);
        if (v > (UINT64_MAX - 9) / 10)
            return cli_usage_error(c, "%s: %.40s is too large (at most %" PRIu64 ")", name, text,
                                   max);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        return cli_usage_error(c,
                               "%s: %" PRIu64 " is out of range: between %" PRIu64 " and %" PRIu64,
                               name, v, min, max);
    *out = v;
    return 0;
}

int cli_print_line(const char *s)
{
    errno = 0;
    fputs(s, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}

bool cli_stdout_writable(void)
{
    int fl = fcntl(STDOUT_FILENO, F_GETFL);
    return fl != -1 && (fl & O_ACCMODE) != O_RDONLY;
}

/* What cli_open_store made of --timeout, for cli_timeout_note(). */
static int64_t g_total_ms, g_request_ms;
static bool g_timeout_given, g_noted;

void cli_timeout_note(sqclaim_rc rc)
{
    if (rc != SQCLAIM_ETIMEOUT || g_noted || !g_total_ms)
        return;
    g_noted = true;
    char total[24], req[24];
    cli_fmt_duration(g_total_ms, total, sizeof total);
    cli_fmt_duration(g_request_ms, req, sizeof req);
    cli_msg("gave up: --timeout %s%s bounds the whole command, retries included; each "
            "request had %s of it",
            total, g_timeout_given ? "" : " (the default)", req);
}

int cli_open_store(const cli *c, sqclaim_store **out, bool error_json, int steps)
{
    *out = NULL;
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.backend = c->val[OPT_ADAPTER];
    o.redis_url = c->val[OPT_REDIS_URL];
    o.key_prefix = c->val[OPT_PREFIX];
    int64_t total = CLI_DEFAULT_TIMEOUT_MS;
    if (c->val[OPT_TIMEOUT]) {
        int ex = cli_duration_opt(c, OPT_TIMEOUT, "--timeout", 1, 600000, &total);
        if (ex)
            return ex;
    }
    /* --timeout bounds the whole command: each of its (at most `steps`)
     * operations gets an equal share, within which the library retries
     * as long as a whole attempt still fits (op_timeout_ms).  An attempt
     * is a connection (a sixth of the share) and a request (a third), so
     * a request that times out still leaves room for one more. */
    int64_t share = total / (steps > 0 ? steps : 1);
    o.op_timeout_ms = (int)(share > 0 ? share : 1);
    o.timeout_ms = (int)(share / 3 > 0 ? share / 3 : 1);
    o.connect_timeout_ms = (int)(share / 6 > 0 ? share / 6 : 1);
    g_total_ms = total;
    g_request_ms = o.timeout_ms;
    g_timeout_given = c->val[OPT_TIMEOUT] != NULL;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(&o, &s);
    if (rc == SQCLAIM_OK) {
        *out = s;
        return 0;
    }
    const char *msg = sqclaim_errmsg(s);
    if (error_json) {
        char *j = sqclaim_error_json(msg, c->flag[OPT_PRETTY] ? SQCLAIM_JSON_PRETTY : 0);
        if (j)
            cli_print_line(j);
        sqclaim_free(j);
    }
    cli_msg("%s", msg);
    sqclaim_close(s);
    return cli_exit_for(rc);
}

void cli_memory_note(const cli *c, const sqclaim_store *s)
{
    if (c->flag[OPT_QUIET] || strcmp(sqclaim_backend_name(s), "memory") != 0)
        return;
    cli_msg("note: the memory backend keeps claims inside this one process, so they are "
            "gone when sqclaim exits; use the default sqlite backend (one host), or "
            "--backend redis or vercel, to share them "
            "(--quiet hides this note)");
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOP (sizeof stop_signals / sizeof stop_signals[0])
static sigset_t deferred;
static bool deferring;

void cli_defer_stop_signals(void)
{
    if (deferring)
        return;
    sigemptyset(&deferred);
    for (size_t i = 0; i < NSTOP; i++) {
        struct sigaction sa;
        /* An ignored signal (a background job of a non-interactive
         * shell ignores SIGINT) stays ignored: blocked, it would be kept
         * pending and taken for a request to stop. */
        if (sigaction(stop_signals[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            sigaddset(&deferred, stop_signals[i]);
    }
    sigprocmask(SIG_BLOCK, &deferred, NULL);
    deferring = true;
}

int cli_stop_signal(void)
{
    if (!deferring)
        return 0;
    sigset_t pending;
    if (sigpending(&pending) != 0)
        return 0;
    for (size_t i = 0; i < NSTOP; i++)
        if (sigismember(&deferred, stop_signals[i]) && sigismember(&pending, stop_signals[i]))
            return stop_signals[i];
    return 0;
}

void cli_end_deferral(void)
{
    if (!deferring)
        return;
    fflush(stdout);
    fflush(stderr);
    deferring = false;
    sigprocmask(SIG_UNBLOCK, &deferred, NULL); /* a pending one ends the process here */
}

const char *cli_signal_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT (Ctrl-C)";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}
