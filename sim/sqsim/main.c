/* main.c — sqsim: N bots hammer M SQs through one backend; an independent
 * oracle proves that no two ever held the same SQ or the same row.
 *
 *   sqsim [--backend memory|sqlite|redis|vercel|http] [--bots N] [--sqs M] [--duration 3s] ...
 *
 * Exit status: 0 clean (and every coverage minimum met), 1 a violation or
 * missing coverage, 2 a usage or backend error.  See docs/simulator.md. */
#include "program.h"
#include "det.h"
#include "scenario.h"
#include "timeline_run.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* The capacity planner (always in virtual time: `--det --scenario` is
     * the same) and deterministic mode have their own options. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--scenario") == 0 || strncmp(argv[i], "--scenario=", 11) == 0)
            return sim_scenario_main(argc, argv);
    if (sqsim_det_wanted(argc, argv))
        return sqsim_det_main(argc, argv);
    sim_args args;
    int rc = sim_options(argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (args.bench)
        return sim_bench_oracle(args.bench);
    const char *reproduce = args.reproduce ? args.reproduce : "sqsim";
    sim_run run;
    if (sim_run_init(&run, &args.cfg) != 0) {
        free(args.reproduce);
        return 2;
    }
    int64_t elapsed = 0;
    int exit_code = sim_run_bots(&run, args.prefix, args.space, &elapsed);
    if (exit_code < 0) { /* could not even start: nothing to report */
        free(args.reproduce);
        return 2;
    }
    const char *verdict = "error";
    exit_code = sim_verdict(&run, reproduce, args.prefix, elapsed, exit_code, &verdict);
    if (args.cfg.timeline_path && run.t0 &&
        sim_timeline_write(&run, args.cfg.timeline_path, reproduce, verdict,
                           (size_t)args.timeline_max) != 0 &&
        !exit_code)
        exit_code = 2;
    sim_run_free(&run);
    free(args.reproduce);
    return exit_code;
}
