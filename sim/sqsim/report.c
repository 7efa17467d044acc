/* report.c — the human summary and the JSON report of a run. */
#include "sqsim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OP_COUNT] = {
    "claim",  "claim_first",     "claim_retry",    "renew", "release", "reserve", "write",
    "finish", "keepalive_start", "keepalive_stop", "crash", "abandon", "pause",
};

/* Operations that call the library (the model Log's write and a crash do
 * not), whose latencies are reported. */
static bool timed_op(int op) { return op != OP_WRITE && op != OP_CRASH && op != OP_PAUSE; }

typedef struct pct {
    uint64_t count, ok, fail, info;
    double p50, p90, p99, p999, max; /* microseconds */
} pct;

typedef struct totals {
    uint64_t attempts, grants, refusals, errors, uncertain, crashes, pauses, keepalives,
        renew_revived, lapsed;
    uint64_t events, lib_ops;
    sqclaim_stats st;
    pct lat[OP_COUNT];
} totals;

/* The bot with the earliest first error (last: with the latest last
 * error), or -1 if no bot had one. */
static int error_bot(const sim_run *run, bool last)
{
    int best = -1;
    for (int i = 0; i < run->cfg->bots; i++) {
        const sim_bot *b = &run->bots[i];
        int64_t t = last ? b->last_error_ns : b->first_error_ns;
        if (!t)
            continue;
        int64_t bt = best < 0 ? 0
                     : last   ? run->bots[best].last_error_ns
                              : run->bots[best].first_error_ns;
        if (best < 0 || (last ? t > bt : t < bt))
            best = i;
    }
    return best;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double at(const int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

static void gather(sim_run *run, totals *t)
{
    memset(t, 0, sizeof *t);
    size_t n[OP_COUNT] = {0};
    for (int i = 0; i < run->cfg->bots; i++) {
        sim_bot *b = &run->bots[i];
        t->attempts += atomic_load(&b->attempts);
        t->grants += atomic_load(&b->grants);
        t->refusals += atomic_load(&b->refusals);
        t->errors += atomic_load(&b->errors);
        t->uncertain += atomic_load(&b->uncertain);
        t->crashes += atomic_load(&b->crashes);
        t->pauses += atomic_load(&b->pauses);
        t->keepalives += atomic_load(&b->keepalives);
        t->renew_revived += atomic_load(&b->renew_revived);
        t->lapsed += atomic_load(&b->lapsed);
        if (run->cfg->procs) { /* counted by the bot processes (procs.c) */
            t->st.operations += b->proc_stats.operations + b->proc_stats_dead.operations;
            t->st.round_trips += b->proc_stats.round_trips + b->proc_stats_dead.round_trips;
            t->st.retries += b->proc_stats.retries + b->proc_stats_dead.retries;
            t->st.reconnects += b->proc_stats.reconnects + b->proc_stats_dead.reconnects;
            t->st.ambiguous += b->proc_stats.ambiguous + b->proc_stats_dead.ambiguous;
        } else if (b->store) {
            sqclaim_stats s;
            sqclaim_stats_get(b->store, &s);
            t->st.operations += s.operations;
            t->st.round_trips += s.round_trips;
            t->st.retries += s.retries;
            t->st.reconnects += s.reconnects;
            t->st.ambiguous += s.ambiguous;
        }
        for (sim_chunk *c = b->hist.head; c; c = c->next)
            for (size_t k = 0; k < c->n; k++) {
                const sim_event *e = &c->ev[k];
                t->events++;
                if (e->op < OP_COUNT) {
                    n[e->op]++;
                    pct *p = &t->lat[e->op];
                    p->count++;
                    if (e->outcome == OUT_OK)
                        p->ok++;
                    else if (e->outcome == OUT_FAIL)
                        p->fail++;
                    else
                        p->info++;
                }
            }
    }
    for (int op = 0; op < OP_COUNT; op++) {
        if (!timed_op(op) || !n[op])
            continue;
        t->lib_ops += n[op];
        int64_t *v = malloc(n[op] * sizeof *v);
        if (!v)
            continue;
        size_t m = 0;
        for (int i = 0; i < run->cfg->bots; i++)
            for (sim_chunk *c = run->bots[i].hist.head; c; c = c->next)
                for (size_t k = 0; k < c->n; k++)
                    if (c->ev[k].op == op && m < n[op])
                        v[m++] = c->ev[k].complete_ns - c->ev[k].invoke_ns;
        qsort(v, m, sizeof *v, cmp_i64);
        pct *p = &t->lat[op];
        p->p50 = at(v, m, 50);
        p->p90 = at(v, m, 90);
        p->p99 = at(v, m, 99);
        p->p999 = at(v, m, 99.9);
        p->max = m ? (double)v[m - 1] / 1000.0 : 0;
        free(v);
    }
}

/* A JSON string.  Whatever the input (argv can hold any bytes), the output
 * is valid JSON in UTF-8: bytes that are not UTF-8 become U+FFFD. */
static void jstr(FILE *f, const char *s) { sq_json_fput(f, s, SQ_JSON_CSTR, 0); }

static void jerror(FILE *f, const sim_run *run, bool last)
{
    int i = error_bot(run, last);
    if (i < 0) {
        fprintf(f, "null");
        return;
    }
    const sim_bot *b = &run->bots[i];
    fprintf(f, "{\"bot\": \"%s\", \"at_ms\": %.3f, \"message\": ", b->name,
            (double)((last ? b->last_error_ns : b->first_error_ns) - run->t0) / 1e6);
    jstr(f, last ? b->last_error : b->first_error);
    fputc('}', f);
}

int sim_report(sim_run *run, const sim_config *cfg, const char *reproduce, const char *prefix,
               const sim_check_stats *cst, int64_t elapsed_ns, int exit_code, const char *verdict,
               const char *missing, FILE *f)
{
    totals t;
    gather(run, &t);
    double secs = (double)elapsed_ns / 1e9;
    fprintf(f, "{\n  \"tool\": \"sqsim\",\n  \"version\": ");
    jstr(f, sqclaim_version());
    fprintf(f, ",\n  \"verdict\": ");
    jstr(f, verdict);
    fprintf(f, ",\n  \"exit_code\": %d,\n  \"seed\": %" PRIu64 ",\n  \"reproduce\": ", exit_code,
            cfg->seed);
    jstr(f, reproduce);
    fprintf(f, ",\n  \"config\": {\n    \"adapter\": ");
    jstr(f, cfg->adapter);
    fprintf(f, ",\n    \"negative_control\": ");
    if (cfg->control)
        jstr(f, cfg->control);
    else
        fprintf(f, "null");
    fprintf(f, ", \"workload\": ");
    if (cfg->workload)
        jstr(f, cfg->workload);
    else
        fprintf(f, "null");
    fprintf(f, ",\n    \"key_prefix\": ");
    jstr(f, strcmp(cfg->adapter, "memory") == 0 ? "" : prefix);
    fprintf(f,
            ",\n    \"bots\": %d, \"sqs\": %d, \"duration_s\": %g, \"ops\": %" PRIu64
            ", \"ttl_ms\": %" PRId64 ",\n    \"work_min_us\": %" PRId64
            ", \"work_max_us\": %" PRId64 ", \"hot_sqs\": %d, \"hot_prob\": %g,\n"
            "    \"first_rate\": %g, \"candidates\": %d, \"rows_max\": %d, \"backoff_max_us\": "
            "%" PRId64 ",\n    \"crash_rate\": %g, \"pause_rate\": %g, \"renew_after_pause\": %g, "
            "\"pause_ttls\": [%g, %g],\n    \"keepalive_rate\": %g, \"keepalive_work_ttls\": %g, "
            "\"timeout_ms\": %d, \"keep_going\": %s,\n",
            cfg->bots, cfg->sqs, cfg->duration_s, cfg->ops, cfg->ttl_ms, cfg->work_min_us,
            cfg->work_max_us, cfg->hot_sqs, cfg->hot_prob, cfg->first_rate, cfg->candidates,
            cfg->rows_max, cfg->backoff_max_us, cfg->crash_rate, cfg->pause_rate,
            cfg->renew_after_pause, cfg->pause_min, cfg->pause_max, cfg->keepalive_rate,
            cfg->keepalive_work, cfg->timeout_ms, cfg->keep_going ? "true" : "false");
    if (cfg->kv_faults)
        fprintf(f,
                "    \"kv_faults\": {\"latency_ms\": %ld, \"jitter_ms\": %ld, \"fail_rate\": %g, "
                "\"drop_rate\": %g, \"stall_rate\": %g, \"stall_ms\": %ld},\n",
                cfg->kv_latency_ms, cfg->kv_jitter_ms, cfg->kv_fail_rate, cfg->kv_drop_rate,
                cfg->kv_stall_rate, cfg->kv_stall_ms);
    else
        fprintf(f, "    \"kv_faults\": null,\n");
    fprintf(f,
            "    \"min_refusals\": %" PRIu64 ", \"min_takeovers\": %" PRIu64
            ", \"min_stale_writes\": %" PRIu64 ", \"max_events\": %" PRIu64 "\n  },\n",
            cfg->min_refusals, cfg->min_takeovers, cfg->min_stale_writes, cfg->max_events);
    if (cfg->procs)
        sim_procs_report(f);
    uint64_t take = atomic_load(&run->oracle.takeovers);
    uint64_t stale = atomic_load(&run->oracle.stale_writes);
    fprintf(f,
            "  \"elapsed_s\": %.3f,\n  \"throughput\": {\"claims_per_s\": %.1f, "
            "\"grants_per_s\": %.1f, \"ops_per_s\": %.1f},\n",
            secs, secs > 0 ? (double)t.attempts / secs : 0, secs > 0 ? (double)t.grants / secs : 0,
            secs > 0 ? (double)t.lib_ops / secs : 0);
    fprintf(f,
            "  \"counters\": {\n    \"claim_attempts\": %" PRIu64 ", \"grants\": %" PRIu64
            ", \"refusals\": %" PRIu64 ", \"takeovers\": %" PRIu64 ",\n"
            "    \"stale_writes_rejected\": %" PRIu64 ", \"stale_writes_accepted\": %" PRIu64
            ", \"writes_accepted\": %" PRIu64 ",\n    \"crashes\": %" PRIu64
            ", \"pauses\": %" PRIu64 ", \"keepalives\": %" PRIu64 ", \"renew_revived\": %" PRIu64
            ", \"lapsed\": %" PRIu64 ",\n    \"uncertain_claims\": %" PRIu64
            ", \"errors\": %" PRIu64 ", \"history_events\": %" PRIu64 ", \"history_full\": %s,\n"
            "    \"library_operations\": %" PRIu64 ", \"round_trips\": %" PRIu64
            ", \"retries\": %" PRIu64 ", \"reconnects\": %" PRIu64 ", \"ambiguous\": %" PRIu64
            "\n  },\n",
            t.attempts, t.grants, t.refusals, take, stale,
            (uint64_t)atomic_load(&run->oracle.stale_accepted),
            (uint64_t)atomic_load(&run->oracle.writes_ok), t.crashes, t.pauses, t.keepalives,
            t.renew_revived, t.lapsed, t.uncertain, t.errors, t.events,
            atomic_load(&run->history_full) ? "true" : "false", t.st.operations, t.st.round_trips,
            t.st.retries, t.st.reconnects, t.st.ambiguous);
    fprintf(f, "  \"errors\": {\"count\": %" PRIu64 ", \"first\": ", t.errors);
    jerror(f, run, false);
    fprintf(f, ", \"last\": ");
    jerror(f, run, true);
    fprintf(f, "},\n");
    fprintf(f,
            "  \"coverage\": {\"refusals\": {\"min\": %" PRIu64 ", \"seen\": %" PRIu64
            "}, \"takeovers\": {\"min\": %" PRIu64 ", \"seen\": %" PRIu64
            "}, \"stale_writes\": {\"min\": %" PRIu64 ", \"seen\": %" PRIu64 "}, \"missing\": ",
            cfg->min_refusals, t.refusals, cfg->min_takeovers, take, cfg->min_stale_writes, stale);
    jstr(f, missing);
    fprintf(f, "},\n  \"latency_us\": {");
    bool first = true;
    for (int op = 0; op < OP_COUNT; op++) {
        const pct *p = &t.lat[op];
        if (!timed_op(op) || !p->count)
            continue;
        fprintf(f,
                "%s\n    \"%s\": {\"count\": %" PRIu64 ", \"ok\": %" PRIu64 ", \"fail\": %" PRIu64
                ", \"info\": %" PRIu64 ", \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
                "\"p99.9\": %.1f, \"max\": %.1f}",
                first ? "" : ",", op_names[op], p->count, p->ok, p->fail, p->info, p->p50, p->p90,
                p->p99, p->p999, p->max);
        first = false;
    }
    fprintf(f,
            "\n  },\n  \"oracle\": {\"events\": %" PRIu64 ", \"belief_intervals\": %" PRIu64
            ", \"grants\": %" PRIu64 ", \"reservations\": %" PRIu64 ", \"writes\": %" PRIu64
            ", \"check_cpu_ms\": %.3f},\n",
            cst->events, cst->intervals, cst->grants, cst->reservations, cst->writes,
            (double)cst->cpu_ns / 1e6);
    fprintf(f, "  \"violations\": {\n    \"count\": %" PRIu64 ",\n    \"by_kind\": {",
            (uint64_t)atomic_load(&run->vs.count));
    for (int k = 0; k < V_KIND_COUNT; k++)
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", sim_vkind_name((enum sim_vkind)k),
                (uint64_t)atomic_load(&run->vs.by_kind[k]));
    fprintf(f, "},\n    \"list\": [");
    pthread_mutex_lock(&run->vs.mu);
    for (size_t i = 0; i < run->vs.kept; i++) {
        const sim_violation *v = &run->vs.v[i];
        fprintf(f, "%s\n      {\"kind\": ", i ? "," : "");
        jstr(f, sim_vkind_name(v->kind));
        fprintf(f, ", \"found\": \"%s\", \"sq\": ", v->online ? "during-run" : "history-sweep");
        if (v->sq >= 0 && v->sq < run->nsqs)
            jstr(f, run->sq_ptrs[v->sq]);
        else
            fprintf(f, "null");
        if (v->bot_b >= 0)
            fprintf(f, ", \"bots\": [\"BOT%d\", \"BOT%d\"]", v->bot_a + 1, v->bot_b + 1);
        else
            fprintf(f, ", \"bots\": [\"BOT%d\", null]", v->bot_a + 1);
        fprintf(f,
                ", \"leases\": [%" PRIu32 ", %" PRIu32 "], \"fences\": [%" PRIu64 ", %" PRIu64
                "],\n       \"a_ms\": [%.3f, %.3f], \"b_ms\": [%.3f, %.3f], \"rows\": [%" PRIu64
                ", %" PRIu32 "], \"text\": ",
                v->lease_a, v->lease_b, v->fence_a, v->fence_b, (double)v->a_start / 1e6,
                (double)v->a_end / 1e6, (double)v->b_start / 1e6, (double)v->b_end / 1e6,
                v->row_start, v->rows);
        jstr(f, v->text);
        fprintf(f, "}");
    }
    pthread_mutex_unlock(&run->vs.mu);
    fprintf(f, "\n    ]\n  }\n}\n");
    return ferror(f) ? -1 : 0;
}

void sim_summary(sim_run *run, const sim_config *cfg, const char *reproduce,
                 const sim_check_stats *cst, int64_t elapsed_ns, const char *verdict,
                 const char *missing)
{
    FILE *f = cfg->report_path && strcmp(cfg->report_path, "-") == 0 ? stderr : stdout;
    totals t;
    gather(run, &t);
    double secs = (double)elapsed_ns / 1e9;
    uint64_t take = atomic_load(&run->oracle.takeovers);
    uint64_t stale = atomic_load(&run->oracle.stale_writes);
    uint64_t nviol = atomic_load(&run->vs.count);
    if (!cfg->quiet) {
        fprintf(f,
                "claims %" PRIu64 ": %" PRIu64 " granted, %" PRIu64 " refused (held); %" PRIu64
                " expiry takeovers; %" PRIu64 " stale writes rejected by fence\n",
                t.attempts, t.grants, t.refusals, take, stale);
        fprintf(f,
                "bots misbehaved: %" PRIu64 " crashes, %" PRIu64 " pauses past the TTL (%" PRIu64
                " renewed back), %" PRIu64 " keep-alive runs; %" PRIu64 " lapsed leases; %" PRIu64
                " uncertain claims; %" PRIu64 " errors\n",
                t.crashes, t.pauses, t.renew_revived, t.keepalives, t.lapsed, t.uncertain,
                t.errors);
        fprintf(f, "throughput: %.0f library ops/s, %.0f claims/s over %.2f s",
                secs > 0 ? (double)t.lib_ops / secs : 0, secs > 0 ? (double)t.attempts / secs : 0,
                secs);
        if (t.st.round_trips)
            fprintf(f, "; %" PRIu64 " round trips, %" PRIu64 " retries, %" PRIu64 " ambiguous",
                    t.st.round_trips, t.st.retries, t.st.ambiguous);
        fprintf(f, "\nlatency (us)      count      p50      p90      p99    p99.9      max\n");
        for (int op = 0; op < OP_COUNT; op++) {
            const pct *p = &t.lat[op];
            if (!timed_op(op) || !p->count)
                continue;
            fprintf(f, "  %-15s %7" PRIu64 " %8.1f %8.1f %8.1f %8.1f %8.1f\n", op_names[op],
                    p->count, p->p50, p->p90, p->p99, p->p999, p->max);
        }
        fprintf(f,
                "oracle: %" PRIu64 " events, %" PRIu64 " belief intervals, %" PRIu64
                " grants, %" PRIu64 " reservations, %" PRIu64 " writes swept in %.1f ms CPU\n",
                cst->events, cst->intervals, cst->grants, cst->reservations, cst->writes,
                (double)cst->cpu_ns / 1e6);
        if (cfg->procs)
            sim_procs_summary(f);
        if (atomic_load(&run->history_full))
            fprintf(f, "note: the history filled up (--max-events); the run stopped early\n");
        int fe = error_bot(run, false);
        if (fe >= 0)
            fprintf(f, "first error (%s): %s\n", run->bots[fe].name, run->bots[fe].first_error);
    }
    if (nviol) {
        fprintf(f, "VIOLATION: %" PRIu64 " found (", nviol);
        bool first = true;
        for (int k = 0; k < V_KIND_COUNT; k++) {
            uint64_t c = atomic_load(&run->vs.by_kind[k]);
            if (c) {
                fprintf(f, "%s%" PRIu64 " %s", first ? "" : ", ", c,
                        sim_vkind_name((enum sim_vkind)k));
                first = false;
            }
        }
        fprintf(f, ")\n");
        pthread_mutex_lock(&run->vs.mu);
        size_t show = cfg->quiet ? 3 : 10;
        for (size_t i = 0; i < run->vs.kept && i < show; i++)
            fprintf(f, "  [%s, %s] %s\n", sim_vkind_name(run->vs.v[i].kind),
                    run->vs.v[i].online ? "during run" : "history sweep", run->vs.v[i].text);
        if (run->vs.kept > show)
            fprintf(f, "  ... (%zu more kept in the --report JSON)\n", run->vs.kept - show);
        pthread_mutex_unlock(&run->vs.mu);
        fprintf(f, "reproduce: %s\n", reproduce);
    } else if (strcmp(verdict, "coverage") == 0) {
        fprintf(f, "FAIL: nothing was proven: coverage not met (%s)\n", missing);
        fprintf(f, "reproduce: %s\n", reproduce);
    } else if (strcmp(verdict, "interrupted") == 0) {
        fprintf(f,
                "INTERRUPTED: stopped by a signal after %.2f s; no violation so far, nothing "
                "proven\n",
                secs);
        fprintf(f, "reproduce: %s\n", reproduce);
    } else if (strcmp(verdict, "error") == 0) {
        int le = error_bot(run, true);
        fprintf(f,
                "ERROR: the backend failed (%" PRIu64 " errors in %" PRIu64
                " claim attempts, or it stopped answering); last: %s\n",
                t.errors, t.attempts, le >= 0 ? run->bots[le].last_error : "");
    } else {
        fprintf(f,
                "PASS: no two bots held the same SQ, fences only grew, no row was reserved or "
                "written twice (seed %" PRIu64 ")\n",
                cfg->seed);
    }
    fflush(f);
}
