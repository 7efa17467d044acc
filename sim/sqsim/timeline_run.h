/* timeline_run.h — sqsim's run as a timeline page (timeline.h). */
#ifndef SQSIM_TIMELINE_RUN_H
#define SQSIM_TIMELINE_RUN_H

#include "sqsim.h"

/* Write the page of a finished run (histories and violations) to path.
 * max_events: the page's bound (0: the default).  0, or -1 with a message
 * on stderr. */
int sim_timeline_write(const sim_run *run, const char *path, const char *reproduce,
                       const char *verdict, size_t max_events);

#endif
