/* watch.c — the status, refreshed: a table redrawn in place on a terminal,
 * plain lines (or JSON lines) otherwise.
 *
 * Signals: SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP and SIGCONT stay
 * blocked except while waiting between refreshes (ppoll unblocks them
 * atomically, so none is missed) and while a refresh talks to the store,
 * never while a frame is being written.  A stop signal during the wait
 * ends the loop normally; during a refresh, the handler restores the
 * terminal itself and exits at once, so a slow server never delays
 * Ctrl-C.  Ctrl-Z (SIGTSTP) shows the cursor, then stops the process;
 * once continued (SIGCONT) the cursor is hidden and the frame redrawn. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define ESC         "\033"
#define TTY_START   ESC "[?25l" ESC "[H" ESC "[2J" /* hide cursor, clear */
#define TTY_RESTORE ESC "[?25h"                    /* show cursor */

static volatile sig_atomic_t g_stop;   /* the stop signal received */
static volatile sig_atomic_t g_resize; /* SIGWINCH received */
static volatile sig_atomic_t g_busy;   /* in a refresh: exit from the handler */
static volatile sig_atomic_t g_tty;    /* the terminal needs restoring */
static volatile sig_atomic_t g_cont;   /* continued after a stop: redraw all */
static struct sigaction g_tstp_action; /* on_tstp, reinstalled after a stop */

static void on_signal(int sig)
{
    if (sig == SIGWINCH) {
        g_resize = 1;
        return;
    }
    g_stop = sig;
    if (g_busy) {
        if (g_tty) {
            ssize_t r = write(STDOUT_FILENO, TTY_RESTORE "\n", sizeof TTY_RESTORE);
            (void)r;
        }
        _exit(0);
    }
}

/* Ctrl-Z: give the terminal back as it was, then stop as the default
 * action would (in an orphaned process group the kernel discards it, and
 * the process just goes on). */
static void on_tstp(int sig)
{
    int saved = errno;
    if (g_tty) {
        ssize_t r = write(STDOUT_FILENO, TTY_RESTORE, sizeof TTY_RESTORE - 1);
        (void)r;
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig); /* stops here until SIGCONT */
    sigprocmask(SIG_BLOCK, &only, NULL);
    sigaction(sig, &g_tstp_action, NULL);
    g_cont = 1;
    errno = saved;
}

static void on_cont(int sig)
{
    (void)sig;
    g_cont = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Lines and tables                                                     */

typedef struct lines {
    char **v;
    size_t n, cap;
    bool oom;
} lines;

static void add_line(lines *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_line(lines *L, const char *fmt, ...)
{
    if (L->oom)
        return;
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 32;
        char **v = realloc(L->v, cap * sizeof *v);
        if (!v) {
            L->oom = true;
            return;
        }
        L->v = v;
        L->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        L->oom = true;
    else
        L->v[L->n++] = s;
    va_end(ap);
}

static void free_lines(lines *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->v[i]);
    free(L->v);
    memset(L, 0, sizeof *L);
}

/* Columns on screen of UTF-8 text (one per code point; good enough for
 * ids and timestamps). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Copy a value read from the store, control characters as '?'. */
static void clean(char *out, size_t len, const char *in)
{
    cli_clean_text(out, len, in, strlen(in));
}

#define MAXCOLS 8
#define CELL    96

typedef struct table {
    int ncols;
    const char *head[MAXCOLS];
    bool right[MAXCOLS];
    size_t nrows;
    char (*cells)[MAXCOLS][CELL];
} table;

/* Render the table as lines, two spaces of indent, columns padded. */
static void table_lines(const table *t, lines *L)
{
    size_t w[MAXCOLS];
    for (int j = 0; j < t->ncols; j++) {
        w[j] = width(t->head[j]);
        for (size_t i = 0; i < t->nrows; i++) {
            size_t cw = width(t->cells[i][j]);
            if (cw > w[j])
                w[j] = cw;
        }
    }
    for (size_t i = 0; i <= t->nrows; i++) {
        char line[MAXCOLS * (CELL + 4) + 8];
        size_t n = 0;
        n += (size_t)snprintf(line + n, sizeof line - n, " ");
        for (int j = 0; j < t->ncols; j++) {
            const char *cell = i == 0 ? t->head[j] : t->cells[i - 1][j];
            size_t pad = w[j] - width(cell);
            bool last = j == t->ncols - 1;
            n +=
                (size_t)snprintf(line + n, sizeof line - n, " %*s%s%*s", t->right[j] ? (int)pad : 0,
                                 "", cell, (t->right[j] || last) ? 0 : (int)pad, "");
            if (n >= sizeof line)
                n = sizeof line - 1;
        }
        while (n > 0 && line[n - 1] == ' ') /* an empty last cell (NOTE) */
            line[--n] = '\0';
        add_line(L, "%s", line);
    }
}

/* Time left in a cell: "9m58s", or "never expires" for a key without
 * expiry (another tool's). */
static void left_cell(int64_t ttl_ms, char *cell)
{
    if (ttl_ms < 0)
        snprintf(cell, CELL, "never expires");
    else
        cli_fmt_duration(ttl_ms, cell, CELL);
}

static bool flagged(unsigned flags)
{
    return (flags & (SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE)) != 0;
}

/* "Claims: 3" and, when some are another tool's, how many and what
 * they do (`why`). */
static void section_head(lines *L, const char *what, size_t n, size_t foreign, const char *why)
{
    if (n == 0)
        add_line(L, "%s: none", what);
    else if (foreign == 0)
        add_line(L, "%s: %zu", what, n);
    else
        add_line(L, "%s: %zu (%zu foreign: another tool's, %s)", what, n, foreign, why);
}

static void snapshot_lines(const sqclaim_status *st, lines *L)
{
    size_t fc = 0, fr = 0;
    for (size_t i = 0; i < st->nclaims; i++)
        fc += flagged(st->claims[i].flags);
    for (size_t i = 0; i < st->nreservations; i++)
        fr += flagged(st->reservations[i].flags);

    section_head(L, "Claims", st->nclaims, fc, "they block claims; sqclaim break SQ removes one");
    if (st->nclaims) {
        /* The NOTE column only when something needs it. */
        table t = {fc ? 7 : 6,
                   {"SQ", "BOT", "STATUS", "FENCE", "LEFT", "SINCE", "NOTE"},
                   {false, false, false, true, true, false, false},
                   st->nclaims,
                   NULL};
        t.cells = calloc(st->nclaims, sizeof *t.cells);
        if (!t.cells) {
            L->oom = true;
            return;
        }
        for (size_t i = 0; i < st->nclaims; i++) {
            const sqclaim_claim_info *ci = &st->claims[i];
            clean(t.cells[i][0], CELL, ci->sq);
            clean(t.cells[i][1], CELL, ci->bot[0] ? ci->bot : "?");
            clean(t.cells[i][2], CELL, ci->status[0] ? ci->status : "-");
            if (ci->fence)
                snprintf(t.cells[i][3], CELL, "%" PRIu64, ci->fence);
            else
                snprintf(t.cells[i][3], CELL, "-");
            left_cell(ci->ttl_ms, t.cells[i][4]);
            clean(t.cells[i][5], CELL, ci->timestamp[0] ? ci->timestamp : "-");
            cli_foreign_note(ci->flags, ci->type, ci->raw, t.cells[i][6], CELL);
        }
        table_lines(&t, L);
        free(t.cells);
    }
    add_line(L, "%s", "");
    section_head(L, "Refund reservations", st->nreservations, fr,
                 "reserve never hands out their rows");
    if (st->nreservations) {
        table t = {fr ? 8 : 7,
                   {"SQ", "BOT", "ROWS", "COUNT", "STATUS", "FENCE", "LEFT", "NOTE"},
                   {false, false, false, true, false, true, true, false},
                   st->nreservations,
                   NULL};
        t.cells = calloc(st->nreservations, sizeof *t.cells);
        if (!t.cells) {
            L->oom = true;
            return;
        }
        for (size_t i = 0; i < st->nreservations; i++) {
            const sqclaim_reservation_info *ri = &st->reservations[i];
            clean(t.cells[i][0], CELL, ri->sq);
            clean(t.cells[i][1], CELL, ri->bot[0] ? ri->bot : "?");
            if (ri->start_row && ri->row_count)
                snprintf(t.cells[i][2], CELL, "%" PRIu64 "-%" PRIu64, ri->start_row,
                         ri->start_row + ri->row_count - 1);
            else if (ri->start_row)
                snprintf(t.cells[i][2], CELL, "%" PRIu64, ri->start_row);
            else
                snprintf(t.cells[i][2], CELL, "?");
            if (ri->row_count)
                snprintf(t.cells[i][3], CELL, "%" PRIu32, ri->row_count);
            else
                snprintf(t.cells[i][3], CELL, "?");
            clean(t.cells[i][4], CELL, ri->status[0] ? ri->status : "-");
            if (ri->fence)
                snprintf(t.cells[i][5], CELL, "%" PRIu64, ri->fence);
            else
                snprintf(t.cells[i][5], CELL, "-");
            left_cell(ri->ttl_ms, t.cells[i][6]);
            cli_foreign_note(ri->flags, ri->type, ri->raw, t.cells[i][7], CELL);
        }
        table_lines(&t, L);
        free(t.cells);
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

typedef struct watch {
    const cli *c;
    sqclaim_store *s;
    bool tty;
    bool json;
    int64_t interval_ms;
    lines last; /* the latest frame, redrawn on SIGWINCH */

    /* The request budget (vercel): requests a status took, as counted by
     * the library (sqclaim_stats round_trips), and the interval chosen
     * from it when --interval is not given. */
    bool metered;         /* the backend bills requests: show their cost */
    bool auto_interval;   /* no --interval: choose one that fits the plan */
    uint64_t round_trips; /* the counter after the previous refresh */
    uint64_t per_poll;    /* requests of the latest successful refresh */
    bool noted;           /* the cost was said on stderr */
} watch;

/* The legacy Vercel KV free plan ("Hobby"): 3 000 requests a day, for the
 * bots and the watch together.  watch takes at most half of it by
 * default, so the bots keep the other half (docs/cli.md, watch). */
#define KV_PLAN_REQUESTS_PER_DAY 3000
#define WATCH_REQUESTS_PER_DAY   (KV_PLAN_REQUESTS_PER_DAY / 2)
#define DAY_MS                   86400000LL
/* Until the first refresh is counted: a status costs at least 2
 * requests on a store that holds anything (docs/vercel.md). */
#define ASSUMED_REQUESTS_PER_POLL 2

/* Requests a day when polling every interval_ms with per_poll requests. */
static uint64_t per_day(uint64_t per_poll, int64_t interval_ms)
{
    return (per_poll * (uint64_t)DAY_MS + (uint64_t)interval_ms - 1) / (uint64_t)interval_ms;
}

/* The shortest whole number of minutes (at most an hour) between polls
 * that keeps per_poll requests a poll within WATCH_REQUESTS_PER_DAY. */
static int64_t budget_interval(uint64_t per_poll)
{
    int64_t min_ms = (int64_t)((per_poll * (uint64_t)DAY_MS + WATCH_REQUESTS_PER_DAY - 1) /
                               WATCH_REQUESTS_PER_DAY);
    int64_t minutes = (min_ms + 59999) / 60000;
    if (minutes < 1)
        minutes = 1;
    if (minutes > 60)
        minutes = 60;
    return minutes * 60000;
}

/* After a refresh: count its requests; after a successful one, adapt
 * the default interval and say once (on stderr, unless --quiet or on a
 * terminal, where the frame's first line says it) what polling costs a
 * day. */
static void meter(watch *w, bool ok)
{
    sqclaim_stats st;
    if (!w->metered || sqclaim_stats_get(w->s, &st) != SQCLAIM_OK)
        return;
    uint64_t n = st.round_trips - w->round_trips;
    w->round_trips = st.round_trips;
    if (!ok || n == 0) /* a failed refresh's retries say nothing of a poll */
        return;
    w->per_poll = n;
    if (w->auto_interval)
        w->interval_ms = budget_interval(n);
    if (w->noted || w->tty || w->c->flag[OPT_QUIET])
        return;
    w->noted = true;
    char every[24];
    cli_fmt_duration(w->interval_ms, every, sizeof every);
    uint64_t day = per_day(n, w->interval_ms);
    cli_msg("note: watch polls %s every %s: %llu request%s a poll, %llu requests a day; the "
            "legacy Vercel KV free plan allows %d a day for everything%s",
            sqclaim_backend_name(w->s), every, (unsigned long long)n, n == 1 ? "" : "s",
            (unsigned long long)day, KV_PLAN_REQUESTS_PER_DAY,
            w->auto_interval ? " (this default keeps watch within half of it; --interval "
                               "changes it)"
            : day > KV_PLAN_REQUESTS_PER_DAY ? ", so this interval exceeds it by itself"
                                             : "");
}

/* Draw a frame in place: home, each line cut to the window and cleared to
 * its end, then clear below.  Lines past the window's height are
 * summarised. */
static void draw_tty(const lines *L)
{
    struct winsize ws;
    size_t cols = 80, rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
    fputs(ESC "[H", stdout);
    size_t shown = L->n;
    if (rows > 1 && shown > rows - 1)
        shown = rows - 2;
    for (size_t i = 0; i < shown; i++) {
        const char *s = L->v[i];
        size_t w = 0;
        const char *p = s;
        /* Cut at cols-1 columns so the terminal never wraps. */
        for (; *p; p++) {
            if (((unsigned char)*p & 0xc0) != 0x80) {
                if (w + 1 >= cols)
                    break;
                w++;
            }
        }
        fwrite(s, 1, (size_t)(p - s), stdout);
        fputs(ESC "[K\n", stdout);
    }
    if (shown < L->n)
        printf("... %zu more lines (enlarge the window)" ESC "[K\n", L->n - shown);
    fputs(ESC "[J", stdout);
}

/* Returns 0, or -1 if stdout is gone. */
static int emit(watch *w, const lines *L)
{
    if (w->tty) {
        if (g_cont) { /* back from a stop: the screen is not ours any more */
            g_cont = 0;
            fputs(TTY_START, stdout);
        }
        draw_tty(L);
    } else {
        for (size_t i = 0; i < L->n; i++) {
            fputs(L->v[i], stdout);
            fputc('\n', stdout);
        }
        fputc('\n', stdout);
    }
    return fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;
}

/* Is this failure one that another refresh cannot fix? */
static bool fatal(sqclaim_rc rc)
{
    int ex = cli_exit_for(rc);
    return ex == CLI_EXIT_CONFIG || ex == CLI_EXIT_USAGE;
}

/* One refresh: fetch (signals unblocked), then render.  Returns the
 * refresh's exit status; *gone is set if stdout is closed. */
static int refresh(watch *w, const sigset_t *open_mask, const sigset_t *blocked, bool *gone)
{
    sqclaim_status *st = NULL;
    g_busy = 1;
    sigprocmask(SIG_SETMASK, open_mask, NULL);
    sqclaim_rc rc = sqclaim_status_get(w->s, &st);
    sigprocmask(SIG_SETMASK, blocked, NULL);
    g_busy = 0;
    meter(w, rc == SQCLAIM_OK);

    int ex = cli_exit_for(rc);
    const char *msg = rc == SQCLAIM_OK ? "" : sqclaim_errmsg(w->s);
    if (w->json) {
        char *j = rc == SQCLAIM_OK ? sqclaim_status_json(st, 0) : sqclaim_error_json(msg, 0);
        if (rc != SQCLAIM_OK)
            cli_msg("%s", msg);
        if (!j) {
            cli_msg("watch: out of memory");
            ex = CLI_EXIT_FAILURE;
        } else if (cli_print_line(j) != 0) {
            *gone = true;
        }
        sqclaim_free(j);
        sqclaim_status_free(st);
        return ex;
    }

    lines L = {0};
    char every[24];
    cli_fmt_duration(w->interval_ms, every, sizeof every);
    char ts[64];
    if (st) {
        snprintf(ts, sizeof ts, "%s", st->timestamp);
    } else {
        /* The snapshot's time comes from the library; on failure, now. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 now.tv_nsec / 1000000);
    }
    char cost[64] = "";
    if (w->metered)
        snprintf(cost, sizeof cost, "~%llu requests/day, ",
                 (unsigned long long)per_day(w->per_poll ? w->per_poll : ASSUMED_REQUESTS_PER_POLL,
                                             w->interval_ms));
    add_line(&L, "sqclaim watch: %s, every %s, %s%s%s", sqclaim_backend_name(w->s), every, cost, ts,
             w->tty ? "  (Ctrl-C to quit)" : "");
    add_line(&L, "%s", "");
    if (rc == SQCLAIM_OK) {
        snapshot_lines(st, &L);
    } else if (w->tty) {
        char m[512];
        clean(m, sizeof m, msg);
        add_line(&L, "status failed: %s", m);
        add_line(&L, "%s", fatal(rc) ? "(not retrying)" : "(retrying)");
    } else {
        cli_msg("%s", msg);
        add_line(&L, "status failed (see standard error)");
    }
    sqclaim_status_free(st);
    if (L.oom) {
        free_lines(&L);
        cli_msg("watch: out of memory");
        return CLI_EXIT_FAILURE;
    }
    if (emit(w, &L) != 0)
        *gone = true;
    free_lines(&w->last);
    w->last = L;
    return ex;
}

int cmd_watch(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "watch takes no arguments");
    int64_t interval = 2000;
    uint64_t count = 0;
    if (c->val[OPT_INTERVAL]) {
        int ex = cli_duration_opt(c, OPT_INTERVAL, "--interval", 10, 3600000, &interval);
        if (ex)
            return ex;
    }
    if (c->val[OPT_COUNT]) {
        int ex = cli_uint_opt(c, "--count", c->val[OPT_COUNT], 1, 1000000000, &count);
        if (ex)
            return ex;
    }
    watch w = {0};
    w.c = c;
    w.json = c->flag[OPT_JSON];
    w.interval_ms = interval;
    const char *term = getenv("TERM");
    w.tty = !w.json && isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb") != 0;

    int ex = cli_open_store(c, &w.s, false, 1);
    if (ex)
        return ex;
    /* Vercel KV bills every request: poll at a pace the free plan allows
     * unless told otherwise, and say what it costs. */
    w.metered =
        strcmp(sqclaim_backend_name(w.s), "vercel") == 0 && (sqclaim_caps(w.s) & SQCLAIM_CAP_STATS);
    w.auto_interval = w.metered && !c->val[OPT_INTERVAL];
    if (w.auto_interval)
        w.interval_ms = budget_interval(ASSUMED_REQUESTS_PER_POLL);

    /* The signals handled here: blocked but while waiting or fetching. */
    static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP, SIGCONT};
    enum { NHANDLED = sizeof handled / sizeof handled[0] };
    sigset_t stopset, open_mask, blocked;
    sigemptyset(&stopset);
    for (int i = 0; i < NHANDLED; i++)
        sigaddset(&stopset, handled[i]);
    sigprocmask(SIG_BLOCK, &stopset, &open_mask);
    blocked = open_mask;
    for (int i = 0; i < NHANDLED; i++) {
        sigaddset(&blocked, handled[i]);
        sigdelset(&open_mask, handled[i]);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait must wake up */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    struct sigaction was;
    if (w.tty && sigaction(SIGTSTP, NULL, &was) == 0 && was.sa_handler != SIG_IGN) {
        /* ppoll wakes up whatever SA_RESTART says; calls inside the
         * library are resumed. */
        memset(&g_tstp_action, 0, sizeof g_tstp_action);
        g_tstp_action.sa_handler = on_tstp;
        sigemptyset(&g_tstp_action.sa_mask);
        g_tstp_action.sa_flags = SA_RESTART;
        sigaction(SIGTSTP, &g_tstp_action, NULL);
        struct sigaction sc = g_tstp_action;
        sc.sa_handler = on_cont;
        sigaction(SIGCONT, &sc, NULL);
    }

    if (w.tty) {
        fputs(TTY_START, stdout);
        fflush(stdout);
        g_tty = 1;
    }

    bool gone = false;
    for (uint64_t n = 1;; n++) {
        int64_t started = now_ms();
        ex = refresh(&w, &open_mask, &blocked, &gone);
        int64_t next = started + w.interval_ms; /* as the refresh measured it */
        if (gone || g_stop || (count && n >= count))
            break;
        if (ex == CLI_EXIT_CONFIG || ex == CLI_EXIT_USAGE)
            break; /* another refresh cannot fix the configuration */
        /* Wait for the next refresh; stop signals and resizes wake us. */
        for (;;) {
            int64_t left = next - now_ms();
            if (left <= 0 || g_stop)
                break;
            struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
            int r = ppoll(NULL, 0, &ts, &open_mask);
            if (r < 0 && errno == EINTR && (g_resize || g_cont) && !g_stop) {
                g_resize = 0;
                if (w.tty && emit(&w, &w.last) != 0) {
                    gone = true;
                    break;
                }
            }
        }
        if (gone || g_stop)
            break;
    }
    if (w.tty) {
        fputs(TTY_RESTORE, stdout);
        fflush(stdout);
        g_tty = 0;
    }
    if (g_stop || gone)
        ex = 0; /* stopped by the user, or the reader went away (watch | head) */
    free_lines(&w.last);
    sqclaim_close(w.s);
    sigprocmask(SIG_SETMASK, &open_mask, NULL);
    return ex;
}
