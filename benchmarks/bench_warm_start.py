"""Weekly refresh benchmark: does a warm start reach the cold model's quality in a fraction of its time?

    python benchmarks/bench_warm_start.py                        # ../shared/bench
    python benchmarks/bench_warm_start.py --train .data/bench-demo/train.parquet --heldout .data/bench-demo/heldout.parquet

Last week: a cold training (the defaults) on the first ``--first-share`` of the posts (file order).
This week: all posts (new tags included), trained (a) cold with the defaults and (b) warm from last
week's model with 1..``--max-warm-epochs`` epochs, continuing its Adagrad state, as the train stage
does (its default: warm_epochs). ``--no-adagrad-state`` shows a warm start without that state (a
model saved without adagrad.npy): lr * warm_lr_scale and fresh accumulators. Quality is the held-out metric on the same
held-out posts; seconds cover everything after reading the file: vocabulary, encoding, the warm
start's initial matrix, training (kernels loaded once beforehand, as in a long-lived worker).
``kept top-10`` = the share of a tag's 10 nearest tags in last week's model that are still among
its 10 nearest (1,000 sampled tags): how comparable the refreshed space stays.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"

from bench_trainer import fmt_table  # noqa: E402


def train_on(table: pa.Table, cfg, previous=None):
    """(vocabulary, vectors, seconds, warm summary) for one training, timed from the table."""
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table
    from topictensor.train.warm import warm_init

    started = time.perf_counter()
    vocab, posts = encode_table(table, cfg.min_count)
    init, adagrad, summary = None, None, None
    if previous is not None:
        warm = warm_init(posts, vocab, previous, np.random.default_rng([cfg.seed, 1]), cfg.init_sd)
        init, adagrad, summary = warm.vectors, warm.adagrad, warm.summary()
    result = train(posts, vocab, cfg, init_vectors=init, init_adagrad=adagrad)
    return vocab, result, time.perf_counter() - started, summary


def kept_neighbours(old_vocab, old_vecs, new_vocab, new_vecs, k: int = 10, sample: int = 1000) -> float:
    common = [t for t in old_vocab.tags.tolist() if t in new_vocab.index]
    rng = np.random.default_rng(0)
    probe = rng.choice(len(common), size=min(sample, len(common)), replace=False)
    common_arr = np.array(common, dtype=object)

    def top(vocab, vecs, tags):
        rows = np.array([vocab.index[t] for t in common])
        unit = vecs[rows] / np.maximum(np.linalg.norm(vecs[rows], axis=1, keepdims=True), 1e-12)
        sims = unit[probe] @ unit.T
        sims[np.arange(len(probe)), probe] = -np.inf
        return np.argpartition(-sims, k, axis=1)[:, :k]

    a, b = top(old_vocab, old_vecs, common_arr), top(new_vocab, new_vecs, common_arr)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(DEFAULT_BENCH / "train.parquet"))
    ap.add_argument("--heldout", default=str(DEFAULT_BENCH / "heldout.parquet"))
    ap.add_argument("--first-share", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-warm-epochs", type=int, default=4)
    ap.add_argument("--no-adagrad-state", action="store_true", help="warm start without the saved optimiser state")
    args = ap.parse_args()

    from topictensor.quality import quality
    from topictensor.train.params import TrainConfig
    from topictensor.train.blocks import compile_kernels
    from topictensor.train.warm import WarmStart

    columns = [c for c in ("tags", "weights") if c in pq.read_schema(args.train).names]
    table = pq.read_table(args.train, columns=columns)
    heldout = pq.read_table(args.heldout, columns=["tags"]).column("tags").to_pylist()
    first = table.slice(0, int(table.num_rows * args.first_share))
    cfg = TrainConfig(threads=args.threads)
    compile_kernels()

    def score(vocab, vecs):
        return quality((vecs, vocab.index), heldout).quality

    v1, r1, s1, _ = train_on(first, cfg)
    m1 = r1.vectors
    q1 = score(v1, m1)
    previous = WarmStart(v1.tags.tolist(), m1, {"week": "last"}, adagrad=None if args.no_adagrad_state else r1.adagrad)
    vc, rc, sc, _ = train_on(table, cfg)
    mc = rc.vectors
    qc = score(vc, mc)
    rows = [
        {"model": f"last week: cold, {cfg.epochs} epochs, first {args.first_share:.0%}", "quality": q1,
         "seconds": s1, "of cold": None, "kept top-10": None, "new tags": None},
        {"model": f"this week: cold, {cfg.epochs} epochs", "quality": qc, "seconds": sc, "of cold": 1.0,
         "kept top-10": kept_neighbours(v1, m1, vc, mc), "new tags": None},
    ]
    reached = None
    for epochs in range(1, args.max_warm_epochs + 1):
        lr = cfg.lr * cfg.warm_lr_scale if args.no_adagrad_state else cfg.lr
        vw, rw, sw, summary = train_on(table, cfg.model_copy(update={"epochs": epochs, "lr": lr}), previous)
        mw = rw.vectors
        qw = score(vw, mw)
        default = " (default)" if epochs == cfg.warm_epochs else ""
        rows.append({"model": f"this week: warm, {epochs} epoch{'s' if epochs > 1 else ''}{default}", "quality": qw,
                     "seconds": sw, "of cold": sw / sc, "kept top-10": kept_neighbours(v1, m1, vw, mw),
                     "new tags": f"{summary['tags_new']} ({summary['tags_new_placed']} placed)"})
        if reached is None and qw >= qc:
            reached = (epochs, sw)
    print(f"corpus {args.train} ({table.num_rows:,} posts; last week {first.num_rows:,}); held-out "
          f"{args.heldout}; threads {args.threads}; defaults otherwise; warm start "
          f"{'WITHOUT' if args.no_adagrad_state else 'with'} the saved Adagrad state")
    print(fmt_table(rows, ["model", "quality", "seconds", "of cold", "kept top-10", "new tags"]))
    if reached:
        print(f"warm reaches the cold model's quality ({qc:.4f}) after {reached[0]} epoch(s): "
              f"{reached[1]:.2f} s = {reached[1] / sc:.0%} of the cold {sc:.2f} s")
    else:
        print(f"warm did not reach the cold model's quality ({qc:.4f}) within {args.max_warm_epochs} epochs")


if __name__ == "__main__":
    main()
