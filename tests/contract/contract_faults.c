/* contract_faults.c — the contract suite (contract.h): retries converge under dropped replies
 * (targets with faults). */
#include "suite.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Retries converge under dropped replies (targets with faults)         */

START_TEST(retries_converge_under_drops)
{
    /* Half of the replies are thrown away after the store applied the
     * request.  Every operation must still answer what happened: never
     * LOST while the claim is ours, never a grant or a range twice. */
    ck_assert_int_eq(T->faults("{\"drop_rate\":0.5,\"fail_rate\":0,\"seed\":42}"), 0);
    sqclaim_options o;
    sqclaim_options_init(&o);
    T->options(&o, ns);
    o.retries = 10;
    sqclaim_store *a = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &a), SQCLAIM_OK);
    handles[nhandles++] = a;
    uint64_t last_fence = 0, last_end = 0;
    for (int i = 0; i < 12; i++) {
        char sq[16];
        snprintf(sq, sizeof sq, "sq-d%d", i);
        sqclaim_lease l;
        sqclaim_rows r;
        sqclaim_rc rc = sqclaim_claim(a, sq, "BOT1", 60000, &l, NULL);
        ck_assert_msg(rc == SQCLAIM_OK, "claim %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
        ck_assert_uint_gt(l.fence, last_fence);
        last_fence = l.fence;
        rc = sqclaim_renew(a, &l, 60000);
        ck_assert_msg(rc == SQCLAIM_OK, "renew %d: %s", i, sqclaim_errmsg(a));
        rc = sqclaim_reserve_rows(a, &l, 3, 0, &r);
        ck_assert_msg(rc == SQCLAIM_OK, "reserve %d: %s", i, sqclaim_errmsg(a));
        ck_assert_uint_ge(r.start_row, last_end);
        last_end = r.start_row + r.count;
        rc = sqclaim_finish_rows(a, &l);
        ck_assert_msg(rc == SQCLAIM_OK, "finish %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
        rc = sqclaim_release(a, &l);
        ck_assert_msg(rc == SQCLAIM_OK, "release %d: %s (%s)", i, sqclaim_rcname(rc),
                      sqclaim_errmsg(a));
    }
    sqclaim_stats st;
    sqclaim_stats_get(a, &st);
    ck_assert_msg(st.ambiguous >= 10, "only %llu replies were lost: the test proves nothing",
                  (unsigned long long)st.ambiguous);
    ck_assert_int_eq(T->faults("{\"drop_rate\":0}"), 0);
    bool c, res;
    ck_assert(!status_has(a, "sq-d0", &c, &res));
}
END_TEST

void ct_group_faults(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = retries_converge_under_drops;
    tests[n] = NULL;
}
