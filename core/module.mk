# core/ — the library's core: public API, validation, retries, keep-alive,
# JSON rendering, the backend table.
LIB_SRCS += core/store.c core/validate.c core/json.c core/keepalive.c core/registry.c core/util.c
