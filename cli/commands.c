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

static void say_busy(const sqclaim_holder *h, size_t n, const char *first)
{
    char who[SQCLAIM_BOT_MAX + 80];
    char bot[SQCLAIM_BOT_MAX + 1];
    cli_clean_text(bot, sizeof bot, h->bot, sizeof h->bot);
    if (bot[0] && h->remaining_ms >= 0) {
        char left[24];
        cli_fmt_duration(h->remaining_ms, left, sizeof left);
        snprintf(who, sizeof who, "by %s for another %s", bot, left);
    } else if (bot[0]) {
        snprintf(who, sizeof who, "by %s", bot);
    } else {
        snprintf(who, sizeof who, "by another lease");
    }
    if (n == 1)
        cli_msg("busy: SQ %s is held %s", first, who);
    else
        cli_msg("busy: all %zu candidate SQs are held (the first, %s, %s)", n, first, who);
}

/* Give up a claim whose outcome is unknown: the library releases the
 * lease's token on every candidate (owner-checked, so nothing of another
 * bot is touched).  True when that is settled: released, or never held. */
static bool give_up(sqclaim_store *s, const char *const *sqs, size_t n, sqclaim_lease *lease)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        sqclaim_rc rc = sqclaim_abandon(s, sqs, n, lease);
        if (rc == SQCLAIM_OK || rc == SQCLAIM_LOST)
            return true;
    }
    return false;
}

/* The library's message for an uncertain claim ends with advice for C
 * callers ("...; the claim may have been granted: retry it with
 * sqclaim_claim_retry()..."); the tool acts on it itself, so cut it off. */
static void print_error_trimmed(sqclaim_store *s, const char *then)
{
    const char *msg = sqclaim_errmsg(s);
    int len = (int)strlen(msg);
    const char *advice = strstr(msg, " may have been granted");
    if (advice) {
        for (const char *p = advice; p > msg; p--) {
            if (p[-1] == ';') {
                len = (int)(p - 1 - msg);
                break;
            }
        }
    }
    cli_msg("%.*s%s", len, msg, then);
}

static int do_claim(cli *c, const char *const *sqs, size_t n)
{
    char err[300];
    for (size_t i = 0; i < n; i++)
        if (sqclaim_check_sq(sqs[i], err, sizeof err) != SQCLAIM_OK)
            return cli_usage_error(c, "%s", err);
    if (n > SQCLAIM_MAX_CANDIDATES)
        return cli_usage_error(c, "too many SQs: %zu, at most %d", n, SQCLAIM_MAX_CANDIDATES);
    if (!c->val[OPT_BOT])
        return cli_usage_error(c, "%s needs --bot BOT (who claims)", c->cmd);
    if (sqclaim_check_bot(c->val[OPT_BOT], err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "--bot: %s", err);
    int64_t ttl;
    int ex = ttl_option(c, &ttl);
    if (ex)
        return ex;

    sqclaim_store *s;
    ex = cli_open_store(c, &s, false);
    if (ex)
        return ex;
    cli_memory_note(c, s);

    sqclaim_lease lease;
    sqclaim_holder holder;
    sqclaim_rc rc = sqclaim_claim_first(s, sqs, n, c->val[OPT_BOT], ttl, &lease, &holder);
    if (rc < 0 && (lease.flags & SQCLAIM_LEASE_UNCERTAIN)) {
        /* The reply was lost: ask once more with the same token (finding
         * our own token means granted); if that fails too, give it up. */
        print_error_trimmed(s, "; asking again with the same token");
        rc = sqclaim_claim_retry(s, sqs, n, &lease, &holder);
        if (rc < 0) {
            print_error_trimmed(s, "");
            if (give_up(s, sqs, n, &lease))
                cli_msg("the claim's outcome was unknown; it has been given up (released)");
            else
                cli_msg("the claim's outcome is unknown and it could not be released; if it "
                        "was granted, it expires by itself within its TTL");
            sqclaim_close(s);
            return cli_exit_for(rc);
        }
    }
    switch (rc) {
    case SQCLAIM_OK: {
        char *json = sqclaim_lease_to_json(&lease);
        if (!json || cli_print_line(json) != 0) {
            int e = json ? errno : ENOMEM;
            sqclaim_rc r2 = sqclaim_release(s, &lease);
            cli_msg("could not write the lease (%s); the claim on SQ %s %s", strerror(e),
                    lease.sq,
                    r2 == SQCLAIM_OK || r2 == SQCLAIM_LOST
                        ? "has been released"
                        : "could not be released and expires by itself within its TTL");
            ex = CLI_EXIT_FAILURE;
        }
        if (json)
            explicit_bzero(json, strlen(json));
        sqclaim_free(json);
        break;
    }
    case SQCLAIM_BUSY:
        say_busy(&holder, n, sqs[0]);
        ex = CLI_EXIT_BUSY;
        break;
    case SQCLAIM_LOST:
    case SQCLAIM_EINVAL:
    case SQCLAIM_ECONFIG:
    case SQCLAIM_EIO:
    case SQCLAIM_ETIMEOUT:
    case SQCLAIM_EAUTH:
    case SQCLAIM_EPROTOCOL:
    case SQCLAIM_ENOMEM:
    case SQCLAIM_EUNSUPPORTED:
    case SQCLAIM_EQUOTA:
    case SQCLAIM_ESERVER:
    case SQCLAIM_ESTATE:
        cli_msg("%s", sqclaim_errmsg(s));
        ex = cli_exit_for(rc);
        break;
    }
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

int cmd_claim(cli *c)
{
    if (c->npos == 0)
        return cli_usage_error(c, "claim needs the SQ: sqclaim claim SQ --bot BOT");
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

static int lease_sq_arg(const cli *c, const char **sq)
{
    *sq = NULL;
    if (c->npos > 1)
        return cli_usage_error(c, "%s takes at most one SQ", c->cmd);
    if (c->npos == 1)
        *sq = c->pos[0];
    return 0;
}

/* The message for an outcome or failure of a lease operation. */
static int lease_result(sqclaim_store *s, sqclaim_rc rc)
{
    cli_msg("%s", sqclaim_errmsg(s));
    return cli_exit_for(rc);
}

int cmd_renew(cli *c)
{
    const char *sq;
    int64_t ttl;
    sqclaim_lease lease;
    int ex = lease_sq_arg(c, &sq);
    if (!ex)
        ex = ttl_option(c, &ttl);
    if (!ex)
        ex = cli_read_lease(c, sq, true, &lease);
    if (ex)
        return ex;
    sqclaim_store *s;
    ex = cli_open_store(c, &s, false);
    if (ex)
        return ex;
    cli_memory_note(c, s);
    sqclaim_rc rc = sqclaim_renew(s, &lease, ttl);
    if (rc == SQCLAIM_OK) {
        char *json = sqclaim_lease_to_json(&lease);
        if (!json || cli_print_line(json) != 0) {
            cli_msg("the lease was renewed, but could not be written (%s); the token is "
                    "unchanged, so the lease given is still good",
                    json ? strerror(errno) : "out of memory");
            ex = CLI_EXIT_FAILURE;
        }
        if (json)
            explicit_bzero(json, strlen(json));
        sqclaim_free(json);
    } else {
        ex = lease_result(s, rc);
    }
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

int cmd_release(cli *c)
{
    const char *sq;
    sqclaim_lease lease;
    int ex = lease_sq_arg(c, &sq);
    if (!ex)
        ex = cli_read_lease(c, sq, false, &lease);
    if (ex)
        return ex;
    sqclaim_store *s;
    ex = cli_open_store(c, &s, false);
    if (ex)
        return ex;
    cli_memory_note(c, s);
    sqclaim_rc rc = sqclaim_release(s, &lease);
    ex = rc == SQCLAIM_OK ? 0 : lease_result(s, rc);
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

int cmd_reserve(cli *c)
{
    const char *sq;
    sqclaim_lease lease;
    uint64_t rows = 0, hint = 0;
    int ex = lease_sq_arg(c, &sq);
    if (ex)
        return ex;
    if (!c->val[OPT_ROWS])
        return cli_usage_error(c, "reserve needs --rows N (how many rows of the Refund Log)");
    ex = cli_uint_opt(c, "--rows", c->val[OPT_ROWS], 1, SQCLAIM_MAX_ROWS, &rows);
    if (!ex && c->val[OPT_HINT])
        ex = cli_uint_opt(c, "--hint", c->val[OPT_HINT], 1, SQCLAIM_MAX_ROW, &hint);
    if (!ex)
        ex = cli_read_lease(c, sq, true, &lease);
    if (ex)
        return ex;
    sqclaim_store *s;
    ex = cli_open_store(c, &s, false);
    if (ex)
        return ex;
    cli_memory_note(c, s);
    sqclaim_rows r;
    sqclaim_rc rc = sqclaim_reserve_rows(s, &lease, (uint32_t)rows, hint, &r);
    if (rc == SQCLAIM_OK) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"sq\":\"%s\",\"startRow\":%" PRIu64 ",\"rowCount\":%" PRIu32
                 ",\"fence\":%" PRIu64 "}",
                 lease.sq, r.start_row, r.count, r.fence);
        if (cli_print_line(line) != 0) {
            int e = errno;
            sqclaim_rc r2 = sqclaim_finish_rows(s, &lease);
            cli_msg("could not write the reservation (%s); it %s", strerror(e),
                    r2 == SQCLAIM_OK ? "has been finished (removed)"
                                     : "could not be removed and expires with the claim");
            ex = CLI_EXIT_FAILURE;
        }
    } else {
        ex = lease_result(s, rc);
    }
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

int cmd_finish(cli *c)
{
    const char *sq;
    sqclaim_lease lease;
    int ex = lease_sq_arg(c, &sq);
    if (!ex)
        ex = cli_read_lease(c, sq, false, &lease);
    if (ex)
        return ex;
    sqclaim_store *s;
    ex = cli_open_store(c, &s, false);
    if (ex)
        return ex;
    cli_memory_note(c, s);
    sqclaim_rc rc = sqclaim_finish_rows(s, &lease);
    ex = rc == SQCLAIM_OK ? 0 : lease_result(s, rc);
    explicit_bzero(&lease, sizeof lease);
    sqclaim_close(s);
    return ex;
}

/* ------------------------------------------------------------------ */
/* status, adapters                                                     */

int cmd_status(cli *c)
{
    if (c->npos)
        return cli_usage_error(c, "status takes no arguments");
    unsigned flags = c->flag[OPT_PRETTY] ? SQCLAIM_JSON_PRETTY : 0;
    sqclaim_store *s;
    int ex = cli_open_store(c, &s, true);
    if (ex)
        return ex;
    sqclaim_status *st = NULL;
    sqclaim_rc rc = sqclaim_status_get(s, &st);
    char *json = rc == SQCLAIM_OK ? sqclaim_status_json(st, flags)
                                  : sqclaim_error_json(sqclaim_errmsg(s), flags);
    if (rc != SQCLAIM_OK) {
        cli_msg("%s", sqclaim_errmsg(s));
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
        return cli_usage_error(c, "adapters takes no arguments");
    for (const char *const *n = sqclaim_adapters(); *n; n++)
        if (cli_print_line(*n) != 0) {
            cli_msg("cannot write the list: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    return 0;
}
