/* test_basic.c — what needs no shared store: help, version, usage errors,
 * validation of every input, lease parsing, the status shape and exit
 * codes on the memory backend, and the unconfigured-KV message. */
#include "tcli.h"
#include "tcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T32 "0123456789abcdef0123456789abcdef"
#define GOOD_LEASE                                                                                 \
    "{\"sq\":\"X1\",\"bot\":\"BOT1\",\"token\":\"" T32 "\",\"fence\":3,\"ttlMs\":600000}"

static const char *const commands[] = {"claim",    "claim-first", "renew",  "release",
                                       "reserve",  "finish",      "status", "watch",
                                       "adapters", "backends",    "help",   NULL};

/* ------------------------------------------------------------------ */
/* help, version, adapters                                              */

START_TEST(test_version)
{
    cr_result r;
    TC_RUNV(&r, NULL, 0, "--version", NULL);
    ck_assert_msg(strncmp(r.out, "sqclaim " SQCLAIM_VERSION " (", 10) == 0, "%s", r.out);
    ck_assert(cr_contains(r.out, r.outlen, "memory"));
    tc_check_one_line(&r);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);
    TC_EXITS(NULL, 0, "-V", NULL);
}
END_TEST

START_TEST(test_help_program)
{
    cr_result a, b, c;
    cr_runv(&a, NULL, "--help", NULL);
    cr_runv(&b, NULL, "-h", NULL);
    cr_runv(&c, NULL, "help", NULL);
    TC_EXIT(&a, 0);
    TC_EXIT(&b, 0);
    TC_EXIT(&c, 0);
    ck_assert_str_eq(a.out, b.out);
    ck_assert_str_eq(a.out, c.out);
    ck_assert_str_eq(a.err, "");
    ck_assert(strncmp(a.out, "Usage: sqclaim ", 15) == 0);
    for (size_t i = 0; commands[i]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "  %s", commands[i]);
        if (strcmp(commands[i], "adapters") == 0) /* listed as the old name of backends */
            snprintf(needle, sizeof needle, "old name: adapters");
        ck_assert_msg(cr_contains(a.out, a.outlen, needle), "help lacks %s", commands[i]);
    }
    static const char *const musts[] = {"Exit status",
                                        "  0  done",
                                        "  1  busy",
                                        "  2  usage",
                                        "  3  lost",
                                        "  4  configuration",
                                        "  5  failure",
                                        "REDIS_URL",
                                        "KV_REST_API_URL",
                                        "KV_REST_API_TOKEN",
                                        "SQCLAIM_ADAPTER",
                                        "--adapter",
                                        "--redis-url",
                                        "--prefix",
                                        "--timeout",
                                        "memory keeps claims",
                                        NULL};
    for (size_t i = 0; musts[i]; i++)
        ck_assert_msg(cr_contains(a.out, a.outlen, musts[i]), "help lacks \"%s\"", musts[i]);
    cr_free(&a);
    cr_free(&b);
    cr_free(&c);
}
END_TEST

START_TEST(test_help_commands)
{
    for (size_t i = 0; commands[i]; i++) {
        cr_result a, b, c;
        cr_runv(&a, NULL, commands[i], "--help", NULL);
        cr_runv(&b, NULL, "help", commands[i], NULL);
        cr_runv(&c, NULL, commands[i], "-h", NULL);
        TC_EXIT(&a, 0);
        TC_EXIT(&b, 0);
        TC_EXIT(&c, 0);
        char usage[64];
        /* "adapters" is the old name of "backends": the same help. */
        snprintf(usage, sizeof usage, "Usage: sqclaim %s",
                 strcmp(commands[i], "adapters") == 0 ? "backends" : commands[i]);
        ck_assert_msg(strncmp(a.out, usage, strlen(usage)) == 0, "%s --help: %s", commands[i],
                      a.out);
        ck_assert_str_eq(a.out, b.out);
        ck_assert_str_eq(a.out, c.out);
        ck_assert_str_eq(a.err, "");
        ck_assert_str_eq(b.err, "");
        bool needs_exit = strcmp(commands[i], "adapters") != 0 &&
                          strcmp(commands[i], "backends") != 0 && strcmp(commands[i], "help") != 0;
        if (needs_exit)
            ck_assert_msg(cr_contains(a.out, a.outlen, "Exit status"), "%s", commands[i]);
        cr_free(&a);
        cr_free(&b);
        cr_free(&c);
    }
    /* --help wins over missing arguments, wherever it is. */
    cr_result r;
    TC_EXITS(NULL, 0, "claim", "--help", NULL);
    TC_RUNV(&r, NULL, 0, "--adapter", "redis", "reserve", "X", "--help", NULL);
    ck_assert(strncmp(r.out, "Usage: sqclaim reserve", 22) == 0);
    cr_free(&r);
}
END_TEST

START_TEST(test_no_arguments)
{
    cr_result r;
    TC_RUNV(&r, NULL, 2, NULL);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "Usage: sqclaim"));
    cr_free(&r);
}
END_TEST

START_TEST(test_adapters)
{
    char want[256] = "";
    for (const char *const *n = sqclaim_adapters(); *n; n++) {
        strcat(want, *n);
        strcat(want, "\n");
    }
    ck_assert(strncmp(want, "memory\n", 7) == 0);
    cr_result a, b;
    cr_runv(&a, NULL, "adapters", NULL);
    cr_runv(&b, NULL, "--list-adapters", NULL);
    TC_EXIT(&a, 0);
    TC_EXIT(&b, 0);
    ck_assert_str_eq(a.out, want);
    ck_assert_str_eq(b.out, want);
    ck_assert_str_eq(a.err, "");
    cr_free(&a);
    cr_free(&b);
    /* "backend" is the name; the old spellings stay. */
    cr_runv(&a, NULL, "backends", NULL);
    cr_runv(&b, NULL, "--list-backends", NULL);
    TC_EXIT(&a, 0);
    TC_EXIT(&b, 0);
    ck_assert_str_eq(a.out, want);
    ck_assert_str_eq(b.out, want);
    cr_free(&a);
    cr_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Usage errors and invalid input: exit 2, a clear message, nothing on
 * stdout, nothing sent. */

typedef struct usage_case {
    const char *args[12];
    const char *input;  /* stdin (NULL: empty) */
    const char *expect; /* in stderr */
} usage_case;

static const usage_case usage_cases[] = {
    {{"claim", NULL}, NULL, "claim needs the SQ"},
    {{"claim", "bad:sq", "--bot", "B", NULL}, NULL, "invalid SQ id \"bad:sq\""},
    {{"claim", "*", "--bot", "B", NULL}, NULL, "invalid SQ id"},
    {{"claim", "a b", "--bot", "B", NULL}, NULL, "invalid SQ id"},
    {{"claim", "--bot", "B", "--", "-x", NULL}, NULL, "must not start with '-'"},
    {{"claim", "sq:251019-164rmb", "--bot", "B", NULL}, NULL, "invalid SQ id"},
    {{"claim", "251019-164rmb-and-a-very-long-tail-that-goes-past-sixty-four-bytes-x", "--bot", "B",
      NULL},
     NULL,
     "at most 64"},
    {{"claim", "X1", NULL}, NULL, "needs --bot BOT"},
    {{"claim", "X1", "--bot", "", NULL}, NULL, "invalid bot id: empty"},
    {{"claim", "X1", "--bot", "B\x01", NULL}, NULL, "control character"},
    {{"claim", "X1", "--bot", NULL}, NULL, "option --bot needs a value"},
    {{"claim", "X1", "--bot", "B", "--ttl", "10x", NULL}, NULL, "--ttl: invalid duration \"10x\""},
    {{"claim", "X1", "--bot", "B", "--ttl", "abc", NULL}, NULL, "--ttl: invalid duration"},
    {{"claim", "X1", "--bot", "B", "--ttl", "", NULL}, NULL, "--ttl: invalid duration: empty"},
    {{"claim", "X1", "--bot", "B", "--ttl", "0", NULL}, NULL, "out of range"},
    {{"claim", "X1", "--bot", "B", "--ttl", "25h", NULL}, NULL, "out of range"},
    {{"claim", "X1", "--bot", "B", "--ttl", "-5s", NULL}, NULL, "invalid duration"},
    /* A bare number has no unit: refused, with the likely meaning (issue 9.13). */
    {{"claim", "X1", "--bot", "B", "--ttl", "600", NULL}, NULL, "--ttl: invalid duration \"600\""},
    {{"claim", "X1", "--bot", "B", "--ttl", "600", NULL}, NULL, "did you mean 600s?"},
    {{"claim", "X1", "--bot", "B", "--ttl", "1.5", NULL}, NULL, "did you mean 1.5s?"},
    {{"status", "--timeout", "5", NULL}, NULL, "--timeout: invalid duration \"5\": no unit"},
    {{"watch", "--interval", "500", NULL}, NULL, "did you mean 500s?"},
    {{"claim", "X1", "--bot", "B", "--ttl", "10500us", NULL}, NULL, "whole number of milliseconds"},
    {{"claim", "X1", "--bot", "B", "--ttl", "1.s", NULL}, NULL, "--ttl: invalid duration"},
    {{"claim", "X1", "--bot", "B", "--ttl", ".5s", NULL}, NULL, "--ttl: invalid duration"},
    /* An option given twice is a mistake, whichever value was meant (9.15). */
    {{"claim", "X1", "--bot", "BOT1", "--bot", "BOT2", NULL}, NULL, "option --bot given twice"},
    {{"claim", "X1", "-b", "BOT1", "--bot=BOT2", NULL}, NULL, "option --bot given twice"},
    {{"claim", "X1", "--bot", "B", "--ttl", "1m", "--ttl", "2m", NULL}, NULL, "--ttl given twice"},
    {{"release", "--lease=" GOOD_LEASE, "--lease=" GOOD_LEASE, NULL},
     NULL,
     "--lease given twice\n"},
    {{"--timeout", "1s", "status", "--timeout", "2s", NULL}, NULL, "--timeout given twice"},
    /* An SQ that looks like an option: the message names the rule. */
    {{"claim", "--", "-abc", "--bot", "B", NULL}, NULL, "invalid SQ id \"-abc\": must not start"},
    {{"claim", "-abc", "--bot", "B", NULL}, NULL, "SQ ids must not start with '-'"},
    {{"claim-first", "A1", "--", "-abc", NULL}, NULL, "invalid SQ id \"-abc\": must not start"},
    {{"claim", "X1", "X2", "--bot", "B", NULL}, NULL, "claim takes one SQ"},
    {{"claim", "X1", "--bot", "B", "--rows", "5", NULL}, NULL, "claim does not take option --rows"},
    {{"claim", "X1", "--bot", "B", "-z", NULL}, NULL, "unknown option: -z"},
    {{"claim", "X1", "--bot", "B", "--nope", NULL}, NULL, "unknown option: --nope"},
    {{"claim", "X1", "--bot=B", "--quiet=yes", NULL}, NULL, "--quiet takes no value"},
    {{"claim-first", "--bot", "B", NULL}, NULL, "at least one SQ"},
    {{"claim-first", "A1", "b:2", "--bot", "B", NULL}, NULL, "invalid SQ id \"b:2\""},
    /* An option's value is never echoed: it may be a secret. */
    {{"claim", "X1", "--bot", "B", "--token=" T32, NULL},
     NULL,
     "claim does not take option --token\n"},
    {{"status", "--lease=" GOOD_LEASE, NULL}, NULL, "status does not take option --lease\n"},
    {{"--lease=" GOOD_LEASE, "release", NULL}, NULL, "option --lease belongs after a command"},
    {{"--tokn=" T32, "status", NULL}, NULL, "unknown option: --tokn\n"},
    {{"release", "X1", "--tokens=" T32, NULL}, NULL, "unknown option: --tokens\n"},
    {{"frob", NULL}, NULL, "unknown command: frob"},
    {{"--frob", NULL}, NULL, "unknown option: --frob"},
    {{"--bot", "B", "claim", "X1", NULL}, NULL, "option --bot belongs after a command"},
    {{"status", "--frob", NULL}, NULL, "unknown option: --frob"},
    {{"status", "extra", NULL}, NULL, "status takes no arguments"},
    {{"status", "--timeout", "0", NULL}, NULL, "--timeout"},
    {{"status", "--timeout", "soon", NULL}, NULL, "--timeout: invalid duration"},
    {{"status", "--timeout", "11m", NULL}, NULL, "out of range"},
    {{"adapters", "x", NULL}, NULL, "adapters takes no arguments"},
    {{"help", "frob", NULL}, NULL, "no such command: frob"},
    /* The lease: missing, garbage, ambiguous. */
    {{"renew", NULL}, NULL, "no lease given"},
    {{"release", NULL}, "   \n", "no lease given"},
    {{"release", NULL}, "garbage", "not valid JSON"},
    {{"release", NULL}, "[1,2]", "must be a JSON object"},
    {{"release", NULL}, "{\"sq\":\"X1\"}", "\"sq\" and \"token\""},
    {{"release", NULL}, "{\"sq\":\"X1\",\"token\":\"abc\"}", "token"},
    {{"release", NULL}, "{\"sq\":\"bad:sq\",\"token\":\"" T32 "\"}", "invalid SQ id"},
    {{"release", NULL}, "{\"sq\":\"X1\",\"token\":\"" T32 "\",\"fence\":-1}", "fence"},
    {{"release", "--lease", "nope", NULL}, NULL, "not valid JSON"},
    {{"release", "--lease", "", NULL}, NULL, "no lease given"},
    {{"release", "--lease-file", "/nonexistent/lease.json", NULL}, NULL, "cannot open"},
    {{"release", "--lease-file", NULL}, NULL, "needs a value"},
    {{"release", "--token", T32, NULL}, NULL, "--token needs the SQ"},
    {{"release", "X1", "--token", "XYZ", NULL}, NULL, "32 lowercase hex digits"},
    {{"release", "X1", "--token", "0123456789ABCDEF0123456789ABCDEF", NULL}, NULL, "lowercase hex"},
    {{"release", "X1", "--token", T32, "--lease", GOOD_LEASE, NULL}, NULL, "one way only"},
    {{"release", "--lease", GOOD_LEASE, "--lease-file", "/dev/null", NULL}, NULL, "one way only"},
    {{"release", "Y1", NULL}, GOOD_LEASE, "the lease is for SQ X1, not Y1"},
    {{"release", "X1", "Y1", NULL}, GOOD_LEASE, "at most one SQ"},
    {{"release", "--bot", "BOT2", NULL}, GOOD_LEASE, "does not match"},
    {{"release", "--ttl", "1m", NULL}, GOOD_LEASE, "release does not take option --ttl"},
    {{"renew", "X1", "--token", T32, NULL}, NULL, "also needs --bot"},
    {{"renew", "--ttl", "5ms", NULL}, GOOD_LEASE, "out of range"},
    {{"renew", "--ttl", "5", NULL}, GOOD_LEASE, "did you mean 5s?"},
    {{"renew", "--ttl", "x", NULL}, GOOD_LEASE, "--ttl: invalid duration"},
    {{"renew", NULL}, "{\"sq\":\"X1\",\"token\":\"" T32 "\",\"bot\":\"\"}", "bot"},
    /* Rows. */
    {{"reserve", NULL}, GOOD_LEASE, "reserve needs --rows N"},
    {{"reserve", "--rows", "0", NULL}, GOOD_LEASE, "--rows: 0 is out of range"},
    {{"reserve", "--rows", "abc", NULL}, GOOD_LEASE, "not a whole number"},
    {{"reserve", "--rows", "-5", NULL}, GOOD_LEASE, "not a whole number"},
    {{"reserve", "--rows", "5x", NULL}, GOOD_LEASE, "not a whole number"},
    {{"reserve", "--rows", "", NULL}, GOOD_LEASE, "--rows: empty"},
    {{"reserve", "--rows", "100001", NULL}, GOOD_LEASE, "out of range"},
    {{"reserve", "--rows", "99999999999999999999999", NULL}, GOOD_LEASE, "too large"},
    {{"reserve", "--rows", "5", "--hint", "0", NULL}, GOOD_LEASE, "--hint: 0 is out of range"},
    {{"reserve", "--rows", "5", "--hint", "x", NULL}, GOOD_LEASE, "--hint"},
    {{"reserve", "X1", "--token", T32, "--rows", "5", NULL}, NULL, "also needs --bot"},
    {{"reserve", "--rows", "5", NULL}, "{\"sq\":\"X1\",\"token\":\"" T32 "\"}", "no \"bot\""},
    {{"finish", "--rows", "5", NULL}, GOOD_LEASE, "finish does not take option --rows"},
    {{"finish", "--range", "51-5", NULL}, GOOD_LEASE, "is not START+COUNT"},
    {{"finish", "--range", "51+100001", NULL}, GOOD_LEASE, "--range COUNT"},
    /* watch */
    {{"watch", "--interval", "1ms", NULL}, NULL, "out of range"},
    {{"watch", "--interval", "x", NULL}, NULL, "--interval: invalid duration"},
    {{"watch", "--count", "0", NULL}, NULL, "--count: 0 is out of range"},
    {{"watch", "--count", "two", NULL}, NULL, "not a whole number"},
    {{"watch", "now", NULL}, NULL, "watch takes no arguments"},
};
#define NUSAGE ((int)(sizeof usage_cases / sizeof usage_cases[0]))

START_TEST(test_usage_error)
{
    const usage_case *u = &usage_cases[_i];
    cr_opts o;
    memset(&o, 0, sizeof o);
    o.input = u->input;
    cr_result r;
    cr_run(&r, &o, u->args);
    char shown[256] = "";
    for (size_t i = 0; u->args[i]; i++) {
        strncat(shown, u->args[i], 60);
        strcat(shown, " ");
    }
    ck_assert_msg(r.code == 2, "[%s] exit %d, expected 2\nstdout: %s\nstderr: %s", shown, r.code,
                  r.out, r.err);
    ck_assert_msg(r.outlen == 0, "[%s] stdout not empty: %s", shown, r.out);
    ck_assert_msg(cr_contains(r.err, r.errlen, u->expect), "[%s] stderr lacks \"%s\":\n%s", shown,
                  u->expect, r.err);
    ck_assert_msg(cr_contains(r.err, r.errlen, "Try 'sqclaim"), "[%s] no hint: %s", shown, r.err);
    tc_check_stderr_form(&r);
    /* A token given as input is never echoed, not even in part. */
    tc_check_no_secret(&r, "0123456789abcdef");
    cr_free(&r);
}
END_TEST

START_TEST(test_lease_too_large)
{
    size_t n = 70000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, GOOD_LEASE, strlen(GOOD_LEASE));
    big[n] = '\0';
    cr_opts o;
    memset(&o, 0, sizeof o);
    o.input = big;
    cr_result r;
    TC_RUNV(&r, &o, 2, "release", NULL);
    ck_assert(cr_contains(r.err, r.errlen, "more than"));
    cr_free(&r);
    free(big);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The memory backend: output shapes and exit codes                     */

START_TEST(test_memory_claim)
{
    cr_result r;
    tc_lease l;
    TC_RUNV(&r, NULL, 0, "claim", "251019-164rmb", "--bot", "BOT1", NULL);
    tc_check_lease(r.out, "251019-164rmb", "BOT1", 600000, &l);
    /* The memory backend warns that the claim dies with the process. */
    ck_assert(cr_contains(r.err, r.errlen, "sqclaim: note: the memory backend"));
    tc_check_stderr_form(&r);
    cr_free(&r);

    static const struct {
        const char *ttl;
        int64_t ms;
    } ttls[] = {{"10m", 600000}, {"600s", 600000}, {"250ms", 250}, {"1500ms", 1500}, {"1.5s", 1500},
                {"0.5m", 30000}, {"1h", 3600000},  {"10ms", 10},   {"24h", 86400000}};
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        TC_RUNV(&r, NULL, 0, "-q", "claim", "X1", "--bot", "BOT1", "--ttl", ttls[i].ttl, NULL);
        tc_check_lease(r.out, "X1", "BOT1", ttls[i].ms, &l);
        ck_assert_str_eq(r.err, ""); /* --quiet */
        cr_free(&r);
    }
    /* Option spellings and places. */
    const char *const forms[][8] = {
        {"claim", "X1", "-b", "BOT1", NULL},
        {"claim", "X1", "-bBOT1", NULL},
        {"claim", "--bot=BOT1", "X1", NULL},
        {"--adapter", "memory", "claim", "--bot", "BOT1", "--", "X1", NULL},
        {"claim", "X1", "--bot", "BOT1", "--adapter=memory", "--quiet", NULL},
        {"--backend", "memory", "claim", "--bot", "BOT1", "X1", "--quiet", NULL},
        {"claim", "X1", "--bot", "BOT1", "--backend=memory", "--quiet", NULL},
        {"--quiet", "claim", "X1", "--bot", "BOT1", "--ttl=10m", NULL},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        cr_run(&r, NULL, forms[i]);
        TC_EXIT(&r, 0);
        tc_check_lease(r.out, "X1", "BOT1", -1, &l);
        cr_free(&r);
    }
    /* A bot id with UTF-8 and quotes stays one line of valid JSON. */
    TC_RUNV(&r, NULL, 0, "-q", "claim", "X1", "--bot", "Bøt \"7\"", NULL);
    tc_check_lease(r.out, "X1", "Bøt \"7\"", -1, &l);
    cr_free(&r);
}
END_TEST

START_TEST(test_memory_claim_first)
{
    cr_result r;
    tc_lease l;
    TC_RUNV(&r, NULL, 0, "-q", "claim-first", "A1", "B2", "C3", "--bot", "BOT2", NULL);
    tc_check_lease(r.out, "A1", "BOT2", 600000, &l);
    cr_free(&r);
    /* 257 candidates: more than one request may carry. */
    const char *args[300];
    char names[260][8];
    size_t n = 0;
    args[n++] = "claim-first";
    for (int i = 0; i < 257; i++) {
        snprintf(names[i], sizeof names[i], "S%d", i);
        args[n++] = names[i];
    }
    args[n++] = "--bot";
    args[n++] = "B";
    args[n] = NULL;
    cr_run(&r, NULL, args);
    TC_EXIT(&r, 2);
    ck_assert(cr_contains(r.err, r.errlen, "at most 256"));
    cr_free(&r);
}
END_TEST

/* A lease from one run means nothing to the next with the memory backend:
 * each sqclaim process has its own, empty store.  Every lease command
 * therefore says LOST (3) -- which also shows the lease was accepted from
 * each source. */
START_TEST(test_memory_lease_is_per_process)
{
    cr_result c;
    TC_RUNV(&c, NULL, 0, "-q", "claim", "X1", "--bot", "BOT1", NULL);
    tc_lease l;
    tc_check_lease(c.out, "X1", "BOT1", -1, &l);

    char path[] = "/tmp/sqclaim-cli-lease-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, c.out, c.outlen) == (ssize_t)c.outlen);
    close(fd);

    static const char *const cmds[][6] = {
        {"release", NULL},
        {"renew", NULL},
        {"finish", NULL},
        {"reserve", "--rows", "5", NULL},
    };
    for (size_t i = 0; i < 4; i++) {
        const char *const *cmd = cmds[i];
        /* stdin by default, --lease -, --lease JSON, --lease-file, --token */
        for (int way = 0; way < 5; way++) {
            const char *args[16];
            size_t n = 0;
            for (size_t k = 0; cmd[k]; k++)
                args[n++] = cmd[k];
            cr_opts o;
            memset(&o, 0, sizeof o);
            switch (way) {
            case 0: o.input = c.out; break;
            case 1:
                args[n++] = "--lease";
                args[n++] = "-";
                o.input = c.out;
                break;
            case 2:
                args[n++] = "--lease";
                args[n++] = l.line;
                break;
            case 3:
                args[n++] = "--lease-file";
                args[n++] = path;
                break;
            case 4:
                args[n++] = "X1";
                args[n++] = "--token";
                args[n++] = l.token;
                args[n++] = "--bot";
                args[n++] = "BOT1";
                break;
            }
            args[n] = NULL;
            cr_result r;
            cr_run(&r, &o, args);
            ck_assert_msg(r.code == 3, "%s way %d: exit %d\n%s", cmd[0], way, r.code, r.err);
            ck_assert_str_eq(r.out, "");
            ck_assert_msg(cr_contains(r.err, r.errlen, "memory backend"), "%s", r.err);
            ck_assert_msg(cr_contains(r.err, r.errlen, "lost") ||
                              cr_contains(r.err, r.errlen, "no open reservation"),
                          "%s", r.err);
            tc_check_stderr_form(&r);
            tc_check_no_secret(&r, l.token);
            cr_free(&r);
        }
    }
    unlink(path);
    cr_free(&c);
}
END_TEST

START_TEST(test_memory_status)
{
    cr_result a, b;
    TC_RUNV(&a, NULL, 0, "status", NULL);
    tc_check_one_line(&a);
    ck_assert_str_eq(a.err, "");
    cJSON *ja = tc_check_status(a.out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(ja, "sqClaims")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(ja, "refundReservations")), 0);
    /* The seed's example, byte for byte up to the timestamp. */
    static const char head[] =
        "{\"success\":true,\"sqClaims\":{},\"refundReservations\":{},\"timestamp\":\"";
    static const char tail[] = "\",\"kvConfigured\":true}\n";
    ck_assert_msg(strncmp(a.out, head, strlen(head)) == 0, "%s", a.out);
    ck_assert_uint_eq(a.outlen, strlen(head) + SQCLAIM_TIMESTAMP_LEN + strlen(tail));
    ck_assert_str_eq(a.out + strlen(head) + SQCLAIM_TIMESTAMP_LEN, tail);

    TC_RUNV(&b, NULL, 0, "status", "--pretty", NULL);
    ck_assert(cr_count(b.out, b.outlen, "\n") > 3);
    cJSON *jb = tc_check_status(b.out);
    /* Same JSON but for the snapshot's time. */
    cJSON_ReplaceItemInObject(ja, "timestamp", cJSON_CreateString("t"));
    cJSON_ReplaceItemInObject(jb, "timestamp", cJSON_CreateString("t"));
    ck_assert(cJSON_Compare(ja, jb, 1));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cr_free(&a);
    cr_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Configuration errors                                                 */

#define KV_JSON "{\"success\":false,\"error\":\"" SQCLAIM_KV_NOT_CONFIGURED "\"}\n"

START_TEST(test_kv_not_configured)
{
    cr_result r;
    if (!tc_built("vercel")) {
        TC_RUNV(&r, NULL, 4, "status", "--adapter", "vercel", NULL);
        ck_assert(cr_contains(r.out, r.outlen, "not built"));
        cr_free(&r);
        return;
    }
    /* KV_* and UPSTASH_* are unset by the runner. */
    TC_RUNV(&r, NULL, 4, "status", "--adapter", "vercel", NULL);
    ck_assert_str_eq(r.out, KV_JSON);
    ck_assert_str_eq(r.err, "sqclaim: " SQCLAIM_KV_NOT_CONFIGURED "\n");
    cr_free(&r);

    static const char *const env_adapter[] = {"SQCLAIM_ADAPTER=vercel", NULL};
    cr_opts o = tc_opts(NULL, env_adapter);
    TC_RUNV(&r, &o, 4, "status", NULL);
    ck_assert_str_eq(r.out, KV_JSON);
    cr_free(&r);

    /* A URL without a token is still "not configured", and the seed's
     * JSON names the missing variable. */
    static const char *const half[] = {"SQCLAIM_ADAPTER=vercel",
                                       "KV_REST_API_URL=http://127.0.0.1:1", NULL};
    o = tc_opts(NULL, half);
    TC_RUNV(&r, &o, 4, "status", NULL);
    static const char half_json[] = "{\"success\":false,\"error\":\"KV not configured: "
                                    "KV_REST_API_URL is set but KV_REST_API_TOKEN is not.";
    ck_assert_msg(strncmp(r.out, half_json, sizeof half_json - 1) == 0, "%s", r.out);
    cr_free(&r);

    /* --pretty: the same JSON, indented. */
    TC_RUNV(&r, NULL, 4, "status", "--pretty", "--adapter", "vercel", NULL);
    cJSON *j = tc_json(r.out);
    cJSON *want = cJSON_Parse(KV_JSON);
    ck_assert(cJSON_Compare(j, want, 1));
    static const char *const keys[] = {"success", "error", NULL};
    tc_check_keys(j, keys, "error JSON");
    cJSON_Delete(j);
    cJSON_Delete(want);
    cr_free(&r);

    /* Other commands: the message on stderr, nothing on stdout. */
    static const char *const cmds[][6] = {{"claim", "X1", "--bot", "B", NULL},
                                          {"claim-first", "X1", "X2", "--bot", "B", NULL},
                                          {"watch", "--count", "1", NULL}};
    for (size_t i = 0; i < 3; i++) {
        o = tc_opts(NULL, env_adapter);
        cr_run(&r, &o, cmds[i]);
        TC_EXIT(&r, 4);
        ck_assert_str_eq(r.out, "");
        ck_assert_str_eq(r.err, "sqclaim: " SQCLAIM_KV_NOT_CONFIGURED "\n");
        cr_free(&r);
    }
    o = tc_opts(NULL, env_adapter);
    o.input = GOOD_LEASE;
    TC_RUNV(&r, &o, 4, "release", NULL);
    ck_assert_str_eq(r.err, "sqclaim: " SQCLAIM_KV_NOT_CONFIGURED "\n");
    cr_free(&r);
}
END_TEST

START_TEST(test_unknown_adapter)
{
    cr_result r;
    TC_RUNV(&r, NULL, 4, "status", "--adapter", "nope", NULL);
    cJSON *j = tc_json(r.out);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")));
    ck_assert(cr_contains(r.out, r.outlen, "unknown backend"));
    cJSON_Delete(j);
    tc_check_stderr_form(&r);
    cr_free(&r);

    static const char *const env[] = {"SQCLAIM_ADAPTER=nope", NULL};
    cr_opts o = tc_opts(NULL, env);
    TC_RUNV(&r, &o, 4, "claim", "X1", "--bot", "B", NULL);
    ck_assert_str_eq(r.out, "");
    ck_assert(cr_contains(r.err, r.errlen, "SQCLAIM_ADAPTER"));
    cr_free(&r);

    /* Malformed REDIS_URL: configuration. */
    if (tc_built("redis")) {
        static const char *const bad[] = {"SQCLAIM_ADAPTER=redis", "REDIS_URL=http://nope", NULL};
        o = tc_opts(NULL, bad);
        TC_EXITS(&o, 4, "status", NULL);
    }
}
END_TEST

/* Malformed settings are reported without the password or token in them. */
START_TEST(test_config_secrets)
{
    static const char *const redis_urls[] = {
        "REDIS_URL=redis://:S3cr3t-77@127.0.0.1:notaport",
        "REDIS_URL=redis://user:S3cr3t-77@127.0.0.1:99999",
        "REDIS_URL=redis://:S3cr3t-77@",
        "REDIS_URL=redis://:S3cr3t-77@127.0.0.1:6379/abc",
        "REDIS_URL=rediss://:S3cr3t-77@127.0.0.1:6379",
        "REDIS_URL=unix:///nonexistent/redis.sock?password=S3cr3t-77",
    };
    static const char *const kv[][2] = {
        {"KV_REST_API_URL=https://user:S3cr3t-77@example.com", "KV_REST_API_TOKEN=tok-S3cr3t-88"},
        {"KV_REST_API_URL=http://example.com", "KV_REST_API_TOKEN=tok-S3cr3t-88"},
        {"KV_REST_API_URL=ftp://example.com/S3cr3t-77", "KV_REST_API_TOKEN=tok-S3cr3t-88"},
        {"KV_REST_API_URL=http://127.0.0.1:1", "KV_REST_API_TOKEN=tok S3cr3t-88"},
    };
    cr_result r;
    if (tc_built("redis")) {
        for (size_t i = 0; i < sizeof redis_urls / sizeof redis_urls[0]; i++) {
            const char *env[] = {"SQCLAIM_ADAPTER=redis", redis_urls[i], NULL};
            cr_opts o = tc_opts(NULL, env);
            cr_runv(&r, &o, "status", "--timeout", "1s", NULL);
            ck_assert_msg(r.code == 4 || r.code == 5, "%s: exit %d", redis_urls[i], r.code);
            tc_check_no_secret(&r, "S3cr3t-77");
            cr_free(&r);
        }
    }
    if (tc_built("vercel")) {
        for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
            const char *env[] = {"SQCLAIM_ADAPTER=vercel", kv[i][0], kv[i][1], NULL};
            cr_opts o = tc_opts(NULL, env);
            TC_RUNV(&r, &o, 4, "status", NULL);
            tc_check_no_secret(&r, "S3cr3t-77");
            tc_check_no_secret(&r, "S3cr3t-88");
            cr_free(&r);
        }
    }
}
END_TEST

/* A lease nobody can read is a claim nobody can release: when stdout
 * fails, the claim is given back and the exit status says so. */
START_TEST(test_output_failure)
{
    cr_opts o;
    memset(&o, 0, sizeof o);
    o.stdout_path = "/dev/full";
    cr_result r;
    TC_RUNV(&r, &o, 5, "-q", "claim", "X1", "--bot", "B", NULL);
    ck_assert(cr_contains(r.err, r.errlen, "could not write the lease"));
    ck_assert(cr_contains(r.err, r.errlen, "has been released"));
    tc_check_stderr_form(&r);
    cr_free(&r);
    TC_EXITS(&o, 5, "status", NULL);
}
END_TEST

Suite *tc_basic_suite(void)
{
    Suite *s = suite_create("cli-basic");
    TCASE_ADD(s, ((tcase_spec){.name = "help", .timeout = 60}), test_version, test_help_program,
              test_help_commands, test_no_arguments, test_adapters);
    TCase *tc = TCASE_ADD(s, ((tcase_spec){.name = "usage", .timeout = 60}), test_lease_too_large);
    tcase_add_loop_test(tc, test_usage_error, 0, NUSAGE);
    TCASE_ADD(s, ((tcase_spec){.name = "memory", .timeout = 120}), test_memory_claim,
              test_memory_claim_first, test_memory_lease_is_per_process, test_memory_status,
              test_output_failure);
    TCASE_ADD(s, ((tcase_spec){.name = "config", .timeout = 60}), test_kv_not_configured,
              test_unknown_adapter, test_config_secrets);
    return s;
}
