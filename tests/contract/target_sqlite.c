/* target_sqlite.c — the contract suite on the sqlite backend.  Each test's
 * namespace becomes its own database file in a private temporary
 * directory, so tests never see each other's records, and nothing is
 * written under the real home. */
#ifdef SQCLAIM_WITH_SQLITE
#include "contract.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];
static char path[PATH_MAX]; /* read by sqclaim_open() only, during the call */

static int sqlite_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sqclaim-ct-XXXXXX",
             tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static void sqlite_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "contract[sqlite]: could not remove %s\n", dir);
}

static void sqlite_options(sqclaim_options *o, const char *ns)
{
    o->adapter = "sqlite";
    snprintf(path, sizeof path, "%s/%s.db", dir, ns);
    o->sqlite_path = path;
    o->timeout_ms = 5000;
}

const ct_target ct_target_sqlite = {
    .name = "sqlite",
    .setup = sqlite_setup,
    .teardown = sqlite_teardown,
    .options = sqlite_options,
    .fake_clock = false, /* the file's clock is the host's: shared by processes */
    .short_ttl_ms = 800,
    .scale = 0.5,
};
#endif
