# tests/vercel/ — the vercel backend: configuration and wire format
# (no server), the REST transport against a small local HTTP responder
# playing a broken proxy, and the backend through kvrest + a real
# redis-server with injected faults (503 bursts, dropped replies, stalls,
# quota), counting requests per SQ.  Objects come from the
# $(BUILD)/obj/tests/%.o rule in tests/module.mk.
VERCEL_TEST_SRCS := $(sort $(wildcard tests/vercel/*.c))
VERCEL_TEST_OBJS := $(VERCEL_TEST_SRCS:%.c=$(BUILD)/obj/%.o)

ifeq ($(HAVE_CURL)$(HAVE_CHECK),11)
TESTS += $(BUILD)/tests/vercel
endif

# sqclaim: the secrets suite runs the CLI once (tests/support/run.c).
$(BUILD)/tests/vercel: $(VERCEL_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) | $(BUILD)/sqclaim
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(VERCEL_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) \
	  $(PKG_LIBS) $(CHECK_LIBS) -lm
