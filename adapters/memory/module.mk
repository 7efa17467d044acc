# adapters/memory/ — the in-process backend (always built; the default).
LIB_SRCS += adapters/memory/memory.c

# The simulator's negative controls: memory.c again, with deliberate bugs.
# Linked only into sqsim and tests, never into the library.
MEMORY_CONTROLS_OBJ = $(BUILD)/obj/adapters/memory/memory_controls.o
$(MEMORY_CONTROLS_OBJ): adapters/memory/memory.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -DSQCLAIM_NEGATIVE_CONTROLS $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@
