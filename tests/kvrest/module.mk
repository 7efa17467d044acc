# tests/kvrest/ — kvrest over real HTTP (libcurl) in front of a real
# redis-server.  Objects come from the $(BUILD)/obj/tests/%.o rule in
# tests/module.mk.
KVREST_TEST_SRCS := $(sort $(wildcard tests/kvrest/*.c))
KVREST_TEST_OBJS := $(KVREST_TEST_SRCS:%.c=$(BUILD)/obj/%.o)

ifeq ($(HAVE_MHD)$(HAVE_HIREDIS)$(HAVE_CJSON)$(HAVE_CURL)$(HAVE_CHECK),11111)
TESTS += $(BUILD)/tests/test_kvrest
endif

$(BUILD)/tests/test_kvrest: $(KVREST_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(BUILD)/kvrest
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(KVREST_TEST_OBJS) $(TEST_SUPPORT_OBJS) \
	  $(CHECK_LIBS) $(shell $(PKG_CONFIG) --libs libcurl libcjson hiredis)
