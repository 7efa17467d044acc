/* test_unit.c — the CLI's helpers, called directly (the program's objects
 * but main.o are linked into this test): durations,
 * numbers, text cleaning, exit codes. */
#include "skip.h"
#include "tcli.h"

#include "../../cli/cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_fmt_duration)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{-1, "-"},           {0, "0ms"},         {999, "999ms"},      {1000, "1.0s"},
                 {1999, "1.9s"},      {59999, "59.9s"},   {60000, "1m00s"},    {599000, "9m59s"},
                 {3599999, "59m59s"}, {3600000, "1h00m"}, {86400000, "24h00m"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[24];
        cli_fmt_duration(cases[i].ms, buf, sizeof buf);
        ck_assert_msg(strcmp(buf, cases[i].want) == 0, "%lld ms: %s, want %s",
                      (long long)cases[i].ms, buf, cases[i].want);
    }
}
END_TEST

START_TEST(test_clean_text)
{
    char out[8];
    cli_clean_text(out, sizeof out, "a\x01\x1b[2J", 6);
    ck_assert_str_eq(out, "a??[2J");
    cli_clean_text(out, sizeof out, "abcdefghij", 10); /* cut to fit */
    ck_assert_str_eq(out, "abcdefg");
    cli_clean_text(out, sizeof out, "ab=cd", 2); /* only inlen bytes */
    ck_assert_str_eq(out, "ab");
    cli_clean_text(out, sizeof out, "a\0b", 3); /* stops at a NUL */
    ck_assert_str_eq(out, "a");
    cli_clean_text(out, sizeof out, "B\xc3\xb8t\x7f", 5); /* UTF-8 kept, DEL not */
    ck_assert_str_eq(out, "B\xc3\xb8t?");
}
END_TEST

/* BUSY and LOST have codes of their own, never shared with a failure. */
START_TEST(test_exit_codes)
{
    ck_assert_int_eq(cli_exit_for(SQCLAIM_OK), 0);
    ck_assert_int_eq(cli_exit_for(SQCLAIM_BUSY), 1);
    ck_assert_int_eq(cli_exit_for(SQCLAIM_LOST), 3);
    ck_assert_int_eq(cli_exit_for(SQCLAIM_EINVAL), 2);
    const sqclaim_rc config[] = {SQCLAIM_ECONFIG, SQCLAIM_EUNSUPPORTED, SQCLAIM_EAUTH};
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(cli_exit_for(config[i]), 4);
    const sqclaim_rc failure[] = {SQCLAIM_EIO,    SQCLAIM_ETIMEOUT, SQCLAIM_EPROTOCOL,
                                  SQCLAIM_ENOMEM, SQCLAIM_EQUOTA,   SQCLAIM_ESERVER,
                                  SQCLAIM_ESTATE, (sqclaim_rc)-99};
    for (size_t i = 0; i < sizeof failure / sizeof failure[0]; i++)
        ck_assert_int_eq(cli_exit_for(failure[i]), 5);
}
END_TEST

START_TEST(test_uint_opt)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.cmd = "reserve";
    /* The usage errors go to stderr: not into the test log. */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    ck_assert(saved >= 0 && null >= 0);
    dup2(null, 2);
    close(null);
    uint64_t v = 7;
    ck_assert_int_eq(cli_uint_opt(&c, "--rows", "1", 1, 100000, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(cli_uint_opt(&c, "--rows", "100000", 1, 100000, &v), 0);
    ck_assert_uint_eq(v, 100000);
    static const char *const bad[] = {"",
                                      "0",
                                      "100001",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1e3",
                                      "0x10",
                                      "18446744073709551616",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        ck_assert_msg(cli_uint_opt(&c, "--rows", bad[i], 1, 100000, &v) == CLI_EXIT_USAGE, "%s",
                      bad[i]);
        ck_assert_uint_eq(v, 7); /* untouched */
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}
END_TEST

/* sqsim sits next to sqclaim in the build directory. */
static const char *sqsim_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s", cr_program());
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, len - (size_t)(slash ? slash + 1 - buf : 0), "sqsim");
    return buf;
}

/* One duration grammar (issue 9.13): sqclaim's --ttl and sqsim's --ttl
 * accept and refuse the same texts, and a bare number is refused by both
 * with its likely meaning. */
START_TEST(test_duration_grammar_shared)
{
    char sim[4096];
    sqsim_path(sim, sizeof sim);
    TSKIP_IF(access(sim, X_OK) != 0, "sqsim is not built");
    static const struct {
        const char *text;
        bool ok;
    } cases[] = {{"600s", true},  {"10m", true},      {"1.5s", true},    {"250ms", true},
                 {"0.5m", true},  {"24h", true},      {"10000us", true}, {"600", false},
                 {"1.5", false},  {"10500us", false}, {"25h", false},    {"9ms", false},
                 {"5sec", false}, {"-5s", false},     {"1.s", false},    {" 5s", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_result a, b;
        cr_runv(&a, NULL, "-q", "claim", "X1", "--bot", "B", "--ttl", cases[i].text, NULL);
        cr_opts o;
        memset(&o, 0, sizeof o);
        o.raw_argv = true;
        /* sqsim parses its options in order: --help after --ttl stops it
         * once --ttl is accepted, before any simulation. */
        cr_runv(&b, &o, sim, "--ttl", cases[i].text, "--help", NULL);
        int want = cases[i].ok ? 0 : 2;
        ck_assert_msg(a.code == want, "sqclaim --ttl \"%s\": exit %d\n%s", cases[i].text, a.code,
                      a.err);
        ck_assert_msg(b.code == want, "sqsim --ttl \"%s\": exit %d\n%s", cases[i].text, b.code,
                      b.err);
        if (strcmp(cases[i].text, "600") == 0) {
            ck_assert_msg(cr_contains(a.err, a.errlen, "did you mean 600s?"), "%s", a.err);
            ck_assert_msg(cr_contains(b.err, b.errlen, "did you mean 600s?"), "%s", b.err);
        }
        cr_free(&a);
        cr_free(&b);
    }
}
END_TEST

Suite *tc_unit_suite(void)
{
    Suite *s = suite_create("cli-unit");
    /* 60 s: test_duration_grammar_shared runs 32 programs */
    TCASE_ADD(s, ((tcase_spec){.name = "unit", .timeout = 60}), test_fmt_duration, test_clean_text,
              test_exit_codes, test_uint_opt, test_duration_grammar_shared);
    return s;
}
