/* skip.c — see skip.h.  The counter lives in a shared anonymous mapping
 * made before main() (so before Check forks a process per test); the
 * process that made it prints the total when it exits. */
#include "skip.h"

#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_int *skips;
static pid_t owner;

static void report(void)
{
    if (getpid() != owner || !skips)
        return;
    int n = atomic_load(skips);
    if (n > 0)
        fprintf(stderr, "%d test%s SKIPPED (a prerequisite is missing; under CI=true %s)\n", n,
                n == 1 ? "" : "s", n == 1 ? "it fails" : "they fail");
}

__attribute__((constructor)) static void tskip_init(void)
{
    void *m = mmap(NULL, sizeof *skips, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return; /* skips are still printed, only not totalled */
    skips = m;
    atomic_init(skips, 0);
    owner = getpid();
    atexit(report);
}

bool tskip_strict(void)
{
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

void tskip(const char *test, const char *why)
{
    if (tskip_strict())
        ck_abort_msg("%s: prerequisite missing under CI=true: %s", test, why);
    fprintf(stderr, "SKIP %s: %s\n", test, why);
    if (skips)
        atomic_fetch_add(skips, 1);
}

int tskip_count(void) { return skips ? atomic_load(skips) : 0; }
