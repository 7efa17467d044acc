# tests/redis/ — the redis backend against real redis-servers the tests
# start themselves: stored keys and values read back raw, round trips
# counted by client and server, foreign values, configuration, AUTH,
# SELECT, unix sockets, timeouts, restarts, malformed replies, and
# processes racing under an oracle.  Objects come from the
# $(BUILD)/obj/tests/%.o rule in tests/module.mk.
REDIS_TEST_SRCS := $(sort $(wildcard tests/redis/*.c))
REDIS_TEST_OBJS := $(REDIS_TEST_SRCS:%.c=$(BUILD)/obj/%.o)

ifeq ($(HAVE_HIREDIS)$(HAVE_CHECK),11)
TESTS += $(BUILD)/tests/redis
endif

$(BUILD)/tests/redis: $(REDIS_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(REDIS_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) \
	  $(PKG_LIBS) $(CHECK_LIBS) -lm
