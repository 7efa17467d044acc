/* main.c — the redis backend's own tests (the contract suite runs on it
 * too, from tests/contract).  Every test case starts the redis-server it
 * needs (tests/support/servers.c) and stops it. */
#include "rtest.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(rt_layout_suite());
    srunner_add_suite(sr, rt_faults_suite());
    srunner_add_suite(sr, rt_secrets_suite());
    srunner_add_suite(sr, rt_converge_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
