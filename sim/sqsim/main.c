/* main.c — sqsim: N bots hammer M SQs through one backend; an independent
 * oracle proves that no two ever held the same SQ or the same row.
 *
 *   sqsim [--backend memory|redis|vercel|http] [--bots N] [--sqs M] [--duration 3s] ...
 *
 * Exit status: 0 clean (and every coverage minimum met), 1 a violation or
 * missing coverage, 2 a usage or backend error.  See docs/simulator.md. */
#include "program.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    sim_args args;
    int rc = sim_options(argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (args.bench)
        return sim_bench_oracle(args.bench);
    const char *reproduce = args.reproduce ? args.reproduce : "sqsim";
    sim_run run;
    if (sim_run_init(&run, &args.cfg) != 0)
        return 2;
    int64_t elapsed = 0;
    int exit_code = sim_run_bots(&run, args.prefix, args.space, &elapsed);
    exit_code = sim_verdict(&run, reproduce, args.prefix, elapsed, exit_code);
    sim_run_free(&run);
    free(args.reproduce);
    return exit_code;
}
