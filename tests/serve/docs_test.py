#!/usr/bin/env python3
"""docs_test.py -- docs/http.md's examples, run as written.

1. Every ```sh block, in order, in one bash (set -euo pipefail) against a
   fresh `sqclaim serve` on the memory backend; their output is checked for
   what the page says it shows.  Every ```json block must be valid JSON.
2. The page's Python bot (its ```python block), three processes at once on
   every backend: each gets a different SQ and rows that do not overlap,
   while all three hold their SQ at the same time.
"""
import json
import os
import re
import shutil
import subprocess
import time

import harness as H
from harness import Serve

R = H.Results("tests/serve-docs")
DOC = os.path.join(H.SRCDIR, "docs", "http.md")


def blocks(lang):
    with open(DOC) as f:
        text = f.read()
    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
            if m.group(1) == lang]


def json_blocks_parse():
    bl = blocks("json")
    assert len(bl) >= 4, len(bl)
    for b in bl:
        json.loads(b)


def sh_blocks():
    bl = blocks("sh")
    assert len(bl) >= 10, len(bl)
    sv = Serve({"SQCLAIM_ADAPTER": "memory"})
    try:
        work = H.tmpdir("docs")
        script = "set -euo pipefail\n" + "".join(
            "printf '\\n=== block %d\\n'\n%s" % (i, b) for i, b in enumerate(bl))
        env = H.clean_env({"SQCLAIM_URL": sv.base, "SQCLAIM_SERVE_TOKEN": sv.token})
        r = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)
        out = r.stdout
        assert r.returncode == 0, (r.returncode, out[-3000:], r.stderr[-3000:])
        # What the page says the blocks show.
        parts = [p.strip() + "\n" for p in re.split(r"\n=== block \d+\n", "\n" + out)[1:]]
        assert len(parts) == len(bl), (len(parts), len(bl))
        q = json.loads(parts[1].strip())
        H.check_seed_document(q)
        assert '"lease":{"sq":"251019-164rmb","bot":"BOT1"' in parts[2], parts[2]
        assert parts[3].startswith("409\n") and '"code":"BUSY"' in parts[3], parts[3]
        c2 = json.loads(parts[4])
        assert c2["lease"]["sq"] == "251019-165abc", c2
        lines = [json.loads(x) for x in parts[5].split("\n") if x.strip()]
        assert [x["reclaimed"] for x in lines] == [False, True], lines
        assert lines[0]["fence"] == lines[1]["fence"]
        rv = json.loads(parts[6])
        assert rv["startRow"] >= 51 and rv["rowCount"] == 5, rv
        assert json.loads(parts[7]) == {"success": True}
        assert json.loads(parts[8])["lease"]["ttlMs"] == 900000
        assert parts[10].strip() == "410", parts[10]
        assert '"rowCursor"' in parts[11] and '"claim":{"botId":"BOT3"' in parts[11], parts[11]
        assert json.loads(parts[12])["removed"]["claim"] is True, parts[12]
        # No token of any lease in what the read routes printed.
        tok = json.loads(parts[2])["lease"]["token"]
        assert tok not in parts[1] + parts[3] + parts[11]
        st, _, doc = sv.get("/api/queue")
        assert doc["sqClaims"] == {} or set(doc["sqClaims"]) == set(), doc
    finally:
        sv.stop()


def bot_file():
    bl = blocks("python")
    assert len(bl) == 1, len(bl)
    d = H.tmpdir("bot")
    p = os.path.join(d, "http_bot.py")
    with open(p, "w") as f:
        f.write(bl[0])
    return p


def three_bots(b, bot):
    sv = Serve(b.env)
    try:
        tag = "%s%d" % (b.name[:3], os.getpid() % 10000)
        cands = ",".join("251019-%s%d" % (tag, i) for i in range(1, 4))
        env = H.clean_env({"SQCLAIM_URL": sv.base, "SQCLAIM_SERVE_TOKEN": sv.token})
        procs = [subprocess.Popen(["python3", bot, "BOT%d" % i, cands, "5", "1.0"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in (1, 2, 3)]
        res = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, (p.returncode, out, err)
            res.append(json.loads(out))
        sqs = [r["sq"] for r in res]
        assert len(set(sqs)) == 3, res
        spans = sorted((r["startRow"], r["startRow"] + r["rowCount"]) for r in res)
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert a1 <= b0, spans
        # All three held their SQ at the same time: the test proves
        # something only if the claims were concurrent.
        assert max(r["heldFrom"] for r in res) < min(r["heldTo"] for r in res), res
        assert all(r["released"] for r in res), res
        st, _, doc = sv.get("/api/queue")
        assert not set(sqs) & set(doc["sqClaims"]), doc
        assert not set(sqs) & set(doc["refundReservations"]), doc
    finally:
        sv.stop()


def main():
    R.run("docs/http.md: json blocks are JSON", json_blocks_parse)
    missing = [t for t in ("curl", "jq", "bash") if not shutil.which(t)]
    if missing:
        R.skip("docs/http.md: sh blocks", "not installed: " + ", ".join(missing))
    else:
        R.run("docs/http.md: sh blocks run as written", sh_blocks)
    bot = bot_file()
    for b in H.make_backends(R):
        R.run("%s: three Python bots at once" % b.name, three_bots, b, bot)
    R.finish()


if __name__ == "__main__":
    main()
