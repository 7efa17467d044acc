/* options.c — sqsim's command line: the options, their defaults, a
 * negative control's workload, and the command that reproduces a run. */
#include "program.h"
#include "controls.h"

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
    O_TIMELINE_MAX,
    O_PROCS
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
    {"procs", no_argument, NULL, O_PROCS},
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
               "  --procs                 bots are forked processes, each with its own handle,\n"
               "                          killed with SIGKILL at --crash-rate and restarted;\n"
               "                          the same oracle in shared memory (not memory)\n"
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

static int parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;
    if (!sq_parse_u64(s, &v) || v < (uint64_t)lo || v > (uint64_t)hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* A probability: 0, or -1 when s is not one in 0..1. */
static int parse_rate(const char *s, double *out) { return sq_parse_double(s, 0, 1, out) ? 0 : -1; }

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

const struct sqclaim_backend *sim_find_control(const char *name)
{
    for (size_t i = 0; sqclaim_memory_controls[i].name; i++)
        if (strcmp(sqclaim_memory_controls[i].name, name) == 0)
            return &sqclaim_memory_controls[i];
    return NULL;
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

static void ab_add(sq_buf *a, const char *text) { sq_buf_adds(a, text); }

/* Shell-quote an argument when it needs it. */
static void ab_arg(sq_buf *a, const char *arg)
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

int sim_options(int argc, char **argv, sim_args *out)
{
    memset(out, 0, sizeof *out);
    sim_config cfg;
    defaults(&cfg);
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
        if (!sim_find_control(workload)) {
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
            if (!sq_parse_u64(optarg, &cfg.ops))
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
            if (!sq_parse_u64(optarg, &cfg.seed))
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
            if (!sq_parse_u64(optarg, &v) || v > 60000)
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
            if (!sq_parse_u64(optarg, &v))
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
            if (!sq_parse_u64(optarg, &out->timeline_max) || out->timeline_max < 100)
                return usage_error("--timeline-max: at least 100 events");
            break;
        case O_QUIET: cfg.quiet = true; break;
        case O_PROCS: cfg.procs = true; break;
        case O_MAX_EVENTS:
            if (!sq_parse_u64(optarg, &cfg.max_events) || cfg.max_events < 1000)
                return usage_error("--max-events: at least 1000");
            break;
        case O_BENCH:
            if (!sq_parse_u64(optarg, &bench) || bench == 0 || bench > 500000000)
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
    if (bench) {
        out->cfg = cfg;
        out->bench = bench;
        return -1;
    }

    if (!cfg.adapter)
        cfg.adapter = sq_getenv("SQCLAIM_BACKEND");
    if (!cfg.adapter)
        cfg.adapter = sq_getenv("SQCLAIM_ADAPTER"); /* the old name */
    if (!cfg.adapter)
        cfg.adapter = "memory";
    bool is_sqlite = strcmp(cfg.adapter, "sqlite") == 0;
    if (cfg.control && strcmp(cfg.adapter, "memory") != 0 && !is_sqlite)
        return usage_error("--negative-control works on the memory and sqlite backends only");
    /* http: through a running `sqclaim serve` (http_backend.c). */
    bool http = strcmp(cfg.adapter, "http") == 0;
    if (!http && !adapter_built(cfg.adapter)) {
        /* The library's list of backends is the one list (sqclaim_backend_names). */
        char built[128] = "";
        size_t m = 0;
        for (const char *const *ad = sqclaim_backend_names(); *ad && m < sizeof built; ad++)
            m += (size_t)snprintf(built + m, sizeof built - m, "%s%s", m ? ", " : "", *ad);
        return usage_error("--backend: \"%s\" is not a backend built into this library (%s) "
                           "nor http",
                           cfg.adapter, built);
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
    if (cfg.procs && http)
        return usage_error("--procs: not with the http backend");
    if (!seed_given) {
        FILE *ur = fopen("/dev/urandom", "rb");
        if (!ur || fread(&cfg.seed, sizeof cfg.seed, 1, ur) != 1)
            cfg.seed = (uint64_t)sim_now_ns() ^ ((uint64_t)getpid() << 32);
        if (ur)
            fclose(ur);
        cfg.seed %= 1000000000000ULL; /* short enough to type */
    }

    /* The exact command that reproduces this run's configuration. */
    sq_buf repro = {0};
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
    out->reproduce = repro.p;

    /* Key prefix: fresh per run so runs never see each other's keys. */
    char *prefix = out->prefix;
    const char *kp = cfg.key_prefix ? cfg.key_prefix : sq_getenv("SQCLAIM_KEY_PREFIX");
    if (kp) {
        sq_strlcpy(prefix, kp, sizeof out->prefix);
    } else {
        sim_rng pr;
        sim_rng_seed(&pr, (uint64_t)sim_now_ns() ^ cfg.seed, (uint64_t)getpid());
        snprintf(prefix, sizeof out->prefix, "sqsim-%012" PRIx64 ":",
                 (uint64_t)(sim_rng_next(&pr) & 0xffffffffffffULL));
    }
    snprintf(out->space, sizeof out->space, "sqsim-%d", (int)getpid());
    out->cfg = cfg;
    return -1;
}
