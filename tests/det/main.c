/* main.c — the scripted store's tests (sim/det/, docs/det.md):
 *   store  — its own behaviour in virtual time (expiry at the exact
 *            instant, time frozen inside a script, restart and NOSCRIPT,
 *            the fault hooks, determinism, several stores side by side);
 *   raw    — random command sequences compared with a real redis-server;
 *   proto  — random protocol operations through proto.c compared with a
 *            real redis-server.
 * The differential cases start their own redis-server (tests/support). */
#include "diffcommon.h"
#include "tcase.h" /* run_suite() */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    Suite *s = suite_create("det");
    store_add(s);
    diff_raw_add(s);
    diff_proto_add(s);
    return run_suite(s);
}
