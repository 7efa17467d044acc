/* run.c — a run of sqsim: one store per bot, kvrest's faults (vercel),
 * the bot threads, the progress line and the signals that end a run. */
#include "program.h"
#include "controls.h"
#include "sqsim_http.h"
#ifdef SQCLAIM_WITH_SQLITE
#include "sqlite_controls.h"
#endif
#ifdef SQSIM_WITH_KVADMIN
#include "kvadmin.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void progress(sim_run *run, bool final)
{
    uint64_t att = 0, gr = 0, ref = 0;
    for (int i = 0; i < run->cfg->bots; i++) {
        att += atomic_load(&run->bots[i].attempts);
        gr += atomic_load(&run->bots[i].grants);
        ref += atomic_load(&run->bots[i].refusals);
    }
    double el = (double)(sim_now_ns() - run->t0) / 1e9;
    fprintf(stderr,
            "\r%6.1fs  %8.0f claims/s  grants %-8" PRIu64 " refusals %-8" PRIu64
            " takeovers %-6" PRIu64 " violations %-3" PRIu64 "%s",
            el, el > 0 ? (double)att / el : 0.0, gr, ref,
            (uint64_t)atomic_load(&run->oracle.takeovers), (uint64_t)atomic_load(&run->vs.count),
            final ? "\n" : "");
    fflush(stderr);
}

/* SIGINT / SIGTERM: the first one ends the run early but cleanly (the
 * bots stop, kvrest's faults are reset, the history is checked and the
 * report written).  Another one more than a second later kills; within
 * that second it is the same signal delivered twice (a terminal's Ctrl-C,
 * or `timeout`, reaches the whole process group, and ci/with-servers.sh
 * passes it on as well). */
static volatile sig_atomic_t interrupted;
static int64_t interrupted_ns; /* only the handler uses it */

static void on_signal(int sig)
{
    int64_t now = sim_now_ns(); /* clock_gettime: async-signal-safe */
    if (!interrupted) {
        interrupted_ns = now;
        interrupted = sig;
    } else if (now - interrupted_ns > 1000000000) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Block (or unblock) them in this thread: bot threads, and the library's
 * keep-alive threads they start, inherit the mask, so a signal is taken by
 * the main thread and never interrupts a library call. */
static void block_signals(bool block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* Set kvrest's faults through its admin API (kvadmin.h). */
static int kvrest_faults(const char *url, const char *token, const char *json, char *err,
                         size_t errlen)
{
#ifdef SQSIM_WITH_KVADMIN
    return kva_faults(url, token, json, err, errlen);
#else
    (void)url, (void)token, (void)json;
    snprintf(err, errlen, "sqsim is built without libcurl: kvrest faults are not available");
    return -1;
#endif
}

/* sqlite's private directory for this run ("" none), removed by
 * sim_run_free() once the stores are closed. */
static char dbdir[128];

/* The control of that name for the adapter (memory's or sqlite's). */
static const sqclaim_backend *find_control_for(const char *adapter, const char *name)
{
#ifdef SQCLAIM_WITH_SQLITE
    if (strcmp(adapter, "sqlite") == 0) {
        const sqclaim_backend *t = sqclaim_sqlite_controls();
        for (size_t i = 0; t[i].name; i++)
            if (strcmp(t[i].name, name) == 0)
                return &t[i];
        return NULL;
    }
#endif
    (void)adapter;
    return sim_find_control(name);
}

bool sim_interrupted(void) { return interrupted != 0; }

int sim_run_init(sim_run *run, const sim_config *cfg_)
{
    const sim_config cfg = *cfg_;
    memset(run, 0, sizeof *run);
    run->cfg = cfg_;
    run->nsqs = cfg.sqs;
    atomic_init(&run->stop, false);
    atomic_init(&run->history_full, false);
    atomic_init(&run->claims_started, 0);
    run->max_events_per_bot = cfg.max_events / (uint64_t)cfg.bots;
    run->sq_names = calloc((size_t)cfg.sqs, sizeof *run->sq_names);
    run->sq_ptrs = calloc((size_t)cfg.sqs, sizeof *run->sq_ptrs);
    run->bots = calloc((size_t)cfg.bots, sizeof *run->bots);
    if (!run->sq_names || !run->sq_ptrs || !run->bots) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }
    for (int i = 0; i < cfg.sqs; i++) {
        snprintf(run->sq_names[i], sizeof run->sq_names[i], "251019-s%04d", i);
        run->sq_ptrs[i] = run->sq_names[i];
    }
    sim_violations_init(&run->vs, 0);
    run->vs.sq_names = run->sq_ptrs;
    if (sim_oracle_init(&run->oracle, cfg.bots, cfg.sqs, &run->vs) != 0) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }
    return 0;
}

int sim_run_bots(sim_run *run, const char *prefix, const char *space, int64_t *elapsed_ns)
{
    const sim_config cfg = *run->cfg;
    bool vercel = strcmp(cfg.adapter, "vercel") == 0;
    bool http = strcmp(cfg.adapter, "http") == 0; /* through a running sqclaim serve */
    int exit_code = 0;
    catch_signals();
    /* One handle per bot. */
    const sqclaim_backend *control =
        cfg.control ? find_control_for(cfg.adapter, cfg.control) : NULL;
    if (cfg.control && !control) {
        fprintf(stderr, "sqsim: no negative control \"%s\" for the %s backend\n", cfg.control,
                cfg.adapter);
        return -1;
    }
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = cfg.adapter;
    o.key_prefix = prefix;
    o.memory_space = space;
    /* sqlite: a fresh file per run, in a private directory, removed at
     * the end (as a fresh key prefix on a server). */
    static char dbpath[160];
    if (strcmp(cfg.adapter, "sqlite") == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dbdir, sizeof dbdir, "%s/sqsim-XXXXXX",
                 tmp && *tmp && strlen(tmp) < 80 ? tmp : "/tmp");
        if (!mkdtemp(dbdir)) {
            fprintf(stderr, "sqsim: cannot create a directory for the database: %s\n",
                    strerror(errno));
            dbdir[0] = '\0';
            return -1;
        }
        snprintf(dbpath, sizeof dbpath, "%s/sqsim.db", dbdir);
        o.sqlite_path = dbpath;
    }
    o.timeout_ms = cfg.timeout_ms;
    int opened = 0;
    for (int i = 0; i < cfg.bots; i++) {
        sim_bot *bt = &run->bots[i];
        bt->id = i;
        bt->run = run;
        snprintf(bt->name, sizeof bt->name, "BOT%d", i + 1);
        sim_rng_seed(&bt->rng, cfg.seed, (uint64_t)i + 1);
        /* Each bot's history buffer, preallocated: ~100k events a bot. */
        uint64_t want = run->max_events_per_bot < 100000 ? run->max_events_per_bot : 100000;
        if (sim_history_reserve(&bt->hist, (size_t)(want / SIM_CHUNK_EVENTS + 1)) != 0) {
            fprintf(stderr, "sqsim: out of memory\n");
            return -1;
        }
        atomic_init(&bt->attempts, 0);
        atomic_init(&bt->grants, 0);
        atomic_init(&bt->refusals, 0);
        atomic_init(&bt->errors, 0);
        atomic_init(&bt->uncertain, 0);
        atomic_init(&bt->crashes, 0);
        atomic_init(&bt->pauses, 0);
        atomic_init(&bt->keepalives, 0);
        atomic_init(&bt->renew_revived, 0);
        atomic_init(&bt->lapsed, 0);
        const sqclaim_backend *be = control ? control : http ? &sim_http_backend : NULL;
        sqclaim_rc rc =
            be ? sqclaim_open_backend(be, &o, &bt->store) : sqclaim_open(&o, &bt->store);
        if (rc == SQCLAIM_OK)
            rc = sqclaim_ping(bt->store);
        if (rc != SQCLAIM_OK) {
            fprintf(stderr, "sqsim: cannot use the %s backend: %s\n", cfg.adapter,
                    bt->store ? sqclaim_errmsg(bt->store) : sqclaim_strerror(rc));
            sqclaim_close(bt->store);
            bt->store = NULL;
            exit_code = 2;
            break;
        }
        opened++;
    }

    const char *rest_url = NULL, *rest_token = NULL;
    bool faults_on = false;
    if (exit_code == 0 && vercel && cfg.kv_faults) {
        /* The URL and token the vercel backend uses (one rule: squtil.h). */
        sq_rest_source env;
        sq_rest_env(&env);
        rest_url = env.url;
        rest_token = env.token;
        char body[512], err[320];
        snprintf(body, sizeof body,
                 "{\"latency_ms\":%ld,\"jitter_ms\":%ld,\"fail_rate\":%g,\"drop_rate\":%g,"
                 "\"stall_rate\":%g,\"stall_ms\":%ld,\"seed\":%" PRIu64 "}",
                 cfg.kv_latency_ms, cfg.kv_jitter_ms, cfg.kv_fail_rate, cfg.kv_drop_rate,
                 cfg.kv_stall_rate, cfg.kv_stall_ms, (uint64_t)(cfg.seed % 1000000000ULL + 1));
        if (kvrest_faults(rest_url, rest_token, body, err, sizeof err) != 0) {
            fprintf(stderr, "sqsim: cannot set kvrest faults: %s\n", err);
            exit_code = 2;
        } else {
            faults_on = true;
        }
    }

    int64_t elapsed = 0;
    if (exit_code == 0) {
        bool tty = !cfg.quiet && isatty(STDERR_FILENO);
        if (!cfg.quiet)
            fprintf(stderr,
                    "sqsim: %s%s%s backend, %d bots, %d SQs, ttl %" PRId64 " ms, %g%s, seed "
                    "%" PRIu64 "\n",
                    cfg.adapter, control ? " / negative control " : "",
                    control ? control->name : "", cfg.bots, cfg.sqs, cfg.ttl_ms,
                    cfg.ops ? (double)cfg.ops : cfg.duration_s, cfg.ops ? " claim attempts" : " s",
                    cfg.seed);
        run->t0 = sim_now_ns();
        run->vs.t0 = run->t0;
        run->deadline_ns = cfg.duration_s > 0 ? run->t0 + (int64_t)(cfg.duration_s * 1e9) : 0;
        atomic_init(&run->running, cfg.bots);
        block_signals(true);
        for (int i = 0; i < cfg.bots; i++) {
            if (pthread_create(&run->bots[i].thread, NULL, sim_bot_main, &run->bots[i]) != 0) {
                fprintf(stderr, "sqsim: cannot start bot thread %d\n", i + 1);
                atomic_store(&run->stop, true);
                atomic_fetch_sub(&run->running, cfg.bots - i);
                exit_code = 2;
                break;
            }
            run->bots[i].started = true;
        }
        block_signals(false);
        int64_t last = 0;
        while (atomic_load(&run->running) > 0) {
            int64_t now = sim_now_ns();
            if ((run->deadline_ns && now >= run->deadline_ns) || interrupted)
                atomic_store(&run->stop, true);
            if (tty && now - last >= 200000000) {
                last = now;
                progress(run, false);
            }
            sim_sleep_ns(10000000);
        }
        for (int i = 0; i < cfg.bots; i++)
            if (run->bots[i].started)
                pthread_join(run->bots[i].thread, NULL);
        run->t_end = sim_now_ns();
        elapsed = run->t_end - run->t0;
        if (tty)
            progress(run, true);
    }
    if (faults_on) {
        char err[320];
        if (kvrest_faults(rest_url, rest_token,
                          "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,"
                          "\"drop_rate\":0,\"stall_rate\":0}",
                          err, sizeof err) != 0)
            fprintf(stderr, "sqsim: warning: could not reset kvrest faults: %s\n", err);
    }
    (void)opened;
    *elapsed_ns = elapsed;
    return exit_code;
}

void sim_run_free(sim_run *run)
{
    for (int i = 0; i < run->cfg->bots; i++) {
        sqclaim_close(run->bots[i].store);
        sim_history_free(&run->bots[i].hist);
    }
    sim_oracle_destroy(&run->oracle);
    sim_violations_destroy(&run->vs);
    free(run->sq_names);
    free(run->sq_ptrs);
    free(run->bots);
    if (dbdir[0]) {
        static const char *const files[] = {"sqsim.db", "sqsim.db-wal", "sqsim.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            char p[200];
            snprintf(p, sizeof p, "%s/%s", dbdir, files[i]);
            unlink(p);
        }
        rmdir(dbdir);
        dbdir[0] = '\0';
    }
}
