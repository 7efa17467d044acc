# sim/bench/ — sqclaim-bench, the redis backend's benchmark: claim+release
# pairs/s and claim latency on one handle and on several threads, next to
# redis-benchmark's SET NX PX on the same server in the same run
# (docs/performance.md).  A program, not a test: `make` builds it, `make
# check` does not run it, `make install` does not install it.  Its server
# is --url or $REDIS_URL: `ci/with-servers.sh build/sqclaim-bench` starts
# one.
ifeq ($(HAVE_HIREDIS),1)
all: $(BUILD)/sqclaim-bench
endif

$(BUILD)/obj/sim/bench/%.o: sim/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(LIB_DEFS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sqclaim-bench: $(BUILD)/obj/sim/bench/redis_bench.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PROG_LDLIBS) -pthread
