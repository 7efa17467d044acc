# adapters/memory/ — the in-process backend (always built; the default).
# memory_space.h exposes its space to the simulator's negative controls
# (sim/controls/), which are never part of the library.
LIB_SRCS += adapters/memory/memory.c
