# adapters/redisproto/ — the claim protocol over Redis commands (Lua
# scripts, keys, values, reply decoding), shared by every backend that
# speaks Redis: `redis` (hiredis) and `vercel` (Upstash REST).
#
# Compiled into the library once when at least one of them is built.
# module.mk files are included in sorted order (redis < redisproto <
# vercel), so a flag set by a later adapter would come too late for a
# plain `ifneq` here.  Instead an adapter that needs this layer writes
#
#     REDISPROTO_NEEDED := 1
#     include adapters/redisproto/module.mk
#
# and this file adds its sources at most once, however often it is
# included (the top-level wildcard includes it too).
ifneq ($(REDISPROTO_NEEDED),)
ifeq ($(REDISPROTO_ADDED),)
REDISPROTO_ADDED := 1
LIB_SRCS += adapters/redisproto/proto.c adapters/redisproto/status.c adapters/redisproto/sha1.c
endif
endif
