# tests/sim/ — the race simulator's tests: its oracle on known-good and
# known-bad histories, and sqsim end to end (every negative control caught
# five times out of five within 10 s; the correct backends pass with
# coverage; redis and vercel-through-kvrest on servers started by the test;
# ci/with-servers.sh never leaves a server behind).  Programs are run with
# tests/support/run.c (no shell, a timeout, a scrubbed environment).
TESTS += $(BUILD)/tests/sim-oracle $(BUILD)/tests/sim-runs
CHECK_ENV += SQCLAIM_SQSIM=$(abspath $(BUILD))/sqsim SQCLAIM_WITH_SERVERS=$(abspath ci/with-servers.sh)

$(BUILD)/obj/tests/sim/oracle_test.o: EXTRA_TEST_CFLAGS = -Isim/sqsim
$(BUILD)/tests/sim-oracle: $(BUILD)/obj/tests/sim/oracle_test.o $(SQSIM_ORACLE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm

# sim-runs executes $(BUILD)/sqsim (and kvrest, when built), so it depends
# on it.
$(BUILD)/tests/sim-runs: $(BUILD)/obj/tests/sim/runs_test.o $(TEST_SUPPORT_OBJS) $(BUILD)/sqsim
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PKG_LIBS) $(CHECK_LIBS) -lm

# sim-det: sqsim --det end to end (tests/sim/det_test.c), when the
# scripted store is built.
ifneq ($(DET_LIB),)
TESTS += $(BUILD)/tests/sim-det
$(BUILD)/tests/sim-det: $(BUILD)/obj/tests/sim/det_test.o $(TEST_SUPPORT_OBJS) $(BUILD)/sqsim
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PKG_LIBS) $(CHECK_LIBS) -lm
endif
