/*
 * det.h — sqsim's deterministic mode (`sqsim --det`, docs/simulator.md):
 * bots, their keep-alives and the store (the scripted store running the
 * production Lua scripts, or the memory backend) in one OS thread under a
 * seeded scheduler in virtual time.
 */
#ifndef SQSIM_DET_H
#define SQSIM_DET_H

#include <stdbool.h>

/* Does the command line ask for --det? */
bool sqsim_det_wanted(int argc, char **argv);

/* Run sqsim --det; the process exit status (0 pass, 1 violation or
 * control missed, 2 usage). */
int sqsim_det_main(int argc, char **argv);

#endif
