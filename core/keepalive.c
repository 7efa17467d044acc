/* keepalive.c — renew a lease in the background every ttl/3.
 *
 * The keep-alive owns a copy of the lease.  It reports a lost lease at once
 * (flag + callback) and never renews after it was stopped: stop,
 * sqclaim_release() and sqclaim_close() join the thread, so no renewal is
 * in flight once they return (Redisson #7272: an orphan renewal kept a
 * released lock alive).
 *
 * Lifetime: a keep-alive is reference-counted, so stop, release and close
 * may race from different threads without freeing it under each other's
 * feet.  References: the owner's (dropped by sqclaim_keepalive_stop), the
 * store list's (dropped when it is unlinked), and the thread's (dropped
 * when it exits).  All links between stores and keep-alives are guarded by
 * one process-wide mutex, so nothing ever locks a store that may be gone. */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t link_mu = PTHREAD_MUTEX_INITIALIZER;

struct sqclaim_keepalive {
    /* Guarded by link_mu. */
    sqclaim_store *store; /* the list it is linked in; NULL once unlinked */
    struct sqclaim_keepalive *next;
    int refs;

    /* Set at start, never changed. */
    sqclaim_store *owner; /* the thread renews through it */
    char sq[SQCLAIM_SQ_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    sqclaim_clock clock;
    sqclaim_lost_fn on_lost;
    void *arg;
    pthread_t thread;

    /* Guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    sqclaim_lease lease;
    bool stop, joining, joined, self_detached;
    /* Driven by a seam (seam.h) instead of a thread: */
    const sqc_seam *seam; /* NULL: a thread */
    bool ended;           /* the "thread" reference was dropped */
    bool in_step;         /* inside sqc_keepalive_step */
    bool retrying;

    atomic_bool lost;
    atomic_bool stopped; /* stop requested, detached or closed */
    atomic_int_fast64_t deadline_ns;
    atomic_uint_fast64_t renewals;
};

static void ka_unref(sqclaim_keepalive *ka)
{
    pthread_mutex_lock(&link_mu);
    bool last = --ka->refs == 0;
    pthread_mutex_unlock(&link_mu);
    if (!last)
        return;
    pthread_cond_destroy(&ka->cv);
    pthread_mutex_destroy(&ka->mu);
    free(ka);
}

/* Remove ka from its store's list if it is still linked; returns true if
 * it was (the caller then owns the list's reference). */
static bool unlink_locked(sqclaim_keepalive *ka)
{
    sqclaim_store *s = ka->store;
    if (!s)
        return false;
    for (sqclaim_keepalive **pp = &s->kas; *pp; pp = &(*pp)->next)
        if (*pp == ka) {
            *pp = ka->next;
            break;
        }
    ka->next = NULL;
    ka->store = NULL;
    return true;
}

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
        if (pthread_cond_timedwait(&ka->cv, &ka->mu, &until) == ETIMEDOUT)
            break;
    }
    bool stop = ka->stop;
    pthread_mutex_unlock(&ka->mu);
    return stop;
}

/* The wait before the next renewal: every ttl/3, but never later than
 * halfway to the deadline (a keep-alive started late, or retrying after a
 * failure). */
static int64_t next_wait(sqclaim_store *s, const sqclaim_lease *lease, bool retrying)
{
    int64_t interval = lease->ttl_ms / 3 > 0 ? lease->ttl_ms / 3 : 1;
    int64_t left_ms = (lease->deadline_ns - sqclaim_now_ns(s)) / 1000000;
    int64_t wait = retrying ? interval / 4 : interval;
    if (wait > left_ms / 2)
        wait = left_ms / 2;
    if (wait < 1)
        wait = 1;
    return wait;
}

/* One renewal of *lease.  Returns false when the keep-alive has ended
 * (lost: flag set and callback run). */
static bool renew_once(sqclaim_keepalive *ka, sqclaim_lease *lease, bool *retrying)
{
    sqclaim_store *s = ka->owner;
    sqb_err err;
    memset(&err, 0, sizeof err);
    sqclaim_rc rc = sqc_renew(s, lease, lease->ttl_ms, &err);
    if (rc == SQCLAIM_OK) {
        pthread_mutex_lock(&ka->mu);
        ka->lease = *lease;
        pthread_mutex_unlock(&ka->mu);
        atomic_store(&ka->deadline_ns, lease->deadline_ns);
        atomic_fetch_add(&ka->renewals, 1);
        *retrying = false;
        return true;
    }
    /* A transient failure is retried while the old deadline holds. */
    if (rc != SQCLAIM_LOST && sqclaim_now_ns(s) < lease->deadline_ns) {
        *retrying = true;
        return true;
    }
    atomic_store(&ka->lost, true);
    if (ka->on_lost)
        ka->on_lost(lease, rc, ka->arg); /* last use of ka's fields */
    return false;
}

static void *run(void *vka)
{
    sqclaim_keepalive *ka = vka;
    sqclaim_store *s = ka->owner;
    pthread_mutex_lock(&ka->mu);
    sqclaim_lease lease = ka->lease;
    pthread_mutex_unlock(&ka->mu);
    bool retrying = false;

    for (;;) {
        if (wait_or_stop(ka, next_wait(s, &lease, retrying)))
            break;
        if (!renew_once(ka, &lease, &retrying))
            break;
    }
    ka_unref(ka); /* the thread's reference */
    return NULL;
}

int64_t sqc_keepalive_step(sqclaim_keepalive *ka)
{
    pthread_mutex_lock(&ka->mu);
    if (ka->stop || ka->ended) {
        bool drop = !ka->ended;
        ka->ended = true;
        pthread_mutex_unlock(&ka->mu);
        if (drop)
            ka_unref(ka);
        return -1;
    }
    sqclaim_lease lease = ka->lease;
    bool retrying = ka->retrying;
    ka->in_step = true;
    pthread_mutex_unlock(&ka->mu);
    bool going = renew_once(ka, &lease, &retrying);
    pthread_mutex_lock(&ka->mu);
    ka->in_step = false;
    ka->retrying = retrying;
    if (!going || ka->stop) {
        ka->ended = true;
        pthread_mutex_unlock(&ka->mu);
        ka_unref(ka); /* the "thread's" reference */
        return -1;
    }
    pthread_mutex_unlock(&ka->mu);
    return next_wait(ka->owner, &lease, retrying);
}

static void set_start_error(sqclaim_store *s, sqclaim_rc rc, const char *msg)
{
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->errcode, rc);
    sqb_strlcpy(s->errmsg, msg, sizeof s->errmsg);
    pthread_mutex_unlock(&s->lock);
}

sqclaim_rc sqclaim_keepalive_start(sqclaim_store *s, const sqclaim_lease *lease,
                                   sqclaim_lost_fn on_lost, void *arg, sqclaim_keepalive **out)
{
    if (out)
        *out = NULL;
    if (!s || !out)
        return SQCLAIM_EINVAL;
    if (!s->be)
        return atomic_load(&s->errcode) ? (sqclaim_rc)atomic_load(&s->errcode) : SQCLAIM_ESTATE;
    sqc_begin(s);
    char msg[256], full[300];
    if (!lease) {
        set_start_error(s, SQCLAIM_EINVAL, "keep-alive: lease is NULL");
        return SQCLAIM_EINVAL;
    }
    if (sqclaim_check_sq(lease->sq, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_token(lease->token, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_ttl(lease->ttl_ms, msg, sizeof msg) != SQCLAIM_OK) {
        snprintf(full, sizeof full, "keep-alive: invalid lease: %s", msg);
        set_start_error(s, SQCLAIM_EINVAL, full);
        return SQCLAIM_EINVAL;
    }
    if (lease->deadline_ns == 0 || (lease->flags & SQCLAIM_LEASE_UNCERTAIN)) {
        set_start_error(s, SQCLAIM_EINVAL,
                        "keep-alive: the lease has no known deadline (rebuilt from its token, "
                        "or its claim is uncertain): renew or retry it first");
        return SQCLAIM_EINVAL;
    }
    sqclaim_keepalive *ka = calloc(1, sizeof *ka);
    if (!ka) {
        set_start_error(s, SQCLAIM_ENOMEM, "keep-alive: out of memory");
        return SQCLAIM_ENOMEM;
    }
    ka->owner = s;
    ka->lease = *lease;
    sqb_strlcpy(ka->sq, lease->sq, sizeof ka->sq);
    sqb_strlcpy(ka->token, lease->token, sizeof ka->token);
    ka->clock = s->clock;
    ka->on_lost = on_lost;
    ka->arg = arg;
    ka->refs = 3; /* owner, store list, thread */
    atomic_init(&ka->lost, false);
    atomic_init(&ka->stopped, false);
    atomic_init(&ka->deadline_ns, lease->deadline_ns);
    atomic_init(&ka->renewals, 0);
    pthread_mutex_init(&ka->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ka->cv, &ca);
    pthread_condattr_destroy(&ca);

    if (s->seam && s->seam->ka_start && s->seam->ka_stop) {
        /* Driven by the simulator: no thread. */
        ka->seam = s->seam;
        pthread_mutex_lock(&link_mu);
        ka->store = s;
        ka->next = s->kas;
        s->kas = ka;
        pthread_mutex_unlock(&link_mu);
        *out = ka;
        ka->seam->ka_start(ka->seam->ctx, ka, next_wait(s, lease, false));
        return SQCLAIM_OK;
    }
    pthread_mutex_lock(&link_mu);
    ka->store = s;
    ka->next = s->kas;
    s->kas = ka;
    /* Created under link_mu so ka->thread is set before anyone can read it. */
    int err = pthread_create(&ka->thread, NULL, run, ka);
    if (err != 0)
        unlink_locked(ka);
    pthread_mutex_unlock(&link_mu);
    if (err != 0) {
        pthread_cond_destroy(&ka->cv);
        pthread_mutex_destroy(&ka->mu);
        free(ka);
        set_start_error(s, SQCLAIM_EIO, "keep-alive: could not start its thread");
        return SQCLAIM_EIO;
    }
    *out = ka;
    return SQCLAIM_OK;
}

/* Ask the thread to stop and wait until it has ended.  Safe from several
 * threads at once; from the keep-alive's own thread (an on_lost callback)
 * it only asks. */
static void stop_and_join(sqclaim_keepalive *ka)
{
    pthread_mutex_lock(&ka->mu);
    ka->stop = true;
    atomic_store(&ka->stopped, true);
    if (ka->seam) {
        /* No thread: tell the driver; inside a step, the step ends it. */
        bool drop = !ka->ended && !ka->in_step;
        if (drop)
            ka->ended = true;
        pthread_mutex_unlock(&ka->mu);
        if (drop) {
            ka->seam->ka_stop(ka->seam->ctx, ka);
            ka_unref(ka);
        }
        return;
    }
    pthread_cond_broadcast(&ka->cv);
    if (pthread_equal(pthread_self(), ka->thread)) {
        pthread_mutex_unlock(&ka->mu);
        return;
    }
    while (ka->joining)
        pthread_cond_wait(&ka->cv, &ka->mu);
    if (!ka->joined && !ka->self_detached) {
        ka->joining = true;
        pthread_mutex_unlock(&ka->mu);
        pthread_join(ka->thread, NULL);
        pthread_mutex_lock(&ka->mu);
        ka->joined = true;
        ka->joining = false;
        pthread_cond_broadcast(&ka->cv);
    }
    pthread_mutex_unlock(&ka->mu);
}

void sqc_keepalive_detach(sqclaim_store *s, const sqclaim_lease *lease)
{
    for (;;) {
        sqclaim_keepalive *found = NULL;
        pthread_mutex_lock(&link_mu);
        for (sqclaim_keepalive *ka = s->kas; ka; ka = ka->next)
            if (!lease ||
                (strcmp(ka->token, lease->token) == 0 && strcmp(ka->sq, lease->sq) == 0)) {
                found = ka;
                unlink_locked(ka); /* we now hold the list's reference */
                break;
            }
        pthread_mutex_unlock(&link_mu);
        if (!found)
            return;
        stop_and_join(found);
        ka_unref(found);
    }
}

bool sqclaim_keepalive_lost(const sqclaim_keepalive *ka)
{
    return ka ? atomic_load(&ka->lost) : true;
}

bool sqclaim_keepalive_may_act(const sqclaim_keepalive *ka)
{
    if (!ka || atomic_load(&ka->stopped))
        return false;
    bool lost = atomic_load(&ka->lost);
    int64_t now = ka->clock.now_ns(ka->clock.ctx);
    int64_t deadline = atomic_load(&ka->deadline_ns);
    bool yes = !lost && now < deadline;
    if (ka->seam && ka->seam->adjust) {
        sqc_point_info pi = {.lost = lost, .deadline_ns = deadline, .now_ns = now};
        yes = ka->seam->adjust(ka->seam->ctx, SQC_PT_KA_MAY_ACT, yes, &pi) != 0;
    }
    return yes;
}

uint64_t sqclaim_keepalive_renewals(const sqclaim_keepalive *ka)
{
    return ka ? atomic_load(&ka->renewals) : 0;
}

int64_t sqclaim_keepalive_deadline_ns(const sqclaim_keepalive *ka)
{
    return ka ? atomic_load(&ka->deadline_ns) : 0;
}

sqclaim_rc sqclaim_keepalive_stop(sqclaim_keepalive *ka, sqclaim_lease *lease)
{
    if (!ka)
        return SQCLAIM_OK;
    pthread_mutex_lock(&link_mu);
    bool linked = unlink_locked(ka);
    pthread_mutex_unlock(&link_mu);
    if (linked)
        ka_unref(ka); /* the list's reference; ours keeps ka alive */
    if (!ka->seam && pthread_equal(pthread_self(), ka->thread)) {
        /* Called from on_lost: the thread ends right after the callback;
         * nobody will join it, so let it go. */
        pthread_mutex_lock(&ka->mu);
        ka->stop = true;
        atomic_store(&ka->stopped, true);
        if (!ka->joining && !ka->joined) {
            ka->self_detached = true;
            pthread_detach(ka->thread);
        }
        pthread_mutex_unlock(&ka->mu);
    } else {
        stop_and_join(ka);
    }
    sqclaim_rc rc = atomic_load(&ka->lost) ? SQCLAIM_LOST : SQCLAIM_OK;
    if (lease) {
        pthread_mutex_lock(&ka->mu);
        *lease = ka->lease;
        pthread_mutex_unlock(&ka->mu);
    }
    ka_unref(ka); /* the owner's reference */
    return rc;
}
