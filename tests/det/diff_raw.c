/* diff_raw.c — random command sequences run on a real redis-server and on
 * the scripted store, every reply compared (see diffcommon.h for the
 * comparison rules).
 *
 * Each sequence starts from FLUSHALL + SCRIPT FLUSH on both sides and
 * draws commands from a small universe of keys (so types collide and
 * WRONGTYPE happens), tricky values (integers at the edges, leading
 * zeros, CR/LF, NUL bytes), option combinations valid and invalid,
 * wrong arities, unknown commands, random case, glob patterns with
 * Redis's escapes, and scripts: snippets probing the Lua conversions and
 * error objects, and the production scripts themselves with random KEYS
 * and ARGV.  SCAN is compared by the set of keys a full iteration
 * returns (cursors differ: the two hash tables differ); KEYS as a set
 * (Redis returns hash-table order). */
#include "diffcommon.h"
#include "sha1.h"

#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXARGS 40
#define ARGLEN  400

typedef enum op_kind { OP_CMD, OP_SCAN } op_kind;

typedef struct op {
    op_kind kind;
    int argc;
    const char *argv[MAXARGS];
    size_t len[MAXARGS];
    cmp_mode mode;
    long long short_px;         /* > 0: a short expiry; wait it out after the op */
    bool reclaim;               /* let redis reclaim expired keys first (DBSIZE) */
    char data[MAXARGS][ARGLEN]; /* last: memset up to here resets an op */
} op;

static void arg(op *o, const char *s, size_t len)
{
    if (o->argc >= MAXARGS)
        return;
    if (len > ARGLEN)
        len = ARGLEN;
    memcpy(o->data[o->argc], s, len);
    o->argv[o->argc] = o->data[o->argc];
    o->len[o->argc] = len;
    o->argc++;
}

static void args(op *o, const char *s) { arg(o, s, strlen(s)); }

static void argf(op *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(op *o, const char *fmt, ...)
{
    char b[ARGLEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    arg(o, b, n < 0 ? 0 : (size_t)n);
}

/* Random letter case for command names and options. */
static void argc_case(gen *g, op *o, const char *s)
{
    char b[64];
    size_t n = strlen(s);
    for (size_t i = 0; i < n && i < sizeof b; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z' && gen_chance(g, 30))
            c = (char)(c - 32);
        else if (c >= 'A' && c <= 'Z' && gen_chance(g, 70))
            c = (char)(c + 32);
        b[i] = c;
    }
    arg(o, b, n);
}

typedef struct bytes {
    const char *s;
    size_t len;
} bytes;
#define B(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static const bytes keys[] = {
    B("k0"),  B("k1"),  B("k2"),   B("h"), B("l"),        B("sq:1"), B("refund:1"),
    B("a*b"), B("[x]"), B("k\\*"), B(""),  B("\xc3\xa9"), B("\0z"),  B("sqclaim:fence")};
#define NKEYS (sizeof keys / sizeof keys[0])

static const bytes values[] = {B(""),
                               B("0"),
                               B("1"),
                               B("-1"),
                               B("01"),
                               B("-0"),
                               B("+1"),
                               B(" 1"),
                               B("1 "),
                               B("42"),
                               B("1.5"),
                               B("abc"),
                               B("a\r\nb"),
                               B("\0\x01\xff"),
                               B("9223372036854775807"),
                               B("-9223372036854775808"),
                               B("9223372036854775808"),
                               B("-9223372036854775809"),
                               B("12345678901234567890123"),
                               B("100"),
                               B("{\"token\":\"t1\",\"fence\":3}"),
                               B("1e3"),
                               B("0x10"),
                               B("inf"),
                               B("nan")};
#define NVALUES (sizeof values / sizeof values[0])

static const char *const patterns[] = {
    "*",   "k*",    "k?",     "k[0-1]", "k[^0]", "[a-z]*", "*:*",  "sq:*", "refund:*", "\\[x\\]",
    "[x]", "a\\*b", "a*b",    "k[",     "k[0-",  "*\\",    "\\",   "?",    "",         "[]",
    "[^]", "[\\]]", "k[1-0]", "*[",     "h*",    "*1",     "**k*", "k\\",  "[k]?",     "\xc3*"};
#define NPATTERNS (sizeof patterns / sizeof patterns[0])

static void key(gen *g, op *o)
{
    const bytes *k = &keys[gen_below(g, NKEYS)];
    arg(o, k->s, k->len);
}

static void value(gen *g, op *o)
{
    if (gen_chance(g, 10)) {
        char b[ARGLEN];
        size_t n = (size_t)gen_below(g, ARGLEN);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)('a' + gen_below(g, 26));
        arg(o, b, n);
        return;
    }
    const bytes *v = &values[gen_below(g, NVALUES)];
    arg(o, v->s, v->len);
}

enum unit { REL_MS, REL_S, ABS_MS, ABS_S };

/* An expiry argument that is far from "now" (never a race). */
static void timearg(gen *g, op *o, enum unit u)
{
    long long now = diff_realtime_ms();
    switch (u) {
    case REL_MS: {
        static const char *const v[] = {
            "-5", "0",   "100000", "3600000", "9223372036854775807", "-9223372036854775808", "x",
            "+5", "007", "1.5",    ""};
        args(o, v[gen_below(g, sizeof v / sizeof v[0])]);
        return;
    }
    case REL_S: {
        static const char *const v[] = {"-1",
                                        "0",
                                        "100",
                                        "3600",
                                        "9223372036854775",
                                        "9223372036854776",
                                        "9223372036854775807",
                                        "-9223372036854775",
                                        "-9223372036854776",
                                        "abc"};
        args(o, v[gen_below(g, sizeof v / sizeof v[0])]);
        return;
    }
    case ABS_MS:
        switch (gen_below(g, 6)) {
        case 0: argf(o, "%lld", now - 100000); return;
        case 1: argf(o, "%lld", now + 3600000); return;
        case 2: args(o, "1"); return;
        case 3: args(o, "0"); return;
        case 4: args(o, "-1"); return;
        default: args(o, "9223372036854775807"); return;
        }
    case ABS_S:
        switch (gen_below(g, 5)) {
        case 0: argf(o, "%lld", now / 1000 - 100); return;
        case 1: argf(o, "%lld", now / 1000 + 3600); return;
        case 2: args(o, "1"); return;
        case 3: args(o, "0"); return;
        default: args(o, "9223372036854775"); return;
        }
    }
}

/* Scripts: snippets probing conversions and errors.  mode: how their
 * replies compare. */
static const struct snippet {
    const char *body;
    int nkeys;
    int nargs;
    cmp_mode mode;
} snippets[] = {
    {"return redis.call('GET', KEYS[1])", 1, 0, CMP_EXACT},
    {"return redis.call('SET', KEYS[1], ARGV[1])", 1, 1, CMP_EXACT},
    {"return redis.pcall('INCR', KEYS[1])", 1, 0, CMP_EXACT},
    {"return redis.call('INCR', KEYS[1])", 1, 0, CMP_EXACT},
    {"return redis.call('MGET', KEYS[1], KEYS[2])", 2, 0, CMP_EXACT},
    {"return {1, 2.9, -2.9, 'x', false, true, {3, {4}}, nil, 5}", 0, 0, CMP_EXACT},
    {"return {err='E1 boom'}", 0, 0, CMP_EXACT},
    {"return {ok='fine'}", 0, 0, CMP_EXACT},
    {"return {err=3}", 0, 0, CMP_EXACT},
    {"return redis.error_reply(ARGV[1])", 0, 1, CMP_EXACT},
    {"return redis.status_reply(ARGV[1])", 0, 1, CMP_EXACT},
    {"return redis.error_reply()", 0, 0, CMP_EXACT},
    {"return redis.call('TYPE', KEYS[1])", 1, 0, CMP_EXACT},
    {"local t = redis.call('TYPE', KEYS[1]); return t.ok", 1, 0, CMP_EXACT},
    {"return redis.pcall('nosuchcmd', 'a')", 0, 0, CMP_EXACT},
    {"return redis.pcall('GET')", 0, 0, CMP_EXACT},
    {"return redis.pcall('EVAL', 'return 1', '0')", 0, 0, CMP_EXACT},
    {"return redis.call('SCRIPT', 'FLUSH')", 0, 0, CMP_EXACT},
    {"return redis.pcall()", 0, 0, CMP_EXACT},
    {"return redis.pcall('GET', {})", 0, 0, CMP_EXACT},
    {"return redis.call('GET', KEYS[1], nil)", 1, 0, CMP_EXACT},
    {"return redis.call(1)", 0, 0, CMP_EXACT},
    {"return cjson.encode(cjson.decode(ARGV[1]))", 0, 1, CMP_EXACT},
    {"local ok, v = pcall(cjson.decode, ARGV[1]); if ok then return type(v) end return v", 0, 1,
     CMP_EXACT},
    {"local t = cjson.decode(ARGV[1]); return {t.token, t.fence}", 0, 1, CMP_EXACT},
    {"return cjson.encode({1, 'a', 1.5, 1e20, 2^53, {x=1}})", 0, 0, CMP_EXACT},
    {"return x", 0, 0, CMP_EXACT},
    {"x = 1", 0, 0, CMP_EXACT},
    {"string.x = 1", 0, 0, CMP_EXACT},
    {"redis = nil", 0, 0, CMP_EXACT},
    {"local t = string; t.find = nil", 0, 0, CMP_EXACT},
    {"return redis.sha1hex(ARGV[1])", 0, 1, CMP_EXACT},
    {"return redis.sha1hex()", 0, 0, CMP_EXACT},
    {"return string.format('%d', tonumber(ARGV[1]) or 0)", 0, 1, CMP_EXACT},
    {"return tonumber(ARGV[1])", 0, 1, CMP_EXACT},
    {"return tostring(tonumber(ARGV[1]))", 0, 1, CMP_EXACT},
    {"return redis.call('PTTL', KEYS[1])", 1, 0, CMP_TIME_MS},
    {"return redis.call('SET', KEYS[1], ARGV[1], 'PX', 100000)", 1, 1, CMP_EXACT},
    {"return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])", 1, 2, CMP_EXACT},
    {"return redis.call('KEYS', ARGV[1])", 0, 1, CMP_SET},
    {"error(ARGV[1])", 0, 1, CMP_EXACT},
    {"error({err=ARGV[1]})", 0, 1, CMP_EXACT},
    {"error('ERR custom ' .. #KEYS)", 0, 0, CMP_EXACT},
    {"error(12)", 0, 0, CMP_EXACT},
    {"error(nil)", 0, 0, CMP_EXACT},
    {"error(redis.error_reply('boom'))", 0, 0, CMP_EXACT},
    {"return #KEYS + #ARGV", 2, 2, CMP_EXACT},
    {"return redis.call('ECHO', ARGV[1])", 0, 1, CMP_EXACT},
    {"return +", 0, 0, CMP_EXACT},
    {"local a = nil; return a.b", 0, 0, CMP_EXACT},
    {"return redis.call('DEL', unpack(KEYS))", 3, 0, CMP_EXACT},
    {"local r = redis.pcall('INCR', KEYS[1]); if type(r) == 'table' then return r.err end "
     "return r",
     1, 0, CMP_EXACT},
    {"return {redis.call('EXISTS', KEYS[1]), redis.call('SET', KEYS[1], 'v', 'NX')}", 1, 0,
     CMP_EXACT},
    {"return pcall(redis.call, 'INCR', KEYS[1])", 1, 0, CMP_EXACT},
    {"local ok, e = pcall(redis.call, 'INCR', KEYS[1]); return {tostring(ok), tostring(e)}", 1, 0,
     CMP_EXACT},
    {"local ok, e = pcall(error, {err='x'}); return {tostring(ok), e}", 0, 0, CMP_EXACT},
    {"local ok, e = pcall(); return {tostring(ok), e}", 0, 0, CMP_EXACT},
    {"return redis.call('HGETALL', KEYS[1])", 1, 0, CMP_PAIRS},
    {"return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1, 2, CMP_EXACT},
    {"return redis.call('LPUSH', KEYS[1], ARGV[1])", 1, 1, CMP_EXACT},
    {"return redis.log(redis.LOG_DEBUG, 'x', 1)", 0, 0, CMP_EXACT},
    {"return redis.log(99, 'x')", 0, 0, CMP_EXACT},
    {"return redis.log('a', 'x')", 0, 0, CMP_EXACT},
    {"return {redis.LOG_WARNING, redis.REPL_ALL, redis.REDIS_VERSION}", 0, 0, CMP_EXACT},
    {"return redis.call('PING')", 0, 0, CMP_EXACT},
    {"return redis.call('PING', ARGV[1])", 0, 1, CMP_EXACT},
    {"return redis.call('INCRBY', KEYS[1], 2^53)", 1, 0, CMP_EXACT},
    {"return redis.call('SET', KEYS[1], 0.1)", 1, 0, CMP_EXACT},
    {"return redis.call('SET', KEYS[1], ARGV[1], 'PX', 100.5)", 1, 1, CMP_EXACT},
    {"return {2^63, -2^63, 2^64, 0/0, 1e300, -0.5}", 0, 0, CMP_EXACT},
    {"return tostring(io) .. tostring(os)", 0, 0, CMP_EXACT},
    {"return loadfile", 0, 0, CMP_EXACT},
    {"return require", 0, 0, CMP_EXACT},
    {"return type(loadstring)", 0, 0, CMP_EXACT},
    {"return loadstring('return 1 + ...')(41)", 0, 0, CMP_EXACT},
    {"rawset(_G, 'y', 1)", 0, 0, CMP_EXACT},
    {"return redis.call('SET', KEYS[1], ARGV[1], 'GET')", 1, 1, CMP_EXACT},
    {"return redis.call('EXPIRE', KEYS[1], ARGV[1])", 1, 1, CMP_EXACT},
    {"return redis.status_reply('a\\r\\nb')", 0, 0, CMP_EXACT},
    {"return redis.error_reply('-X y\\n')", 0, 0, CMP_EXACT},
    {"return redis.error_reply('- z')", 0, 0, CMP_EXACT},
    {"return {err='multi\\nline'}", 0, 0, CMP_EXACT},
    {"return redis.call('SETEX', KEYS[1], ARGV[1], 'v')", 1, 1, CMP_EXACT},
    {"return select('#', redis.call('MGET', KEYS[1]))", 1, 0, CMP_EXACT},
    {"local t = {}; for i = 1, 3 do t[i] = i end; t[5] = 5; return t", 0, 0, CMP_EXACT},
    {"return {ok=1}", 0, 0, CMP_EXACT},
    {"return {double=1.5}", 0, 0, CMP_EXACT},
    {"return redis.acl_check_cmd('get', 'x')", 0, 0, CMP_EXACT},
    {"return redis.acl_check_cmd('nosuch')", 0, 0, CMP_EXACT},
    {"return redis.setresp(4)", 0, 0, CMP_EXACT},
    {"return redis.set_repl(99)", 0, 0, CMP_EXACT},
    {"return math.floor(2.5) + math.huge - math.huge", 0, 0, CMP_EXACT},
    {"return string.rep('ab', 3) .. ('x'):upper()", 0, 0, CMP_EXACT},
    {"return table.concat({1, 2, 3}, ',')", 0, 0, CMP_EXACT},
    {"return redis.call('TIME')", 0, 0, CMP_CLOCK},
};
#define NSNIPPETS (sizeof snippets / sizeof snippets[0])

static void script_args(gen *g, op *o, int nkeys, int nargs)
{
    argf(o, "%d", nkeys);
    for (int i = 0; i < nkeys; i++)
        key(g, o);
    for (int i = 0; i < nargs; i++)
        value(g, o);
}

static void gen_op_body(gen *g, op *o);

/* One random operation. */
static void gen_op(gen *g, op *o)
{
    gen_op_body(g, o);
    if (o->argc >= 1 && o->len[0] == 6 && strncasecmp(o->argv[0], "dbsize", 6) == 0)
        o->reclaim = true;
    if (o->argc >= 1 && o->len[0] == 4 && strncasecmp(o->argv[0], "time", 4) == 0)
        o->mode = CMP_CLOCK;
    if (o->argc >= 1 && o->len[0] == 7 && strncasecmp(o->argv[0], "hgetall", 7) == 0)
        o->mode = CMP_PAIRS; /* a hash with a long value is in hash-table order in Redis */
}

static void gen_op_body(gen *g, op *o)
{
    memset(o, 0, offsetof(op, data));
    o->kind = OP_CMD;
    o->mode = CMP_EXACT;
    switch (gen_below(g, 44)) {
    case 0:
    case 1:
        argc_case(g, o, "get");
        key(g, o);
        break;
    case 2:
    case 3:
    case 4: {
        argc_case(g, o, "set");
        key(g, o);
        value(g, o);
        int nopt = (int)gen_below(g, 4);
        for (int i = 0; i < nopt; i++) {
            switch (gen_below(g, 10)) {
            case 0: argc_case(g, o, "nx"); break;
            case 1: argc_case(g, o, "xx"); break;
            case 2: argc_case(g, o, "get"); break;
            case 3: argc_case(g, o, "keepttl"); break;
            case 4:
                argc_case(g, o, "ex");
                timearg(g, o, REL_S);
                break;
            case 5:
                argc_case(g, o, "px");
                timearg(g, o, REL_MS);
                break;
            case 6:
                argc_case(g, o, "exat");
                timearg(g, o, ABS_S);
                break;
            case 7:
                argc_case(g, o, "pxat");
                timearg(g, o, ABS_MS);
                break;
            case 8: args(o, "foo"); break;
            default: argc_case(g, o, "px"); break; /* no value: syntax error */
            }
        }
        break;
    }
    case 5: { /* a short expiry, waited out before the next op */
        long long px = 1 + (long long)gen_below(g, 3);
        if (gen_chance(g, 50)) {
            argc_case(g, o, "set");
            key(g, o);
            value(g, o);
            args(o, "PX");
        } else {
            argc_case(g, o, "pexpire");
            key(g, o);
        }
        argf(o, "%lld", px);
        o->short_px = px;
        break;
    }
    case 6: {
        argc_case(g, o, "mget");
        int n = 1 + (int)gen_below(g, 4);
        for (int i = 0; i < n; i++)
            key(g, o);
        break;
    }
    case 7: {
        argc_case(g, o, "mset");
        int n = 1 + (int)gen_below(g, 3);
        for (int i = 0; i < n; i++) {
            key(g, o);
            value(g, o);
        }
        if (gen_chance(g, 15))
            key(g, o); /* odd count */
        break;
    }
    case 8:
    case 9: {
        argc_case(g, o, gen_chance(g, 50) ? "del" : "unlink");
        int n = 1 + (int)gen_below(g, 3);
        for (int i = 0; i < n; i++)
            key(g, o);
        break;
    }
    case 10: {
        argc_case(g, o, "exists");
        int n = 1 + (int)gen_below(g, 4);
        for (int i = 0; i < n; i++)
            key(g, o);
        break;
    }
    case 11:
        argc_case(g, o, "type");
        key(g, o);
        break;
    case 12:
    case 13: {
        static const char *const c[] = {"incr", "decr", "incrby", "decrby"};
        int which = (int)gen_below(g, 4);
        argc_case(g, o, c[which]);
        key(g, o);
        if (which >= 2)
            value(g, o);
        break;
    }
    case 14:
    case 15: {
        static const char *const c[] = {"pexpire", "expire", "pexpireat", "expireat"};
        static const enum unit u[] = {REL_MS, REL_S, ABS_MS, ABS_S};
        int which = (int)gen_below(g, 4);
        argc_case(g, o, c[which]);
        key(g, o);
        timearg(g, o, u[which]);
        int nopt = gen_chance(g, 60) ? 0 : 1 + (int)gen_below(g, 2);
        static const char *const opts[] = {"nx", "xx", "gt", "lt", "bad"};
        for (int i = 0; i < nopt; i++)
            argc_case(g, o, opts[gen_below(g, 5)]);
        break;
    }
    case 16:
        argc_case(g, o, "persist");
        key(g, o);
        break;
    case 17:
    case 18: {
        static const char *const c[] = {"pttl", "ttl", "pexpiretime", "expiretime"};
        static const cmp_mode m[] = {CMP_TIME_MS, CMP_TIME_S, CMP_TIME_MS, CMP_TIME_S};
        int which = (int)gen_below(g, 4);
        argc_case(g, o, c[which]);
        key(g, o);
        o->mode = m[which];
        break;
    }
    case 19:
        argc_case(g, o, "keys");
        args(o, patterns[gen_below(g, NPATTERNS)]);
        o->mode = CMP_SET;
        break;
    case 20: { /* a full SCAN iteration, compared as a set */
        o->kind = OP_SCAN;
        argc_case(g, o, "scan");
        args(o, "0");
        if (gen_chance(g, 60)) {
            argc_case(g, o, "match");
            args(o, patterns[gen_below(g, NPATTERNS)]);
        }
        if (gen_chance(g, 50)) {
            argc_case(g, o, "count");
            static const char *const cnt[] = {"1", "2", "5", "100", "0", "-1", "x"};
            args(o, cnt[gen_below(g, 7)]);
        }
        if (gen_chance(g, 30)) {
            argc_case(g, o, "type");
            static const char *const t[] = {"string", "hash", "LIST", "zset", "nosuch"};
            args(o, t[gen_below(g, 5)]);
        }
        if (gen_chance(g, 5))
            args(o, "junk");
        break;
    }
    case 21:
        argc_case(g, o, "dbsize");
        o->reclaim = true;
        break;
    case 22:
        argc_case(g, o, "ping");
        if (gen_chance(g, 50))
            value(g, o);
        break;
    case 23:
        argc_case(g, o, "echo");
        value(g, o);
        break;
    case 24:
        argc_case(g, o, "hset");
        key(g, o);
        for (int i = 0, n = 1 + (int)gen_below(g, 3); i < n; i++) {
            value(g, o);
            value(g, o);
        }
        if (gen_chance(g, 10))
            value(g, o);
        break;
    case 25: {
        static const char *const c[] = {"hget", "hgetall", "hdel", "hlen"};
        int which = (int)gen_below(g, 4);
        argc_case(g, o, c[which]);
        key(g, o);
        if (which == 0 || which == 2)
            value(g, o);
        break;
    }
    case 26:
        argc_case(g, o, gen_chance(g, 50) ? "lpush" : "rpush");
        key(g, o);
        for (int i = 0, n = 1 + (int)gen_below(g, 3); i < n; i++)
            value(g, o);
        break;
    case 27:
        if (gen_chance(g, 70)) {
            argc_case(g, o, "lrange");
            key(g, o);
            static const char *const idx[] = {"0", "-1", "1", "-2", "100", "-100", "x"};
            args(o, idx[gen_below(g, 7)]);
            args(o, idx[gen_below(g, 7)]);
        } else {
            argc_case(g, o, "llen");
            key(g, o);
        }
        break;
    case 28: {
        static const char *const c[] = {"setnx", "setex", "psetex", "getdel", "strlen", "append"};
        int which = (int)gen_below(g, 6);
        argc_case(g, o, c[which]);
        key(g, o);
        if (which == 1)
            timearg(g, o, REL_S);
        else if (which == 2)
            timearg(g, o, REL_MS);
        if (which <= 2 || which == 5)
            value(g, o);
        break;
    }
    case 29:
    case 30:
    case 31:
    case 32:
    case 33: {
        const struct snippet *s = &snippets[gen_below(g, NSNIPPETS)];
        argc_case(g, o, "eval");
        args(o, s->body);
        script_args(g, o, s->nkeys, s->nargs);
        o->mode = s->mode;
        break;
    }
    case 34: { /* a production script with random KEYS and ARGV */
        int which = (int)gen_below(g, 5);
        if (gen_chance(g, 50)) {
            argc_case(g, o, "evalsha");
            args(o, rp_script_sha(which));
        } else {
            argc_case(g, o, "eval");
            args(o, rp_script_text(which));
        }
        script_args(g, o, 1 + (int)gen_below(g, 3), (int)gen_below(g, 6));
        o->mode = CMP_TIME_MS; /* the claim script returns a PTTL */
        break;
    }
    case 35: {
        const struct snippet *s = &snippets[gen_below(g, NSNIPPETS)];
        argc_case(g, o, "script");
        argc_case(g, o, "load");
        args(o, s->body);
        break;
    }
    case 36: {
        argc_case(g, o, "evalsha");
        const struct snippet *sn = &snippets[gen_below(g, NSNIPPETS)];
        char sha[41];
        rp_sha1_hex(sn->body, strlen(sn->body), sha);
        if (gen_chance(g, 20))
            for (int i = 0; i < 40; i++)
                if (sha[i] >= 'a')
                    sha[i] = (char)(sha[i] - 32);
        if (gen_chance(g, 10))
            sha[39] = '\0';
        args(o, sha);
        /* the snippet's own counts: error({err=ARGV[1]}) without ARGV
         * is error({}), which crashes redis-server 7.0 */
        script_args(g, o, sn->nkeys, sn->nargs);
        o->mode = sn->mode;
        break;
    }
    case 37: {
        argc_case(g, o, "script");
        switch (gen_below(g, 6)) {
        case 0:
            argc_case(g, o, "exists");
            for (int i = 0, n = 1 + (int)gen_below(g, 3); i < n; i++) {
                char sha[41];
                const char *body = snippets[gen_below(g, NSNIPPETS)].body;
                rp_sha1_hex(body, strlen(body), sha);
                args(o, sha);
            }
            break;
        case 1: argc_case(g, o, "flush"); break;
        case 2:
            argc_case(g, o, "flush");
            args(o, gen_chance(g, 50) ? "async" : "bogus");
            break;
        case 3: argc_case(g, o, "nosuch"); break;
        case 4: argc_case(g, o, "load"); break;
        default: break;
        }
        break;
    }
    case 38: { /* EVAL with a bad numkeys */
        argc_case(g, o, gen_chance(g, 50) ? "eval" : "evalsha");
        args(o, gen_chance(g, 50) ? "return 1" : rp_script_sha(0));
        static const char *const nk[] = {"-1", "x", "3", "", "01"};
        args(o, nk[gen_below(g, 5)]);
        if (gen_chance(g, 50))
            key(g, o);
        break;
    }
    case 39:
        if (gen_chance(g, 30)) {
            argc_case(g, o, gen_chance(g, 50) ? "flushall" : "flushdb");
            if (gen_chance(g, 30))
                args(o, gen_chance(g, 50) ? "sync" : "bad");
        } else {
            argc_case(g, o, "time");
            o->mode = CMP_CLOCK;
        }
        break;
    case 40: /* unknown commands */
        args(o, gen_chance(g, 50) ? "nosuch" : "GETX");
        for (int i = 0, n = (int)gen_below(g, 4); i < n; i++)
            value(g, o);
        break;
    default: { /* wrong arity: a valid command with an argument too few or too many */
        static const char *const c[] = {"get",  "set",    "incr", "keys", "pttl",   "type", "ping",
                                        "echo", "dbsize", "time", "mget", "script", "eval"};
        const char *name = c[gen_below(g, sizeof c / sizeof c[0])];
        argc_case(g, o, name);
        for (int i = 0, n = (int)gen_below(g, 4); i < n; i++)
            key(g, o);
        break;
    }
    }
}

/* ------------------------------------------------------------------ */

typedef struct side_b {
    det_store *st;
    det_reply r;
    char *buf;
    size_t len, cap;
} side_b;

static int b_exec(side_b *b, int argc, const char *const *argv, const size_t *lens)
{
    det_reply_reset(&b->r);
    det_store_exec(b->st, argc, argv, lens, &b->r);
    b->len = 0;
    return det_reply_resp(&b->r, 0, &b->buf, &b->len, &b->cap);
}

static void describe(char *out, size_t outlen, const op *o)
{
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < o->argc && k + 8 < outlen; i++) {
        char e[200];
        resp_escape(e, sizeof e, o->argv[i], o->len[i]);
        k += (size_t)snprintf(out + k, outlen - k, "%s\"%s\"", i ? " " : "", e);
    }
}

/* A full SCAN iteration on one side: sorted, deduplicated keys joined in
 * *out, or the first error reply. */
typedef struct keyset {
    char **k;
    size_t *l;
    size_t n, cap;
    char *err;
    size_t errlen;
} keyset;

static void keyset_add(keyset *s, const char *k, size_t l)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->l[i] == l && memcmp(s->k[i], k, l) == 0)
            return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->k = realloc(s->k, s->cap * sizeof *s->k);
        s->l = realloc(s->l, s->cap * sizeof *s->l);
    }
    s->k[s->n] = malloc(l + 1);
    memcpy(s->k[s->n], k, l);
    s->l[s->n++] = l;
}

static void keyset_free(keyset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->k[i]);
    free(s->k);
    free(s->l);
    free(s->err);
    memset(s, 0, sizeof *s);
}

static bool keyset_equal(const keyset *a, const keyset *b)
{
    if (a->n != b->n || (a->err == NULL) != (b->err == NULL))
        return false;
    if (a->err)
        return a->errlen == b->errlen && memcmp(a->err, b->err, a->errlen) == 0;
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++)
            found = a->l[i] == b->l[j] && memcmp(a->k[i], b->k[j], a->l[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Collect one SCAN reply into s; returns the next cursor (0: done), or
 * -1 on an error or malformed reply. */
static long long scan_page(keyset *s, const char *raw, size_t len)
{
    rv *v = rv_parse(raw, len);
    long long next = -1;
    if (v && v->t == '-') {
        s->err = malloc(len);
        memcpy(s->err, raw, len);
        s->errlen = len;
    } else if (v && v->t == '*' && v->n == 2 && v->e[0]->t == '$' && v->e[1]->t == '*') {
        for (size_t i = 0; i < v->e[1]->n; i++)
            if (v->e[1]->e[i]->t == '$')
                keyset_add(s, v->e[1]->e[i]->s, v->e[1]->e[i]->len);
        next = (long long)strtoull(v->e[0]->s, NULL, 10);
    }
    rv_free(v);
    return next;
}

static bool run_scan_once(side_b *b, op *o, char *why, size_t whylen);

/* The two iterations run one after the other on the real clock: a key
 * whose PX expiry falls between them is in one and not the other.  Such a
 * key is gone from both a moment later, so a difference counts only if a
 * second pair of iterations shows it too. */
static bool run_scan(side_b *b, op *o, char *why, size_t whylen)
{
    return run_scan_once(b, o, why, whylen) || run_scan_once(b, o, why, whylen);
}

static bool run_scan_once(side_b *b, op *o, char *why, size_t whylen)
{
    keyset a = {0}, c = {0};
    char cursor[32];
    bool ok = true;
    for (int side = 0; side < 2 && ok; side++) {
        keyset *s = side ? &c : &a;
        strcpy(cursor, "0");
        for (int page = 0; page < 100000; page++) {
            o->argv[1] = cursor;
            o->len[1] = strlen(cursor);
            char *raw = NULL;
            size_t rawlen = 0;
            if (side == 0) {
                if (resp_call(&diff_conn, o->argc, o->argv, o->len, &raw, &rawlen) != 0) {
                    snprintf(why, whylen, "redis connection failed");
                    ok = false;
                    break;
                }
            } else {
                if (b_exec(b, o->argc, o->argv, o->len) != 0) {
                    snprintf(why, whylen, "scripted store reply could not be encoded");
                    ok = false;
                    break;
                }
                raw = malloc(b->len + 1);
                memcpy(raw, b->buf, b->len);
                rawlen = b->len;
            }
            long long next = scan_page(s, raw, rawlen);
            free(raw);
            if (next <= 0)
                break;
            snprintf(cursor, sizeof cursor, "%llu", (unsigned long long)next);
        }
    }
    o->argv[1] = o->data[1];
    o->len[1] = 1;
    if (ok && !keyset_equal(&a, &c)) {
        snprintf(why, whylen, "SCAN iterations differ: redis %zu keys%s, store %zu keys%s", a.n,
                 a.err ? " (error)" : "", c.n, c.err ? " (error)" : "");
        ok = false;
    }
    keyset_free(&a);
    keyset_free(&c);
    return ok;
}

/* Redis counts (DBSIZE) keys that have expired until its active expiry
 * cycle or an access reclaims them; the store never shows them.  A full
 * SCAN makes redis look at (and so reclaim) every expired key. */
static void redis_reclaim(void)
{
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "COUNT", "1000"};
        size_t lens[] = {4, strlen(cursor), 5, 4};
        char *raw = NULL;
        size_t rawlen = 0;
        if (resp_call(&diff_conn, 4, argv, lens, &raw, &rawlen) != 0)
            return;
        rv *v = rv_parse(raw, rawlen);
        free(raw);
        if (!v || v->t != '*' || v->n != 2 || v->e[0]->t != '$') {
            rv_free(v);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", v->e[0]->s);
        rv_free(v);
    } while (strcmp(cursor, "0") != 0);
}

/* Run one sequence; false with msg[] on the first difference. */
static bool run_sequence(uint64_t seed, int nops, char *msg, size_t msglen)
{
    det_store_config cfg = {.now_ns = diff_realtime_ns, .seed = seed};
    side_b b = {.st = det_store_new(&cfg)};
    ck_assert_ptr_nonnull(b.st);
    det_reply_init(&b.r);
    gen g = {seed};
    bool ok = true;
    static op o; /* large: not on the stack */
    char prev[4][600];
    memset(prev, 0, sizeof prev);

    /* Start both sides empty. */
    const char *reset[][2] = {{"FLUSHALL", NULL}, {"SCRIPT", "FLUSH"}};
    for (int i = 0; i < 2 && ok; i++) {
        memset(&o, 0, offsetof(op, data));
        args(&o, reset[i][0]);
        if (reset[i][1])
            args(&o, reset[i][1]);
        char *raw = NULL;
        size_t rawlen;
        ok = resp_call(&diff_conn, o.argc, o.argv, o.len, &raw, &rawlen) == 0;
        free(raw);
        b_exec(&b, o.argc, o.argv, o.len);
    }
    for (int n = 0; n < nops && ok; n++) {
        gen_op(&g, &o);
        char desc[600];
        describe(desc, sizeof desc, &o);
        char why[256] = "";
        if (o.kind == OP_SCAN) {
            ok = run_scan(&b, &o, why, sizeof why);
        } else {
            char *raw = NULL;
            size_t rawlen = 0;
            if (o.reclaim)
                redis_reclaim();
            if (resp_call(&diff_conn, o.argc, o.argv, o.len, &raw, &rawlen) != 0) {
                snprintf(msg, msglen, "seed %" PRIu64 " op %d: redis connection failed on %s", seed,
                         n, desc);
                ok = false;
                break;
            }
            if (b_exec(&b, o.argc, o.argv, o.len) != 0) {
                snprintf(why, sizeof why, "store reply not encodable");
                ok = false;
            } else {
                ok = diff_same(raw, rawlen, b.buf, b.len, o.mode, why, sizeof why);
            }
            if (getenv("DET_DIFF_TRACE")) {
                char ra[300], rb[300];
                resp_escape(ra, sizeof ra, raw, rawlen);
                resp_escape(rb, sizeof rb, b.buf ? b.buf : "", b.len);
                fprintf(stderr, "%3d %s\n    redis %s\n    store %s\n", n, desc, ra, rb);
            }
            if (!ok) {
                char ra[700], rb[700];
                resp_escape(ra, sizeof ra, raw, rawlen);
                resp_escape(rb, sizeof rb, b.buf ? b.buf : "", b.len);
                snprintf(msg, msglen,
                         "seed %" PRIu64 " op %d: %s\n  command: %s\n  redis:   %s\n  store:   "
                         "%s\n  before: %s | %s | %s",
                         seed, n, why, desc, ra, rb, prev[(n + 1) % 4], prev[(n + 2) % 4],
                         prev[(n + 3) % 4]);
            }
            free(raw);
            if (ok && o.short_px > 0) /* both sides past the expiry */
                diff_wait_until_ms(diff_realtime_ms() + o.short_px + 2);
        }
        if (!ok && !msg[0])
            snprintf(msg, msglen, "seed %" PRIu64 " op %d: %s\n  command: %s", seed, n, why, desc);
        snprintf(prev[n % 4], sizeof prev[n % 4], "%s", desc);
    }
    det_reply_free(&b.r);
    free(b.buf);
    det_store_free(b.st);
    return ok;
}

START_TEST(raw_sequences)
{
    bool single;
    diff_run_seeds("raw", 0x5eed0000u, 300, 80, run_sequence, &single);
}
END_TEST

void diff_raw_add(Suite *s) { TCASE_ADD(s, diff_spec("raw"), raw_sequences); }
