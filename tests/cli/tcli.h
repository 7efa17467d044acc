/* tcli.h — shared pieces of the sqclaim CLI tests (tests/cli). */
#ifndef SQCLAIM_TEST_CLI_H
#define SQCLAIM_TEST_CLI_H

#include "run.h"
#include "servers.h"
#include "sqclaim.h"
#include "tcase.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdint.h>

/* The backends that share data between processes, with the environment
 * that selects each (filled by main.c once its servers are up). */
typedef struct tc_backend {
    const char *name;   /* "redis" or "vercel" */
    const char *env[8]; /* "SQCLAIM_ADAPTER=…", the URL, the token */
    char store[4][300]; /* storage for env strings */
} tc_backend;

#define TC_MAX_BACKENDS 2
extern tc_backend tc_backends[TC_MAX_BACKENDS];
extern int tc_nbackends;
extern tsrv tc_redis;    /* no password; behind kvrest too */
extern tsrv tc_redis_pw; /* requirepass TC_REDIS_PASSWORD */
extern tsrv tc_kvrest;   /* token TC_KV_TOKEN, in front of tc_redis */
#define TC_REDIS_PASSWORD "pw-Zq81-redis-secret"
#define TC_KV_TOKEN       "kvtok-Hj29-rest-secret-0123456789"

/* Add each test to tc as a loop test, once per backend (0 .. tc_nbackends):
 *   TC_ADD_LOOPS(tc, test_one, test_two);
 * TC_LOOP_CASE(s, spec, tests...) does it in a new case built as
 * TCASE_ADD (tcase.h) builds one, and returns the case. */
void tc_add_loops(TCase *tc, const TTest *const *tests, size_t n);
TCase *tc_loop_case(Suite *s, tcase_spec spec, const TTest *const *tests, size_t n);
#define TC_TESTS(...)                                                                              \
    (const TTest *const[]){__VA_ARGS__},                                                           \
        sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *)
#define TC_ADD_LOOPS(tc, ...)      tc_add_loops((tc), TC_TESTS(__VA_ARGS__))
#define TC_LOOP_CASE(s, spec, ...) tc_loop_case((s), spec, TC_TESTS(__VA_ARGS__))

/* Was the backend built (sqclaim_adapters())? */
bool tc_built(const char *name);

/* Options for a run on backend b (NULL: none) with extra env strings
 * (NULL-terminated list; may be NULL). */
cr_opts tc_opts(const tc_backend *b, const char *const *extra);

/* A key prefix no other test uses: "clitest-<pid>-<n>:". */
const char *tc_prefix(char *buf, size_t len);

/* Assert the exit status, showing both streams on failure. */
#define TC_EXIT(r, want)                                                                           \
    ck_assert_msg((r)->code == (want),                                                             \
                  "exit status %d, expected %d\n--- stdout:\n%s\n--- "                             \
                  "stderr:\n%s",                                                                   \
                  (r)->code, (want), (r)->out, (r)->err)

/* cr_runv and TC_EXIT in one: TC_RUNV(&r, &o, 0, "status", NULL) runs the
 * words given and the exit status must be `want` (both streams shown if
 * not); r holds the run (cr_free it). */
void tc_run_exit(cr_result *r, const cr_opts *o, int want, const char *const *args);
#define TC_RUNV(r, o, want, ...) tc_run_exit((r), (o), (want), (const char *const[]){__VA_ARGS__})
/* TC_RUNV when nothing more of the run is looked at: no result kept. */
void tc_exits(const cr_opts *o, int want, const char *const *args);
#define TC_EXITS(o, want, ...) tc_exits((o), (want), (const char *const[]){__VA_ARGS__})

/* Each of parts (NULL-terminated) is in text, the run's stream `which`
 * ("stdout" or "stderr"); a failure names the caller's file:line, the
 * missing part and shows the stream.  TC_OUT_HAS(&r, "a", "b") and
 * TC_ERR_HAS(&r, ...) list the parts. */
void tc_has_all(const char *file, int line, const char *which, const char *text, size_t len,
                const char *const *parts);
#define TC_OUT_HAS(r, ...)                                                                         \
    tc_has_all(__FILE__, __LINE__, "stdout", (r)->out, (r)->outlen,                                \
               (const char *const[]){__VA_ARGS__, NULL})
#define TC_ERR_HAS(r, ...)                                                                         \
    tc_has_all(__FILE__, __LINE__, "stderr", (r)->err, (r)->errlen,                                \
               (const char *const[]){__VA_ARGS__, NULL})

/* Every line on stderr is a "sqclaim: " message (or the usage hint). */
void tc_check_stderr_form(const cr_result *r);

/* Neither stream contains `secret`. */
void tc_check_no_secret(const cr_result *r, const char *secret);

/* stdout is exactly one line. */
void tc_check_one_line(const cr_result *r);

/* Parse JSON; asserts it parses to an object. */
cJSON *tc_json(const char *text);

/* The object's keys are exactly `keys` (NULL-terminated), in order. */
void tc_check_keys(const cJSON *obj, const char *const *keys, const char *what);

/* An ISO-8601 UTC timestamp with milliseconds ("2025-10-26T12:34:56.789Z"). */
bool tc_is_timestamp(const char *s);

/* Check a lease line printed by claim/renew and pull out its token and
 * fence.  sq/bot may be NULL (not checked); ttl_ms < 0: not checked. */
typedef struct tc_lease {
    char sq[SQCLAIM_SQ_MAX + 1];
    char bot[SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
    int64_t ttl_ms;
    char line[512]; /* the JSON line, without newline */
} tc_lease;
void tc_check_lease(const char *out, const char *sq, const char *bot, int64_t ttl_ms,
                    tc_lease *lease);

/* Check the seed's /api/queue shape of a status output; returns the
 * parsed JSON (free with cJSON_Delete). */
cJSON *tc_check_status(const char *out);

/* Suites. */
Suite *tc_basic_suite(void);
Suite *tc_remote_suite(void);
Suite *tc_watch_suite(void);
Suite *tc_unit_suite(void);
Suite *tc_limits_suite(void);
Suite *tc_botloop_suite(void); /* needs vercel */
Suite *tc_operator_suite(void);

#endif
