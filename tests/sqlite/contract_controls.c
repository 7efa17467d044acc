/* contract_controls.c — the contract suite must FAIL on every sqlite
 * negative control (sim/controls/sqlite_controls.c), as it does on the
 * memory ones (tests/contract/controls.c): a suite that passes on a broken
 * backend proves nothing.  Each control runs the whole suite on real files
 * (one per test, in a temporary directory) and real time; the program
 * exits 0 only if every control fails at least one contract test, and
 * none by crashing. */
#include "contract.h"
#include "sqlite_controls.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sqclaim_backend *current;
static char dir[64];
static char path[PATH_MAX];

static sqclaim_rc open_control(const sqclaim_options *o, sqclaim_store **out)
{
    return sqclaim_open_backend(current, o, out);
}

static void control_options(sqclaim_options *o, const char *ns)
{
    snprintf(path, sizeof path, "%s/%s.db", dir, ns);
    o->sqlite_path = path;
    o->timeout_ms = 5000;
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sqclaim-ctl-XXXXXX",
             tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    int uncaught = 0;
    const sqclaim_backend *controls = sqclaim_sqlite_controls();
    for (size_t i = 0; controls[i].name; i++) {
        bool wanted = argc < 2; /* arguments: the controls to run (default all) */
        for (int a = 1; a < argc; a++)
            wanted = wanted || strcmp(argv[a], controls[i].name) == 0;
        if (!wanted)
            continue;
        current = &controls[i];
        ct_target t = {
            .name = current->name,
            .options = control_options,
            .fake_clock = false,
            .short_ttl_ms = 800,
            .scale = 0.5,
            .open = open_control,
        };
        SRunner *sr = srunner_create(contract_suite(&t));
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        TestResult **res = srunner_failures(sr);
        int crashes = 0;
        for (int k = 0; k < failed; k++)
            if (tr_rtype(res[k]) != CK_FAILURE)
                crashes++;
        printf("sqlite %-26s %s: %d contract test(s) failed", current->name,
               failed > crashes ? "caught" : "NOT CAUGHT", failed);
        for (int k = 0; k < failed && k < 3; k++)
            printf("%s%s@%d", k ? ", " : " (", tr_tcname(res[k]), tr_lno(res[k]));
        printf("%s\n", failed ? (failed > 3 ? ", ...)" : ")") : "");
        for (int k = 0; k < failed && k < 3; k++)
            printf("    %s\n", tr_msg(res[k]));
        if (crashes)
            printf("  %d test(s) crashed or timed out instead of failing a check\n", crashes);
        if (failed <= crashes || crashes)
            uncaught++;
        free(res);
        srunner_free(sr);
        fflush(stdout);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return uncaught ? EXIT_FAILURE : EXIT_SUCCESS;
}
