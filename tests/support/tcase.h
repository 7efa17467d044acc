/*
 * tcase.h — one statement per Check test case, and run_suite() for main().
 *
 *   TCASE_ADD(suite, ((tcase_spec){.name = "down", .timeout = 60,
 *                                  .setup = rt_setup, .teardown = rt_teardown}),
 *             test_one, test_two, test_three);
 *
 * creates the case, sets its timeout, adds the fixtures that are given and
 * every test listed, adds the case to the suite and returns it (so a caller
 * can still add a loop test or a second fixture).  Header only: every test
 * program can use it whether or not it links tests/support.
 */
#ifndef SQCLAIM_TEST_TCASE_H
#define SQCLAIM_TEST_TCASE_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct tcase_spec {
    const char *name;
    double timeout; /* seconds; 0 leaves Check's default */
    /* checked fixture: around every test, inside its forked process */
    SFun setup, teardown;
    /* unchecked fixture: once around the whole case, in the parent */
    SFun once_setup, once_teardown;
} tcase_spec;

static inline TCase *tcase_add_all(Suite *s, tcase_spec spec, const TTest *const *tests, size_t n)
{
    TCase *tc = tcase_create(spec.name);
    if (spec.once_setup || spec.once_teardown)
        tcase_add_unchecked_fixture(tc, spec.once_setup, spec.once_teardown);
    if (spec.setup || spec.teardown)
        tcase_add_checked_fixture(tc, spec.setup, spec.teardown);
    if (spec.timeout > 0)
        tcase_set_timeout(tc, spec.timeout);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tc;
}

#define TCASE_ADD(s, spec, ...)                                                                    \
    tcase_add_all((s), spec, (const TTest *const[]){__VA_ARGS__},                                  \
                  sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *))

/* Run every test of the suite (Check's normal output); EXIT_SUCCESS if none
 * failed.  The main() of most test programs. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
