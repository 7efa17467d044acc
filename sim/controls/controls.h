/* controls.h — the simulator's negative controls: deliberately broken
 * backends.
 *
 * Each is the memory backend with one bug, built here from the memory
 * space's locked operations (adapters/memory/memory_space.h) into
 * libsqcontrols.a, which only sqsim and the tests link: the product
 * library carries no broken code.  Open one with sqclaim_open_backend()
 * (core/backend.h); a checker that never fails proves nothing, and these
 * prove the simulator's oracle and the contract suite do fail when they
 * should. */
#ifndef SQCLAIM_CONTROLS_H
#define SQCLAIM_CONTROLS_H

#include "backend.h"

/* NULL-name-terminated: broken-check-then-set, broken-private-memory,
 * broken-release-no-owner, broken-renew-revives, broken-racy-cursor.
 * Each table's app_data names its fault; opts->memory_space chooses the
 * space as for the memory backend. */
extern const sqclaim_backend sqclaim_memory_controls[];

#endif
