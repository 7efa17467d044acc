# tests/contract/ — the contract suite, run on every built backend, and
# run once more on each negative control, where it must fail.
# The suite: its fixture (contract.c) and one file per group of tests.
CONTRACT_SUITE_SRCS := tests/contract/contract.c $(sort $(wildcard tests/contract/contract_*.c))
CONTRACT_SUITE_OBJS = $(CONTRACT_SUITE_SRCS:%.c=$(BUILD)/obj/%.o)
CONTRACT_SRCS := $(CONTRACT_SUITE_SRCS) $(filter-out tests/contract/main.c tests/contract/controls.c,$(wildcard tests/contract/target_*.c))
CONTRACT_OBJS = $(CONTRACT_SRCS:%.c=$(BUILD)/obj/%.o)
TESTS += $(BUILD)/tests/contract $(BUILD)/tests/contract-controls

# The scripted store's target (sim/det/, when built) links its library.
$(BUILD)/obj/tests/contract/target_scripted.o: EXTRA_TEST_CFLAGS = $(DET_CFLAGS)
$(BUILD)/tests/contract: $(CONTRACT_OBJS) $(BUILD)/obj/tests/contract/main.o $(TEST_SUPPORT_OBJS) $(DET_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(DET_LIBS) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm

$(BUILD)/obj/tests/contract/controls.o: EXTRA_TEST_CFLAGS = $(CONTROLS_CFLAGS)
$(BUILD)/tests/contract-controls: $(CONTRACT_SUITE_OBJS) $(BUILD)/obj/tests/contract/controls.o $(CONTROLS_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(CONTROLS_LIB) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
