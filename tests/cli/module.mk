# tests/cli/ — the sqclaim command-line tool, tested by running the real,
# built program (fork/exec, no shell) against memory, and against redis and
# vercel (through kvrest) when they are built.
CLI_TEST_SRCS := $(sort $(wildcard tests/cli/*.c))
# The program's own objects but main.o, for the unit tests of its helpers.
CLI_TEST_OBJS = $(CLI_TEST_SRCS:%.c=$(BUILD)/obj/%.o) $(filter-out %/main.o,$(CLI_OBJS))
TESTS += $(BUILD)/tests/cli
CHECK_ENV += SQCLAIM_CLI=$(abspath $(BUILD))/sqclaim

# Where docs/cli.md is (botloop.c reads its bot loop).
$(BUILD)/obj/tests/cli/botloop.o: EXTRA_TEST_CFLAGS = -DSQCLAIM_SRCDIR='"$(CURDIR)"'

# The tests run the program, so they depend on it (and on the docs they
# execute).
$(BUILD)/tests/cli: $(CLI_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) $(BUILD)/sqclaim
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(CLI_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
