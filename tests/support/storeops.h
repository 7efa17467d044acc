/*
 * storeops.h — run each public store operation, by number, against a
 * handle: for tests that drive every operation through the same failure
 * (a rogue peer, a server down, a hostile proxy) and check what each one
 * answers and says.
 *
 *   tops_args a = {.sq = "SQ", .first = {"SQ1", "SQ2"}, .token = TOK, .fence = 1};
 *   sqclaim_rc rc = tops_run(s, TOPS_RENEW, &a, &lease);
 *
 * The operations that need a lease get one made up from the arguments
 * (bot "BOT1", TTL 60 s), as if it had been claimed before.  tops_all()
 * runs every operation, each on a fresh handle, and checks that no failure
 * message shows a secret.  Header only: it needs the library, which not
 * every program that links tests/support does.
 */
#ifndef SQCLAIM_TEST_STOREOPS_H
#define SQCLAIM_TEST_STOREOPS_H

#include "sqclaim.h"

#include <check.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* o, written as a compound literal ((sqclaim_options){.backend = …}: the
 * fields not named are 0, their defaults), with its size set as
 * sqclaim_options_init() sets it. */
static inline sqclaim_options tops_options(sqclaim_options o)
{
    sqclaim_options init;
    sqclaim_options_init(&init);
    o.size = init.size;
    return o;
}

typedef enum tops_op {
    TOPS_CLAIM,
    TOPS_CLAIM_FIRST,
    TOPS_RENEW,
    TOPS_RELEASE,
    TOPS_RESERVE,
    TOPS_FINISH,
    TOPS_STATUS,
    TOPS_PING,
    TOPS_COUNT
} tops_op;

static inline const char *tops_name(tops_op op)
{
    static const char *const names[TOPS_COUNT] = {"claim",   "claim-first", "renew",  "release",
                                                  "reserve", "finish",      "status", "ping"};
    return op < TOPS_COUNT ? names[op] : "?";
}

typedef struct tops_args {
    const char *sq;       /* claimed by TOPS_CLAIM; the made-up lease's SQ */
    const char *first[2]; /* the candidates of TOPS_CLAIM_FIRST */
    const char *token;    /* the made-up lease's token */
    uint64_t fence;       /* the made-up lease's fence */
    /* tops_all(): strings no failure message may contain (NULL or ""
     * entries are skipped), besides the token of the lease claimed. */
    const char *const *secrets;
    size_t nsecrets;
} tops_args;

/* The made-up lease of the secrets tests: its token looks like one (32 hex
 * digits), so a message that quotes it is caught; secrets is an array of
 * the strings no message may show. */
#define TOPS_LEASE_TOKEN "5ec2e75ec2e75ec2e75ec2e75ec2e7aa"
#define TOPS_SECRETS_ARGS(secrets)                                                                 \
    {                                                                                              \
        .sq = "SEC-1", .first = {"SEC-1", "SEC-2"}, .token = TOPS_LEASE_TOKEN, .fence = 3,         \
        .secrets = (secrets), .nsecrets = sizeof(secrets) / sizeof(secrets)[0]                     \
    }

/* Run op on s.  *out (may be NULL) gets the lease used: the made-up one, or
 * what a claim left in it. */
static inline sqclaim_rc tops_run(sqclaim_store *s, tops_op op, const tops_args *a,
                                  sqclaim_lease *out)
{
    sqclaim_lease l;
    memset(&l, 0, sizeof l);
    snprintf(l.sq, sizeof l.sq, "%s", a->sq);
    snprintf(l.bot, sizeof l.bot, "BOT1");
    snprintf(l.token, sizeof l.token, "%s", a->token);
    l.fence = a->fence;
    l.ttl_ms = 60000;
    sqclaim_rows rows;
    sqclaim_status *st = NULL;
    sqclaim_rc rc = SQCLAIM_OK;
    switch (op) {
    case TOPS_CLAIM: rc = sqclaim_claim(s, a->sq, "BOT1", 0, &l, NULL); break;
    case TOPS_CLAIM_FIRST: rc = sqclaim_claim_first(s, a->first, 2, "BOT1", 0, &l, NULL); break;
    case TOPS_RENEW: rc = sqclaim_renew(s, &l, 0); break;
    case TOPS_RELEASE: rc = sqclaim_release(s, &l); break;
    case TOPS_RESERVE: rc = sqclaim_reserve_rows(s, &l, 5, 0, &rows); break;
    case TOPS_FINISH: rc = sqclaim_finish_rows(s, &l); break;
    case TOPS_STATUS:
        rc = sqclaim_status_get(s, &st);
        sqclaim_status_free(st);
        break;
    case TOPS_PING: rc = sqclaim_ping(s); break;
    case TOPS_COUNT: ck_abort_msg("no operation %d", (int)op);
    }
    if (out)
        *out = l;
    return rc;
}

/* Any run of >= 32 hex digits: a lease token (ours or another bot's) or
 * another secret-looking value. */
static inline bool tops_has_hex_run(const char *s)
{
    size_t run = 0;
    for (; *s; s++) {
        run = isxdigit((unsigned char)*s) ? run + 1 : 0;
        if (run >= 32)
            return true;
    }
    return false;
}

/* msg (what op answered with rc, at `where`) shows none of a's secrets, not
 * claim_token (may be NULL), and no token-like run of hex digits. */
static inline void tops_check_message(const tops_args *a, const char *where, tops_op op,
                                      sqclaim_rc rc, const char *msg, const char *claim_token)
{
    for (size_t i = 0; i <= a->nsecrets; i++) {
        const char *secret = i < a->nsecrets ? a->secrets[i] : claim_token;
        ck_assert_msg(!secret || !*secret || !strstr(msg, secret),
                      "%s, %s (%s): the message shows a secret: %s", where, tops_name(op),
                      sqclaim_rcname(rc), msg);
    }
    ck_assert_msg(!tops_has_hex_run(msg), "%s, %s (%s): the message shows a token-like value: %s",
                  where, tops_name(op), sqclaim_rcname(rc), msg);
}

/* Every operation, each on a fresh handle from open_fn(ctx) (closed after),
 * each failure's message checked with tops_check_message(); the rcs in
 * rcs[TOPS_COUNT] (may be NULL).  Returns how many failed. */
static inline int tops_all(const tops_args *a, sqclaim_store *(*open_fn)(const void *ctx),
                           const void *ctx, const char *where, sqclaim_rc *rcs)
{
    int failed = 0;
    for (int op = 0; op < TOPS_COUNT; op++) {
        sqclaim_store *s = open_fn(ctx);
        sqclaim_lease l;
        sqclaim_rc rc = tops_run(s, (tops_op)op, a, &l);
        if (rc != SQCLAIM_OK)
            tops_check_message(a, where, (tops_op)op, rc, sqclaim_errmsg(s), l.token);
        sqclaim_close(s);
        if (rcs)
            rcs[op] = rc;
        failed += rc != SQCLAIM_OK;
    }
    return failed;
}

/* Each of rcs[TOPS_COUNT] (from tops_all) is want. */
static inline void tops_expect_all(const sqclaim_rc *rcs, sqclaim_rc want, const char *where)
{
    for (int op = 0; op < TOPS_COUNT; op++)
        ck_assert_msg(rcs[op] == want, "%s, %s: %s, want %s", where, tops_name((tops_op)op),
                      sqclaim_rcname(rcs[op]), sqclaim_rcname(want));
}

#endif
