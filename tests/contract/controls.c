/* controls.c — the contract suite must FAIL on every negative control.
 *
 * Each control is the memory backend with one deliberate bug (see
 * adapters/memory/memory_controls.h).  A suite that passes on a broken
 * backend proves nothing; this program exits 0 only if every control is
 * caught by at least one contract test, and names the tests that caught
 * it. */
#include "contract.h"
#include "memory_controls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sqclaim_backend *current;

static sqclaim_rc open_control(const sqclaim_options *o, sqclaim_store **out)
{
    return sqclaim_open_backend(current, o, out);
}

static void control_options(sqclaim_options *o, const char *ns)
{
    o->memory_space = ns;
}

int main(void)
{
    int uncaught = 0;
    for (size_t i = 0; sqclaim_memory_controls[i].name; i++) {
        current = &sqclaim_memory_controls[i];
        ct_target t = {
            .name = current->name,
            .options = control_options,
            .fake_clock = true,
            .short_ttl_ms = 1000,
            .scale = 1.0,
            .open = open_control,
        };
        SRunner *sr = srunner_create(contract_suite(&t));
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        printf("%-26s caught by %d contract test(s)", current->name, failed);
        TestResult **res = srunner_failures(sr);
        for (int k = 0; k < failed && k < 4; k++)
            printf("%s%s@%d", k ? ", " : ": ", tr_tcname(res[k]), tr_lno(res[k]));
        printf("\n");
        free(res);
        srunner_free(sr);
        if (failed == 0)
            uncaught++;
    }
    if (uncaught) {
        printf("FAIL: %d negative control(s) passed the contract suite\n", uncaught);
        return EXIT_FAILURE;
    }
    printf("100%%: every negative control was caught\n");
    return EXIT_SUCCESS;
}
