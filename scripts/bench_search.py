#!/usr/bin/python3
"""Summarise scripts/bench_search.sh's searches into one Markdown table (standard library only).

  bench_search.py RUNS.tsv --seeds N --samples N --threads N --total-seconds S --kept N --nnctl P --config C

RUNS.tsv has a header and one line per search: strategy, seed, wall seconds, the path of its
--json output and the path of its --events file. See bench_search.sh for what is measured and why.
"""
import argparse
import csv
import json
import statistics
import sys

ap = argparse.ArgumentParser()
ap.add_argument("runs")
ap.add_argument("--seeds", type=int, required=True)
ap.add_argument("--samples", type=int, required=True)
ap.add_argument("--validation", type=float, required=True, help="data.validation_split")
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--total-seconds", type=int, required=True)
ap.add_argument("--kept", type=int, default=0, help="searches reused from an earlier invocation")
ap.add_argument("--nnctl", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--random-trials", type=int, required=True)
ap.add_argument("--tpe-trials", type=int, required=True)
ap.add_argument("--space", default="", help="search.space when not the config's")
ap.add_argument("--raw", help="the kept runs' folder, with each choice's retest (LABEL-SEED.test.json)")
args = ap.parse_args()
VAL_ROWS = round(args.samples * args.validation)  # as nnctl splits them (checked with nnctl train -v)
TRAIN_ROWS = args.samples - VAL_ROWS

ORDER = ["random", "hyperband", "tpe"]
FIRST_RANDOM = 13  # trials: 13 x 27 = 351 epochs, about a third of random search's 1,080


def trace(events_path):
    """(epochs spent so far, best completed-trial score so far) after each trial event that
    reports epochs, in the order the single worker did the work, and the total epochs the events
    add up to. `epochs` on an event is the trial's running total, so the work since the trial's
    previous event is the increase. Not only `paused` and `complete` count: a rung's `paused` event
    is sometimes not written when the trial is pruned at once (nnctl 0.1.0), and then the `pruned`
    event, written at the rung decision, before the next rung's training, is the first to carry
    those epochs."""
    done = {}
    spent = 0
    best = None
    points = []
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") != "trial" or e.get("epochs") is None:
                continue
            epochs = e.get("epochs")
            if epochs is not None:
                spent += max(0, epochs - done.get(e["trial"], 0))
                done[e["trial"]] = max(epochs, done.get(e["trial"], 0))
            if e["state"] == "complete":
                score = e.get("score", e.get("value"))
                if score is not None and (best is None or score > best):
                    best = score
            points.append((spent, best))
    return points, spent


def epochs_to_reach(points, target):
    """Epochs spent when the best-so-far first reached target, or None if it never did."""
    for spent, best in points:
        if best is not None and best >= target - 1e-9:
            return spent
    return None


runs = {}
with open(args.runs) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        with open(row["json"]) as jf:
            result = json.load(jf)
        points, replayed = trace(row["events"])
        if replayed != result["epochs"]:
            # The replay must account for every epoch the search reports, or its "epochs to reach"
            # figures would be wrong; say so rather than print them.
            sys.exit(f"{row['events']}: the events add up to {replayed} epochs, the search reports "
                     f"{result['epochs']}")
        final = points[-1][1] if points else None
        if final is None or abs(final - result["best"]["mean"]) > 1e-6:
            sys.exit(f"{row['events']}: the replayed best {final} is not the search's best "
                     f"{result['best']['mean']}")
        states = {}
        for t in result["trials"]:
            states[t["state"]] = states.get(t["state"], 0) + 1
        first = [t.get("mean", t.get("value")) for t in result["trials"]
                 if t["state"] == "complete" and t["trial"] < FIRST_RANDOM]
        runs[(row["strategy"], int(row["seed"]))] = {
            "best": result["best"]["mean"],
            "epochs": result["epochs"],
            "wall": float(row["wall"]),
            "points": points,
            "states": states,
            "first_best": max(first) if first else None,
            "first_epochs": sum(t.get("epochs", 0) for t in result["trials"] if t["trial"] < FIRST_RANDOM),
        }

seeds = sorted({s for _, s in runs})
missing = [(st, s) for st in ORDER for s in seeds if (st, s) not in runs]
if missing:
    sys.exit(f"missing searches: {missing}")


def minutes(seconds):
    return f"{int(seconds) // 60} min {int(seconds) % 60} s"


def mean_std(xs, fmt):
    if len(xs) < 2:
        return fmt.format(xs[0])
    return f"{fmt.format(statistics.mean(xs))} ± {fmt.format(statistics.stdev(xs))}"


# Per seed: how hyperband and TPE fare against random search's final best on the same seed.
for s in seeds:
    target = runs[("random", s)]["best"]
    for st in ORDER:
        r = runs[(st, s)]
        r["reach"] = epochs_to_reach(r["points"], target)

rand_epochs = statistics.mean(runs[("random", s)]["epochs"] for s in seeds)
third = rand_epochs / 3

out = []
out.append("# Search strategies on Fashion-MNIST (scripts/bench_search.sh)")
out.append("")
out.append(f"`{args.config}` (MLP: learning rate, hidden width, dropout, batch size; objective "
           f"val_accuracy), `data.train.max_samples={args.samples}`, "
           f"`data.validation_split={args.validation}` ({TRAIN_ROWS:,} "
           f"training rows, {VAL_ROWS:,} validation rows: one image = "
           f"{1 / VAL_ROWS:.5f} accuracy), `search.refit=false`, `--jobs 1 --threads "
           f"{args.threads}`, {len(seeds)} seed{'s' if len(seeds) > 1 else ''} (seed s: `seed=s`, `search.seed=s`). "
           f"random: {args.random_trials} trials x 27 epochs; hyperband: max_epochs 27, eta 3; "
           f"tpe: {args.tpe_trials} trials x 27 epochs (the first 10 random). The searches' wall "
           f"times add up to {minutes(sum(r['wall'] for r in runs.values()))}; this invocation took "
           f"{minutes(args.total_seconds)}"
           + (f" ({args.kept} of {len(runs)} searches kept from an earlier one)" if args.kept else "")
           + "."
           + (f" Search space: `{args.space}`." if args.space else ""))
out.append("")
# The validation rows change with the seed, so the spread across seeds is mostly the spread of
# validation sets; the paired difference with random search on the same seed is the comparison.
out.append("| strategy | best val_accuracy (mean ± std) | minus random's, same seed (mean; "
           "better/equal/worse) | epochs (mean) | epochs / random's | wall s (mean) | "
           "reached random's final best | epochs to reach it (per seed) |")
out.append("|---|---|---|---|---|---|---|---|")


def paired(key):
    d = [runs[(key, s)]["best"] - runs[("random", s)]["best"] for s in seeds]
    return paired_text(d)


def paired_text(d):
    eps = 1e-9
    wins = sum(x > eps for x in d)
    ties = sum(abs(x) <= eps for x in d)
    return f"{statistics.mean(d):+.4f} ({wins}/{ties}/{len(d) - wins - ties})"

for st in ORDER:
    rs = [runs[(st, s)] for s in seeds]
    epochs = statistics.mean(r["epochs"] for r in rs)
    if st == "random":
        reached, to = "(itself)", "—"
    else:
        hits = [r["reach"] for r in rs if r["reach"] is not None]
        reached = f"{len(hits)}/{len(rs)} seeds"
        to = ", ".join("never" if r["reach"] is None else str(r["reach"]) for r in rs)
    vs = "—" if st == "random" else paired(st)
    out.append(f"| {st} | {mean_std([r['best'] for r in rs], '{:.4f}')} | {vs} | {epochs:.0f} | "
               f"{epochs / rand_epochs:.2f} | {statistics.mean(r['wall'] for r in rs):.0f} | "
               f"{reached} | {to} |")
rs = [runs[("random", s)] for s in seeds]
fe = statistics.mean(r["first_epochs"] for r in rs)
out.append(f"| random, first {FIRST_RANDOM} trials only | "
           f"{mean_std([r['first_best'] for r in rs], '{:.4f}')} | "
           f"{paired_text([r['first_best'] - r['best'] for r in rs])} | {fe:.0f} | "
           f"{fe / rand_epochs:.2f} | — | "
           f"{sum(r['first_best'] >= r['best'] for r in rs)}/{len(rs)} seeds | — |")
out.append("")
out.append("Epochs to reach: the epochs the search had trained when its best completed trial "
           "first scored at least random search's final best on the same seed (replayed from the "
           "--events stream of the single worker). The last row is random search's best over its "
           "first 13 trials: what random search finds with hyperband's budget. For scale: the standard "
           f"error of one accuracy measured on {VAL_ROWS:,} validation images is about "
           f"{(0.88 * 0.12 / VAL_ROWS) ** 0.5:.4f} at 0.88; a difference smaller than that "
           "is within the noise of the measurement.")
out.append("")

out.append("## Per seed")
out.append("")
out.append("| seed | strategy | best val_accuracy | epochs | wall s | trials (complete/pruned/failed) | "
           "vs random's best | epochs to reach random's best |")
out.append("|---|---|---|---|---|---|---|---|")
for s in seeds:
    target = runs[("random", s)]["best"]
    for st in ORDER:
        r = runs[(st, s)]
        c = r["states"]
        counts = f"{c.get('complete', 0)}/{c.get('pruned', 0)}/{c.get('failed', 0)}"
        diff = r["best"] - target
        reach = "—" if st == "random" else ("never" if r["reach"] is None else str(r["reach"]))
        out.append(f"| {s} | {st} | {r['best']:.4f} | {r['epochs']} | {r['wall']:.0f} | {counts} | "
                   f"{diff:+.4f} | {reach} |")
    r = runs[("random", s)]
    out.append(f"| {s} | random, first {FIRST_RANDOM} | {r['first_best']:.4f} | {r['first_epochs']} | — | — | "
               f"{r['first_best'] - target:+.4f} | — |")
out.append("")

# The claim, judged per seed: hyperband's best reaches random's final best having spent at
# most a third of random search's epochs.
held = [s for s in seeds if runs[("hyperband", s)]["reach"] is not None
        and runs[("hyperband", s)]["reach"] <= third]
out.append("## The claim")
out.append("")
out.append(f"\"Hyperband reaches random search's final best with at most a third of its epoch "
           f"budget\" (≤ {third:.0f} epochs): held on {len(held)} of {len(seeds)} seeds"
           + (f" ({', '.join(map(str, held))})" if held else "") + ".")
hb = [runs[("hyperband", s)] for s in seeds]
gaps = [runs[("hyperband", s)]["best"] - runs[("random", s)]["best"] for s in seeds]
out.append(f"Hyperband's final best minus random search's, per seed: "
           f"{', '.join(f'{g:+.4f}' for g in gaps)} (mean {statistics.mean(gaps):+.4f}; one "
           f"validation image = {1 / VAL_ROWS:.5f}), with "
           f"{statistics.mean(r['epochs'] for r in hb) / rand_epochs:.2f} of random search's epochs.")
eq = [runs[("hyperband", s)]["best"] - runs[("random", s)]["first_best"] for s in seeds]
out.append(f"At equal budget (hyperband's {statistics.mean(r['epochs'] for r in hb):.0f} epochs against random search's first {FIRST_RANDOM} "
           f"trials, {FIRST_RANDOM * 27} epochs), hyperband minus random, per seed: "
           f"{', '.join(f'{g:+.4f}' for g in eq)} (mean; better/equal/worse: {paired_text(eq)}).")
out.append("")

# The chosen configurations retrained and scored on the test images (bench_search.sh's retest).
if args.raw:
    import os
    labels = ORDER + [f"random{FIRST_RANDOM}"]
    names = {f"random{FIRST_RANDOM}": f"random, first {FIRST_RANDOM} trials only"}
    test = {}
    for lab in labels:
        for s in seeds:
            path = os.path.join(args.raw, f"{lab}-{s}.test.json")
            if os.path.exists(path):
                with open(path) as f:
                    test[(lab, s)] = json.load(f)["test_accuracy"]
    if all((lab, s) in test for lab in labels for s in seeds):
        out.append("## The chosen configurations on the test set")
        out.append("")
        out.append("Each search's choice (its best completed trial) trained again alone, to the last bit "
                   "as in the search, and scored on the 10,000 test images no search saw. Unlike the best "
                   "validation score, which is the maximum of many noisy measurements (more trials, "
                   "higher maximum), this says how good the chosen model is.")
        out.append("")
        out.append("| strategy | test accuracy of its choice (mean ± std) | minus random's, same seed "
                   "(mean; better/equal/worse) | per seed |")
        out.append("|---|---|---|---|")
        for lab in labels:
            xs = [test[(lab, s)] for s in seeds]
            vs = "—" if lab == "random" else paired_text([test[(lab, s)] - test[("random", s)] for s in seeds])
            out.append(f"| {names.get(lab, lab)} | {mean_std(xs, '{:.4f}')} | {vs} | "
                       f"{', '.join(f'{x:.4f}' for x in xs)} |")
        out.append("")
        out.append(f"Standard error of one test accuracy (10,000 images) at 0.87: about "
                   f"{(0.87 * 0.13 / 10000) ** 0.5:.4f}.")
        out.append("")
    else:
        missing = [f"{lab}-{s}" for lab in labels for s in seeds if (lab, s) not in test]
        out.append(f"(No test-set comparison: retests missing for {', '.join(missing)}.)")
        out.append("")
out.append(f"nnctl: {args.nnctl}.")
print("\n".join(out))
