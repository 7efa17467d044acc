# tests/ — Check test programs.  Each program starts the servers it needs
# (tests/support/servers.c).  `make check` runs every program in $(TESTS).
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)
TEST_SUPPORT_SRCS := tests/support/servers.c tests/support/run.c tests/support/skip.c
# The client for kvrest's admin API (sim/kvadmin/) comes with the support
# objects when libcurl is there.
TEST_SUPPORT_OBJS = $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o) $(KVADMIN_OBJ)
CHECK_ENV += SQCLAIM_KVREST=$(abspath $(BUILD))/kvrest
# run.c runs the built programs (sqclaim by default) without a shell.
$(BUILD)/obj/tests/support/run.o: EXTRA_TEST_CFLAGS = -DSQCLAIM_CLI_PATH='"$(abspath $(BUILD))/sqclaim"'

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Itests/support -Isim/kvadmin $(EXTRA_TEST_CFLAGS) $(LIB_DEFS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -c $< -o $@
