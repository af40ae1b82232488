"""Settings of the query side (config section ``search``): ranking exponents, candidate counts,
the HNSW index, and the service's limits.

Ranking: ``score = cos(theme, blogger) / (L(likes)**lambda_ * L(followers)**phi * L(tags)**tau)``
with the guarded log ``L(x) = ln(max(x, e))`` (>= 1, so a blogger with 0 or 2 followers is never
divided by zero or by a number below 1, and a zero exponent switches a factor off exactly); see
``topictensor.search.bloggers``.

Candidates: the index returns the ``candidates(top, n_bloggers, selectivity)`` nearest bloggers by
cosine, which are then re-ranked exactly with the score. See :meth:`SearchConfig.candidates`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SearchConfig(BaseModel):
    """Every knob of theme and blogger search; part of the pipeline config under ``search``."""

    model_config = ConfigDict(extra="forbid")

    # Ranking -------------------------------------------------------------------------------
    # Chosen by benchmarks/bench_selection.py --grid (README, "Choosing bloggers"): on three planted
    # corpora the best mean precision@20 over the hard cases among the settings that beat literal
    # matching everywhere and whose top 20 reaches >= 1.0 of the on-theme bloggers' median followers
    # on every corpus (target 0.8, with a margin; the old 0.2/0.2/0.2 reached 0.04).
    lambda_: float = Field(-0.05, ge=-1, le=1, description="Exponent of L(mean likes per post) in the score (negative: favours it).")
    phi: float = Field(-0.1, ge=-1, le=1, description="Exponent of L(followers) in the score (negative: favours it).")
    tau: float = Field(0.2, ge=-1, le=1, description="Exponent of L(tag uses) in the score (negative: favours it).")

    # A theme's tags (/topic, the explorer's nearest tags) --------------------------------------
    # Chosen by benchmarks/tradeoff.py --explain-spam --theme-penalties (README, "A theme's tags: the
    # popularity penalty"): spam share and theme purity of the themes' top 20 on five corpus shapes.
    theme_popularity_penalty: float = Field(
        0.045, ge=0, le=1, allow_inf_nan=False,
        description="A theme's tags are ranked by cosine - this * ln(the tag's training count): frequent "
        "topic-free tags (love, instagood), near every sum of tags, fall down the list (0: plain cosine). "
        "The returned relevance stays the cosine. Blogger search is not affected.")

    # Blogger vectors ----------------------------------------------------------------------
    vector_weights: Literal["reweight", "uniform"] = Field(
        "reweight",
        description="reweight: each tag use counts with the reweight stage's habit weight (a tag a "
        "blogger puts in every post does not drown their other themes); uniform: every use counts 1.",
    )
    vector_workers: int = Field(
        1, ge=0, le=64,
        description="Processes the blogger_vectors stage computes its 16 blogger buckets in (0: one per core, at "
        "most 16; 1: in the stage's own process). The output does not depend on it. Default 1: on the 2-core "
        "machine 2 workers took the wall time of 1 (README: \"Weekly refresh\"); set 0 or 16 on a many-core worker.",
    )

    # Explanations and tag exclusions (stored per blogger by the blogger_vectors stage) ---------
    profile_tags: int = Field(
        32, ge=1, le=1000,
        description="Each blogger's this many largest tag weights are stored with their vector: the "
        "explanations' contributions and the tag exclusions come from them (benchmarks/bench_explain.py "
        "measures how much of the relevance they cover).",
    )
    explain_tags: int = Field(5, ge=1, le=100, description="Tags shown in an explanation (per-query override).")

    # Relevance cut-off (per-query override: min_relevance / relative_relevance) ---------------
    min_relevance: float | None = Field(
        None, ge=-1, le=1,
        description="Bloggers and tags with a cosine to the theme below this are not returned (None: off).")
    relative_relevance: float = Field(
        0.0, ge=0, le=1,
        description="...nor those below this share of the best hit's cosine (0: off).")
    max_exclusions: int = Field(1000, ge=0, description="Bloggers or tags one query may exclude.")
    suggest_edit_vocabulary: int = Field(
        100_000, ge=0,
        description="'Did you mean' searches this many most used tags by edit distance (prefixes: all tags); "
        "benchmarks/bench_suggest.py: ~40 ms a lookup at 100,000 tags, ~2.6 s at 1M.")
    max_export: int = Field(10_000, ge=1, description="Rows of one export (/bloggers.csv, --csv): "
                            "the whole result set up to this many; larger requests are refused.")

    # Candidates ----------------------------------------------------------------------------
    # Counted in cosine ranks among the bloggers passing the filters (see candidates()).
    candidate_multiplier: int = Field(10, ge=1, description="Re-rank at least top * this many allowed candidates...")
    min_candidates: int = Field(
        500, ge=1,
        description="...and at least this many: at 1M bloggers, 190-240 allowed candidates missed one of the "
        "exact top 10 in 5% of queries, 466 in none (benchmarks/bench_index.py)...",
    )
    candidate_share: float = Field(
        0.005, ge=0, le=1,
        description="...and at least this share of the allowed bloggers: a blogger with tiny counts and a lower "
        "cosine can outscore a popular one, and the number of such bloggers grows with the corpus (at 1M "
        "bloggers the exact top 10 reaches past cosine rank 1,000; 5,000 exact candidates gave 100/100 queries).",
    )
    max_candidates: int = Field(20_000, ge=1,
                                description="Needing more than this: search the filtered bloggers exactly.")
    exact_max_bloggers: int = Field(
        250_000, ge=0,
        description="Search exactly (numpy) when the exact path would touch at most this many rows: the "
        "bloggers of the filtered languages (one contiguous block each), or 4x the bloggers a selective "
        "follower/post bound leaves (gathered rows cost ~4x). Measured at 1M x 100 (benchmarks/bench_index.py): "
        "a 250k-row block ranks in about the time of the index's 5,000 candidates (~10 ms).",
    )

    # HNSW index (nmslib) -----------------------------------------------------------------
    # Defaults measured on 1M synthetic blogger vectors of dim 100 (benchmarks/bench_index.py):
    # M=32, efSearch=1600 gave recall@10 0.991 at 21x exact numpy's queries per second (M=16: 0.982).
    hnsw_m: int = Field(32, ge=2, le=128, description="HNSW graph degree (nmslib 'M').")
    ef_construction: int = Field(200, ge=8, description="HNSW build beam width (nmslib 'efConstruction').")
    ef_search: int = Field(1600, ge=8, description="HNSW query beam width (nmslib 'efSearch'); raised to the "
                           "candidate count when that is larger.")
    index_threads: int = Field(0, ge=0, description="Threads to build the index with (0 = all cores).")

    # Service -----------------------------------------------------------------------------
    default_top: int = Field(50, ge=1, description="Results when a query gives no top.")
    max_top: int = Field(1000, ge=1, description="Larger requests are refused (4xx), not truncated.")
    max_query_terms: int = Field(50, ge=1, description="Tags allowed in one theme query.")
    reload_seconds: float = Field(
        10.0, ge=0, description="The service checks the production pointer at most this often (0 = every request)."
    )

    def candidates(self, top: int, n_allowed: int = 0, selectivity: float = 1.0) -> int:
        """How many nearest bloggers (by cosine) to fetch from the index for ``top`` results.

        The filtered ranking needs ``max(top * candidate_multiplier, min_candidates, candidate_share *
        n_allowed)`` cosine ranks among the ``n_allowed`` bloggers that pass the filters; the index
        returns everyone, so that depth is divided by ``selectivity`` (the share passing). The share
        term thus stays ``candidate_share`` x ALL bloggers whatever the filter (5,000 at 1M), and only
        the fixed terms grow for selective filters. Above ``max_candidates`` the caller searches
        exactly instead; when fewer than ``top`` candidates pass it doubles the count and retries.
        """
        wanted = max(top * self.candidate_multiplier, self.min_candidates, math.ceil(self.candidate_share * n_allowed))
        if selectivity < 1.0:
            wanted = math.ceil(wanted / max(selectivity, 1e-9))
        return wanted
