"""Where the gap to the count table comes from, per corpus shape (diagnosis, not a lever table).

    nice -n 10 python benchmarks/gap_analysis.py --corpora bench,.data/shapes/short,.data/shapes/generic,.data/shapes/zipf,.data/shapes/synth

For every corpus, on the same split and in one process:

* the count table, and the count table re-ranked by count(a, b) / posts(b)**beta: beta 1 ranks by
  P(a | b) (PMI-like: how specific b is to a), beta 0 is the count table itself. How far quality
  falls with beta says how much of the metric is popularity;
* a rank-``dim`` truncated SVD of log(1 + count), ranked by the reconstructed row (a dot product)
  and by the cosine of the same factor rows: whether ``dim`` numbers per tag can hold the count
  ranking at all, and what cosine (what serving uses) costs it;
* our trainer (its defaults, or ``--set field=value``), and the same vectors re-ranked by cosine +
  gamma * log(posts(b)) (a post-hoc popularity bonus that no vector geometry gives exactly;
  ``quality(..., bonus=)``): how much of our gap is popularity (the whole curve, with topic
  precision and spam share under the same ranking: ``benchmarks/tradeoff.py``);
* output compositions of the same vectors that cosine can still rank (what serving could hold):
  a popularity coordinate appended (z = z0 + c * standardised ln posts(b), the rest scaled by
  sqrt(1 - z^2)) and partial centering (unit - alpha * mean direction), each with topic
  precision@10 and the spam share of themes;
* for a corpus with a planted truth: the share of each ranking's hits that are planted spam or
  generic tags, and the quality counting only the other hits;
* the held-out hits of the count table and ours split by the neighbour's training frequency (the
  band of posts(b)), and by the query tag's (posts(a)): where the missing hits are.

All figures are the source project's metric (``topictensor.quality``). Prints one block per corpus.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_trainer  # noqa: E402
from corpora import truth_for  # noqa: E402

BANDS = (1, 10, 30, 100, 300, 1000, 3000, 10**9)


def band_of(n: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(BANDS), n, side="right") - 1


def band_label(b: int) -> str:
    lo, hi = BANDS[b], BANDS[b + 1]
    return f"{lo}-{hi - 1}" if hi < 10**9 else f">={lo}"


def score_posts(index, heldout, neighbours):
    """(quality, per-slot records): for every (post, tag) slot, the query id, its neighbours and hits."""
    posts = []
    for tags in heldout:
        seen = dict.fromkeys(index[t] for t in tags if t in index)
        if len(seen) >= 2:
            posts.append(list(seen))
    queries = np.unique(np.fromiter((i for p in posts for i in p), dtype=np.int64))
    k = max(len(p) for p in posts) - 1
    neigh = neighbours(queries, k)
    row_of = {int(q): r for r, q in enumerate(queries)}
    hits = total = 0
    hit_ids, query_of_hit, slot_queries = [], [], []
    for p in posts:
        n, members = len(p), set(p)
        for t in p:
            near = neigh[row_of[t], : n - 1].tolist()
            got = [j for j in near if j in members]
            hits += len(got)
            total += n - 1
            hit_ids.extend(got)
            query_of_hit.extend([t] * len(got))
            slot_queries.extend([t] * (n - 1))
    return hits / total, np.asarray(hit_ids, dtype=np.int64), np.asarray(query_of_hit, dtype=np.int64), \
        np.asarray(slot_queries, dtype=np.int64)


def top_k_dense(score_rows, n_rows: int):
    """neighbours(queries, k) from a function giving dense score rows [len(q), V] (self excluded by caller)."""
    def neighbours(queries, k):
        out = np.empty((len(queries), k), dtype=np.int64)
        batch = max(1, (64 * 1024**2) // (8 * n_rows))
        for s in range(0, len(queries), batch):
            q = queries[s:s + batch]
            sc = score_rows(q).astype(np.float64)
            sc[np.arange(len(q)), q] = -np.inf
            top = np.argpartition(-sc, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sc, top, axis=1), axis=1, kind="stable")
            out[s:s + len(q)] = np.take_along_axis(top, order, axis=1)
        return out
    return neighbours


def train_aligned(train_path, counts, config: dict):
    """Our trainer (TrainConfig(**config)) on a train file, its rows aligned to the count table's
    index (zeros for tags below min_count): (vectors, unit vectors, TrainResult)."""
    import pyarrow.parquet as pq

    from topictensor.train.params import TrainConfig
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table

    cfg = TrainConfig(**config)
    vocab, posts = encode_table(pq.read_table(str(train_path), columns=["tags"]), cfg.min_count)
    res = train(posts, vocab, cfg)
    vec = np.zeros((len(counts.index), cfg.dim), dtype=np.float32)
    for tag, i in counts.index.items():
        j = vocab.index.get(tag)
        if j is not None:
            vec[i] = res.vectors[j]
    unit = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    return vec, unit, res


def corpus_arguments(doc: str) -> argparse.ArgumentParser:
    """The options this script and ``tradeoff.py`` share: the corpora and how ours is trained."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="bench")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="our trainer's field=value")
    return ap


def main() -> None:
    args = corpus_arguments(__doc__).parse_args()

    from sklearn.utils.extmath import randomized_svd

    from topictensor.quality import CooccurrenceCounts, count_ranking_quality, nearest_ids, quality

    over = bench_trainer.parse_sets(args.set)

    for spec in args.corpora.split(","):
        d = bench_trainer.DEFAULT_BENCH if spec == "bench" else Path(spec)
        name = spec if spec == "bench" else d.name
        train_tags = bench_trainer.read_tags(str(d / "train.parquet"))
        heldout = bench_trainer.read_tags(str(d / "heldout.parquet"))
        t0 = time.perf_counter()
        counts = CooccurrenceCounts.from_posts(train_tags)
        V = len(counts.index)
        pw = counts.posts_with.astype(np.float64)
        csr = counts.counts.astype(np.float64).tocsr()
        ref = count_ranking_quality(counts, heldout).quality
        print(f"\n### {name}: {V} tags; count table {ref:.4f}; load average {os.getloadavg()[0]:.2f}\n", flush=True)
        rows = [("count table (beta 0)", ref)]

        def count_rows(beta):
            scale = pw ** -beta

            def f(q):
                dense = csr[q].toarray()
                # ties (and zero counts) by popularity, as the count table breaks them
                return np.where(dense > 0, dense * scale[None, :] + 1e-9 * pw[None, :] / pw.max(), -1.0)
            return f

        for beta in (0.25, 0.5, 1.0):
            q, *_ = score_posts(counts.index, heldout, top_k_dense(count_rows(beta), V))
            rows.append((f"count re-ranked by count / posts(b)^{beta}", q))

        # rank-dim factorisation of log(1 + count)
        logc = csr.copy()
        logc.data = np.log1p(logc.data)
        u, s, vt = randomized_svd(logc, n_components=min(args.dim, V - 1), random_state=1)
        us = u * s
        q_dot, *_ = score_posts(counts.index, heldout, top_k_dense(lambda q: us[q] @ vt, V))
        rows.append((f"SVD-{args.dim} of log(1+count), reconstructed row (dot)", q_dot))
        fac = u * np.sqrt(s)
        q_cos = quality((fac.astype(np.float32), counts.index), heldout).quality
        rows.append((f"SVD-{args.dim} of log(1+count), cosine of sqrt(s)-scaled rows", q_cos))

        # ours
        vec, unit, res = train_aligned(d / "train.parquet", counts, {"dim": args.dim, "threads": args.threads, **over})
        q_ours = quality((unit, counts.index), heldout).quality
        rows.append((f"ours {over or 'defaults'}", q_ours))
        logp = np.log(np.maximum(pw, 1.0))
        for gamma in (0.01, 0.02, 0.04, 0.08):
            qg = quality((unit, counts.index), heldout, bonus=gamma * logp).quality
            rows.append((f"ours + {gamma} * log posts(b) (post hoc)", qg))
        print(bench_trainer.fmt_table([{"ranking": r, "quality": q, "of_count": q / ref} for r, q in rows],
                                      ["ranking", "quality", "of_count"]))

        # A popularity coordinate the vectors can carry (cosine stays the ranking): unit vectors
        # scaled by sqrt(1 - z^2) with z = z0 + c * standardised ln posts(b) appended, so that
        # cos = (...) u_a.u_b + z_a z_b adds about z0 * c * ln posts(b) for every query.
        truth = truth_for(d, train_tags)
        if truth:
            zs = (logp - logp.mean()) / logp.std()
            prow = []
            variants = [("ours as trained", unit)]
            for z0, c in ((0.3, 0.05), (0.5, 0.05), (0.3, 0.2), (0.5, 0.2)):
                z = np.clip(z0 + c * zs, 0.0, 0.95)
                variants.append((f"popularity coordinate z0 {z0}, c {c}",
                                 np.hstack([unit * np.sqrt(1 - z**2)[:, None], z[:, None]])))
            # partial centering: less of the common direction, so sums of tags (themes) lean less
            # towards the tags near every tag (hubs)
            mean = unit[np.linalg.norm(vec, axis=1) > 0].mean(axis=0)
            for alpha in (0.25, 0.5, 1.0):
                variants.append((f"centred: unit - {alpha} * mean", unit - alpha * mean[None, :]))
            for label, vz in variants:
                vz = vz.astype(np.float32)
                qz = quality((vz, counts.index), heldout).quality
                m = bench_trainer.planted_metrics((vz, counts.index), truth)
                prow.append({"output composition": label, "quality": qz, "of_count": qz / ref, **m})
            cm = bench_trainer.planted_metrics(counts, truth)
            prow.append({"output composition": "(count table)", "quality": ref, "of_count": 1.0, **cm})
            print()
            print(bench_trainer.fmt_table(prow, list(prow[0])))

        # hits by band
        _, c_hits, c_qh, slots = score_posts(counts.index, heldout, counts.nearest)
        _, o_hits, o_qh, _ = score_posts(counts.index, heldout,
                                        lambda q, k: nearest_ids(unit, q, k))
        if truth:
            spam_rows = np.zeros(V, dtype=bool)
            spam_rows[[counts.index[t] for t in truth["spam"] if t in counts.index]] = True
            total = len(slots)
            c_free = int((~spam_rows[c_hits]).sum()) / total
            o_free = int((~spam_rows[o_hits]).sum()) / total
            print(f"\nhits on planted spam/generic tags: count table {spam_rows[c_hits].mean():.1%} of its hits, "
                  f"ours {spam_rows[o_hits].mean():.1%}; quality counting only the other hits: count table "
                  f"{c_free:.4f}, ours {o_free:.4f} ({o_free / c_free:.1%} of it)")
        nb = len(BANDS) - 1
        out = []
        for b in range(nb):
            ch = int((band_of(pw[c_hits]) == b).sum())
            oh = int((band_of(pw[o_hits]) == b).sum())
            cq = int((band_of(pw[c_qh]) == b).sum())
            oq = int((band_of(pw[o_qh]) == b).sum())
            sl = int((band_of(pw[slots]) == b).sum())
            out.append({"posts(tag) band": band_label(b), "tags": int((band_of(pw) == b).sum()),
                        "slots (query in band)": sl, "count hits: query in band": cq, "ours": oq,
                        "count hits: neighbour in band": ch, "ours ": oh})
        print()
        print(bench_trainer.fmt_table(out, list(out[0])))
        print(f"({time.perf_counter() - t0:.0f} s; our training {res.seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
