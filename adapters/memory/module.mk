# adapters/memory/ — the in-process backend (always built; the default).
LIB_SRCS += adapters/memory/memory.c
