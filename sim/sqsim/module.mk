# sim/sqsim/ — sqsim, the race simulator (docs/simulator.md).  Links the
# library and the negative-control backends (sim/controls/,
# libsqcontrols.a), which never go into the library itself.
SQSIM_SRCS := $(sort $(wildcard sim/sqsim/*.c))
SQSIM_OBJS := $(SQSIM_SRCS:%.c=$(BUILD)/obj/%.o)
# The oracle alone (no main), for the tests in tests/sim/.
SQSIM_ORACLE_OBJS := $(filter-out $(BUILD)/obj/sim/sqsim/main.o $(BUILD)/obj/sim/sqsim/report.o $(BUILD)/obj/sim/sqsim/bot.o $(BUILD)/obj/sim/sqsim/kvadmin.o,$(SQSIM_OBJS))
PROGRAMS += $(BUILD)/sqsim

$(BUILD)/obj/sim/sqsim/%.o: sim/sqsim/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CONTROLS_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sqsim: $(SQSIM_OBJS) $(CONTROLS_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(SQSIM_OBJS) $(CONTROLS_LIB) $(LIB_A) $(PKG_LIBS) -lm

# `make sim`: the README's first command.  Install what is missing, then
# build and run the default simulation in a fresh make (so packages just
# installed are seen).
.PHONY: sim sim-run
sim: deps
	@$(MAKE) --no-print-directory sim-run

sim-run: $(BUILD)/sqsim
	$(BUILD)/sqsim $(SQSIM_ARGS)
