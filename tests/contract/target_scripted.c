/* target_scripted.c — the contract suite on the scripted store
 * (sim/det/): the production Lua scripts, through proto.c, on the
 * in-process Redis model the deterministic simulator uses.
 *
 * Handles of one test namespace share one store, created on first use
 * with the clock of the handle that opened it: the suite's fake clock
 * (tests move time instead of sleeping, as on the memory backend), or the
 * monotonic clock for the handles the keep-alive tests open on the real
 * clock (their own namespace).  Stores are thread-safe here because the
 * concurrency tests share them between threads. */
#ifdef SQCLAIM_WITH_DET
#include "backend.h"
#include "contract.h"
#include "transport.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct space {
    struct space *next;
    char name[96];
    sqclaim_clock clock;
    det_store *st;
    sqclaim_backend be;
} space;

static space *spaces;
static pthread_mutex_t spaces_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t space_clock(void *ctx)
{
    const space *sp = ctx;
    return sp->clock.now_ns(sp->clock.ctx);
}

static space *space_for(const char *name, const sqclaim_clock *clock)
{
    pthread_mutex_lock(&spaces_mu);
    space *sp = spaces;
    while (sp && strcmp(sp->name, name) != 0)
        sp = sp->next;
    if (!sp) {
        sp = calloc(1, sizeof *sp);
        if (sp) {
            snprintf(sp->name, sizeof sp->name, "%s", name);
            sp->clock = clock ? *clock : (sqclaim_clock){mono_ns, NULL};
            det_store_config cfg = {.now_ns = space_clock, .clock_ctx = sp, .threadsafe = true};
            sp->st = det_store_new(&cfg);
            if (!sp->st) {
                free(sp);
                sp = NULL;
            } else {
                det_backend_init(&sp->be, sp->st);
                sp->next = spaces;
                spaces = sp;
            }
        }
    }
    pthread_mutex_unlock(&spaces_mu);
    return sp;
}

static void scripted_options(sqclaim_options *o, const char *ns) { o->key_prefix = ns; }

static sqclaim_rc scripted_open(const sqclaim_options *o, sqclaim_store **out)
{
    space *sp = space_for(o->key_prefix ? o->key_prefix : "", o->clock);
    if (!sp) {
        *out = NULL;
        return SQCLAIM_ENOMEM;
    }
    return sqclaim_open_backend(&sp->be, o, out);
}

static void scripted_teardown(void)
{
    while (spaces) {
        space *sp = spaces;
        spaces = sp->next;
        det_store_free(sp->st);
        free(sp);
    }
}

const ct_target ct_target_scripted = {
    .name = "scripted",
    .teardown = scripted_teardown,
    .options = scripted_options,
    .fake_clock = true,
    .clock_step_ns = 1000000, /* Redis keeps expiry in milliseconds */
    .short_ttl_ms = 1000,
    .scale = 1.0,
    .open = scripted_open,
};
#else
typedef int ct_no_scripted_target; /* not built: no Lua 5.1 or lua-cjson */
#endif
