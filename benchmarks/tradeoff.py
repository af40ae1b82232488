"""Can ">= 95% of the count table" and "topic precision and spam share kept" hold together? Per shape.

    nice -n 10 python benchmarks/tradeoff.py --corpora bench,.data/shapes/short,.data/shapes/generic,.data/shapes/zipf,.data/shapes/synth

For every corpus, in one process, our trainer once (its defaults, or ``--set field=value``), then:

* **the trade-off curve**: our vectors with the neighbours ranked by cosine + gamma * ln posts(b)
  (``topictensor.quality``'s ``bonus``), gamma swept: quality (and its share of the count table's),
  the share of its hits that are planted spam/generic tags, topic precision@10 under the same
  ranking, and the spam share of the themes ranked with the same bonus (themes ranked by plain
  cosine do not depend on gamma: the gamma 0 row). Then the smallest gamma reaching 95%;
* **bounds** (corpora with a planted truth): what share of the count table's quality a ranking can
  reach that never places a planted spam/generic tag in a query's top (n-1): an upper bound for
  any ranking (per query tag and list length n-1, the n-1 non-spam tags most often in the
  query's held-out posts of that length, so an oracle that sees the held-out posts and may use a
  different list for every length), the count table with those tags struck from its lists (a
  ranking that exists), and the count table's and ours' hits on the other tags;
* **the themes' spam** (``--explain-spam``): which spam tags are in which theme's top 20, ours and
  the count table's, and theme-side rankings that lower it (cosine minus delta * ln posts(b); cosine
  minus beta times the tag's mean cosine to its 10 nearest tags, a hubness correction), with the
  themes' topical purity (share of a theme's top 20 in its own topic) beside the spam share.

Every metric is ``topictensor.quality``'s (through ``bench_trainer.planted_metrics``); the held-out
hit records are ``gap_analysis.score_posts``'. Prints one block per corpus.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_trainer  # noqa: E402
import gap_analysis  # noqa: E402
from corpora import truth_for  # noqa: E402

GAMMAS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 0.16)
TARGET = 0.95


def heldout_ids(index, heldout) -> list[list[int]]:
    """The posts the metric scores: distinct known tags, n >= 2 (as ``quality._score``)."""
    out = []
    for tags in heldout:
        seen = dict.fromkeys(index[t] for t in tags if t in index)
        if len(seen) >= 2:
            out.append(list(seen))
    return out


def oracle_bound(posts: list[list[int]], banned: np.ndarray) -> tuple[float, float]:
    """(hits / slots with banned tags allowed, without them) of the oracle: for every query tag and
    list length k = n-1, the k tags (banned ones excluded in the second) most often among the
    query's held-out posts of that length. An upper bound of any one neighbour list per tag."""
    groups: dict[tuple[int, int], Counter] = defaultdict(Counter)
    slots = 0
    for p in posts:
        n = len(p)
        slots += n * (n - 1)
        for t in p:
            groups[(t, n - 1)].update(j for j in p if j != t)
    best_all = best_free = 0
    for (_, k), c in groups.items():
        freq = c.most_common()
        best_all += sum(f for _, f in freq[:k])
        best_free += sum(f for _, f in [x for x in freq if not banned[x[0]]][:k])
    return best_all / slots, best_free / slots


def theme_purity(tops: dict, truth: dict) -> float:
    """Mean share of a theme's top tags in the theme's own topic (the topic of most of its seed tags)."""
    shares = []
    for name, top in tops.items():
        seeds = [truth["topic_of"].get(t) for t in truth["themes"][name]]
        topic = Counter(s for s in seeds if s is not None).most_common(1)
        if topic and top:
            shares.append(sum(1 for t in top if truth["topic_of"].get(t) == topic[0][0]) / len(top))
    return float(np.mean(shares)) if shares else float("nan")


def main() -> None:
    ap = gap_analysis.corpus_arguments(__doc__)
    ap.add_argument("--gammas", default=",".join(map(str, GAMMAS)), help="the popularity bonus weights swept")
    ap.add_argument("--explain-spam", action="store_true", help="which spam tags are in which theme, and theme-side rankings")
    ap.add_argument("--theme-penalties", default="0.01,0.02,0.04,0.08",
                    help="with --explain-spam: the themes' popularity penalties c swept (cosine - c ln posts(b), "
                    "ranking.popularity_penalty, the search side's search.theme_popularity_penalty)")
    args = ap.parse_args()

    from topictensor.ranking import popularity_penalty
    from topictensor.quality import CooccurrenceCounts, count_ranking_quality, nearest_ids, spam_share

    over = bench_trainer.parse_sets(args.set)
    gammas = sorted({0.0, *(float(g) for g in args.gammas.split(","))})
    summary = []
    for spec in args.corpora.split(","):
        d = bench_trainer.DEFAULT_BENCH if spec == "bench" else Path(spec)
        name = spec if spec == "bench" else d.name
        t0 = time.perf_counter()
        train_tags = bench_trainer.read_tags(str(d / "train.parquet"))
        heldout = bench_trainer.read_tags(str(d / "heldout.parquet"))
        counts = CooccurrenceCounts.from_posts(train_tags)
        index, V = counts.index, len(counts.index)
        ref = count_ranking_quality(counts, heldout).quality
        truth = truth_for(d, train_tags)
        _, unit, res = gap_analysis.train_aligned(d / "train.parquet", counts,
                                                  {"dim": args.dim, "threads": args.threads, **over})
        logp = np.log(np.maximum(counts.posts_with.astype(np.float64), 1.0)).astype(np.float32)
        banned = np.zeros(V, dtype=bool)
        if truth:
            banned[[index[t] for t in truth["spam"] if t in index]] = True
        print(f"\n### {name}: {V} tags; count table {ref:.4f}; ours trained in {res.seconds:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f}\n", flush=True)

        _, c_hits, c_qhits, c_slots = gap_analysis.score_posts(index, heldout, counts.nearest)
        cm = bench_trainer.planted_metrics(counts, truth) if truth else {}
        rows = [{"ranking": "count table", "quality": ref, "of_count": 1.0,
                 "spam_hits": float(banned[c_hits].mean()) if len(c_hits) else 0.0,
                 "topic_p10": cm.get("topic_p10"), "spam_themes_bonus": cm.get("spam_share")}]
        first = None
        hit_records = {}
        for g in gammas:
            bonus = g * logp
            q, hits, qhits, _ = gap_analysis.score_posts(index, heldout,
                                                         lambda qq, k, b=bonus: nearest_ids(unit, qq, k, b))
            hit_records[g] = (hits, qhits)
            m = bench_trainer.planted_metrics((unit, index), truth, bonus=bonus, theme_bonus=bonus) if truth else {}
            rows.append({"ranking": f"ours, cosine + {g} ln posts(b)", "quality": q, "of_count": q / ref,
                         "spam_hits": float(banned[hits].mean()) if len(hits) else 0.0,
                         "topic_p10": m.get("topic_p10"), "spam_themes_bonus": m.get("spam_share")})
            rows[-1]["gamma"] = g
            if first is None and q / ref >= TARGET:
                first = rows[-1]
        cols = ["ranking", "quality", "of_count", "spam_hits"] + (["topic_p10", "spam_themes_bonus"] if truth else [])
        print(bench_trainer.fmt_table(rows, cols))
        base = rows[1]
        print(f"\nthemes ranked by plain cosine (any gamma): spam share {base.get('spam_themes_bonus')}; "
              f"count table {cm.get('spam_share')}")
        if first:
            print(f"smallest gamma reaching {TARGET:.0%}: {first['gamma']} -> {first['of_count']:.1%}, topic precision@10 "
                  f"{first.get('topic_p10')} (gamma 0: {base.get('topic_p10')}), spam share of themes with the bonus "
                  f"{first.get('spam_themes_bonus')}")
        else:
            print(f"no gamma of {gammas} reaches {TARGET:.0%} (best {max(r['of_count'] for r in rows[1:]):.1%})")
        line = {"corpus": name, "count": ref, "ours": base["of_count"], "gamma95": first["gamma"] if first else None,
                "of_count95": first["of_count"] if first else None}
        reach = [r for r in rows[1:] if r["of_count"] >= TARGET]
        line["gammas_95"] = " ".join(f"{r['gamma']:g}" for r in reach) or "none"
        if truth and reach:
            # the best topic precision among the gammas that reach the target
            line["p10_best95"] = max(r["topic_p10"] for r in reach)
        if truth:
            line |= {"p10_0": base["topic_p10"], "p10_95": first["topic_p10"] if first else None,
                     "p10_count": cm["topic_p10"], "spam_cos": base["spam_themes_bonus"],
                     "spam_95": first["spam_themes_bonus"] if first else None, "spam_count": cm["spam_share"]}

        if truth:
            posts = heldout_ids(index, heldout)
            o_all, o_free = oracle_bound(posts, banned)
            n_slots = len(c_slots)
            spam_list = np.flatnonzero(banned)

            def struck(qq, k):
                near = counts.nearest(qq, k + len(spam_list))
                out = np.full((len(qq), k), -1, dtype=np.int64)
                for r, row in enumerate(near):
                    keep = row[(row >= 0) & ~banned[np.maximum(row, 0)]][:k]
                    out[r, : len(keep)] = keep
                return out

            q_struck, *_ = gap_analysis.score_posts(index, heldout, struck)
            _, o_hits, _, _ = gap_analysis.score_posts(index, heldout, lambda qq, k: nearest_ids(unit, qq, k))
            c_free = int((~banned[c_hits]).sum()) / n_slots
            o_free_hits = int((~banned[o_hits]).sum()) / n_slots
            brows = [
                {"without planted spam/generic tags in a top (n-1)": "oracle upper bound, any ranking",
                 "quality": o_free, "of_count": o_free / ref},
                {"without planted spam/generic tags in a top (n-1)": "(the same oracle with them allowed)",
                 "quality": o_all, "of_count": o_all / ref},
                {"without planted spam/generic tags in a top (n-1)": "count table, those tags struck from its lists",
                 "quality": q_struck, "of_count": q_struck / ref},
                {"without planted spam/generic tags in a top (n-1)": "count table's hits on the other tags",
                 "quality": c_free, "of_count": c_free / ref},
                {"without planted spam/generic tags in a top (n-1)": "ours' (cosine) hits on the other tags",
                 "quality": o_free_hits, "of_count": o_free_hits / ref},
            ]
            print()
            print(bench_trainer.fmt_table(brows, list(brows[0])))
            line |= {"bound": o_free / ref, "struck": q_struck / ref}

            # where each ranking's hits fall, as shares of the count table's quality: the query's
            # own topic, a planted spam/generic tag, or any other tag (another topic, or none)
            topic_id = {t: i for i, t in enumerate(sorted(set(truth["topic_of"].values())))}
            row_topic = np.full(V, -1, dtype=np.int64)
            for t, tp in truth["topic_of"].items():
                if t in index:
                    row_topic[index[t]] = topic_id[tp]

            def split(label, hits, qhits):
                same = (row_topic[hits] >= 0) & (row_topic[hits] == row_topic[qhits])
                sp = banned[hits]
                return {"hits of": label, "own topic": int(same.sum()) / n_slots / ref,
                        "spam/generic": int(sp.sum()) / n_slots / ref,
                        "other": int((~same & ~sp).sum()) / n_slots / ref, "all": len(hits) / n_slots / ref}

            srows = [split("count table", c_hits, c_qhits), split("ours, cosine", *hit_records[0.0])]
            if first and first["gamma"] != 0.0:
                srows.append(split(f"ours, cosine + {first['gamma']} ln posts(b)", *hit_records[first["gamma"]]))
            print()
            print(bench_trainer.fmt_table(srows, list(srows[0])))

            if args.explain_spam:
                spam = set(truth["spam"])
                ours_tops = bench_trainer.theme_tops((unit, index), truth)
                count_tops = bench_trainer.theme_tops(counts, truth)
                print("\nspam tags in each theme's top 20 (ours, cosine | count table), with their training posts:")
                pw = {t: int(counts.posts_with[i]) for t, i in index.items()}
                for theme in list(truth["themes"])[:15]:
                    o = [t for t in ours_tops[theme] if t in spam]
                    c = [t for t in count_tops[theme] if t in spam]
                    print(f"  {theme}: {', '.join(f'{t}({pw[t]})' for t in o)} | {', '.join(c)}")
                if len(truth["themes"]) > 15:
                    print(f"  ... ({len(truth['themes']) - 15} more themes)")
                every = Counter(t for top in ours_tops.values() for t in top if t in spam)
                print(f"  ours: in how many of the {len(ours_tops)} themes: {dict(every.most_common())}")
                nn = nearest_ids(unit, np.arange(V), 10)
                hub = np.einsum("vd,vkd->v", unit, unit[nn]).astype(np.float32) / 10  # mean cos to its 10 nearest
                trows = []
                variants = [("cosine (the search side)", None)]
                # posts(b): the tag's training posts here, the model's Embeddings.counts on the search side
                variants += [(f"cosine - {dl} ln posts(b)", popularity_penalty(counts.posts_with, dl))
                             for dl in (float(x) for x in args.theme_penalties.split(","))]
                variants += [(f"cosine - {bt} x mean cos to its 10 nearest", -bt * hub) for bt in (0.25, 0.5, 1.0)]
                for label, tb in variants:
                    tops = bench_trainer.theme_tops((unit, index), truth, tb)
                    trows.append({"theme ranking (ours)": label, "spam_share": spam_share(tops.values(), spam),
                                  "theme_purity": theme_purity(tops, truth)})
                trows.append({"theme ranking (ours)": "(count table)", "spam_share": cm["spam_share"],
                              "theme_purity": theme_purity(count_tops, truth)})
                print()
                print(bench_trainer.fmt_table(trows, list(trows[0])))
        summary.append(line)
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)

    print("\n### summary (of_count: share of the count table's quality; p10: topic precision@10; spam: themes)\n")
    print(bench_trainer.fmt_table(summary, list(dict.fromkeys(k for r in summary for k in r))))


if __name__ == "__main__":
    main()
