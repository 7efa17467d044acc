/* sqlite_controls.h — the sqlite backend's negative controls: the real
 * backend with one deliberate bug each, for sqsim and the tests only
 * (never in the library).  Names as the memory controls'. */
#ifndef SQCLAIM_SQLITE_CONTROLS_H
#define SQCLAIM_SQLITE_CONTROLS_H

#include "backend.h"

/* The controls, a NULL-name-terminated static array.  Thread-safe. */
const sqclaim_backend *sqclaim_sqlite_controls(void);

#endif
