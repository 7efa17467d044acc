/*
 * lua.h — Redis 7.0 scripting over a det_ks keyspace: EVAL, EVALSHA and
 * SCRIPT LOAD/EXISTS/FLUSH/KILL, run by an embedded Lua 5.1 (the version
 * Redis embeds) with the cjson library Redis provides, the redis.* API
 * (call, pcall, error_reply, status_reply, sha1hex, log, setresp,
 * set_repl, replicate_commands, breakpoint, debug, acl_check_cmd), Redis's
 * pcall, its error objects and messages, its value conversions both ways
 * and its sandbox (no io, os, loadfile, dofile, require, print, getfenv,
 * setfenv; globals and library tables read-only).
 *
 * One Lua state per engine, created once and reused for every script;
 * compiled scripts are cached by SHA-1 (a C hash table of registry
 * references), so EVALSHA costs a lookup, two small tables (KEYS, ARGV)
 * and the run.  SCRIPT FLUSH (and det_lua_flush) closes the state and
 * opens a new one, as Redis does.
 *
 * Deterministic: math.random is Redis's rand48, seeded from the engine's
 * seed; nothing reads a clock or the environment.  Not thread-safe.
 */
#ifndef SQCLAIM_DET_LUA_H
#define SQCLAIM_DET_LUA_H

#include "keyspace.h"

typedef struct det_lua det_lua;

/* redis.log(level, ...) sink: level 0 debug .. 3 warning. */
typedef void (*det_log_fn)(void *ctx, int level, const char *msg, size_t len);

/* Create an engine over ks and register it as ks's scripting handler.
 * seed: math.random's seed.  NULL: out of memory (or Lua failed). */
det_lua *det_lua_new(det_ks *ks, uint64_t seed);
void det_lua_free(det_lua *dl);

/* Forget every cached script (a restart, or SCRIPT FLUSH): a new Lua
 * state.  0, or -1 if the new state could not be created (then every
 * script command answers an error until a later flush succeeds). */
int det_lua_flush(det_lua *dl);

/* Where redis.log writes (default: nowhere). */
void det_lua_set_log(det_lua *dl, det_log_fn fn, void *ctx);

/* Number of scripts in the cache. */
size_t det_lua_cached(const det_lua *dl);

/* A script that runs more than this many Lua instructions (the default;
 * det_lua_set_limit changes it) is stopped with a BUSY error reply.
 * Redis would answer BUSY to everyone else and let it run; a simulator
 * must not hang. */
#define DET_LUA_MAX_INSTRUCTIONS 200000000LL
void det_lua_set_limit(det_lua *dl, long long instructions);

/* Negative controls of the simulator (never used by a test of the real
 * scripts): from now on, a script whose body is orig[0..orig_len) — sent
 * with EVAL, or named by its SHA-1 in EVALSHA — runs body instead, under
 * the original's SHA-1, as if the server had been given a broken copy.
 * Flushes the script cache.  At most DET_LUA_MAX_OVERRIDES; 0 or -1. */
#define DET_LUA_MAX_OVERRIDES 8
int det_lua_override(det_lua *dl, const char *orig, size_t orig_len, const char *body,
                     size_t body_len);

#endif
