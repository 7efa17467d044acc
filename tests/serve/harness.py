"""harness.py -- real servers for the tests of `sqclaim serve`.

Starts real processes only: redis-server (no persistence) and kvrest on
free ports, and `sqclaim serve --port 0 --port-file ...`; polls them until
they answer (never a fixed sleep); kills them at exit.  Standard library
only.

Paths come from the environment the build's wrapper sets:
  SQCLAIM_CLI     the sqclaim program
  SQCLAIM_KVREST  the kvrest program
  SQCLAIM_SRCDIR  the source tree (docs/http.md)
  SQCLAIM_BUILD   the build directory (screenshots, logs)

A missing prerequisite (redis-server, kvrest, chromium) is a SKIP that is
counted and printed -- and a failure under CI=true.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLI = os.environ.get("SQCLAIM_CLI", "build/sqclaim")
KVREST = os.environ.get("SQCLAIM_KVREST", "build/kvrest")
SRCDIR = os.environ.get("SQCLAIM_SRCDIR", ".")
BUILD = os.environ.get("SQCLAIM_BUILD", "build")
IN_CI = os.environ.get("CI") == "true"

TOKEN = "serve-test-token-" + os.urandom(8).hex()

_procs = []
_tmpdirs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def tmpdir(tag):
    d = tempfile.mkdtemp(prefix="sqclaim-serve-%s-" % tag)
    _tmpdirs.append(d)
    return d


def clean_env(extra=None):
    """The test's environment without any sqclaim setting, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SQCLAIM_") or k.startswith("KV_") or
                   k.startswith("UPSTASH_") or k == "REDIS_URL")}
    env.update(extra or {})
    return env


def wait_until(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.02)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Results

class Results:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = []
        self.skipped = []

    def skip(self, what, why):
        if IN_CI:
            self.fail(what, "prerequisite missing under CI=true: " + why)
            return
        print("SKIP %s: %s" % (what, why), flush=True)
        self.skipped.append(what)

    def fail(self, what, why):
        print("FAIL %s: %s" % (what, why), flush=True)
        self.failed.append(what)

    def run(self, what, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 -- report any failure
            import traceback
            traceback.print_exc()
            self.fail(what, "%s: %s" % (type(e).__name__, e))
            return False
        self.passed += 1
        print("ok   %s (%.2fs)" % (what, time.monotonic() - t0), flush=True)
        return True

    def finish(self):
        print("%s: %d passed, %d failed, %d skipped" %
              (self.name, self.passed, len(self.failed), len(self.skipped)), flush=True)
        if self.failed:
            print("failed: " + ", ".join(self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------------------
# Servers

class Redis:
    def __init__(self):
        if not shutil.which("redis-server"):
            raise FileNotFoundError("redis-server not installed")
        self.dir = tmpdir("redis")
        self.port = free_port()
        log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--loglevel", "warning"], stdout=log, stderr=log)
        _procs.append(self.proc)
        wait_until(lambda: self.cmd("PING") == "+PONG", 10, "redis-server")

    def cmd(self, *args):
        """One RESP command; the first reply line."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                out = "*%d\r\n" % len(args)
                for a in args:
                    b = str(a).encode()
                    out += "$%d\r\n%s\r\n" % (len(b), a)
                s.sendall(out.encode())
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.split(b"\r\n")[0].decode()
        except OSError:
            return None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Kvrest:
    def __init__(self, redis, extra=()):
        if not os.access(KVREST, os.X_OK):
            raise FileNotFoundError("kvrest not built (%s)" % KVREST)
        self.dir = tmpdir("kvrest")
        self.token = "kv-" + os.urandom(12).hex()
        pf = os.path.join(self.dir, "port")
        log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [KVREST, "--port", "0", "--port-file", pf, "--redis", "127.0.0.1:%d" % redis.port,
             "--token", self.token, "--quiet"] + list(extra), stdout=log, stderr=log)
        _procs.append(self.proc)

        def ready():
            try:
                with open(pf) as f:
                    p = int(f.read().strip() or 0)
                return p if p and port_open(p) else 0
            except (OSError, ValueError):
                return 0
        self.port = wait_until(ready, 10, "kvrest")
        self.url = "http://127.0.0.1:%d" % self.port

    def _admin(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request(method, path, body, {"Authorization": "Bearer " + self.token})
        r = c.getresponse()
        data = r.read()
        c.close()
        assert r.status == 200, (path, r.status, data)
        return json.loads(data) if data else None

    def faults(self, **kw):
        self._admin("POST", "/_kvrest/faults", json.dumps(kw))

    def stats(self):
        return self._admin("GET", "/_kvrest/stats")

    def reset_stats(self):
        self._admin("POST", "/_kvrest/stats/reset")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def adapters():
    out = subprocess.run([CLI, "adapters"], capture_output=True, text=True, env=clean_env())
    return out.stdout.split()


class Backend:
    """A backend to serve: its name and the environment that selects it."""

    def __init__(self, name, env, redis=None, kvrest=None):
        self.name = name
        self.env = env
        self.redis = redis
        self.kvrest = kvrest


def make_backends(results, names=("memory", "sqlite", "redis", "vercel")):
    """The backends to test, each named explicitly (never the default)."""
    out = []
    built = adapters()
    for name in names:
        if name not in built:
            if name == "sqlite":
                continue  # built on another branch; not a prerequisite here
            results.skip("backend " + name, "not built into sqclaim")
            continue
        if name in ("memory",):
            out.append(Backend(name, {"SQCLAIM_ADAPTER": name}))
        elif name == "sqlite":
            db = os.path.join(tmpdir("sqlite"), "claims.db")
            out.append(Backend(name, {"SQCLAIM_ADAPTER": name, "SQCLAIM_DB": db}))
        elif name == "redis":
            try:
                r = Redis()
            except FileNotFoundError as e:
                results.skip("backend redis", str(e))
                continue
            out.append(Backend(name, {"SQCLAIM_ADAPTER": "redis", "REDIS_URL": r.url}, redis=r))
        elif name == "vercel":
            try:
                r = Redis()
                kv = Kvrest(r)
            except FileNotFoundError as e:
                results.skip("backend vercel", str(e))
                continue
            out.append(Backend(name, {"SQCLAIM_ADAPTER": "vercel", "KV_REST_API_URL": kv.url,
                                      "KV_REST_API_TOKEN": kv.token}, redis=r, kvrest=kv))
    return out


class Serve:
    """A running `sqclaim serve`."""

    def __init__(self, env, args=(), token=TOKEN, expect_start=True):
        self.dir = tmpdir("serve")
        pf = os.path.join(self.dir, "port")
        self.errpath = os.path.join(self.dir, "stderr")
        e = dict(env)
        if token:
            e["SQCLAIM_SERVE_TOKEN"] = token
        self.token = token
        self.proc = subprocess.Popen([CLI, "serve", "--port", "0", "--port-file", pf] +
                                     list(args), env=clean_env(e),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.errpath, "w"))
        _procs.append(self.proc)
        if not expect_start:
            return

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("serve exited %s: %s" % (self.proc.returncode, self.stderr()))
            try:
                with open(pf) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.port = wait_until(ready, 10, "sqclaim serve")
        self.base = "http://127.0.0.1:%d" % self.port

    def stderr(self):
        with open(self.errpath, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)

    # -- HTTP ---------------------------------------------------------------

    def request(self, method, path, body=None, token="default", headers=None, raw=None):
        """(status, headers dict (lower-case names), parsed JSON or text)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token == "default":
            token = self.token
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        c.request(method, path, data, h)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = text
        return r.status, hdrs, doc

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def check_seed_document(doc):
    """The seed's /api/queue document, exactly: its members, in order."""
    assert isinstance(doc, dict), doc
    assert list(doc.keys()) == ["success", "sqClaims", "refundReservations", "timestamp",
                                "kvConfigured"], list(doc.keys())
    assert doc["success"] is True and doc["kvConfigured"] is True
    assert TIMESTAMP.match(doc["timestamp"]), doc["timestamp"]
    for sq, c in doc["sqClaims"].items():
        for k in ("botId", "timestamp", "status"):
            assert k in c, (sq, c)
    for sq, r in doc["refundReservations"].items():
        for k in ("botId", "startRow", "rowCount", "status", "timestamp"):
            assert k in r, (sq, r)
