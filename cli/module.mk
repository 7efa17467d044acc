# cli/ — sqclaim, the command-line tool: claims from the shell, and the
# seed's /api/queue status view (docs/cli.md).  A plain user of the public
# API, linked against the static library.
CLI_SRCS := $(sort $(wildcard cli/*.c))
CLI_OBJS = $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
PROGRAMS += $(BUILD)/sqclaim

include cli/serve/module.mk

$(BUILD)/sqclaim: $(CLI_OBJS) $(SERVE_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJS) $(SERVE_OBJS) $(PROG_LDLIBS) $(SERVE_LIBS)
