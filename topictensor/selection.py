"""Measuring blogger selection against planted truth: who truly posts on a theme, and how well a
ranking finds them compared with literal hashtag matching.

The truth is what ``topictensor synth`` writes beside a corpus (``_truth/interests.parquet``: each
blogger's themes with the share of their posts on each; ``_truth/bloggers.parquet``: the kind of
blogger and the planted hard cases). A blogger *is on* a theme when at least ``ON_THEME_SHARE`` of
their posts are about it; the gain of an on-theme blogger (for NDCG) is that share.

A theme's query is its headline tags (``synth.HEADLINE_TAGS``: ``car, cars``). Every method ranks all
bloggers; a *case* asks the ranking to put its positives above its negatives, and is scored on the
ranking restricted to positives and negatives (so a case measures only what it is about):

============  ====================================================  ===============================================
case          positives                                              negatives
============  ====================================================  ===============================================
all           on-theme bloggers                                      everyone else
synonyms      on-theme bloggers who never wrote a query tag          everyone not on the theme
one_off       on-theme bloggers with at most 2 posts carrying a      off-theme bloggers with 1-2 such posts
              query tag (thin literal evidence)                      (accidental uses, planted and natural)
spam          on-theme bloggers                                      bloggers planted to spam the theme's tags
generic       on-theme bloggers                                      generic popular accounts (every theme a little)
============  ====================================================  ===============================================

Literal matching ranks bloggers by the number of their posts carrying a query tag, ties by the
share of their posts that do, then by id. Reach: median followers of a list's top 20 over the
median followers of the theme's on-theme bloggers (case ``all`` only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ON_THEME_SHARE = 0.15
ONE_OFF_MAX_POSTS = 2
CASES = ("all", "synonyms", "one_off", "spam", "generic")
MIN_POSITIVES = 5  # a case with fewer positives (or no negatives) for a theme is not scored for it


@dataclass
class SelectionTruth:
    """Planted truth of one corpus: interests (blogger_id, theme, share) and bloggers (kind, cases)."""

    interests: pd.DataFrame
    bloggers: pd.DataFrame

    @classmethod
    def read(cls, raw_dir: str | Path) -> "SelectionTruth":
        folder = Path(raw_dir) / "_truth"
        for name in ("interests.parquet", "bloggers.parquet"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} missing: write the corpus with a `topictensor synth` "
                                        "that records blogger interests")
        return cls(pd.read_parquet(folder / "interests.parquet"), pd.read_parquet(folder / "bloggers.parquet"))

    def shares(self, theme: str) -> dict[str, float]:
        rows = self.interests[self.interests["theme"] == theme]
        return dict(zip(rows["blogger_id"], rows["share"].astype(float)))

    def on_theme(self, theme: str) -> dict[str, float]:
        return {b: s for b, s in self.shares(theme).items() if s >= ON_THEME_SHARE}

    def of_kind(self, kind: str) -> set[str]:
        return set(self.bloggers.loc[self.bloggers["kind"] == kind, "blogger_id"])

    def spamming(self, tags: Iterable[str]) -> set[str]:
        wanted = set(tags)
        return {b for b, spammed in zip(self.bloggers["blogger_id"], self.bloggers["spammed_tags"])
                if wanted & set(spammed)}


class LiteralIndex:
    """Per blogger, which posts carry which (normalised) tags: literal hashtag matching."""

    def __init__(self, blogger_ids: Sequence[str], tag_lists: Sequence[Sequence[str]]):
        frame = pd.DataFrame({"blogger_id": list(blogger_ids), "tags": list(tag_lists)})
        frame["post"] = np.arange(len(frame))
        self.posts_per_blogger = frame.groupby("blogger_id").size()
        flat = frame[["blogger_id", "post", "tags"]].explode("tags").dropna(subset=["tags"])
        self._uses = flat.drop_duplicates(["post", "tags"]).rename(columns={"tags": "tag"})

    def counts(self, tags: Iterable[str]) -> pd.Series:
        """Posts per blogger carrying at least one of ``tags`` (bloggers with none: absent)."""
        hit = self._uses[self._uses["tag"].isin(set(tags))]
        return hit.drop_duplicates("post").groupby("blogger_id").size()

    def ranking(self, tags: Iterable[str]) -> list[str]:
        """Every blogger, most posts carrying a query tag first; ties by that share of posts, then id."""
        counts = self.counts(tags).reindex(self.posts_per_blogger.index, fill_value=0)
        share = counts / self.posts_per_blogger
        frame = pd.DataFrame({"count": counts, "share": share})
        frame["id"] = frame.index
        return frame.sort_values(["count", "share", "id"], ascending=[False, False, True]).index.tolist()


def case_sets(truth: SelectionTruth, theme: str, query_tags: Sequence[str],
              literal_counts: pd.Series, everyone: Iterable[str]) -> dict[str, tuple[dict[str, float], set[str]]]:
    """case -> (positives with their gains, negatives) for one theme (see the module docstring)."""
    everyone = set(everyone)
    on = {b: s for b, s in truth.on_theme(theme).items() if b in everyone}
    off = everyone - set(on)
    used = literal_counts.to_dict()
    out = {"all": (on, off)}
    out["synonyms"] = ({b: s for b, s in on.items() if used.get(b, 0) == 0}, off)
    out["one_off"] = ({b: s for b, s in on.items() if used.get(b, 0) <= ONE_OFF_MAX_POSTS},
                      {b for b in off if 1 <= used.get(b, 0) <= ONE_OFF_MAX_POSTS})
    out["spam"] = (on, truth.spamming(query_tags) & off)
    out["generic"] = (on, truth.of_kind("generic") & off)
    return out


def list_metrics(ranking: Sequence[str], positives: dict[str, float], negatives: set[str],
                 ks: Sequence[int] = (20, 50), ndcg_k: int = 50) -> dict[str, float]:
    """precision@k and NDCG@ndcg_k of ``ranking`` restricted to positives and negatives."""
    pool = [b for b in ranking if b in positives or b in negatives]
    out: dict[str, float] = {}
    for k in ks:
        top = pool[:k]
        out[f"p@{k}"] = sum(b in positives for b in top) / min(k, len(pool)) if pool else 0.0
    gains = np.array([positives.get(b, 0.0) for b in pool[:ndcg_k]])
    discounts = 1 / np.log2(np.arange(2, ndcg_k + 2))
    ideal = np.sort(np.fromiter(positives.values(), dtype=float))[::-1][:ndcg_k]
    dcg = float(gains @ discounts[:len(gains)])
    idcg = float(ideal @ discounts[:len(ideal)])
    out[f"ndcg@{ndcg_k}"] = dcg / idcg if idcg > 0 else 0.0
    return out


def reach(ranking: Sequence[str], on_theme: Iterable[str], followers: dict[str, int], k: int = 20) -> float:
    """Median followers of ``ranking[:k]`` over the median followers of the on-theme bloggers."""
    base = float(np.median([followers[b] for b in on_theme]))
    return float(np.median([followers[b] for b in ranking[:k]])) / base if base > 0 else 0.0


def evaluate_theme(rankings: dict[str, Sequence[str]], truth: SelectionTruth, theme: str,
                   query_tags: Sequence[str], literal: LiteralIndex, followers: dict[str, int]) -> list[dict]:
    """One row per (method, case) for ``theme``: precision@20/@50, NDCG@50, sizes and (case all) reach.

    Every ranking must list the same bloggers (a method that cannot rank some appends them last)."""
    everyone = set(next(iter(rankings.values())))
    sets = case_sets(truth, theme, query_tags, literal.counts(query_tags), everyone)
    rows = []
    for case, (positives, negatives) in sets.items():
        if len(positives) < MIN_POSITIVES or not negatives:
            continue
        for method, ranking in rankings.items():
            row = {"theme": theme, "case": case, "method": method, "positives": len(positives),
                   "negatives": len(negatives), **list_metrics(ranking, positives, negatives)}
            if case == "all":
                row["reach"] = reach(ranking, positives, followers)
            rows.append(row)
    return rows


def complete(ranked: Sequence[str], everyone: Iterable[str]) -> list[str]:
    """``ranked`` followed by the bloggers it lacks (in id order): a ranking of everyone."""
    seen = set(ranked)
    return list(ranked) + sorted(b for b in everyone if b not in seen)
