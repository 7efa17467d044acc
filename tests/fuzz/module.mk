# tests/fuzz/ — libFuzzer targets for every parser that reads what another
# program wrote (docs/fuzzing.md).
#
#   make fuzz                       build every target with clang
#                                   (-fsanitize=fuzzer,address,undefined)
#                                   into $(FUZZ_BUILD)/fuzz/
#   make fuzz-run FUZZ_SECONDS=N    run each target N s on its corpus
#   make check                      replays every corpus file through every
#                                   target ($(BUILD)/tests/fuzz_replay, any
#                                   compiler, no libFuzzer)
#
# Keep FUZZ_TARGETS in step with tests/fuzz/targets.h.
FUZZ_TARGETS := kvrest_request vercel_reply proto_replies redis_reply lease_json ids duration \
                redis_url rest_config
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_JOBS ?= 1
FUZZ_CORPUS := tests/fuzz/corpus
# The sources of kvrest the targets link (they do not need libmicrohttpd).
FUZZ_KVREST_SRCS := sim/kvrest/buf.c sim/kvrest/json.c sim/kvrest/cmdparse.c
FUZZ_KVREST_OBJS = $(FUZZ_KVREST_SRCS:%.c=$(BUILD)/obj/%.o)
FUZZ_PKGS := hiredis libcjson libcurl
FUZZ_OBJ_CFLAGS = $(BASE_CFLAGS) -Itests/fuzz $(LIB_DEFS) $(PKG_CFLAGS) \
                  $(shell $(PKG_CONFIG) --cflags $(FUZZ_PKGS)) $(CFLAGS)
FUZZ_LIBS = $(LIB_A) $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs $(FUZZ_PKGS)) -lm

ifeq ($(HAVE_HIREDIS)$(HAVE_CURL)$(HAVE_CJSON),111)
FUZZ_ENABLED := 1
endif

# --- the corpus replay (make check), with the project's compiler --------
FUZZ_REPLAY_OBJS = $(FUZZ_TARGETS:%=$(BUILD)/obj/tests/fuzz/replay_%.o) \
                   $(BUILD)/obj/tests/fuzz/replay.o
ifeq ($(FUZZ_ENABLED),1)
TESTS += $(BUILD)/tests/fuzz_replay
endif

$(BUILD)/obj/tests/fuzz/replay_%.o: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h
	@mkdir -p $(@D)
	$(CC) $(FUZZ_OBJ_CFLAGS) -DLLVMFuzzerTestOneInput=fuzz_$*_one -c $< -o $@

$(BUILD)/obj/tests/fuzz/replay.o: tests/fuzz/replay.c tests/fuzz/targets.h
	@mkdir -p $(@D)
	$(CC) $(FUZZ_OBJ_CFLAGS) -DFUZZ_CORPUS_DIR='"$(abspath $(FUZZ_CORPUS))"' -c $< -o $@

$(BUILD)/tests/fuzz_replay: $(FUZZ_REPLAY_OBJS) $(FUZZ_KVREST_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(FUZZ_REPLAY_OBJS) $(FUZZ_KVREST_OBJS) $(FUZZ_LIBS)

# --- the fuzzers (clang + libFuzzer), in their own build directory -----
# The library and kvrest objects are built by a sub-make with
# BUILD=$(FUZZ_BUILD), clang, ASan+UBSan and coverage instrumentation
# (-fsanitize=fuzzer-no-link); each target links the static library (not
# the .so: the targets call internal functions).
FUZZ_BINS = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
FUZZ_SUBMAKE = $(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
               SANITIZE=address,undefined WERROR=0 CFLAGS='-O1 -g -fsanitize=fuzzer-no-link'

.PHONY: fuzz fuzz-build fuzz-run
fuzz:
	+@$(FUZZ_SUBMAKE) fuzz-build

fuzz-build: $(FUZZ_BINS)

$(BUILD)/obj/tests/fuzz/fuzz_%.o: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h
	@mkdir -p $(@D)
	$(CC) $(FUZZ_OBJ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_KVREST_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(FUZZ_KVREST_OBJS) $(FUZZ_LIBS)

# Run each target FUZZ_SECONDS on a scratch copy of its corpus (new inputs
# land in $(FUZZ_BUILD)/corpus/<target>, not in the repository), with the
# JSON + RESP dictionary; crash files go to $(FUZZ_BUILD)/crashes/.
fuzz-run: fuzz
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	  ci/fuzz-ci.sh --no-build $(FUZZ_TARGETS)
