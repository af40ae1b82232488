"""Cost of "did you mean" (topictensor.search.themes.TagSuggester.did_you_mean) on large vocabularies.

An unknown tag is looked up by prefix (bisect) and by edit distance (one vectorised dynamic
programme per tag length). Vocabulary: N random lowercase tags of 3..20 letters with Zipf-like
counts; queries: vocabulary tags with one letter swapped, dropped or changed, and random words.
Prints the first call (builds the per-length tables) and the median/p90 of the rest.

    .venv/bin/python benchmarks/bench_suggest.py --tags 100000 1000000
    .venv/bin/python benchmarks/bench_suggest.py --tags 1000000 --edit-vocabulary 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from topictensor.embeddings import Embeddings  # noqa: E402
from topictensor.search.themes import TagSuggester  # noqa: E402

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def vocabulary(rng, n: int) -> list[str]:
    lengths = np.clip(rng.poisson(9, size=n * 2), 3, 20)
    words = dict.fromkeys("".join(rng.choice(LETTERS, size=k)) for k in lengths)
    return list(words)[:n]


def typos(rng, words: list[str], n: int) -> list[str]:
    out = []
    for w in rng.choice(np.asarray(words, dtype=object), size=n):
        i = int(rng.integers(0, len(w) - 1))
        kind = len(out) % 4
        if kind == 0:
            out.append(w[:i] + w[i + 1] + w[i] + w[i + 2:])  # swap
        elif kind == 1:
            out.append(w[:i] + w[i + 1:])  # drop
        elif kind == 2:
            out.append(w[:i] + str(rng.choice(LETTERS)) + w[i + 1:])  # change
        else:
            out.append("".join(rng.choice(LETTERS, size=int(rng.integers(4, 14)))))  # random word
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--edit-vocabulary", type=int, default=10**9,
                        help="Most used tags searched by edit distance (search.suggest_edit_vocabulary; default all).")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'tags':>10} {'first call ms':>14} {'median ms':>10} {'p90 ms':>8} {'found':>6}")
    for n in args.tags:
        words = vocabulary(rng, n)
        counts = (1e6 / np.arange(1, len(words) + 1)).astype(np.int64) + 1
        emb = Embeddings(words, counts, np.zeros((len(words), 1), dtype=np.float32))
        suggester = TagSuggester(emb, edit_vocabulary=args.edit_vocabulary)
        queries = [q for q in typos(rng, words, args.queries + 1) if q not in emb.index]
        t0 = time.perf_counter()
        suggester.did_you_mean(queries[0])
        first = 1000 * (time.perf_counter() - t0)
        times, found = [], 0
        for q in queries[1:]:
            t0 = time.perf_counter()
            found += bool(suggester.did_you_mean(q))
            times.append(1000 * (time.perf_counter() - t0))
        print(f"{len(words):>10,} {first:>14.0f} {np.median(times):>10.1f} {np.quantile(times, 0.9):>8.1f} "
              f"{found:>3}/{len(times)}")


if __name__ == "__main__":
    main()
