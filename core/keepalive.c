/* keepalive.c — renew a lease in the background every ttl/3.
 *
 * The keep-alive owns a copy of the lease.  It reports a lost lease at once
 * (flag + callback) and never renews after it was stopped: stop and
 * sqclaim_release() join the thread, so no renewal is in flight once they
 * return (Redisson #7272: an orphan renewal kept a released lock alive). */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sqclaim_keepalive {
    sqclaim_store *store; /* NULL once the store was closed */
    struct sqclaim_keepalive *next;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    sqclaim_lease lease;
    bool stop;
    bool joining;
    bool joined;
    pthread_t thread;

    atomic_bool lost;
    atomic_bool stopped; /* stop requested or detached */
    sqclaim_clock clock; /* the store's, for may_act */
    atomic_int_fast64_t deadline_ns;
    atomic_uint_fast64_t renewals;
    sqclaim_rc lost_rc;
    sqclaim_lost_fn on_lost;
    void *arg;
};

static struct timespec mono_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Wait up to ms (real time) or until stopped.  Returns true if stopped. */
static bool wait_or_stop(sqclaim_keepalive *ka, int64_t ms)
{
    struct timespec until = mono_after_ms(ms);
    pthread_mutex_lock(&ka->mu);
    while (!ka->stop) {
        int r = pthread_cond_timedwait(&ka->cv, &ka->mu, &until);
        if (r == ETIMEDOUT)
            break;
    }
    bool stop = ka->stop;
    pthread_mutex_unlock(&ka->mu);
    return stop;
}

static void *run(void *vka)
{
    sqclaim_keepalive *ka = vka;
    pthread_mutex_lock(&ka->mu);
    sqclaim_store *s = ka->store;
    sqclaim_lease lease = ka->lease;
    pthread_mutex_unlock(&ka->mu);
    if (!s)
        return NULL;
    int64_t interval = lease.ttl_ms / 3;
    if (interval < 1)
        interval = 1;
    int64_t wait = interval;

    for (;;) {
        if (wait_or_stop(ka, wait))
            break;
        sqb_err err;
        memset(&err, 0, sizeof err);
        sqclaim_rc rc = sqc_renew(s, &lease, lease.ttl_ms, &err);
        if (rc == SQCLAIM_OK) {
            pthread_mutex_lock(&ka->mu);
            ka->lease = lease;
            pthread_mutex_unlock(&ka->mu);
            atomic_store(&ka->deadline_ns, lease.deadline_ns);
            atomic_fetch_add(&ka->renewals, 1);
            wait = interval;
            continue;
        }
        /* A transient failure is retried while the old deadline holds. */
        int64_t left_ms = (lease.deadline_ns - sqclaim_now_ns(s)) / 1000000;
        if (rc != SQCLAIM_LOST && left_ms > 0) {
            wait = interval / 4;
            if (wait > left_ms / 2)
                wait = left_ms / 2;
            if (wait < 1)
                wait = 1;
            continue;
        }
        ka->lost_rc = rc == SQCLAIM_LOST ? SQCLAIM_LOST : rc;
        atomic_store(&ka->lost, true);
        if (ka->on_lost)
            ka->on_lost(&lease, ka->lost_rc, ka->arg);
        break;
    }
    return NULL;
}

sqclaim_rc sqclaim_keepalive_start(sqclaim_store *s, const sqclaim_lease *lease,
                                   sqclaim_lost_fn on_lost, void *arg, sqclaim_keepalive **out)
{
    if (out)
        *out = NULL;
    if (!s || !out)
        return SQCLAIM_EINVAL;
    if (!s->be)
        return s->errcode ? s->errcode : SQCLAIM_ESTATE;
    char msg[256];
    if (!lease || lease->deadline_ns == 0 || (lease->flags & SQCLAIM_LEASE_UNCERTAIN) ||
        sqclaim_check_sq(lease->sq, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_token(lease->token, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_ttl(lease->ttl_ms, msg, sizeof msg) != SQCLAIM_OK) {
        pthread_mutex_lock(&s->lock);
        s->errcode = SQCLAIM_EINVAL;
        sqb_strlcpy(s->errmsg,
                    "keep-alive: the lease is not usable (no deadline: claim or renew it first)",
                    sizeof s->errmsg);
        pthread_mutex_unlock(&s->lock);
        return SQCLAIM_EINVAL;
    }
    sqclaim_keepalive *ka = calloc(1, sizeof *ka);
    if (!ka)
        return SQCLAIM_ENOMEM;
    ka->store = s;
    ka->lease = *lease;
    ka->on_lost = on_lost;
    ka->arg = arg;
    atomic_init(&ka->lost, false);
    atomic_init(&ka->stopped, false);
    ka->clock = s->clock;
    atomic_init(&ka->deadline_ns, lease->deadline_ns);
    atomic_init(&ka->renewals, 0);
    pthread_mutex_init(&ka->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ka->cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&s->ka_lock);
    ka->next = s->kas;
    s->kas = ka;
    if (pthread_create(&ka->thread, NULL, run, ka) != 0) {
        s->kas = ka->next;
        pthread_mutex_unlock(&s->ka_lock);
        pthread_cond_destroy(&ka->cv);
        pthread_mutex_destroy(&ka->mu);
        free(ka);
        return SQCLAIM_EIO;
    }
    pthread_mutex_unlock(&s->ka_lock);
    *out = ka;
    return SQCLAIM_OK;
}

/* Stop and join; safe from several threads at once. */
static void stop_and_join(sqclaim_keepalive *ka)
{
    pthread_mutex_lock(&ka->mu);
    if (ka->joining || ka->joined) {
        while (!ka->joined)
            pthread_cond_wait(&ka->cv, &ka->mu);
        pthread_mutex_unlock(&ka->mu);
        return;
    }
    ka->joining = true;
    ka->stop = true;
    atomic_store(&ka->stopped, true);
    pthread_cond_broadcast(&ka->cv);
    pthread_mutex_unlock(&ka->mu);
    pthread_join(ka->thread, NULL);
    pthread_mutex_lock(&ka->mu);
    ka->joined = true;
    pthread_cond_broadcast(&ka->cv);
    pthread_mutex_unlock(&ka->mu);
}

void sqc_keepalive_detach(sqclaim_store *s, const sqclaim_lease *lease)
{
    for (;;) {
        sqclaim_keepalive *found = NULL;
        pthread_mutex_lock(&s->ka_lock);
        for (sqclaim_keepalive **pp = &s->kas; *pp; pp = &(*pp)->next) {
            sqclaim_keepalive *ka = *pp;
            if (!lease || (strcmp(ka->lease.token, lease->token) == 0 &&
                           strcmp(ka->lease.sq, lease->sq) == 0)) {
                *pp = ka->next;
                ka->next = NULL;
                found = ka;
                break;
            }
        }
        pthread_mutex_unlock(&s->ka_lock);
        if (!found)
            return;
        pthread_mutex_lock(&found->mu);
        found->store = NULL; /* detached: keepalive_stop only frees it */
        atomic_store(&found->stopped, true);
        pthread_mutex_unlock(&found->mu);
        stop_and_join(found);
    }
}

bool sqclaim_keepalive_lost(const sqclaim_keepalive *ka)
{
    return ka ? atomic_load(&ka->lost) : true;
}

bool sqclaim_keepalive_may_act(const sqclaim_keepalive *ka)
{
    if (!ka || atomic_load(&ka->lost) || atomic_load(&ka->stopped))
        return false;
    return ka->clock.now_ns(ka->clock.ctx) < atomic_load(&ka->deadline_ns);
}

uint64_t sqclaim_keepalive_renewals(const sqclaim_keepalive *ka)
{
    return ka ? atomic_load(&ka->renewals) : 0;
}

sqclaim_rc sqclaim_keepalive_stop(sqclaim_keepalive *ka, sqclaim_lease *lease)
{
    if (!ka)
        return SQCLAIM_OK;
    pthread_mutex_lock(&ka->mu);
    sqclaim_store *s = ka->store;
    pthread_mutex_unlock(&ka->mu);
    if (s) {
        pthread_mutex_lock(&s->ka_lock);
        for (sqclaim_keepalive **pp = &s->kas; *pp; pp = &(*pp)->next)
            if (*pp == ka) {
                *pp = ka->next;
                break;
            }
        pthread_mutex_unlock(&s->ka_lock);
    }
    stop_and_join(ka);
    sqclaim_rc rc = atomic_load(&ka->lost) ? SQCLAIM_LOST : SQCLAIM_OK;
    if (lease)
        *lease = ka->lease;
    pthread_cond_destroy(&ka->cv);
    pthread_mutex_destroy(&ka->mu);
    free(ka);
    return rc;
}
