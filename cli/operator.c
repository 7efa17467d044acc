/* operator.c — the operator's tools, for people repairing a store:
 *
 *   break SQ      end a stuck claim and its reservation (a kill -9'ed
 *                 bot's claim, a key without expiry another tool wrote),
 *                 after showing exactly what goes, and removing only that
 *   counters      the row cursor and the fencing counter, and moving the
 *                 cursor up (--raise-cursor)
 *
 * and the words for a stored entry that break, claim's BUSY message and
 * watch share.  Both commands change the store for good, so they confirm
 * first: --yes, or a person's "y" at a terminal (cli_confirm). */
#include "cli.h"
#include "util/squtil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Describing entries                                                   */

void cli_fmt_left(int64_t ttl_ms, char *buf, size_t len)
{
    if (ttl_ms < 0) {
        snprintf(buf, len, "never expires");
        return;
    }
    char d[24];
    cli_fmt_duration(ttl_ms, d, sizeof d);
    snprintf(buf, len, "%s left", d);
}

/* How an unreadable value is described: `prefix` then "type X" when it
 * is not a string; for a string, `hidden` when its text mentions a token,
 * else `text` and the text in quotes. */
typedef struct unreadable_words {
    const char *prefix, *hidden, *text;
} unreadable_words;

static void unreadable(unsigned flags, const char *type, const char *raw, const unreadable_words *w,
                       char *buf, size_t len)
{
    char t[32], r[SQCLAIM_RAW_MAX + 1];
    cli_clean_text(t, sizeof t, type, strlen(type));
    cli_clean_text(r, sizeof r, raw, strlen(raw));
    if (strcmp(t, "string") != 0)
        snprintf(buf, len, "%stype %s", w->prefix, t[0] ? t : "?");
    else if (flags & SQCLAIM_ENTRY_RAW_HIDDEN)
        snprintf(buf, len, "%s", w->hidden);
    else
        snprintf(buf, len, "%s\"%s\"", w->text, r);
}

/* What a value another tool wrote is, when it is not a JSON object:
 * "type hash", "type string, not JSON: \"hello\"". */
static void unreadable_text(unsigned flags, const char *type, const char *raw, char *buf,
                            size_t len)
{
    static const unreadable_words w = {
        "", "type string, not a JSON object; its text mentions a token, so it is not shown",
        "type string, not a JSON object: "};
    unreadable(flags, type, raw, &w, buf, len);
}

void cli_foreign_note(unsigned flags, const char *type, const char *raw, char *buf, size_t len)
{
    static const unreadable_words w = {
        "foreign: ", "foreign: not JSON (text not shown: mentions a token)", "foreign: not JSON: "};
    if (!(flags & (SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE))) {
        if (len)
            buf[0] = '\0';
        return;
    }
    if (!(flags & SQCLAIM_ENTRY_UNREADABLE)) {
        snprintf(buf, len, "foreign");
        return;
    }
    unreadable(flags, type, raw, &w, buf, len);
}

/* "BOT1", or "a value another tool wrote (...)": who or what holds an
 * entry.  *own: written by sqclaim. */
static void holder_text(unsigned flags, const char *bot, const char *type, const char *raw,
                        char *buf, size_t len)
{
    char b[SQCLAIM_BOT_MAX + 1];
    cli_clean_text(b, sizeof b, bot, strlen(bot));
    if (flags & SQCLAIM_ENTRY_UNREADABLE) {
        char u[SQCLAIM_RAW_MAX + 96];
        unreadable_text(flags, type, raw, u, sizeof u);
        snprintf(buf, len, "a value another tool wrote (%s)", u);
    } else if (flags & SQCLAIM_ENTRY_FOREIGN) {
        if (b[0] && strcmp(b, "?") != 0)
            snprintf(buf, len, "%s, in a value another tool wrote (not sqclaim's)", b);
        else
            snprintf(buf, len, "a value another tool wrote, naming no bot");
    } else {
        snprintf(buf, len, "%s", b[0] ? b : "?");
    }
}

/* What a claim's and a reservation's descriptions share: who holds it,
 * its fence (", fence N", or "" when unknown) and the time left. */
typedef struct holding {
    char who[SQCLAIM_RAW_MAX + SQCLAIM_BOT_MAX + 160], left[40], fence[40];
} holding;

static void describe_holding(unsigned flags, const char *bot, const char *type, const char *raw,
                             uint64_t fence, int64_t ttl_ms, holding *h)
{
    holder_text(flags, bot, type, raw, h->who, sizeof h->who);
    cli_fmt_left(ttl_ms, h->left, sizeof h->left);
    h->fence[0] = '\0';
    if (fence)
        snprintf(h->fence, sizeof h->fence, ", fence %" PRIu64, fence);
}

void cli_describe_claim(const sqclaim_claim_info *ci, char *buf, size_t len)
{
    holding h;
    char ts[64] = "";
    describe_holding(ci->flags, ci->bot, ci->type, ci->raw, ci->fence, ci->ttl_ms, &h);
    if (ci->timestamp[0]) {
        char t[SQCLAIM_TIMESTAMP_LEN + 1];
        cli_clean_text(t, sizeof t, ci->timestamp, sizeof ci->timestamp);
        snprintf(ts, sizeof ts, ", claimed %s", t);
    }
    snprintf(buf, len, "%s%s%s, %s", h.who, h.fence, ts, h.left);
}

void cli_describe_reservation(const sqclaim_reservation_info *ri, char *buf, size_t len)
{
    holding h;
    char rows[64] = "";
    describe_holding(ri->flags, ri->bot, ri->type, ri->raw, ri->fence, ri->ttl_ms, &h);
    if (ri->start_row && ri->row_count)
        snprintf(rows, sizeof rows, ", rows %" PRIu64 "-%" PRIu64 " (%" PRIu32 ")", ri->start_row,
                 ri->start_row + ri->row_count - 1, ri->row_count);
    else if (!(ri->flags & SQCLAIM_ENTRY_UNREADABLE))
        snprintf(rows, sizeof rows, ", rows unknown");
    snprintf(buf, len, "%s%s%s, %s", h.who, rows, h.fence, h.left);
}

/* ------------------------------------------------------------------ */
/* Confirmation                                                         */

/* Under CI (CI set, as every CI service does, and not "0" or "false")
 * nobody is there to answer, whatever a terminal says. */
static bool in_ci(void)
{
    const char *v = getenv("CI");
    return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

bool cli_can_confirm(const cli *c)
{
    return c->flag[OPT_YES] || (!in_ci() && isatty(STDIN_FILENO) && isatty(STDERR_FILENO));
}

bool cli_confirm(const cli *c, const char *question)
{
    if (c->flag[OPT_YES])
        return true;
    if (!cli_can_confirm(c))
        return false;
    fprintf(stderr, "sqclaim: %s [y/N] ", question);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) {
        fputc('\n', stderr);
        return false;
    }
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    for (n = strlen(p); n && (p[n - 1] == ' ' || p[n - 1] == '\t'); n--)
        p[n - 1] = '\0';
    return strcasecmp(p, "y") == 0 || strcasecmp(p, "yes") == 0;
}

/* Refuse, before anything is sent, an action nobody can confirm. */
static int need_yes(const cli *c, const char *what)
{
    return cli_usage_error(
        c,
        "%s changes the store for good: add --yes to confirm (nobody can be "
        "asked: %s); nothing was sent",
        what, in_ci() ? "CI is set" : "standard input and standard error are not both a terminal");
}

/* A store call that failed: its message (and the timeout note), the
 * store closed when close is set; the exit code for rc. */
static int failed(sqclaim_store *s, sqclaim_rc rc, bool close)
{
    cli_msg("%s", sqclaim_errmsg(s));
    cli_timeout_note(rc);
    if (close)
        sqclaim_close(s);
    return cli_exit_for(rc);
}

/* Ask q: true when confirmed; else "not confirmed: " and what (nothing
 * changed) said, and the store closed. */
static bool confirmed(const cli *c, sqclaim_store *s, const char *q, const char *what)
{
    if (cli_confirm(c, q))
        return true;
    cli_msg("not confirmed: %s", what);
    sqclaim_close(s);
    return false;
}

/* ------------------------------------------------------------------ */
/* break                                                                */

static bool own_claim(const sqclaim_entry *e)
{
    return e->has_claim && !(e->claim.flags & (SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE));
}

static void show_entry(const sqclaim_entry *e)
{
    char d[SQCLAIM_RAW_MAX + SQCLAIM_BOT_MAX + 320];
    cli_msg("SQ %s holds:", e->sq);
    if (e->has_claim) {
        cli_describe_claim(&e->claim, d, sizeof d);
        cli_msg("  claim        %s", d);
    } else {
        cli_msg("  claim        none");
    }
    if (e->has_reservation) {
        cli_describe_reservation(&e->reservation, d, sizeof d);
        cli_msg("  reservation  %s", d);
    } else {
        cli_msg("  reservation  none");
    }
}

/* "the claim and the reservation", "the claim", "the reservation". */
static const char *parts(unsigned bits)
{
    switch (bits & (SQCLAIM_BROKE_CLAIM | SQCLAIM_BROKE_RESERVATION)) {
    case SQCLAIM_BROKE_CLAIM | SQCLAIM_BROKE_RESERVATION: return "the claim and the reservation";
    case SQCLAIM_BROKE_CLAIM: return "the claim";
    case SQCLAIM_BROKE_RESERVATION: return "the reservation";
    default: return "nothing";
    }
}

/* A live claim sqclaim wrote: "BOT1 (fence 7, 9m58s left)". */
static void live_claim_text(const sqclaim_claim_info *ci, char *buf, size_t len)
{
    char b[SQCLAIM_BOT_MAX + 1], left[40];
    cli_clean_text(b, sizeof b, ci->bot, sizeof ci->bot);
    cli_fmt_left(ci->ttl_ms, left, sizeof left);
    snprintf(buf, len, "%s (fence %" PRIu64 ", %s)", b, ci->fence, left);
}

int cmd_break(cli *c)
{
    char err[300];
    if (c->npos == 0)
        return cli_usage_error(c, "break needs the SQ: sqclaim break SQ [--force] [--yes]");
    if (sqclaim_check_sq(c->pos[0], err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "%s", err);
    if (c->npos > 1)
        return cli_usage_error(c, "break takes one SQ");
    if (!cli_can_confirm(c))
        return need_yes(c, "break");
    const char *sq = c->pos[0];
    bool force = c->flag[OPT_FORCE];

    /* Two operations: look, then break what was seen. */
    sqclaim_store *s;
    int ex = cli_open_store(c, &s, false, 2);
    if (ex)
        return ex;
    cli_memory_note(c, s);

    sqclaim_entry e;
    sqclaim_rc rc = sqclaim_inspect(s, sq, &e);
    if (rc != SQCLAIM_OK)
        return failed(s, rc, true);
    if (!e.has_claim && !e.has_reservation) {
        cli_msg("SQ %s holds no claim and no reservation: nothing to break", sq);
        sqclaim_close(s);
        return 0;
    }
    show_entry(&e);

    char who[SQCLAIM_BOT_MAX + 96];
    if (own_claim(&e))
        live_claim_text(&e.claim, who, sizeof who);
    if (own_claim(&e) && !force) {
        cli_msg("not broken: SQ %s is held by %s, a live claim sqclaim wrote: a bot may still "
                "be working on it, so nothing was removed.  --force ends it anyway (its bot "
                "learns it at its next renew, reserve, finish or release: exit 3)",
                sq, who);
        sqclaim_close(s);
        return CLI_EXIT_BUSY;
    }
    unsigned shown = (e.has_claim ? SQCLAIM_BROKE_CLAIM : 0u) |
                     (e.has_reservation ? SQCLAIM_BROKE_RESERVATION : 0u);
    char q[200];
    if (own_claim(&e))
        snprintf(q, sizeof q, "end the live claim%s shown above (its bot may still be working)?",
                 e.has_reservation ? " and remove the reservation" : "");
    else
        snprintf(q, sizeof q, "remove %s shown above?", parts(shown));
    if (!confirmed(c, s, q, "nothing was removed"))
        return CLI_EXIT_BUSY;

    /* From here the answer is awaited before a stop signal acts. */
    cli_defer_stop_signals();
    unsigned removed = 0;
    rc = sqclaim_break(s, sq, &e, force ? SQCLAIM_BREAK_FORCE : 0, &removed);
    if (rc == SQCLAIM_OK) {
        unsigned gone = shown & ~removed;
        if (!removed)
            cli_msg("SQ %s: nothing was left to remove (what was shown had expired meanwhile)", sq);
        else if (gone)
            cli_msg("broke SQ %s: removed %s (%s had expired meanwhile)", sq, parts(removed),
                    parts(gone));
        else
            cli_msg("broke SQ %s: removed %s", sq, parts(removed));
        if ((removed & SQCLAIM_BROKE_CLAIM) && own_claim(&e))
            cli_msg("the bot that held it learns it at its next renew, reserve, finish or "
                    "release (exit 3)");
        ex = 0;
    } else if (rc == SQCLAIM_LOST) {
        cli_msg("SQ %s changed since it was shown (claimed, released or reserved meanwhile): "
                "nothing was removed; run break again to see what it holds now",
                sq);
        ex = CLI_EXIT_LOST;
    } else if (rc == SQCLAIM_BUSY) {
        cli_msg("%s; --force ends it anyway", sqclaim_errmsg(s));
        ex = CLI_EXIT_BUSY;
    } else {
        ex = failed(s, rc, false);
    }
    sqclaim_close(s);
    return ex;
}

/* ------------------------------------------------------------------ */
/* counters                                                             */

/* A JSON string of text cleaned for a terminal (keys and details may
 * hold anything another tool or an operator wrote).  out[len] holds it
 * when len >= 3 * strlen(in) + 3 (a byte that is not UTF-8: U+FFFD). */
static void json_str(char *out, size_t len, const char *in)
{
    char clean[SQCLAIM_KEY_MAX + SQCLAIM_RAW_MAX + 64];
    cli_clean_text(clean, sizeof clean, in, strlen(in));
    sq_json_quote(out, len, clean, SQ_JSON_CSTR, 0);
}

static const char *state_name(unsigned state)
{
    switch (state) {
    case SQCLAIM_COUNTER_OK: return "ok";
    case SQCLAIM_COUNTER_MISSING: return "missing";
    default: return "invalid";
    }
}

static int print_counter_json(const sqclaim_counters *k, char *buf, size_t len)
{
    char ck[3 * SQCLAIM_KEY_MAX + 8], fk[3 * SQCLAIM_KEY_MAX + 8];
    char cd[3 * sizeof k->cursor_detail + 8], fd[3 * sizeof k->fence_detail + 8];
    char cv[32], fv[32];
    json_str(ck, sizeof ck, k->cursor_key);
    json_str(fk, sizeof fk, k->fence_key);
    json_str(cd, sizeof cd, k->cursor_detail);
    json_str(fd, sizeof fd, k->fence_detail);
    if (k->cursor_state == SQCLAIM_COUNTER_OK)
        snprintf(cv, sizeof cv, "%" PRIu64, k->row_cursor);
    else
        snprintf(cv, sizeof cv, "null");
    if (k->fence_state == SQCLAIM_COUNTER_OK)
        snprintf(fv, sizeof fv, "%" PRIu64, k->fence);
    else
        snprintf(fv, sizeof fv, "null");
    snprintf(buf, len,
             "{\"rowCursor\":{\"key\":%s,\"state\":\"%s\",\"value\":%s,\"detail\":%s},"
             "\"fenceCounter\":{\"key\":%s,\"state\":\"%s\",\"value\":%s,\"detail\":%s}}",
             ck, state_name(k->cursor_state), cv, cd, fk, state_name(k->fence_state), fv, fd);
    return cli_print_line(buf);
}

static int print_counters_text(const sqclaim_counters *k)
{
    char key[SQCLAIM_KEY_MAX + 1], detail[sizeof k->cursor_detail];
    char line[2 * SQCLAIM_KEY_MAX + 2 * sizeof k->cursor_detail + 400];

    cli_clean_text(key, sizeof key, k->cursor_key, sizeof k->cursor_key);
    cli_clean_text(detail, sizeof detail, k->cursor_detail, sizeof k->cursor_detail);
    if (k->cursor_state == SQCLAIM_COUNTER_OK && k->row_cursor == 0)
        snprintf(line, sizeof line,
                 "row cursor:    0 (key %s): no reservation yet; the first starts at its hint, "
                 "or row 1",
                 key);
    else if (k->cursor_state == SQCLAIM_COUNTER_OK)
        snprintf(line, sizeof line,
                 "row cursor:    %" PRIu64 " (key %s): the next reservation starts at row %" PRIu64
                 " or later",
                 k->row_cursor, key, k->row_cursor);
    else if (k->cursor_state == SQCLAIM_COUNTER_MISSING)
        snprintf(line, sizeof line,
                 "row cursor:    missing (key %s): the next reservation rebuilds it above every "
                 "live reservation",
                 key);
    else
        snprintf(line, sizeof line,
                 "row cursor:    INVALID (key %s holds %s): reservations fail until it is "
                 "deleted (the next reservation then rebuilds it) or set to the next free row",
                 key, detail[0] ? detail : "something else");
    if (cli_print_line(line) != 0)
        return -1;

    cli_clean_text(key, sizeof key, k->fence_key, sizeof k->fence_key);
    cli_clean_text(detail, sizeof detail, k->fence_detail, sizeof k->fence_detail);
    if (k->fence_state == SQCLAIM_COUNTER_OK && k->fence == 0)
        snprintf(line, sizeof line, "fence counter: 0 (key %s): no claim yet", key);
    else if (k->fence_state == SQCLAIM_COUNTER_OK)
        snprintf(line, sizeof line,
                 "fence counter: %" PRIu64 " (key %s): the last fencing number handed out",
                 k->fence, key);
    else if (k->fence_state == SQCLAIM_COUNTER_MISSING)
        snprintf(line, sizeof line,
                 "fence counter: missing (key %s%s%s): the next claim rebuilds it above every "
                 "live fence and the server's clock",
                 key, detail[0] ? " holds " : "", detail);
    else
        snprintf(line, sizeof line,
                 "fence counter: INVALID (key %s holds %s): claims fail until it is deleted "
                 "(the next claim then rebuilds it)",
                 key, detail[0] ? detail : "something else");
    return cli_print_line(line);
}

static int print_counters(const cli *c, const sqclaim_counters *k)
{
    char buf[4096];
    int r = c->flag[OPT_JSON] ? print_counter_json(k, buf, sizeof buf) : print_counters_text(k);
    if (r == 0)
        return 0;
    cli_msg("cannot write the counters: %s", strerror(errno));
    return CLI_EXIT_FAILURE;
}

/* The largest row the library's cursor takes (sqclaim_raise_cursor). */
#define CLI_MAX_CURSOR 999999999999999ULL

int cmd_counters(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "counters takes no arguments");
    uint64_t row = 0;
    bool raise = c->val[OPT_RAISE_CURSOR] != NULL;
    if (raise) {
        int ex =
            cli_uint_opt(c, "--raise-cursor", c->val[OPT_RAISE_CURSOR], 1, CLI_MAX_CURSOR, &row);
        if (ex)
            return ex;
        if (!cli_can_confirm(c))
            return need_yes(c, "counters --raise-cursor");
    } else if (c->flag[OPT_YES]) {
        return cli_usage_error(c, "--yes confirms --raise-cursor; counters alone only reads");
    }

    /* Two operations at most: read, then raise. */
    sqclaim_store *s;
    int ex = cli_open_store(c, &s, false, raise ? 2 : 1);
    if (ex)
        return ex;
    if (raise)
        cli_memory_note(c, s);
    sqclaim_counters k;
    sqclaim_rc rc = sqclaim_counters_get(s, &k);
    if (rc != SQCLAIM_OK)
        return failed(s, rc, true);
    if (!raise) {
        ex = print_counters(c, &k);
        sqclaim_close(s);
        return ex;
    }

    char key[SQCLAIM_KEY_MAX + 1];
    cli_clean_text(key, sizeof key, k.cursor_key, sizeof k.cursor_key);
    bool known = k.cursor_state == SQCLAIM_COUNTER_OK;
    if (known && k.row_cursor > row) {
        /* Already above: the library would refuse it too; nothing to ask. */
        cli_msg("not raised: the row cursor (%s) is at %" PRIu64 ", above %" PRIu64
                "; it only moves up (rows below it may have been handed out), so it is "
                "unchanged",
                key, k.row_cursor, row);
        ex = print_counters(c, &k);
        sqclaim_close(s);
        return ex ? ex : CLI_EXIT_BUSY;
    }
    if (known && k.row_cursor == row) {
        cli_msg("the row cursor (%s) is at %" PRIu64 " already; unchanged", key, row);
        ex = print_counters(c, &k);
        sqclaim_close(s);
        return ex;
    }
    if (k.cursor_state == SQCLAIM_COUNTER_OK || k.cursor_state == SQCLAIM_COUNTER_MISSING) {
        char q[SQCLAIM_KEY_MAX + 200];
        if (known)
            snprintf(q, sizeof q,
                     "move the row cursor (%s) from %" PRIu64 " up to %" PRIu64
                     "?  It never moves back down.",
                     key, k.row_cursor, row);
        else
            snprintf(q, sizeof q,
                     "set the missing row cursor (%s) to %" PRIu64 "?  It never moves back down.",
                     key, row);
        if (!confirmed(c, s, q, "the row cursor is unchanged"))
            return CLI_EXIT_BUSY;
    }
    /* An INVALID cursor: the library refuses with the key and the fix. */
    cli_defer_stop_signals();
    uint64_t now = 0;
    rc = sqclaim_raise_cursor(s, row, &now);
    if (rc == SQCLAIM_OK) {
        if (known)
            cli_msg("raised the row cursor (%s) from %" PRIu64 " to %" PRIu64, key, k.row_cursor,
                    now);
        else
            cli_msg("set the row cursor (%s) to %" PRIu64, key, now);
        k.cursor_state = SQCLAIM_COUNTER_OK;
        k.row_cursor = now;
        k.cursor_detail[0] = '\0';
        ex = print_counters(c, &k);
    } else if (rc == SQCLAIM_BUSY) {
        /* Raised by someone else (a reservation) between the read and now. */
        cli_msg("not raised: the row cursor (%s) is at %" PRIu64 " by now, above %" PRIu64
                "; it only moves up, so it is unchanged",
                key, now, row);
        k.cursor_state = SQCLAIM_COUNTER_OK;
        k.row_cursor = now;
        ex = print_counters(c, &k);
        if (!ex)
            ex = CLI_EXIT_BUSY;
    } else {
        ex = failed(s, rc, false);
    }
    sqclaim_close(s);
    return ex;
}
