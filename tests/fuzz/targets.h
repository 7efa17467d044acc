/* targets.h — every fuzz target, for the corpus replay (replay.c).  Keep
 * in step with FUZZ_TARGETS in tests/fuzz/module.mk. */
#define FUZZ_TARGET_LIST(X)                                                                        \
    X(kvrest_request)                                                                              \
    X(vercel_reply)                                                                                \
    X(proto_replies)                                                                               \
    X(redis_reply)                                                                                 \
    X(lease_json)                                                                                  \
    X(ids)                                                                                         \
    X(duration)                                                                                    \
    X(redis_url)                                                                                   \
    X(rest_config)
