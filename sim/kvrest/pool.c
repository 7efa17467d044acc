/*
 * pool.c — a fixed pool of hiredis connections.
 *
 * Each request (or transaction) holds one connection exclusively from
 * acquire to release, so nothing it sends can interleave with another
 * request's commands.  Slots connect lazily.  A connection that saw an
 * error is closed on release and its slot reconnects on next use; an idle
 * connection that the server closed (redis restarted) is noticed with a
 * zero-timeout poll() before use and replaced, so no request is spent on
 * a dead socket.
 */
#include "kvrest.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kv_pool {
    kv_redis_addr addr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    redisContext **free_slots; /* stack of idle slots (NULL = not connected) */
    int nfree;
    int size;
    bool stopping;
};

kv_pool *kv_pool_new(const kv_redis_addr *addr, int size)
{
    kv_pool *p = kv_xcalloc(1, sizeof *p);
    p->addr = *addr;
    p->addr.password = addr->password ? kv_xstrdup(addr->password) : NULL;
    p->size = size;
    p->free_slots = kv_xcalloc((size_t)size, sizeof *p->free_slots);
    p->nfree = size;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void kv_redis_errtext(const redisContext *c, char *out, size_t outlen)
{
    if (!c) {
        snprintf(out, outlen, "cannot allocate redis context");
    } else if (c->err == REDIS_ERR_IO &&
               (strstr(c->errstr, "temporarily unavailable") || strstr(c->errstr, "timed out"))) {
        snprintf(out, outlen, "timed out");
    } else if (c->err == REDIS_ERR_EOF) {
        snprintf(out, outlen, "connection closed by redis");
    } else {
        snprintf(out, outlen, "%s", c->errstr[0] ? c->errstr : "unknown error");
    }
}

static redisContext *connect_one(const kv_pool *p, char *err, size_t errlen)
{
    struct timeval tv = {p->addr.timeout_ms / 1000, (p->addr.timeout_ms % 1000) * 1000};
    redisContext *c = p->addr.unix_path[0]
                          ? redisConnectUnixWithTimeout(p->addr.unix_path, tv)
                          : redisConnectWithTimeout(p->addr.host, p->addr.port, tv);
    char why[160];
    if (!c || c->err) {
        kv_redis_errtext(c, why, sizeof why);
        snprintf(err, errlen, "ERR kvrest: cannot connect to redis: %s", why);
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (!p->addr.unix_path[0])
        redisEnableKeepAlive(c); /* TCP only: on a unix socket it fails and sets c->err */
    if (p->addr.password) {
        const char *argv[2] = {"AUTH", p->addr.password};
        size_t lens[2] = {4, strlen(p->addr.password)};
        redisReply *r = redisCommandArgv(c, 2, argv, lens);
        if (!r) {
            kv_redis_errtext(c, why, sizeof why);
            snprintf(err, errlen, "ERR kvrest: redis AUTH failed: %s", why);
            redisFree(c);
            return NULL;
        }
        bool ok = r->type != REDIS_REPLY_ERROR;
        if (!ok)
            snprintf(err, errlen, "ERR kvrest: redis AUTH failed: %.*s",
                     (int)(r->len > 200 ? 200 : r->len), r->str);
        freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* An idle connection has nothing to read; readable or hung up means the
 * server closed it (or sent something unexpected): do not reuse it. */
static bool stale(const redisContext *c)
{
    if (c->err)
        return true;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int n = poll(&pfd, 1, 0);
    return n != 0;
}

redisContext *kv_pool_acquire(kv_pool *p, char *err, size_t errlen)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->addr.timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->addr.timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && !p->stopping) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && p->nfree == 0) {
            pthread_mutex_unlock(&p->mu);
            snprintf(err, errlen, "ERR kvrest: all %d redis connections busy", p->size);
            return NULL;
        }
    }
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        snprintf(err, errlen, "ERR kvrest: shutting down");
        return NULL;
    }
    redisContext *c = p->free_slots[--p->nfree];
    p->free_slots[p->nfree] = NULL;
    pthread_mutex_unlock(&p->mu);

    if (c && stale(c)) {
        redisFree(c);
        c = NULL;
    }
    if (!c) {
        c = connect_one(p, err, errlen);
        if (!c)
            kv_pool_release(p, NULL, true); /* give the empty slot back */
    }
    return c;
}

void kv_pool_release(kv_pool *p, redisContext *c, bool broken)
{
    if (c && (broken || c->err)) {
        redisFree(c);
        c = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->free_slots[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kv_pool_shutdown(kv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kv_pool_free(kv_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nfree; i++)
        if (p->free_slots[i])
            redisFree(p->free_slots[i]);
    free(p->free_slots);
    if (p->addr.password) {
        memset(p->addr.password, 0, strlen(p->addr.password));
        free(p->addr.password);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
