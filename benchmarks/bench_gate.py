"""How much of the champion/challenger difference is noise, and what each compared version costs.

On a store with at least two versions (``make demo`` leaves two), for production and every other
version: quality on production's held-out posts under the gate's rule (a post's tags are those any
compared model knows; unknown tags count against a model), the paired bootstrap spread of the
difference (posts resampled with replacement, both models on the same resample), and the seconds
one more compared version costs the evaluate stage. Prints a table::

    .venv/bin/python benchmarks/bench_gate.py [--resamples 1000]

The gate's ``tolerance`` should sit well above the noise of a difference on the same posts (else
it rejects good models by chance) and below the drops that matter.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.quality import universe_post_scores
from topictensor.registry import Registry
from topictensor.stages.split import SplitPosts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    registry = Registry(load_config().open_store())
    production = registry.production()
    versions = [m["version"] for m in registry.list_versions()]
    if production is None or len(versions) < 2:
        raise SystemExit("needs a store with a production model and another version (run `make demo` first)")
    posts = SplitPosts(registry.store, registry.artifact(production, "split")).table("heldout", ["tags"])
    posts = [p for p in posts.column("tags").to_pylist() if p]
    models = {v: Embeddings.load(registry.artifact(v, "train").path("embeddings.parquet")) for v in versions}
    universe = set().union(*(set(e.index) for e in models.values()))
    scored, seconds = {}, {}
    for vid, emb in models.items():
        started = time.perf_counter()
        scored[vid] = universe_post_scores(emb, posts, universe)[:2]  # the evaluate stage's rule, per post
        seconds[vid] = time.perf_counter() - started
    hits_p, slots = scored[production]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(slots), size=(args.resamples, len(slots)))
    print(f"store {registry.store.uri}: production {production}, {len(slots):,} held-out posts scored, "
          f"{len(universe):,} tags in the union of the vocabularies, {args.resamples} paired bootstrap resamples")
    print(f"{'version':<14}{'quality':>9}{'vs prod':>10}{'spread (sd)':>13}{'95% interval':>22}{'seconds':>9}")
    for vid in versions:
        hits = scored[vid][0]
        q = hits.sum() / slots.sum()
        d = (hits[draws].sum(axis=1) - hits_p[draws].sum(axis=1)) / slots[draws].sum(axis=1)
        lo, hi = np.percentile(d, [2.5, 97.5])
        mark = " (production)" if vid == production else ""
        print(f"{vid:<14}{q:>9.4f}{q - hits_p.sum() / slots.sum():>+10.4f}{d.std():>13.4f}"
              f"{f'{lo:+.4f} .. {hi:+.4f}':>22}{seconds[vid]:>9.2f}{mark}")


if __name__ == "__main__":
    main()
