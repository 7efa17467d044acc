# tests/det/ — the scripted store (sim/det/): its own behaviour in
# virtual time, and the differential test that runs the same random
# command sequences and protocol operations on it and on a real
# redis-server and compares every reply.  Built with the store.
DET_TEST_SRCS := $(sort $(wildcard tests/det/*.c))
DET_TEST_OBJS := $(DET_TEST_SRCS:%.c=$(BUILD)/obj/%.o)

ifneq ($(DET_LIB),)
ifeq ($(HAVE_CHECK),1)
TESTS += $(BUILD)/tests/det
endif
endif

$(DET_TEST_OBJS): EXTRA_TEST_CFLAGS = $(DET_CFLAGS)
$(BUILD)/tests/det: $(DET_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(DET_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(DET_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(DET_LIBS) \
	  $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
