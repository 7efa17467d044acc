#!/usr/bin/env python3
"""timeline_test.py: sqsim's HTML timelines in a real headless Chromium.

Writes the timeline of a passing run and of a negative control's failing
run, opens each in headless Debian chromium and checks what a person would
look at:

  * no console message at all (the page logs nothing when it works; an
    uncaught error or console.error shows up on chromium's log and in the
    page's data-errors attribute);
  * one lane per bot, and as many lease bars as the oracle's belief
    intervals (the report's count, computed independently by check.c);
  * on the failing run: the violation is listed, drawn, the overlapping
    holds highlighted, and the view opened on it;
  * a bounded page: with --timeline-max the page keeps a window around the
    violation (still in view) and says how many events it left out.

Screenshots of both pages are kept in the output directory (a CI
artifact).  stdlib only; chromium is driven by --dump-dom and --screenshot.

Usage: timeline_test.py [--sqsim build/sqsim] [--out build/timeline-test]
A missing chromium is a failure under CI=true, else a printed SKIP.
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAILURES = []
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def find_chromium():
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class RootAttrs(html.parser.HTMLParser):
    """The attributes of the <html> element of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.attrs = None
        self.counts = {}

    def handle_starttag(self, tag, attrs):
        if tag == "html" and self.attrs is None:
            self.attrs = dict(attrs)
        cls = dict(attrs).get("class", "")
        for c in cls.split():
            key = tag + "." + c
            self.counts[key] = self.counts.get(key, 0) + 1


def chromium_args(chromium, profile):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--user-data-dir=" + profile,
            "--enable-logging=stderr", "--v=0", "--window-size=1400,900", "--hide-scrollbars"]


def open_page(chromium, page, shot, fragment=""):
    """Dump the DOM of page after its scripts ran; take a screenshot."""
    url = "file://" + os.path.abspath(page)
    shot_url = url
    url += fragment
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(chromium_args(chromium, profile) +
                             ["--virtual-time-budget=5000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(chromium_args(chromium, profile) + ["--screenshot=" + shot, shot_url],
                       capture_output=True, text=True, timeout=120)
    console = [l for l in dom.stderr.splitlines() if ":CONSOLE" in l]
    p = RootAttrs()
    p.feed(dom.stdout)
    return p.attrs or {}, p.counts, console, dom.returncode


def embedded_data(page):
    with open(page, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'<script type="application/json" id="tldata">\n(.*?)\n</script>', text, re.S)
    return json.loads(m.group(1)) if m else None


def run_sqsim(sqsim, args, want_rc):
    r = subprocess.run([sqsim] + args, capture_output=True, text=True, timeout=300)
    check(r.returncode == want_rc,
          "sqsim %s exits %d (got %d)" % (" ".join(args), want_rc, r.returncode))
    if r.returncode != want_rc:
        sys.stderr.write(r.stdout + r.stderr)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqsim", default=os.environ.get("SQCLAIM_SQSIM", "build/sqsim"))
    ap.add_argument("--out", default="build/timeline-test")
    a = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        if os.environ.get("CI") == "true":
            print("FAIL: chromium is not installed (ci/install-deps.sh installs it)")
            return 1
        print("SKIP: 1 test skipped: chromium is not installed (apt-get install chromium)")
        return 0
    if not os.access(a.sqsim, os.X_OK):
        print("FAIL: no sqsim at %s" % a.sqsim)
        return 1
    os.makedirs(a.out, exist_ok=True)
    out = lambda n: os.path.join(a.out, n)

    # 1. A passing run: 8 bots on memory.
    run_sqsim(a.sqsim, ["--duration", "1s", "--bots", "8", "--seed", "7", "--min-refusals", "0",
                        "--min-takeovers", "0", "--min-stale-writes", "0", "--quiet",
                        "--timeline", out("pass.html"), "--report", out("pass.json")], 0)
    with open(out("pass.json")) as f:
        rep = json.load(f)
    intervals = rep["oracle"]["belief_intervals"]
    data = embedded_data(out("pass.html"))
    check(data is not None and data["shown"] == data["total"], "the whole passing run is in the page")
    attrs, counts, console, rc = open_page(chromium, out("pass.html"), out("pass.png"))
    check(rc == 0, "chromium opened the passing page")
    check(attrs.get("data-ready") == "1", "the passing page's script ran to the end")
    check(not console, "no console messages on the passing page: %s" % console[:3])
    check("data-errors" not in attrs, "no errors recorded by the passing page")
    check(attrs.get("data-lanes") == "8", "8 lanes, one per bot (got %s)" % attrs.get("data-lanes"))
    check(counts.get("g.lane") == 8, "8 lane groups in the DOM")
    check(attrs.get("data-holds") == str(intervals) and counts.get("rect.bar", 0) >= intervals,
          "one lease bar per belief interval of the oracle: %s == %d"
          % (attrs.get("data-holds"), intervals))
    check(int(attrs.get("data-reservations", "0")) == rep["oracle"]["reservations"],
          "one reservation bar per reservation (%s == %d)"
          % (attrs.get("data-reservations"), rep["oracle"]["reservations"]))
    check(attrs.get("data-violations") == "0", "no violation drawn on the passing page")
    check(os.path.getsize(out("pass.png")) > 10000, "a screenshot of the passing page")
    # The controls, driven in the page (#selftest): zoom, pan, hover, search.
    attrs, counts, console, rc = open_page(chromium, out("pass.html"), out("pass-selftest.png"),
                                           "#selftest")
    check(attrs.get("data-selftest") == "ok" and not console,
          "zoom, pan, hover details, SQ and row search work: %s %s"
          % (attrs.get("data-selftest"), console[:3]))

    # 2. A negative control's failing run: 16 bots.
    r = run_sqsim(a.sqsim, ["--negative-control", "broken-check-then-set", "--seed", "11",
                            "--quiet", "--timeline", out("fail.html")], 1)
    data = embedded_data(out("fail.html"))
    check(data is not None and len(data["marks"]) >= 1, "the failing page carries the violation")
    check(data is not None and data["reproduce"].startswith(a.sqsim) and "--seed 11" in data["reproduce"],
          "the reproduce command is at the top of the failing page")
    attrs, counts, console, rc = open_page(chromium, out("fail.html"), out("fail.png"))
    check(rc == 0 and attrs.get("data-ready") == "1", "the failing page's script ran to the end")
    check(not console, "no console messages on the failing page: %s" % console[:3])
    check(attrs.get("data-lanes") == "16", "16 lanes (got %s)" % attrs.get("data-lanes"))
    check(int(attrs.get("data-violations", "0")) >= 1, "the violation is listed")
    check(int(attrs.get("data-violations-in-view", "0")) >= 1, "the view is opened on the violation")
    check(counts.get("rect.violation", 0) >= 2, "both parties' holds are drawn as the violation")
    check(int(attrs.get("data-hits", "0")) >= 2, "the overlapping lease bars are highlighted")
    check(counts.get("div.vline", 0) >= 1, "the violation's sentence is shown")
    check(os.path.getsize(out("fail.png")) > 10000, "a screenshot of the failing page")

    # 3. Bounded: the same failure with room for 200 events only.
    run_sqsim(a.sqsim, ["--negative-control", "broken-check-then-set", "--seed", "11", "--quiet",
                        "--duration", "2s", "--keep-going", "--timeline-max", "200",
                        "--timeline", out("bounded.html")], 1)
    data = embedded_data(out("bounded.html"))
    check(data is not None and data["shown"] <= 200 and data["total"] > data["shown"],
          "the bounded page keeps at most 200 of %s events" % (data and data["total"]))
    check(data is not None and sum(c[1] for c in data["counts"].values()) == data["total"] - data["shown"],
          "the bounded page counts what it left out")
    check(data is not None and sum(data["density"]) == data["total"],
          "its density strip counts every event of the run")
    attrs, counts, console, rc = open_page(chromium, out("bounded.html"), out("bounded.png"))
    check(not console and int(attrs.get("data-violations-in-view", "0")) >= 1,
          "the bounded page opens on the violation without errors")

    print("%d checks, %d failed; screenshots in %s" % (CHECKS, len(FAILURES), a.out))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
