/* util.c — clocks, histories and the violation list. */
#include "oracle.h"
#include "simutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */

int64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sim_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sim_sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */

int sim_history_reserve(sim_history *h, size_t chunks)
{
    sim_chunk **pp = h->tail ? &h->tail->next : &h->head;
    while (*pp)
        pp = &(*pp)->next;
    for (size_t i = 0; i < chunks; i++) {
        sim_chunk *c = malloc(sizeof *c);
        if (!c)
            return -1;
        c->next = NULL;
        c->n = 0;
        *pp = c;
        pp = &c->next;
    }
    return 0;
}

sim_event *sim_history_add(sim_history *h)
{
    if (!h->tail && h->head) {
        h->tail = h->head; /* the first preallocated chunk */
    } else if (h->tail && h->tail->n == SIM_CHUNK_EVENTS && h->tail->next) {
        h->tail = h->tail->next;
    } else if (!h->tail || h->tail->n == SIM_CHUNK_EVENTS) {
        sim_chunk *c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->next = NULL;
        c->n = 0;
        if (h->tail)
            h->tail->next = c;
        else
            h->head = c;
        h->tail = c;
    }
    h->n++;
    sim_event *e = &h->tail->ev[h->tail->n++];
    memset(e, 0, sizeof *e);
    return e;
}

void sim_history_free(sim_history *h)
{
    sim_chunk *c = h->head;
    while (c) {
        sim_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------ */

const char *sim_vkind_name(enum sim_vkind k)
{
    switch (k) {
    case V_OVERLAP: return "overlap";
    case V_FENCE_ORDER: return "fence-order";
    case V_STALE_BELIEVED: return "stale-write-while-valid";
    case V_ROW_OVERLAP: return "row-overlap";
    case V_ROW_TWICE: return "row-written-twice";
    case V_ROW_FOREIGN: return "row-written-by-non-reserver";
    case V_ROWS_FENCE: return "reservation-fence-mismatch";
    case V_GRANT_FENCE: return "grant-fence-order";
    case V_KIND_COUNT: break;
    }
    return "?";
}

void sim_violations_init(sim_violations *vs, int64_t t0)
{
    memset(vs, 0, sizeof *vs);
    pthread_mutex_init(&vs->mu, NULL);
    atomic_init(&vs->count, 0);
    for (int i = 0; i < V_KIND_COUNT; i++)
        atomic_init(&vs->by_kind[i], 0);
    vs->t0 = t0;
    atomic_init(&vs->stop, false);
}

void sim_violations_destroy(sim_violations *vs) { pthread_mutex_destroy(&vs->mu); }

static double ms(int64_t ns) { return (double)ns / 1e6; }

void sim_violation_format(const sim_violation *v, const char *const *sq_names, char *buf,
                          size_t len)
{
    char sq[80] = "";
    if (v->sq >= 0)
        snprintf(sq, sizeof sq, "SQ %s", sq_names ? sq_names[v->sq] : "?");
    switch (v->kind) {
    case V_OVERLAP:
        snprintf(buf, len,
                 "%s held by two bots at once: BOT%d (lease %" PRIu32 ", fence %" PRIu64
                 ") believed it from %.3f to %.3f ms, BOT%d (lease %" PRIu32 ", fence %" PRIu64
                 ") from %.3f to %.3f ms",
                 sq, v->bot_a + 1, v->lease_a, v->fence_a, ms(v->a_start), ms(v->a_end),
                 v->bot_b + 1, v->lease_b, v->fence_b, ms(v->b_start), ms(v->b_end));
        break;
    case V_FENCE_ORDER:
        snprintf(buf, len,
                 "%s: fencing number went backwards: BOT%d held it with fence %" PRIu64
                 " (%.3f to %.3f ms), then BOT%d with fence %" PRIu64 " (from %.3f ms)",
                 sq, v->bot_a + 1, v->fence_a, ms(v->a_start), ms(v->a_end), v->bot_b + 1,
                 v->fence_b, ms(v->b_start));
        break;
    case V_STALE_BELIEVED: {
        char seen[64] = ""; /* the sweep does not know which fence won */
        if (v->fence_b)
            snprintf(seen, sizeof seen, " (the Log had seen fence %" PRIu64 ")", v->fence_b);
        snprintf(buf, len,
                 "%s: BOT%d's write of rows %" PRIu64 "..%" PRIu64 " with fence %" PRIu64
                 " was rejected as stale at %.3f ms%s while the library said its lease was "
                 "valid until %.3f ms",
                 sq, v->bot_a + 1, v->row_start, v->row_start + v->rows - 1, v->fence_a,
                 ms(v->a_start), seen, ms(v->a_end));
        break;
    }
    case V_ROW_OVERLAP:
        snprintf(buf, len,
                 "rows %" PRIu64 "..%" PRIu64 " reserved twice: by BOT%d for %s (fence %" PRIu64
                 ") and by BOT%d (fence %" PRIu64 ")",
                 v->row_start, v->row_start + v->rows - 1, v->bot_a + 1,
                 v->sq >= 0 && sq_names ? sq_names[v->sq] : "?", v->fence_a, v->bot_b + 1,
                 v->fence_b);
        break;
    case V_ROW_TWICE:
        snprintf(buf, len,
                 "row %" PRIu64 " written twice; the second write by BOT%d (%s, fence %" PRIu64
                 ") at %.3f ms",
                 v->row_start, v->bot_a + 1, sq, v->fence_a, ms(v->a_start));
        break;
    case V_ROW_FOREIGN:
        snprintf(buf, len,
                 "row %" PRIu64 " written by BOT%d (%s, fence %" PRIu64
                 ") but reserved by BOT%d (fence %" PRIu64 ")",
                 v->row_start, v->bot_a + 1, sq, v->fence_a, v->bot_b + 1, v->fence_b);
        break;
    case V_ROWS_FENCE:
        snprintf(buf, len,
                 "%s: BOT%d's reservation of rows %" PRIu64 "..%" PRIu64 " carries fence %" PRIu64
                 " but its lease has fence %" PRIu64,
                 sq, v->bot_a + 1, v->row_start, v->row_start + v->rows - 1, v->fence_b,
                 v->fence_a);
        break;
    case V_GRANT_FENCE:
        snprintf(buf, len,
                 "%s: fencing number went backwards: BOT%d's claim was granted fence %" PRIu64
                 " (returned at %.3f ms), then BOT%d's claim, invoked later at %.3f ms, was "
                 "granted fence %" PRIu64,
                 sq, v->bot_a + 1, v->fence_a, ms(v->a_end), v->bot_b + 1, ms(v->b_start),
                 v->fence_b);
        break;
    case V_KIND_COUNT: snprintf(buf, len, "?"); break;
    }
}

void sim_violation_set(sim_violation *v, enum sim_vkind kind, bool online, int sq,
                       const sim_party *a, const sim_party *b)
{
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->online = online;
    v->sq = sq;
    v->bot_a = a->bot;
    v->lease_a = a->lease;
    v->fence_a = a->fence;
    v->a_start = a->start;
    v->a_end = a->end;
    v->bot_b = -1;
    if (b) {
        v->bot_b = b->bot;
        v->lease_b = b->lease;
        v->fence_b = b->fence;
        v->b_start = b->start;
        v->b_end = b->end;
    }
}

void sim_violation_add(sim_violations *vs, const sim_violation *v)
{
    atomic_fetch_add(&vs->count, 1);
    if ((unsigned)v->kind < V_KIND_COUNT)
        atomic_fetch_add(&vs->by_kind[v->kind], 1);
    pthread_mutex_lock(&vs->mu);
    if (vs->kept < SIM_MAX_VIOLATIONS) {
        sim_violation *d = &vs->v[vs->kept++];
        *d = *v;
        /* Times are kept relative to the run's start. */
        int64_t t0 = vs->t0;
        if (d->a_start)
            d->a_start -= t0;
        if (d->a_end)
            d->a_end -= t0;
        if (d->b_start)
            d->b_start -= t0;
        if (d->b_end)
            d->b_end -= t0;
        sim_violation_format(d, vs->sq_names, d->text, sizeof d->text);
    }
    pthread_mutex_unlock(&vs->mu);
    atomic_store(&vs->stop, true);
}
