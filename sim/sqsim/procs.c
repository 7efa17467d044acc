/* procs.c — sqsim --procs: the bots are separate processes.
 *
 * The thread mode proves the protocol between threads that share one
 * address space; the seed's bug was between processes that did not.  Here
 * every bot is a forked process with its own handle (its own SQLite
 * connection, redis connection or HTTP client), and the parent kills bots
 * with SIGKILL in the middle of whatever they are doing and starts fresh
 * ones in their place.
 *
 * The oracle stays the same code.  Before forking, the parent maps one
 * MAP_SHARED arena (util.c, sim_arena_init) and makes the oracle (owner
 * slots, lease and reservation tables, the model Refund Log), the run's
 * flags and counters, and every bot's history in it; the forked bots
 * inherit the mapping at the same address, so the oracle's online checks
 * see every process at once.  Each bot appends only to its own history
 * (its own region of the arena).  After the run the parent copies the
 * result back into the caller's sim_run, and the offline sweep and the
 * verdict run over the merged histories exactly as after a thread run.
 *
 * A killed bot may have been writing an event: each bot marks how much of
 * its history is complete (sim_bot.committed, set around every library
 * call and sleep, bot.c), the parent cuts the history there, and appends a
 * crash event at the time of the kill (the bot's belief then runs to its
 * lease's deadline, as for a thread-mode crash).  The restarted bot
 * continues the same history and lease numbering with a fresh handle and a
 * fresh random stream.  See docs/simulator.md, "--procs". */
#include "sqsim.h"
#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define PROCS_PIDS_KEPT 64 /* PIDs listed per bot in the report */

typedef struct proc_slot {
    pid_t pid; /* running incarnation, 0: none */
    int incarnations;
    pid_t pids[PROCS_PIDS_KEPT];
} proc_slot;

static struct {
    bool on;
    int nbots;
    pid_t parent;
    proc_slot *slots;
    uint64_t kills, restarts, stray_exits, killed_at_end;
    uint64_t releases_cut; /* bots killed after leaving, before their release was recorded */
    int64_t kill_mean_ns;
    size_t arena_bytes;
    char stray[240]; /* the first bot process that ended on its own badly */
} P;

int sim_procs_prepare(const sim_config *cfg)
{
    bool memory = strcmp(cfg->adapter, "memory") == 0;
    if (memory && !(cfg->control && strcmp(cfg->control, "broken-private-memory") == 0)) {
        fprintf(stderr,
                "sqsim: --procs: the memory backend keeps its claims in one process's memory, "
                "so separate bot processes cannot share them (the seed's bug); use --backend "
                "sqlite, redis or vercel.  (--backend memory --procs --negative-control "
                "broken-private-memory runs it as the negative control that --procs must "
                "catch.)\n");
        return 2;
    }
    /* The histories (all events at most), each bot's tables, the model
     * Refund Log's pages.  Reserved address space only: pages are used as
     * they are touched. */
    size_t bytes = (size_t)cfg->max_events * sizeof(sim_event) * 11 / 10 +
                   (size_t)cfg->bots *
                       (2 * sizeof(sim_table) + 4 * SIM_TABLE_CHUNK * 64 + 2 * sizeof(sim_chunk)) +
                   (size_t)cfg->sqs * 64 + ((size_t)512 << 20);
    if (sim_arena_init(bytes) != 0) {
        fprintf(stderr,
                "sqsim: --procs: cannot map %zu MB of shared memory for the oracle and the "
                "histories: %s (a smaller --max-events needs less)\n",
                bytes >> 20, strerror(errno));
        return 2;
    }
    P.arena_bytes = bytes;
    P.on = true;
    return 0;
}

/* The bot's history cut to its first n events (what it had completed
 * when it was killed). */
static void hist_truncate(sim_history *h, size_t n)
{
    size_t left = n;
    h->tail = NULL;
    for (sim_chunk *c = h->head; c; c = c->next) {
        if (left > 0) {
            size_t k = c->n < left ? c->n : left;
            if (k > SIM_CHUNK_EVENTS)
                k = SIM_CHUNK_EVENTS;
            c->n = k;
            left -= k;
            h->tail = c;
        } else {
            c->n = 0;
        }
    }
    h->n = n - left;
}

static const sim_event *hist_last(const sim_history *h)
{
    return h->tail && h->tail->n ? &h->tail->ev[h->tail->n - 1] : NULL;
}

/* The bot process: its own handle, the thread mode's bot loop, exit. */
static void child_main(sim_run *run, int i, int incarnation, const sqclaim_options *o,
                       const sqclaim_backend *be)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the parent */
    if (getppid() != P.parent)
        _exit(4);
#endif
    /* The parent stops the bots (run->stop) when it is interrupted; a
     * Ctrl-C or a `timeout` reaching the whole group must not kill a bot
     * in the middle of a call instead. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    sim_bot *b = &run->bots[i];
    if (incarnation > 0)
        sim_rng_seed(&b->rng, run->cfg->seed ^ 0x70726f6373ULL,
                     (uint64_t)i + 1 + (uint64_t)incarnation * SIM_MAX_BOTS);
    b->seen_retries = b->seen_ambiguous = 0;
    sqclaim_store *st = NULL;
    sqclaim_rc rc = be ? sqclaim_open_backend(be, o, &st) : sqclaim_open(o, &st);
    if (rc != SQCLAIM_OK) {
        fprintf(stderr, "sqsim: %s (pid %d): cannot open the %s backend: %s\n", b->name,
                (int)getpid(), run->cfg->adapter, st ? sqclaim_errmsg(st) : sqclaim_strerror(rc));
        sqclaim_close(st);
        _exit(3);
    }
    b->store = st;
    sim_bot_main(b);
    sqclaim_stats_get(st, &b->proc_stats);
    b->store = NULL;
    sqclaim_close(st);
    _exit(0);
}

static int spawn(sim_run *run, int i, const sqclaim_options *o, const sqclaim_backend *be)
{
    proc_slot *s = &P.slots[i];
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sqsim: --procs: cannot fork bot %d: %s\n", i + 1, strerror(errno));
        return -1;
    }
    if (pid == 0)
        child_main(run, i, s->incarnations, o, be);
    s->pid = pid;
    if (s->incarnations < PROCS_PIDS_KEPT)
        s->pids[s->incarnations] = pid;
    s->incarnations++;
    return 0;
}

static int slot_of(pid_t pid)
{
    for (int i = 0; i < P.nbots; i++)
        if (P.slots[i].pid == pid)
            return i;
    return -1;
}

/* A bot process ended with status st without being killed by us. */
static bool reaped(sim_run *run, int i, pid_t pid, int st)
{
    P.slots[i].pid = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return true;
    P.stray_exits++;
    if (!P.stray[0]) {
        if (WIFSIGNALED(st))
            snprintf(P.stray, sizeof P.stray, "%s (pid %d) died of signal %d", run->bots[i].name,
                     (int)pid, WTERMSIG(st));
        else
            snprintf(P.stray, sizeof P.stray, "%s (pid %d) exited with status %d",
                     run->bots[i].name, (int)pid, WEXITSTATUS(st));
    }
    return false;
}

/* After bot i's process is gone (killed, or died): its history cut to
 * what it completed, and a crash event at time t on its latest lease. */
static void bury(sim_run *run, int i, int64_t t)
{
    sim_bot *b = &run->bots[i];
    size_t done = atomic_load(&b->committed);
    if (done > b->hist.n)
        done = b->hist.n;
    hist_truncate(&b->hist, done);
    const sim_event *last = hist_last(&b->hist);
    /* Killed inside release (or just after it, before the event was
     * complete): the oracle's record says when the bot left the critical
     * section, which is where its belief ended (bot.c leaves before it
     * releases).  Without this the belief would run on to the deadline
     * while a successor, granted after the release landed, held the SQ: a
     * violation no backend caused.  A release event says so to the sweep;
     * if the history already has it, the sweep ignores the second one. */
    uint32_t ri = run->oracle.leases[i].n;
    const sim_lease_rec *r = ri ? sim_oracle_lease(&run->oracle, i, ri) : NULL;
    int64_t vacated = r ? atomic_load(&r->vacated_ns) : 0;
    if (vacated && last && last->lease == r->lease && last->op != OP_RELEASE &&
        vacated >= last->invoke_ns) {
        sim_event *rel = sim_history_add(&b->hist);
        if (rel) {
            rel->op = OP_RELEASE;
            rel->invoke_ns = rel->complete_ns = vacated;
            rel->bot = (uint16_t)i;
            rel->sq = (uint16_t)r->sq;
            rel->lease = r->lease;
            rel->fence = r->fence;
            rel->token32 = last->token32;
            rel->outcome = OUT_INFO; /* whether the store applied it is unknown */
            rel->rc = (int8_t)SQCLAIM_ETIMEOUT;
            P.releases_cut++;
            last = rel;
        }
    }
    sim_event *e = sim_history_add(&b->hist);
    if (e) {
        e->op = OP_CRASH;
        e->invoke_ns = e->complete_ns = t;
        e->bot = (uint16_t)i;
        e->sq = last ? last->sq : 0;
        e->lease = last ? last->lease : 0;
        e->token32 = last ? last->token32 : 0;
        e->outcome = OUT_OK;
        atomic_store(&b->committed, b->hist.n);
    }
    atomic_fetch_add(&b->crashes, 1);
    /* Its handle's counters up to its last recorded call. */
    b->proc_stats_dead.operations += b->proc_stats.operations;
    b->proc_stats_dead.round_trips += b->proc_stats.round_trips;
    b->proc_stats_dead.retries += b->proc_stats.retries;
    b->proc_stats_dead.reconnects += b->proc_stats.reconnects;
    b->proc_stats_dead.ambiguous += b->proc_stats.ambiguous;
    memset(&b->proc_stats, 0, sizeof b->proc_stats);
}

static int64_t next_kill_in(sim_rng *r)
{
    return (int64_t)((double)P.kill_mean_ns * (0.5 + sim_rng_unit(r)));
}

int sim_procs_run(sim_run *run, const sqclaim_options *o, const sqclaim_backend *be,
                  volatile sig_atomic_t *interrupted, void (*progress)(sim_run *, bool))
{
    const sim_config *cfg = run->cfg;
    int n = cfg->bots;
    P.nbots = n;
    P.parent = getpid();
    P.slots = calloc((size_t)n, sizeof *P.slots);
    sim_config *ccfg = malloc(sizeof *ccfg);
    /* The run as the bots see it, in the arena. */
    sim_run *sr = sim_alloc(1, sizeof *sr);
    sim_bot *sb = sim_alloc((size_t)n, sizeof *sb);
    if (!P.on || !P.slots || !ccfg || !sr || !sb) {
        fprintf(stderr, "sqsim: --procs: out of memory (or sim_procs_prepare not called)\n");
        free(P.slots);
        P.slots = NULL;
        free(ccfg);
        return 2;
    }
    /* A kill -9 from the parent replaces the thread mode's crash (a bot
     * abandoning its lease): the bots themselves never crash on purpose. */
    *ccfg = *cfg;
    ccfg->crash_rate = 0;
    memcpy(sr, run, sizeof *sr);
    sr->cfg = ccfg;
    sr->oracle.vs = &sr->vs;
    sr->bots = sb;
    if (sim_violations_share(&sr->vs) != 0) {
        fprintf(stderr, "sqsim: --procs: cannot make a process-shared lock\n");
        free(P.slots);
        P.slots = NULL;
        free(ccfg);
        return 2;
    }
    /* The parent's handles (opened and pinged by main.c: the backend
     * answers) are closed before forking: a connection must not cross a
     * fork (SQLite's rule; a child would inherit its lock and
     * shared-memory bookkeeping), and every bot opens its own. */
    for (int i = 0; i < n; i++) {
        sqclaim_close(run->bots[i].store);
        run->bots[i].store = NULL;
    }
    memcpy(sb, run->bots, (size_t)n * sizeof *sb);
    for (int i = 0; i < n; i++) {
        sb[i].store = NULL;
        sb[i].run = sr;
        atomic_store(&sb[i].committed, 0);
    }
    P.kill_mean_ns = cfg->crash_rate > 0
                         ? (int64_t)((double)cfg->ttl_ms * 1.5e6 / (cfg->crash_rate * (double)n))
                         : 0;
    sim_rng kr;
    sim_rng_seed(&kr, cfg->seed, 0x6b696c6cULL); /* the victims and times follow the seed */

    int rc = 0, live = 0;
    sr->t0 = sim_now_ns();
    sr->vs.t0 = sr->t0;
    sr->deadline_ns = cfg->duration_s > 0 ? sr->t0 + (int64_t)(cfg->duration_s * 1e9) : 0;
    atomic_store(&sr->running, n);
    for (int i = 0; i < n; i++) {
        if (spawn(sr, i, o, be) != 0) {
            atomic_store(&sr->stop, true);
            rc = 2;
            break;
        }
        live++;
    }
    int64_t next_kill = P.kill_mean_ns ? sr->t0 + next_kill_in(&kr) : 0;
    int64_t last_progress = 0, stop_at = 0;
    while (live > 0) {
        int64_t now = sim_now_ns();
        bool stopping = atomic_load(&sr->stop);
        if (!stopping && ((sr->deadline_ns && now >= sr->deadline_ns) || *interrupted)) {
            atomic_store(&sr->stop, true);
            stopping = true;
        }
        if (stopping && !stop_at)
            stop_at = now;
        int st;
        pid_t pid;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            int i = slot_of(pid);
            if (i < 0)
                continue;
            live--;
            if (!reaped(sr, i, pid, st)) {
                /* Died on its own: not a pass.  Its history up to there
                 * still goes to the oracle. */
                bury(sr, i, now);
                atomic_store(&sr->stop, true);
                rc = 2;
            }
        }
        if (next_kill && !stopping && now >= next_kill && live > 0) {
            int v = (int)sim_rng_below(&kr, (uint64_t)n);
            pid_t vp = P.slots[v].pid;
            if (vp > 0 && kill(vp, SIGKILL) == 0 && waitpid(vp, &st, 0) == vp) {
                live--;
                P.slots[v].pid = 0;
                if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
                    P.kills++;
                    bury(sr, v, sim_now_ns());
                    if (!atomic_load(&sr->stop) && spawn(sr, v, o, be) == 0) {
                        P.restarts++;
                        live++;
                    }
                } else if (!reaped(sr, v, vp, st)) {
                    bury(sr, v, sim_now_ns());
                    atomic_store(&sr->stop, true);
                    rc = 2;
                }
            }
            next_kill = now + next_kill_in(&kr);
        }
        /* Bots stop within a library call's timeout of the stop flag; one
         * that does not within 60 s is killed (and counted). */
        if (stop_at && now - stop_at > 60 * 1000000000LL) {
            for (int i = 0; i < n; i++)
                if (P.slots[i].pid > 0 && kill(P.slots[i].pid, SIGKILL) == 0 &&
                    waitpid(P.slots[i].pid, &st, 0) > 0) {
                    P.slots[i].pid = 0;
                    P.killed_at_end++;
                    bury(sr, i, sim_now_ns());
                    live--;
                }
            fprintf(stderr, "sqsim: --procs: %" PRIu64 " bot process(es) did not stop in 60 s\n",
                    P.killed_at_end);
            rc = 2;
        }
        if (progress && now - last_progress >= 200000000) {
            last_progress = now;
            progress(sr, false);
        }
        if (live > 0)
            sim_sleep_ns(2000000);
    }
    sr->t_end = sim_now_ns();
    atomic_store(&sr->running, 0); /* every bot process is gone (killed ones never said so) */
    if (progress)
        progress(sr, true);
    if (P.stray[0])
        fprintf(stderr, "sqsim: --procs: a bot process failed: %s\n", P.stray);

    /* The merged result into the caller's run, as after threads. */
    sim_bot *bots = run->bots;
    sim_violations_destroy(&run->vs);
    memcpy(run, sr, sizeof *run);
    run->cfg = cfg;
    run->bots = bots;
    run->oracle.vs = &run->vs;
    memcpy(bots, sb, (size_t)n * sizeof *bots);
    for (int i = 0; i < n; i++) {
        bots[i].run = run;
        bots[i].store = NULL;
    }
    free(ccfg);
    return rc;
}

/* What the bot processes were, as the report's "procs" object (json) or
 * as the summary's one line; nothing when the run had none. */
static void procs_print(FILE *f, bool json)
{
    if (!P.on || !P.slots)
        return;
    uint64_t procs = 0; /* every incarnation of every bot */
    for (int i = 0; i < P.nbots; i++)
        procs += (uint64_t)P.slots[i].incarnations;
    if (!json) {
        fprintf(f,
                "processes: %" PRIu64 " bot processes (parent pid %d), %" PRIu64
                " killed with SIGKILL mid-run and restarted %" PRIu64 "; histories merged from "
                "shared memory (%.1f MB used)\n",
                procs, (int)P.parent, P.kills, P.restarts, (double)sim_arena_used() / 1048576.0);
        return;
    }
    fprintf(f,
            "  \"procs\": {\"parent_pid\": %d, \"bot_processes\": %" PRIu64 ", \"kills\": %" PRIu64
            ", \"restarts\": %" PRIu64 ", \"failed_processes\": %" PRIu64
            ", \"killed_at_end\": %" PRIu64 ", \"killed_in_release\": %" PRIu64
            ", \"kill_mean_ms\": %.1f, \"arena_mb\": %.1f,\n"
            "    \"bots\": [",
            (int)P.parent, procs, P.kills, P.restarts, P.stray_exits, P.killed_at_end,
            P.releases_cut, (double)P.kill_mean_ns / 1e6, (double)sim_arena_used() / 1048576.0);
    for (int i = 0; i < P.nbots; i++) {
        fprintf(f, "%s\n      {\"bot\": \"BOT%d\", \"processes\": %d, \"pids\": [", i ? "," : "",
                i + 1, P.slots[i].incarnations);
        int k =
            P.slots[i].incarnations < PROCS_PIDS_KEPT ? P.slots[i].incarnations : PROCS_PIDS_KEPT;
        for (int j = 0; j < k; j++)
            fprintf(f, "%s%d", j ? ", " : "", (int)P.slots[i].pids[j]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n    ]},\n");
}

void sim_procs_report(FILE *f) { procs_print(f, true); }

void sim_procs_summary(FILE *f) { procs_print(f, false); }
