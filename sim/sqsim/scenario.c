#include "scenario.h"
#include <stdio.h>
int sim_scenario_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "todo\n"); return 2; }
