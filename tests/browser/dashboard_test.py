#!/usr/bin/env python3
"""dashboard_test.py -- the `sqclaim serve` dashboard in real headless Chromium.

Chromium (Debian's `chromium`) is driven through the DevTools protocol over
--remote-debugging-pipe (file descriptors 3 and 4, NUL-separated JSON), so
only the Python standard library is needed.  Against a real redis-server:

- the page loads and goes "live" without a console error or exception;
- a claim made with the CLI (`sqclaim claim`) appears within 2 s, with its
  bot and fence, and disappears within 2 s of `sqclaim release`; its
  reservation shows on the row axis; a value another tool wrote without
  expiry is flagged "foreign" and "never expires";
- the operator's "End claim..." (token typed in, confirmation dialog
  accepted) ends a claim; the CLI's holder then finds its lease lost;
- a screenshot is kept: $SQCLAIM_BUILD/tests/browser-dashboard.png.

Without chromium (or redis-server): SKIP, or FAIL under CI=true.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
import harness as H  # noqa: E402
from harness import Serve  # noqa: E402

R = H.Results("tests/browser")


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, binary):
        self.dir = H.tmpdir("chromium")
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Out of the way of 3 and 4, so that the child's dup2s cannot
        # overwrite one with the other.
        a = os.dup2(to_chrome_r, 100, inheritable=True)
        b = os.dup2(from_chrome_w, 101, inheritable=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def fds():  # the child's fds 3 (it reads) and 4 (it writes)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             "--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--remote-debugging-pipe", "--window-size=1200,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr"), "w"),
            preexec_fn=fds, pass_fds=(3, 4, a, b))
        H._procs.append(self.proc)
        os.close(a)
        os.close(b)
        self._id = 0
        self._lock = threading.Lock()
        self._replies = {}
        self.events = []
        self._cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()
        targets = self.call("Target.getTargets")["targetInfos"]
        page = [t for t in targets if t["type"] == "page"][0]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for m in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(m, session=True)

    def _reader(self):
        buf = b""
        while True:
            try:
                d = os.read(self._r, 1 << 16)
            except OSError:
                d = b""
            if not d:
                with self._cv:
                    self._cv.notify_all()
                return
            buf += d
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                with self._cv:
                    if "id" in m:
                        self._replies[m["id"]] = m
                    else:
                        self.events.append(m)
                    self._cv.notify_all()

    def call(self, method, params=None, session=False, timeout=20):
        with self._lock:
            self._id += 1
            mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("no DevTools reply to " + method)
                self._cv.wait(left)
            m = self._replies.pop(mid)
        if "error" in m:
            raise AssertionError("%s: %s" % (method, m["error"]))
        return m.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            raise AssertionError("page exception: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def wait_eval(self, expr, timeout, what):
        return H.wait_until(lambda: self.eval(expr), timeout, what)

    def errors(self):
        """Console errors, uncaught exceptions, failed loads."""
        out = []
        with self._cv:
            evs = list(self.events)
        for e in evs:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: %s" % p.get("exceptionDetails", {}).get("text"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], [a.get("value") for a in p["args"]]))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: %s" % p["entry"].get("text"))
        return out

    def wait_event(self, method, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for e in self.events:
                    if e.get("method") == method:
                        self.events.remove(e)
                        return e["params"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s event" % method)
                self._cv.wait(left)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except AssertionError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cli(args, env, stdin=None):
    return subprocess.run([H.CLI] + args, input=stdin, capture_output=True, text=True,
                          env=H.clean_env(env), timeout=60)


def dashboard(binary):
    redis = H.Redis()
    env = {"SQCLAIM_ADAPTER": "redis", "REDIS_URL": redis.url}
    sv = Serve(env)
    ch = Chromium(binary)
    try:
        ch.call("Page.navigate", {"url": sv.base + "/"}, session=True)
        ch.wait_eval("document.getElementById('state') && "
                     "document.getElementById('state').textContent === 'live'", 10,
                     "the dashboard to go live")
        assert ch.eval("document.getElementById('noclaims').style.display") == "block"

        # A claim made with the CLI shows within 2 s.
        s = "251019-164rmb"
        r = cli(["claim", s, "--bot", "BOT1", "--ttl", "5m"], env)
        assert r.returncode == 0, r.stderr
        lease = r.stdout
        t0 = time.monotonic()
        row = "document.querySelector('tr[data-sq=\"%s\"]')" % s
        ch.wait_eval("!!" + row, 2.0, "the claim to show (2 s)")
        shown = time.monotonic() - t0
        cells = ch.eval("Array.from(%s.cells).map(c => c.textContent)" % row)
        assert cells[0] == s and cells[1] == "BOT1" and cells[2] == str(json.loads(lease)["fence"])
        assert "m" in cells[3], cells  # time left, e.g. "4m59s"
        # A reservation shows on the row axis.
        r = cli(["reserve", s, "--rows", "5", "--hint", "51"], env, stdin=lease)
        assert r.returncode == 0, r.stderr
        ch.wait_eval("document.querySelectorAll('#axis .r').length === 1", 2.0,
                     "the reservation on the row axis")
        # A value another tool wrote, without expiry: flagged both ways.
        fs = "251019-777old"
        assert redis.cmd("SET", "sq:" + fs, json.dumps(
            {"botId": "BOT9", "timestamp": "2025-10-26T12:34:56.789Z",
             "status": "CLAIMING"})) == "+OK"
        frow = "document.querySelector('tr[data-sq=\"%s\"]')" % fs
        ch.wait_eval("!!" + frow, 2.0, "the foreign entry")
        tags = ch.eval("Array.from(%s.querySelectorAll('.tag')).map(t => t.textContent)" % frow)
        assert "foreign" in tags and "never expires" in tags, tags
        shot = ch.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        import base64
        path = os.path.join(H.BUILD, "tests", "browser-dashboard.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot))
        print("     screenshot: %s (claim shown after %.2fs)" % (path, shown), flush=True)

        # Released with the CLI: gone within 2 s.
        r = cli(["release"], env, stdin=lease)
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        ch.wait_eval("!" + row, 2.0, "the claim to disappear (2 s)")
        ch.wait_eval("document.querySelectorAll('#axis .r').length === 0", 2.0,
                     "the reservation to disappear")

        # The operator ends a stuck claim: token, button, confirmation.
        s2 = "251019-999stk"
        r = cli(["claim", s2, "--bot", "BOT7"], env)
        assert r.returncode == 0, r.stderr
        lease2 = r.stdout
        row2 = "document.querySelector('tr[data-sq=\"%s\"]')" % s2
        ch.wait_eval("!!" + row2, 2.0, "the second claim")
        ch.eval("(() => { const t = document.getElementById('token'); t.value = %s;"
                " t.dispatchEvent(new Event('input')); })()" % json.dumps(sv.token))
        ch.wait_eval("!%s.querySelector('button').disabled" % row2, 3.0, "the button enabled")
        ch.eval("%s.querySelector('button').click()" % row2)
        dlg = ch.wait_event("Page.javascriptDialogOpening", 5)
        assert dlg["type"] == "confirm" and s2 in dlg["message"] and "BOT7" in dlg["message"], dlg
        ch.call("Page.handleJavaScriptDialog", {"accept": True}, session=True)
        ch.wait_eval("!" + row2, 3.0, "the ended claim to disappear")
        assert "Ended the claim" in ch.eval("document.getElementById('opmsg').textContent")
        r = cli(["renew"], env, stdin=lease2)
        assert r.returncode == 3, (r.returncode, r.stderr)  # LOST: the holder learns it
        assert redis.cmd("DEL", "sq:" + fs) == ":1"
        ch.wait_eval("!" + frow, 2.0, "the foreign entry to go")

        errs = ch.errors()
        assert not errs, errs
        # The token typed in never reached the log.
        assert sv.token not in sv.stderr()
    finally:
        ch.close()
        sv.stop()
        redis.stop()


def main():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        R.skip("dashboard in headless chromium", "chromium not installed (apt-get install "
               "chromium)")
    elif not shutil.which("redis-server") or "redis" not in H.adapters():
        R.skip("dashboard in headless chromium", "redis-server or the redis backend missing")
    else:
        R.run("dashboard in headless chromium", dashboard, binary)
    R.finish()


if __name__ == "__main__":
    main()
