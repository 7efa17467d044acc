/* controls.c — the contract suite must FAIL on every negative control.
 *
 * Each control is the memory backend with one deliberate bug (see
 * sim/controls/controls.h).  A suite that passes on a broken
 * backend proves nothing; this program exits 0 only if every control is
 * caught by at least one contract test, and names the tests that caught
 * it. */
#include "contract.h"
#include "controls.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sqclaim_backend *current;

static sqclaim_rc open_control(const sqclaim_options *o, sqclaim_store **out)
{
    return sqclaim_open_backend(current, o, out);
}

static void control_options(sqclaim_options *o, const char *ns) { o->memory_space = ns; }

/* Each control must fail the check that targets its bug (an assertion
 * failure with this text), not just any test, and not by crashing. */
static const struct {
    const char *control;
    const char *expect;
} expected[] = {
    {"broken-check-then-set", "r.doubles"},
    {"broken-private-memory", "SQCLAIM_BUSY"},
    {"broken-release-no-owner", "sqclaim_release(b, &forged)"},
    {"broken-renew-revives", "sqclaim_renew(a, &la, 60000)"},
    {"broken-racy-cursor", "overlap"},
};

static const char *expectation(const char *name)
{
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (strcmp(expected[i].control, name) == 0)
            return expected[i].expect;
    return NULL;
}

int main(void)
{
    int uncaught = 0;
    for (size_t i = 0; sqclaim_memory_controls[i].name; i++) {
        current = &sqclaim_memory_controls[i];
        const char *expect = expectation(current->name);
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
        TestResult **res = srunner_failures(sr);
        bool targeted = false;
        int crashes = 0;
        for (int k = 0; k < failed; k++) {
            if (tr_rtype(res[k]) != CK_FAILURE)
                crashes++;
            else if (expect && strstr(tr_msg(res[k]), expect))
                targeted = true;
        }
        printf("%-26s %s: %d contract test(s) failed", current->name,
               targeted ? "caught" : "NOT CAUGHT", failed);
        for (int k = 0; k < failed && k < 3; k++)
            printf("%s%s@%d", k ? ", " : " (", tr_tcname(res[k]), tr_lno(res[k]));
        printf("%s\n", failed ? (failed > 3 ? ", ...)" : ")") : "");
        if (!targeted)
            printf("  expected a failed check containing \"%s\"\n", expect ? expect : "?");
        if (crashes)
            printf("  %d test(s) crashed or timed out instead of failing a check\n", crashes);
        free(res);
        srunner_free(sr);
        if (!targeted || crashes)
            uncaught++;
    }
    if (uncaught) {
        printf("FAIL: %d negative control(s) not caught by the check aimed at them\n", uncaught);
        return EXIT_FAILURE;
    }
    printf("100%%: every negative control was caught by the check aimed at it\n");
    return EXIT_SUCCESS;
}
