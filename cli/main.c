/* main.c — sqclaim: claims from the shell, and the seed's /api/queue view.
 *
 * The command line is parsed here by hand rather than with getopt_long:
 * options may come before or after the command and its arguments
 * (`sqclaim claim SQ --bot BOT`), whatever POSIXLY_CORRECT says, and every
 * message has the same "sqclaim: " form. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Options                                                              */

typedef struct optdef {
    const char *name; /* long name, without "--" */
    char shortc;      /* short letter, or 0 */
    bool arg;         /* takes a value */
    const char *old;  /* an old long name still accepted, or NULL */
} optdef;

static const optdef opts[OPT__COUNT] = {
    [OPT_HELP] = {"help", 'h', false},
    [OPT_VERSION] = {"version", 'V', false},
    [OPT_LIST_ADAPTERS] = {"list-backends", 0, false, "list-adapters"},
    [OPT_ADAPTER] = {"backend", 0, true, "adapter"},
    [OPT_REDIS_URL] = {"redis-url", 0, true},
    [OPT_PREFIX] = {"prefix", 0, true},
    [OPT_TIMEOUT] = {"timeout", 0, true},
    [OPT_QUIET] = {"quiet", 'q', false},
    [OPT_BOT] = {"bot", 'b', true},
    [OPT_TTL] = {"ttl", 0, true},
    [OPT_LEASE] = {"lease", 0, true},
    [OPT_LEASE_FILE] = {"lease-file", 0, true},
    [OPT_TOKEN] = {"token", 0, true},
    [OPT_ROWS] = {"rows", 0, true},
    [OPT_HINT] = {"hint", 0, true},
    [OPT_RANGE] = {"range", 0, true},
    [OPT_PRETTY] = {"pretty", 0, false},
    [OPT_INTERVAL] = {"interval", 0, true},
    [OPT_COUNT] = {"count", 0, true},
    [OPT_JSON] = {"json", 0, false},
    [OPT_FORCE] = {"force", 0, false},
    [OPT_YES] = {"yes", 'y', false},
    [OPT_RAISE_CURSOR] = {"raise-cursor", 0, true},
    [OPT_LISTEN] = {"listen", 0, true},
    [OPT_PORT] = {"port", 0, true},
    [OPT_PORT_FILE] = {"port-file", 0, true},
    [OPT_TOKEN_FILE] = {"token-file", 0, true},
    [OPT_CORS] = {"cors", 0, true},
    [OPT_AUTH_READS] = {"auth-reads", 0, false},
    [OPT_THREADS] = {"threads", 0, true},
};

#define BIT(o) (1u << (o))
/* Accepted before or after any command. */
#define GLOBAL_OPTS                                                                                \
    (BIT(OPT_HELP) | BIT(OPT_ADAPTER) | BIT(OPT_REDIS_URL) | BIT(OPT_PREFIX) | BIT(OPT_TIMEOUT) |  \
     BIT(OPT_QUIET))
/* Accepted only before a command. */
#define PROGRAM_OPTS (BIT(OPT_VERSION) | BIT(OPT_LIST_ADAPTERS))
#define LEASE_OPTS   (BIT(OPT_LEASE) | BIT(OPT_LEASE_FILE) | BIT(OPT_TOKEN) | BIT(OPT_BOT))

/* ------------------------------------------------------------------ */
/* Help                                                                 */

#define LEASE_HELP                                                                                 \
    "The lease is the JSON line `sqclaim claim` printed.  Give it as:\n"                           \
    "  (nothing)             read from standard input when it is not a terminal\n"                 \
    "  --lease JSON          the JSON itself (--lease - reads standard input)\n"                   \
    "  --lease-file FILE     a file holding it (- is standard input)\n"                            \
    "  SQ --token TOKEN      the SQ and the lease's token (add --bot BOT where the\n"              \
    "                        command needs the holder); the token is visible to other\n"           \
    "                        local users in ps, so prefer the other ways\n"                        \
    "An SQ given with a lease must be the lease's SQ.\n"

#define GLOBAL_HELP                                                                                \
    "Global options (before or after the command):\n"                                              \
    "  --backend NAME        sqlite | memory | redis | vercel (default:\n"                         \
    "                        $SQCLAIM_BACKEND, else $SQCLAIM_ADAPTER, else sqlite;\n"              \
    "                        `sqclaim backends` lists the built ones); --adapter is\n"             \
    "                        its old name\n"                                                       \
    "  --redis-url URL       redis://[:password@]host:port[/db] (default: $REDIS_URL);\n"          \
    "                        prefer the variable: arguments are visible in ps\n"                   \
    "  --prefix PREFIX       key prefix (default: $SQCLAIM_KEY_PREFIX, else none: the\n"           \
    "                        seed's keys sq:* and refund:*)\n"                                     \
    "  --timeout DURATION    bound of the whole command, every retry included\n"                   \
    "                        (default 10s)\n"                                                      \
    "  -q, --quiet           no notes on stderr (errors are still reported)\n"                     \
    "  -h, --help            this help\n"

#define EXIT_HELP                                                                                  \
    "Exit status:\n"                                                                               \
    "  0  done\n"                                                                                  \
    "  1  busy: the SQ (every candidate) is held by another bot; for reserve, a\n"                 \
    "     different reservation is open (other --rows, or before --hint); break:\n"                \
    "     a live claim without --force, or not confirmed; counters --raise-cursor:\n"              \
    "     the cursor is already above the row (or not confirmed); nothing changed\n"               \
    "  2  usage error or invalid input; nothing was sent to the store\n"                           \
    "  3  lost: the lease expired or another bot took the SQ over; stop working on it;\n"          \
    "     break: what was shown changed before it was removed (nothing removed)\n"                 \
    "  4  configuration: backend unknown or not built, KV not configured, malformed\n"             \
    "     URL, wrong password or token\n"                                                          \
    "  5  failure: the store could not be reached or answered an error (connection,\n"             \
    "     timeout, server error, quota), or the output could not be written\n"

static const char program_help[] =
    "Usage: sqclaim [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Claim work items (SQs) and rows of the Refund Log from the shell, so that no two\n"
    "bots ever work on the same SQ or write the same row, and watch who holds what.\n"
    "\n"
    "Commands:\n"
    "  claim SQ --bot BOT [--ttl DURATION]\n"
    "                        claim an SQ; prints the lease as one line of JSON\n"
    "  claim-first SQ... --bot BOT [--ttl DURATION]\n"
    "                        claim the first free SQ of a list (one request)\n"
    "  renew [SQ] [LEASE] [--ttl DURATION]\n"
    "                        extend a lease; prints the renewed lease\n"
    "  release [SQ] [LEASE]  give a lease up (and its open row reservation)\n"
    "  reserve [SQ] --rows N [--hint ROW] [LEASE]\n"
    "                        reserve rows of the Refund Log; prints the range as JSON\n"
    "  finish [SQ] [LEASE]   remove the lease's row reservation (rows written;\n"
    "                        --range names it)\n"
    "  status [--pretty]     live claims and reservations: the seed's /api/queue JSON\n"
    "  watch [--interval DURATION] [--count N] [--json]\n"
    "                        the status, refreshed in place, for people\n"
    "  break SQ [--force] [--yes]\n"
    "                        operator: end a stuck claim and its reservation\n"
    "  counters [--json] [--raise-cursor ROW [--yes]]\n"
    "                        operator: the row cursor and the fencing counter\n"
    "  serve [--port N] [--listen ADDR]\n"
    "                        the status, a dashboard and an API for bots over HTTP\n"
    "  backends              the backends built into this sqclaim (old name: adapters)\n"
    "  help [COMMAND]        this help, or a command's (also: sqclaim COMMAND --help)\n"
    "\n"
    "LEASE: the JSON line `claim` printed, read from standard input by default, or\n"
    "--lease JSON, --lease-file FILE, or SQ --token TOKEN (see sqclaim help renew).\n"
    "\n" GLOBAL_HELP "  -V, --version         the version and the built backends\n"
    "  --list-backends       the same as `sqclaim backends` (old name: --list-adapters)\n"
    "\n"
    "Durations: a number and a unit: 250ms, 1.5s, 600s, 10m, 1h.  A bare number is\n"
    "refused (600 is not taken for 600ms or 600s).  Claims and reservations expire\n"
    "after their TTL (default 10m) unless renewed.\n"
    "\n"
    "Backends: sqlite, the default, keeps claims in one file shared by every process\n"
    "of this host (SQCLAIM_DB, default ~/.local/state/sqclaim/claims.db, or under\n"
    "$XDG_STATE_HOME).  redis (REDIS_URL) and vercel (Vercel KV / Upstash REST:\n"
    "KV_REST_API_URL and KV_REST_API_TOKEN, or UPSTASH_REDIS_REST_URL and\n"
    "UPSTASH_REDIS_REST_TOKEN) are shared by bots on every host.  memory keeps claims\n"
    "inside one process: a claim made by one sqclaim run is gone when it exits, so\n"
    "it is only good for trying the commands.\n"
    "\n"
    "Environment: SQCLAIM_BACKEND (or its old name SQCLAIM_ADAPTER), SQCLAIM_DB,\n"
    "REDIS_URL, KV_REST_API_URL, KV_REST_API_TOKEN, UPSTASH_REDIS_REST_URL,\n"
    "UPSTASH_REDIS_REST_TOKEN, SQCLAIM_KEY_PREFIX.\n"
    "\n"
    "Standard output carries only the result; messages go to standard error,\n"
    "prefixed \"sqclaim: \".  No password or REST token is ever printed; the lease\n"
    "token appears only in the lease JSON that claim and renew print.\n"
    "\n";
/* In two parts: C11 compilers need only take string literals of 4095 bytes. */
static const char program_help_2[] =
    EXIT_HELP "\n"
              "Example (a bot's loop, with redis):\n"
              "  export SQCLAIM_BACKEND=redis REDIS_URL=redis://127.0.0.1:6379\n"
              "  lease=$(sqclaim claim-first 251019-164rmb 251019-165abc --bot BOT1) || exit\n"
              "  rows=$(printf '%s' \"$lease\" | sqclaim reserve --rows 5 --hint 51)\n"
              "  # ... write the rows ...\n"
              "  printf '%s' \"$lease\" | sqclaim finish\n"
              "  printf '%s' \"$lease\" | sqclaim release\n"
              "\n"
              "Full documentation: docs/cli.md.\n";

static const char claim_help[] =
    "Usage: sqclaim claim SQ --bot BOT [--ttl DURATION]\n"
    "\n"
    "Claim SQ for BOT.  On success, print the lease as one line of JSON on standard\n"
    "output, to pass to renew, reserve, finish and release:\n"
    "  {\"sq\":\"251019-164rmb\",\"bot\":\"BOT1\",\"token\":\"<32 hex>\",\"fence\":7,\n"
    "   \"ttlMs\":600000,\"expiresAt\":\"2025-10-26T12:44:56.789Z\"}\n"
    "The token is what makes the lease yours: keep it out of logs.  The fence grows\n"
    "with every grant of the SQ.  If the SQ is held, print who holds it and for how\n"
    "long on standard error and exit 1.\n"
    "\n"
    "SQ ids: 1-64 characters of A-Z a-z 0-9 . _ -, not starting with - or .\n"
    "\n"
    "Options:\n"
    "  -b, --bot BOT         the claiming bot's id (required)\n"
    "  --ttl DURATION        how long the claim lasts unless renewed (default 10m;\n"
    "                        10ms to 24h)\n"
    "\n"
    "With the memory backend the claim is gone when this command exits.\n"
    "\n"
    "Example:\n"
    "  lease=$(sqclaim claim 251019-164rmb --bot BOT1 --ttl 10m)\n"
    "  case $? in 0) ;; 1) echo \"someone else has it\" ;; *) exit 1 ;; esac\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char claim_first_help[] =
    "Usage: sqclaim claim-first SQ... --bot BOT [--ttl DURATION]\n"
    "\n"
    "Claim the first free SQ of the list, in list order, in one request (at most 256\n"
    "SQs).  On success print the lease (its \"sq\" says which SQ was granted); if\n"
    "every SQ is held, say so on standard error and exit 1.\n"
    "\n"
    "Options:\n"
    "  -b, --bot BOT         the claiming bot's id (required)\n"
    "  --ttl DURATION        how long the claim lasts unless renewed (default 10m)\n"
    "\n"
    "Example:\n"
    "  lease=$(sqclaim claim-first 251019-164rmb 251019-165abc 251019-166xyz --bot BOT2)\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char renew_help[] =
    "Usage: sqclaim renew [SQ] [LEASE] [--ttl DURATION]\n"
    "\n"
    "Extend the lease (and its open row reservation) to DURATION from now (default:\n"
    "the lease's ttlMs).  Owner-checked: only the lease's token can renew it.  Print\n"
    "the renewed lease (same token and fence, new expiresAt).  A lease that expired\n"
    "or was taken over is never revived: exit 3.\n"
    "\n"
    "Options:\n"
    "  --ttl DURATION        the new TTL\n"
    "  -b, --bot BOT         the holder, needed with --token\n"
    "\n" LEASE_HELP "\n"
    "Example:\n"
    "  lease=$(printf '%s' \"$lease\" | sqclaim renew --ttl 10m)\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char release_help[] =
    "Usage: sqclaim release [SQ] [LEASE]\n"
    "\n"
    "Give the lease up, with its open row reservation, so another bot can claim the\n"
    "SQ at once.  Owner-checked: nothing of another bot's claim is ever touched.\n"
    "Prints nothing; exit 3 if the lease was already lost.\n"
    "\n" LEASE_HELP "\n"
    "Example:\n"
    "  printf '%s' \"$lease\" | sqclaim release\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char reserve_help[] =
    "Usage: sqclaim reserve [SQ] --rows N [--hint ROW] [LEASE]\n"
    "\n"
    "Reserve N rows of the Refund Log for the SQ the lease holds, starting at or\n"
    "after ROW (the first row the bot sees free).  The range never overlaps a range\n"
    "handed out to anyone else.  Print it as one line of JSON:\n"
    "  {\"sq\":\"251019-164rmb\",\"startRow\":51,\"rowCount\":5,\"fence\":7}\n"
    "Asking again with the same --rows while the reservation is open returns the\n"
    "same range (a safe retry), if it starts at or after --hint.  Exit 3 if the\n"
    "lease is lost, 1 if a different reservation is open (finish it first).\n"
    "\n"
    "Options:\n"
    "  --rows N              rows to reserve, 1-100000 (required)\n"
    "  --hint ROW            the first row the bot sees free (1-based)\n"
    "  -b, --bot BOT         the holder, needed with --token\n"
    "\n" LEASE_HELP "\n"
    "Example:\n"
    "  rows=$(printf '%s' \"$lease\" | sqclaim reserve --rows 5 --hint 51)\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char finish_help[] =
    "Usage: sqclaim finish [SQ] --range RANGE [LEASE]\n"
    "       sqclaim finish [SQ] [LEASE]\n"
    "\n"
    "Remove the lease's row reservation once its rows are written.  Owner-checked.\n"
    "With --range, only the reservation RANGE names is removed: a finish that is\n"
    "retried, run twice or arrives late never removes a later reservation of the\n"
    "same lease (use it).  Without, whatever reservation the lease has is removed.\n"
    "Prints nothing.  Exit 0 also when that reservation is gone already (finishing\n"
    "twice is safe) or another one of the lease is open (left in place); exit 3 if\n"
    "the lease is lost.\n"
    "\n"
    "Options:\n"
    "  --range RANGE         the reservation: the line `sqclaim reserve` printed\n"
    "                        ({\"sq\":...,\"startRow\":51,\"rowCount\":5,\"fence\":7}),\n"
    "                        or START+COUNT (e.g. 51+5; the fence is the lease's)\n"
    "\n" LEASE_HELP "\n"
    "Example:\n"
    "  rows=$(printf '%s' \"$lease\" | sqclaim reserve --rows 5)\n"
    "  printf '%s' \"$lease\" | sqclaim finish --range \"$rows\"\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char status_help[] =
    "Usage: sqclaim status [--pretty]\n"
    "\n"
    "Print the live claims and row reservations as the seed's /api/queue JSON:\n"
    "  {\"success\":true,\"sqClaims\":{...},\"refundReservations\":{...},\n"
    "   \"timestamp\":\"2025-10-26T12:34:56.789Z\",\"kvConfigured\":true}\n"
    "Each claim: botId, timestamp, status, fence, ttlMs (remaining); each\n"
    "reservation: botId, startRow, rowCount, status, timestamp, fence, ttlMs.\n"
    "Every key that blocks a claim is listed, also values other tools wrote: those\n"
    "add \"foreign\":true, and when the value is not a JSON object (plain text, a\n"
    "hash...) \"unreadable\":true, its \"type\" and a \"raw\" preview (\"\" and\n"
    "\"rawHidden\":true if it mentions a token), with botId \"?\"; fields a value\n"
    "lacks are \"\" or 0.  ttlMs -1: the key never expires.\n"
    "Lease tokens are never shown.  When the store cannot be used, print\n"
    "  {\"success\":false,\"error\":\"<message>\"}\n"
    "instead and exit 4 or 5; with the vercel backend unconfigured the message is\n"
    "the seed's \"" SQCLAIM_KV_NOT_CONFIGURED "\"\n"
    "\n"
    "Options:\n"
    "  --pretty              indented JSON, for people\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char watch_help[] =
    "Usage: sqclaim watch [--interval DURATION] [--count N] [--json]\n"
    "\n"
    "Show the status every DURATION: holders, remaining time, row reservations --\n"
    "every entry status lists, values other tools wrote too (holder ?, marked\n"
    "foreign with their type or a preview; \"never expires\" for keys without\n"
    "expiry).  On a terminal the table is redrawn in place; Ctrl-C (or SIGTERM,\n"
    "SIGHUP) stops it, restores the terminal and exits 0.  When standard output is\n"
    "not a terminal (or TERM is dumb), each refresh is printed as plain lines\n"
    "followed by an empty line, for logs.  A refresh that fails is shown and\n"
    "retried; configuration errors stop at once.\n"
    "\n"
    "The default interval is 2s, except on vercel, where every request is billed:\n"
    "there watch counts the requests a refresh takes and polls every whole minute\n"
    "that keeps it within half of the legacy Vercel KV free plan (3000 requests a\n"
    "day), and shows the daily cost of the interval in use.\n"
    "\n"
    "Options:\n"
    "  --interval DURATION   time between refreshes (10ms to 1h; default 2s, or the\n"
    "                        budgeted pace on vercel)\n"
    "  --count N             stop after N refreshes (default: until stopped); the\n"
    "                        exit status is then that of the last refresh\n"
    "  --json                print each refresh as one line of status JSON instead\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

#define CONFIRM_HELP                                                                               \
    "Confirmation: with --yes, none is asked.  Without it, sqclaim asks on the\n"                  \
    "terminal (\"y\" or \"yes\" goes ahead, anything else changes nothing, exit 1) --\n"           \
    "only when standard input and standard error are a terminal and CI is not set\n"               \
    "(CI=true, as CI services set it).  Otherwise nobody can answer, so the command\n"             \
    "refuses at once without --yes (exit 2, nothing sent): scripts and CI jobs pass\n"             \
    "--yes.\n"

static const char break_help[] =
    "Usage: sqclaim break SQ [--force] [--yes]\n"
    "\n"
    "End SQ's claim and its row reservation, whoever holds them: the 10-minute claim\n"
    "of a bot killed with kill -9, a key without expiry another tool wrote, a value\n"
    "that is not JSON.  For operators repairing a store; bots release their own.\n"
    "\n"
    "break first shows on standard error what the store holds for SQ: the holder (or\n"
    "\"a value another tool wrote\" with its type or a preview), the fence, the time\n"
    "left or \"never expires\", and the reservation's rows.  Then, once confirmed, it\n"
    "removes exactly that, in one atomic step: if anything changed in between (a bot\n"
    "claimed, released or reserved meanwhile), nothing is removed and it exits 3;\n"
    "run it again to see the new state.  Prints nothing on standard output.\n"
    "\n"
    "A live claim that sqclaim wrote means a bot may still be working on the SQ:\n"
    "break refuses it (exit 1, naming the bot and its time left) unless --force is\n"
    "given.  That bot learns it at its next renew, reserve, finish or release\n"
    "(exit 3); its fence is below its successor's.  Values other tools wrote, values\n"
    "that are not JSON and keys without expiry need no --force.\n"
    "\n"
    "Options:\n"
    "  --force               also end a live claim sqclaim wrote\n"
    "  -y, --yes             do not ask for confirmation (scripts, CI)\n"
    "\n" CONFIRM_HELP "\n"
    "Example:\n"
    "  sqclaim break 251019-164rmb              # asks on a terminal\n"
    "  sqclaim break 251019-164rmb --force --yes  # from a script\n"
    "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char counters_help[] =
    "Usage: sqclaim counters [--json] [--raise-cursor ROW [--yes]]\n"
    "\n"
    "Show the store's two helper counters, with their key names and state:\n"
    "  row cursor     the row the next reservation starts at (or later)\n"
    "  fence counter  the last fencing number handed out\n"
    "Each is OK (its value), missing (the next reservation or claim rebuilds it\n"
    "from the live records), or INVALID (what the key holds instead: reservations\n"
    "or claims fail until it is deleted or fixed).  A hint typo such as\n"
    "--hint 51000000 moves the row cursor for good: counters shows where it is.\n"
    "\n"
    "--raise-cursor ROW moves the row cursor up to ROW, never down (rows below it\n"
    "may have been handed out): a ROW below the cursor changes nothing and exits 1.\n"
    "Use it after the helper keys were lost, to keep new reservations above rows\n"
    "written before.  It asks for confirmation first, like break.\n"
    "\n"
    "Options:\n"
    "  --json                one line of JSON instead of text:\n"
    "                        {\"rowCursor\":{\"key\":…,\"state\":\"ok\",\"value\":51,\n"
    "                        \"detail\":\"\"},\"fenceCounter\":{…}}; state is ok, missing or\n"
    "                        invalid; value is null unless ok\n"
    "  --raise-cursor ROW    move the row cursor up to ROW (1 to 999999999999999)\n"
    "  -y, --yes             do not ask for confirmation (scripts, CI)\n"
    "\n" CONFIRM_HELP "\n" GLOBAL_HELP "\n" EXIT_HELP;

static const char adapters_help[] =
    "Usage: sqclaim backends\n"
    "\n"
    "List the backends built into this sqclaim, one per line (memory first).\n"
    "Same as sqclaim --list-backends.  `sqclaim adapters` is its old name.\n";

static const char help_help[] =
    "Usage: sqclaim help [COMMAND]\n"
    "\n"
    "Print the program's help, or COMMAND's (the same as sqclaim COMMAND --help).\n";

/* ------------------------------------------------------------------ */
/* Commands                                                             */

typedef struct command {
    const char *name;
    int (*run)(cli *c);
    unsigned opts; /* accepted options besides GLOBAL_OPTS */
    const char *help;
} command;

static int cmd_help(cli *c);

static const command commands[] = {
    {"claim", cmd_claim, BIT(OPT_BOT) | BIT(OPT_TTL), claim_help},
    {"claim-first", cmd_claim_first, BIT(OPT_BOT) | BIT(OPT_TTL), claim_first_help},
    {"renew", cmd_renew, LEASE_OPTS | BIT(OPT_TTL), renew_help},
    {"release", cmd_release, LEASE_OPTS, release_help},
    {"reserve", cmd_reserve, LEASE_OPTS | BIT(OPT_ROWS) | BIT(OPT_HINT), reserve_help},
    {"finish", cmd_finish, LEASE_OPTS | BIT(OPT_RANGE), finish_help},
    {"status", cmd_status, BIT(OPT_PRETTY), status_help},
    {"watch", cmd_watch, BIT(OPT_INTERVAL) | BIT(OPT_COUNT) | BIT(OPT_JSON), watch_help},
    {"break", cmd_break, BIT(OPT_FORCE) | BIT(OPT_YES), break_help},
    {"counters", cmd_counters, BIT(OPT_JSON) | BIT(OPT_RAISE_CURSOR) | BIT(OPT_YES), counters_help},
    {"serve", cmd_serve,
     BIT(OPT_LISTEN) | BIT(OPT_PORT) | BIT(OPT_PORT_FILE) | BIT(OPT_TOKEN_FILE) | BIT(OPT_CORS) |
         BIT(OPT_AUTH_READS) | BIT(OPT_THREADS),
     serve_help},
    {"backends", cmd_adapters, 0, adapters_help},
    {"adapters", cmd_adapters, 0, adapters_help}, /* the old name */
    {"help", cmd_help, 0, help_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int print_text(const char *text)
{
    fputs(text, stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        return CLI_EXIT_FAILURE;
    return 0;
}

static int print_program_help(void)
{
    int ex = print_text(program_help);
    return ex ? ex : print_text(program_help_2);
}

static int cmd_help(cli *c)
{
    if (c->npos == 0)
        return print_program_help();
    if (c->npos > 1)
        return cli_usage_error(c, "help takes one command name");
    const command *cmd = find_command(c->pos[0]);
    if (!cmd)
        return cli_usage_error(c,
                               "no such command: %.60s (commands: claim, claim-first, "
                               "renew, release, reserve, finish, status, watch, break, "
                               "counters, serve, backends, help)",
                               c->pos[0]);
    return print_text(cmd->help);
}

static int print_version(void)
{
    printf("sqclaim %s (libsqclaim %s; backends:", SQCLAIM_VERSION, sqclaim_version());
    for (const char *const *n = sqclaim_backend_names(); *n; n++)
        printf(" %s", *n);
    printf(")\n");
    return fflush(stdout) != 0 || ferror(stdout) ? CLI_EXIT_FAILURE : 0;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

/* Show an argument in a message: at most 60 bytes, control characters
 * as '?'.  Arguments are the user's own, but may be pasted garbage. */
static const char *shown(const char *arg, char *buf, size_t len)
{
    size_t n = strlen(arg);
    cli_clean_text(buf, len < 61 ? len : 61, arg, n);
    return buf;
}

/* Show an option as spelled, without any "=value": the value may be a
 * secret (--token=…, --lease=…, --redis-url=…), misspelled or misplaced
 * as the option may be. */
static const char *shown_opt(const char *arg, char *buf, size_t len)
{
    cli_clean_text(buf, len < 61 ? len : 61, arg, strcspn(arg, "="));
    return buf;
}

static int find_long(const char *name, size_t len)
{
    for (int i = 0; i < OPT__COUNT; i++)
        if ((strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) ||
            (opts[i].old && strlen(opts[i].old) == len && strncmp(opts[i].old, name, len) == 0))
            return i;
    return -1;
}

static int find_short(char ch)
{
    for (int i = 0; i < OPT__COUNT; i++)
        if (opts[i].shortc && opts[i].shortc == ch)
            return i;
    return -1;
}

/* Record option `o` with value `val` (NULL for flags), if the current
 * command (or the program, before one) accepts it. */
static int take_option(cli *c, const command *cmd, int o, const char *spelled, const char *val)
{
    unsigned ok = cmd ? (GLOBAL_OPTS | cmd->opts) : (GLOBAL_OPTS | PROGRAM_OPTS);
    if (!(ok & BIT(o))) {
        char b[64];
        if (cmd)
            return cli_usage_error(c, "%s does not take option %s", cmd->name,
                                   shown_opt(spelled, b, sizeof b));
        return cli_usage_error(c, "option %s belongs after a command",
                               shown_opt(spelled, b, sizeof b));
    }
    /* Two values for one option: one of them is a mistake, and taking
     * either (the last, as getopt would) may act for the wrong bot. */
    if (opts[o].arg && c->flag[o])
        return cli_usage_error(c, "option --%s given twice", opts[o].name);
    c->flag[o] = true;
    c->val[o] = val;
    return 0;
}

/* Does the command take SQ ids as arguments? */
static bool takes_sq(const command *cmd)
{
    return cmd && cmd->run != cmd_status && cmd->run != cmd_watch && cmd->run != cmd_adapters &&
           cmd->run != cmd_help && cmd->run != cmd_counters && cmd->run != cmd_serve;
}

/* Parse argv into *c.  Returns -1 to go on and run c->cmd, or an exit
 * status (help and version were printed, or a usage error). */
static int parse(int argc, char **argv, cli *c, const command **out)
{
    const command *cmd = NULL;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char b[64];
        bool is_opt = !only_pos && a[0] == '-' && a[1] != '\0';
        if (is_opt && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!is_opt) {
            if (!cmd) {
                cmd = find_command(a);
                if (!cmd)
                    return cli_usage_error(c, "unknown command: %s", shown(a, b, sizeof b));
                c->cmd = cmd->name;
                continue;
            }
            if (c->npos >= CLI_MAX_POS)
                return cli_usage_error(c, "too many arguments (at most %d)", CLI_MAX_POS);
            c->pos[c->npos++] = a;
            continue;
        }
        if (a[1] == '-') { /* --name or --name=value */
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int o = find_long(name, len);
            if (o < 0)
                return cli_usage_error(c, "unknown option: %s", shown_opt(a, b, sizeof b));
            const char *val = NULL;
            if (opts[o].arg) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    return cli_usage_error(c, "option --%s needs a value", opts[o].name);
            } else if (eq) {
                return cli_usage_error(c, "option --%s takes no value", opts[o].name);
            }
            int ex = take_option(c, cmd, o, a, val);
            if (ex)
                return ex;
            if (o == OPT_HELP)
                return cmd ? print_text(cmd->help) : print_program_help();
            continue;
        }
        /* -x, -xVALUE, -x VALUE, or grouped flags -qh */
        for (const char *p = a + 1; *p; p++) {
            int o = find_short(*p);
            char sp[3] = {'-', *p, '\0'};
            if (o < 0)
                /* "-abc" meant as an SQ id?  The argument itself is not
                 * shown: it may be anything, a token even. */
                return cli_usage_error(c, "unknown option: %s%s", shown(sp, b, sizeof b),
                                       takes_sq(cmd) ? " (SQ ids must not start with '-', "
                                                       "even after --)"
                                                     : "");
            const char *val = NULL;
            if (opts[o].arg) {
                if (p[1])
                    val = p + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    return cli_usage_error(c, "option %s needs a value", sp);
            }
            int ex = take_option(c, cmd, o, sp, val);
            if (ex)
                return ex;
            if (o == OPT_HELP)
                return cmd ? print_text(cmd->help) : print_program_help();
            if (val)
                break;
        }
    }
    if (!cmd) {
        if (c->flag[OPT_VERSION])
            return print_version();
        if (c->flag[OPT_LIST_ADAPTERS])
            return cmd_adapters(c);
        fputs(
            "Usage: sqclaim [OPTIONS] COMMAND [ARGS]\n"
            "Commands: claim, claim-first, renew, release, reserve, finish, status, watch,\n"
            "break, counters, serve, backends, help.  Try 'sqclaim --help' for more information.\n",
            stderr);
        return CLI_EXIT_USAGE;
    }
    *out = cmd;
    return -1;
}

/* Make file descriptors 0, 1 and 2 valid before anything is opened.  A
 * shell's `>&-` starts us with stdout closed: the store's socket would
 * then become fd 1, and the lease JSON, token included, would be written
 * into the connection to the store (and the protocol desynchronised).
 * A closed descriptor is taken by /dev/null opened the wrong way round
 * (stdin write-only, stdout and stderr read-only), so that it still
 * behaves as closed -- every read or write fails with EBADF -- while no
 * socket or file can take its number.  False if that failed. */
static bool guard_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (nfd < 0)
            return false;
        if (nfd != fd) { /* cannot happen: the lowest free number is fd */
            int d = dup2(nfd, fd);
            close(nfd);
            if (d != fd)
                return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    if (!guard_std_fds())
        return CLI_EXIT_FAILURE; /* cannot even say so: stderr is closed */
    /* A write to a closed pipe must be an error we can act on (release a
     * claim nobody will know about), not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    static cli c;
    const command *cmd = NULL;
    int ex = parse(argc, argv, &c, &cmd);
    if (ex >= 0 || !cmd)
        return ex >= 0 ? ex : CLI_EXIT_USAGE;
    ex = cmd->run(&c);
    cli_end_deferral();
    return ex;
}
