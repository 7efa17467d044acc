/* main.c — run the contract suite on every backend built into the library. */
#include "contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ct_target ct_target_memory;
#ifdef SQCLAIM_WITH_SQLITE
extern const ct_target ct_target_sqlite;
#endif
#ifdef SQCLAIM_WITH_REDIS
extern const ct_target ct_target_redis;
#endif
#ifdef SQCLAIM_WITH_VERCEL
extern const ct_target ct_target_vercel;
#endif
#ifdef SQCLAIM_WITH_DET
extern const ct_target ct_target_scripted;
#endif

static const ct_target *const targets[] = {
    &ct_target_memory,
#ifdef SQCLAIM_WITH_SQLITE
    &ct_target_sqlite,
#endif
#ifdef SQCLAIM_WITH_REDIS
    &ct_target_redis,
#endif
#ifdef SQCLAIM_WITH_VERCEL
    &ct_target_vercel,
#endif
#ifdef SQCLAIM_WITH_DET
    &ct_target_scripted,
#endif
    NULL,
};

int main(int argc, char **argv)
{
    /* Optional arguments: the targets to run (default: all built). */
    int failed = 0, ran = 0;
    for (size_t i = 0; targets[i]; i++) {
        const ct_target *t = targets[i];
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted = wanted || strcmp(argv[a], t->name) == 0;
        if (!wanted)
            continue;
        ran++;
        if (t->setup && t->setup() != 0) {
            fprintf(stderr, "contract[%s]: setup failed\n", t->name);
            failed++;
            continue;
        }
        SRunner *sr = srunner_create(contract_suite(t));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        if (t->teardown)
            t->teardown();
    }
    if (ran == 0) {
        fprintf(stderr, "contract: no such target\n");
        return 2;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
