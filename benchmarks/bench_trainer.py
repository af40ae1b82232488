"""Trainer benchmark: our StarSpace trainer against gensim's Word2Vec, a PPMI + SVD baseline and
the count table (each tag's neighbours ranked by raw co-occurrence count in training: the
memorising reference, no embedding), on the same split, the same threads, in one run. Prints one
table. When the corpus has a planted truth (``benchmarks/corpora.py``: a truth.json beside the
train file, or ../shared/bench's tag names), every system also gets topic precision@10 and the
spam share of the themes' top-20 tags.

    make bench                                   # ../shared/bench, then the demo corpus
    python benchmarks/bench_trainer.py --train T.parquet --heldout H.parquet --threads 2

Each system runs in its own child process so that its peak memory (max RSS) is its own.
``seconds`` (wall) and ``cpu_seconds`` (all threads) run from the posts in memory to the vectors, for every system alike: gensim's
vocabulary scan and training; our vocabulary, encoding and training. Library start-up is not
counted for either (gensim's import; numba's first call, which loads our compiled kernels from
the on-disk cache: ~0.3-0.5 s per process, printed as ``startup``).
Quality is the source project's held-out metric (``topictensor.quality``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"


def read_tags(path: str) -> list[list[str]]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["tags"]).column("tags").to_pylist()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- the systems (each returns vectors, tag index, training seconds) -----------------------

def run_ours(train_path: str, args: argparse.Namespace, overrides: dict):
    import pyarrow.parquet as pq

    from topictensor.train.params import TrainConfig
    from topictensor.train.blocks import compile_kernels
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table

    cfg = TrainConfig(**{"dim": args.dim, "epochs": args.epochs, "threads": args.threads, **overrides})
    table = pq.read_table(train_path, columns=[c for c in ("tags", "weights") if c in pq.read_schema(train_path).names])
    args.startup = compile_kernels()
    args.cpu_started = time.process_time()
    started = time.perf_counter()
    vocab, posts = encode_table(table, cfg.min_count)
    result = train(posts, vocab, cfg)
    seconds = time.perf_counter() - started
    args.loop_seconds = sum(epoch["seconds"] for epoch in result.history)  # the part threads share
    return result.vectors, vocab.index, seconds, posts.n_occurrences * cfg.epochs


def run_gensim(train_path: str, args: argparse.Namespace, overrides: dict):
    from gensim.models import Word2Vec

    posts = [p for p in read_tags(train_path) if len(p) >= 2]
    window = max(len(p) for p in posts)
    args.cpu_started = time.process_time()
    started = time.perf_counter()
    model = Word2Vec(sentences=posts, vector_size=args.dim, window=window, sg=1, negative=5, min_count=1,
                     workers=args.threads, epochs=args.epochs, seed=1)
    seconds = time.perf_counter() - started
    index = {tag: i for i, tag in enumerate(model.wv.index_to_key)}
    return model.wv.vectors, index, seconds, sum(len(p) for p in posts) * args.epochs


def run_ppmi_svd(train_path: str, args: argparse.Namespace, overrides: dict):
    """Count-based: post-level co-occurrence, PPMI with context smoothing 0.75, truncated SVD."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.utils.extmath import randomized_svd

    from topictensor.quality import CooccurrenceCounts

    posts = read_tags(train_path)
    args.cpu_started = time.process_time()
    started = time.perf_counter()
    table = CooccurrenceCounts.from_posts(posts)  # post-level pair counts: the count reference's own
    index, n = table.index, len(table.index)
    counts = table.counts.astype(np.float64)
    total = counts.sum()
    row_sum = np.asarray(counts.sum(axis=1)).ravel()
    ctx = np.asarray(counts.sum(axis=0)).ravel() ** 0.75
    ctx = ctx / ctx.sum()
    coo = counts.tocoo()
    pmi = np.log((coo.data / total) / ((row_sum[coo.row] / total) * ctx[coo.col]))
    keep = pmi > 0
    ppmi = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n))
    u, s, _ = randomized_svd(ppmi, n_components=min(args.dim, n - 1), random_state=1)
    vectors = (u * np.sqrt(s)).astype(np.float32)
    return vectors, index, time.perf_counter() - started, 0


def run_count(train_path: str, args: argparse.Namespace, overrides: dict):
    """The memorising reference: no vectors; each tag's neighbours are the tags it co-occurred
    with most often in training (``topictensor.quality.CooccurrenceCounts``)."""
    from topictensor.quality import CooccurrenceCounts

    posts = read_tags(train_path)
    args.cpu_started = time.process_time()
    started = time.perf_counter()
    counts = CooccurrenceCounts.from_posts(posts)
    return counts, counts.index, time.perf_counter() - started, 0


SYSTEMS = {"ours": run_ours, "gensim": run_gensim, "ppmi-svd": run_ppmi_svd, "count": run_count}


def theme_tops(model, truth: dict, bonus=None) -> dict:
    """Each planted theme's top-20 tags (theme name -> list), for vectors (a ``(vectors, index)``
    pair; ``bonus`` per row added to the cosine, see ``quality.theme_top_tags``) or the count table."""
    from topictensor import quality as qm

    if isinstance(model, qm.CooccurrenceCounts):
        return {name: qm.count_theme_top_tags(model, dict.fromkeys(seeds, 1.0), 20)
                for name, seeds in truth["themes"].items()}
    return {name: qm.theme_top_tags(model, dict.fromkeys(seeds, 1.0), 20, bonus=bonus)
            for name, seeds in truth["themes"].items()}


def planted_metrics(model, truth: dict, bonus=None, theme_bonus=None) -> dict:
    """topic precision@10 and the spam share of the themes' top-20 tags, for vectors (a
    ``(vectors, index)`` pair) or the count table. For vectors, ``bonus`` (one number per row) is
    added to the cosine of the neighbour ranking (precision) and ``theme_bonus`` to the themes'."""
    from topictensor import quality as qm

    tops = theme_tops(model, truth, theme_bonus).values()
    if isinstance(model, qm.CooccurrenceCounts):
        precision = qm.count_topic_precision(model, truth["topic_of"], 10)
    else:
        precision = qm.topic_precision(model, truth["topic_of"], 10, bonus=bonus)
    return {"topic_p10": precision, "spam_share": qm.spam_share(tops, set(truth["spam"]))}


def child(args: argparse.Namespace) -> None:
    """Run one system and print one JSON line."""
    from topictensor.quality import CooccurrenceCounts, count_ranking_quality, quality

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpora import truth_for

    overrides = json.loads(args.overrides)
    model, index, seconds, tags_seen = SYSTEMS[args.system](args.train, args, overrides)
    cpu_seconds = time.process_time() - args.cpu_started
    heldout = read_tags(args.heldout)
    if isinstance(model, CooccurrenceCounts):
        q, dim = count_ranking_quality(model, heldout), None
    else:
        model = (model, index)
        q, dim = quality(model, heldout), int(model[0].shape[1])
    truth = truth_for(Path(args.train).parent, read_tags(args.train))
    print("RESULT " + json.dumps({
        "system": args.system, "quality": q.quality, "seconds": seconds,
        "tags_per_s": tags_seen / seconds if tags_seen and seconds else None,
        "peak_mb": peak_rss_mb(), "dim": dim, "startup": getattr(args, "startup", None),
        "cpu_seconds": cpu_seconds, "loop_seconds": getattr(args, "loop_seconds", None),
        **(planted_metrics(model, truth) if truth else {}),
    }))


def spawn(system: str, args: argparse.Namespace, overrides: dict, threads: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--system", system, "--train", args.train,
           "--heldout", args.heldout, "--dim", str(args.dim), "--epochs", str(args.epochs),
           "--threads", str(threads or args.threads), "--overrides", json.dumps(overrides)]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - started
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"{system} failed (exit {out.returncode})")
    return {**json.loads(lines[-1][len("RESULT "):]), "wall": wall}


def fmt_table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, float):
            return f"{v:.4f}" if v < 10 else f"{v:,.1f}"
        return str(v)

    grid = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(g[i]) for g in grid) for i in range(len(columns))]
    out = ["| " + " | ".join(g[i].ljust(widths[i]) for i in range(len(columns))) + " |" for g in grid]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def parse_sets(items: list[str]) -> dict:
    """``--set key=value`` options as TrainConfig overrides (a value is JSON when it parses, else a string)."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(DEFAULT_BENCH / "train.parquet"))
    ap.add_argument("--heldout", default=str(DEFAULT_BENCH / "heldout.parquet"))
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5, help="for gensim (ours uses its own default unless --set epochs=N)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="our trainer's field=value")
    ap.add_argument("--systems", default="ours,gensim,ppmi-svd,count")
    ap.add_argument("--scaling", action="store_true", help="also time ours on 1 thread vs --threads")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each side of --scaling")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    overrides = parse_sets(args.set)
    print(f"corpus: {args.train} / {args.heldout}; dim {args.dim}; threads {args.threads}; "
          f"ours: {overrides or 'defaults'}", flush=True)
    rows = []
    for system in args.systems.split(","):
        rows.append(spawn(system, args, overrides if system == "ours" else {}))
        print(f"  {system}: done", file=sys.stderr, flush=True)
    by = {r["system"]: r for r in rows}
    if "count" in by:
        for r in rows:
            r["of_count"] = r["quality"] / by["count"]["quality"]
    if "ours" in by and "gensim" in by:
        rows.append({"system": "ours / gensim", "quality": by["ours"]["quality"] / by["gensim"]["quality"],
                     "seconds": by["ours"]["seconds"] / by["gensim"]["seconds"],
                     "cpu_seconds": by["ours"]["cpu_seconds"] / by["gensim"]["cpu_seconds"],
                     "tags_per_s": by["ours"]["tags_per_s"] / by["gensim"]["tags_per_s"],
                     "peak_mb": by["ours"]["peak_mb"] / by["gensim"]["peak_mb"]})
    columns = ["system", "quality", "of_count", "topic_p10", "spam_share", "seconds", "cpu_seconds",
               "tags_per_s", "peak_mb", "dim", "startup"]
    print(fmt_table(rows, [c for c in columns if any(c in r for r in rows)]))
    print("of_count = quality / the count table's; topic_p10 = share of a topic tag's 10 nearest tags in its "
          "planted topic; spam_share = planted spam among each theme's top-20 tags (theme = its topic's 3 most "
          "frequent tags); seconds = wall time from the posts in memory to the vectors (count: to the count "
          "table); cpu_seconds = CPU time of all the system's threads in that span (independent of other load "
          "on the machine); startup = loading our compiled kernels, once per process (not counted); load "
          f"average at the end {os.getloadavg()[0]:.2f}")
    if args.scaling:
        # The epochs of two runs of the same config differ by up to 1.5x on this shared VM, so
        # each side runs --repeat times in fresh processes; best and median are both printed.
        ones = [spawn("ours", args, overrides, threads=1) for _ in range(args.repeat)]
        manys = [spawn("ours", args, overrides) for _ in range(args.repeat)]
        for what, key in (("end to end", "seconds"), ("training epochs alone", "loop_seconds")):
            one = sorted(r[key] for r in ones)
            many = sorted(r[key] for r in manys)
            print(f"\nours, {what}, {args.repeat} runs each: 1 thread best {one[0]:.2f} s / median "
                  f"{statistics.median(one):.2f} s; {args.threads} threads best {many[0]:.2f} s / median "
                  f"{statistics.median(many):.2f} s; speed-up {one[0] / many[0]:.2f}x best, "
                  f"{statistics.median(one) / statistics.median(many):.2f}x median", end="")
        print(f"\nquality: 1 thread {ones[0]['quality']:.4f}, {args.threads} threads "
              + ", ".join(f"{r['quality']:.4f}" for r in manys))


if __name__ == "__main__":
    main()
