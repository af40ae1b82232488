"""Blogger selection against planted truth: the ranking's defaults vs literal hashtag matching vs no
popularity discount, per planted hard case; and a grid over the discount's exponents.

    python benchmarks/bench_selection.py                       # seeds 7 11 23, 1,500 bloggers each
    python benchmarks/bench_selection.py --grid                # + the lambda/phi/tau grid that chose the defaults
    python benchmarks/bench_selection.py --seeds 7 --json out.json

Each seed is its own corpus (``topictensor synth``, default size: 1,500 bloggers + 12 spammers, ~43k
posts), trained by the real pipeline stages (ingest, normalize, filter, reweight, split, train,
blogger_vectors) with the demo's config (topictensor.yaml: its blacklist, min_bloggers 3) into a
store under ``--cache`` (default .data/bench-selection): artifacts are content-addressed, so a rerun
reuses every trained model and only re-ranks. Metrics and cases: ``topictensor.selection``. Every
theme's query is its headline tags (``synth.HEADLINE_TAGS``). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topictensor import synth  # noqa: E402
from topictensor.selection import CASES, LiteralIndex, SelectionTruth, complete, evaluate_theme  # noqa: E402

METRICS = ("p@20", "p@50", "ndcg@50", "reach")
GRID_VALUES = (-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2)
TARGET_REACH = 0.8
# The grid's choice must reach at least this on every seed: a median of 20 bloggers is noisy (the
# setting at the edge of 0.8 here reached 0.71 on the tests' corpus), so the default keeps a margin.
CHOICE_REACH = 1.0


def md_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "-" if np.isnan(v) else f"{v:.3f}"
        return "-" if v is None else str(v)
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def trained_world(seed: int, n_bloggers: int, cache: Path, config_path: Path) -> dict:
    """The corpus of ``seed`` (written once) and its trained blogger vectors (trained once)."""
    from topictensor.artifacts import Artifact
    from topictensor.config import load_config
    from topictensor.embeddings import Embeddings
    from topictensor.search.bloggers import FILENAME, BloggerTable
    from topictensor.artifacts import ArtifactRef
    from topictensor.pipeline import run_stage_of_graph
    from topictensor.stages.blogger_vectors import blogger_vectors
    from topictensor.stages.graph import GRAPH, RunContext
    from topictensor.stages.train import train_model
    from topictensor.tags import normalize_tags

    synth_config = synth.SynthConfig(seed=seed, n_bloggers=n_bloggers)
    raw = cache / f"corpus-seed{seed}-n{n_bloggers}"
    corpus = synth.generate(synth_config)
    if not synth.already_written(synth_config, raw):
        synth.write(corpus, raw)
    config = load_config(config_path, overrides={"store": {"uri": str(cache / "store")},
                                                 "ingest": {"input_uri": str(raw)}}, use_env=False)
    started = time.perf_counter()
    run, results = RunContext(run_id="bench-selection"), {}
    for stage in GRAPH:  # the refresh's own stages up to the split (what `topictensor run` runs)
        results[stage.name] = run_stage_of_graph(stage, config, run, results)
        if stage.name == "split":
            break
    filtered = [ArtifactRef.from_dict(r) if isinstance(r, dict) else r for r in results["filter"]]
    model = train_model(results["split"], config, init_from=None)  # cold: no production in this store
    vectors = blogger_vectors(model, results["reweight"], results["window"], config)
    store = config.open_store()
    print(f"seed {seed}: {len(corpus.posts):,} posts, {len(corpus.bloggers):,} bloggers; pipeline "
          f"{time.perf_counter() - started:.1f} s (cached artifacts reused)", file=sys.stderr)
    tag_lists = [normalize_tags(list(t)) for t in synth.corpus_tag_lists(corpus.posts)]
    return {
        "seed": seed, "corpus": corpus, "truth": SelectionTruth.read(raw),
        "table": BloggerTable.read(Artifact(store, vectors).path(FILENAME)),
        "emb": Embeddings.load(Artifact(store, model).path("embeddings.parquet")),
        "literal": LiteralIndex(corpus.posts["blogger_id"].tolist(), tag_lists),
        "followers": dict(zip(corpus.bloggers["blogger_id"], corpus.bloggers["followers"].astype(int))),
        "filtered": filtered, "store": store, "raw": raw,
    }


def model_ranking(world: dict, query: str, popularity) -> list[str]:
    from topictensor.search.bloggers import rank_bloggers
    from topictensor.search.themes import build_theme

    table = world["table"]
    theme = build_theme(query, world["emb"])
    hits = rank_bloggers(table, theme.vector, len(table), popularity=popularity).hits
    return [h.blogger_id for h in hits]


def fast_ranking(world: dict, vector: np.ndarray, sims: np.ndarray, popularity) -> list[str]:
    """What ``rank_bloggers`` over the whole table returns (same score, same tie order), without
    building a hit per blogger: for the grid's thousands of rankings."""
    table = world["table"]
    values = table.scores(np.arange(len(table)), sims, popularity)
    order = np.lexsort((np.arange(len(table)), -values))
    return table.ids[order].tolist()


def evaluate(world: dict, settings: dict[str, tuple[float, float, float]], fast: bool = False) -> list[dict]:
    """Rows (seed, theme, case, method, metrics) for literal matching and every ``settings`` entry."""
    from topictensor.search.bloggers import Popularity
    from topictensor.search.themes import build_theme

    everyone = world["literal"].posts_per_blogger.index.tolist()
    rows = []
    for theme, headline in synth.HEADLINE_TAGS.items():
        rankings = {"literal": world["literal"].ranking(headline)}
        vector = build_theme(", ".join(headline), world["emb"]).vector
        sims = world["table"].vectors @ vector
        for name, (lam, phi, tau) in settings.items():
            if fast:
                ranked = fast_ranking(world, vector, sims, Popularity(lam, phi, tau))
            else:
                ranked = model_ranking(world, ", ".join(headline), Popularity(lam, phi, tau))
            rankings[name] = complete(ranked, everyone)
        for row in evaluate_theme(rankings, world["truth"], theme, headline, world["literal"], world["followers"]):
            rows.append({"seed": world["seed"], **row})
    return rows


def summarise(rows: list[dict], methods: list[str]) -> list[dict]:
    frame = pd.DataFrame(rows)
    out = []
    for case in CASES:
        for method in methods:
            part = frame[(frame["case"] == case) & (frame["method"] == method)]
            if part.empty:
                continue
            lit = frame[(frame["case"] == case) & (frame["method"] == "literal")].set_index(["seed", "theme"])["p@20"]
            mine = part.set_index(["seed", "theme"])["p@20"]
            row = {"case": case, "method": method, "themes": len(part),
                   "positives": round(float(part["positives"].mean()), 1),
                   "negatives": round(float(part["negatives"].mean()), 1)}
            row.update({m: float(part[m].mean()) for m in METRICS if m in part and part[m].notna().any()})
            if "reach" in part and part["reach"].notna().any():
                row["min reach"] = float(part["reach"].min())
            if method != "literal":
                row["p@20 < literal"] = int((mine < lit.loc[mine.index] - 1e-9).sum())
            out.append(row)
    return out


def meets_targets(rows: list[dict], method: str) -> tuple[bool, list[str]]:
    """Per seed: mean precision@20 above literal matching's in every case; no theme below literal's
    precision@20 where literal's is 1 (case all); mean reach of the top 20 >= 0.8."""
    frame = pd.DataFrame(rows)
    why = []
    for seed, per_seed in frame.groupby("seed"):
        for case, part in per_seed.groupby("case"):
            mine = part[part["method"] == method].set_index("theme")["p@20"]
            lit = part[part["method"] == "literal"].set_index("theme")["p@20"]
            if not mine.mean() > lit.mean():
                why.append(f"seed {seed} {case}: p@20 {mine.mean():.3f} <= literal {lit.mean():.3f}")
            if case == "all":
                perfect = lit[lit >= 1.0].index
                worse = [t for t in perfect if mine[t] < 1.0]
                if worse:
                    why.append(f"seed {seed}: below perfect literal on {','.join(worse)}")
                r = part[part["method"] == method]["reach"].mean()
                if r < TARGET_REACH:
                    why.append(f"seed {seed}: reach {r:.3f} < {TARGET_REACH}")
    return not why, why


def grid(worlds: list[dict]) -> tuple[list[dict], tuple[float, float, float] | None]:
    points = list(itertools.product(GRID_VALUES, repeat=3))
    settings = {f"{l:g}/{p:g}/{t:g}": (l, p, t) for l, p, t in points}
    rows = [r for w in worlds for r in evaluate(w, settings, fast=True)]
    frame = pd.DataFrame(rows)
    table = []
    for name, point in settings.items():
        part = frame[frame["method"] == name]
        ok, why = meets_targets(rows, name)
        row = {"lambda/phi/tau": name, "meets targets": "yes" if ok else f"no ({len(why)})"}
        for case in CASES:
            row[f"p@20 {case}"] = float(part[part["case"] == case]["p@20"].mean())
        row["ndcg@50 all"] = float(part[part["case"] == "all"]["ndcg@50"].mean())
        row["reach"] = float(part[part["case"] == "all"]["reach"].mean())
        row["objective"] = float(np.mean([row[f"p@20 {c}"] for c in CASES]))
        per_seed = part[part["case"] == "all"].groupby("seed")["reach"].mean()
        row["min seed reach"] = float(per_seed.min())
        row["_ok"], row["_point"] = ok and row["min seed reach"] >= CHOICE_REACH, point
        table.append(row)
    lit = frame[frame["method"] == "literal"]
    literal_row = {"lambda/phi/tau": "literal", "meets targets": "-",
                   **{f"p@20 {c}": float(lit[lit["case"] == c]["p@20"].mean()) for c in CASES},
                   "ndcg@50 all": float(lit[lit["case"] == "all"]["ndcg@50"].mean()),
                   "reach": float(lit[lit["case"] == "all"]["reach"].mean())}
    feasible = [r for r in table if r["_ok"]]
    best = max(feasible, key=lambda r: (round(r["objective"], 3), -sum(map(abs, r["_point"])))) if feasible else None
    table.sort(key=lambda r: (not r["_ok"], -r["objective"]))
    reference = [r for r in table if r["_point"] in ((0.2, 0.2, 0.2), (0.0, 0.0, 0.0))]
    return [literal_row] + table[:10] + reference, best["_point"] if best else None


GENERIC_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def generic_rows(worlds: list[dict]) -> list[dict]:
    """Precision/recall of "score >= threshold" against the planted topic-free tags (spam sprinkled on
    every theme, translations included, and the spammers' junk), over every language's review
    candidates (filter stage's review.parquet: the top tags by posts, curated blacklist included)."""
    from topictensor.artifacts import Artifact

    planted = {t for words in synth.SPAM_TAGS.values() for t in words} | set(synth.JUNK_TAGS)
    reviews = []
    for world in worlds:
        for ref in world["filtered"]:
            art = Artifact(world["store"], ref)
            review = art.read_table("review.parquet").to_pandas()
            review["seed"], review["lang"] = world["seed"], art.manifest["params"]["lang"]
            reviews.append(review)
    frame = pd.concat(reviews, ignore_index=True)
    frame["planted"] = frame["tag"].isin(planted)
    rows = []
    for score in ("generic_score", "cotag_entropy"):
        for threshold in GENERIC_THRESHOLDS:
            flagged = frame[score] >= threshold
            for scope, part in [("all languages", frame)] + [(lang, frame[frame["lang"] == lang])
                                                             for lang in sorted(frame["lang"].unique())]:
                hit = flagged.loc[part.index]
                tp = int((hit & part["planted"]).sum())
                precision = tp / int(hit.sum()) if hit.sum() else float("nan")
                recall = tp / int(part["planted"].sum()) if part["planted"].sum() else float("nan")
                rows.append({"score": score, "threshold": threshold, "scope": scope, "candidates": len(part),
                             "planted": int(part["planted"].sum()), "flagged": int(hit.sum()),
                             "precision": precision, "recall": recall,
                             "missed": ", ".join(sorted(set(part.loc[part["planted"] & ~hit, "tag"])))[:80]
                             if scope != "all languages" else "",
                             "false": ", ".join(sorted(set(part.loc[hit & ~part["planted"], "tag"])))[:80]
                             if scope != "all languages" else ""})
    return rows


def main(argv: list[str] | None = None) -> int:
    from topictensor.search.params import SearchConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    parser.add_argument("--bloggers", type=int, default=1500, help="ordinary bloggers per corpus")
    parser.add_argument("--cache", type=Path, default=ROOT / ".data" / "bench-selection")
    parser.add_argument("--config", type=Path, default=ROOT / "topictensor.yaml")
    parser.add_argument("--grid", action="store_true", help="also search lambda/phi/tau over "
                        f"{GRID_VALUES} (all {len(GRID_VALUES) ** 3} combinations)")
    parser.add_argument("--per-theme", action="store_true", help="print the per-theme rows of the defaults")
    parser.add_argument("--generic", action="store_true", help="also measure generic-tag detection against the "
                        "planted spam tags (filter stage's review scores)")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args(argv)

    defaults = SearchConfig()
    settings = {"defaults": (defaults.lambda_, defaults.phi, defaults.tau), "no discount": (0.0, 0.0, 0.0)}
    worlds = [trained_world(seed, args.bloggers, args.cache, args.config) for seed in args.seeds]
    rows = [r for w in worlds for r in evaluate(w, settings)]
    methods = ["defaults", "literal", "no discount"]
    print(f"## Blogger selection: seeds {args.seeds}, {args.bloggers} bloggers each; defaults "
          f"lambda={defaults.lambda_:g} phi={defaults.phi:g} tau={defaults.tau:g}\n")
    columns = ["case", "method", "themes", "positives", "negatives", "p@20", "p@50", "ndcg@50", "reach",
               "min reach", "p@20 < literal"]
    print(md_table(summarise(rows, methods), columns))
    ok, why = meets_targets(rows, "defaults")
    print(f"\ndefaults meet the targets on every seed: {'yes' if ok else 'NO: ' + '; '.join(why)}")
    if args.per_theme:
        frame = pd.DataFrame(rows)
        part = frame[frame["case"] == "all"].pivot_table(index=["seed", "theme"], columns="method", values="p@20")
        print("\n### precision@20 per theme (case all)\n")
        print(md_table(part.reset_index().to_dict("records"), ["seed", "theme"] + methods))
    result = {"seeds": args.seeds, "bloggers": args.bloggers, "rows": rows}
    if args.grid:
        table, best = grid(worlds)
        print(f"\n## Grid over lambda, phi, tau in {GRID_VALUES} (mean over seeds and themes; objective = "
              "mean precision@20 over the cases; chosen = best objective among those meeting the targets on "
              f"every seed with reach >= {CHOICE_REACH} on every seed, ties to the smaller exponents). The 10 "
              "best eligible settings, then the old defaults 0.2/0.2/0.2 and no discount 0/0/0:\n")
        cols = ["lambda/phi/tau", "meets targets"] + [f"p@20 {c}" for c in CASES] + \
            ["ndcg@50 all", "reach", "min seed reach", "objective"]
        print(md_table(table, cols))
        print(f"\nchosen: {best}")
        result["grid"] = [{k: v for k, v in r.items() if not k.startswith("_")} for r in table]
        result["chosen"] = best
    if args.generic:
        from topictensor.config import FilterConfig

        grows = generic_rows(worlds)
        print(f"\n## Generic-tag detection vs the planted topic-free tags (seeds {args.seeds}; every language's "
              f"review candidates; configured threshold {FilterConfig().generic_threshold})\n")
        print(md_table([r for r in grows if r["scope"] == "all languages"],
                       ["score", "threshold", "candidates", "planted", "flagged", "precision", "recall"]))
        from topictensor.generic_tags import DECIDING_SCORE

        chosen = [r for r in grows if r["score"] == DECIDING_SCORE and r["scope"] != "all languages"
                  and r["threshold"] == FilterConfig().generic_threshold]
        print(f"\n{DECIDING_SCORE} per language at the configured threshold (missed / false: their tags, all seeds):\n")
        print(md_table(chosen, ["scope", "candidates", "planted", "flagged", "precision", "recall", "missed", "false"]))
        result["generic"] = grows
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
