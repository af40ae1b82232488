"""How exact are explanations from a bounded stored profile? Chooses ``search.profile_tags``.

Each blogger stores their K heaviest tag weights (topictensor.search.explain). Every listed
contribution is exact whatever K; what K changes is how much of the relevance the stored tags
cover, and whether the shown top tags are the true top tags (computed with ALL of the blogger's
tags). For each K this prints, over the top 50 bloggers of one query per planted theme (the
theme's 3 most used tags, default ranking):

* coverage: mean share of the relevance carried by the stored tags (1 = nothing left out)
* top-N exact: share of hits whose shown N tags (N = search.explain_tags) equal the true top N
* certified: share of shown tags whose contribution exceeds the stored bound on any unstored tag
  (provably among the blogger's real top contributors)
* bytes/blogger: what the stored profile costs (int32 tag code + float32 weight per entry)

Data: the production version of a store (``--config``, default ./topictensor.yaml: ``make demo``'s
store) -- its train and reweight artifacts -- and, with ``--synth N``, also a synthetic corpus of N
bloggers with long histories (``--posts`` per blogger) trained here, where profiles are widest.

    .venv/bin/python benchmarks/bench_explain.py                     # the demo store
    .venv/bin/python benchmarks/bench_explain.py --synth 1500 --posts 80
    .venv/bin/python benchmarks/bench_explain.py --no-store --scale 1000000   # query-time costs at 1M bloggers
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from topictensor import synth  # noqa: E402
from topictensor.embeddings import Embeddings  # noqa: E402
from topictensor.search.bloggers import BloggerTable, Popularity, rank_bloggers  # noqa: E402
from topictensor.search.vectors import compute_blogger_vectors  # noqa: E402
from topictensor.search.explain import explain, profile_columns, tag_weight_matrix  # noqa: E402

KS = (4, 8, 16, 32, 64)


def from_store(config_path: Path):
    import pyarrow as pa

    from topictensor.config import load_config
    from topictensor.registry import Registry

    config = load_config(config_path, use_env=False)
    registry = Registry(config.open_store())
    vid = registry.production()
    if vid is None:
        raise SystemExit(f"no production version in {registry.store.uri}: run `make demo` first")
    emb = Embeddings.load(registry.artifact(vid, "train").path("embeddings.parquet"))
    from topictensor.stages.split import SplitPosts

    split = SplitPosts(registry.store, registry.artifact(vid, "split"))
    posts = pa.concat_tables([split.table(side, ["blogger_id", "tags", "likes", "weights"])
                              for side in ("train", "heldout")])
    bloggers = registry.artifact(vid, "normalize").read_table("bloggers.parquet") if "normalize" in \
        registry.get_version(vid).get("stages", {}) else None
    return f"store {config_path} (version {vid})", posts, bloggers, emb


def from_synth(n_bloggers: int, posts_per_blogger: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "search"))
    from conftest import build_demo  # the tests' demo-like model builder (normalise, filter, reweight, train)

    import tempfile

    out = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    posts, bloggers, emb = build_demo(out, seed=11, n_bloggers=n_bloggers, posts_per_blogger_mean=posts_per_blogger)
    return f"synth {n_bloggers} bloggers x ~{posts_per_blogger} posts", posts, bloggers, emb


def queries(emb: Embeddings) -> list[np.ndarray]:
    unit = emb.normalized()
    out = []
    for theme in sorted(synth.THEMES):
        tags = sorted((t for t in synth.theme_tags(theme) if t in emb.index), key=lambda t: -emb.counts[emb.index[t]])[:3]
        if tags:
            v = unit[[emb.index[t] for t in tags]].sum(axis=0)
            out.append(v / np.linalg.norm(v))
    return out


def run(name, posts, bloggers, emb, show: int) -> None:
    started = time.perf_counter()
    base = compute_blogger_vectors(posts, bloggers, emb, "reweight")
    ids = base.column("blogger_id").to_pylist()
    vectors = np.array(base.column("vector").to_pylist(), dtype=np.float32)
    _, matrix = tag_weight_matrix(posts, emb, "reweight")
    distinct = np.diff(matrix.indptr)
    print(f"\n== {name}: {len(ids):,} bloggers, {len(emb):,} tags; distinct tags per blogger: median "
          f"{int(np.median(distinct))}, p90 {int(np.quantile(distinct, 0.9))}, max {int(distinct.max())}")
    full_cols, _ = profile_columns(posts, emb, ids, vectors, "reweight", 10**6)
    full = BloggerTable(base.append_column("profile_tags", full_cols["profile_tags"])
                        .append_column("profile_weights", full_cols["profile_weights"])
                        .append_column("profile_rest", full_cols["profile_rest"]))
    qs = queries(emb)
    hits = [(q, h) for q in qs for h in rank_bloggers(full, q, 50, popularity=Popularity()).hits]
    truth = {(i, h.blogger_id): explain(full.profiles, full.row[h.blogger_id], q, h.similarity, emb, show)
             for i, (q, h) in enumerate(hits)}
    print(f"{len(qs)} theme queries x top 50 = {len(hits)} explained hits; shown tags N = {show}")
    print(f"{'K':>4} {'coverage':>9} {'top-N exact':>12} {'certified':>10} {'bytes/blogger':>14} {'build s':>8}")
    for k in KS:
        t0 = time.perf_counter()
        cols, gap = profile_columns(posts, emb, ids, vectors, "reweight", k)
        build = time.perf_counter() - t0
        table = BloggerTable(base.append_column("profile_tags", cols["profile_tags"])
                             .append_column("profile_weights", cols["profile_weights"])
                             .append_column("profile_rest", cols["profile_rest"]))
        cover, exact, certified, shown = [], 0, 0, 0
        for i, (q, h) in enumerate(hits):
            row = table.row[h.blogger_id]
            why = explain(table.profiles, row, q, h.similarity, emb, show)
            tags, weights = table.profiles.of(row)
            stored = sum(w * float(emb.normalized()[emb.index[t]] @ q) for t, w in zip(tags, weights))
            cover.append(stored / h.similarity if h.similarity else 1.0)
            exact += [c.tag for c in why.tags] == [c.tag for c in truth[(i, h.blogger_id)].tags]
            certified += sum(c.contribution > why.bound for c in why.tags)
            shown += len(why.tags)
        entries = np.diff(table.profiles.offsets).mean()
        print(f"{k:>4} {np.mean(cover):>9.4f} {exact / len(hits):>12.3f} {certified / max(shown, 1):>10.3f} "
              f"{entries * 8:>14.0f} {build:>8.2f}")
    print(f"(total {time.perf_counter() - started:.1f} s)")


def scale(n: int, k: int = 32, vocabulary: int = 200_000, dim: int = 100) -> None:
    """Query-time costs of stored profiles at ``n`` bloggers x ``k`` tags: loading them, excluding a
    tag's users, explaining a page of 50 hits."""
    import pyarrow as pa

    from topictensor.search.explain import Profiles

    rng = np.random.default_rng(0)
    tags = np.asarray([f"t{i}" for i in range(vocabulary)], dtype=object)
    # Zipf-like tag popularity, each tag at most once per blogger (duplicates redrawn among rare tags).
    ranks = np.sort(np.minimum((rng.pareto(1.1, size=(n, k)) * 50).astype(np.int64), vocabulary - 1), axis=1)
    dup = np.zeros_like(ranks, dtype=bool)
    dup[:, 1:] = ranks[:, 1:] == ranks[:, :-1]
    ranks[dup] = rng.integers(vocabulary // 2, vocabulary, size=int(dup.sum()))
    ranks = ranks.reshape(-1)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
    table = pa.table({
        "profile_tags": pa.ListArray.from_arrays(offsets, pa.array(tags[ranks].tolist(), type=pa.string())),
        "profile_weights": pa.ListArray.from_arrays(offsets, pa.array(rng.random(n * k).astype(np.float32))),
        "profile_rest": pa.array(np.zeros(n, dtype=np.float32)),
    })
    t0 = time.perf_counter()
    profiles = Profiles(table)
    load = time.perf_counter() - t0
    emb = Embeddings(tags, np.ones(vocabulary, dtype=np.int64), rng.normal(size=(vocabulary, dim)).astype(np.float32))
    emb.normalized()
    q = rng.normal(size=dim)
    q /= np.linalg.norm(q)
    timings = {}
    for name, wanted in (("a common tag", ["t0"]), ("a rare tag", ["t5000"]), ("10 tags", [f"t{i}" for i in range(10)])):
        t0 = time.perf_counter()
        rows = profiles.rows_with(wanted)
        timings[name] = (1000 * (time.perf_counter() - t0), len(rows))
    t0 = time.perf_counter()
    for row in rng.integers(0, n, size=50):
        explain(profiles, int(row), q, 0.5, emb, 5)
    page = 1000 * (time.perf_counter() - t0)
    print(f"\n== stored profiles at {n:,} bloggers x {k} tags ({vocabulary:,}-tag vocabulary)")
    print(f"load (dictionary-encode the tags): {load:.1f} s; memory {profiles.codes.nbytes + profiles.weights.nbytes >> 20} MB")
    for name, (ms, hits) in timings.items():
        print(f"exclude the users of {name}: {ms:.0f} ms ({hits:,} bloggers)")
    print(f"explain a page of 50 hits: {page:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("topictensor.yaml"))
    parser.add_argument("--synth", type=int, default=0, help="Also a synthetic corpus of this many bloggers.")
    parser.add_argument("--posts", type=int, default=80, help="Mean posts per synthetic blogger.")
    parser.add_argument("--show", type=int, default=5, help="Tags shown per explanation (search.explain_tags).")
    parser.add_argument("--no-store", action="store_true", help="Skip the store (synthetic corpus only).")
    parser.add_argument("--scale", type=int, default=0, help="Also time stored profiles of this many bloggers.")
    args = parser.parse_args()
    if not args.no_store:
        run(*from_store(args.config), show=args.show)
    if args.synth:
        run(*from_synth(args.synth, args.posts), show=args.show)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
