# tests/viz/ — issue 12's tests: sqsim's HTML timeline in real headless
# Chromium (tests/browser/timeline_test.py), the page's size bound on
# millions of events (timeline_bound_test.c), and the capacity planner's
# totals against its own counters and history (scenario_test.py).  The
# python scripts are stdlib only; each gets a small wrapper in
# $(BUILD)/tests so that ci/run-tests.sh runs them like the C programs.
# Screenshots and reports stay in $(BUILD)/timeline-test and
# $(BUILD)/scenario-test.
TESTS += $(BUILD)/tests/browser-timeline $(BUILD)/tests/sim-timeline-bound
ifneq ($(DET_LIB),)
TESTS += $(BUILD)/tests/sim-scenario
endif

# The wrapper of a python test (the rule's first prerequisite): run it on
# the built sqsim, its output in $(BUILD)/$(1).
define viz_py_wrapper
	@mkdir -p $(@D)
	printf '#!/bin/sh\nexec python3 %s --sqsim %s --out %s "$$@"\n' \
	  '$(abspath $<)' '$(abspath $(BUILD))/sqsim' '$(abspath $(BUILD))/$(1)' > $@
	chmod +x $@
endef

$(BUILD)/tests/browser-timeline: tests/browser/timeline_test.py $(BUILD)/sqsim
	$(call viz_py_wrapper,timeline-test)

$(BUILD)/tests/sim-scenario: tests/viz/scenario_test.py $(BUILD)/sqsim
	$(call viz_py_wrapper,scenario-test)

$(BUILD)/obj/tests/viz/timeline_bound_test.o: EXTRA_TEST_CFLAGS = -Isim/sqsim
$(BUILD)/tests/sim-timeline-bound: $(BUILD)/obj/tests/viz/timeline_bound_test.o $(BUILD)/obj/sim/sqsim/timeline.o
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^
