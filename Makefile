# sqclaim — build, test, install.
#
#   make                      library (static + shared) and programs
#   make check                all tests (starts its own redis-server / kvrest)
#   make SANITIZE=address,undefined check
#   make sim                  the default race simulation on the memory backend
#   make fuzz                 libFuzzer targets (clang) in build-fuzz/; make fuzz-run
#                             FUZZ_SECONDS=N runs each (docs/fuzzing.md)
#   make install PREFIX=/usr/local
#
# Each component adds itself through a module.mk next to its sources, so the
# tree says where a thing lives: core/, adapters/<backend>/, sim/, cli/,
# tests/.  Build products go to $(BUILD) (build/, or build-<sanitizers>/).

.DEFAULT_GOAL := all
SHELL := /bin/bash

comma := ,
SANITIZE ?=
BUILD ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config

VERSION := $(shell sed -n 's/^\#define SQCLAIM_VERSION[[:space:]]*"\(.*\)"/\1/p' core/sqclaim.h)
# Soname policy (docs/architecture.md "Binary interface"): SOMAJOR changes
# only when a program built against an older sqclaim.h of the same major
# could break; SQCLAIM_VERSION in core/sqclaim.h is MAJOR.MINOR.PATCH.
SOMAJOR := 1

have = $(shell $(PKG_CONFIG) --exists $(1) 2>/dev/null && echo 1)
HAVE_HIREDIS := $(call have,hiredis)
HAVE_CURL := $(call have,libcurl)
HAVE_CJSON := $(call have,libcjson)
HAVE_CHECK := $(call have,check)
HAVE_MHD := $(call have,libmicrohttpd)


WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 \
        -Wundef -Wvla -Wnull-dereference -Wimplicit-fallthrough -Wswitch-enum
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS ?= -O2 -g
SANFLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
# Only what core/sqclaim.h marks SQCLAIM_API is exported from libsqclaim.so
# (tests/abi/symbols.sh checks it); the rest is hidden.
VISIBILITY := -fvisibility=hidden
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread -fPIC $(VISIBILITY) -MMD -MP $(WARN) $(SANFLAGS) -Icore
BASE_LDFLAGS := -pthread $(SANFLAGS)

LIB_A := $(BUILD)/libsqclaim.a
LIB_SO := $(BUILD)/libsqclaim.so
LIB_SONAME := libsqclaim.so.$(SOMAJOR)

# Filled in by the module.mk files.
LIB_SRCS :=
LIB_PKGS := libcjson
LIB_DEFS :=
PROGRAMS :=
TESTS :=
CHECK_ENV :=

include core/module.mk
include $(sort $(wildcard adapters/*/module.mk))
include $(sort $(wildcard sim/module.mk sim/*/module.mk))
include $(sort $(wildcard cli/module.mk))
include tests/module.mk
include $(sort $(wildcard tests/*/module.mk))

# Objects built with other defines or flags are stale: when the build
# configuration changes (a backend appears, CFLAGS change), start afresh.
BUILD_CONFIG := $(CC) $(CFLAGS) $(SANFLAGS) $(VISIBILITY) $(LIB_DEFS) $(sort $(LIB_PKGS)) $(VERSION) $(SOMAJOR)
ifneq ($(BUILD_CONFIG),$(shell cat $(BUILD)/config 2>/dev/null))
$(shell rm -rf $(BUILD)/obj; mkdir -p $(BUILD); echo '$(BUILD_CONFIG)' > $(BUILD)/config)
endif

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(LIB_PKGS))

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(LIB_DEFS) $(PKG_CFLAGS) $(EXTRA_CFLAGS_$(<)) $(CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) $(BASE_LDFLAGS) $(LDFLAGS) -o $@.$(VERSION) $^ $(PKG_LIBS)
	ln -sf libsqclaim.so.$(VERSION) $(BUILD)/$(LIB_SONAME)
	ln -sf libsqclaim.so.$(VERSION) $@

# The pkg-config file names the prefix it is installed under.
define write_pc
	{ echo 'prefix=$(1)'; \
	  echo 'libdir=$${prefix}/lib'; \
	  echo 'includedir=$${prefix}/include'; \
	  echo; \
	  echo 'Name: sqclaim'; \
	  echo 'Description: claim work items and Refund Log rows without collisions'; \
	  echo 'Version: $(VERSION)'; \
	  echo 'Requires.private: $(LIB_PKGS)'; \
	  echo 'Cflags: -I$${includedir}'; \
	  echo 'Libs: -L$${libdir} -lsqclaim'; \
	  echo 'Libs.private: -pthread -lm'; } > $(2)
endef

.PHONY: all lib deps check check-run install uninstall clean format format-check cppcheck
all: lib $(PROGRAMS)
lib: $(LIB_A) $(LIB_SO)

# Programs link the static library, so they run from the tree as built.
PROG_LDLIBS = $(LIB_A) $(PKG_LIBS) -lm

# `make check` first installs what is missing (ci/install-deps.sh; set
# SQCLAIM_SKIP_DEPS=1 to skip), then builds and runs every test in a fresh
# make, so packages installed a moment ago are seen.
deps:
	@ci/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory check-run

# Sanitizer builds run two to three times slower: Check's per-test time
# limits stretch by CK_TIMEOUT_MULTIPLIER (unless the caller set it).
CK_MULT := $(if $(SANITIZE),3,1)

check-run: all $(TESTS)
	@env BUILD=$(BUILD) CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-$(CK_MULT)} $(CHECK_ENV) ci/run-tests.sh $(TESTS)

install: lib $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 core/sqclaim.h $(DESTDIR)$(PREFIX)/include/sqclaim.h
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO).$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libsqclaim.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(LIB_SONAME)
	ln -sf libsqclaim.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsqclaim.so
	$(call write_pc,$(PREFIX),$(DESTDIR)$(PREFIX)/lib/pkgconfig/sqclaim.pc)
	$(if $(PROGRAMS),install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/sqclaim.h $(DESTDIR)$(PREFIX)/lib/libsqclaim.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/sqclaim.pc \
	      $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGRAMS)))

clean:
	rm -rf build build-*

# The tree's C files (tracked ones, and new ones not yet added) in the
# style of .clang-format: `make format` applies it, `make format-check`
# (run by .ci/run) fails on any file that differs, naming it.
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format not found (apt-get install clang-format)" >&2; exit 1; }
	@clang-format --dry-run -Werror $(FORMAT_FILES)
	@echo "format-check: $(words $(FORMAT_FILES)) files match .clang-format"

# Static analysis of the library and the programs (run by CI).
cppcheck:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icore -Iadapters/memory -Isim/controls \
	  $(LIB_SRCS) $(shell git ls-files 'sim/*.c' 'cli/*.c' 2>/dev/null)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
