/* target_memory.c — the contract suite on the in-process backend. */
#include "contract.h"

#include <stdio.h>

static void memory_options(sqclaim_options *o, const char *ns)
{
    o->adapter = "memory";
    o->memory_space = ns;
}

const ct_target ct_target_memory = {
    .name = "memory",
    .options = memory_options,
    .fake_clock = true,
    .short_ttl_ms = 1000,
    .scale = 1.0,
};
