"""Each trainer lever against the peers and the count table, per corpus shape, in one run.

    python benchmarks/corpora.py --out .data/shapes          # the generated shapes, once
    nice -n 10 python benchmarks/bench_levers.py --corpora bench,.data/shapes/short,.data/shapes/generic,.data/shapes/zipf
    python benchmarks/bench_levers.py --levers defaults,negatives-25 --corpora bench

For every corpus: the peers (gensim, PPMI-SVD, the count table) once, then our trainer with each
lever (a named set of TrainConfig overrides, ``LEVERS`` below, or ``--lever name:field=value,...``),
every system in its own child process (``bench_trainer.spawn``). One table per corpus, then a
summary: quality as a share of the count table's, per lever and corpus, with topic precision@10
and the spam share of themes (``bench_trainer.planted_metrics``) and our tags/s relative to
gensim's in the same run (gensim is the stable reference on a machine others load too).
``bench`` stands for ../shared/bench. The load average is printed with every table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_trainer  # noqa: E402

# Each lever changes the defaults in the fields given (measured in the README's lever table).
LEVERS: dict[str, dict] = {
    "defaults": {},
    "neg-freq-0.75-mix-0.2": {"neg_power": 0.75, "neg_mix": 0.2},
    "separate-rhs": {"separate_rhs": True},
    "subsample-1e-3": {"subsample": 1e-3},
    "rare-boost-2": {"rare_boost": 2, "rare_count": 20},
    "init-ppmi-svd": {"init": "ppmi_svd"},
    "dim-128": {"dim": 128},
    "epochs-10": {"epochs": 10},
    "negatives-25": {"negatives": 25},
    "margin-0.05": {"margin": 0.05},  # the previous default (StarSpace's)
    "margin-0.2": {"margin": 0.2},
    "margin-0.1-negatives-15": {"margin": 0.1, "negatives": 15},
    "softmax-t0.07": {"loss": "softmax", "temperature": 0.07},
    "softmax-t0.1": {"loss": "softmax", "temperature": 0.1},
    "length-power-0.5": {"length_power": 0.5},
    "length-power-1": {"length_power": 1.0},
}


def corpus_paths(spec: str) -> tuple[str, str, str]:
    d = bench_trainer.DEFAULT_BENCH if spec == "bench" else Path(spec)
    return (spec if spec == "bench" else d.name), str(d / "train.parquet"), str(d / "heldout.parquet")


def parse_lever(text: str) -> tuple[str, dict]:
    if ":" not in text:
        if text not in LEVERS:
            raise SystemExit(f"unknown lever {text!r}; known: {', '.join(LEVERS)} (or name:field=value,...)")
        return text, LEVERS[text]
    name, _, body = text.partition(":")
    over = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        try:
            over[key] = json.loads(value)
        except json.JSONDecodeError:
            over[key] = value
    return name, over


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="bench", help="comma-separated: bench or directories with train/heldout.parquet")
    ap.add_argument("--levers", default=",".join(LEVERS), help="comma-separated lever names (see LEVERS)")
    ap.add_argument("--lever", action="append", default=[], help="an extra lever, name:field=value,...")
    ap.add_argument("--peers", default="gensim,ppmi-svd,count")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5, help="gensim's epochs (ours: its default unless a lever sets it)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write every row here (JSON lines)")
    args = ap.parse_args()

    levers = [parse_lever(x) for x in args.levers.split(",") if x] + [parse_lever(x) for x in args.lever]
    summary: dict[str, dict[str, dict]] = {}
    sink = open(args.json, "w") if args.json else None
    for spec in args.corpora.split(","):
        name, train, heldout = corpus_paths(spec)
        run = argparse.Namespace(train=train, heldout=heldout, dim=args.dim, epochs=args.epochs, threads=args.threads)
        rows = []
        for peer in filter(None, args.peers.split(",")):
            rows.append(bench_trainer.spawn(peer, run, {}))
            print(f"  {name}: {peer} done", file=sys.stderr, flush=True)
        for lever, over in levers:
            row = bench_trainer.spawn("ours", run, over)
            row["system"] = f"ours {lever}"
            rows.append(row)
            print(f"  {name}: {lever} done", file=sys.stderr, flush=True)
        by = {r["system"]: r for r in rows}
        count = by.get("count")
        gensim = by.get("gensim")
        for r in rows:
            if count:
                r["of_count"] = r["quality"] / count["quality"]
            if gensim and r.get("tags_per_s") and r["system"].startswith("ours"):
                r["tags_per_s_vs_gensim"] = r["tags_per_s"] / gensim["tags_per_s"]
            if sink:
                sink.write(json.dumps({"corpus": name, **r}) + "\n")
        summary[name] = {r["system"]: r for r in rows}
        print(f"\n### {name} ({train}); dim {args.dim}, {args.threads} threads; load average "
              f"{os.getloadavg()[0]:.2f}\n")
        cols = ["system", "quality", "of_count", "topic_p10", "spam_share", "seconds", "cpu_seconds", "tags_per_s",
                "tags_per_s_vs_gensim"]
        print(bench_trainer.fmt_table(rows, [c for c in cols if any(c in r for r in rows)]), flush=True)
    if sink:
        sink.close()

    names = list(summary)
    systems = [s for s in next(iter(summary.values()))]
    print("\n### quality as a share of the count table's (topic precision@10 / spam share)\n")
    table = []
    for s in systems:
        row = {"system": s}
        for n in names:
            r = summary[n].get(s, {})
            if "of_count" in r:
                row[n] = (f"{r['of_count']:.1%}" + (f" ({r['topic_p10']:.3f} / {r['spam_share']:.3f})"
                                                    if "topic_p10" in r else ""))
        table.append(row)
    print(bench_trainer.fmt_table(table, ["system"] + names))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
