# adapters/redis/ — the `redis` backend: the protocol layer of
# adapters/redisproto over hiredis (TCP or unix socket).  Built when
# hiredis is installed (libhiredis-dev).
ifeq ($(HAVE_HIREDIS),1)
LIB_SRCS += adapters/redis/redis.c
LIB_PKGS += hiredis
LIB_DEFS += -DSQCLAIM_WITH_REDIS
REDISPROTO_NEEDED := 1
include adapters/redisproto/module.mk
endif
