"""Quality and speed of the trainer on the shared bench corpus (peer figures in its README).

Usage: python benchmarks/bench_trainer_quick.py [--mode skipgram] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import pyarrow.parquet as pq

from topictensor.quality import quality
from topictensor.train.params import TrainConfig
from topictensor.train.trainer import train
from topictensor.train.vocab import build_vocabulary_arrow, encode_arrow

BENCH = "/work/shared/bench"


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[], help="TrainConfig field=value")
    ap.add_argument("--bench", default=BENCH)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if args.v:
        logging.basicConfig(level=logging.INFO)
    overrides = {"dim": 100, "epochs": 5, "threads": 2}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = _value(v)
    cfg = TrainConfig(**overrides)
    t0 = time.perf_counter()
    col = pq.read_table(f"{args.bench}/train.parquet", columns=["tags"]).column("tags")
    vocab = build_vocabulary_arrow(col, min_count=cfg.min_count)
    posts = encode_arrow(col, vocab)
    t_enc = time.perf_counter() - t0
    res = train(posts, vocab, cfg)
    held = pq.read_table(f"{args.bench}/heldout.parquet", columns=["tags"]).column("tags").to_pylist()
    t1 = time.perf_counter()
    q = quality((res.vectors, vocab.index), held)
    t_q = time.perf_counter() - t1
    train_s = sum(h["seconds"] for h in res.history)
    print(json.dumps({
        "set": {k: v for k, v in overrides.items()},
        "quality": round(q.quality, 4),
        "train_s": round(train_s, 2),
        "total_s": round(res.seconds, 2),
        "encode_s": round(t_enc, 2),
        "quality_s": round(t_q, 2),
        "loss": [round(h["loss"], 4) for h in res.history],
    }))


if __name__ == "__main__":
    main()
