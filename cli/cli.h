/*
 * cli.h — the sqclaim command-line tool's private pieces.
 *
 * The tool is a plain user of the public API (core/sqclaim.h): it parses
 * the command line, opens a store, runs one operation, prints the result
 * on stdout and anything else on stderr, and exits with a code a shell
 * script can branch on (docs/cli.md, "Exit status").
 *
 *   main.c      command line parsing, help texts, dispatch
 *   commands.c  claim, claim-first, renew, release, reserve, finish,
 *               status, adapters
 *   lease_in.c  reading a lease (--lease, --lease-file, stdin, --token)
 *   watch.c     the refreshing status view
 *   operator.c  the operator's tools: break, counters; describing a
 *               stored entry for people
 *   util.c      messages, exit codes, durations, output checks, deferred
 *               stop signals
 */
#ifndef SQCLAIM_CLI_H
#define SQCLAIM_CLI_H

#include "sqclaim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status.  Stable: scripts branch on these (documented in --help and
 * docs/cli.md).  Never renumber; only append. */
enum cli_exit {
    CLI_EXIT_OK = 0,     /* done */
    CLI_EXIT_BUSY = 1,   /* claim: held by another bot (every candidate);
                         reserve: a different reservation is open;
                         break: a live claim without --force, or not
                         confirmed; counters --raise-cursor: the cursor
                         is already above */
    CLI_EXIT_USAGE = 2,  /* usage error or invalid input; nothing was sent */
    CLI_EXIT_LOST = 3,   /* the lease is lost (expired or taken over) */
    CLI_EXIT_CONFIG = 4, /* configuration: backend unknown or not built, KV not
                         configured, malformed URL, wrong password/token */
    CLI_EXIT_FAILURE = 5 /* the store could not be used: connection, timeout,
                         server error, quota; or the output could not be
                         written */
};

/* Options that take a value or are flags; one table for every command
 * (main.c says which command accepts which). */
enum cli_opt {
    OPT_HELP,
    OPT_VERSION,
    OPT_LIST_ADAPTERS,
    OPT_ADAPTER,
    OPT_REDIS_URL,
    OPT_PREFIX,
    OPT_TIMEOUT,
    OPT_QUIET,
    OPT_BOT,
    OPT_TTL,
    OPT_LEASE,
    OPT_LEASE_FILE,
    OPT_TOKEN,
    OPT_ROWS,
    OPT_HINT,
    OPT_RANGE, /* finish */
    OPT_PRETTY,
    OPT_INTERVAL,
    OPT_COUNT,
    OPT_JSON,
    OPT_FORCE,
    OPT_YES,
    OPT_RAISE_CURSOR,
    OPT_LISTEN, /* serve (cli/serve/) */
    OPT_PORT,
    OPT_PORT_FILE,
    OPT_TOKEN_FILE,
    OPT_CORS,
    OPT_AUTH_READS,
    OPT_THREADS,
    OPT__COUNT
};

#define CLI_MAX_POS 300 /* positional arguments kept (claim-first candidates) */

typedef struct cli {
    const char *cmd;             /* command name ("claim", ...) */
    const char *val[OPT__COUNT]; /* option values (NULL: not given) */
    bool flag[OPT__COUNT];       /* option given (flags and values) */
    size_t npos;
    const char *pos[CLI_MAX_POS]; /* positional arguments */
} cli;

/* ---- util.c ------------------------------------------------------------ */

/* "sqclaim: <message>\n" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: the message, then a hint to the command's --help, on
 * stderr.  Returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy in[0..inlen) (stopping at a NUL) into out[outlen], cut to fit,
 * with control characters as '?': for values read from the store (a bot
 * id another tool wrote) or typed by the user, shown on a terminal. */
void cli_clean_text(char *out, size_t outlen, const char *in, size_t inlen);

/* The exit status for a library result code. */
int cli_exit_for(sqclaim_rc rc);

/* A human duration: "250ms", "12.3s", "9m58s", "2h05m".  buf >= 24. */
void cli_fmt_duration(int64_t ms, char *buf, size_t len);

/* Parse an option's duration (sqclaim_parse_duration) within [min, max]
 * ms.  0 and *ms, or prints a usage error and returns CLI_EXIT_USAGE. */
int cli_duration_opt(const cli *c, enum cli_opt opt, const char *name, int64_t min, int64_t max,
                     int64_t *ms);

/* Parse a whole decimal number within [min, max] (no sign, no spaces, no
 * trailing text).  0 and *out, or a usage error (CLI_EXIT_USAGE). */
int cli_uint_opt(const cli *c, const char *name, const char *text, uint64_t min, uint64_t max,
                 uint64_t *out);

/* Write s and a newline to stdout and flush.  0, or -1 with errno (the
 * output is gone: a closed pipe or a full disk). */
int cli_print_line(const char *s);

/* Can anything be written to stdout?  False when it was closed when the
 * program started (main() keeps fds 0-2 taken, stdout read-only, so that
 * no socket gets its number) or is open read-only.  A command that would
 * hold something only its output tells about (a claim, a row range)
 * checks this before it asks the store. */
bool cli_stdout_writable(void);

/* --timeout when not given: the bound of a whole command. */
#define CLI_DEFAULT_TIMEOUT_MS 10000

/* Open the store the options and environment say, for a command of at
 * most `steps` operations in a row (a claim: the claim, asking again,
 * giving it up or back), each given an equal share of --timeout, so that
 * the command ends within it.  0 and *out, or an exit status after
 * printing the error (*out is then NULL).  For status the error is also
 * printed as the seed's error JSON on stdout. */
int cli_open_store(const cli *c, sqclaim_store **out, bool error_json, int steps);

/* After a failure: if it was a timeout, say once what --timeout bounds
 * and what each request got of it (the library's message names the
 * per-request time, a share of --timeout, which surprises otherwise). */
void cli_timeout_note(sqclaim_rc rc);

/* The memory backend keeps its data in this one process; say so once
 * (unless --quiet) before a command whose effect would vanish. */
void cli_memory_note(const cli *c, const sqclaim_store *s);

/* Stop signals (SIGINT, SIGTERM, SIGHUP) during a command that changes a
 * lease wait until the store has answered: cli_defer_stop_signals()
 * blocks those not ignored; cli_stop_signal() is the one that arrived
 * since (0 if none), so the command can hand back what it got instead of
 * printing it; cli_end_deferral() (at exit) unblocks them, and a pending
 * one then ends the process as it would have. */
void cli_defer_stop_signals(void);
int cli_stop_signal(void);
void cli_end_deferral(void);

/* "SIGINT" etc. */
const char *cli_signal_name(int sig);

/* ---- lease_in.c -------------------------------------------------------- */

/* Build the lease a lease command acts on, from --lease JSON | -,
 * --lease-file FILE, SQ --token TOKEN, or stdin when it is not a terminal.
 * `sq` is the command's SQ argument (NULL if none): it must match the
 * lease's.  need_bot: the command needs the bot id (with --token, --bot
 * must then be given).  0, or CLI_EXIT_USAGE after printing why. */
int cli_read_lease(const cli *c, const char *sq, bool need_bot, sqclaim_lease *lease);

/* ---- commands.c -------------------------------------------------------- */

int cmd_claim(cli *c);
int cmd_claim_first(cli *c);
int cmd_renew(cli *c);
int cmd_release(cli *c);
int cmd_reserve(cli *c);
int cmd_finish(cli *c);
int cmd_status(cli *c);
int cmd_adapters(cli *c);

/* ---- watch.c ----------------------------------------------------------- */

int cmd_watch(cli *c);

/* ---- operator.c -------------------------------------------------------- */

int cmd_break(cli *c);
int cmd_counters(cli *c);

/* ---- serve/serve.c ----------------------------------------------------- */

/* The HTTP service (docs/http.md); its help text. */
int cmd_serve(cli *c);
extern const char serve_help[];

/* What a stored entry is, in words for people: who holds it (the bot,
 * or "a value another tool wrote" with its type or a preview), its fence
 * and time, and time left or "never expires".  Values read from the
 * store are cleaned (cli_clean_text).  buf >= 256 is enough for most;
 * longer text is cut. */
void cli_describe_claim(const sqclaim_claim_info *ci, char *buf, size_t len);
void cli_describe_reservation(const sqclaim_reservation_info *ri, char *buf, size_t len);

/* "never expires" for ttl_ms < 0, else "9m58s left".  buf >= 32. */
void cli_fmt_left(int64_t ttl_ms, char *buf, size_t len);

/* Short flag text for an entry that sqclaim did not write, for tables:
 * "foreign", "foreign: type hash", "foreign: not JSON: \"hello\"" ...;
 * "" for sqclaim's own. */
void cli_foreign_note(unsigned flags, const char *type, const char *raw, char *buf, size_t len);

/* May an irreversible operator action go ahead?  With --yes, yes.
 * Otherwise a person is asked on the terminal (standard input and
 * standard error both a terminal, and $CI not set): `question` is shown
 * and only "y" or "yes" goes ahead.  cli_can_confirm() says, before
 * anything is sent, whether either is possible; cli_confirm() asks. */
bool cli_can_confirm(const cli *c);
bool cli_confirm(const cli *c, const char *question);

#endif
