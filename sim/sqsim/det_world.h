/*
 * det_world.h — the deterministic simulator's world, shared by det.c (the
 * scheduler, bots, faults, oracle, runs and shrinking) and det_controls.c
 * (the negative controls).  Private to sim/sqsim.
 */
#ifndef SQSIM_DET_WORLD_H
#define SQSIM_DET_WORLD_H

#include "seam.h"
#include "sqclaim.h"

#include <stdbool.h>
#include <stdint.h>

/* Fault kinds (--faults MASK). */
enum {
    DF_DROP_REPLY = 1 << 0, /* reply lost after the store applied it */
    DF_DELAY = 1 << 1,      /* request lands after its client gave up */
    DF_ERROR = 1 << 2,      /* refused / error reply, not applied */
    DF_DUP = 1 << 3,        /* request delivered twice */
    DF_STALL = 1 << 4,      /* heavy-tailed latency (1 ms .. 2 s) */
    DF_KEYLOSS = 1 << 5,    /* fence counter / row cursor deleted */
    DF_RESTART = 1 << 6,    /* store restart without persistence */
    DF_DRIFT = 1 << 7,      /* bot clocks fast/slow, forward steps */
    DF_PAUSE = 1 << 8,      /* bots pause (heavy-tailed) */
    DF_CRASH = 1 << 9,      /* bots crash (lease forgotten, not released) */
    DF_LAPSE = 1 << 10,     /* lapsed bots act without checking */
    DF_OUTAGE = 1 << 11,    /* the store refuses everything for a while */
    DF_ALL = (1 << 12) - 1
};
#define DF_TRANSPORT (DF_DROP_REPLY | DF_DELAY | DF_ERROR | DF_DUP | DF_STALL | DF_OUTAGE)

/* A negative control: a broken Lua script (the scripted store runs a
 * patched copy) or a broken core decision (through the seam's adjust). */
typedef struct det_control {
    const char *name;
    const char *layer; /* "lua" or "core" */
    const char *what;  /* one line for docs and --list-controls */
    /* lua: the script and up to two text substitutions */
    const char *script; /* "claim", "renew", "release", "reserve", "finish" */
    const char *find[2], *repl[2];
    /* core: the substitute decision */
    int64_t (*adjust)(void *ctx, sqc_point point, int64_t value, const sqc_point_info *info);
} det_control;

extern const det_control det_controls[];
/* The workload a control runs with unless the command line says
 * otherwise (as sqsim's real-thread controls have): its TTL (0: drawn
 * from the seed) and request-fault boost. */
void det_control_workload(const det_control *c, int64_t *ttl_ms, unsigned *boost);
const det_control *det_find_control(const char *name);
/* The production script by name ("claim", ...), NULL if unknown. */
const char *det_script(const char *name);
/* A malloc'd patched copy of the control's script; NULL (with *why) if a
 * substitution's text is not found (the script changed: fix the control). */
char *det_control_body(const det_control *c, const char **why);

#endif
