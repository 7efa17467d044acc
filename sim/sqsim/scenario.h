/* scenario.h — sqsim's capacity planner (scenario.c). */
#ifndef SQSIM_SCENARIO_H
#define SQSIM_SCENARIO_H

/* `sqsim --scenario NAME [options]`: run a scenario in virtual time and
 * print its report.  Returns the exit status (0 ok, 1 a violation, 2 a
 * usage or setup error). */
int sim_scenario_main(int argc, char **argv);

#endif
