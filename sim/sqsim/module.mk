# sim/sqsim/ — sqsim, the race simulator (docs/simulator.md).  Links the
# library and the negative-control backends (memory.c built with
# -DSQCLAIM_NEGATIVE_CONTROLS), which never go into the library itself.
SQSIM_SRCS := $(sort $(wildcard sim/sqsim/*.c))
SQSIM_OBJS := $(SQSIM_SRCS:%.c=$(BUILD)/obj/%.o)
# The oracle alone (no main), for the tests in tests/sim/.
SQSIM_ORACLE_OBJS := $(filter-out $(BUILD)/obj/sim/sqsim/main.o $(BUILD)/obj/sim/sqsim/report.o $(BUILD)/obj/sim/sqsim/bot.o $(BUILD)/obj/sim/sqsim/kvadmin.o,$(SQSIM_OBJS))
PROGRAMS += $(BUILD)/sqsim

# The deterministic mode (det*.c, --det) links the scripted store when it
# is built (sim/det/module.mk, included before this file); else a stub.
SQSIM_DET_CFLAGS := $(if $(DET_LIB),$(DET_CFLAGS) $(LIB_DEFS))
SQSIM_DET_LIBS := $(if $(DET_LIB),$(DET_LIBS))
SQSIM_ORACLE_OBJS := $(filter-out $(BUILD)/obj/sim/sqsim/det%.o,$(SQSIM_ORACLE_OBJS))

$(BUILD)/obj/sim/sqsim/%.o: sim/sqsim/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Iadapters/memory $(if $(filter det%,$(notdir $<)),$(SQSIM_DET_CFLAGS)) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sqsim: $(SQSIM_OBJS) $(MEMORY_CONTROLS_OBJ) $(LIB_A) $(DET_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(SQSIM_OBJS) $(MEMORY_CONTROLS_OBJ) $(SQSIM_DET_LIBS) $(LIB_A) $(PKG_LIBS) -lm

# `make sim`: the README's first command.  Install what is missing, then
# build and run the default simulation in a fresh make (so packages just
# installed are seen).
.PHONY: sim sim-run
sim: deps
	@$(MAKE) --no-print-directory sim-run

sim-run: $(BUILD)/sqsim
	$(BUILD)/sqsim $(SQSIM_ARGS)
