/* main.c — sqsim: N bots hammer M SQs through one backend; an independent
 * oracle proves that no two ever held the same SQ or the same row.
 *
 *   sqsim [--backend memory|sqlite|redis|vercel|http] [--bots N] [--sqs M] [--duration 3s] ...
 *
 * Exit status: 0 clean (and every coverage minimum met), 1 a violation or
 * missing coverage, 2 a usage or backend error.  See docs/simulator.md. */
#include "sqsim.h"
#include "det.h"
#include "backend.h"
#include "controls.h"
#include "scenario.h"
#include "sqsim_http.h"
#include "timeline_run.h"
#ifdef SQCLAIM_WITH_SQLITE
#include "sqlite_controls.h"
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

enum {
    O_ADAPTER = 256,
    O_CONTROL,
    O_PREFIX,
    O_BOTS,
    O_SQS,
    O_DURATION,
    O_OPS,
    O_TTL,
    O_WORK,
    O_HOT,
    O_FIRST_RATE,
    O_CANDIDATES,
    O_CRASH,
    O_PAUSE_RATE,
    O_KEEPALIVE,
    O_RENEW_AFTER,
    O_PAUSE,
    O_KA_WORK,
    O_ROWS,
    O_BACKOFF,
    O_TIMEOUT,
    O_SEED,
    O_KV_FAULTS,
    O_NO_KV_FAULTS,
    O_KV_LAT,
    O_KV_JIT,
    O_KV_FAIL,
    O_KV_DROP,
    O_KV_STALL,
    O_KV_STALL_MS,
    O_MIN_REF,
    O_MIN_TAKE,
    O_MIN_STALE,
    O_KEEP_GOING,
    O_REPORT,
    O_QUIET,
    O_MAX_EVENTS,
    O_BENCH,
    O_HELP,
    O_VERSION,
    O_LIST_CONTROLS,
    O_WORKLOAD,
    O_LIST_ADAPTERS,
    O_TIMELINE,
    O_TIMELINE_MAX
};

static const struct option long_opts[] = {
    {"backend", required_argument, NULL, O_ADAPTER},
    {"adapter", required_argument, NULL, O_ADAPTER}, /* the old name of --backend */
    {"negative-control", required_argument, NULL, O_CONTROL},
    {"key-prefix", required_argument, NULL, O_PREFIX},
    {"bots", required_argument, NULL, O_BOTS},
    {"sqs", required_argument, NULL, O_SQS},
    {"duration", required_argument, NULL, O_DURATION},
    {"ops", required_argument, NULL, O_OPS},
    {"ttl", required_argument, NULL, O_TTL},
    {"work", required_argument, NULL, O_WORK},
    {"hot", required_argument, NULL, O_HOT},
    {"first-rate", required_argument, NULL, O_FIRST_RATE},
    {"candidates", required_argument, NULL, O_CANDIDATES},
    {"crash-rate", required_argument, NULL, O_CRASH},
    {"pause-rate", required_argument, NULL, O_PAUSE_RATE},
    {"keepalive-rate", required_argument, NULL, O_KEEPALIVE},
    {"renew-after-pause", required_argument, NULL, O_RENEW_AFTER},
    {"pause", required_argument, NULL, O_PAUSE},
    {"keepalive-work", required_argument, NULL, O_KA_WORK},
    {"rows", required_argument, NULL, O_ROWS},
    {"backoff", required_argument, NULL, O_BACKOFF},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"seed", required_argument, NULL, O_SEED},
    {"kv-faults", no_argument, NULL, O_KV_FAULTS},
    {"no-kv-faults", no_argument, NULL, O_NO_KV_FAULTS},
    {"kv-latency-ms", required_argument, NULL, O_KV_LAT},
    {"kv-jitter-ms", required_argument, NULL, O_KV_JIT},
    {"kv-fail-rate", required_argument, NULL, O_KV_FAIL},
    {"kv-drop-rate", required_argument, NULL, O_KV_DROP},
    {"kv-stall-rate", required_argument, NULL, O_KV_STALL},
    {"kv-stall-ms", required_argument, NULL, O_KV_STALL_MS},
    {"min-refusals", required_argument, NULL, O_MIN_REF},
    {"min-takeovers", required_argument, NULL, O_MIN_TAKE},
    {"min-stale-writes", required_argument, NULL, O_MIN_STALE},
    {"keep-going", no_argument, NULL, O_KEEP_GOING},
    {"report", required_argument, NULL, O_REPORT},
    {"quiet", no_argument, NULL, O_QUIET},
    {"max-events", required_argument, NULL, O_MAX_EVENTS},
    {"bench-oracle", required_argument, NULL, O_BENCH},
    {"list-controls", no_argument, NULL, O_LIST_CONTROLS},
    {"workload", required_argument, NULL, O_WORKLOAD},
    {"list-backends", no_argument, NULL, O_LIST_ADAPTERS},
    {"list-adapters", no_argument, NULL, O_LIST_ADAPTERS}, /* the old name */
    {"timeline", required_argument, NULL, O_TIMELINE},
    {"timeline-max", required_argument, NULL, O_TIMELINE_MAX},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sqsim [options]\n"
               "\n"
               "N bots hammer M SQs through one sqclaim backend; an independent oracle\n"
               "proves no two bots ever held the same SQ or the same Refund Log row.\n"
               "Exit: 0 clean, 1 violation or coverage not met, 2 usage or backend error.\n"
               "\n"
               "Backend\n"
               "  --backend NAME          memory | sqlite | redis | vercel | http (default\n"
               "                          $SQCLAIM_BACKEND, else $SQCLAIM_ADAPTER, else\n"
               "                          memory); sqlite: a fresh file in a temporary\n"
               "                          directory; redis reads $REDIS_URL, vercel\n"
               "                          $KV_REST_API_URL and $KV_REST_API_TOKEN; http: a\n"
               "                          running sqclaim serve ($SQCLAIM_SERVE_URL and\n"
               "                          $SQCLAIM_SERVE_TOKEN, docs/http.md); --adapter\n"
               "                          is its old name\n"
               "  --key-prefix P          key prefix (default: $SQCLAIM_KEY_PREFIX, else a\n"
               "                          fresh random one per run)\n"
               "  --timeout DUR           per-attempt timeout of the library\n"
               "Workload\n"
               "  --bots N                bot threads (default 8)\n"
               "  --sqs M                 SQs (default 6)\n"
               "  --duration DUR          run time (default 3s)\n"
               "  --ops N                 stop after N claim attempts instead\n"
               "  --ttl DUR               claim TTL (default memory 50ms, sqlite and redis\n"
               "                          100ms, vercel 400ms)\n"
               "  --work MIN:MAX          work time, a doubling grid MIN, 2MIN ... MAX,\n"
               "                          each level equally likely (default 100us:3*TTL)\n"
               "  --hot N:P               the first N SQs are hot, picked with probability P\n"
               "                          (default 2:0.5)\n"
               "  --first-rate P          claim-first-free of a candidate list (default 0.3)\n"
               "  --candidates K          candidates per claim-first-free (default 4)\n"
               "  --rows N                rows per reservation 1..N (default 5)\n"
               "  --backoff DUR           wait 0..DUR after a refusal (default 1ms)\n"
               "Misbehaviour (per granted lease)\n"
               "  --crash-rate P          abandon the lease without release (default 0.03)\n"
               "  --pause-rate P          pause past the TTL, then write unchecked (0.08)\n"
               "  --renew-after-pause P   then try to renew (default 0.5)\n"
               "  --pause MIN:MAX         pause length in TTLs (default 1.5:3)\n"
               "  --keepalive-rate P      long work under the keep-alive (default 0.05)\n"
               "  --keepalive-work X      its length in TTLs (default 2)\n"
               "vercel only: kvrest faults (sent to its admin endpoint, reset at the end)\n"
               "  --kv-faults | --no-kv-faults  a default fault mix (on for vercel in CI)\n"
               "  --kv-latency-ms MS  --kv-jitter-ms MS  --kv-fail-rate R  --kv-drop-rate R\n"
               "  --kv-stall-rate R  --kv-stall-ms MS\n"
               "Verdict and output\n"
               "  --min-refusals N        coverage: refused claims needed (default 10)\n"
               "  --min-takeovers N       coverage: expiry takeovers needed (default 3)\n"
               "  --min-stale-writes N    coverage: rejected stale writes needed (default 1)\n"
               "  --keep-going            do not stop at the first violation\n"
               "  --seed N                random seed (printed; default: random)\n"
               "  --report FILE           the full result as JSON ('-': stdout)\n"
               "  --quiet                 only the verdict line\n"
               "  --max-events N          history capacity (default 20000000)\n"
               "  --timeline FILE.html    the run as an HTML timeline (one self-contained page)\n"
               "  --timeline-max N        events in that page at most (default 40000)\n"
               "  --scenario seed-month   the capacity planner instead (sqsim --scenario\n"
               "                          seed-month --help)\n"
               "  --bench-oracle N        time the oracle on a synthetic history of N events\n"
               "  --list-backends         the backends built in, one per line (old name:\n"
               "                          --list-adapters)\n"
               "  --help, --version\n"
               "\n"
               "Durations: a number and a unit, 250us, 1.5ms, 3s, 1m, 1h, as sqclaim's;\n"
               "a bare number other than 0 is refused (\"did you mean 600s?\").\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sqsim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see sqsim --help)\n");
    va_end(ap);
    return 2;
}

/* A duration option, in sqclaim's one duration grammar
 * (sqclaim_parse_duration_us: "250us", "1.5ms", "3s", "2m"; a bare number
 * other than 0 is refused).  lo..hi in microseconds; `range` says them in
 * words.  0 and *us, or the usage error's status (2). */
static int dur_opt(const char *opt, const char *text, int64_t lo, int64_t hi, const char *range,
                   int64_t *us)
{
    char msg[300];
    if (sqclaim_parse_duration_us(text, us, msg, sizeof msg) != SQCLAIM_OK)
        return usage_error("%s: %s", opt, msg);
    if (*us < lo || *us > hi)
        return usage_error("%s: %s is out of range: %s", opt, text, range);
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v < (uint64_t)lo || v > (uint64_t)hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

static int parse_pair(const char *s, char *a, char *b, size_t len)
{
    const char *c = strchr(s, ':');
    if (!c || (size_t)(c - s) >= len || strlen(c + 1) >= len)
        return -1;
    memcpy(a, s, (size_t)(c - s));
    a[c - s] = '\0';
    strcpy(b, c + 1);
    return 0;
}

static const sqclaim_backend *find_control(const char *name)
{
    for (size_t i = 0; sqclaim_memory_controls[i].name; i++)
        if (strcmp(sqclaim_memory_controls[i].name, name) == 0)
            return &sqclaim_memory_controls[i];
    return NULL;
}

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
    return find_control(name);
}

static bool adapter_built(const char *name)
{
    for (const char *const *a = sqclaim_backend_names(); *a; a++)
        if (strcmp(*a, name) == 0)
            return true;
    return false;
}

/* Defaults, then a negative control's workload, then the user's flags. */
static void defaults(sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->bots = 8;
    c->sqs = 6;
    c->duration_s = 3;
    c->work_min_us = 100;
    c->hot_sqs = 2;
    c->hot_prob = 0.5;
    c->first_rate = 0.3;
    c->candidates = 4;
    c->crash_rate = 0.03;
    c->pause_rate = 0.08;
    c->keepalive_rate = 0.05;
    c->renew_after_pause = 0.5;
    c->pause_min = 1.5;
    c->pause_max = 3;
    c->keepalive_work = 2;
    c->rows_max = 5;
    c->backoff_max_us = 1000;
    c->min_refusals = 10;
    c->min_takeovers = 3;
    c->min_stale_writes = 1;
    c->max_events = 20000000;
    c->kv_latency_ms = 1;
    c->kv_jitter_ms = 4;
    c->kv_fail_rate = 0.02;
    c->kv_drop_rate = 0.02;
    c->kv_stall_rate = 0.01;
    c->kv_stall_ms = 150;
}

/* Each control gets the workload that makes its bug show within a second
 * or two; the oracle is the same for all. */
static void control_workload(sim_config *c, const char *control)
{
    c->duration_s = 8;
    c->min_refusals = c->min_takeovers = c->min_stale_writes = 0;
    c->keepalive_rate = 0;
    if (strcmp(control, "broken-check-then-set") == 0) {
        /* Many bots racing for the moment an SQ comes free. */
        c->bots = 16;
        c->sqs = 2;
        c->hot_sqs = 0;
        c->ttl_ms = 500;
        c->work_min_us = 50;
        c->work_max_us = 400;
        c->crash_rate = c->pause_rate = 0;
        c->backoff_max_us = 100;
        c->first_rate = 0.3;
    } else if (strcmp(control, "broken-private-memory") == 0) {
        c->bots = 4;
        c->sqs = 2;
        c->hot_sqs = 0;
        c->ttl_ms = 500;
        c->work_min_us = 100;
        c->work_max_us = 2000;
        c->crash_rate = c->pause_rate = 0;
    } else if (strcmp(control, "broken-release-no-owner") == 0) {
        /* Paused bots release after expiry while a successor holds it. */
        c->bots = 8;
        c->sqs = 2;
        c->hot_sqs = 0;
        c->ttl_ms = 20;
        c->work_min_us = 100;
        c->work_max_us = 2000;
        c->pause_rate = 0.3;
        c->renew_after_pause = 0;
        c->crash_rate = 0;
        c->backoff_max_us = 500;
    } else if (strcmp(control, "broken-renew-revives") == 0) {
        /* Paused bots renew once a successor came and went. */
        c->bots = 4;
        c->sqs = 3;
        c->hot_sqs = 0;
        c->ttl_ms = 20;
        c->work_min_us = 100;
        c->work_max_us = 2000;
        c->pause_rate = 0.5;
        c->renew_after_pause = 1;
        c->crash_rate = 0;
        c->backoff_max_us = 2000;
    } else if (strcmp(control, "broken-racy-cursor") == 0) {
        /* Many reservations at once on many SQs. */
        c->bots = 16;
        c->sqs = 64;
        c->hot_sqs = 0;
        c->ttl_ms = 500;
        c->work_min_us = 50;
        c->work_max_us = 400;
        c->crash_rate = c->pause_rate = 0;
        c->first_rate = 0;
    }
}

typedef struct argbuf {
    char *s;
    size_t len, cap;
} argbuf;

static void ab_add(argbuf *a, const char *text)
{
    size_t n = strlen(text);
    if (a->len + n + 1 > a->cap) {
        size_t cap = (a->cap ? a->cap * 2 : 256) + n;
        char *s = realloc(a->s, cap);
        if (!s)
            return;
        a->s = s;
        a->cap = cap;
    }
    memcpy(a->s + a->len, text, n + 1);
    a->len += n;
}

/* Shell-quote an argument when it needs it. */
static void ab_arg(argbuf *a, const char *arg)
{
    ab_add(a, " ");
    if (*arg && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_.,:/=+@%") == strlen(arg)) {
        ab_add(a, arg);
        return;
    }
    ab_add(a, "'");
    for (const char *p = arg; *p; p++) {
        char one[2] = {*p, 0};
        ab_add(a, *p == '\'' ? "'\\''" : one);
    }
    ab_add(a, "'");
}

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

static int bench_oracle(uint64_t n)
{
    const int nbots = 16, nsqs = 64;
    sim_history h[16];
    memset(h, 0, sizeof h);
    int64_t t0 = sim_now_ns();
    if (sim_synth_history(h, nbots, nsqs, n, 1) != 0) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }
    int64_t gen = sim_now_ns() - t0;
    sim_violations vs;
    sim_violations_init(&vs, 0);
    sim_check_stats st;
    sim_check_histories(h, nbots, nsqs, &vs, &st);
    printf("oracle bench: %" PRIu64 " events (%" PRIu64 " belief intervals, %" PRIu64
           " grants, %" PRIu64 " reservations, %" PRIu64 " writes) checked in %.1f ms CPU "
           "(%.0f ns/event); generated in %.1f ms; violations: %" PRIu64 "\n",
           st.events, st.intervals, st.grants, st.reservations, st.writes, (double)st.cpu_ns / 1e6,
           st.events ? (double)st.cpu_ns / (double)st.events : 0.0, (double)gen / 1e6,
           (uint64_t)atomic_load(&vs.count));
    for (int i = 0; i < nbots; i++)
        sim_history_free(&h[i]);
    uint64_t bad = atomic_load(&vs.count);
    sim_violations_destroy(&vs);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    /* The capacity planner (always in virtual time: `--det --scenario` is
     * the same) and deterministic mode have their own options. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--scenario") == 0 || strncmp(argv[i], "--scenario=", 11) == 0)
            return sim_scenario_main(argc, argv);
    if (sqsim_det_wanted(argc, argv))
        return sqsim_det_main(argc, argv);
    sim_config cfg;
    defaults(&cfg);
    uint64_t timeline_max = 0;
    bool seed_given = false, ttl_given = false, work_given = false, kv_faults_set = false;
    uint64_t bench = 0;

    /* First pass: the negative control (or --workload: a control's
     * workload on a correct backend), which the other flags refine. */
    const char *workload = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--negative-control=", 19) == 0)
            cfg.control = workload = a + 19;
        else if (strcmp(a, "--negative-control") == 0 && i + 1 < argc)
            cfg.control = workload = argv[i + 1];
        else if (strncmp(a, "--workload=", 11) == 0)
            workload = a + 11;
        else if (strcmp(a, "--workload") == 0 && i + 1 < argc)
            workload = argv[i + 1];
    }
    if (workload) {
        if (!find_control(workload)) {
            fprintf(stderr, "sqsim: unknown negative control \"%s\"; known:", workload);
            for (size_t i = 0; sqclaim_memory_controls[i].name; i++)
                fprintf(stderr, " %s", sqclaim_memory_controls[i].name);
            fprintf(stderr, "\n");
            return 2;
        }
        control_workload(&cfg, workload);
        cfg.workload = workload;
        if (cfg.ttl_ms)
            ttl_given = true;
        if (cfg.work_max_us)
            work_given = true;
    }

    int opt;
    char a[64], b[64];
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int64_t us;
        switch (opt) {
        case O_ADAPTER: cfg.adapter = optarg; break;
        case O_CONTROL:
        case O_WORKLOAD: break;
        case O_PREFIX: cfg.key_prefix = optarg; break;
        case O_BOTS:
            if (parse_int(optarg, 1, SIM_MAX_BOTS, &cfg.bots) != 0)
                return usage_error("--bots: a number 1..%d", SIM_MAX_BOTS);
            break;
        case O_SQS:
            if (parse_int(optarg, 1, SIM_MAX_SQS, &cfg.sqs) != 0)
                return usage_error("--sqs: a number 1..%d", SIM_MAX_SQS);
            break;
        case O_DURATION:
            if (dur_opt("--duration", optarg, 0, INT64_MAX, "", &us))
                return 2;
            cfg.duration_s = (double)us / 1e6;
            break;
        case O_OPS:
            if (parse_u64(optarg, &cfg.ops) != 0)
                return usage_error("--ops: a count");
            if (cfg.ops)
                cfg.duration_s = 0;
            break;
        case O_TTL:
            if (dur_opt("--ttl", optarg, SQCLAIM_MIN_TTL_MS * 1000LL, SQCLAIM_MAX_TTL_MS * 1000LL,
                        "10ms to 24h", &us))
                return 2;
            if (us % 1000)
                return usage_error("--ttl: %s is not a whole number of milliseconds", optarg);
            cfg.ttl_ms = us / 1000;
            ttl_given = true;
            break;
        case O_WORK: {
            int64_t lo, hi;
            if (parse_pair(optarg, a, b, sizeof a) != 0)
                return usage_error("--work: MIN:MAX durations, e.g. 100us:150ms");
            if (dur_opt("--work MIN", a, 0, INT64_MAX, "", &lo) ||
                dur_opt("--work MAX", b, 0, INT64_MAX, "", &hi))
                return 2;
            if (hi < lo)
                return usage_error("--work: MAX is less than MIN");
            cfg.work_min_us = lo;
            cfg.work_max_us = hi;
            work_given = true;
            break;
        }
        case O_HOT:
            if (parse_pair(optarg, a, b, sizeof a) != 0 ||
                parse_int(a, 0, SIM_MAX_SQS, &cfg.hot_sqs) != 0 || parse_rate(b, &cfg.hot_prob))
                return usage_error("--hot: N:P, e.g. 2:0.5");
            break;
        case O_FIRST_RATE:
            if (parse_rate(optarg, &cfg.first_rate))
                return usage_error("--first-rate: a probability 0..1");
            break;
        case O_CANDIDATES:
            if (parse_int(optarg, 1, SIM_MAX_CANDIDATES, &cfg.candidates))
                return usage_error("--candidates: 1..%d", SIM_MAX_CANDIDATES);
            break;
        case O_CRASH:
            if (parse_rate(optarg, &cfg.crash_rate))
                return usage_error("--crash-rate: a probability 0..1");
            break;
        case O_PAUSE_RATE:
            if (parse_rate(optarg, &cfg.pause_rate))
                return usage_error("--pause-rate: a probability 0..1");
            break;
        case O_KEEPALIVE:
            if (parse_rate(optarg, &cfg.keepalive_rate))
                return usage_error("--keepalive-rate: a probability 0..1");
            break;
        case O_RENEW_AFTER:
            if (parse_rate(optarg, &cfg.renew_after_pause))
                return usage_error("--renew-after-pause: a probability 0..1");
            break;
        case O_PAUSE: {
            char *e1, *e2;
            if (parse_pair(optarg, a, b, sizeof a) != 0)
                return usage_error("--pause: MIN:MAX in TTLs, e.g. 1.5:3");
            cfg.pause_min = strtod(a, &e1);
            cfg.pause_max = strtod(b, &e2);
            if (*e1 || *e2 || !(cfg.pause_min >= 1.2) || !(cfg.pause_max >= cfg.pause_min) ||
                cfg.pause_max > 100)
                return usage_error("--pause: MIN:MAX in TTLs, 1.2 <= MIN <= MAX <= 100");
            break;
        }
        case O_KA_WORK: {
            char *e1;
            cfg.keepalive_work = strtod(optarg, &e1);
            if (*e1 || !(cfg.keepalive_work > 0 && cfg.keepalive_work <= 100))
                return usage_error("--keepalive-work: TTLs, 0 < X <= 100");
            break;
        }
        case O_ROWS:
            if (parse_int(optarg, 1, 1000, &cfg.rows_max))
                return usage_error("--rows: 1..1000");
            break;
        case O_BACKOFF:
            if (dur_opt("--backoff", optarg, 0, INT64_MAX, "", &us))
                return 2;
            cfg.backoff_max_us = us;
            break;
        case O_TIMEOUT:
            if (dur_opt("--timeout", optarg, 1000, 600000000, "1ms to 10m", &us))
                return 2;
            cfg.timeout_ms = (int)(us / 1000);
            break;
        case O_SEED:
            if (parse_u64(optarg, &cfg.seed))
                return usage_error("--seed: a number");
            seed_given = true;
            break;
        case O_KV_FAULTS:
            cfg.kv_faults = true;
            kv_faults_set = true;
            break;
        case O_NO_KV_FAULTS:
            cfg.kv_faults = false;
            kv_faults_set = true;
            break;
        case O_KV_LAT:
        case O_KV_JIT:
        case O_KV_STALL_MS: {
            uint64_t v;
            if (parse_u64(optarg, &v) || v > 60000)
                return usage_error("kvrest delays: milliseconds 0..60000");
            if (opt == O_KV_LAT)
                cfg.kv_latency_ms = (long)v;
            else if (opt == O_KV_JIT)
                cfg.kv_jitter_ms = (long)v;
            else
                cfg.kv_stall_ms = (long)v;
            cfg.kv_faults = kv_faults_set = true;
            break;
        }
        case O_KV_FAIL:
        case O_KV_DROP:
        case O_KV_STALL: {
            double *dst = opt == O_KV_FAIL   ? &cfg.kv_fail_rate
                          : opt == O_KV_DROP ? &cfg.kv_drop_rate
                                             : &cfg.kv_stall_rate;
            if (parse_rate(optarg, dst))
                return usage_error("kvrest rates: a probability 0..1");
            cfg.kv_faults = kv_faults_set = true;
            break;
        }
        case O_MIN_REF:
        case O_MIN_TAKE:
        case O_MIN_STALE: {
            uint64_t v;
            if (parse_u64(optarg, &v))
                return usage_error("coverage minimums: a count");
            if (opt == O_MIN_REF)
                cfg.min_refusals = v;
            else if (opt == O_MIN_TAKE)
                cfg.min_takeovers = v;
            else
                cfg.min_stale_writes = v;
            break;
        }
        case O_KEEP_GOING: cfg.keep_going = true; break;
        case O_REPORT: cfg.report_path = optarg; break;
        case O_TIMELINE: cfg.timeline_path = optarg; break;
        case O_TIMELINE_MAX:
            if (parse_u64(optarg, &timeline_max) || timeline_max < 100)
                return usage_error("--timeline-max: at least 100 events");
            break;
        case O_QUIET: cfg.quiet = true; break;
        case O_MAX_EVENTS:
            if (parse_u64(optarg, &cfg.max_events) || cfg.max_events < 1000)
                return usage_error("--max-events: at least 1000");
            break;
        case O_BENCH:
            if (parse_u64(optarg, &bench) || bench == 0 || bench > 500000000)
                return usage_error("--bench-oracle: a number of events");
            break;
        case O_LIST_CONTROLS:
            for (size_t i = 0; sqclaim_memory_controls[i].name; i++)
                printf("%-26s %s\n", sqclaim_memory_controls[i].name,
                       sqclaim_memory_controls[i].summary);
            return 0;
        case O_LIST_ADAPTERS:
            for (const char *const *ad = sqclaim_backend_names(); *ad; ad++)
                printf("%s\n", *ad);
            return 0;
        case O_HELP: usage(stdout); return 0;
        case O_VERSION: printf("sqsim %s\n", sqclaim_version()); return 0;
        default:
            if (optopt)
                return usage_error("option %s needs a value or is unknown", argv[optind - 1]);
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (bench)
        return bench_oracle(bench);

    if (!cfg.adapter)
        cfg.adapter = sqb_getenv("SQCLAIM_BACKEND");
    if (!cfg.adapter)
        cfg.adapter = sqb_getenv("SQCLAIM_ADAPTER"); /* the old name */
    if (!cfg.adapter)
        cfg.adapter = "memory";
    bool is_sqlite = strcmp(cfg.adapter, "sqlite") == 0;
    if (cfg.control && strcmp(cfg.adapter, "memory") != 0 && !is_sqlite)
        return usage_error("--negative-control works on the memory and sqlite backends only");
    /* http: through a running `sqclaim serve` (http_backend.c). */
    bool http = strcmp(cfg.adapter, "http") == 0;
    if (strcmp(cfg.adapter, "memory") != 0 && strcmp(cfg.adapter, "redis") != 0 &&
        strcmp(cfg.adapter, "vercel") != 0 && !http && !is_sqlite)
        return usage_error("--backend: memory, sqlite, redis, vercel or http, not \"%s\"",
                           cfg.adapter);
    if (!http && !adapter_built(cfg.adapter)) {
        fprintf(stderr, "sqsim: backend \"%s\" is not built into this library\n", cfg.adapter);
        return 2;
    }
    bool vercel = strcmp(cfg.adapter, "vercel") == 0;
    if (!ttl_given)
        cfg.ttl_ms = strcmp(cfg.adapter, "memory") == 0 ? 50 : vercel || http ? 400 : 100;
    if (!work_given)
        cfg.work_max_us = cfg.ttl_ms * 3000;
    if (cfg.work_min_us > cfg.work_max_us)
        cfg.work_min_us = cfg.work_max_us;
    if (!kv_faults_set)
        cfg.kv_faults = false;
    if (cfg.kv_faults && !vercel)
        return usage_error("kvrest faults apply to the vercel backend only");
    if (cfg.hot_sqs > cfg.sqs)
        cfg.hot_sqs = cfg.sqs;
    if (cfg.crash_rate + cfg.pause_rate + cfg.keepalive_rate > 1)
        return usage_error("--crash-rate + --pause-rate + --keepalive-rate must not exceed 1");
    if (!cfg.duration_s && !cfg.ops)
        return usage_error("give --duration or --ops");
    if (!seed_given) {
        FILE *ur = fopen("/dev/urandom", "rb");
        if (!ur || fread(&cfg.seed, sizeof cfg.seed, 1, ur) != 1)
            cfg.seed = (uint64_t)sim_now_ns() ^ ((uint64_t)getpid() << 32);
        if (ur)
            fclose(ur);
        cfg.seed %= 1000000000000ULL; /* short enough to type */
    }

    /* The exact command that reproduces this run's configuration. */
    argbuf repro = {0};
    ab_add(&repro, argv[0] && *argv[0] ? argv[0] : "sqsim");
    bool adapter_in_argv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--adapter") == 0 || strncmp(argv[i], "--adapter=", 10) == 0 ||
            strcmp(argv[i], "--backend") == 0 || strncmp(argv[i], "--backend=", 10) == 0)
            adapter_in_argv = true;
        if (strcmp(argv[i], "--quiet") == 0)
            continue;
        ab_arg(&repro, argv[i]);
    }
    if (!adapter_in_argv) {
        ab_arg(&repro, "--backend");
        ab_arg(&repro, cfg.adapter);
    }
    char seedtxt[32];
    snprintf(seedtxt, sizeof seedtxt, "%" PRIu64, cfg.seed);
    if (!seed_given) {
        ab_arg(&repro, "--seed");
        ab_arg(&repro, seedtxt);
    }
    const char *reproduce = repro.s ? repro.s : "sqsim";

    /* Key prefix: fresh per run so runs never see each other's keys. */
    char prefix[64];
    const char *kp = cfg.key_prefix ? cfg.key_prefix : sqb_getenv("SQCLAIM_KEY_PREFIX");
    if (kp) {
        sqb_strlcpy(prefix, kp, sizeof prefix);
    } else {
        sim_rng pr;
        sim_rng_seed(&pr, (uint64_t)sim_now_ns() ^ cfg.seed, (uint64_t)getpid());
        snprintf(prefix, sizeof prefix, "sqsim-%012" PRIx64 ":",
                 (uint64_t)(sim_rng_next(&pr) & 0xffffffffffffULL));
    }
    char space[64];
    snprintf(space, sizeof space, "sqsim-%d", (int)getpid());

    sim_run run;
    memset(&run, 0, sizeof run);
    run.cfg = &cfg;
    run.nsqs = cfg.sqs;
    atomic_init(&run.stop, false);
    atomic_init(&run.history_full, false);
    atomic_init(&run.claims_started, 0);
    run.max_events_per_bot = cfg.max_events / (uint64_t)cfg.bots;
    run.sq_names = calloc((size_t)cfg.sqs, sizeof *run.sq_names);
    run.sq_ptrs = calloc((size_t)cfg.sqs, sizeof *run.sq_ptrs);
    run.bots = calloc((size_t)cfg.bots, sizeof *run.bots);
    int exit_code = 0;
    if (!run.sq_names || !run.sq_ptrs || !run.bots) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }
    for (int i = 0; i < cfg.sqs; i++) {
        snprintf(run.sq_names[i], sizeof run.sq_names[i], "251019-s%04d", i);
        run.sq_ptrs[i] = run.sq_names[i];
    }
    sim_violations_init(&run.vs, 0);
    run.vs.sq_names = run.sq_ptrs;
    if (sim_oracle_init(&run.oracle, cfg.bots, cfg.sqs, &run.vs) != 0) {
        fprintf(stderr, "sqsim: out of memory\n");
        return 2;
    }

    catch_signals();
    /* One handle per bot. */
    const sqclaim_backend *control =
        cfg.control ? find_control_for(cfg.adapter, cfg.control) : NULL;
    if (cfg.control && !control) {
        fprintf(stderr, "sqsim: no negative control \"%s\" for the %s backend\n", cfg.control,
                cfg.adapter);
        return 2;
    }
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = cfg.adapter;
    o.key_prefix = prefix;
    o.memory_space = space;
    /* sqlite: a fresh file per run, in a private directory, removed at
     * the end (as a fresh key prefix on a server). */
    char dbdir[128] = "", dbpath[160] = "";
    if (is_sqlite) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dbdir, sizeof dbdir, "%s/sqsim-XXXXXX",
                 tmp && *tmp && strlen(tmp) < 80 ? tmp : "/tmp");
        if (!mkdtemp(dbdir)) {
            fprintf(stderr, "sqsim: cannot create a directory for the database: %s\n",
                    strerror(errno));
            return 2;
        }
        snprintf(dbpath, sizeof dbpath, "%s/sqsim.db", dbdir);
        o.sqlite_path = dbpath;
    }
    o.timeout_ms = cfg.timeout_ms;
    int opened = 0;
    for (int i = 0; i < cfg.bots; i++) {
        sim_bot *bt = &run.bots[i];
        bt->id = i;
        bt->run = &run;
        snprintf(bt->name, sizeof bt->name, "BOT%d", i + 1);
        sim_rng_seed(&bt->rng, cfg.seed, (uint64_t)i + 1);
        /* Each bot's history buffer, preallocated: ~100k events a bot. */
        uint64_t want = run.max_events_per_bot < 100000 ? run.max_events_per_bot : 100000;
        if (sim_history_reserve(&bt->hist, (size_t)(want / SIM_CHUNK_EVENTS + 1)) != 0) {
            fprintf(stderr, "sqsim: out of memory\n");
            return 2;
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
        rest_url = sqb_getenv("KV_REST_API_URL");
        if (!rest_url)
            rest_url = sqb_getenv("UPSTASH_REDIS_REST_URL");
        rest_token = sqb_getenv("KV_REST_API_TOKEN");
        if (!rest_token)
            rest_token = sqb_getenv("UPSTASH_REDIS_REST_TOKEN");
        char body[512], err[320];
        snprintf(body, sizeof body,
                 "{\"latency_ms\":%ld,\"jitter_ms\":%ld,\"fail_rate\":%g,\"drop_rate\":%g,"
                 "\"stall_rate\":%g,\"stall_ms\":%ld,\"seed\":%" PRIu64 "}",
                 cfg.kv_latency_ms, cfg.kv_jitter_ms, cfg.kv_fail_rate, cfg.kv_drop_rate,
                 cfg.kv_stall_rate, cfg.kv_stall_ms, (uint64_t)(cfg.seed % 1000000000ULL + 1));
        if (sim_kvrest_faults(rest_url, rest_token, body, err, sizeof err) != 0) {
            fprintf(stderr, "sqsim: cannot set kvrest faults: %s\n", err);
            exit_code = 2;
        } else {
            faults_on = true;
        }
    }

    sim_check_stats cst;
    memset(&cst, 0, sizeof cst);
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
        run.t0 = sim_now_ns();
        run.vs.t0 = run.t0;
        run.deadline_ns = cfg.duration_s > 0 ? run.t0 + (int64_t)(cfg.duration_s * 1e9) : 0;
        atomic_init(&run.running, cfg.bots);
        block_signals(true);
        for (int i = 0; i < cfg.bots; i++) {
            if (pthread_create(&run.bots[i].thread, NULL, sim_bot_main, &run.bots[i]) != 0) {
                fprintf(stderr, "sqsim: cannot start bot thread %d\n", i + 1);
                atomic_store(&run.stop, true);
                atomic_fetch_sub(&run.running, cfg.bots - i);
                exit_code = 2;
                break;
            }
            run.bots[i].started = true;
        }
        block_signals(false);
        int64_t last = 0;
        while (atomic_load(&run.running) > 0) {
            int64_t now = sim_now_ns();
            if ((run.deadline_ns && now >= run.deadline_ns) || interrupted)
                atomic_store(&run.stop, true);
            if (tty && now - last >= 200000000) {
                last = now;
                progress(&run, false);
            }
            sim_sleep_ns(10000000);
        }
        for (int i = 0; i < cfg.bots; i++)
            if (run.bots[i].started)
                pthread_join(run.bots[i].thread, NULL);
        run.t_end = sim_now_ns();
        elapsed = run.t_end - run.t0;
        if (tty)
            progress(&run, true);
    }
    if (faults_on) {
        char err[320];
        if (sim_kvrest_faults(rest_url, rest_token,
                              "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,"
                              "\"drop_rate\":0,\"stall_rate\":0}",
                              err, sizeof err) != 0)
            fprintf(stderr, "sqsim: warning: could not reset kvrest faults: %s\n", err);
    }

    const char *verdict = "pass";
    char missing[256] = "";
    if (exit_code == 0) {
        sim_history *hs = calloc((size_t)cfg.bots, sizeof *hs);
        if (hs) {
            for (int i = 0; i < cfg.bots; i++)
                hs[i] = run.bots[i].hist;
            sim_check_histories(hs, cfg.bots, cfg.sqs, &run.vs, &cst);
            free(hs);
        }
        uint64_t grants = 0, refusals = 0, errors = 0, attempts = 0;
        bool down_at_end = true; /* every bot's last claims failed */
        for (int i = 0; i < cfg.bots; i++) {
            if (run.bots[i].err_streak < 3)
                down_at_end = false;
            attempts += atomic_load(&run.bots[i].attempts);
            grants += atomic_load(&run.bots[i].grants);
            refusals += atomic_load(&run.bots[i].refusals);
            errors += atomic_load(&run.bots[i].errors);
        }
        uint64_t take = atomic_load(&run.oracle.takeovers);
        uint64_t stale = atomic_load(&run.oracle.stale_writes);
        if (atomic_load(&run.vs.count)) {
            verdict = "violation";
            exit_code = 1;
        } else if (interrupted) {
            /* Stopped by a signal: no violation so far, nothing proven. */
            verdict = "interrupted";
            exit_code = 2;
        } else if ((grants == 0 && errors > 0) || errors * 2 > attempts || down_at_end) {
            /* The backend failed (most of) the time: nothing was tested. */
            verdict = "error";
            exit_code = 2;
        } else {
            size_t m = 0;
            if (refusals < cfg.min_refusals)
                m += (size_t)snprintf(missing + m, sizeof missing - m,
                                      "%srefusals %" PRIu64 " < %" PRIu64, m ? ", " : "", refusals,
                                      cfg.min_refusals);
            if (take < cfg.min_takeovers && m < sizeof missing)
                m += (size_t)snprintf(missing + m, sizeof missing - m,
                                      "%stakeovers %" PRIu64 " < %" PRIu64, m ? ", " : "", take,
                                      cfg.min_takeovers);
            if (stale < cfg.min_stale_writes && m < sizeof missing)
                m += (size_t)snprintf(missing + m, sizeof missing - m,
                                      "%sstale writes %" PRIu64 " < %" PRIu64, m ? ", " : "", stale,
                                      cfg.min_stale_writes);
            if (missing[0]) {
                verdict = "coverage";
                exit_code = 1;
            }
        }
        sim_summary(&run, &cfg, reproduce, &cst, elapsed, verdict, missing);
    } else {
        verdict = "error";
    }
    if (cfg.report_path) {
        FILE *f = strcmp(cfg.report_path, "-") == 0 ? stdout : fopen(cfg.report_path, "w");
        if (!f) {
            fprintf(stderr, "sqsim: cannot write %s: %s\n", cfg.report_path, strerror(errno));
            if (!exit_code)
                exit_code = 2;
        } else {
            sim_report(&run, &cfg, reproduce, prefix, &cst, elapsed, exit_code, verdict, missing,
                       f);
            if (f != stdout && fclose(f) != 0 && !exit_code)
                exit_code = 2;
        }
    }

    if (cfg.timeline_path && run.t0 &&
        sim_timeline_write(&run, cfg.timeline_path, reproduce, verdict, (size_t)timeline_max) !=
            0 &&
        !exit_code)
        exit_code = 2;
    for (int i = 0; i < cfg.bots; i++) {
        sqclaim_close(run.bots[i].store);
        sim_history_free(&run.bots[i].hist);
    }
    (void)opened;
    sim_oracle_destroy(&run.oracle);
    sim_violations_destroy(&run.vs);
    free(run.sq_names);
    free(run.sq_ptrs);
    free(run.bots);
    free(repro.s);
    if (dbdir[0]) {
        static const char *const files[] = {"sqsim.db", "sqsim.db-wal", "sqsim.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            char p[200];
            snprintf(p, sizeof p, "%s/%s", dbdir, files[i]);
            unlink(p);
        }
        rmdir(dbdir);
    }
    return exit_code;
}
