/*
 * commands.c — which commands the read-only token may run, and which
 * commands kvrest refuses because they would change the state of a pooled
 * redis connection that the next request then inherits.
 */
#include "kvrest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Pure reads (Upstash's read-only token: reads only, no SCAN / KEYS).
 * Sorted, for bsearch. */
static const char *const read_cmds[] = {
    "BITCOUNT",
    "BITFIELD_RO",
    "BITPOS",
    "DBSIZE",
    "ECHO",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXISTS",
    "EXPIRETIME",
    "FCALL_RO",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HRANDFIELD",
    "HSTRLEN",
    "HVALS",
    "LCS",
    "LINDEX",
    "LLEN",
    "LPOS",
    "LRANGE",
    "MGET",
    "PEXPIRETIME",
    "PFCOUNT",
    "PING",
    "PTTL",
    "SCARD",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SORT_RO",
    "SRANDMEMBER",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "TIME",
    "TTL",
    "TYPE",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZINTER",
    "ZINTERCARD",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCORE",
    "ZUNION",
};

/* Connection-state and server-control commands: a pooled connection is
 * shared by later requests, so these are refused (Upstash refuses them
 * too; transactions go through /multi-exec). */
static const char *const refused_cmds[] = {
    "AUTH",  "CLIENT",      "DISCARD",  "EXEC",         "FAILOVER",   "HELLO",     "MONITOR",
    "MULTI", "PSUBSCRIBE",  "PSYNC",    "PUNSUBSCRIBE", "QUIT",       "REPLCONF",  "REPLICAOF",
    "RESET", "SELECT",      "SHUTDOWN", "SLAVEOF",      "SSUBSCRIBE", "SUBSCRIBE", "SUNSUBSCRIBE",
    "SYNC",  "UNSUBSCRIBE", "UNWATCH",  "WATCH",
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in(const char *const *tab, size_t n, const char *upper)
{
    return bsearch(&upper, tab, n, sizeof *tab, cmp) != NULL;
}

kv_cmdclass kv_classify(const char *name, size_t len)
{
    char up[32];
    if (len == 0 || len >= sizeof up)
        return KV_CLASS_WRITE;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '\0')
            return KV_CLASS_WRITE;
        up[i] = (char)toupper((unsigned char)name[i]);
    }
    up[len] = '\0';
    if (in(refused_cmds, sizeof refused_cmds / sizeof *refused_cmds, up))
        return KV_CLASS_REFUSED;
    if (in(read_cmds, sizeof read_cmds / sizeof *read_cmds, up))
        return KV_CLASS_READ;
    return KV_CLASS_WRITE;
}
