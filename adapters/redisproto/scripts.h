/*
 * scripts.h — the Lua scripts of the claim protocol (private to proto.c).
 *
 * Each protocol operation is one of these scripts, run atomically by the
 * server with EVALSHA (EVAL after NOSCRIPT).  Conventions shared by all:
 *   - every key a script touches comes in KEYS, except on purpose: the
 *     reserve script reads every live refund:* (KEYS with the prefix's
 *     pattern, then MGET) to step over live reservations other tools
 *     wrote, and the claim script does the same with sq:* on the rare path
 *     that rebuilds a lost fencing counter (hence no Redis Cluster);
 *   - a stored value is "ours" only if it decodes as a JSON object whose
 *     "token" is our token.  Decoding is pcall-protected: a value that is
 *     not JSON (or not an object) is held by someone else, never a script
 *     error.  A plain substring search comes first so that values that
 *     cannot contain the token are not decoded at all;
 *   - the reads of a script's common path are ONE MGET (keys holding
 *     another data type read as nil there instead of raising WRONGTYPE;
 *     TYPE tells them apart only on rare paths); Upstash bills each
 *     redis.call, so the scripts keep them few (see docs/redis.md);
 *   - stored values are built in C (the bot id is JSON-escaped exactly once
 *     there, with sq_json_quote); a script only appends the numbers it
 *     mints: the fence, the start row;
 *   - numbers are written with string.format('%d'), never tostring (which
 *     would print 1e+14 for large values);
 *   - replies are arrays of integers and strings only (never booleans or
 *     nil, which truncate Lua arrays), first element a status code:
 *     1 OK, 0 LOST, 2 BUSY (finish adds 3: the claim is ours, no
 *     reservation of ours);
 *   - a helper key of the wrong type or content is an error reply that
 *     names the key and the fix, never a guess.
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

/* Reading the live records under a pattern: KEYS (one billed command,
 * O(keys in the database)), then MGET in chunks of 1000 (Lua's unpack()
 * has a limit).  Calls fn(key, value) for every string value. */
#define RP_LUA_EACH                                                                                \
    "local function each(pattern, fn)\n"                                                           \
    "  local ks = redis.call('KEYS', pattern)\n"                                                   \
    "  for i = 1, #ks, 1000 do\n"                                                                  \
    "    local j = math.min(i + 999, #ks)\n"                                                       \
    "    local vs = redis.call('MGET', unpack(ks, i, j))\n"                                        \
    "    for k = 1, #vs do\n"                                                                      \
    "      local r = fn(ks[i + k - 1], vs[k])\n"                                                   \
    "      if r then return r end\n"                                                               \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return nil\n"                                                                               \
    "end\n"                                                                                        \
    "local function whole(n)\n"                                                                    \
    "  return type(n) == 'number' and n >= 1 and n < 9007199254740992 and n == math.floor(n)\n"    \
    "end\n"

/* claim (first free of a candidate list)
 *   KEYS[1]     the fencing counter          ARGV[1] token
 *   KEYS[2..]   candidate claim keys         ARGV[2] ttl ms
 *                                            ARGV[3] value up to "fence":
 *                                            ARGV[4] SCAN-style pattern of
 *                                                    every claim key
 * Pass 1: a candidate already holding our token is the grant (an earlier
 *         attempt whose reply was lost): its stored fence, expiry untouched.
 * Pass 2: the first candidate that is absent gets a fresh fence (INCR) and
 *         SET NX PX ttl (NX also refuses a key holding another data type).
 *         INCR answering 1 means the counter was missing (a FLUSH, an
 *         eviction, a restart without persistence, an operator): it is
 *         rebuilt in this same step as max(the server clock in
 *         microseconds, 1 + the highest fence of the live claims), so
 *         fences never go backwards (docs/protocol.md).  A counter INCR
 *         refuses (not a number, another type) or takes below 1 is an error
 *         naming the key and the fix before anything is granted.
 * Reply: {1, index0, fence, pttl, reclaimed 0|1} or
 *        {2, holder botId of KEYS[2] ("" if unknown), its PTTL}. */
static const char rp_lua_claim[] = RP_LUA_MINE RP_LUA_EACH
    "local token = ARGV[1]\n"
    "local vals = redis.call('MGET', unpack(KEYS, 2))\n"
    "for i = 1, #vals do\n"
    "  local t = mine(vals[i], token)\n"
    "  if t then\n"
    "    local f = tonumber(t.fence) or -1\n"
    "    return {1, i - 1, f, redis.call('PTTL', KEYS[i + 1]), 1}\n"
    "  end\n"
    "end\n"
    "local fix = '; fix: DEL ' .. KEYS[1] .. ' (the next claim rebuilds it above every live "
    "fence)'\n"
    "for i = 1, #vals do\n"
    "  if not vals[i] then\n"
    "    local f = redis.pcall('INCR', KEYS[1])\n"
    "    if type(f) ~= 'number' then\n"
    "      return redis.error_reply('ERR fencing counter ' .. KEYS[1] .. ' does not hold a whole "
    "number (' .. tostring(f.err) .. ')' .. fix)\n"
    "    end\n"
    "    if f < 1 then\n"
    "      return redis.error_reply('ERR fencing counter ' .. KEYS[1] .. ' is below 1' .. fix)\n"
    "    end\n"
    "    if f == 1 then\n"
    "      local now = redis.call('TIME')\n"
    "      f = tonumber(now[1]) * 1000000 + tonumber(now[2])\n"
    "      each(ARGV[4], function(k, v)\n"
    "        if v and string.find(v, '\"fence\"', 1, true) then\n"
    "          local ok, o = pcall(cjson.decode, v)\n"
    "          if ok and type(o) == 'table' and whole(o.fence) and o.fence >= f then\n"
    "            f = o.fence + 1\n"
    "          end\n"
    "        end\n"
    "      end)\n"
    "      redis.call('SET', KEYS[1], string.format('%d', f))\n"
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
 *                                            ARGV[4] value from ,"rowCount"
 *                                                    up to "fence":
 *                                            ARGV[5] pattern of every refund key
 * The claim must be ours.  Our open reservation with the same count and a
 * start at or after the hint is returned as it is (idempotent retry);
 * otherwise it is BUSY (finish it first).  Another lease's reservation under
 * our refund key is a leftover of a claim that has ended (Redis computes a
 * reservation's expiry a moment after its claim's PTTL, so it can outlive
 * the claim by a millisecond): its rows are stepped over like any live
 * range, then it is replaced.  Any other value there (another tool's, or a
 * key of another type) is BUSY: it is never overwritten.
 * Else every live refund:* is read: start = max(cursor, hint, 1) — a
 * missing cursor is rebuilt as the highest end row of those reservations —
 * then moved past every live range it would overlap (ours or another
 * tool's seed-layout {"startRow","rowCount"}; values without such whole
 * numbers are not ranges).  The cursor (no expiry) becomes start + count;
 * the reservation carries the claim's botId (cjson-encoded) and fence and
 * expires with the claim (PX = its PTTL; none only if the claim has none).
 * A claim whose PTTL is 0 expires within this millisecond: LOST (SET ...
 * PX 0 is an error, and a SET without PX would never expire).
 * Reply: {1, start, count, fence}, {0} LOST, {2} BUSY; an error naming the
 * key if the cursor holds anything but 1 to 15 decimal digits (never
 * guess: tonumber() would take "inf", "1e300" or "0x10", and doubles above
 * 2^53 would make ranges overlap) or is of another type, or if a live
 * range ends beyond 10^15. */
static const char rp_lua_reserve[] = RP_LUA_MINE RP_LUA_EACH
    "local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])\n"
    "local c = mine(v[1], ARGV[1])\n"
    "if not c then return {0} end\n"
    "local count = tonumber(ARGV[2])\n"
    "local hint = tonumber(ARGV[3])\n"
    "local r = mine(v[2], ARGV[1])\n"
    "if r then\n"
    "  local rs = tonumber(r.startRow)\n"
    "  if tonumber(r.rowCount) == count and rs and rs >= hint then\n"
    "    return {1, rs, count, tonumber(r.fence) or -1}\n"
    "  end\n"
    "  return {2}\n"
    "end\n"
    "if v[2] then\n"
    "  local ok, t = pcall(cjson.decode, v[2])\n"
    "  if not (ok and type(t) == 'table' and type(t.token) == 'string' and tonumber(t.fence)) "
    "then\n"
    "    return {2}\n"
    "  end\n"
    "end\n"
    "local fix = '; fix: DEL ' .. KEYS[3] .. ' (the next reservation rebuilds it from the live "
    "reservations) or SET it to the next free row'\n"
    "local cur = nil\n"
    "if v[3] then\n"
    "  if #v[3] > 15 or not string.match(v[3], '^%d+$') then\n"
    "    return redis.error_reply('ERR row cursor ' .. KEYS[3] .. ' does not hold a row number' .. "
    "fix)\n"
    "  end\n"
    "  cur = tonumber(v[3])\n"
    "else\n"
    "  local t = redis.call('TYPE', KEYS[3])['ok']\n"
    "  if t ~= 'none' then\n"
    "    return redis.error_reply('ERR row cursor ' .. KEYS[3] .. ' holds a ' .. t .. ', not a "
    "row number' .. fix)\n"
    "  end\n"
    "end\n"
    "local ranges, top = {}, 1\n"
    "local bad = each(ARGV[5], function(k, val)\n"
    "  if k == KEYS[2] and not v[2] then return {2} end\n"
    "  if not (val and string.find(val, 'startRow', 1, true)) then return nil end\n"
    "  local ok, o = pcall(cjson.decode, val)\n"
    "  if not (ok and type(o) == 'table') then return nil end\n"
    "  local s, n = tonumber(o.startRow), tonumber(o.rowCount)\n"
    "  if not (whole(s) and whole(n)) then return nil end\n"
    "  if s + n > 1e15 then\n"
    "    return redis.error_reply('ERR reservation ' .. k .. ' holds rows beyond 10^15; fix or "
    "remove it (sqclaim break)')\n"
    "  end\n"
    "  ranges[#ranges + 1] = {s, s + n}\n"
    "  if s + n > top then top = s + n end\n"
    "  return nil\n"
    "end)\n"
    "if bad then return bad end\n"
    "local start = cur or top\n"
    "if start < hint then start = hint end\n"
    "if start < 1 then start = 1 end\n"
    "table.sort(ranges, function(a, b) return a[1] < b[1] end)\n"
    "for i = 1, #ranges do\n"
    "  if ranges[i][1] >= start + count then break end\n"
    "  if ranges[i][2] > start then start = ranges[i][2] end\n"
    "end\n"
    "local fence = tonumber(c.fence) or -1\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl == 0 then return {0} end\n"
    "redis.call('SET', KEYS[3], string.format('%d', start + count))\n"
    "local bot = type(c.botId) == 'string' and cjson.encode(c.botId) or '\"?\"'\n"
    "local val = '{\"botId\":' .. bot .. ',\"startRow\":' .. string.format('%d', start) .. "
    "ARGV[4] .. string.format('%d', fence) .. '}'\n"
    "if ttl > 0 then\n"
    "  redis.call('SET', KEYS[2], val, 'PX', ttl)\n"
    "else\n"
    "  redis.call('SET', KEYS[2], val)\n"
    "end\n"
    "return {1, start, count, fence}\n";

/* finish rows
 *   KEYS[1] claim key, KEYS[2] refund key;  ARGV[1] token
 *   optional ARGV[2] start row, ARGV[3] row count, ARGV[4] fence of the
 *   reservation to finish (sqclaim_finish_range); without them, whatever
 *   reservation of ours is there (sqclaim_finish_rows, as before)
 * Deletes our reservation if the claim is ours (and, with ARGV[2..4], if
 * it is the one named).  Reply: 1 OK (deleted), 3 OK (the claim is ours,
 * no reservation of ours — already finished: a retry, or never made — or,
 * with ARGV[2..4], ours is another one: left alone, the one named is
 * gone), 0 LOST (the claim is not ours). */
static const char rp_lua_finish[] =
    RP_LUA_MINE "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
                "if not mine(v[1], ARGV[1]) then return 0 end\n"
                "local r = mine(v[2], ARGV[1])\n"
                "if not r then return 3 end\n"
                "if ARGV[2] and not (tonumber(r.startRow) == tonumber(ARGV[2]) and "
                "tonumber(r.rowCount) == tonumber(ARGV[3]) and tonumber(r.fence) == "
                "tonumber(ARGV[4])) then return 3 end\n"
                "redis.call('DEL', KEYS[2])\n"
                "return 1\n";

/* break (operator tool)
 *   KEYS[1] claim key, KEYS[2] refund key
 *   ARGV[1] check 0|1, ARGV[2] claim fingerprint, ARGV[3] refund
 *   fingerprint ("" = shown absent), ARGV[4] force 0|1
 * A key's fingerprint: redis.sha1hex of a string value, "type:<type>" for
 * another type.  With check, a present key whose fingerprint differs from
 * the one shown is LOST (nothing removed); an absent one is fine.  A claim
 * value that is a JSON object with a string token and a numeric fence
 * (sqclaim's) is BUSY without force.  Else both keys are deleted.
 * Reply: {1, removed bits (1 claim, 2 reservation)}, {0}, {2}. */
static const char rp_lua_break[] =
    "local function fp(k)\n"
    "  local t = redis.call('TYPE', k)['ok']\n"
    "  if t == 'none' then return '', nil end\n"
    "  if t == 'string' then\n"
    "    local v = redis.call('GET', k)\n"
    "    return redis.sha1hex(v), v\n"
    "  end\n"
    "  return 'type:' .. t, nil\n"
    "end\n"
    "local cf, cv = fp(KEYS[1])\n"
    "local rf = fp(KEYS[2])\n"
    "if ARGV[1] == '1' then\n"
    "  if cf ~= '' and cf ~= ARGV[2] then return {0} end\n"
    "  if rf ~= '' and rf ~= ARGV[3] then return {0} end\n"
    "end\n"
    "if cv and ARGV[4] ~= '1' and string.find(cv, 'token', 1, true) then\n"
    "  local ok, t = pcall(cjson.decode, cv)\n"
    "  if ok and type(t) == 'table' and type(t.token) == 'string' and tonumber(t.fence) then\n"
    "    return {2}\n"
    "  end\n"
    "end\n"
    "local removed = 0\n"
    "if cf ~= '' then redis.call('DEL', KEYS[1]); removed = removed + 1 end\n"
    "if rf ~= '' then redis.call('DEL', KEYS[2]); removed = removed + 2 end\n"
    "return {1, removed}\n";

/* raise the row cursor (operator tool)
 *   KEYS[1] row cursor;  ARGV[1] row (1 .. 10^15 - 1)
 * cursor = max(cursor, row); a missing cursor is set to row.
 * Reply: {1, row} (it is row now), {2, cursor} (already above: left
 * alone); an error naming the key if it holds anything but a row number. */
static const char rp_lua_raise[] =
    "local fix = '; fix: DEL ' .. KEYS[1] .. ' or SET it to the next free row'\n"
    "local v = redis.call('MGET', KEYS[1])[1]\n"
    "local row = tonumber(ARGV[1])\n"
    "if not v then\n"
    "  local t = redis.call('TYPE', KEYS[1])['ok']\n"
    "  if t ~= 'none' then\n"
    "    return redis.error_reply('ERR row cursor ' .. KEYS[1] .. ' holds a ' .. t .. ', not a "
    "row number' .. fix)\n"
    "  end\n"
    "  redis.call('SET', KEYS[1], ARGV[1])\n"
    "  return {1, row}\n"
    "end\n"
    "if #v > 15 or not string.match(v, '^%d+$') then\n"
    "  return redis.error_reply('ERR row cursor ' .. KEYS[1] .. ' does not hold a row number' .. "
    "fix)\n"
    "end\n"
    "local cur = tonumber(v)\n"
    "if cur > row then return {2, cur} end\n"
    "if cur < row then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "return {1, row}\n";

#endif
