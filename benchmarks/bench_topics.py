"""Topics benchmark: quality against the planted themes, stability of ids, and scale.

    python benchmarks/bench_topics.py quality     # demo model: ARI / NMI / noise / coherence + sweep
    python benchmarks/bench_topics.py stability   # two seeds; a retrain on +11% posts
    python benchmarks/bench_topics.py scale --sizes 10000 100000 300000
    python benchmarks/bench_topics.py cap --n 40000 --caps 0 20000 10000 5000   # clusters.max_fit_tags
    python benchmarks/bench_topics.py all

The demo model is the production model of /work/main/.data/store (``make demo``); override with
``--config``. Truth: ``topictensor.synth.tag_theme_map()``; spam tags (no theme by design) and tags
planted in two themes (``apple``: tech and fruit; words shared by two languages' themes) are left
out of ARI/NMI because no single right answer exists for them. Noise counts as its own label
(a tag left as noise is scored as wrong). Scale runs each size in a child process so that its
peak memory (max RSS) is its own. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "topictensor.yaml"


def md_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        return "-" if v is None else str(v)
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def demo_model(config_path: Path):
    from topictensor.config import load_config
    from topictensor.embeddings import Embeddings
    from topictensor.registry import Registry

    config = load_config(config_path)
    registry = Registry(config.open_store())
    art = registry.artifact(None, "train")
    return config, registry, Embeddings.load(art.path("embeddings.parquet")), art


def truth_labels(tags) -> dict[str, str]:
    from topictensor.synth import SPAM_THEME, tag_theme_map

    out = {}
    for tag, themes in tag_theme_map().items():
        if len(themes) == 1 and SPAM_THEME not in themes:
            out[tag] = next(iter(themes))
    return {t: out[t] for t in tags if t in out}


def score(result, truth: dict[str, str]) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    ids = result.members.set_index("tag")["topic_id"]
    scored = [t for t in truth if t in ids.index]
    y, p = [truth[t] for t in scored], ids.loc[scored].to_numpy()
    # noise as one label would reward a clustering that agrees on "all noise"; give each noise
    # tag its own singleton label instead, so noise always costs
    p = np.where(p >= 0, p, -1 - np.arange(len(p)))
    s = result.summary
    return {"topics": s["topics"], "scored_tags": len(scored), "ARI": adjusted_rand_score(y, p),
            "NMI": normalized_mutual_info_score(y, p), "noise": s["noise_share"],
            "noise_before_soft": s["noise_share_hard"], "coherence": s["mean_coherence"],
            "flagged": s["flagged_topics"], "seconds": s.get("reduce_seconds", 0) + s.get("cluster_seconds", 0)}


def base_config(args):
    import yaml

    from topictensor.topics.params import TopicsConfig

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    return TopicsConfig(**overrides)


def describe(cfg) -> str:
    return (f"{cfg.reducer}, mcs={cfg.min_cluster_size}, {cfg.cluster_selection_method}, merge={cfg.merge_cosine}, "
            f"soft={cfg.soft_threshold}")


# --- quality --------------------------------------------------------------------------------

def run_quality(args) -> None:
    from topictensor.topics.build import build_topics
    from topictensor.topics.params import TopicsConfig

    _, registry, emb, art = demo_model(args.config)
    truth = truth_labels(emb.tags)
    print(f"\n### Quality on the demo model (production {registry.production()}, train/{art.ref.key}: "
          f"{len(emb)} tags, {len(set(truth.values()))} planted themes, {len(truth)} single-theme tags scored)\n")
    rows = []
    base = base_config(args)
    variants = [(f"default ({describe(base)})", {})]
    variants += [(f"min_cluster_size={m}", {"min_cluster_size": m}) for m in (3, 5, 20, 40, 80)]
    variants += [("eom", {"cluster_selection_method": "eom"}), ("leaf", {"cluster_selection_method": "leaf"}),
                 ("no soft members", {"soft_threshold": None}),
                 ("no merging", {"merge_cosine": None}),
                 ("merge_cosine=0.3", {"merge_cosine": 0.3}),
                 ("center=False (raw cosines)", {"center": False}),
                 ("pca reducer (no umap)", {"reducer": "pca"}),
                 ("no reduction (hdbscan in 100-D)", {"reducer": "none"})]
    for name, overrides in variants:
        cfg = base.model_copy(update=overrides)
        started = time.perf_counter()
        result = build_topics(emb.tags, emb.counts, emb.vectors, cfg)
        row = {"setting": name, **score(result, truth), "seconds": time.perf_counter() - started}
        rows.append(row)
        print(f"  {name}: {row['topics']} topics, ARI {row['ARI']:.3f}", file=sys.stderr)
    print(md_table(rows, ["setting", "topics", "ARI", "NMI", "noise", "noise_before_soft", "coherence",
                          "flagged", "seconds"]))
    print("\n(first row's seconds include umap's numba JIT of a fresh process)")
    result = build_topics(emb.tags, emb.counts, emb.vectors, base)
    print(f"\n### Topics with the default settings ({describe(base)})\n")
    print(md_table([{"id": int(r.topic_id), "label": r.label, "size": int(r.size), "soft": int(r.soft_size),
                     "coherence": float(r.coherence), "flags": ",".join(r.flags)} for r in result.topics.itertuples()],
                   ["id", "label", "size", "soft", "coherence", "flags"]))


# --- stability ------------------------------------------------------------------------------

def run_stability(args) -> None:
    import pyarrow.parquet as pq

    from topictensor.topics.build import build_topics
    from topictensor.topics.match import match_topics
    from topictensor.topics.params import TopicsConfig

    config, registry, emb, art = demo_model(args.config)
    truth = truth_labels(emb.tags)
    rows = []

    def compare(name, emb_a, emb_b, cfg_a, cfg_b):
        a = build_topics(emb_a.tags, emb_a.counts, emb_a.vectors, cfg_a)
        b = build_topics(emb_b.tags, emb_b.counts, emb_b.vectors, cfg_b)
        first = match_topics(None, None, a.topics, a.members, cfg_a)
        unit = emb_b.normalized()
        second = match_topics(first.topics, first.members, b.topics, b.members, cfg_b,
                              vector_of=lambda t: unit[emb_b.index[t]] if t in emb_b.index else None,
                              next_id=first.next_id)
        s = second.summary()
        rows.append({"comparison": name, "topics_a": len(a.topics), "topics_b": len(b.topics),
                     "ARI_a": score(a, truth)["ARI"], "ARI_b": score(b, truth)["ARI"],
                     "persisted": s["topics_persisted"], "born": s["topics_born"], "died": s["topics_died"],
                     "split": s["topics_split"], "merged": s["topics_merged"], "ids_kept_share": s["id_kept_share"]})
        print(f"  {name}: kept {s['id_kept_share']:.2f}", file=sys.stderr)

    base = base_config(args)
    print(f"  settings: {describe(base)}", file=sys.stderr)
    for seed in (1, 2):
        compare(f"same model, umap seed 0 vs {seed}", emb, emb, base, base.model_copy(update={"seed": seed}))

    # A weekly refresh: the production split's training posts minus a random ~10% ("last week"),
    # against all of them ("this week": +11% new posts); two independent trainings, so the vector
    # spaces differ and only the members (and centroids recomputed in the new model) can match.
    from topictensor.embeddings import Embeddings
    from topictensor.modeldir import train_to_dir

    split = registry.artifact(None, "split")
    from topictensor.stages.split import SplitPosts

    table = SplitPosts(registry.store, split).table("train", ["tags", "weights"])
    keep = np.random.default_rng(0).random(len(table)) >= 0.1
    out = Path(args.work) / "refresh"
    started = time.perf_counter()
    train_to_dir(table.filter(keep), config.train, out / "before")
    train_to_dir(table, config.train, out / "after")
    print(f"  trained two models in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    before, after = Embeddings.load(out / "before"), Embeddings.load(out / "after")
    compare(f"retrained on +{(1 / keep.mean() - 1):.0%} posts ({int(keep.sum())} -> {len(table)})",
            before, after, base, base)
    print("\n### Stability of topic ids\n")
    print(md_table(rows, ["comparison", "topics_a", "topics_b", "ARI_a", "ARI_b", "persisted", "born", "died",
                          "split", "merged", "ids_kept_share"]))
    print("\nids_kept_share = previous topics whose id lives on in the new version / previous topics.")


# --- scale ----------------------------------------------------------------------------------

def synthetic(n: int, dim: int = 100, per_cluster: int = 200, noise_share: float = 0.1, seed: int = 0):
    """n tag vectors: n/per_cluster planted clusters (within-cluster cosine ~0.5) + uniform noise."""
    rng = np.random.default_rng(seed)
    k = max(1, n // per_cluster)
    n_noise = int(n * noise_share)
    centres = rng.standard_normal((k, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    which = rng.integers(0, k, size=n - n_noise)
    x = centres[which] + 0.1 * rng.standard_normal((n - n_noise, dim)).astype(np.float32)
    x = np.vstack([x, rng.standard_normal((n_noise, dim)).astype(np.float32)])
    truth = np.concatenate([which, -1 - np.arange(n_noise)])
    return x, truth, k


def run_scale_one(args) -> None:
    from sklearn.metrics import adjusted_rand_score

    from topictensor.topics.build import build_topics
    from topictensor.topics.params import TopicsConfig

    x, truth, k = synthetic(args.n)
    tags = [f"tag{i}" for i in range(args.n)]
    cfg = TopicsConfig(reducer=args.reducer, min_cluster_size=args.mcs)
    started = time.perf_counter()
    result = build_topics(tags, np.full(args.n, 100), x, cfg)  # every tag above min_count
    total = time.perf_counter() - started
    print(json.dumps({
        "n": args.n, "planted": k, "reducer": args.reducer, "topics": result.summary["topics"],
        "reduce_s": result.summary.get("reduce_seconds", 0.0), "hdbscan_s": result.summary.get("cluster_seconds", 0.0),
        "total_s": total, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "noise": result.summary["noise_share"],
        "ARI": adjusted_rand_score(truth, np.where(result.members["topic_id"] >= 0, result.members["topic_id"],
                                                  -10**9 - np.arange(args.n))),
    }))


def run_scale(args) -> None:
    rows = []
    for n in args.sizes:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "scale-one", "--n", str(n), "--reducer", args.reducer,
                               "--mcs", str(args.mcs)], capture_output=True, text=True,
                              timeout=args.timeout)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            rows.append({"n": n, "topics": "failed"})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["process_s"] = time.perf_counter() - started
        rows.append(row)
        print(f"  n={n}: {row['total_s']:.0f} s", file=sys.stderr)
    print(f"\n### Scale: synthetic tag vectors, dim 100 ({args.reducer}, min_cluster_size {args.mcs})\n")
    print(md_table(rows, ["n", "planted", "topics", "ARI", "noise", "reduce_s", "hdbscan_s", "total_s", "process_s",
                          "peak_rss_mb"]))
    print("\nprocess_s includes imports and the numba JIT of a fresh process.")


# --- cap (clusters.max_fit_tags) ----------------------------------------------------------------

def run_cap_one(args) -> None:
    """One cap on the synthetic planted clusters, Zipfian use counts shuffled over the tags (so the
    most used tags are a biased sample of every cluster, as in a real vocabulary)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from topictensor.topics.build import build_topics
    from topictensor.topics.params import TopicsConfig

    x, truth, k = synthetic(args.n)
    rng = np.random.default_rng(1)
    counts = (1e6 / np.arange(1, args.n + 1) + 20).astype(np.int64)[rng.permutation(args.n)]
    tags = [f"tag{i}" for i in range(args.n)]
    cap = args.cap or None
    cfg = TopicsConfig(reducer=args.reducer, min_cluster_size=args.mcs, max_fit_tags=cap)
    started = time.perf_counter()
    result = build_topics(tags, counts, x, cfg)
    total = time.perf_counter() - started
    ids = result.members["topic_id"].to_numpy()
    planted = truth >= 0
    pred = np.where(ids >= 0, ids, -10**9 - np.arange(args.n))
    print(json.dumps({
        "n": args.n, "cap": cap or "none", "planted": k, "topics": result.summary["topics"],
        "fitted": result.summary["fitted_tags"], "placed": result.summary["placed_tags"],
        "ARI": adjusted_rand_score(truth[planted], pred[planted]),
        "NMI": normalized_mutual_info_score(truth[planted], pred[planted]),
        "noise": float(np.mean(ids[planted] < 0)),
        "reduce_s": result.summary.get("reduce_seconds", 0.0), "hdbscan_s": result.summary.get("cluster_seconds", 0.0),
        "place_s": result.summary.get("place_seconds", 0.0), "total_s": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_cap(args) -> None:
    rows = []
    for cap in args.caps:
        proc = subprocess.run([sys.executable, __file__, "cap-one", "--n", str(args.n), "--cap", str(cap),
                               "--reducer", args.reducer, "--mcs", str(args.mcs)], capture_output=True, text=True,
                              timeout=args.timeout)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            rows.append({"cap": cap, "topics": "failed"})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  cap {cap}: ARI {rows[-1]['ARI']:.3f}, {rows[-1]['total_s']:.0f} s", file=sys.stderr)
    print(f"\n### clusters.max_fit_tags on synthetic planted clusters: {args.n} tags, dim 100, Zipfian counts "
          f"({args.reducer}, min_cluster_size {args.mcs}; ARI/NMI/noise over the planted tags)\n")
    print(md_table(rows, ["cap", "fitted", "placed", "planted", "topics", "ARI", "NMI", "noise", "reduce_s",
                          "hdbscan_s", "place_s", "total_s", "peak_rss_mb"]))
    if args.config.exists():
        from topictensor.topics.build import build_topics

        try:
            _, registry, emb, art = demo_model(args.config)
        except Exception as exc:  # noqa: BLE001 - no demo store: the synthetic table stands alone
            print(f"\n(no demo model: {exc})")
            return
        truth = truth_labels(emb.tags)
        base = base_config(args)
        demo = []
        for share in (1.0, 0.75, 0.5, 0.25):
            cap = max(2, int(len(emb) * share))
            result = build_topics(emb.tags, emb.counts, emb.vectors, base.model_copy(update={"max_fit_tags": cap}))
            demo.append({"cap": f"{cap} ({share:.0%})", "fitted": result.summary["fitted_tags"],
                         "placed": result.summary["placed_tags"], **score(result, truth)})
        print(f"\n### clusters.max_fit_tags on the demo model (train/{art.ref.key}: {len(emb)} tags, "
              f"{len(truth)} single-theme tags scored)\n")
        print(md_table(demo, ["cap", "fitted", "placed", "topics", "ARI", "NMI", "noise", "coherence"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["quality", "stability", "scale", "scale-one", "cap", "cap-one", "all"])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--work", default="/tmp/bench_topics")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reducer", default="umap")
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 20_000, 10_000, 5_000],
                        help="clusters.max_fit_tags values for `cap` (0: no cap)")
    parser.add_argument("--cap", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mcs", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a TopicsConfig field for quality and stability (repeatable).")
    args = parser.parse_args()
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    if args.what in ("quality", "all"):
        run_quality(args)
    if args.what in ("stability", "all"):
        run_stability(args)
    if args.what in ("scale", "all"):
        run_scale(args)
    if args.what == "scale-one":
        run_scale_one(args)
    if args.what == "cap":
        run_cap(args)
    if args.what == "cap-one":
        run_cap_one(args)


if __name__ == "__main__":
    main()
