# sim/sqsim/ — sqsim, the race simulator (docs/simulator.md).  Links the
# library and the negative-control backends (sim/controls/,
# libsqcontrols.a), which never go into the library itself.
SQSIM_SRCS := $(sort $(wildcard sim/sqsim/*.c))
SQSIM_OBJS := $(SQSIM_SRCS:%.c=$(BUILD)/obj/%.o)
# The oracle alone (oracle.h, simutil.h), for the tests in tests/sim/.
SQSIM_ORACLE_OBJS := $(addprefix $(BUILD)/obj/sim/sqsim/,check.o oracle.o util.o)
PROGRAMS += $(BUILD)/sqsim

# The deterministic mode (det*.c, --det) is built against the scripted
# store when it is (sim/det/module.mk, included before this file); else
# det.c is a stub that says so.
SQSIM_ORACLE_OBJS := $(filter-out $(BUILD)/obj/sim/sqsim/det%.o,$(SQSIM_ORACLE_OBJS))

$(BUILD)/obj/sim/sqsim/%.o: sim/sqsim/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CONTROLS_CFLAGS) -Isim/kvadmin $(if $(KVADMIN_OBJ),-DSQSIM_WITH_KVADMIN) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

# The timeline page (timeline.html) compiled in as lines of C strings.
$(BUILD)/gen/timeline_page.inc: sim/sqsim/timeline.html
	@mkdir -p $(@D)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n",/' $< > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/sim/sqsim/timeline.o: $(BUILD)/gen/timeline_page.inc
$(BUILD)/obj/sim/sqsim/timeline.o: CFLAGS += -I$(BUILD)/gen

# The capacity planner drives the library against the scripted store
# (sim/det) when it is built; without it `--scenario` says so.  So does
# the deterministic mode (det.c, det_controls.c).
ifneq ($(DET_LIB),)
$(BUILD)/obj/sim/sqsim/scenario.o: CFLAGS += $(DET_CFLAGS) $(LIB_DEFS)
$(BUILD)/obj/sim/sqsim/det.o $(BUILD)/obj/sim/sqsim/det_controls.o: CFLAGS += $(DET_CFLAGS) $(LIB_DEFS)
SQSIM_DET_LIBS := $(DET_LIBS)
$(BUILD)/sqsim: $(DET_LIB)
endif

# kvrest's faults are set through the one admin client (sim/kvadmin/,
# libcurl).
$(BUILD)/sqsim: $(SQSIM_OBJS) $(CONTROLS_LIB) $(SQLITE_CONTROLS_OBJ) $(KVADMIN_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(SQSIM_OBJS) $(CONTROLS_LIB) $(SQLITE_CONTROLS_OBJ) $(KVADMIN_OBJ) $(SQSIM_DET_LIBS) $(LIB_A) $(PKG_LIBS) $(if $(KVADMIN_OBJ),$(shell $(PKG_CONFIG) --libs libcurl)) -lm

# `make sim`: the README's first command.  Install what is missing, then
# build and run the default simulation in a fresh make (so packages just
# installed are seen).  It names its backend (memory, the fastest), since
# the library's default is sqlite; SQSIM_ARGS replaces the arguments
# (e.g. make sim SQSIM_ARGS="--adapter sqlite").
.PHONY: sim sim-run
sim: deps
	@$(MAKE) --no-print-directory sim-run

sim-run: $(BUILD)/sqsim
	$(BUILD)/sqsim $(or $(SQSIM_ARGS),--adapter memory)

# `make docs-pictures`: regenerate docs/simulator.md's pictures — a
# timeline of a negative control's failing run (docs/timeline.png, taken by
# headless chromium) and the capacity planner's month (docs/seed-month.svg,
# and its text in $(BUILD)/seed-month.txt for the table).
.PHONY: docs-pictures
docs-pictures: $(BUILD)/sqsim
	-$(BUILD)/sqsim --negative-control broken-release-no-owner --seed 3 --quiet \
	  --timeline $(BUILD)/docs-timeline.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,720 \
	  --user-data-dir=$(abspath $(BUILD))/chromium-docs \
	  --screenshot=$(abspath docs/timeline.png) file://$(abspath $(BUILD))/docs-timeline.html
	$(BUILD)/sqsim --scenario seed-month --plot docs/seed-month.svg > $(BUILD)/seed-month.txt
