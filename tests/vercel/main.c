/* main.c — the vercel backend's own tests (the contract suite runs it too,
 * in tests/contract).  Arguments: suites to run, of "unit", "http",
 * "kvrest", "secrets" (default: all). */
#include "vtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        Suite *(*make)(void);
    } suites[] = {{"unit", vt_unit_suite},
                  {"http", vt_http_suite},
                  {"kvrest", vt_kvrest_suite},
                  {"secrets", vt_secrets_suite}};
    SRunner *sr = NULL;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted = wanted || strcmp(argv[a], suites[i].name) == 0;
        if (!wanted)
            continue;
        if (!sr)
            sr = srunner_create(suites[i].make());
        else
            srunner_add_suite(sr, suites[i].make());
    }
    if (!sr) {
        fprintf(stderr, "vercel tests: no such suite (unit, http, kvrest, secrets)\n");
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
