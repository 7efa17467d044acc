# core/ — the library's core: public API, validation, retries, keep-alive,
# JSON rendering, the backend table.
LIB_SRCS += core/store.c core/validate.c core/json.c core/keepalive.c core/registry.c core/util.c

# core/util/ — the tree's one copy of small helpers (squtil.h): random
# numbers, UTF-8.  Linked into the library (not exported: no SQCLAIM_API)
# and, as libsqutil.a, into programs that do not link the library (kvrest).
SQUTIL_SRCS := $(sort $(wildcard core/util/*.c))
SQUTIL_OBJS = $(SQUTIL_SRCS:%.c=$(BUILD)/obj/%.o)
SQUTIL_LIB = $(BUILD)/libsqutil.a
LIB_SRCS += $(SQUTIL_SRCS)

$(SQUTIL_LIB): $(SQUTIL_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^
