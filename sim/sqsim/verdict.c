/* verdict.c — what a run of sqsim proved: the offline check of its
 * history, the coverage minimums, the summary and the JSON report; and
 * --bench-oracle. */
#include "program.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sim_bench_oracle(uint64_t n)
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

int sim_verdict(sim_run *run, const char *reproduce, const char *prefix, int64_t elapsed,
                int exit_code, const char **verdict_out)
{
    const sim_config cfg = *run->cfg;
    bool interrupted = sim_interrupted();
    sim_check_stats cst;
    memset(&cst, 0, sizeof cst);
    const char *verdict = "pass";
    char missing[256] = "";
    if (exit_code == 0) {
        sim_history *hs = calloc((size_t)cfg.bots, sizeof *hs);
        if (hs) {
            for (int i = 0; i < cfg.bots; i++)
                hs[i] = run->bots[i].hist;
            sim_check_histories(hs, cfg.bots, cfg.sqs, &run->vs, &cst);
            free(hs);
        }
        uint64_t grants = 0, refusals = 0, errors = 0, attempts = 0;
        bool down_at_end = true; /* every bot's last claims failed */
        for (int i = 0; i < cfg.bots; i++) {
            if (run->bots[i].err_streak < 3)
                down_at_end = false;
            attempts += atomic_load(&run->bots[i].attempts);
            grants += atomic_load(&run->bots[i].grants);
            refusals += atomic_load(&run->bots[i].refusals);
            errors += atomic_load(&run->bots[i].errors);
        }
        uint64_t take = atomic_load(&run->oracle.takeovers);
        uint64_t stale = atomic_load(&run->oracle.stale_writes);
        if (atomic_load(&run->vs.count)) {
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
        sim_summary(run, &cfg, reproduce, &cst, elapsed, verdict, missing);
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
            sim_report(run, &cfg, reproduce, prefix, &cst, elapsed, exit_code, verdict, missing, f);
            if (f != stdout && fclose(f) != 0 && !exit_code)
                exit_code = 2;
        }
    }
    if (verdict_out)
        *verdict_out = verdict;
    return exit_code;
}
