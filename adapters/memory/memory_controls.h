/* memory_controls.h — the simulator's negative controls.
 *
 * adapters/memory/memory.c compiled with -DSQCLAIM_NEGATIVE_CONTROLS (only
 * into the simulator and its tests, never into libsqclaim) exports these
 * deliberately broken backends.  Open one with sqclaim_open_backend(); a
 * checker that never fails proves nothing, and these prove the simulator's
 * oracle does fail when it should. */
#ifndef SQCLAIM_MEMORY_CONTROLS_H
#define SQCLAIM_MEMORY_CONTROLS_H

#include "backend.h"

/* NULL-name-terminated: broken-check-then-set, broken-private-memory,
 * broken-release-no-owner, broken-renew-revives, broken-racy-cursor. */
extern const sqclaim_backend sqclaim_memory_controls[];

/* The fault selected by opts->adapter (internal). */
int sqclaim_memory_control_fault(const sqclaim_options *opts);

#endif
