"""Quality and speed of the trainer on the shared bench corpus (peer figures in its README).

Usage: python benchmarks/bench_trainer_quick.py [--set field=value ...] [-v] [--bench DIR]
(defaults: dim 100, epochs 5, threads 2; every other field from TrainConfig).

What moved quality (2026-11-27, when the margin default was still 0.05; 2 shared vCPUs with other jobs running, so seconds are noisy).
Three corpora so that defaults are not tuned to one instance: bench = /work/shared/bench;
synth2 / synth3 = topictensor.synth (seed 11, 3,000 bloggers / seed 23, 6,000 bloggers, 80
spammers), tags used by >= 3 bloggers, 5 % of posts held out. References on them: PPMI-SVD
0.188 / 0.207 / 0.171, PPMI rows 0.242 / 0.211 / 0.177, gensim (sg, window 30, neg 5, 5
epochs) 0.151 / 0.143 / 0.074. Each row changes the final defaults in one field. Rows with
several values were partly measured before skipgram switched to one random direction per pair
(the defaults then scored 0.283 / 0.256 / 0.236 at twice the time); compare within a row.

| change from defaults                       | bench  | synth2 | synth3 | note                    |
|--------------------------------------------|--------|--------|--------|-------------------------|
| defaults (skipgram, hinge, neg_power 0)    | 0.281  | 0.255  | 0.236  | ~4-5 s on bench         |
| neg_power 1.0 (StarSpace: negatives ~ data)| 0.163  | 0.160  | 0.189  | the one big lever       |
| neg_power 0.75 (word2vec)                  | 0.215  | 0.217  | 0.211  |                         |
| neg_power 0.5                              | 0.254  | 0.242  | 0.223  |                         |
| neg_power 0.25                             | 0.272  | 0.251  | 0.231  |                         |
| both_directions (every ordered pair)       | 0.284  | 0.257  | 0.235  | 2x the time             |
| margin 0.1 / 0.2                           | 0.290 / 0.284 | 0.254 / 0.243 | 0.236 / - | mixed then; 0.1 since issue 16 (README, bench_levers.py) |
| negatives 5 / 15 / 20 / 25                 | 0.269 / 0.286 / 0.296 / 0.299 | 0.255 / 0.255 / 0.257 / 0.258 | - | cost ~ linear |
| epochs 8 / 10                              | 0.287 / 0.294 | 0.256 / 0.257 | 0.235 / 0.236 |       |
| loss softmax, temperature 0.1 / 0.05 / 0.3 | 0.284 / - / 0.194 | 0.251 / - / 0.215 | 0.233 | 2x slower |
| separate_rhs (output = unit(L) + unit(R))  | 0.226  | 0.207  | 0.188  |                         |
| dim 50 / 128                               | 0.275 / 0.282 | 0.256 / 0.257 | 0.236 / 0.236 |    |
| lr 0.003 / 0.03, adagrad off (lr 0.001)    | 0.285 / 0.279 / 0.287 | 0.257 / 0.256 / 0.254 | 0.237 / 0.237 / 0.236 | flat |
| init_sd 0.01 / 0.1, lr_decay off           | 0.287 / 0.273 / 0.287 | 0.255 / 0.249 / 0.253 | 0.237 / 0.233 / 0.231 | flat |
| subsample 1e-2 / 1e-3 / 1e-4               | 0.283 / 0.283 / 0.255 | 0.256 / 0.248 / 0.221 | - | off by default |
| max_context 5 / 10 / 15                    | 0.269 / 0.282 / 0.282 | 0.250 / 0.253 / 0.254 | 0.219 / 0.231 / 0.230 | cheaper long posts |
| mode pair (5 / 25 epochs)                  | 0.243 / 0.269 | 0.239 / 0.245 | 0.212 / 0.213 | ~1 s           |
| mode cbow (5 / 25 epochs)                  | 0.207 / 0.203 | 0.203 / 0.205 | 0.128 / 0.127 | ~1 s           |
| mode cbow, neg_power 1 (StarSpace trainMode 1) | 0.120 | 0.134 | 0.076 |                     |

Head to head in one process, same load (/work/shared/bench, dim 100, 5 epochs, 2 threads):
gensim 7.7-9.5 s, this trainer 4.3-5.0 s (quality 0.279-0.281).
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
from topictensor.train.vocab import encode_table

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
    vocab, posts = encode_table(pq.read_table(f"{args.bench}/train.parquet", columns=["tags"]), cfg.min_count)
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
