# sim/kvrest/ — kvrest, a local Upstash / Vercel KV REST server in front of
# a real redis-server, with fault injection (docs/kvrest.md).  Standalone:
# it does not link libsqclaim (it only reads SQCLAIM_VERSION from the
# header); it links the tree's small helpers, libsqutil.a (core/util/).
KVREST_SRCS := $(sort $(wildcard sim/kvrest/*.c))
KVREST_OBJS := $(KVREST_SRCS:%.c=$(BUILD)/obj/%.o)
KVREST_PKGS := libmicrohttpd hiredis libcjson

ifeq ($(HAVE_MHD)$(HAVE_HIREDIS)$(HAVE_CJSON),111)
PROGRAMS += $(BUILD)/kvrest
endif

$(BUILD)/obj/sim/kvrest/%.o: sim/kvrest/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(shell $(PKG_CONFIG) --cflags $(KVREST_PKGS)) $(CFLAGS) -c $< -o $@

$(BUILD)/kvrest: $(KVREST_OBJS) $(SQUTIL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs $(KVREST_PKGS)) -lm
