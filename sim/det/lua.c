/* lua.c — Redis 7.0 scripting for the scripted store; see lua.h.
 *
 * The behaviour reproduced here was read off a real redis-server 7.0
 * (the differential test in tests/det/ keeps checking it):
 *   - a script is compiled once with chunk name "@user_script" and kept
 *     under its SHA-1; KEYS and ARGV are fresh global tables per call;
 *   - redis.call raises and redis.pcall returns a table {err = "CODE msg"}
 *     for an error reply; the error handler adds the source and line, and
 *     the client sees "-<err> script: <sha>, on @user_script:<line>.";
 *     Lua errors that are not tables become {err = "ERR " .. tostring(e)};
 *   - pcall() is Redis's: an error table with a string err is returned as
 *     that string;
 *   - replies: integer -> number, bulk -> string, nil -> false, status ->
 *     {ok = s}, error -> {err = s}, array -> table; and back: number ->
 *     integer (truncated; out of range or NaN -> LLONG_MIN, as x86 does),
 *     string -> bulk, true -> 1, false/nil -> nil, {err} -> error,
 *     {ok} -> status, a table -> array up to its first nil;
 *   - the sandbox: globals and library tables read-only ("Attempt to
 *     modify a readonly table"), reading an unknown global is an error
 *     ("Script attempted to access nonexistent global variable 'x'").
 *
 * Read-only tables: Redis patches Lua itself; stock Lua 5.1 cannot refuse
 * a write to an existing key, so the globals and each library table are
 * replaced by empty proxies whose metatables forward reads (__index) and
 * refuse writes (__newindex); rawset refuses proxies, and their
 * metatables are locked (__metatable).  Limit: pairs() over a proxy
 * yields nothing (Redis would list the contents). */
#include "lua.h"

#include "sha1.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Debian's lua-cjson (liblua5.1-cjson.so): the same cjson 2.1.0 Redis
 * vendors. */
int luaopen_cjson(lua_State *L);

#define REDIS_VERSION     "7.0.15"
#define REDIS_VERSION_NUM 0x07000f

typedef struct cached {
    unsigned char sha[20];
    int ref; /* LUA_NOREF: empty slot */
} cached;

/* The Lua heap: size classes of 16 bytes up to POOL_MAX, carved from
 * 64 KB slabs and recycled through free lists; larger blocks go to
 * malloc.  The scripts allocate and drop small strings and tables on
 * every call, which glibc's malloc handles at several times the cost.
 * Everything is released when the state closes. */
#define POOL_MAX   512
#define POOL_CLASS 16
#define POOL_SLAB  65536

typedef struct pool {
    void *free[POOL_MAX / POOL_CLASS + 1];
    char **slabs;
    size_t nslabs, capslabs;
    char *cur;
    size_t left;
} pool;

struct det_lua {
    det_ks *ks;
    lua_State *L;
    pool heap;
    uint64_t seed;
    uint64_t rand48;
    int real_globals_ref; /* the table behind the globals proxy */
    int handler_ref;      /* __redis__err__handler */
    cached *cache;        /* open addressing, power-of-two size */
    size_t ncache, capcache;
    det_reply scratch; /* redis.call replies */
    bool running;
    long long budget; /* instructions left before the script is stopped */
    long long limit;  /* the budget of each run */
    /* redis.call argument vectors, grown as needed */
    const char **argv;
    size_t *lens;
    char (*num)[32];
    int argcap;
    det_log_fn log;
    void *log_ctx;
    /* Substituted scripts (det_lua_override): a body with this SHA-1 is
     * compiled from `body` instead. */
    struct {
        unsigned char sha[20];
        char *body;
        size_t len;
    } over[DET_LUA_MAX_OVERRIDES];
    int nover;
};

/* ------------------------------------------------------------------ */
/* The Lua heap                                                         */

static void *pool_get(pool *p, size_t size)
{
    size_t c = (size + POOL_CLASS - 1) / POOL_CLASS;
    if (p->free[c]) {
        void *b = p->free[c];
        p->free[c] = *(void **)b;
        return b;
    }
    size_t bytes = c * POOL_CLASS;
    if (p->left < bytes) {
        if (p->nslabs == p->capslabs) {
            size_t cap = p->capslabs ? 2 * p->capslabs : 16;
            char **g = realloc(p->slabs, cap * sizeof *g);
            if (!g)
                return NULL;
            p->slabs = g;
            p->capslabs = cap;
        }
        char *slab = malloc(POOL_SLAB);
        if (!slab)
            return NULL;
        p->slabs[p->nslabs++] = slab;
        p->cur = slab;
        p->left = POOL_SLAB;
    }
    void *b = p->cur;
    p->cur += bytes;
    p->left -= bytes;
    return b;
}

static void pool_put(pool *p, void *b, size_t size)
{
    size_t c = (size + POOL_CLASS - 1) / POOL_CLASS;
    *(void **)b = p->free[c];
    p->free[c] = b;
}

static void pool_release(pool *p)
{
    for (size_t i = 0; i < p->nslabs; i++)
        free(p->slabs[i]);
    free(p->slabs);
    memset(p, 0, sizeof *p);
}

/* lua_Alloc: Lua always passes the block's size (osize), so blocks need
 * no header. */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
#ifdef __SANITIZE_ADDRESS__
    /* Under AddressSanitizer every block goes to malloc, so that it sees
     * any misuse of the Lua heap the pool would hide. */
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
#endif
    pool *p = ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        if (ptr) {
            if (osize <= POOL_MAX)
                pool_put(p, ptr, osize);
            else
                free(ptr);
        }
        return NULL;
    }
    if (osize > POOL_MAX && nsize > POOL_MAX)
        return realloc(ptr, nsize);
    if (ptr && osize <= POOL_MAX && nsize <= POOL_MAX &&
        (osize + POOL_CLASS - 1) / POOL_CLASS == (nsize + POOL_CLASS - 1) / POOL_CLASS)
        return ptr; /* same class */
    void *n = nsize <= POOL_MAX ? pool_get(p, nsize) : malloc(nsize);
    if (!n)
        return NULL; /* Lua keeps the old block on a failed grow */
    if (ptr) {
        memcpy(n, ptr, osize < nsize ? osize : nsize);
        if (osize <= POOL_MAX)
            pool_put(p, ptr, osize);
        else
            free(ptr);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Script cache                                                         */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool hex_to_sha(const char *hex, size_t len, unsigned char sha[20])
{
    if (len != 40)
        return false;
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        bad |= hi | lo;
        sha[i] = (unsigned char)((hi << 4) | (lo & 15));
    }
    return bad >= 0;
}

static size_t slot_of(const det_lua *dl, const unsigned char sha[20])
{
    size_t h;
    memcpy(&h, sha, sizeof h);
    size_t i = h & (dl->capcache - 1);
    while (dl->cache[i].ref != LUA_NOREF && memcmp(dl->cache[i].sha, sha, 20) != 0)
        i = (i + 1) & (dl->capcache - 1);
    return i;
}

static int cache_get(const det_lua *dl, const unsigned char sha[20])
{
    if (!dl->capcache)
        return LUA_NOREF;
    return dl->cache[slot_of(dl, sha)].ref;
}

static bool cache_put(det_lua *dl, const unsigned char sha[20], int ref)
{
    if (2 * (dl->ncache + 1) > dl->capcache) {
        size_t cap = dl->capcache ? dl->capcache * 2 : 64;
        cached *old = dl->cache;
        size_t oldcap = dl->capcache;
        cached *t = malloc(cap * sizeof *t);
        if (!t)
            return false;
        for (size_t i = 0; i < cap; i++)
            t[i].ref = LUA_NOREF;
        dl->cache = t;
        dl->capcache = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].ref != LUA_NOREF)
                dl->cache[slot_of(dl, old[i].sha)] = old[i];
        free(old);
    }
    size_t i = slot_of(dl, sha);
    memcpy(dl->cache[i].sha, sha, 20);
    dl->cache[i].ref = ref;
    dl->ncache++;
    return true;
}

size_t det_lua_cached(const det_lua *dl) { return dl->ncache; }

/* ------------------------------------------------------------------ */
/* Errors as Redis builds them                                          */

static det_lua *self(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* Push {err = "CODE msg"} built from text as luaPushErrorBuff does:
 * "-CODE msg" keeps its code, anything else gets "ERR"; CR/LF trimmed from
 * both ends of the message. */
static void push_error_table(lua_State *L, const char *text, size_t len)
{
    luaL_Buffer b;
    const char *msg;
    size_t mlen;
    luaL_buffinit(L, &b);
    if (len > 0 && text[0] == '-') {
        const char *sp = memchr(text, ' ', len);
        if (!sp) {
            luaL_addstring(&b, "ERR");
            msg = text + 1;
            mlen = len - 1;
        } else {
            luaL_addlstring(&b, text + 1, (size_t)(sp - text - 1));
            msg = sp + 1;
            mlen = len - (size_t)(sp + 1 - text);
        }
    } else {
        luaL_addstring(&b, "ERR");
        msg = text;
        mlen = len;
    }
    while (mlen > 0 && (msg[0] == '\r' || msg[0] == '\n')) {
        msg++;
        mlen--;
    }
    while (mlen > 0 && (msg[mlen - 1] == '\r' || msg[mlen - 1] == '\n'))
        mlen--;
    luaL_addchar(&b, ' ');
    luaL_addlstring(&b, msg, mlen);
    luaL_pushresult(&b);
    /* lua_pushstring semantics: the text stops at a NUL */
    size_t fl;
    const char *full = lua_tolstring(L, -1, &fl);
    size_t cut = strnlen(full, fl);
    if (cut != fl) {
        lua_pushlstring(L, full, cut);
        lua_remove(L, -2);
    }
    lua_newtable(L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "err");
    lua_remove(L, -2);
}

/* Push the error table for a plain message (no leading '-'). */
static void push_error(lua_State *L, const char *msg) { push_error_table(L, msg, strlen(msg)); }

static int raise_error(lua_State *L, const char *msg)
{
    push_error(L, msg);
    return lua_error(L);
}

/* ------------------------------------------------------------------ */
/* Conversions                                                          */

/* lua_Number -> long long as (long long)d compiles on x86-64: values out
 * of range (and NaN) become LLONG_MIN. */
static long long num_to_ll(lua_Number d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return LLONG_MIN;
    return (long long)d;
}

/* Push the reply subtree at node *i onto the Lua stack. */
static void reply_to_lua(lua_State *L, const det_reply *r, size_t *i)
{
    const det_rnode *x = &r->node[(*i)++];
    luaL_checkstack(L, 4, "reply too deep");
    switch (x->type) {
    case DET_NIL: lua_pushboolean(L, 0); return;
    case DET_INT: lua_pushnumber(L, (lua_Number)x->v); return;
    case DET_BULK: lua_pushlstring(L, det_reply_str(r, *i - 1), x->len); return;
    case DET_STATUS:
        lua_newtable(L);
        lua_pushlstring(L, det_reply_str(r, *i - 1), x->len);
        lua_setfield(L, -2, "ok");
        return;
    case DET_ERR: {
        /* "-" + text, then as luaPushErrorBuff */
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '-');
        luaL_addlstring(&b, det_reply_str(r, *i - 1), x->len);
        luaL_pushresult(&b);
        size_t len;
        const char *t = lua_tolstring(L, -1, &len);
        push_error_table(L, t, len);
        lua_remove(L, -2);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return;
    }
    case DET_ARR:
        lua_createtable(L, x->v > 0 && x->v < 1000000 ? (int)x->v : 0, 0);
        for (long long k = 0; k < x->v; k++) {
            reply_to_lua(L, r, i);
            lua_rawseti(L, -2, (int)(k + 1));
        }
        return;
    }
    lua_pushboolean(L, 0);
}

/* Push the field name of the table on top of the stack: true when it is
 * of the given type (left pushed), false when not (popped). */
static bool typed_field(lua_State *L, const char *name, int type)
{
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    if (lua_type(L, -1) == type)
        return true;
    lua_pop(L, 1);
    return false;
}

static void double_reply(det_reply *out, lua_Number d)
{
    char buf[64];
    int n;
    if (isinf(d))
        n = snprintf(buf, sizeof buf, "%s", d > 0 ? "inf" : "-inf");
    else
        n = snprintf(buf, sizeof buf, "%.17g", (double)d);
    det_reply_bulk(out, buf, (size_t)n);
}

static void lua_to_reply(lua_State *L, det_reply *out, int depth);

/* The entries of the table on top of the stack as one array reply: key
 * and value of each (a map), or the keys only (a set). */
static void entries_reply(lua_State *L, det_reply *out, int depth, bool map)
{
    size_t idx = det_reply_arr_open(out);
    long long n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (map) {
            lua_pushvalue(L, -2);
            lua_to_reply(L, out, depth + 1); /* key */
            lua_to_reply(L, out, depth + 1); /* value */
            n += 2;
        } else {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_to_reply(L, out, depth + 1);
            n++;
        }
    }
    det_reply_arr_set(out, idx, n);
}

/* A table with a field that names its reply ({err=}, {ok=}, {double=},
 * {big_number=}, {map=}, {set=}, checked in that order) replied as that;
 * false for a plain table.  The table stays on the stack. */
static bool special_table(lua_State *L, det_reply *out, int depth)
{
    size_t len;
    const char *s;
    if (typed_field(L, "err", LUA_TSTRING)) {
        /* the text as extracted (lua_getfield + lua_isstring): the string
         * itself here */
        s = lua_tolstring(L, -1, &len);
        det_reply_err(out, s, strnlen(s, len));
    } else if (typed_field(L, "ok", LUA_TSTRING)) {
        s = lua_tolstring(L, -1, &len);
        det_reply_status(out, s, strnlen(s, len));
    } else if (typed_field(L, "double", LUA_TNUMBER)) {
        double_reply(out, lua_tonumber(L, -1));
    } else if (typed_field(L, "big_number", LUA_TSTRING)) {
        s = lua_tolstring(L, -1, &len);
        det_reply_bulk(out, s, len);
    } else if (typed_field(L, "map", LUA_TTABLE)) {
        entries_reply(L, out, depth, true);
    } else if (typed_field(L, "set", LUA_TTABLE)) {
        entries_reply(L, out, depth, false);
    } else {
        return false;
    }
    lua_pop(L, 1);
    return true;
}

/* Convert the value on top of the stack to a reply and pop it
 * (luaReplyToRedisReply, RESP2). */
static void lua_to_reply(lua_State *L, det_reply *out, int depth)
{
    if (depth > 1000 || !lua_checkstack(L, 4)) {
        det_reply_err(out, "ERR reached lua stack limit", 27);
        lua_pop(L, 1);
        return;
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        det_reply_bulk(out, s, len);
        break;
    }
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1))
            det_reply_int(out, 1);
        else
            det_reply_nil(out);
        break;
    case LUA_TNUMBER: det_reply_int(out, num_to_ll(lua_tonumber(L, -1))); break;
    case LUA_TTABLE: {
        if (special_table(L, out, depth))
            break;
        size_t idx = det_reply_arr_open(out);
        long long n = 0;
        for (int j = 1;; j++) {
            lua_rawgeti(L, -1, j);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            lua_to_reply(L, out, depth + 1);
            n++;
        }
        det_reply_arr_set(out, idx, n);
        break;
    }
    default: det_reply_nil(out); break;
    }
    lua_pop(L, 1);
}

/* ------------------------------------------------------------------ */
/* redis.*                                                              */

static bool grow_args(det_lua *dl, int n)
{
    if (n <= dl->argcap)
        return true;
    int cap = dl->argcap ? dl->argcap : 16;
    while (cap < n)
        cap *= 2;
    const char **a = realloc(dl->argv, (size_t)cap * sizeof *a);
    if (!a)
        return false;
    dl->argv = a;
    size_t *l = realloc(dl->lens, (size_t)cap * sizeof *l);
    if (!l)
        return false;
    dl->lens = l;
    char(*nb)[32] = realloc(dl->num, (size_t)cap * sizeof *nb);
    if (!nb)
        return false;
    dl->num = nb;
    dl->argcap = cap;
    return true;
}

static int call_generic(lua_State *L, bool raise)
{
    det_lua *dl = self(L);
    int argc = lua_gettop(L);
    if (argc == 0) {
        push_error(L, "Please specify at least one argument for this redis lib call");
        return raise ? lua_error(L) : 1;
    }
    if (!grow_args(dl, argc))
        return luaL_error(L, "out of memory");
    for (int j = 0; j < argc; j++) {
        if (lua_type(L, j + 1) == LUA_TNUMBER) {
            /* %.17g, not Lua's %.14g, as Redis does */
            int n =
                snprintf(dl->num[j], sizeof dl->num[j], "%.17g", (double)lua_tonumber(L, j + 1));
            dl->argv[j] = dl->num[j];
            dl->lens[j] = (size_t)n;
        } else {
            size_t len = 0;
            const char *s = lua_tolstring(L, j + 1, &len);
            if (!s) {
                push_error(L, "Lua redis lib command arguments must be strings or integers");
                return raise ? lua_error(L) : 1;
            }
            dl->argv[j] = s;
            dl->lens[j] = len;
        }
    }
    det_reply_reset(&dl->scratch);
    const char *refusal = det_ks_exec_script(dl->ks, argc, dl->argv, dl->lens, &dl->scratch);
    if (refusal) {
        lua_settop(L, 0);
        push_error(L, refusal);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return raise ? lua_error(L) : 1;
    }
    if (dl->scratch.oom || dl->scratch.n == 0) {
        lua_settop(L, 0);
        push_error(L, "-OOM out of memory building a reply");
        return raise ? lua_error(L) : 1;
    }
    lua_settop(L, 0);
    size_t i = 0;
    reply_to_lua(L, &dl->scratch, &i);
    if (raise && dl->scratch.node[0].type == DET_ERR)
        return lua_error(L);
    return 1;
}

static int l_call(lua_State *L) { return call_generic(L, true); }
static int l_pcall(lua_State *L) { return call_generic(L, false); }

static int l_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return raise_error(L, "wrong number of arguments");
    size_t len = 0;
    const char *s = lua_tolstring(L, 1, &len);
    char hex[41];
    rp_sha1_hex(s ? s : "", s ? len : 0, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int single_field(lua_State *L, const char *field)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    lua_newtable(L);
    lua_pushstring(L, field);
    lua_pushvalue(L, -3);
    lua_settable(L, -3);
    return 1;
}

static int l_status_reply(lua_State *L) { return single_field(L, "ok"); }

static int l_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    const char *e = lua_tostring(L, -1); /* C string, as Redis reads it */
    size_t len = strlen(e);
    if (e[0] != '-') {
        lua_pushfstring(L, "-%s", e);
        e = lua_tostring(L, -1);
        len = strlen(e);
    }
    push_error_table(L, e, len);
    return 1;
}

static int l_log(lua_State *L)
{
    det_lua *dl = self(L);
    int argc = lua_gettop(L);
    if (argc < 2)
        return raise_error(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, -argc))
        return raise_error(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, -argc);
    if (level < 0 || level > 3)
        return raise_error(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int j = 1; j < argc; j++) {
        size_t len;
        const char *s = lua_tolstring(L, (-argc) + j, &len);
        if (s) {
            if (j != 1)
                luaL_addchar(&b, ' ');
            luaL_addlstring(&b, s, len);
        }
    }
    luaL_pushresult(&b);
    if (dl->log) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        dl->log(dl->log_ctx, level, s, len);
    }
    return 0;
}

static int l_setresp(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return raise_error(L, "redis.setresp() requires one argument.");
    int resp = (int)lua_tonumber(L, -1);
    if (resp == 3)
        return raise_error(L, "the scripted store speaks RESP2 only");
    if (resp != 2)
        return raise_error(L, "RESP version must be 2 or 3.");
    return 0;
}

static int l_set_repl(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return raise_error(L, "redis.set_repl() requires two arguments.");
    int flags = (int)lua_tonumber(L, -1);
    if ((flags & ~3) != 0)
        return raise_error(
            L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    return 0;
}

static int l_replicate_commands(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int l_breakpoint(lua_State *L)
{
    lua_pushboolean(L, 0);
    return 1;
}

static int l_debug(lua_State *L)
{
    (void)L;
    return 0;
}

static int l_acl_check_cmd(lua_State *L)
{
    det_lua *dl = self(L);
    int argc = lua_gettop(L);
    if (argc == 0)
        return raise_error(L, "Please specify at least one argument for this redis lib call");
    for (int j = 1; j <= argc; j++)
        if (lua_type(L, j) != LUA_TNUMBER && lua_type(L, j) != LUA_TSTRING)
            return raise_error(L, "Lua redis lib command arguments must be strings or integers");
    size_t len;
    const char *name = lua_tolstring(L, 1, &len);
    if (!det_ks_known_command(dl->ks, name, len))
        return raise_error(L, "Invalid command passed to redis.acl_check_cmd()");
    lua_pushboolean(L, 1); /* no ACLs here: every command is allowed */
    return 1;
}

/* rand48, as Redis's rand.c */
static int32_t rand48_next(det_lua *dl)
{
    dl->rand48 = (dl->rand48 * 0x5DEECE66DULL + 0xB) & ((1ULL << 48) - 1);
    return (int32_t)(dl->rand48 >> 17);
}

static void rand48_seed(det_lua *dl, int32_t seed)
{
    dl->rand48 = (((uint64_t)(uint32_t)seed) << 16) | 0x330E;
}

static int l_math_random(lua_State *L)
{
    det_lua *dl = self(L);
    lua_Number r = (lua_Number)(rand48_next(dl) % INT32_MAX) / (lua_Number)INT32_MAX;
    switch (lua_gettop(L)) {
    case 0: lua_pushnumber(L, r); break;
    case 1: {
        int u = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= u, 1, "interval is empty");
        lua_pushnumber(L, floor(r * u) + 1);
        break;
    }
    case 2: {
        int l = luaL_checkint(L, 1);
        int u = luaL_checkint(L, 2);
        luaL_argcheck(L, l <= u, 2, "interval is empty");
        lua_pushnumber(L, floor(r * (u - l + 1)) + l);
        break;
    }
    default: return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int l_math_randomseed(lua_State *L)
{
    rand48_seed(self(L), luaL_checkint(L, 1));
    return 0;
}

/* Redis's pcall: an error table with a string err is returned as that
 * string. */
static int l_base_pcall(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc == 0) { /* what Redis's pcall() answers */
        lua_pushboolean(L, 0);
        lua_pushstring(L, "attempt to call a boolean value");
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0)) {
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            if (lua_isstring(L, -1))
                lua_replace(L, -2);
            else
                lua_pop(L, 1);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

/* ------------------------------------------------------------------ */
/* Sandbox                                                              */

static int readonly_error(lua_State *L)
{
    luaL_where(L, 1);
    lua_pushstring(L, "Attempt to modify a readonly table");
    lua_concat(L, 2);
    return lua_error(L);
}

static int nonexistent_global(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    luaL_where(L, 1);
    lua_pushfstring(L, "Script attempted to access nonexistent global variable '%s'",
                    name ? name : "?");
    lua_concat(L, 2);
    return lua_error(L);
}

static int is_proxy(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, -1, "__det_readonly");
    int ro = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return ro;
}

static int l_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_proxy(L, 1)) {
        lua_pushstring(L, "Attempt to modify a readonly table"); /* no position, as Redis */
        return lua_error(L);
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* Replace the table at idx (absolute) by a read-only proxy; leaves the
 * proxy on the stack. */
static void push_proxy(lua_State *L, int idx)
{
    lua_newtable(L);          /* proxy */
    lua_createtable(L, 0, 4); /* its metatable */
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_newtable(L);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__det_readonly");
    lua_setmetatable(L, -2);
}

/* The error handler of every script run (__redis__err__handler). */
static int err_handler(lua_State *L)
{
    lua_Debug ar;
    bool have = lua_getstack(L, 1, &ar) && lua_getinfo(L, "nSl", &ar);
    if (have && strcmp(ar.what, "C") == 0)
        have = lua_getstack(L, 2, &ar) && lua_getinfo(L, "nSl", &ar);
    if (!lua_istable(L, 1)) {
        const char *s;
        char buf[64];
        switch (lua_type(L, 1)) {
        case LUA_TNIL: s = "nil"; break;
        case LUA_TBOOLEAN: s = lua_toboolean(L, 1) ? "true" : "false"; break;
        case LUA_TNUMBER:
        case LUA_TSTRING: s = lua_tostring(L, 1); break;
        default:
            snprintf(buf, sizeof buf, "%s: %p", luaL_typename(L, 1), lua_topointer(L, 1));
            s = buf;
        }
        lua_pushfstring(L, "ERR %s", s);
        lua_newtable(L);
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "err");
        lua_replace(L, 1);
        lua_settop(L, 1);
    }
    if (have) {
        lua_pushstring(L, ar.source);
        lua_setfield(L, 1, "source");
        lua_pushnumber(L, ar.currentline);
        lua_setfield(L, 1, "line");
    }
    lua_settop(L, 1);
    return 1;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_getfield(L, LUA_REGISTRYINDEX, "det_lua");
    det_lua *dl = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!dl || !dl->running)
        return;
    dl->budget -= 100000;
    if (dl->budget < 0) {
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1); /* no pcall escapes this */
        raise_error(L, "-BUSY script ran past the scripted store's instruction limit");
    }
}

static void set_fn(lua_State *L, det_lua *dl, const char *name, lua_CFunction fn)
{
    lua_pushlightuserdata(L, dl);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

static void set_num(lua_State *L, const char *name, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

/* Named numbers of the redis table, set in this order. */
typedef struct num_const {
    const char *name;
    int value;
} num_const;

static const num_const log_levels[] = {
    {"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3}};

static const num_const repl_modes[] = {
    {"REPL_NONE", 0}, {"REPL_AOF", 1}, {"REPL_SLAVE", 2}, {"REPL_REPLICA", 2}, {"REPL_ALL", 3}};

static void set_nums(lua_State *L, const num_const *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        set_num(L, k[i].name, k[i].value);
}

/* As luaL_newstate's: an error outside any protected call (only
 * possible while the state is being set up) ends the process. */
static int l_panic(lua_State *L)
{
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", lua_tostring(L, -1));
    return 0;
}

static int open_state(det_lua *dl)
{
    lua_State *L = lua_newstate(l_alloc, &dl->heap);
    if (!L)
        return -1;
    lua_atpanic(L, l_panic);
    dl->L = L;
    lua_pushlightuserdata(L, dl);
    lua_setfield(L, LUA_REGISTRYINDEX, "det_lua");

    /* Libraries, as Redis loads them (no package, io, os). */
    const struct {
        const char *name;
        lua_CFunction fn;
    } libs[] = {{"", luaopen_base},
                {LUA_TABLIBNAME, luaopen_table},
                {LUA_STRLIBNAME, luaopen_string},
                {LUA_MATHLIBNAME, luaopen_math}};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        lua_pushcfunction(L, libs[i].fn);
        lua_pushstring(L, libs[i].name);
        lua_call(L, 1, 0);
    }
    lua_pushcfunction(L, luaopen_cjson);
    lua_call(L, 0, 1);
    lua_setglobal(L, "cjson");

    /* Globals Redis does not offer. */
    static const char *const removed[] = {"dofile",  "loadfile", "print",  "getfenv",
                                          "setfenv", "newproxy", "module", "require"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }

    lua_pushcfunction(L, l_base_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, l_rawset);
    lua_setglobal(L, "rawset");

    lua_getglobal(L, "math");
    set_fn(L, dl, "random", l_math_random);
    set_fn(L, dl, "randomseed", l_math_randomseed);
    lua_pop(L, 1);
    rand48_seed(dl, (int32_t)(uint32_t)dl->seed);

    lua_newtable(L); /* redis */
    set_fn(L, dl, "call", l_call);
    set_fn(L, dl, "pcall", l_pcall);
    set_fn(L, dl, "log", l_log);
    set_nums(L, log_levels, sizeof log_levels / sizeof *log_levels);
    lua_pushstring(L, REDIS_VERSION);
    lua_setfield(L, -2, "REDIS_VERSION");
    set_num(L, "REDIS_VERSION_NUM", REDIS_VERSION_NUM);
    set_fn(L, dl, "setresp", l_setresp);
    set_fn(L, dl, "sha1hex", l_sha1hex);
    set_fn(L, dl, "error_reply", l_error_reply);
    set_fn(L, dl, "status_reply", l_status_reply);
    set_fn(L, dl, "set_repl", l_set_repl);
    set_nums(L, repl_modes, sizeof repl_modes / sizeof *repl_modes);
    set_fn(L, dl, "replicate_commands", l_replicate_commands);
    set_fn(L, dl, "breakpoint", l_breakpoint);
    set_fn(L, dl, "debug", l_debug);
    set_fn(L, dl, "acl_check_cmd", l_acl_check_cmd);
    lua_setglobal(L, "redis");

    lua_pushcfunction(L, err_handler);
    lua_pushvalue(L, -1);
    dl->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setglobal(L, "__redis__err__handler");

    /* Read-only libraries: proxies in their place. */
    static const char *const ro[] = {"string", "math", "table", "coroutine", "cjson", "redis"};
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    int g = lua_gettop(L);
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        lua_getfield(L, g, ro[i]);
        push_proxy(L, lua_gettop(L));
        lua_setfield(L, g, ro[i]);
        lua_pop(L, 1);
    }
    /* The real globals: unknown names are errors, new names refused. */
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, nonexistent_global);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, g);
    /* ... behind a read-only proxy that becomes the globals table. */
    push_proxy(L, g);
    lua_pushstring(L, "_G");
    lua_pushvalue(L, -2);
    lua_rawset(L, g);
    lua_replace(L, LUA_GLOBALSINDEX);
    dl->real_globals_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops g */
    lua_settop(L, 0);

    lua_sethook(L, count_hook, LUA_MASKCOUNT, 100000);
    return 0;
}

static void close_state(det_lua *dl)
{
    if (dl->L)
        lua_close(dl->L);
    dl->L = NULL;
    pool_release(&dl->heap);
    free(dl->cache);
    dl->cache = NULL;
    dl->ncache = dl->capcache = 0;
}

int det_lua_flush(det_lua *dl)
{
    close_state(dl);
    return open_state(dl);
}

/* ------------------------------------------------------------------ */
/* EVAL, EVALSHA, SCRIPT                                                */

static const char noscript[] = "NOSCRIPT No matching script. Please use EVAL.";

/* Compile body and cache it; the registry reference, or LUA_NOREF with
 * the compile error in out. */
static int compile(det_lua *dl, const char *body, size_t len, const unsigned char sha[20],
                   det_reply *out)
{
    lua_State *L = dl->L;
    for (int i = 0; i < dl->nover; i++)
        if (memcmp(dl->over[i].sha, sha, 20) == 0) {
            body = dl->over[i].body;
            len = dl->over[i].len;
            break;
        }
    if (luaL_loadbuffer(L, body, len, "@user_script")) {
        const char *msg = lua_tostring(L, -1);
        det_reply_errf(out, "ERR Error compiling script (new function): %s", msg ? msg : "?");
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!cache_put(dl, sha, ref)) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        det_reply_err(out, "OOM out of memory caching a script", 34);
        return LUA_NOREF;
    }
    return ref;
}

/* KEYS and ARGV: fresh tables for every call, as Redis makes them. */
static void set_array(lua_State *L, int g, const char *name, const char *const *v,
                      const size_t *lens, int n)
{
    lua_pushstring(L, name);
    lua_createtable(L, n, 0);
    for (int j = 0; j < n; j++) {
        lua_pushlstring(L, v[j], lens[j]);
        lua_rawseti(L, -2, j + 1);
    }
    lua_rawset(L, g);
}

static void run(det_lua *dl, int ref, const char *sha_hex, int nkeys, const char *const *keys,
                const size_t *klens, int nargs, const char *const *args, const size_t *alens,
                det_reply *out)
{
    lua_State *L = dl->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, dl->handler_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, dl->real_globals_ref);
    int g = lua_gettop(L);
    set_array(L, g, "KEYS", keys, klens, nkeys);
    set_array(L, g, "ARGV", args, alens, nargs);
    lua_pop(L, 1);
    dl->running = true;
    dl->budget = dl->limit;
    int e = lua_pcall(L, 0, 1, -2);
    dl->running = false;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 100000);
    if (e) {
        if (lua_istable(L, -1)) {
            const char *msg = NULL, *source = NULL, *line = NULL;
            lua_getfield(L, -1, "err");
            if (lua_isstring(L, -1))
                msg = lua_tostring(L, -1);
            lua_getfield(L, -2, "source");
            if (lua_isstring(L, -1))
                source = lua_tostring(L, -1);
            lua_getfield(L, -3, "line");
            if (lua_isstring(L, -1))
                line = lua_tostring(L, -1);
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            /* Redis 7.0 crashes on an error object without an err
             * string (error({})); say so instead. */
            luaL_addstring(&b, msg ? msg : "ERR the script raised an error object without 'err'");
            if (source && line) {
                luaL_addstring(&b, " script: ");
                luaL_addstring(&b, sha_hex);
                luaL_addstring(&b, ", on ");
                luaL_addstring(&b, source);
                luaL_addstring(&b, ":");
                luaL_addstring(&b, line);
                luaL_addstring(&b, ".");
            }
            luaL_pushresult(&b);
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            det_reply_err(out, s, len);
            lua_pop(L, 4);
        } else {
            const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "execution failure";
            det_reply_errf(out, "ERR Error running script %s, %.100s", sha_hex, msg);
        }
        lua_pop(L, 1);
    } else {
        lua_to_reply(L, out, 0);
    }
    lua_pop(L, 1); /* the handler */
}

static void eval_generic(det_lua *dl, int argc, const char *const *argv, const size_t *lens,
                         det_reply *out, bool evalsha)
{
    if (evalsha && lens[1] != 40) {
        det_reply_err(out, noscript, sizeof noscript - 1);
        return;
    }
    long long numkeys;
    if (!det_parse_ll(argv[2], lens[2], &numkeys)) {
        det_reply_err(out, "ERR value is not an integer or out of range", 43);
        return;
    }
    if (numkeys > argc - 3) {
        det_reply_errf(out, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        det_reply_errf(out, "ERR Number of keys can't be negative");
        return;
    }
    if (!dl->L) {
        det_reply_errf(out, "ERR the scripted store could not create its Lua state");
        return;
    }
    unsigned char sha[20];
    char hex[41];
    int ref;
    if (evalsha) {
        if (!hex_to_sha(argv[1], lens[1], sha) || (ref = cache_get(dl, sha)) == LUA_NOREF) {
            det_reply_err(out, noscript, sizeof noscript - 1);
            return;
        }
        for (int i = 0; i < 40; i++)
            hex[i] =
                (char)((argv[1][i] >= 'A' && argv[1][i] <= 'F') ? argv[1][i] + 32 : argv[1][i]);
        hex[40] = '\0';
    } else {
        rp_sha1_hex(argv[1], lens[1], hex);
        hex_to_sha(hex, 40, sha);
        ref = cache_get(dl, sha);
        if (ref == LUA_NOREF && (ref = compile(dl, argv[1], lens[1], sha, out)) == LUA_NOREF)
            return;
    }
    int nk = (int)numkeys;
    run(dl, ref, hex, nk, argv + 3, lens + 3, argc - 3 - nk, argv + 3 + nk, lens + 3 + nk, out);
}

static bool is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static void script_cmd(det_lua *dl, int argc, const char *const *argv, const size_t *lens,
                       det_reply *out)
{
    const char *sub = argv[1];
    size_t sl = lens[1];
    if (is(sub, sl, "load")) {
        if (argc != 3) {
            det_reply_errf(out, "ERR wrong number of arguments for 'script|load' command");
            return;
        }
        if (!dl->L) {
            det_reply_errf(out, "ERR the scripted store could not create its Lua state");
            return;
        }
        char hex[41];
        unsigned char sha[20];
        rp_sha1_hex(argv[2], lens[2], hex);
        hex_to_sha(hex, 40, sha);
        if (cache_get(dl, sha) == LUA_NOREF && compile(dl, argv[2], lens[2], sha, out) == LUA_NOREF)
            return;
        det_reply_bulk(out, hex, 40);
    } else if (is(sub, sl, "exists")) {
        if (argc < 3) {
            det_reply_errf(out, "ERR wrong number of arguments for 'script|exists' command");
            return;
        }
        det_reply_arr(out, argc - 2);
        for (int i = 2; i < argc; i++) {
            unsigned char sha[20];
            bool ok = hex_to_sha(argv[i], lens[i], sha) && cache_get(dl, sha) != LUA_NOREF;
            det_reply_int(out, ok);
        }
    } else if (is(sub, sl, "flush")) {
        if (!(argc == 2 ||
              (argc == 3 && (is(argv[2], lens[2], "sync") || is(argv[2], lens[2], "async"))))) {
            det_reply_errf(out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            return;
        }
        if (det_lua_flush(dl) != 0)
            det_reply_errf(out, "ERR the scripted store could not create its Lua state");
        else
            det_reply_status(out, "OK", 2);
    } else if (is(sub, sl, "kill")) {
        if (argc != 2) {
            det_reply_errf(out, "ERR wrong number of arguments for 'script|kill' command");
            return;
        }
        det_reply_errf(out, "NOTBUSY No scripts in execution right now.");
    } else {
        det_reply_errf(out, "ERR unknown subcommand '%.*s'. Try SCRIPT HELP.",
                       (int)strnlen(sub, sl > 128 ? 128 : sl), sub);
    }
}

static void dispatch(void *ctx, int argc, const char *const *argv, const size_t *lens,
                     det_reply *out)
{
    det_lua *dl = ctx;
    if (is(argv[0], lens[0], "eval"))
        eval_generic(dl, argc, argv, lens, out, false);
    else if (is(argv[0], lens[0], "evalsha"))
        eval_generic(dl, argc, argv, lens, out, true);
    else
        script_cmd(dl, argc, argv, lens, out);
}

/* ------------------------------------------------------------------ */

det_lua *det_lua_new(det_ks *ks, uint64_t seed)
{
    det_lua *dl = calloc(1, sizeof *dl);
    if (!dl)
        return NULL;
    dl->ks = ks;
    dl->seed = seed;
    dl->limit = DET_LUA_MAX_INSTRUCTIONS;
    det_reply_init(&dl->scratch);
    if (open_state(dl) != 0) {
        free(dl);
        return NULL;
    }
    det_ks_set_scripting(ks, dispatch, dl);
    return dl;
}

void det_lua_free(det_lua *dl)
{
    if (!dl)
        return;
    det_ks_set_scripting(dl->ks, NULL, NULL);
    close_state(dl);
    det_reply_free(&dl->scratch);
    for (int i = 0; i < dl->nover; i++)
        free(dl->over[i].body);
    free(dl->argv);
    free(dl->lens);
    free(dl->num);
    free(dl);
}

void det_lua_set_limit(det_lua *dl, long long instructions)
{
    dl->limit = instructions > 0 ? instructions : DET_LUA_MAX_INSTRUCTIONS;
}

void det_lua_set_log(det_lua *dl, det_log_fn fn, void *ctx)
{
    dl->log = fn;
    dl->log_ctx = ctx;
}

int det_lua_override(det_lua *dl, const char *orig, size_t orig_len, const char *body,
                     size_t body_len)
{
    if (dl->nover >= DET_LUA_MAX_OVERRIDES)
        return -1;
    char *copy = malloc(body_len + 1);
    if (!copy)
        return -1;
    memcpy(copy, body, body_len);
    copy[body_len] = '\0';
    char hex[41];
    rp_sha1_hex(orig, orig_len, hex);
    hex_to_sha(hex, 40, dl->over[dl->nover].sha);
    dl->over[dl->nover].body = copy;
    dl->over[dl->nover].len = body_len;
    dl->nover++;
    return det_lua_flush(dl);
}
