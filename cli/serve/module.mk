# cli/serve/ — `sqclaim serve`: HTTP service, bot API and dashboard
# (docs/http.md).  Linked into the sqclaim program only (not into the
# library, nor into tests/cli's unit tests), with libmicrohttpd.  Without
# libmicrohttpd, serve is built as a stub that says so (exit 4).
ifeq ($(HAVE_MHD),1)
SERVE_SRCS := cli/serve/serve.c cli/serve/api.c
SERVE_GEN := $(BUILD)/gen/cli/serve/dashboard.c
SERVE_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd)
EXTRA_CFLAGS_cli/serve/serve.c = $(shell $(PKG_CONFIG) --cflags libmicrohttpd)
else
SERVE_SRCS := cli/serve/unavailable.c
SERVE_GEN :=
SERVE_LIBS :=
endif
SERVE_OBJS = $(SERVE_SRCS:%.c=$(BUILD)/obj/%.o) $(SERVE_GEN:%.c=%.o)

# The dashboard page is embedded in the binary: dashboard.html becomes a
# byte array (od and sed only, no xxd needed).
$(BUILD)/gen/cli/serve/dashboard.c: cli/serve/dashboard.html
	@mkdir -p $(@D)
	{ echo '/* generated from cli/serve/dashboard.html; do not edit */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const unsigned char serve_dashboard_html[];'; \
	  echo 'extern const size_t serve_dashboard_html_len;'; \
	  echo 'const unsigned char serve_dashboard_html[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo "const size_t serve_dashboard_html_len = $$(wc -c < $<);"; } > $@.tmp
	mv $@.tmp $@

$(BUILD)/gen/cli/serve/dashboard.o: $(BUILD)/gen/cli/serve/dashboard.c
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@
