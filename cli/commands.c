/* commands.c — one function per command.  Each validates everything it
 * was given before it opens the store (bad input never reaches the
 * network), runs one operation, prints the result on stdout, and returns
 * the exit status. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int ttl_option(const cli *c, int64_t *ttl)
{
    *ttl = 0; /* the library's default, 600 s */
    if (!c->val[OPT_TTL])
        return 0;
    return cli_duration_opt(c, OPT_TTL, "--ttl", SQCLAIM_MIN_TTL_MS, SQCLAIM_MAX_TTL_MS, ttl);
}

/* ------------------------------------------------------------------ */
/* claim, claim-first                                                   */

/* A holder the claim's answer cannot name (no bot id: a value another
 * tool wrote, not JSON, a key of another type), or one whose key never
 * expires, is what an operator must see: one more read (only on this
 * rare path, and only for a single SQ -- claim-first is a bot's loop,
 * where requests count) says what it is and how long it stays.  True if
 * that was said. */
static bool say_busy_inspected(sqclaim_store *s, const char *sq)
{
    sqclaim_entry e;
    if (sqclaim_inspect(s, sq, &e) != SQCLAIM_OK)
        return false;
    if (!e.has_claim) {
        cli_msg("busy: SQ %s was held, and is free by now: try again", sq);
        return true;
    }
    char d[SQCLAIM_RAW_MAX + SQCLAIM_BOT_MAX + 320];
    cli_describe_claim(&e.claim, d, sizeof d);
    bool foreign = e.claim.flags & (SQCLAIM_ENTRY_FOREIGN | SQCLAIM_ENTRY_UNREADABLE);
    if (foreign || e.claim.ttl_ms < 0)
        cli_msg("busy: SQ %s is held by %s; an operator can remove it with `sqclaim break %s`", sq,
                d, sq);
    else
        cli_msg("busy: SQ %s is held by %s", sq, d);
    return true;
}

static void say_busy(sqclaim_store *s, const sqclaim_holder *h, size_t n, const char *first)
{
    char who[SQCLAIM_BOT_MAX + 80];
    char bot[SQCLAIM_BOT_MAX + 1];
    cli_clean_text(bot, sizeof bot, h->bot, sizeof h->bot);
    if (!bot[0]) {
        /* The library's message says whose it is (another tool's value);
         * kept before the look below clears it. */
        char lib[512];
        const char *msg = sqclaim_errmsg(s);
        cli_clean_text(lib, sizeof lib, msg, strlen(msg));
        if (n == 1 && say_busy_inspected(s, first))
            return;
        cli_msg("busy: %s; sqclaim status shows it, sqclaim break removes it", lib);
        return;
    }
    if (n == 1 && h->remaining_ms < 0 && say_busy_inspected(s, first))
        return;
    if (h->remaining_ms >= 0) {
        char left[24];
        cli_fmt_duration(h->remaining_ms, left, sizeof left);
        snprintf(who, sizeof who, "by %s for another %s", bot, left);
    } else {
        snprintf(who, sizeof who, "by %s", bot);
    }
    if (n == 1)
        cli_msg("busy: SQ %s is held %s", first, who);
    else
        cli_msg("busy: all %zu candidate SQs are held (the first, %s, %s)", n, first, who);
}

/* Give up a claim whose outcome is unknown: the library releases the
 * lease's token on every candidate (owner-checked, so nothing of another
 * bot is touched), retrying within its share of --timeout.  True when
 * that is settled: released, or never held. */
static bool give_up(sqclaim_store *s, const char *const *sqs, size_t n, sqclaim_lease *lease)
{
    sqclaim_rc rc = sqclaim_abandon(s, sqs, n, lease);
    return rc == SQCLAIM_OK || rc == SQCLAIM_LOST;
}

/* The library's message for an uncertain claim, and what the tool does
 * about it. */
static void print_error_then(sqclaim_store *s, const char *then)
{
    cli_msg("%s%s", sqclaim_errmsg(s), then);
}

/* Open the store for a command that changes a lease, of at most `steps`
 * operations (cli_open_store).  From here to the exit, Ctrl-C, SIGTERM
 * and SIGHUP wait for the store's answer (cli_defer_stop_signals), so the
 * tool knows what it holds when it stops. */
static int open_for_change(cli *c, sqclaim_store **s, int steps)
{
    cli_defer_stop_signals();
    int ex = cli_open_store(c, s, false, steps);
    if (!ex)
        cli_memory_note(c, *s);
    return ex;
}

/* Print the lease as one line of JSON.  0, or an errno: the output is
 * gone (a closed pipe, a full disk) or memory ran out.  The JSON holds
 * the token, so it is wiped before it is freed. */
static int print_lease(const sqclaim_lease *lease)
{
    char *json = sqclaim_lease_to_json(lease);
    if (!json)
        return ENOMEM;
    int e = cli_print_line(json) == 0 ? 0 : errno;
    explicit_bzero(json, strlen(json));
    sqclaim_free(json);
    return e;
}

/* A granted claim that nobody will learn about (stdout gone, or the tool
 * was told to stop before printing it) is given back at once, not left
 * to expire. */
static int hand_back(sqclaim_store *s, sqclaim_lease *lease, int sig, int err)
{
    sqclaim_rc rc = sqclaim_release(s, lease);
    const char *fate = rc == SQCLAIM_OK || rc == SQCLAIM_LOST
                           ? "has been released"
                           : "could not be released and expires by itself within its TTL";
    if (sig)
        cli_msg("stopped by %s before the lease was printed; the claim on SQ %s %s",
                cli_signal_name(sig), lease->sq, fate);
    else
        cli_msg("could not write the lease (%s); the claim on SQ %s %s", strerror(err), lease->sq,
                fate);
    return CLI_EXIT_FAILURE;
}

static int do_claim(cli *c, const char *const *sqs, size_t n)
{
    char err[300];
    if (n > SQCLAIM_MAX_CANDIDATES)
        return cli_usage_error(c, "too many SQs: %zu, at most %d", n, SQCLAIM_MAX_CANDIDATES);
    for (size_t i = 0; i < n; i++)
        if (sqclaim_check_sq(sqs[i], err, sizeof err) != SQCLAIM_OK)
            return cli_usage_error(c, "%s", err);
    if (!c->val[OPT_BOT])
        return cli_usage_error(c, "%s needs --bot BOT (who claims)", c->cmd);
    if (sqclaim_check_bot(c->val[OPT_BOT], err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "--bot: %s", err);
    int64_t ttl;
    int ex = ttl_option(c, &ttl);
    if (ex)
        return ex;
    if (!cli_stdout_writable()) {
        cli_msg("standard output is closed: the lease would be lost, so nothing was claimed");
        return CLI_EXIT_FAILURE;
    }

    /* At most three operations: the claim; asking again; giving it up,
     * or back when the lease cannot be printed. */
    sqclaim_store *s;
    ex = open_for_change(c, &s, 3);
    if (ex)
        return ex;

    sqclaim_lease lease;
    sqclaim_holder holder;
    sqclaim_rc rc = sqclaim_claim_first(s, sqs, n, c->val[OPT_BOT], ttl, &lease, &holder);
    bool uncertain = rc < 0 && (lease.flags & SQCLAIM_LEASE_UNCERTAIN);
    if (uncertain && !cli_stop_signal()) {
        /* The reply was lost: ask once more with the same token (finding
         * our own token means granted). */
        print_error_then(s, "; asking again with the same token");
        rc = sqclaim_claim_retry(s, sqs, n, &lease, &holder);
        uncertain = rc < 0;
    }
    if (uncertain) {
        /* Still unknown: give it up rather than leave it held. */
        print_error_then(s, "");
        if (give_up(s, sqs, n, &lease))
            cli_msg("the claim's outcome was unknown; it has been given up (released)");
        else
            cli_msg("the claim's outcome is unknown and it could not be released; if it "
                    "was granted, it expires by itself within its TTL");
        cli_timeout_note(rc);
        ex = cli_exit_for(rc);
    } else if (rc == SQCLAIM_OK) {
        int sig = cli_stop_signal();
        int e = sig ? 0 : print_lease(&lease);
        if (sig || e)
            ex = hand_back(s, &lease, sig, e);
    } else if (rc == SQCLAIM_BUSY) {
        say_busy(s, &holder, n, sqs[0]);
        ex = CLI_EXIT_BUSY;
    } else {
        cli_msg("%s", sqclaim_errmsg(s));
        cli_timeout_note(rc);
        ex = cli_exit_for(rc);
    }
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

/* Check every SQ argument before counting them: after "--", options are
 * arguments too (`claim -- -abc --bot B`), and an invalid id is the
 * problem to name, not their number. */
static int check_sq_args(const cli *c)
{
    char err[300];
    for (size_t i = 0; i < c->npos; i++)
        if (sqclaim_check_sq(c->pos[i], err, sizeof err) != SQCLAIM_OK)
            return cli_usage_error(c, "%s", err);
    return 0;
}

int cmd_claim(cli *c)
{
    if (c->npos == 0)
        return cli_usage_error(c, "claim needs the SQ: sqclaim claim SQ --bot BOT");
    int ex = check_sq_args(c);
    if (ex)
        return ex;
    if (c->npos > 1)
        return cli_usage_error(c, "claim takes one SQ (use claim-first to claim the first "
                                  "free one of several)");
    return do_claim(c, c->pos, 1);
}

int cmd_claim_first(cli *c)
{
    if (c->npos == 0)
        return cli_usage_error(c, "claim-first needs at least one SQ: sqclaim claim-first "
                                  "SQ... --bot BOT");
    return do_claim(c, c->pos, c->npos);
}

/* ------------------------------------------------------------------ */
/* renew, release, reserve, finish                                      */

/* One lease command: its options, and what it does with the lease once
 * the lease is read and the store is open. */
typedef struct lease_cmd {
    int steps;          /* operations at most (reserve: reserve, then
                           finish if the range cannot be printed) */
    bool need_bot;      /* the operation needs the holder's bot id */
    const char *prints; /* what it prints that must not be lost (reserve:
                           the row range), or NULL */
    int64_t ttl;        /* renew: the new TTL (0: the lease's) */
    uint32_t rows;      /* reserve; finish --range: its row count */
    uint64_t hint;      /* reserve */
    bool range;         /* finish --range: start, rows, fence, range_sq */
    uint64_t start;
    bool has_fence; /* the range gave one (else the lease's) */
    uint64_t fence;
    char range_sq[SQCLAIM_SQ_MAX + 1]; /* the range's SQ, "" if not given */
    int (*op)(sqclaim_store *s, sqclaim_lease *lease, const struct lease_cmd *lc);
} lease_cmd;

/* The message for an outcome or failure of a lease operation. */
static int lease_result(sqclaim_store *s, sqclaim_rc rc)
{
    if (rc == SQCLAIM_OK)
        return 0;
    cli_msg("%s", sqclaim_errmsg(s));
    cli_timeout_note(rc);
    return cli_exit_for(rc);
}

/* Read the lease (and the optional SQ next to it), open the store, run
 * the operation, wipe the lease. */
static int run_lease_cmd(cli *c, const lease_cmd *lc)
{
    int ex = check_sq_args(c);
    if (ex)
        return ex;
    if (c->npos > 1)
        return cli_usage_error(c, "%s takes at most one SQ", c->cmd);
    sqclaim_lease lease;
    ex = cli_read_lease(c, c->npos ? c->pos[0] : NULL, lc->need_bot, &lease);
    if (!ex && lc->prints && !cli_stdout_writable()) {
        cli_msg("standard output is closed: %s would be lost, so nothing was done", lc->prints);
        ex = CLI_EXIT_FAILURE;
    }
    if (!ex) {
        sqclaim_store *s;
        ex = open_for_change(c, &s, lc->steps);
        if (!ex) {
            ex = lc->op(s, &lease, lc);
            sqclaim_close(s);
        }
    }
    explicit_bzero(&lease, sizeof lease);
    return ex;
}

static int renew_op(sqclaim_store *s, sqclaim_lease *lease, const lease_cmd *lc)
{
    sqclaim_rc rc = sqclaim_renew(s, lease, lc->ttl);
    if (rc != SQCLAIM_OK)
        return lease_result(s, rc);
    int e = print_lease(lease);
    if (!e)
        return 0;
    cli_msg("the lease was renewed, but could not be written (%s); the token is unchanged, so "
            "the lease given is still good",
            strerror(e));
    return CLI_EXIT_FAILURE;
}

static int release_op(sqclaim_store *s, sqclaim_lease *lease, const lease_cmd *lc)
{
    (void)lc;
    return lease_result(s, sqclaim_release(s, lease));
}

static int finish_op(sqclaim_store *s, sqclaim_lease *lease, const lease_cmd *lc)
{
    if (!lc->range)
        return lease_result(s, sqclaim_finish_rows(s, lease));
    sqclaim_rows r = {.start_row = lc->start, .count = lc->rows, .fence = lc->fence};
    if (!lc->has_fence)
        r.fence = lease->fence; /* START+COUNT: a reservation carries its claim's fence */
    if (lc->range_sq[0] && strcmp(lc->range_sq, lease->sq) != 0) {
        cli_msg("finish: --range is a reservation of SQ %s, the lease holds SQ %s; nothing was "
                "sent",
                lc->range_sq, lease->sq);
        return CLI_EXIT_USAGE;
    }
    return lease_result(s, sqclaim_finish_range(s, lease, &r));
}

static int reserve_op(sqclaim_store *s, sqclaim_lease *lease, const lease_cmd *lc)
{
    sqclaim_rows r;
    sqclaim_rc rc = sqclaim_reserve_rows(s, lease, lc->rows, lc->hint, &r);
    if (rc != SQCLAIM_OK)
        return lease_result(s, rc);
    char line[256];
    snprintf(line, sizeof line,
             "{\"sq\":\"%s\",\"startRow\":%" PRIu64 ",\"rowCount\":%" PRIu32 ",\"fence\":%" PRIu64
             "}",
             lease->sq, r.start_row, r.count, r.fence);
    /* Rows nobody will write (stdout gone, or told to stop first) are
     * handed back, like a claim. */
    int sig = cli_stop_signal();
    int e = sig || cli_print_line(line) == 0 ? 0 : errno;
    if (!sig && !e)
        return 0;
    const char *fate = sqclaim_finish_range(s, lease, &r) == SQCLAIM_OK
                           ? "has been finished (removed)"
                           : "could not be removed and expires with the claim";
    if (sig)
        cli_msg("stopped by %s before the reservation was printed; it %s", cli_signal_name(sig),
                fate);
    else
        cli_msg("could not write the reservation (%s); it %s", strerror(e), fate);
    return CLI_EXIT_FAILURE;
}

int cmd_renew(cli *c)
{
    lease_cmd lc = {.steps = 1, .need_bot = true, .op = renew_op};
    int ex = ttl_option(c, &lc.ttl);
    return ex ? ex : run_lease_cmd(c, &lc);
}

int cmd_release(cli *c)
{
    lease_cmd lc = {.steps = 1, .need_bot = false, .op = release_op};
    return run_lease_cmd(c, &lc);
}

/* The number after "key": in the JSON line text (reserve's output); true
 * and *out, false if absent or not a whole number. */
static bool json_uint(const char *text, const char *key, uint64_t *out)
{
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* --range: reserve's JSON line, or START+COUNT. */
static int parse_range(cli *c, const char *text, lease_cmd *lc)
{
    uint64_t start = 0, count = 0;
    const char *t = text;
    while (*t == ' ' || *t == '\t' || *t == '\n')
        t++;
    if (*t == '{') {
        if (!json_uint(t, "\"startRow\":", &start) || !json_uint(t, "\"rowCount\":", &count))
            return cli_usage_error(c,
                                   "--range: \"%.60s\" has no \"startRow\" and \"rowCount\" "
                                   "(give the line `sqclaim reserve` printed, or START+COUNT)",
                                   t);
        lc->has_fence = json_uint(t, "\"fence\":", &lc->fence);
        const char *sq = strstr(t, "\"sq\":\"");
        if (sq) {
            sq += 6;
            size_t n = strcspn(sq, "\"");
            if (n >= sizeof lc->range_sq || sq[n] != '"')
                return cli_usage_error(c, "--range: its \"sq\" is not an SQ id");
            memcpy(lc->range_sq, sq, n);
            lc->range_sq[n] = '\0';
        }
    } else {
        const char *plus = strchr(t, '+');
        char head[32];
        size_t n = plus ? (size_t)(plus - t) : 0;
        if (!plus || n == 0 || n >= sizeof head)
            return cli_usage_error(c,
                                   "--range: \"%.40s\" is not START+COUNT (e.g. 51+5) nor the "
                                   "line `sqclaim reserve` printed",
                                   text);
        memcpy(head, t, n);
        head[n] = '\0';
        int ex = cli_uint_opt(c, "--range START", head, 1, 999999999999999ULL, &start);
        if (!ex)
            ex = cli_uint_opt(c, "--range COUNT", plus + 1, 1, SQCLAIM_MAX_ROWS, &count);
        if (ex)
            return ex;
    }
    if (start < 1 || start > 999999999999999ULL || count < 1 || count > SQCLAIM_MAX_ROWS)
        return cli_usage_error(c,
                               "--range: rows %" PRIu64 "+%" PRIu64
                               " are not a reservation (start 1..999999999999999, count 1..%d)",
                               start, count, SQCLAIM_MAX_ROWS);
    lc->range = true;
    lc->start = start;
    lc->rows = (uint32_t)count;
    return 0;
}

int cmd_finish(cli *c)
{
    lease_cmd lc = {.steps = 1, .need_bot = false, .op = finish_op};
    if (c->val[OPT_RANGE]) {
        int ex = parse_range(c, c->val[OPT_RANGE], &lc);
        if (ex)
            return ex;
    }
    return run_lease_cmd(c, &lc);
}

int cmd_reserve(cli *c)
{
    lease_cmd lc = {.steps = 2, .need_bot = true, .prints = "the row range", .op = reserve_op};
    uint64_t rows = 0;
    if (!c->val[OPT_ROWS])
        return cli_usage_error(c, "reserve needs --rows N (how many rows of the Refund Log)");
    int ex = cli_uint_opt(c, "--rows", c->val[OPT_ROWS], 1, SQCLAIM_MAX_ROWS, &rows);
    if (!ex && c->val[OPT_HINT])
        ex = cli_uint_opt(c, "--hint", c->val[OPT_HINT], 1, SQCLAIM_MAX_ROW, &lc.hint);
    lc.rows = (uint32_t)rows;
    return ex ? ex : run_lease_cmd(c, &lc);
}

/* ------------------------------------------------------------------ */
/* status, backends                                                     */

int cmd_status(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "status takes no arguments");
    unsigned flags = c->flag[OPT_PRETTY] ? SQCLAIM_JSON_PRETTY : 0;
    sqclaim_store *s;
    int ex = cli_open_store(c, &s, true, 1);
    if (ex)
        return ex;
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    char *json = rc == SQCLAIM_OK ? sqclaim_status_json(st, flags)
                                  : sqclaim_error_json(sqclaim_errmsg(s), flags);
    if (rc != SQCLAIM_OK) {
        cli_msg("%s", sqclaim_errmsg(s));
        cli_timeout_note(rc);
        ex = cli_exit_for(rc);
    } else if (!json) {
        cli_msg("status: out of memory");
        ex = CLI_EXIT_FAILURE;
    }
    if (json && cli_print_line(json) != 0) {
        cli_msg("cannot write the status: %s", strerror(errno));
        if (!ex)
            ex = CLI_EXIT_FAILURE;
    }
    sqclaim_free(json);
    sqclaim_status_free(st);
    sqclaim_close(s);
    return ex;
}

int cmd_adapters(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "%s takes no arguments", c->cmd ? c->cmd : "backends");
    for (const char *const *n = sqclaim_backend_names(); *n; n++)
        if (cli_print_line(*n) != 0) {
            cli_msg("cannot write the list: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    return 0;
}
