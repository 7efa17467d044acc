/* test_operator.c — what other tools leave in the store, and the
 * operator's tools (issue 9, items 9 and 11), with the real program
 * against redis and vercel (through kvrest):
 *
 *   - values written with raw redis commands, as the issue did: plain
 *     text under sq:A4, a hash at sq:A6, docs/kvrest.md's example key
 *     sq:1, a seed-layout refund:* without token, keys without expiry;
 *     claim names what holds them, status and watch show every one;
 *   - break shows what it removes, removes only that (a claim made in
 *     between survives: exit 3), refuses a live sqclaim claim without
 *     --force, and confirms (--yes, or "y" on a terminal; never under
 *     CI or from a pipe);
 *   - counters after a hint typo, and --raise-cursor never moving down.
 *
 * Every test works in a key prefix of its own. */
#include "remote.h"
#include "tcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rctx_init, then options for a run on a terminal, where a person could
 * answer: CI unset for it (the suite itself may run under CI=true). */
static cr_opts tty_open(rctx *x, int i)
{
    rctx_init(x, i);
    x->extra[1] = "CI=";
    x->extra[2] = NULL;
    return ropts(x);
}

/* Run the words given: exit status `want`, and stderr says `says`. */
static void exit_saying(const cr_opts *o, int want, const char *says, const char *const *args)
{
    cr_result r;
    tc_run_exit(&r, o, want, args);
    TC_ERR_HAS(&r, says);
    cr_free(&r);
}
#define EXIT_SAYING(o, want, says, ...)                                                            \
    exit_saying((o), (want), (says), (const char *const[]){__VA_ARGS__})

/* Run args on a terminal (ot) and answer its [y/N] prompt with `answer`;
 * the exit status must be `want`; r holds the run (cr_free it). */
static void answer_prompt(const cr_opts *ot, const char *const *args, const char *answer,
                          cr_result *r, int want)
{
    cr_pty *p = cr_pty_start(ot, args);
    ck_assert_ptr_nonnull(p);
    ck_assert(cr_pty_read_until(p, "[y/N]", 1, 30000));
    cr_pty_write(p, answer);
    cr_pty_finish(p, r);
    TC_EXIT(r, want);
}

/* A raw redis command on the server behind both backends, with x's
 * prefix put before argv[1] (the key).  Asserts the reply's first line
 * starts with `want`. */
static void raw_cmd(const rctx *x, const char *want, const char *const *argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    char key[256];
    const char *args[8];
    ck_assert(argc >= 2 && argc <= 8);
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    snprintf(key, sizeof key, "%s%s", x->prefix, argv[1]);
    args[1] = key;
    char reply[256] = "";
    ck_assert_msg(tsrv_redis_raw(&tc_redis, reply, sizeof reply, argc, args) == 0,
                  "redis %s %s: no reply", argv[0], key);
    ck_assert_msg(strncmp(reply, want, strlen(want)) == 0, "redis %s %s: %s, expected %s", argv[0],
                  key, reply, want);
}
#define RAW(x, want, ...) raw_cmd((x), (want), (const char *const[]){__VA_ARGS__, NULL})

static bool key_exists(const rctx *x, const char *key)
{
    char full[256], reply[64] = "";
    snprintf(full, sizeof full, "%s%s", x->prefix, key);
    const char *args[] = {"EXISTS", full};
    ck_assert(tsrv_redis_raw(&tc_redis, reply, sizeof reply, 2, args) == 0);
    return strcmp(reply, ":1") == 0;
}

/* The seed layout, as a seed-era bot writes it: no token, no fence. */
#define SEED_REFUND                                                                                \
    "{\"botId\":\"OLDBOT\",\"startRow\":10,\"rowCount\":5,\"status\":\"WRITING\","                 \
    "\"timestamp\":\"2025-10-26T12:34:56.789Z\"}"
#define SEED_CLAIM                                                                                 \
    "{\"botId\":\"SEEDBOT\",\"timestamp\":\"2025-10-26T12:34:56.789Z\",\"status\":\"CLAIMING\"}"

/* The hostile and foreign values of the issue, under x's prefix. */
static void write_foreign(const rctx *x)
{
    RAW(x, "+OK", "SET", "sq:A4", "not json at all");          /* no expiry */
    RAW(x, ":1", "HSET", "sq:A6", "botId", "BOT1");            /* another type, no expiry */
    RAW(x, "+OK", "SET", "sq:1", "v", "NX", "PX", "600000");   /* docs/kvrest.md's example */
    RAW(x, "+OK", "SET", "sq:A8", SEED_CLAIM, "PX", "600000"); /* a seed-era bot's claim */
    RAW(x, "+OK", "SET", "refund:A7", SEED_REFUND);            /* seed layout, no expiry */
}

/* Reserve with the lease on stdin; returns the start row. */
static double reserve_ok(const rctx *x, const tc_lease *l, const char *rows, const char *hint)
{
    cr_opts o = ropts(x);
    o.input = l->line;
    cr_result r;
    if (hint)
        cr_runv(&r, &o, "reserve", "--rows", rows, "--hint", hint, NULL);
    else
        TC_RUNV(&r, &o, 0, "reserve", "--rows", rows, NULL);
    cJSON *j = tc_json(r.out);
    double start = cJSON_GetObjectItem(j, "startRow")->valuedouble;
    cJSON_Delete(j);
    cr_free(&r);
    return start;
}

/* The status JSON (asserted exit 0); free with cJSON_Delete. */
static cJSON *status_json(const rctx *x)
{
    cr_opts o = ropts(x);
    cr_result r;
    TC_RUNV(&r, &o, 0, "status", NULL);
    tc_check_one_line(&r);
    cJSON *j = tc_json(r.out);
    cr_free(&r);
    return j;
}

static const cJSON *entry(const cJSON *status, const char *section, const char *sq)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(status, section), sq);
}

/* ------------------------------------------------------------------ */
/* Foreign values: claim, status, watch                                 */

/* A claim refused by a value that names no bot says what it is (before:
 * "held by another lease"), for how long, and how to remove it. */
START_TEST(test_busy_names_foreign)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    write_foreign(&x);
    cr_result r;

    TC_RUNV(&r, &o, 1, "claim", "A4", "--bot", "BOT2", NULL);
    tc_check_stderr_form(&r);
    ck_assert_str_eq(r.out, "");
    TC_ERR_HAS(&r, "a value another tool wrote", "not a JSON object: \"not json at all\"",
               "never expires", "sqclaim break A4");
    ck_assert(!cr_contains(r.err, r.errlen, "another lease"));
    cr_free(&r);

    TC_RUNV(&r, &o, 1, "claim", "A6", "--bot", "BOT2", NULL);
    TC_ERR_HAS(&r, "a value another tool wrote (type hash)", "never expires");
    cr_free(&r);

    /* docs/kvrest.md's example key: a 10-minute expiry. */
    TC_RUNV(&r, &o, 1, "claim", "1", "--bot", "BOT2", NULL);
    ck_assert_msg(cr_contains(r.err, r.errlen, "\"v\"") && cr_contains(r.err, r.errlen, "left") &&
                      !cr_contains(r.err, r.errlen, "never expires"),
                  "%s", r.err);
    cr_free(&r);

    /* A seed-era bot's claim names its bot, as before. */
    EXIT_SAYING(&o, 1, "held by SEEDBOT for another", "claim", "A8", "--bot", "BOT2", NULL);

    /* claim-first (a bot's loop: no extra request) still says it is
     * another tool's value. */
    TC_RUNV(&r, &o, 1, "claim-first", "A6", "A4", "--bot", "BOT2", NULL);
    ck_assert_msg(cr_contains(r.err, r.errlen, "all 2 candidate SQs are held") &&
                      cr_contains(r.err, r.errlen,
                                  "A6, by a value another tool wrote, naming "
                                  "no bot; sqclaim status shows it") &&
                      !cr_contains(r.err, r.errlen, "sqclaim_"),
                  "%s", r.err);
    cr_free(&r);
    ck_assert(key_exists(&x, "sq:A4") && key_exists(&x, "sq:A6"));
}
END_TEST

/* A foreign value that carries a lease's token is never shown: not in
 * claim's message, watch, status or break. */
START_TEST(test_foreign_secret)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "S1", "10m", &l);
    char v[128];
    snprintf(v, sizeof v, "copied %s by hand", l.token);
    RAW(&x, "+OK", "SET", "sq:S2", v);
    snprintf(v, sizeof v, "{\"token\":\"%.20s", l.token); /* not JSON, a token's start */
    RAW(&x, "+OK", "SET", "refund:S2", v);
    cr_opts o = ropts(&x);
    cr_result r;
    const char *const runs[][6] = {{"claim", "S2", "--bot", "BOT2", NULL},
                                   {"status", NULL},
                                   {"watch", "--count", "1", "--interval", "1m", NULL},
                                   {"break", "S2", "--yes", NULL}};
    const int want[] = {1, 0, 0, 0};
    char head[24];
    snprintf(head, sizeof head, "%.16s", l.token);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_run(&r, &o, runs[i]);
        TC_EXIT(&r, want[i]);
        tc_check_no_secret(&r, l.token);
        tc_check_no_secret(&r, head);
        cr_free(&r);
    }
    ck_assert(!key_exists(&x, "sq:S2") && !key_exists(&x, "refund:S2"));
}
END_TEST

/* status shows every blocker with the members docs/cli.md names. */
START_TEST(test_status_foreign)
{
    rctx x;
    rctx_init(&x, _i);
    write_foreign(&x);
    tc_lease l;
    claim_ok(&x, "B1", "BOT1", "10m", &l);
    cJSON *j = status_json(&x);
    static const char *const top[] = {"success",   "sqClaims",     "refundReservations",
                                      "timestamp", "kvConfigured", NULL};
    tc_check_keys(j, top, "status");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sqClaims")), 5);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations")), 1);

    /* Sorted by SQ id, foreign or not (docs/cli.md). */
    const char *prev = "";
    for (const cJSON *c = cJSON_GetObjectItem(j, "sqClaims")->child; c; c = c->next) {
        ck_assert_msg(strcmp(prev, c->string) < 0, "%s listed after %s", c->string, prev);
        prev = c->string;
    }
    /* sqclaim's own: the seed's exact shape. */
    static const char *const own[] = {"botId", "timestamp", "status", "fence", "ttlMs", NULL};
    tc_check_keys(entry(j, "sqClaims", "B1"), own, "B1");

    static const char *const unreadable[] = {"botId",   "timestamp",  "status", "fence", "ttlMs",
                                             "foreign", "unreadable", "type",   "raw",   NULL};
    static const char *const foreign[] = {"botId", "timestamp", "status", "fence",
                                          "ttlMs", "foreign",   NULL};
    struct {
        const char *sq, *type, *raw;
        bool never;
    } want[] = {{"A4", "string", "not json at all", true},
                {"A6", "hash", "", true},
                {"1", "string", "v", false}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const cJSON *e = entry(j, "sqClaims", want[i].sq);
        ck_assert_msg(e != NULL, "%s not in status", want[i].sq);
        tc_check_keys(e, unreadable, want[i].sq);
        ck_assert_str_eq(cJSON_GetObjectItem(e, "botId")->valuestring, "?");
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(e, "foreign")));
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(e, "unreadable")));
        ck_assert_str_eq(cJSON_GetObjectItem(e, "type")->valuestring, want[i].type);
        ck_assert_str_eq(cJSON_GetObjectItem(e, "raw")->valuestring, want[i].raw);
        double ttl = cJSON_GetObjectItem(e, "ttlMs")->valuedouble;
        if (want[i].never)
            ck_assert_msg(ttl == -1, "%s ttlMs %f", want[i].sq, ttl);
        else
            ck_assert_msg(ttl > 0 && ttl <= 600000, "%s ttlMs %f", want[i].sq, ttl);
    }
    const cJSON *e = entry(j, "sqClaims", "A8");
    tc_check_keys(e, foreign, "A8");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "botId")->valuestring, "SEEDBOT");
    e = entry(j, "refundReservations", "A7");
    static const char *const rforeign[] = {"botId", "startRow", "rowCount", "status", "timestamp",
                                           "fence", "ttlMs",    "foreign",  NULL};
    tc_check_keys(e, rforeign, "refund A7");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "botId")->valuestring, "OLDBOT");
    ck_assert_int_eq(cJSON_GetObjectItem(e, "startRow")->valueint, 10);
    ck_assert_int_eq(cJSON_GetObjectItem(e, "rowCount")->valueint, 5);
    ck_assert(cJSON_GetObjectItem(e, "ttlMs")->valuedouble == -1);
    cJSON_Delete(j);
}
END_TEST

/* watch (plain lines, and --json) shows every blocker, flagged. */
START_TEST(test_watch_foreign)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    write_foreign(&x);
    tc_lease l;
    claim_ok(&x, "B1", "BOT1", "10m", &l);
    cr_result r;
    /* Plain lines: stdout is a pipe; TERM=dumb as well. */
    const char *env[] = {x.penv, "TERM=dumb", NULL};
    cr_opts od = tc_opts(x.b, env);
    TC_RUNV(&r, &od, 0, "watch", "--count", "1", "--interval", "1m", NULL);
    ck_assert_msg(!memchr(r.out, '\033', r.outlen), "escape sequences in plain output");
    TC_OUT_HAS(&r, "Claims: 5 (4 foreign");
    TC_OUT_HAS(&r, "Refund reservations: 1 (1 foreign");
    /* One line per entry, each with what it is. */
    struct {
        const char *start, *has[3];
    } lines[] = {
        {"  A4 ", {"foreign: not JSON: \"not json at all\"", "never expires", NULL}},
        {"  A6 ", {"foreign: type hash", "never expires", NULL}},
        {"  1 ", {"foreign: not JSON: \"v\"", NULL, NULL}},
        {"  A8 ", {"SEEDBOT", "foreign", NULL}},
        {"  A7 ", {"OLDBOT", "10-14", "never expires"}},
        {"  B1 ", {"BOT1", "CLAIMING", NULL}},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *p = strstr(r.out, lines[i].start);
        ck_assert_msg(p != NULL, "no line for %s in:\n%s", lines[i].start, r.out);
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        for (int k = 0; k < 3 && lines[i].has[k]; k++)
            ck_assert_msg(cr_contains(p, n, lines[i].has[k]), "line %.*s lacks %s", (int)n, p,
                          lines[i].has[k]);
        if (strcmp(lines[i].start, "  B1 ") == 0)
            ck_assert_msg(!cr_contains(p, n, "foreign"), "own claim flagged: %.*s", (int)n, p);
    }
    ck_assert_msg(!cr_contains(r.out, r.outlen, l.token), "token in watch");
    cr_free(&r);

    /* --json: the status JSON, foreign members included. */
    TC_RUNV(&r, &o, 0, "watch", "--json", "--count", "1", "--interval", "1m", NULL);
    tc_check_one_line(&r);
    cJSON *j = tc_json(r.out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sqClaims")), 5);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(entry(j, "sqClaims", "A6"), "unreadable")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(entry(j, "refundReservations", "A7"), "foreign")));
    cJSON_Delete(j);
    cr_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* break                                                                */

START_TEST(test_break_foreign)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    RAW(&x, "+OK", "SET", "sq:A4", "not json at all");
    RAW(&x, "+OK", "SET", "refund:A4", SEED_REFUND);
    cr_result r;

    /* From a pipe without --yes: refused before anything is sent. */
    TC_RUNV(&r, &o, 2, "break", "A4", NULL);
    TC_ERR_HAS(&r, "--yes", "nothing was sent");
    cr_free(&r);
    ck_assert(key_exists(&x, "sq:A4") && key_exists(&x, "refund:A4"));

    /* With --yes: shows what goes, then removes it; no --force needed
     * for another tool's values. */
    TC_RUNV(&r, &o, 0, "break", "A4", "--yes", NULL);
    tc_check_stderr_form(&r);
    ck_assert_str_eq(r.out, "");
    TC_ERR_HAS(&r, "SQ A4 holds:", "claim        a value another tool wrote", "\"not json at all\"",
               "never expires", "reservation  OLDBOT", "rows 10-14 (5)",
               "removed the claim and the reservation");
    cr_free(&r);
    ck_assert(!key_exists(&x, "sq:A4") && !key_exists(&x, "refund:A4"));

    /* A hash, alone: removed; then the SQ can be claimed. */
    RAW(&x, ":1", "HSET", "sq:A6", "f", "v");
    TC_RUNV(&r, &o, 0, "break", "A6", "-y", NULL);
    TC_ERR_HAS(&r, "(type hash)", "reservation  none", "removed the claim");
    cr_free(&r);
    tc_lease l;
    claim_ok(&x, "A6", "BOT2", "10m", &l);

    /* Nothing there: nothing to do. */
    EXIT_SAYING(&o, 0, "nothing to break", "break", "A5", "--yes", NULL);
}
END_TEST

/* A bot's live claim (a kill -9'ed bot's looks the same) needs --force;
 * the bot then learns it lost the SQ. */
START_TEST(test_break_live_claim)
{
    rctx x;
    tc_lease l;
    rctx_claimed(&x, _i, "251019-164rmb", "10m", &l);
    double start = reserve_ok(&x, &l, "5", "51");
    cr_opts o = ropts(&x);
    cr_result r;

    TC_RUNV(&r, &o, 1, "break", "251019-164rmb", "--yes", NULL);
    tc_check_stderr_form(&r);
    char fence[48];
    snprintf(fence, sizeof fence, "fence %llu", (unsigned long long)l.fence);
    TC_ERR_HAS(&r, "held by BOT1", fence, "left", "--force ends it", "nothing was removed");
    tc_check_no_secret(&r, l.token);
    cr_free(&r);
    cJSON *j = status_json(&x);
    ck_assert_ptr_nonnull(entry(j, "sqClaims", "251019-164rmb"));
    ck_assert_ptr_nonnull(entry(j, "refundReservations", "251019-164rmb"));
    cJSON_Delete(j);

    TC_RUNV(&r, &o, 0, "break", "251019-164rmb", "--yes", "--force", NULL);
    char rows[64];
    snprintf(rows, sizeof rows, "rows %.0f-%.0f (5)", start, start + 4);
    TC_ERR_HAS(&r, rows, "removed the claim and the reservation", "exit 3");
    tc_check_no_secret(&r, l.token);
    cr_free(&r);
    j = status_json(&x);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sqClaims")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations")), 0);
    cJSON_Delete(j);

    /* The bot that held it: LOST at its next step. */
    cr_opts ol = ropts(&x);
    ol.input = l.line;
    TC_EXITS(&ol, 3, "renew", NULL);
    TC_EXITS(&ol, 3, "release", NULL);
}
END_TEST

/* On a terminal: break shows, asks, and removes only what it showed.  A
 * bot that claims the SQ while the operator reads keeps its claim. */
START_TEST(test_break_prompt)
{
    rctx x;
    cr_opts ot = tty_open(&x, _i);
    cr_result r;

    /* Answered "n": nothing removed, exit 1. */
    RAW(&x, "+OK", "SET", "sq:C1", "stale value");
    const char *args[] = {"break", "C1", NULL};
    answer_prompt(&ot, args, "n\n", &r, 1);
    TC_OUT_HAS(&r, "\"stale value\"", "not confirmed: nothing was removed");
    cr_free(&r);
    ck_assert(key_exists(&x, "sq:C1"));

    /* Shown, then the stale value goes and a bot claims the SQ before
     * the operator answers "y": the bot's claim is not removed, even
     * with --force (only what was shown is). */
    const char *fargs[] = {"break", "C1", "--force", NULL};
    cr_pty *p = cr_pty_start(&ot, fargs);
    ck_assert_ptr_nonnull(p);
    ck_assert(cr_pty_read_until(p, "[y/N]", 1, 30000));
    RAW(&x, ":1", "DEL", "sq:C1");
    tc_lease l;
    claim_ok(&x, "C1", "BOT2", "10m", &l);
    cr_pty_write(p, "y\n");
    cr_pty_finish(p, &r);
    TC_EXIT(&r, 3);
    TC_OUT_HAS(&r, "changed since it was shown", "nothing was removed");
    cr_free(&r);
    cJSON *j = status_json(&x);
    const cJSON *e = entry(j, "sqClaims", "C1");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "botId")->valuestring, "BOT2");
    cJSON_Delete(j);

    /* "yes" on the live claim with --force: ended. */
    answer_prompt(&ot, fargs, "yes\n", &r, 0);
    TC_OUT_HAS(&r, "end the live claim", "broke SQ C1: removed the claim");
    cr_free(&r);
    ck_assert(!key_exists(&x, "sq:C1"));

    /* Under CI nobody answers, terminal or not: refused at once. */
    RAW(&x, "+OK", "SET", "sq:C2", "stale");
    x.extra[1] = "CI=true";
    cr_opts oc = ropts(&x);
    const char *cargs[] = {"break", "C2", NULL};
    cr_pty_run(&r, &oc, cargs);
    TC_EXIT(&r, 2);
    ck_assert_msg(cr_contains(r.out, r.outlen, "CI is set") &&
                      !cr_contains(r.out, r.outlen, "[y/N]"),
                  "%s", r.out);
    cr_free(&r);
    ck_assert(key_exists(&x, "sq:C2"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* counters                                                             */

static cJSON *counters_json(const rctx *x)
{
    cr_opts o = ropts(x);
    cr_result r;
    TC_RUNV(&r, &o, 0, "counters", "--json", NULL);
    tc_check_one_line(&r);
    cJSON *j = tc_json(r.out);
    static const char *const top[] = {"rowCursor", "fenceCounter", NULL};
    static const char *const keys[] = {"key", "state", "value", "detail", NULL};
    tc_check_keys(j, top, "counters");
    tc_check_keys(cJSON_GetObjectItem(j, "rowCursor"), keys, "rowCursor");
    tc_check_keys(cJSON_GetObjectItem(j, "fenceCounter"), keys, "fenceCounter");
    cr_free(&r);
    return j;
}

static const char *cstate(const cJSON *j, const char *which)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(j, which), "state")->valuestring;
}

static double cvalue(const cJSON *j, const char *which)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, which), "value");
    ck_assert_msg(cJSON_IsNumber(v), "%s value not a number", which);
    return v->valuedouble;
}

/* counters --json shows the row cursor at want. */
static void assert_cursor(const rctx *x, double want)
{
    cJSON *j = counters_json(x);
    double v = cvalue(j, "rowCursor");
    cJSON_Delete(j);
    ck_assert_msg(v == want, "row cursor %.0f, want %.0f", v, want);
}

/* The story: a hint typo moves the cursor for good; counters
 * shows it; --raise-cursor never moves it down. */
START_TEST(test_counters_hint_typo)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    cr_result r;

    /* A fresh prefix: both missing, with their key names. */
    cJSON *j = counters_json(&x);
    ck_assert_str_eq(cstate(j, "rowCursor"), "missing");
    ck_assert_str_eq(cstate(j, "fenceCounter"), "missing");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rowCursor"), "value")));
    char want[128];
    snprintf(want, sizeof want, "%ssqclaim:rowcursor", x.prefix);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rowCursor"), "key")->valuestring,
                     want);
    cJSON_Delete(j);

    tc_lease l;
    claim_ok(&x, "T1", "BOT1", "10m", &l);
    double start = reserve_ok(&x, &l, "5", "51000000"); /* meant 51 */
    ck_assert(start == 51000000);

    TC_RUNV(&r, &o, 0, "counters", NULL);
    ck_assert_str_eq(r.err, "");
    TC_OUT_HAS(&r, "row cursor:    51000005 (key ", want, "fence counter: ");
    cr_free(&r);
    j = counters_json(&x);
    ck_assert_str_eq(cstate(j, "rowCursor"), "ok");
    ck_assert(cvalue(j, "rowCursor") == 51000005);
    ck_assert_str_eq(cstate(j, "fenceCounter"), "ok");
    ck_assert(cvalue(j, "fenceCounter") >= (double)l.fence);
    cJSON_Delete(j);

    /* Never down: exit 1, unchanged. */
    TC_RUNV(&r, &o, 1, "counters", "--raise-cursor", "56", "--yes", NULL);
    TC_ERR_HAS(&r, "at 51000005, above 56", "only moves up");
    cr_free(&r);
    assert_cursor(&x, 51000005);

    /* Without --yes from a pipe: refused before anything is sent. */
    TC_EXITS(&o, 2, "counters", "--raise-cursor", "60000000", NULL);
    assert_cursor(&x, 51000005);

    /* Up: moved, and the next reservation starts there. */
    TC_RUNV(&r, &o, 0, "counters", "--raise-cursor", "60000000", "--yes", NULL);
    TC_ERR_HAS(&r, "from 51000005 to 60000000");
    TC_OUT_HAS(&r, "row cursor:    60000000");
    cr_free(&r);
    tc_lease l2;
    claim_ok(&x, "T2", "BOT2", "10m", &l2);
    ck_assert(reserve_ok(&x, &l2, "3", NULL) == 60000000);
}
END_TEST

/* A counter key of the wrong type is shown INVALID with the key and what
 * it holds; raising the cursor then fails (exit 5) naming the key. */
START_TEST(test_counters_invalid)
{
    rctx x;
    cr_opts o = rctx_open(&x, _i);
    cr_result r;
    RAW(&x, ":1", "HSET", "sqclaim:rowcursor", "f", "v");
    RAW(&x, "+OK", "SET", "sqclaim:fence", "abc");
    TC_RUNV(&r, &o, 0, "counters", NULL);
    TC_OUT_HAS(&r, "row cursor:    INVALID (key ", "sqclaim:rowcursor holds a hash",
               "fence counter: INVALID (key ", "holds \"abc\"");
    cr_free(&r);
    cJSON *j = counters_json(&x);
    ck_assert_str_eq(cstate(j, "rowCursor"), "invalid");
    ck_assert_str_eq(cstate(j, "fenceCounter"), "invalid");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fenceCounter"), "detail")->valuestring,
        "\"abc\"");
    cJSON_Delete(j);
    EXIT_SAYING(&o, 5, "sqclaim:rowcursor", "counters", "--raise-cursor", "100", "--yes", NULL);
}
END_TEST

/* On a terminal, --raise-cursor asks first. */
START_TEST(test_counters_prompt)
{
    rctx x;
    cr_opts ot = tty_open(&x, _i);
    cr_result r;
    const char *args[] = {"counters", "--raise-cursor", "700", NULL};
    answer_prompt(&ot, args, "\n", &r, 1); /* the default: no */
    TC_OUT_HAS(&r, "set the missing row cursor", "never moves back down", "unchanged");
    cr_free(&r);
    cJSON *j = counters_json(&x);
    ck_assert_str_eq(cstate(j, "rowCursor"), "missing");
    cJSON_Delete(j);

    answer_prompt(&ot, args, "y\n", &r, 0);
    cr_free(&r);
    assert_cursor(&x, 700);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Without a server: usage, help                                        */

START_TEST(test_operator_usage)
{
    cr_result r;
    struct {
        const char *const args[6];
        const char *says;
    } bad[] = {
        {{"break", NULL}, "break needs the SQ"},
        {{"break", "a:b", "--yes", NULL}, "invalid SQ id"},
        {{"break", "A1", "A2", "--yes", NULL}, "one SQ"},
        {{"claim", "A1", "--bot", "B", "--force", NULL}, "does not take option --force"},
        {{"counters", "A1", NULL}, "no arguments"},
        {{"counters", "--raise-cursor", "0", "--yes", NULL}, "out of range"},
        {{"counters", "--raise-cursor", "12abc", "--yes", NULL}, "not a whole number"},
        {{"counters", "--raise-cursor", "1000000000000000", "--yes", NULL}, "out of range"},
        {{"counters", "--yes", NULL}, "--yes confirms --raise-cursor"},
        {{"break", "A1", "--raise-cursor", "5", NULL}, "does not take option"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_run(&r, NULL, bad[i].args);
        TC_EXIT(&r, 2);
        ck_assert_msg(cr_contains(r.err, r.errlen, bad[i].says), "%s: %s", bad[i].args[0], r.err);
        ck_assert_str_eq(r.out, "");
        cr_free(&r);
    }

    /* memory: nothing is there in a new process, and nothing is asked. */
    EXIT_SAYING(NULL, 0, "nothing to break", "break", "A1", "--yes", "-q", NULL);
    TC_RUNV(&r, NULL, 0, "counters", NULL);
    ck_assert(cr_contains(r.out, r.outlen, "row cursor:"));
    ck_assert(cr_contains(r.out, r.outlen, "fence counter:"));
    cr_free(&r);

    /* Help: the program's lists them, each has its own. */
    TC_RUNV(&r, NULL, 0, "--help", NULL);
    ck_assert(cr_contains(r.out, r.outlen, "  break SQ [--force] [--yes]"));
    ck_assert(cr_contains(r.out, r.outlen, "  counters [--json] [--raise-cursor ROW [--yes]]"));
    ck_assert(cr_contains(r.out, r.outlen, "Full documentation: docs/cli.md."));
    cr_free(&r);
    TC_RUNV(&r, NULL, 0, "help", "break", NULL);
    ck_assert(cr_contains(r.out, r.outlen, "--force"));
    ck_assert(cr_contains(r.out, r.outlen, "Confirmation:"));
    cr_free(&r);
    TC_RUNV(&r, NULL, 0, "counters", "--help", NULL);
    ck_assert(cr_contains(r.out, r.outlen, "--raise-cursor ROW"));
    cr_free(&r);
}
END_TEST

Suite *tc_operator_suite(void)
{
    Suite *s = suite_create("cli-operator");
    TCASE_ADD(s, ((tcase_spec){.name = "usage"}), test_operator_usage);
    if (tc_nbackends)
        TC_LOOP_CASE(s, ((tcase_spec){.name = "operator", .timeout = 120}), test_busy_names_foreign,
                     test_status_foreign, test_foreign_secret, test_watch_foreign,
                     test_break_foreign, test_break_live_claim, test_break_prompt,
                     test_counters_hint_typo, test_counters_invalid, test_counters_prompt);
    return s;
}
