/*
 * scripts.h — the Lua scripts of the claim protocol (private to proto.c).
 *
 * Each protocol operation is one of these scripts, run atomically by the
 * server with EVALSHA (EVAL after NOSCRIPT).  Conventions shared by all:
 *   - every key a script touches comes in KEYS;
 *   - a stored value is "ours" only if it decodes as a JSON object whose
 *     "token" is our token.  Decoding is pcall-protected: a value that is
 *     not JSON (or not an object) is held by someone else, never a script
 *     error.  A plain substring search comes first so that values that
 *     cannot contain the token are not decoded at all;
 *   - all reads of a script are ONE MGET (keys holding another data type
 *     read as nil there instead of raising WRONGTYPE); Upstash bills each
 *     redis.call, so the scripts keep them few (see docs/redis.md);
 *   - stored values are built in C (the bot id is JSON-escaped exactly once
 *     there, with sqb_json_quote); a script only appends the numbers it
 *     mints: the fence, the start row;
 *   - numbers are written with string.format('%d'), never tostring (which
 *     would print 1e+14 for large values);
 *   - replies are arrays of integers and strings only (never booleans or
 *     nil, which truncate Lua arrays), first element a status code:
 *     1 OK, 0 LOST, 2 BUSY.
 */
#ifndef SQCLAIM_REDISPROTO_SCRIPTS_H
#define SQCLAIM_REDISPROTO_SCRIPTS_H

/* The owner check, prepended to every script that needs it. */
#define RP_LUA_MINE                                                                                \
    "local function mine(v, token)\n"                                                              \
    "  if type(v) ~= 'string' or not string.find(v, token, 1, true) then return nil end\n"         \
    "  local ok, t = pcall(cjson.decode, v)\n"                                                     \
    "  if ok and type(t) == 'table' and t.token == token then return t end\n"                      \
    "  return nil\n"                                                                               \
    "end\n"

/* claim (first free of a candidate list)
 *   KEYS[1]     the fencing counter          ARGV[1] token
 *   KEYS[2..]   candidate claim keys         ARGV[2] ttl ms
 *                                            ARGV[3] value up to "fence":
 * Pass 1: a candidate already holding our token is the grant (an earlier
 *         attempt whose reply was lost): its stored fence, expiry untouched.
 * Pass 2: the first candidate that is absent gets a fresh fence (INCR) and
 *         SET NX PX ttl (NX also refuses a key holding another data type).
 *         A counter that INCR takes below 1 (someone wrote a negative
 *         number there) is an error before anything is granted: a claim
 *         must never be written with a fence its reply could not carry.
 * Reply: {1, index0, fence, pttl, reclaimed 0|1} or
 *        {2, holder botId of KEYS[2] ("" if unknown), its PTTL}. */
static const char rp_lua_claim[] = RP_LUA_MINE
    "local token = ARGV[1]\n"
    "local vals = redis.call('MGET', unpack(KEYS, 2))\n"
    "for i = 1, #vals do\n"
    "  local t = mine(vals[i], token)\n"
    "  if t then\n"
    "    local f = tonumber(t.fence) or -1\n"
    "    return {1, i - 1, f, redis.call('PTTL', KEYS[i + 1]), 1}\n"
    "  end\n"
    "end\n"
    "for i = 1, #vals do\n"
    "  if not vals[i] then\n"
    "    local f = redis.call('INCR', KEYS[1])\n"
    "    if f < 1 then\n"
    "      return redis.error_reply('ERR fencing counter ' .. KEYS[1] .. ' is below 1; set it "
    "above every fence handed out')\n"
    "    end\n"
    "    local v = ARGV[3] .. string.format('%d', f) .. '}'\n"
    "    if redis.call('SET', KEYS[i + 1], v, 'NX', 'PX', ARGV[2]) then\n"
    "      return {1, i - 1, f, tonumber(ARGV[2]), 0}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local bot = ''\n"
    "if type(vals[1]) == 'string' then\n"
    "  local ok, t = pcall(cjson.decode, vals[1])\n"
    "  if ok and type(t) == 'table' and type(t.botId) == 'string' then bot = t.botId end\n"
    "end\n"
    "return {2, bot, redis.call('PTTL', KEYS[2])}\n";

/* renew
 *   KEYS[1] claim key, KEYS[2] refund key;  ARGV[1] token, ARGV[2] ttl ms
 * Extends the claim (and our reservation) only if the claim is ours; a
 * missing key is never revived.  Reply: 1 OK, 0 LOST. */
static const char rp_lua_renew[] =
    RP_LUA_MINE "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
                "if not mine(v[1], ARGV[1]) then return 0 end\n"
                "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                "if mine(v[2], ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end\n"
                "return 1\n";

/* release
 *   KEYS[1] claim key, KEYS[2] refund key;  ARGV[1] token
 * Deletes the claim (and our reservation) only if the claim is ours.
 * Reply: 1 OK, 0 LOST. */
static const char rp_lua_release[] = RP_LUA_MINE "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
                                                 "if not mine(v[1], ARGV[1]) then return 0 end\n"
                                                 "if mine(v[2], ARGV[1]) then\n"
                                                 "  redis.call('DEL', KEYS[1], KEYS[2])\n"
                                                 "else\n"
                                                 "  redis.call('DEL', KEYS[1])\n"
                                                 "end\n"
                                                 "return 1\n";

/* reserve rows
 *   KEYS[1] claim key                        ARGV[1] token
 *   KEYS[2] refund key                       ARGV[2] count
 *   KEYS[3] row cursor                       ARGV[3] hint (0: none)
 *                                            ARGV[4] value up to "startRow":
 *                                            ARGV[5] value from ,"rowCount"
 *                                                    up to "fence":
 * The claim must be ours.  Our open reservation with the same count and a
 * start at or after the hint is returned as it is (idempotent retry);
 * otherwise it is BUSY (finish it first).
 * Else start = max(cursor or 1, hint); the cursor (no expiry: SET without
 * PX) becomes start + count; the reservation expires with the claim
 * (PX = the claim's PTTL; none only if the claim itself has none) and
 * carries the claim's fence.  A claim whose PTTL is 0 expires within this
 * millisecond: LOST (SET ... PX 0 is an error, and a SET without PX would
 * never expire).
 * Reply: {1, start, count, fence}, {0} LOST, {2} BUSY; an error if the
 * cursor key holds anything but 1 to 15 decimal digits (never guess:
 * tonumber() would take "inf", "1e300" or "0x10", and doubles above 2^53
 * would make ranges overlap). */
static const char rp_lua_reserve[] = RP_LUA_MINE
    "local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])\n"
    "local c = mine(v[1], ARGV[1])\n"
    "if not c then return {0} end\n"
    "local count = tonumber(ARGV[2])\n"
    "local r = mine(v[2], ARGV[1])\n"
    "if r then\n"
    "  local rs = tonumber(r.startRow)\n"
    "  if tonumber(r.rowCount) == count and rs and rs >= tonumber(ARGV[3]) then\n"
    "    return {1, rs, count, tonumber(r.fence) or -1}\n"
    "  end\n"
    "  return {2}\n"
    "end\n"
    "local start = 1\n"
    "if v[3] then\n"
    "  if #v[3] > 15 or not string.match(v[3], '^%d+$') then\n"
    "    return redis.error_reply('ERR row cursor ' .. KEYS[3] .. ' does not hold a row number')\n"
    "  end\n"
    "  start = tonumber(v[3])\n"
    "end\n"
    "local hint = tonumber(ARGV[3])\n"
    "if start < hint then start = hint end\n"
    "if start < 1 then start = 1 end\n"
    "local fence = tonumber(c.fence) or -1\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl == 0 then return {0} end\n"
    "redis.call('SET', KEYS[3], string.format('%d', start + count))\n"
    "local val = ARGV[4] .. string.format('%d', start) .. ARGV[5] .. string.format('%d', fence) "
    ".. '}'\n"
    "if ttl > 0 then\n"
    "  redis.call('SET', KEYS[2], val, 'PX', ttl)\n"
    "else\n"
    "  redis.call('SET', KEYS[2], val)\n"
    "end\n"
    "return {1, start, count, fence}\n";

/* finish rows
 *   KEYS[1] claim key, KEYS[2] refund key;  ARGV[1] token
 * Deletes the reservation only if both the claim and the reservation carry
 * our token.  Reply: 1 OK, 0 LOST. */
static const char rp_lua_finish[] =
    RP_LUA_MINE "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
                "if not (mine(v[1], ARGV[1]) and mine(v[2], ARGV[1])) then return 0 end\n"
                "redis.call('DEL', KEYS[2])\n"
                "return 1\n";

#endif
