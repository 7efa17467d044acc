/* suite_main.h — the main() of the simulator's Check test programs. */
#ifndef SQSIM_TEST_SUITE_MAIN_H
#define SQSIM_TEST_SUITE_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Run every test of the suite; EXIT_SUCCESS if none failed. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
