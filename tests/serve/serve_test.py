#!/usr/bin/env python3
"""serve_test.py -- `sqclaim serve` over HTTP, against a real server process on
every backend (memory, sqlite when built, redis on a real redis-server, vercel
through kvrest in front of a real redis-server).

Covers: the seed's /api/queue document; the bot API (claim, claim-first,
renew, release, reserve, finish) with its outcomes and statuses; retries
with the same token; foreign entries and the operator's break; bad JSON,
unknown members, wrong methods, huge bodies and headers, wrong tokens;
secrets never in the log; read-only and --auth-reads; CORS; the seed's
unconfigured case; exit codes; graceful stop with a request in flight; an
uncertain claim over HTTP resolved by retrying with its token.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import harness as H
from harness import Serve

R = H.Results("tests/serve")


def sq(tag):
    return "%s-%s" % (time.strftime("%y%m%d"), tag)


# ---------------------------------------------------------------------------
# The bot API on one backend

def api_flow(b, sv):
    s1 = sq("flow1")
    st, _, doc = sv.get("/api/queue")
    assert st == 200, (st, doc)
    H.check_seed_document(doc)
    assert s1 not in doc["sqClaims"]

    st, _, c = sv.post("/api/claim", {"sq": s1, "bot": "BOT1", "ttl": "2m"})
    assert st == 200 and c["success"] is True, (st, c)
    lease = c["lease"]
    assert list(lease.keys()) == ["sq", "bot", "token", "fence", "ttlMs", "expiresAt"], lease
    assert lease["sq"] == s1 and lease["bot"] == "BOT1" and lease["ttlMs"] == 120000
    assert len(lease["token"]) == 32 and lease["fence"] >= 1
    assert c["reclaimed"] is False

    # The status shows it, as `sqclaim status` does, without the token.
    st, _, doc = sv.get("/api/queue")
    H.check_seed_document(doc)
    cl = doc["sqClaims"][s1]
    assert cl["botId"] == "BOT1" and cl["status"] == "CLAIMING" and cl["fence"] == lease["fence"]
    assert 0 < cl["ttlMs"] <= 120000
    assert lease["token"] not in json.dumps(doc)
    if b.name != "memory":  # memory lives inside the serve process only
        out = subprocess.run([H.CLI, "status"], capture_output=True, text=True,
                             env=H.clean_env(b.env), timeout=30)
        assert out.returncode == 0, out.stderr
        cli = json.loads(out.stdout)
        assert cli["sqClaims"][s1]["botId"] == "BOT1"
        assert cli["sqClaims"][s1]["fence"] == lease["fence"]
        assert set(cli["sqClaims"]) == set(doc["sqClaims"]), (cli, doc)

    # BUSY: 409 with the holder.
    st, _, busy = sv.post("/api/claim", {"sq": s1, "bot": "BOT2"})
    assert st == 409 and busy["code"] == "BUSY", (st, busy)
    assert busy["holder"]["bot"] == "BOT1" and busy["holder"]["remainingMs"] > 0
    assert "BOT1" in busy["error"] and lease["token"] not in json.dumps(busy)

    # claim-first skips the held one.
    s2 = sq("flow2")
    st, _, cf = sv.post("/api/claim-first", {"sqs": [s1, s2], "bot": "BOT2", "ttlMs": 60000})
    assert st == 200 and cf["lease"]["sq"] == s2, (st, cf)
    assert cf["lease"]["fence"] > lease["fence"] or b.name in ("memory", "sqlite")
    st, _, cfb = sv.post("/api/claim-first", {"sqs": [s1, s2], "bot": "BOT3"})
    assert st == 409 and cfb["code"] == "BUSY", (st, cfb)

    # reserve: a range >= hint; retried: the same range (idempotent).
    st, _, rv = sv.post("/api/reserve", {"lease": lease, "rows": 5, "hint": 51})
    assert st == 200 and rv["startRow"] >= 51 and rv["rowCount"] == 5, (st, rv)
    assert rv["fence"] == lease["fence"] and rv["sq"] == s1
    st, _, rv2 = sv.post("/api/reserve", {"lease": lease, "rows": 5, "hint": 51})
    assert st == 200 and rv2["startRow"] == rv["startRow"], (st, rv2)
    st, _, rvb = sv.post("/api/reserve", {"lease": lease, "rows": 7, "hint": 51})
    assert st == 409 and rvb["code"] == "BUSY", (st, rvb)
    # Another holder's rows never overlap.
    st, _, rv3 = sv.post("/api/reserve", {"lease": cf["lease"], "rows": 3, "hint": 51})
    assert st == 200, (st, rv3)
    a = range(rv["startRow"], rv["startRow"] + 5)
    bb = range(rv3["startRow"], rv3["startRow"] + 3)
    assert not set(a) & set(bb), (rv, rv3)
    st, _, doc = sv.get("/api/queue")
    res = doc["refundReservations"][s1]
    assert res["startRow"] == rv["startRow"] and res["rowCount"] == 5 and res["botId"] == "BOT1"

    # renew: same token, new expiry.
    st, _, rn = sv.post("/api/renew", {"lease": lease, "ttlMs": 90000})
    assert st == 200 and rn["lease"]["token"] == lease["token"] and rn["lease"]["ttlMs"] == 90000
    # Another bot's lease (wrong token): LOST, nothing touched.
    forged = dict(lease, token="0" * 32)
    st, _, lost = sv.post("/api/renew", {"lease": forged})
    assert st == 410 and lost["code"] == "LOST", (st, lost)
    st, _, lost = sv.post("/api/release", {"lease": forged})
    assert st == 410 and lost["code"] == "LOST", (st, lost)
    assert s1 in sv.get("/api/queue")[2]["sqClaims"]

    # finish twice: both OK (retries converge).
    for _ in range(2):
        st, _, f = sv.post("/api/finish", {"lease": lease})
        assert st == 200 and f == {"success": True}, (st, f)
    assert s1 not in sv.get("/api/queue")[2]["refundReservations"]

    # finish with its range: a late finish of the first reservation leaves
    # the lease's next one alone; the next one's own range finishes it.
    st, _, r1 = sv.post("/api/reserve", {"lease": lease, "rows": 2})
    assert st == 200, (st, r1)
    assert sv.post("/api/finish", {"lease": lease, "range": r1})[0] == 200
    st, _, r2 = sv.post("/api/reserve", {"lease": lease, "rows": 3})
    assert st == 200 and r2["startRow"] != r1["startRow"], (st, r2)
    st, _, f = sv.post("/api/finish", {"lease": lease, "range": r1})
    assert st == 200 and f == {"success": True}, (st, f)
    res = sv.get("/api/queue")[2]["refundReservations"][s1]
    assert res["startRow"] == r2["startRow"] and res["rowCount"] == 3, res
    st, _, bad = sv.post("/api/finish", {"lease": lease, "range": {"startRow": 1}})
    assert st == 400 and bad["code"] == "EINVAL", (st, bad)
    st, _, bad = sv.post("/api/finish", {"lease": lease, "range": 5})
    assert st == 400 and "range" in bad["error"], (st, bad)
    assert sv.post("/api/finish", {"lease": lease, "range": r2})[0] == 200
    assert s1 not in sv.get("/api/queue")[2]["refundReservations"]

    # release, then again: LOST.
    st, _, rl = sv.post("/api/release", {"lease": lease})
    assert st == 200 and rl == {"success": True}, (st, rl)
    st, _, rl = sv.post("/api/release", {"lease": lease})
    assert st == 410 and rl["code"] == "LOST", (st, rl)
    assert sv.post("/api/release", {"lease": cf["lease"]})[0] == 200
    st, _, doc = sv.get("/api/queue")
    assert s1 not in doc["sqClaims"] and s2 not in doc["sqClaims"]
    assert s2 not in doc["refundReservations"]


def token_retry(b, sv):
    """A bot that chose its token can retry a claim whose answer it lost."""
    s = sq("tok")
    tok = os.urandom(16).hex()
    st, _, c1 = sv.post("/api/claim", {"sq": s, "bot": "BOTT", "token": tok})
    assert st == 200 and c1["lease"]["token"] == tok and c1["reclaimed"] is False, (st, c1)
    st, _, c2 = sv.post("/api/claim", {"sq": s, "bot": "BOTT", "token": tok})
    assert st == 200 and c2["reclaimed"] is True, (st, c2)
    assert c2["lease"]["fence"] == c1["lease"]["fence"]
    # Someone else's token: BUSY.
    st, _, c3 = sv.post("/api/claim", {"sq": s, "bot": "BOTU", "token": os.urandom(16).hex()})
    assert st == 409, (st, c3)
    for badtok in ("XYZ", tok.upper(), tok[:-1] + '"', tok + "0", 12345,
                   'abc","sq":"other'):
        st, _, bad = sv.post("/api/claim", {"sq": s, "bot": "BOTT", "token": badtok})
        assert st == 400 and bad["code"] == "EINVAL", (badtok, st, bad)
    assert sv.post("/api/release", {"lease": c2["lease"]})[0] == 200


def bad_input(b, sv):
    cases = [
        ("POST", "/api/claim", "{bad", 400),
        ("POST", "/api/claim", "[]", 400),
        ("POST", "/api/claim", "", 400),
        ("POST", "/api/claim", '{"sq":"a b","bot":"B"}', 400),
        ("POST", "/api/claim", '{"sq":"x:y","bot":"B"}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":""}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B","ttl_ms":5}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B","ttlMs":"600"}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B","ttlMs":5}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B","ttl":"600"}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B\\u0000x"}', 400),
        ("POST", "/api/claim", '{"sq":"ok1","bot":"B"} trailing', 400),
        ("POST", "/api/claim-first", '{"sqs":[],"bot":"B"}', 400),
        ("POST", "/api/claim-first", '{"sqs":"ok1","bot":"B"}', 400),
        ("POST", "/api/claim-first", '{"sqs":[1],"bot":"B"}', 400),
        ("POST", "/api/claim-first", json.dumps({"sqs": ["s%d" % i for i in range(257)],
                                                 "bot": "B"}), 400),
        ("POST", "/api/renew", '{"lease":"x"}', 400),
        ("POST", "/api/renew", '{"lease":{"sq":"ok1"}}', 400),
        ("POST", "/api/reserve", json.dumps({"lease": {"sq": "ok1", "token": "a" * 32}}), 400),
        ("POST", "/api/reserve", json.dumps({"lease": {"sq": "ok1", "token": "a" * 32},
                                             "rows": 0}), 400),
        ("POST", "/api/reserve", json.dumps({"lease": {"sq": "ok1", "token": "a" * 32},
                                             "rows": 2.5}), 400),
        ("POST", "/api/break", '{"sq":"ok1","force":"yes"}', 400),
        ("GET", "/api/inspect", None, 400),
        ("GET", "/api/inspect?sq=a%3Ab", None, 400),
        # methods
        ("GET", "/api/claim", None, 405),
        ("PUT", "/api/claim", "{}", 405),
        ("DELETE", "/api/queue", None, 405),
        ("POST", "/api/queue", "{}", 405),
        ("POST", "/", "{}", 405),
        ("GET", "/nope", None, 404),
        ("GET", "/api/queue/", None, 404),
    ]
    for method, path, raw, want in cases:
        st, hd, doc = sv.request(method, path, raw=raw)
        assert st == want, (method, path, raw, st, doc)
        assert isinstance(doc, dict) and doc["success"] is False and doc["error"], doc
        if want == 405:
            assert "allow" in hd, hd
    # HEAD is GET without a body.
    st, hd, body = sv.request("HEAD", "/api/queue")
    assert st == 200 and body == "" and hd.get("content-type") == "application/json", (st, hd)
    st, hd, page = sv.get("/")
    assert st == 200 and hd["content-type"].startswith("text/html"), hd
    assert "default-src 'none'" in hd.get("content-security-policy", ""), hd
    assert "http://" not in page and "https://" not in page  # no external assets
    # Nothing of that reached the store.
    st, _, doc = sv.get("/api/queue")
    assert "ok1" not in doc["sqClaims"], doc


def limits(b, sv):
    big = "x" * (SERVE_MAX_BODY + 1)
    st, _, doc = sv.post("/api/claim", raw=big)
    assert st == 413, (st, doc)
    # The same without Content-Length (chunked): read, discarded, 413.
    c = socket.create_connection(("127.0.0.1", sv.port), timeout=10)
    head = ("POST /api/claim HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % sv.token)
    c.sendall(head.encode())
    chunk = b"x" * 16384
    try:
        for _ in range(8):
            c.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    data = b""
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            break
        if not d:
            break
        data += d
    c.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:100]
    # A huge header: refused by the server (431), no crash.
    st, _, _ = sv.get("/api/queue", headers={"X-Big": "y" * 40000})
    assert st in (413, 431), st
    # Still serving.
    assert sv.get("/api/queue")[0] == 200


SERVE_MAX_BODY = 65536


def auth(b, sv):
    body = {"sq": sq("auth"), "bot": "B"}
    for tok in (None, "", "wrong", sv.token[:-1], sv.token + "x", sv.token[:-1] + "!"):
        st, hd, doc = sv.post("/api/claim", body, token=tok)
        assert st == 401 and doc["code"] == "EAUTH", (tok, st, doc)
        assert hd.get("www-authenticate", "").startswith("Bearer"), hd
    st, _, doc = sv.post("/api/claim", body, headers={"Authorization": "Basic " + sv.token},
                         token=None)
    assert st == 401
    # Reads need no token (without --auth-reads).
    assert sv.get("/api/queue", token=None)[0] == 200
    assert sq("auth") not in sv.get("/api/queue")[2]["sqClaims"]
    # No CORS unless configured.
    st, hd, _ = sv.get("/api/queue")
    assert "access-control-allow-origin" not in hd, hd
    st, _, _ = sv.request("OPTIONS", "/api/claim")
    assert st == 405, st


def foreign_and_break(b, sv):
    """A value another tool wrote blocks claims, shows flagged, and the
    operator can end it (inspect, then break with the fingerprints)."""
    s = sq("foreign")
    seed = json.dumps({"botId": "BOT9", "timestamp": "2025-10-26T12:34:56.789Z",
                       "status": "CLAIMING"})
    assert b.redis.cmd("SET", "sq:" + s, seed) == "+OK"  # no expiry
    st, _, doc = sv.get("/api/queue")
    f = doc["sqClaims"][s]
    assert f["botId"] == "BOT9" and f.get("foreign") is True and f["ttlMs"] == -1, f
    st, _, busy = sv.post("/api/claim", {"sq": s, "bot": "BOT1"})
    assert st == 409, (st, busy)
    st, _, e = sv.get("/api/inspect?sq=" + s)
    assert st == 200 and e["claim"]["foreign"] is True and e["claim"]["fingerprint"], e
    assert e["reservation"] is None
    # A break with a stale fingerprint removes nothing.
    assert b.redis.cmd("SET", "sq:" + s, seed.replace("BOT9", "BOT8")) == "+OK"
    st, _, lost = sv.post("/api/break", {"sq": s, "expected": {"claim": e["claim"]["fingerprint"],
                                                               "reservation": None}})
    assert st == 410 and lost["code"] == "LOST", (st, lost)
    assert s in sv.get("/api/queue")[2]["sqClaims"]
    st, _, e = sv.get("/api/inspect?sq=" + s)
    st, _, br = sv.post("/api/break", {"sq": s, "expected": {"claim": e["claim"]["fingerprint"],
                                                             "reservation": None}})
    assert st == 200 and br["removed"] == {"claim": True, "reservation": False}, (st, br)
    assert s not in sv.get("/api/queue")[2]["sqClaims"]
    # Not JSON at all: flagged unreadable.
    assert b.redis.cmd("SET", "refund:" + s, "hello") == "+OK"
    st, _, doc = sv.get("/api/queue")
    r = doc["refundReservations"][s]
    assert r.get("foreign") is True and r.get("unreadable") is True, r
    assert b.redis.cmd("DEL", "refund:" + s) == ":1"


def break_live(b, sv):
    s = sq("live")
    st, _, c = sv.post("/api/claim", {"sq": s, "bot": "BOT1"})
    assert st == 200
    st, _, e = sv.get("/api/inspect?sq=" + s)
    exp = {"claim": e["claim"]["fingerprint"], "reservation": None}
    st, _, busy = sv.post("/api/break", {"sq": s, "expected": exp})
    assert st == 409 and busy["code"] == "BUSY" and "BOT1" in busy["error"], (st, busy)
    st, _, br = sv.post("/api/break", {"sq": s, "expected": exp}, token="wrong")
    assert st == 401
    st, _, br = sv.post("/api/break", {"sq": s, "force": True, "expected": exp})
    assert st == 200 and br["removed"]["claim"] is True, (st, br)
    # The bot learns it.
    st, _, lost = sv.post("/api/renew", {"lease": c["lease"]})
    assert st == 410, (st, lost)


def secrets_not_logged(b, sv):
    log = sv.stderr()
    assert sv.token not in log, "the bearer token is in the log"
    assert "token" not in log.lower().replace("token required", ""), log[-2000:]
    # Every request was logged, one line each.
    assert '"POST /api/claim" 200' in log and '"GET /api/queue" 200' in log, log[-2000:]
    assert '"POST /api/claim" 401' in log


def backend_suite(b):
    sv = Serve(b.env)
    try:
        R.run("%s: bot API flow" % b.name, api_flow, b, sv)
        R.run("%s: claim retried with the same token" % b.name, token_retry, b, sv)
        R.run("%s: bad input, methods, 404" % b.name, bad_input, b, sv)
        R.run("%s: body and header limits" % b.name, limits, b, sv)
        R.run("%s: bearer token" % b.name, auth, b, sv)
        if b.redis:
            R.run("%s: foreign entries, inspect and break" % b.name, foreign_and_break, b, sv)
        R.run("%s: break a live claim needs force" % b.name, break_live, b, sv)
        R.run("%s: no secret in the access log" % b.name, secrets_not_logged, b, sv)
    finally:
        rc = sv.stop()
        R.run("%s: SIGTERM exits 0" % b.name, lambda: _eq(rc, 0, sv.stderr()))


def _eq(a, b, ctx=""):
    assert a == b, (a, b, ctx[-2000:] if isinstance(ctx, str) else ctx)


# ---------------------------------------------------------------------------
# Configuration, modes, process behaviour

def unconfigured():
    sv = Serve({"SQCLAIM_ADAPTER": "vercel"})
    try:
        st, hd, doc = sv.get("/api/queue")
        assert st == 503, st
        assert doc == {"success": False, "error": "KV not configured. Visit Vercel dashboard to "
                                                  "set up KV storage."}, doc
        assert list(doc.keys()) == ["success", "error"]
        st, _, doc = sv.post("/api/claim", {"sq": "x1", "bot": "B"})
        assert st == 503 and "KV not configured" in doc["error"], (st, doc)
        st, _, doc = sv.get("/api/health")
        assert st == 503 and doc["success"] is False
        st, hd, page = sv.get("/")
        assert st == 200 and "<html" in page  # the dashboard shows the error itself
    finally:
        assert sv.stop() == 0


def read_only_and_auth_reads():
    sv = Serve({"SQCLAIM_ADAPTER": "memory"}, token=None)
    try:
        assert sv.get("/api/queue", token=None)[0] == 200
        st, _, doc = sv.post("/api/claim", {"sq": "ro1", "bot": "B"}, token="anything")
        assert st == 403 and "no token" in doc["error"], (st, doc)
    finally:
        assert sv.stop() == 0
    sv = Serve({"SQCLAIM_ADAPTER": "memory"}, args=["--auth-reads"])
    try:
        assert sv.get("/api/queue", token=None)[0] == 401
        assert sv.get("/api/counters", token=None)[0] == 401
        assert sv.get("/", token=None)[0] == 200  # the page has no data; it asks for the token
        st, _, doc = sv.get("/api/queue")
        assert st == 200 and doc["success"] is True
    finally:
        assert sv.stop() == 0


def cors():
    sv = Serve({"SQCLAIM_ADAPTER": "memory"}, args=["--cors", "https://ops.example.com"])
    try:
        st, hd, _ = sv.get("/api/queue")
        assert hd.get("access-control-allow-origin") == "https://ops.example.com", hd
        st, hd, _ = sv.request("OPTIONS", "/api/claim", token=None)
        assert st == 204 and "POST" in hd.get("access-control-allow-methods", ""), (st, hd)
        assert "Authorization" in hd.get("access-control-allow-headers", "")
    finally:
        assert sv.stop() == 0


def token_file():
    d = H.tmpdir("tok")
    p = os.path.join(d, "token")
    with open(p, "w") as f:
        f.write("file-token-0123456789abcdef\n")
    sv = Serve({"SQCLAIM_ADAPTER": "memory"}, args=["--token-file", p], token=None)
    try:
        st, _, _ = sv.post("/api/claim", {"sq": "tf1", "bot": "B"},
                           token="file-token-0123456789abcdef")
        assert st == 200, st
    finally:
        assert sv.stop() == 0


def run_cli(args, env=None, timeout=30):
    return subprocess.run([H.CLI] + args, capture_output=True, text=True,
                          env=H.clean_env(env), timeout=timeout)


def exit_codes():
    r = run_cli(["serve", "--help"])
    assert r.returncode == 0 and "Usage: sqclaim serve" in r.stdout, r
    r = run_cli(["help", "serve"])
    assert r.returncode == 0 and "/api/queue" in r.stdout
    r = run_cli(["serve", "--adapter", "nosuch", "--port", "0"])
    assert r.returncode == 4, (r.returncode, r.stderr)
    r = run_cli(["serve", "--adapter", "memory", "--listen", "not-an-ip", "--port", "0"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = run_cli(["serve", "--adapter", "memory", "--port", "70000"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = run_cli(["serve", "--adapter", "memory", "--port", "0"],
                {"SQCLAIM_SERVE_TOKEN": "short"})
    assert r.returncode == 4 and "short" not in r.stderr, (r.returncode, r.stderr)
    r = run_cli(["serve", "--adapter", "memory", "--port", "0", "--auth-reads"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = run_cli(["serve", "extra"])
    assert r.returncode == 2
    # A port in use: cannot listen, 5.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    r = run_cli(["serve", "--adapter", "memory", "--port", str(s.getsockname()[1])])
    s.close()
    assert r.returncode == 5, (r.returncode, r.stderr)


def graceful_stop(b):
    """SIGTERM while a request is in flight: it finishes, then exit 0."""
    sv = Serve(b.env)
    b.kvrest.faults(latency_ms=700)
    b.kvrest.reset_stats()
    out = {}

    def call():
        out["r"] = sv.post("/api/claim", {"sq": sq("grace"), "bot": "BOTG"})
    t = threading.Thread(target=call)
    t.start()
    H.wait_until(lambda: b.kvrest.stats().get("requests", 0) > 0, 5,
                 "the request to reach kvrest")
    assert "POST /api/claim" not in sv.stderr()  # still in flight
    sv.proc.send_signal(signal.SIGTERM)
    t.join(30)
    rc = sv.proc.wait(30)
    b.kvrest.faults(latency_ms=0)
    assert out["r"][0] == 200 and out["r"][2]["success"] is True, out
    assert rc == 0, (rc, sv.stderr())
    assert "1 request in flight" in sv.stderr(), sv.stderr()
    # New connections are refused after the stop.
    assert not H.port_open(sv.port)


def uncertain_claim(b):
    """kvrest applies the claim and drops every reply: the claim is
    uncertain; the answer carries the lease (its token), and retrying with
    that token once the store answers finds it granted."""
    sv = Serve(b.env, args=["--timeout", "3s"])
    try:
        s = sq("unc")
        b.kvrest.faults(drop_rate=1.0)
        st, _, doc = sv.post("/api/claim", {"sq": s, "bot": "BOTU"})
        b.kvrest.faults(drop_rate=0.0)
        assert st in (502, 504) and doc.get("uncertain") is True, (st, doc)
        tok = doc["lease"]["token"]
        st, _, c = sv.post("/api/claim", {"sq": s, "bot": "BOTU", "token": tok})
        assert st == 200 and c["reclaimed"] is True, (st, c)
        assert sv.post("/api/release", {"lease": c["lease"]})[0] == 200
    finally:
        b.kvrest.faults(drop_rate=0.0)
        sv.stop()


def sqsim_through_serve(b, faults):
    """sqsim's bots through serve (--adapter http): the oracle checks the
    HTTP path; with kvrest's faults behind a vercel serve, serve's lost
    replies travel back as uncertain answers and retries."""
    sqsim = os.path.join(os.path.dirname(os.path.abspath(H.CLI)), "sqsim")
    if faults:
        b.kvrest.faults(drop_rate=0.03, fail_rate=0.03, seed=7)
    sv = Serve(b.env, args=["--threads", "8", "-q"])
    try:
        r = subprocess.run([sqsim, "--adapter", "http", "--bots", "6", "--sqs", "8",
                            "--duration", "3s", "--quiet"], capture_output=True, text=True,
                           timeout=300, env=H.clean_env({"SQCLAIM_SERVE_URL": sv.base,
                                                         "SQCLAIM_SERVE_TOKEN": sv.token}))
        assert r.returncode == 0, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
        assert "PASS" in r.stdout + r.stderr, r.stdout[-2000:]
    finally:
        if faults:
            b.kvrest.faults(drop_rate=0.0, fail_rate=0.0)
        assert sv.stop() == 0


def main():
    backends = H.make_backends(R)
    for b in backends:
        backend_suite(b)
    R.run("unconfigured vercel: the seed's error with 503", unconfigured)
    R.run("read-only without a token; --auth-reads", read_only_and_auth_reads)
    R.run("CORS only when configured", cors)
    R.run("--token-file", token_file)
    R.run("exit codes and --help", exit_codes)
    for b in backends:
        if b.name in ("memory", "redis"):
            R.run("%s: sqsim through serve, oracle passes" % b.name, sqsim_through_serve, b,
                  False)
    vercel = [b for b in backends if b.name == "vercel"]
    if vercel:
        R.run("vercel: graceful stop finishes the request in flight", graceful_stop, vercel[0])
        R.run("vercel: uncertain claim, retried with its token", uncertain_claim, vercel[0])
        R.run("vercel + kvrest faults: sqsim through serve, oracle passes",
              sqsim_through_serve, vercel[0], True)
    R.finish()


if __name__ == "__main__":
    main()
