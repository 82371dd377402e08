#!/usr/bin/python3
"""Check an `nnctl report` page: self-contained (no external reference of any kind), every chart
has something drawn, and, with --browser, that headless Chromium renders it without fetching
anything from the network (its net log holds no http(s) request) and that the screenshot shows
the charts (the palette's blue curves and a fair share of non-white pixels).

  check_report.py PAGE.html [--expect TEXT ...] [--browser] [--screenshot OUT.png]"""
import argparse
import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("page")
ap.add_argument("--expect", action="append", default=[])
ap.add_argument("--browser", action="store_true")
ap.add_argument("--screenshot")
a = ap.parse_args()
text = open(a.page, encoding="utf-8").read()


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs, self.cur, self.bad = [], None, []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag in ("link", "img", "iframe", "object", "embed") or (tag == "script" and "src" in d):
            self.bad.append(tag)  # (an inline script is part of the page)
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.bad.append(f"{tag} {k}={v}")
        if tag == "svg":
            self.cur = {"marks": 0, "label": d.get("aria-label", "")}
            self.svgs.append(self.cur)
        elif self.cur is not None and tag in ("polyline", "rect", "circle"):
            if tag != "polyline" or len(d.get("points", "").split()) >= 1:
                self.cur["marks"] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.cur = None


p = Page()
p.feed(text)
problems = []
if p.bad:
    problems.append(f"not self-contained: {p.bad[:5]}")
if re.search(r"https?://", text):
    problems.append("mentions an http(s) URL")
if not p.svgs:
    problems.append("no charts")
for s in p.svgs:
    if s["marks"] == 0:
        problems.append(f"chart '{s['label']}' has nothing drawn")
for e in a.expect:
    if e not in text:
        problems.append(f"missing '{e}'")

if a.browser:
    with tempfile.TemporaryDirectory() as tmp:
        shot = a.screenshot or os.path.join(tmp, "page.png")
        net = os.path.join(tmp, "net.json")
        cmd = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={tmp}/profile", "--window-size=1200,2600", f"--screenshot={shot}",
               f"--log-net-log={net}", "--host-resolver-rules=MAP * ~NOTFOUND",
               # The browser's own background traffic (updates, sign-in, spelling dictionaries) is
               # turned off, so that whatever is left in the net log came from the page.
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--no-default-browser-check", "--disable-domain-reliability",
               "--disable-client-side-phishing-detection", "--disable-spell-checking",
               "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
               "file://" + os.path.abspath(a.page)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if not os.path.exists(shot):
            problems.append(f"Chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-400:]}")
        else:
            import cv2
            import numpy as np
            img = cv2.imread(shot)
            ink = float((img.min(axis=2) < 235).mean())
            # The palette's first colour #0072B2 (BGR 178, 114, 0): the first series of every chart.
            blue = int((np.abs(img.astype(int) - [178, 114, 0]).sum(axis=2) < 60).sum())
            if ink < 0.02:
                problems.append(f"the screenshot is nearly blank ({ink:.1%} ink)")
            if blue < 50:
                problems.append(f"no curves in the screenshot ({blue} pixels of the first series' colour)")
            print(f"{a.page}: Chromium screenshot {img.shape[1]}x{img.shape[0]}, {ink:.1%} ink, {blue} curve pixels")
        if os.path.exists(net):
            # The page's own requests are those in its network partition (the file:// top frame); the
            # browser's background traffic (updates, sign-in) is in others.
            log = json.load(open(net, encoding="utf-8", errors="replace"))
            remote = sorted({e["params"]["url"] for e in log.get("events", [])
                             if "url" in e.get("params", {}) and "file://" in e["params"].get("network_isolation_key", "")
                             and not e["params"]["url"].startswith(("file:", "data:"))})
            if remote:
                problems.append(f"the page made network requests: {remote[:5]}")
        else:
            problems.append("Chromium wrote no net log")

print(f"{a.page}: {len(p.svgs)} charts" + ("" if not problems else "; PROBLEMS: " + "; ".join(problems)))
sys.exit(1 if problems else 0)
