# sim/sqsim/ — sqsim, the race simulator (docs/simulator.md).  Links the
# library and the negative-control backends (sim/controls/,
# libsqcontrols.a), which never go into the library itself.
SQSIM_SRCS := $(sort $(wildcard sim/sqsim/*.c))
SQSIM_OBJS := $(SQSIM_SRCS:%.c=$(BUILD)/obj/%.o)
# The oracle alone (oracle.h, simutil.h), for the tests in tests/sim/.
SQSIM_ORACLE_OBJS := $(addprefix $(BUILD)/obj/sim/sqsim/,check.o oracle.o util.o)
PROGRAMS += $(BUILD)/sqsim

$(BUILD)/obj/sim/sqsim/%.o: sim/sqsim/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CONTROLS_CFLAGS) -Isim/kvadmin $(if $(KVADMIN_OBJ),-DSQSIM_WITH_KVADMIN) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

# kvrest's faults are set through the one admin client (sim/kvadmin/,
# libcurl).
$(BUILD)/sqsim: $(SQSIM_OBJS) $(CONTROLS_LIB) $(KVADMIN_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(SQSIM_OBJS) $(CONTROLS_LIB) $(KVADMIN_OBJ) $(LIB_A) $(PKG_LIBS) $(if $(KVADMIN_OBJ),$(shell $(PKG_CONFIG) --libs libcurl)) -lm

# `make sim`: the README's first command.  Install what is missing, then
# build and run the default simulation in a fresh make (so packages just
# installed are seen).
.PHONY: sim sim-run
sim: deps
	@$(MAKE) --no-print-directory sim-run

sim-run: $(BUILD)/sqsim
	$(BUILD)/sqsim $(SQSIM_ARGS)
