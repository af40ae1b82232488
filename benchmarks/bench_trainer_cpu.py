"""CPU seconds of the trainer's epochs in one process, for comparing two versions of the kernels.

    python benchmarks/bench_trainer_cpu.py --mode pair --repeat 6

Trains the bench corpus (``../shared/bench``) single-threaded and deterministic ``--repeat`` times
after one warm-up training (the kernels loaded or compiled), each timed with ``time.thread_time()``
(the CPU time of the thread that runs the kernels: steadier than wall time on a shared machine),
and prints the best and the median. Run two checkouts alternately, several processes each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

DEFAULT_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(DEFAULT_BENCH / "train.parquet"))
    ap.add_argument("--mode", default="skipgram", choices=["skipgram", "cbow", "pair"])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=6)
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from topictensor.train.params import TrainConfig
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table

    vocab, posts = encode_table(pq.read_table(args.train, columns=["tags"]))
    cfg = TrainConfig(dim=args.dim, epochs=args.epochs, deterministic=True, mode=args.mode)
    train(posts, vocab, cfg)  # warm-up: the kernels compiled or loaded
    seconds = []
    for _ in range(args.repeat):
        started = time.thread_time()
        train(posts, vocab, cfg)
        seconds.append(time.thread_time() - started)
    print(f"{args.mode}, dim {args.dim}, {args.epochs} epochs, 1 thread: cpu best {min(seconds):.3f} s, "
          f"median {statistics.median(seconds):.3f} s over {args.repeat}")


if __name__ == "__main__":
    main()
