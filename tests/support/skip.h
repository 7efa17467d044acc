/*
 * skip.h — a test whose prerequisite is missing (a server binary, a
 * backend not built, a system tool) must not pass silently.
 *
 *   TSKIP_IF(cond, "why");   at the top of a test
 *
 * Under CI=true the test FAILS with "prerequisite missing: why": CI
 * installs everything (ci/install-deps.sh), so a missing piece there is a
 * defect.  Elsewhere the test prints "SKIP <test>: why" and returns; the
 * program counts its skips (across Check's forked test processes) and
 * prints "N test(s) SKIPPED" when it exits, so a green run that proved
 * less than it seems says so.
 */
#ifndef SQCLAIM_TEST_SKIP_H
#define SQCLAIM_TEST_SKIP_H

#include <stdbool.h>

/* True when CI=true: a missing prerequisite is a failure. */
bool tskip_strict(void);

/* Record a skip of test `test` for `why`: under CI=true a Check failure
 * (does not return); else print and count.  Use TSKIP_IF. */
void tskip(const char *test, const char *why);

/* How many skips this program recorded so far (all processes). */
int tskip_count(void);

#define TSKIP_IF(cond, why)                                                                        \
    do {                                                                                           \
        if (cond) {                                                                                \
            tskip(__func__, (why));                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
