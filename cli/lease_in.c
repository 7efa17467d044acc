/* lease_in.c — the lease a command acts on: --lease JSON, --lease - (stdin),
 * --lease-file FILE, SQ --token TOKEN, or stdin when it is not a terminal.
 *
 * The lease text is never echoed in a message: it holds the token. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_INPUT_MAX 65536

/* Read all of fp (at most LEASE_INPUT_MAX bytes) into a new string.
 * NULL with *toolong set, or errno set. */
static char *slurp(FILE *fp, bool *toolong)
{
    *toolong = false;
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= LEASE_INPUT_MAX + 1) {
                *toolong = true;
                free(buf);
                return NULL;
            }
            size_t ncap = cap * 2 > LEASE_INPUT_MAX + 1 ? LEASE_INPUT_MAX + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, fp);
        len += n;
        if (n == 0) {
            if (ferror(fp)) {
                int e = errno ? errno : EIO;
                free(buf);
                errno = e;
                return NULL;
            }
            break;
        }
    }
    buf[len] = '\0';
    if (strlen(buf) != len) { /* a NUL byte: not text */
        free(buf);
        errno = EINVAL;
        return NULL;
    }
    return buf;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static int from_text(const cli *c, const char *text, const char *where, sqclaim_lease *lease)
{
    if (blank(text))
        return cli_usage_error(c,
                               "no lease given: %s is empty (expected the JSON line printed "
                               "by `sqclaim claim`)",
                               where);
    char err[300];
    if (sqclaim_lease_from_json(text, lease, err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "bad lease from %s: %s", where, err);
    return 0;
}

static int read_stream(const cli *c, FILE *fp, const char *where, sqclaim_lease *lease)
{
    bool toolong;
    errno = 0;
    char *text = slurp(fp, &toolong);
    if (!text) {
        if (toolong)
            return cli_usage_error(c, "bad lease from %s: more than %d bytes", where,
                                   LEASE_INPUT_MAX);
        return cli_usage_error(c, "cannot read the lease from %s: %s", where,
                               errno == EINVAL ? "it contains a NUL byte" : strerror(errno));
    }
    int ex = from_text(c, text, where, lease);
    explicit_bzero(text, strlen(text));
    free(text);
    return ex;
}

static bool token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n != SQCLAIM_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

int cli_read_lease(const cli *c, const char *sq, bool need_bot, sqclaim_lease *lease)
{
    memset(lease, 0, sizeof *lease);
    int sources = (c->val[OPT_LEASE] != NULL) + (c->val[OPT_LEASE_FILE] != NULL) +
                  (c->val[OPT_TOKEN] != NULL);
    if (sources > 1)
        return cli_usage_error(c, "give the lease one way only: --lease, --lease-file or "
                                  "SQ --token");
    char err[300];
    if (sq && sqclaim_check_sq(sq, err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "%s", err);
    const char *bot = c->val[OPT_BOT];
    if (bot && sqclaim_check_bot(bot, err, sizeof err) != SQCLAIM_OK)
        return cli_usage_error(c, "--bot: %s", err);

    int ex = 0;
    if (c->val[OPT_TOKEN]) {
        if (!sq)
            return cli_usage_error(c, "--token needs the SQ: sqclaim %s SQ --token TOKEN", c->cmd);
        if (!token_ok(c->val[OPT_TOKEN]))
            return cli_usage_error(c,
                                   "--token: a lease token is %d lowercase hex digits "
                                   "(the \"token\" of the lease JSON)",
                                   SQCLAIM_TOKEN_LEN);
        if (need_bot && !bot)
            return cli_usage_error(c,
                                   "with --token, %s also needs --bot BOT (the lease's "
                                   "holder)",
                                   c->cmd);
        snprintf(lease->sq, sizeof lease->sq, "%s", sq);
        snprintf(lease->token, sizeof lease->token, "%s", c->val[OPT_TOKEN]);
        if (bot)
            snprintf(lease->bot, sizeof lease->bot, "%s", bot);
        return 0;
    }
    if (c->val[OPT_LEASE] && strcmp(c->val[OPT_LEASE], "-") != 0) {
        ex = from_text(c, c->val[OPT_LEASE], "--lease", lease);
    } else if (c->val[OPT_LEASE_FILE] && strcmp(c->val[OPT_LEASE_FILE], "-") != 0) {
        FILE *fp = fopen(c->val[OPT_LEASE_FILE], "r");
        if (!fp)
            return cli_usage_error(c, "--lease-file: cannot open %s: %s", c->val[OPT_LEASE_FILE],
                                   strerror(errno));
        ex = read_stream(c, fp, "--lease-file", lease);
        fclose(fp);
    } else if (c->val[OPT_LEASE] || c->val[OPT_LEASE_FILE] || !isatty(STDIN_FILENO)) {
        ex = read_stream(c, stdin, "standard input", lease);
    } else {
        return cli_usage_error(c,
                               "no lease given: pipe the output of `sqclaim claim` into "
                               "sqclaim %s, or pass --lease JSON, --lease-file FILE or "
                               "SQ --token TOKEN",
                               c->cmd);
    }
    if (ex)
        return ex;
    if (sq && strcmp(sq, lease->sq) != 0)
        return cli_usage_error(c, "the lease is for SQ %s, not %s", lease->sq, sq);
    if (bot && lease->bot[0] && strcmp(bot, lease->bot) != 0)
        return cli_usage_error(c, "--bot %s does not match the lease's bot", bot);
    if (bot && !lease->bot[0])
        snprintf(lease->bot, sizeof lease->bot, "%s", bot);
    if (need_bot && !lease->bot[0])
        return cli_usage_error(c, "the lease has no \"bot\": pass --bot BOT");
    return 0;
}
