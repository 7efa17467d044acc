# adapters/vercel/ — the `vercel` backend: the protocol layer of
# adapters/redisproto over the Vercel KV / Upstash Redis REST API (libcurl;
# replies parsed with cJSON).  Built when libcurl is installed
# (libcurl4-openssl-dev).  See docs/vercel.md.
ifeq ($(HAVE_CURL),1)
LIB_SRCS += adapters/vercel/config.c adapters/vercel/codec.c adapters/vercel/http.c \
            adapters/vercel/vercel.c
LIB_PKGS += libcurl
LIB_DEFS += -DSQCLAIM_WITH_VERCEL
REDISPROTO_NEEDED := 1
include adapters/redisproto/module.mk
endif
