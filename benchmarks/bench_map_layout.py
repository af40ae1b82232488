"""What the clusters stage pays for the explorer's map (``topictensor.topics.map``): seconds to lay
out N tags with the stage's t-SNE (one thread), on planted vectors (``groups`` themes of noisy
unit vectors around random directions), so ``clusters.explorer_map_tags`` is chosen on a measured
cost. A table to read, not a timed test.

    .venv/bin/python benchmarks/bench_map_layout.py [--sizes 500,1000,2000,4000] [--dim 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def planted(n: int, dim: int, groups: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    vectors = centres[rng.integers(groups, size=n)] + rng.normal(scale=0.6, size=(n, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    from topictensor.topics.map import layout

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"t-SNE layout (one thread), planted vectors: dim {args.dim}, {args.groups} groups, "
          f"{args.repeats} runs each\n")
    print("| tags | median s | min s | max s |")
    print("|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = planted(n, args.dim, args.groups, seed=n)
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            layout(vectors)
            times.append(time.perf_counter() - started)
        print(f"| {n:,} | {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
