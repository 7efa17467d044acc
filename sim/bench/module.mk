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

# sqclaim-sqlite-bench: the sqlite backend's claim+release pairs/s and
# latency for 1 and N processes, beside raw SQLite doing the same
# transactions (docs/performance.md).  Built by `make`, never run by
# `make check`.
ifeq ($(HAVE_SQLITE3),1)
all: $(BUILD)/sqclaim-sqlite-bench
$(BUILD)/sqclaim-sqlite-bench: $(BUILD)/obj/sim/bench/sqlite_bench.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PROG_LDLIBS)
endif
