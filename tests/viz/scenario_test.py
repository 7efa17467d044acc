#!/usr/bin/env python3
"""scenario_test.py: the capacity planner's totals agree with themselves,
with the store's and library's own counters and with the month's history.

Runs `sqsim --scenario seed-month` (a shorter month, with faults, so
retries and lost replies happen) and checks:
  * per-day, per-operation and per-who totals all add up to the month;
  * every request the transport counted is a billed request or a refused
    one; the library's round-trip counters agree;
  * billed commands = top-level commands + each redis.call scripts ran;
  * each operation's library calls = the history's events of that kind
    (what the oracle read), every finished SQ has one write, and the
    oracle found no violation;
  * the plan verdicts follow from the numbers;
  * the SVG plot is written and well-formed.
Usage: scenario_test.py [--sqsim build/sqsim] [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import xml.dom.minidom

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqsim", default=os.environ.get("SQCLAIM_SQSIM", "build/sqsim"))
    ap.add_argument("--out", default="build/scenario-test")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rep, plot = os.path.join(a.out, "month.json"), os.path.join(a.out, "month.svg")
    cmd = [a.sqsim, "--det", "--scenario", "seed-month", "--days", "8", "--sqs-per-day", "15",
           "--fail-rate", "0.01", "--drop-rate", "0.01", "--seed", "5", "--work", "5m",
           "--report", rep, "--plot", plot]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, "%s exits 0 (got %d)" % (" ".join(cmd), r.returncode))
    if r.returncode not in (0, 1):
        sys.stderr.write(r.stdout + r.stderr)
        return 1
    d = json.load(open(rep))
    m = d["month"]
    days = d["days_detail"]
    check(len(days) == 8, "one entry per day")
    check(sum(x["requests"] for x in days) == m["requests"], "days add up to the month's requests")
    check(sum(x["commands"] for x in days) == m["commands"], "days add up to the month's commands")
    check(sum(v["requests"] for v in d["by_operation"].values()) == m["requests"],
          "operations add up to the month's requests")
    check(sum(v["commands"] for v in d["by_operation"].values()) == m["commands"],
          "operations add up to the month's commands")
    check(sum(v["requests"] for v in d["by_who"].values()) == m["requests"],
          "who made them adds up to the month's requests")
    check(sum(v["commands"] for v in d["by_who"].values()) == m["commands"],
          "who made them adds up to the month's commands")
    for who in ("bots", "keep-alives", "retries", "watcher"):
        check(sum(x["by_who"][who][0] for x in days) == d["by_who"][who]["requests"],
              "days add up for %s" % who)
    x = d["cross_check"]
    check(x["transport_round_trips"] == m["requests"] + x["refused"],
          "transport's round trips (%d) = billed (%d) + refused (%d)"
          % (x["transport_round_trips"], m["requests"], x["refused"]))
    check(x["request_attempts"] == x["transport_round_trips"] == x["library_round_trips"],
          "the hooks, the transport and the library count the same attempts")
    check(m["commands"] == x["toplevel_commands"] + x["script_commands"],
          "billed commands = top-level commands + redis.calls inside scripts")
    check(x["script_commands"] > 0, "scripts' redis.calls are counted (Upstash bills them)")
    check(x["refused"] > 0 and x["replies_lost"] > 0 and d["by_who"]["retries"]["requests"] > 0,
          "faults happened and their retries are counted")
    h = d["history"]
    for op in ("claim", "reserve", "renew", "finish", "release", "abandon"):
        check(d["by_operation"][op]["calls"] == h[op],
              "%s calls (%d) = the history's %s events (%d)"
              % (op, d["by_operation"][op]["calls"], op, h[op]))
        if op != "abandon":
            check(d["by_operation"][op]["requests"] >= h[op] - d["by_who"]["retries"]["requests"],
                  "%s: at least one request per call" % op)
    check(h["write"] == m["sqs_finished"], "one write per finished SQ")
    check(sum(x["sqs_finished"] for x in days) == m["sqs_finished"], "finished SQs add up")
    check(m["sqs_arrived"] >= m["sqs_finished"] > 0, "SQs arrived and were finished")
    check(d["by_operation"]["status"]["calls"] == m["watch_polls"], "one status per watcher poll")
    check(d["oracle"]["violations"] == 0 and d["oracle"]["belief_intervals"] >= m["sqs_finished"],
          "the oracle checked the month: no violation")
    p = d["plans"]
    cum = 0
    first = 0
    for i, x in enumerate(days):
        cum += x["commands"]
        if not first and cum > p["upstash_free_commands_month"]:
            first = i + 1
    check(first == p["upstash_runs_out_day"], "Upstash's day follows from the days")
    over = next((i + 1 for i, x in enumerate(days) if x["requests"] > 3000), 0)
    check(over == p["kv_legacy_day_over"], "the legacy plan's daily verdict follows from the days")
    check(d["seed_estimate"]["per_day"] == round(3 * 15 * 60), "the seed's estimate: 60 per SQ")
    svg = xml.dom.minidom.parse(plot)
    rects = svg.getElementsByTagName("rect")
    check(len(rects) >= 2 * 8, "the plot has bars for each day")

    # Bad input: a clear error, exit 2.
    r = subprocess.run([a.sqsim, "--scenario", "seed-month", "--bots", "0"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 2 and "--bots" in r.stderr, "--bots 0 is refused clearly")
    r = subprocess.run([a.sqsim, "--scenario", "nope"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "seed-month" in r.stderr, "an unknown scenario names the known one")
    print("%d failed" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
