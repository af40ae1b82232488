"""How often the cooccur stage must recount a partition as weeks roll, per ``filter.review_margin``
(not a test; prints a table). The rule simulated is the stage's (``topictensor.stages.cooccur``):
a partition is counted with the top ``review_top_n x (1 + margin)`` tags of each language of the
window it is first counted for, and counted again only when a later week's candidates (the top
``review_top_n``) leave that superset; a recount takes the then current superset.

Posts come from ``bench_weekly``'s generator (``bench_prep.synthetic_posts``: Zipfian tags from a
200k vocabulary, six languages), cut into weekly partitions; a blogger's language is the snapshot's,
else its posts' first stated one, else the language of its captions (what the identifier reads), and the
tags are the raw ones less the invalid emoji (normalisation leaves this generator's tags as they are).

Usage:
    python benchmarks/bench_review_margin.py --window 26 --posts 20000 --weeks 20
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prep import _CAPTIONS, LANGUAGES, synthetic_posts  # noqa: E402


def weekly_counts(weeks: int, per_week: int, seed: int = 0):
    """(tag strings, languages, per week: {lang index: (tag codes, posts)})."""
    tables = synthetic_posts(weeks * per_week, seed)
    bloggers = next(tables)
    posts = pa.concat_tables(list(tables))
    given = dict(zip(bloggers.column("blogger_id").to_pylist(), bloggers.column("lang").to_pylist()))
    stated = posts.filter(pc.is_valid(posts.column("lang"))).select(["blogger_id", "lang"])
    for b, lang in zip(stated.column("blogger_id").to_pylist(), stated.column("lang").to_pylist()):
        if given.get(b) is None:
            given[b] = lang
    by_caption = dict(zip(_CAPTIONS, LANGUAGES))  # what the identifier reads in the generator's captions
    captioned = posts.filter(pc.is_valid(posts.column("caption"))).select(["blogger_id", "caption"])
    for b, caption in zip(captioned.column("blogger_id").to_pylist(), captioned.column("caption").to_pylist()):
        if given.get(b) is None:
            given[b] = by_caption.get(caption)
    langs = sorted({v for v in given.values() if v} | {"und"})
    lang_index = {lang: i for i, lang in enumerate(langs)}
    blogger_lang = np.array([lang_index[given.get(b) or "und"] for b in posts.column("blogger_id").to_pylist()])
    flat = pc.list_flatten(posts.column("tags"))
    parent = pc.list_parent_indices(posts.column("tags")).to_numpy()
    encoded = pc.dictionary_encode(flat).combine_chunks()
    strings = encoded.dictionary
    codes = encoded.indices.to_numpy()
    valid = np.asarray(pc.not_equal(strings, "😀").to_numpy(zero_copy_only=False))[codes]
    out = []
    for w in range(weeks):
        lo, hi = np.searchsorted(parent, [w * per_week, (w + 1) * per_week])
        sel = slice(lo, hi)
        key = blogger_lang[parent[sel]].astype(np.int64) * len(strings) + codes[sel]
        key = key[valid[sel]]
        uniq, n = np.unique(key, return_counts=True)
        out.append((uniq, n))
    return strings.to_pylist(), langs, out


def top(counts: np.ndarray, tag_rank: np.ndarray, n: int) -> set[int]:
    """The n tag codes with most posts, ties by tag (the filter's order)."""
    used = np.flatnonzero(counts)
    order = np.lexsort((tag_rank[used], -counts[used]))
    return set(used[order[:n]].tolist())


def simulate(strings, langs, weeks_counts, window: int, top_n: int, margins: list[float]) -> list[dict]:
    n_tags = len(strings)
    tag_rank = np.argsort(np.argsort(np.array(strings, dtype=object)))
    rows = []
    for margin in margins:
        counted = int(math.ceil(top_n * (1 + margin)))
        total = np.zeros(len(langs) * n_tags, dtype=np.int64)
        supersets: dict[int, list[set[int]]] = {}
        recounts, weeks_with, rolled = 0, 0, 0
        for w, (key, n) in enumerate(weeks_counts):
            np.add.at(total, key, n)
            if w - window >= 0:
                old_key, old_n = weeks_counts[w - window]
                np.subtract.at(total, old_key, old_n)
                supersets.pop(w - window, None)
            if w < window - 1:
                continue
            per_lang = [total[i * n_tags:(i + 1) * n_tags] for i in range(len(langs))]
            candidates = [top(c, tag_rank, top_n) for c in per_lang]
            current = None
            this_week = 0
            for p in range(max(0, w - window + 1), w + 1):
                have = supersets.get(p)
                if have is not None and all(c <= s for c, s in zip(candidates, have)):
                    continue
                if current is None:
                    current = [top(c, tag_rank, counted) for c in per_lang]
                supersets[p] = current
                if have is not None:  # an old partition counted again (a new one is counted anyway)
                    this_week += 1
            if w >= window:  # the first window is everyone's first count
                rolled += 1
                recounts += this_week
                weeks_with += this_week > 0
        rows.append({"margin": margin, "counted": counted, "weeks": rolled, "weeks_with_recount": weeks_with,
                     "recounted_per_week": recounts / max(rolled, 1), "window": window})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window", type=int, default=26, help="partitions (weeks) in the window")
    ap.add_argument("--posts", type=int, default=20_000, help="posts per weekly partition")
    ap.add_argument("--weeks", type=int, default=20, help="weeks rolled after the first window")
    ap.add_argument("--review-top-n", type=int, default=1000)
    ap.add_argument("--margins", default="0,0.1,0.25,0.5,1,2")
    args = ap.parse_args()
    margins = [float(m) for m in args.margins.split(",")]
    strings, langs, counts = weekly_counts(args.window + args.weeks, args.posts)
    rows = simulate(strings, langs, counts, args.window, args.review_top_n, margins)
    print(f"\nWindow of {args.window} weekly partitions x {args.posts:,} posts (rolling: the oldest leaves), "
          f"{args.weeks} weeks rolled, review_top_n {args.review_top_n}, languages {', '.join(langs)}\n")
    print("| review_margin | tags counted per language | weeks with a recount | old partitions recounted per week "
          "(of the window's) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['margin']:g} | {r['counted']:,} | {r['weeks_with_recount']} / {r['weeks']} | "
              f"{r['recounted_per_week']:.1f} / {r['window']} |")


if __name__ == "__main__":
    main()
