#!/usr/bin/env python3
"""seeds.py -- write the hand-made seed corpus of tests/fuzz/corpus/.

Seeds are named seed-*; files named regress-* (inputs that once found a
bug) and anything libFuzzer minimised into the corpus are left alone.
Run from anywhere: python3 tests/fuzz/seeds.py.  Each seed follows the
input format the target's header comment describes.
"""
import base64
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    h = hashlib.sha1(data).hexdigest()[:10]
    with open(os.path.join(d, "seed-%s-%s" % (name, h)), "wb") as f:
        f.write(data)


# ---- kvrest_request: byte 0 = mode (0 body, 1 pipeline, 2 path, 3 structured)
MALFORMED = [  # tests/kvrest/test_kvrest.c, malformed_bodies
    ("/", ""), ("/", "   "), ("/", "["), ("/", '["SET","a"'), ("/", '["SET","a",]'),
    ("/", '{"cmd":"GET"}'), ("/", '"GET"'), ("/", "42"), ("/", "[]"), ("/", '[1,"a"]'),
    ("/", "[true]"), ("/", "[null]"), ("/", '[["GET","a"]]'), ("/", '["SET",null]'),
    ("/", '["SET","a",["x"]]'), ("/", '["SET","a",{"x":1}]'), ("/", '["GET","a"] x'),
    ("/", '["GET","a"]["GET","b"]'), ("/", '["GET","a\\q"]'), ("/", '["GET","a\\u12"]'),
    ("/", '["GET","a\tb"]'), ("/", '["SET","a",01]'), ("/", '["SET","a",1.]'),
    ("/", '["SET","a",-]'), ("/", '["SET","a",+1]'), ("/", '["SET","a",tru]'),
    ("/", '["SET","a",NaN]'), ("/", '\ufeff["PING"]'), ("/pipeline", "[]"),
    ("/pipeline", '["GET","a"]'), ("/pipeline", "[[]]"), ("/pipeline", '[["GET","a"],[]]'),
    ("/pipeline", '[["GET","a"],"x"]'), ("/pipeline", '[["GET","a"] ["GET","b"]]'),
    ("/pipeline", '[[["GET"]]]'), ("/multi-exec", "[]"), ("/multi-exec", "{}"),
    ("/multi-exec", "[[1]]"),
]
VALID = [
    '["SET","fz:a","v","PX",600000,"NX"]', '["GET","fz:a"]',
    '["MGET","fz:a","fz:b","fz:\\ud83c\\udf89"]', '["EVAL","return {1,\'x\',{2}}","0"]',
    '["HSET","fz:h","f","\\u00e9\\n","g",true]', '["LRANGE","fz:l",0,-1]',
    '["ECHO","\U0001F389\\"\\\\"]', '["SET","k",9007199254740993]', '["SET","k",1.50e-3]',
    '["GET","a\\u0000b"]', '["GET","\\ud800"]', '["GET","\\udc00x"]', ' [ "PING" ] ',
    '["SET","k","\xff\xfe raw"]',
]
PIPES = ['[["SET","fz:b",1],["INCR","fz:b"],["GET","fz:b"]]', '[["PING"]]',
         '[["EVALSHA","' + "a" * 40 + '","1","sq:A","tok"],["GET","x"]]']
for i, (path, body) in enumerate(MALFORMED):
    write("kvrest_request", "malformed%02d" % i,
          bytes([1 if path != "/" else 0]) + body.encode("utf-8", "surrogateescape"))
for i, body in enumerate(VALID):
    write("kvrest_request", "valid%02d" % i, b"\x00" + body.encode("utf-8", "surrogateescape"))
for i, body in enumerate(PIPES):
    write("kvrest_request", "pipeline%02d" % i, b"\x01" + body.encode())
for i, path in enumerate(["/set/foo/bar", "/get/k/", "/get//", "/set/a%2Fb/%E2%82%AC",
                          "/incr/%zz/%4", "/", "//", "/echo/a+b%00c"]):
    write("kvrest_request", "path%02d" % i, b"\x02" + path.encode() + b"\x00body")
for i in range(4):
    write("kvrest_request", "structured%02d" % i, bytes([3, i, 2, 3, 3]) + b"SETkeyv\x01\xff\xf0\x9f\x8e\x89")

# ---- vercel_reply: byte 0 = mode (0 single, 1 pipeline, 2 error, 3 structured)
def b64(s):
    return base64.b64encode(s.encode()).decode()

SINGLE = [
    '{"result":"OK"}', '{"result":"%s"}' % b64("OK"), '{"result":null}', '{"result":7}',
    '{"result":-9223372036854775808}', '{"result":9223372036854775808}', '{"result":1.5}',
    '{"result":[1,0,7,600000,0]}',                      # claim granted
    '{"result":[1,2,9,599000,1]}',                      # claim found its own token
    '{"result":[2,"%s",5000]}' % b64("BOT1"),           # BUSY
    '{"result":[1,51,5,7]}', '{"result":[0]}', '{"result":[2]}',  # reserve
    '{"result":1}', '{"result":0}', '{"result":3}',     # renew / release / finish
    '{"result":["%s",["%s","%s"]]}' % (b64("0"), b64("sq:A"), b64("refund:A")),  # SCAN
    '{"error":"NOSCRIPT No matching script. Please use EVAL."}',
    '{"error":"ERR max daily request limit exceeded. Limit: 10000, Usage: 10000."}',
    '{"result":1,"result":2}', '{"result":"T0s=","error":"x"}', '\ufeff{"result":1}',
    '{"result":"a\\u0000b"}', '{"result":"not base64!"}', '{"result":true}',
    '{"result":{"a":1}}', '<html>502 Bad Gateway</html>', '', '{"result":[[[[[]]]]]}',
    '{"result":"\x01"}', '{"result":"T0s="} x',
]
for i, body in enumerate(SINGLE):
    write("vercel_reply", "single%02d" % i, b"\x00" + body.encode("utf-8", "surrogateescape"))
PIPE = [
    (2, '[{"result":"%s"},{"result":5000}]' % b64('{"botId":"BOT1"}')),
    (3, '[{"result":null},{"result":-2},{"error":"WRONGTYPE Operation against a key"}]'),
    (1, '{"error":"ERR max requests limit exceeded"}'), (1, '{"result":"OK"}'),
    (2, '[{"result":1}]'), (0, '[]'), (1, '[{"result":1},]'),
]
for i, (n, body) in enumerate(PIPE):
    write("vercel_reply", "pipeline%02d" % i, bytes([1, n]) + body.encode())
for i, body in enumerate(['{"error":"ERR wrong number of arguments"}', '{"error":1}',
                          '{"error":"a","error":"b"}', '{"error":"\\u00e9\\n"}']):
    write("vercel_reply", "error%02d" % i, b"\x02" + body.encode())
for i in range(4):
    write("vercel_reply", "structured%02d" % i, bytes([3, 3, 3, 5, 2, 4, 0, 9, 1, 4]) + bytes(range(i, i + 30)))

# ---- proto_replies: byte 0 = operation; then the fake transport's script.
# Transport bytes: action (5..8 = a script-shaped array of 1 + b%5 elements,
# each: selector (!= 0 mod 8: an integer) + small_int byte; 9..10 = one
# integer; 4 = NOSCRIPT), small_int byte k: k%8 0->1, 1->0, 2->2, 3->-1,
# 6->3, 7->k/8+1, 5->k/8-4.
ONE, ZERO, TWO, MINUS1, THREE = 0, 1, 2, 3, 6
def big(v):  # small_int for v >= 1 (k%8 == 7): k = (v-1)*8+7
    return (v - 1) * 8 + 7

def arr(*ks):
    out = [5, len(ks) - 1]
    for k in ks:
        out += [1, k]
    return bytes(out)

def integer(k):
    return bytes([9, k])

OPS = {"claim": 0, "claim4": 1, "renew": 2, "release": 3, "finish": 4, "reserve": 5,
       "status": 6, "inspect": 8, "break": 9, "counters": 10, "raise": 11, "api_claim": 12,
       "api_first": 13, "ping": 14}
write("proto_replies", "claim-grant", bytes([OPS["claim"]]) + arr(ONE, ZERO, big(7), big(30), ZERO))
write("proto_replies", "claim-reclaimed", bytes([OPS["claim4"]]) + arr(ONE, THREE, big(7), MINUS1, ONE))
write("proto_replies", "claim-bad-index", bytes([OPS["claim"]]) + arr(ONE, TWO, big(7), big(30), ZERO))
write("proto_replies", "claim-fence0", bytes([OPS["claim"]]) + arr(ONE, ZERO, ZERO, big(30), ZERO))
write("proto_replies", "claim-noscript-grant", bytes([OPS["claim"], 4]) + arr(ONE, ZERO, big(3), big(9), ZERO))
write("proto_replies", "claim-busy", bytes([OPS["claim"], 5, 2, 1, TWO, 0, 2, 6, 1, big(5)]))
write("proto_replies", "claim-timeout", bytes([OPS["claim"], 1]))
write("proto_replies", "claim-noreply", bytes([OPS["claim"], 3]))
for op in ("renew", "release", "finish"):
    for name, k in (("ok", ONE), ("lost", ZERO), ("three", THREE), ("minus", MINUS1)):
        write("proto_replies", "%s-%s" % (op, name), bytes([OPS[op]]) + integer(k))
write("proto_replies", "reserve-ok", bytes([OPS["reserve"], 0, 0]) + arr(ONE, big(31), ONE, big(7)))
write("proto_replies", "reserve-lost", bytes([OPS["reserve"], 0, 0]) + arr(ZERO))
write("proto_replies", "reserve-busy", bytes([OPS["reserve"], 0, 0]) + arr(TWO))
write("proto_replies", "reserve-wrong-count", bytes([OPS["reserve"], 0, 0]) + arr(ONE, big(31), TWO, big(7)))
write("proto_replies", "break-ok", bytes([OPS["break"], 0, 0]) + arr(ONE, TWO))
write("proto_replies", "raise-ok", bytes([OPS["raise"], 2]) + arr(ONE, big(3)))
write("proto_replies", "raise-busy", bytes([OPS["raise"], 2]) + arr(TWO, big(9)))
write("proto_replies", "api-claim-grant", bytes([OPS["api_claim"]]) + arr(ONE, ZERO, big(7), big(30), ZERO))
write("proto_replies", "api-claim-ambiguous", bytes([OPS["api_claim"], 2]))
write("proto_replies", "api-first-grant", bytes([OPS["api_first"]]) + arr(ONE, TWO, big(7), big(30), ZERO))
# status: pipeline action (>= 2), then per SCAN: shape byte, cursor byte, key count, keys
write("proto_replies", "status-keys", bytes([OPS["status"], 2, 0, 0, 3, 0, 4, 8, 0, 0, 2, 0, 4,
                                             2, 0, 4, 1, 0, 2, 0, 1, 0, 5]) + b"\x02" * 40)
write("proto_replies", "status-prefix", bytes([0x80 | OPS["status"], 2, 0, 0, 3, 0, 4, 0, 0, 0, 0])
      + bytes([2, 0, 1, 0, 5, 2, 0, 6, 0, 1, 0, 0]))
write("proto_replies", "counters", bytes([OPS["counters"], 2, 2, 0, 0, 0, 2, 0, 0, 1]))
write("proto_replies", "inspect", bytes([OPS["inspect"], 2, 0, 1, 0, 5, 0, 0, 0, 0, 0, 0]))
write("proto_replies", "ping", bytes([OPS["ping"], 9, 2, 3]))

# ---- redis_reply: byte 0 = replies expected (1 + b%4) | 0x10 split; byte 1 = cut
RESP = [
    (0, "+OK\r\n"), (0, ":1\r\n"), (0, "$5\r\nhello\r\n"), (0, "$-1\r\n"), (0, "*-1\r\n"),
    (0, "*5\r\n:1\r\n:0\r\n:7\r\n:600000\r\n:0\r\n"), (0, "*3\r\n:2\r\n$4\r\nBOT1\r\n:5000\r\n"),
    (0, "-NOSCRIPT No matching script. Please use EVAL.\r\n"),
    (0, "-ERR unknown command 'x', with args beginning with: '0123456789abcdef0123456789abcdef'\r\n"),
    (0, "-WRONGPASS invalid username-password pair s3cr3t-pass\r\n"),
    (0, "*2\r\n$1\r\n0\r\n*2\r\n$4\r\nsq:A\r\n$8\r\nrefund:A\r\n"),
    (0, "*2147483647\r\n"), (0, "*1048577\r\n"), (0, "*1048576\r\n:1\r\n"),
    (0, "+OK\r\n+OK\r\n"), (1, "+OK\r\n:1\r\n"), (0, "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
    (0, "$3\r\na\r\n\r\n"), (0, "?x\r\n"), (0, ":99999999999999999999\r\n"), (0, "$-2\r\n"),
    (0x10, "*2\r\n:1\r\n:2\r\n"), (3, "+PONG\r\n+PONG\r\n+PONG\r\n+PONG\r\n+PONG\r\n"),
]
for i, (b0, body) in enumerate(RESP):
    write("redis_reply", "resp%02d" % i, bytes([b0, 3]) + body.encode())

# ---- lease_json (the CLI's lease format, docs/cli.md)
T = "0123456789abcdef0123456789abcdef"
for i, j in enumerate([
    '{"sq":"251019-164rmb","bot":"BOT1","token":"%s","fence":7,"ttlMs":600000,"expiresAt":"2025-10-26T12:44:56.789Z"}' % T,
    '{"sq":"A","token":"%s"}' % T, '{"sq":"A","token":"%s","fence":9007199254740992}' % T,
    '{"sq":"A","token":"%s","ttlMs":5}' % T, '{"sq":"A","token":"%s","bot":"B\\u0000"}' % T,
    '{"sq":"-A","token":"%s"}' % T, '{"sq":"A","token":"%s"}' % T.upper(), '[]', '{"sq":"A","token":"%s"} x' % T,
    '{"sq":"A","token":"%s","bot":"\\u00e9t\\u00e9"}' % T, '{"sq":"A","token":"%s","fence":1.5}' % T,
]):
    write("lease_json", "lease%02d" % i, j)

# ---- ids
for i, s in enumerate([b"251019-164rmb", b"BOT1", b"BOT\xc3\xa9", b"-bad", b".x", b"a" * 64, b"a" * 65,
                       b"\xc2\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a b", b"\x7f", b"",
                       b"\xe2\x82\xac" * 22, b"SQ_1.2-3"]):
    write("ids", "id%02d" % i, s)

# ---- duration (docs/cli.md)
for i, s in enumerate(["600s", "10m", "250ms", "1.5s", "0", "600", "1h", "250us", "1.0005ms",
                       "9223372036854775807us", "9223372036854775808us", "99999999999h",
                       "1.1234567891s", "0.000001s", "2562047h", "1.s", ".5s", "5 s", "0ms", "1e3s"]):
    write("duration", "dur%02d" % i, s)

# ---- redis_url (docs/redis.md)
for i, s in enumerate(["redis://127.0.0.1:6379", "redis://:s3cret@host:6380/2",
                       "redis://user:p%40ss@h", "redis://p@ss@host", "unix:///tmp/redis.sock?db=1&password=x",
                       "unix:///tmp/a%20b.sock", "rediss://x", "redis://[::1]:6379/0", "redis://h:0",
                       "redis://h:65536", "http://x", "redis://", "redis://h/99999999999",
                       "unix://relative", "unix:///s?user=u", "redis://u:@h", "redis://h?x=1"]):
    write("redis_url", "url%02d" % i, s)

# ---- rest_config: byte 0 = which values are set (bit i), NUL-separated values
def conf(mask, *vals):
    return bytes([mask]) + b"\x00".join(v.encode() for v in vals)

for i, c in enumerate([
    conf(3, "https://example.upstash.io", "AXXXtokenvalue1234"),
    conf(3, "http://127.0.0.1:8080", "tok"), conf(3, "http://[::1]:8080/", "tok"),
    conf(3, "http://example.com", "tok"), conf(3, "https://u:p@h", "tok"),
    conf(3, "https://h/?_token=secretsecret", "tok"), conf(3, "https://h/base/", "tok en"),
    conf(1, "https://h"), conf(0), conf(0x3c, "", "", "https://kv.example", "kvtoken", "https://up", "uptoken"),
    conf(0x30, "", "", "", "", "https://up.example", "uptokenuptoken"),
    conf(0x14, "", "", "https://kv.example", "", "https://up", ""),
    conf(3, "  https://h  \n", "\ttok\n"), conf(3, "ftp://h", "tok"), conf(3, "https://h#frag", "tok"),
    conf(3, "http://localhost.:9", "tok"), conf(3, "http://[::ffff:127.0.0.1]", "tok"),
]):
    write("rest_config", "conf%02d" % i, c)
