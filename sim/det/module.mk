# sim/det/ — the scripted store of the deterministic simulator
# (docs/det.md): an in-process Redis 7.0 model (keyspace.c), an embedded
# Lua 5.1 running the production scripts (lua.c), and the rp_transport and
# backend table that let adapters/redisproto/proto.c and library handles
# run on it (transport.c).
#
# A small static library that the simulator and tests link, never part of
# libsqclaim.  Built when Lua 5.1 (liblua5.1-0-dev), Debian's lua-cjson
# (liblua5.1-cjson.so.0, the cjson Redis embeds) and the redisproto layer
# (a redis or vercel backend) are available; then -DSQCLAIM_WITH_DET tells
# the tests it is there.
HAVE_LUA51 := $(call have,lua5.1)
DET_CJSON := $(shell $(CC) -print-file-name=liblua5.1-cjson.so.0 2>/dev/null)

ifeq ($(HAVE_LUA51)$(REDISPROTO_ADDED),11)
ifneq ($(filter /%,$(DET_CJSON)),)
DET_SRCS := sim/det/keyspace.c sim/det/lua.c sim/det/transport.c
DET_OBJS := $(DET_SRCS:%.c=$(BUILD)/obj/%.o)
DET_LIB := $(BUILD)/libsqdet.a
DET_CFLAGS := -Isim/det -Iadapters/redisproto $(shell $(PKG_CONFIG) --cflags lua5.1)
# What a program linking the store adds after its objects.
DET_LIBS := $(DET_LIB) $(shell $(PKG_CONFIG) --libs lua5.1) $(DET_CJSON)
LIB_DEFS += -DSQCLAIM_WITH_DET
all: $(DET_LIB)

$(BUILD)/obj/sim/det/%.o: sim/det/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(DET_CFLAGS) $(LIB_DEFS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(DET_LIB): $(DET_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# sqdet-bench (sim/bench/det_bench.c): the store's claim+release pairs/s
# on one core next to baselines (docs/det.md).  A program, not a test.
all: $(BUILD)/sqdet-bench
$(BUILD)/obj/sim/bench/det_bench.o: sim/bench/det_bench.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(DET_CFLAGS) $(LIB_DEFS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sqdet-bench: $(BUILD)/obj/sim/bench/det_bench.o $(DET_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $< $(DET_LIBS) $(PROG_LDLIBS)
endif
endif
