/* contract_concurrency.c — the contract suite (contract.h): concurrency: many threads, many claims
 * on few SQs, no double grant. */
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
/* Concurrency: many threads, many claims on few SQs, no double grant   */

#define RACE_THREADS 8
#define RACE_SQS     3
struct race {
    atomic_int inside[RACE_SQS];
    atomic_int doubles, grants, busy, errors;
    int iters;
};
struct race_arg {
    struct race *r;
    int id;
    sqclaim_store *s;
};

static void *race_worker(void *varg)
{
    struct race_arg *a = varg;
    struct race *r = a->r;
    char bot[16];
    snprintf(bot, sizeof bot, "BOT%d", a->id);
    unsigned seed = (unsigned)a->id + 17;
    for (int i = 0; i < r->iters; i++) {
        int k = (int)(rand_r(&seed) % RACE_SQS);
        char sq[16];
        snprintf(sq, sizeof sq, "race-%d", k);
        sqclaim_lease l;
        sqclaim_rc rc;
        if (i % 4 == 3) {
            const char *list[RACE_SQS] = {"race-0", "race-1", "race-2"};
            rc = sqclaim_claim_first(a->s, list, RACE_SQS, bot, 60000, &l, NULL);
            if (rc == SQCLAIM_OK)
                k = l.sq[5] - '0';
        } else {
            rc = sqclaim_claim(a->s, sq, bot, 60000, &l, NULL);
        }
        if (rc == SQCLAIM_BUSY) {
            atomic_fetch_add(&r->busy, 1);
            continue;
        }
        if (rc != SQCLAIM_OK) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        atomic_fetch_add(&r->grants, 1);
        if (atomic_fetch_add(&r->inside[k], 1) != 0)
            atomic_fetch_add(&r->doubles, 1);
        struct timespec work = {0, 50 * 1000}; /* 50 us of "work" inside */
        nanosleep(&work, NULL);
        atomic_fetch_sub(&r->inside[k], 1);
        if (sqclaim_release(a->s, &l) != SQCLAIM_OK)
            atomic_fetch_add(&r->errors, 1);
    }
    return NULL;
}

START_TEST(concurrent_claims_no_double_grant)
{
    struct race r;
    memset(&r, 0, sizeof r);
    r.iters = (int)(400 * T->scale) + 20;
    pthread_t th[RACE_THREADS];
    struct race_arg args[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        args[i] = (struct race_arg){&r, i, ct_open()};
        pthread_create(&th[i], NULL, race_worker, &args[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&r.doubles), 0);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ck_assert_int_gt(atomic_load(&r.grants), 0);
    ck_assert_int_eq(atomic_load(&r.grants) + atomic_load(&r.busy), RACE_THREADS * r.iters);
}
END_TEST

START_TEST(shared_handle_between_threads)
{
    /* One handle used by several threads at once is safe (serialised). */
    struct race r;
    memset(&r, 0, sizeof r);
    r.iters = (int)(200 * T->scale) + 10;
    sqclaim_store *s = ct_open();
    pthread_t th[4];
    struct race_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct race_arg){&r, i, s};
        pthread_create(&th[i], NULL, race_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ck_assert_int_eq(atomic_load(&r.doubles), 0);
    ck_assert_int_gt(atomic_load(&r.grants), 0);
}
END_TEST

void ct_group_concurrency(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = concurrent_claims_no_double_grant;
    tests[n++] = shared_handle_between_threads;
    tests[n] = NULL;
}
