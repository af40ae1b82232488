"""Filtered ranking at scale without losing exactness: language blocks (the table grouped by
language), follower/post bounds applied to a block or gathered, the switch between the exact path
and the index, and the candidate count -- each checked against a brute-force ranking of every row."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from topictensor.search.bloggers import GATHER_COST, BloggerTable, Filters, Popularity, rank_bloggers, score
from topictensor.search.index import HnswIndex
from topictensor.search.params import SearchConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exact_index import ExactIndex  # noqa: E402

LANGS = ["de", "en", "nl", "ru"]


def make_table(n=3000, dim=16, seed=7, grouped=True) -> BloggerTable:
    """``n`` bloggers in languages en 60%, ru 25%, de 12%, nl 3%; rows grouped by language (as the
    blogger_vectors stage writes them) or shuffled."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(12, dim))
    x = centroids[rng.integers(12, size=n)] + 0.7 * rng.normal(size=(n, dim))
    vectors = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    langs = rng.choice(LANGS, size=n, p=[0.12, 0.60, 0.03, 0.25])
    order = np.argsort(langs, kind="stable") if grouped else np.arange(n)
    cols = {
        "blogger_id": np.asarray([f"b{i:05d}" for i in range(n)]), "username": np.asarray([f"u{i}" for i in range(n)]),
        "lang": langs, "followers": rng.lognormal(8, 1.5, n).astype(np.int64), "likes": rng.lognormal(3, 1.0, n),
        "likes_total": np.zeros(n, np.int64), "posts": rng.integers(1, 200, n), "tags": rng.integers(1, 500, n),
    }
    vectors = vectors[order]
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return BloggerTable(pa.table({
        **{k: pa.array(v[order]) for k, v in cols.items()},
        "vector": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * dim), flat),
    }))


def brute_force(table: BloggerTable, q, top, pop, filters=Filters(), exclude=()):
    """Every row scored with :func:`score` (the formula itself), filtered with plain comparisons."""
    q = q / np.linalg.norm(q)
    sims = table.vectors @ q
    values = score(sims, table.likes, table.followers, table.tags, pop)
    keep = np.ones(len(table), dtype=bool)
    if filters.languages:
        keep &= np.isin(np.char.lower(table.langs.astype(str)), filters.languages)
    if filters.min_followers is not None:
        keep &= table.followers >= filters.min_followers
    if filters.max_followers is not None:
        keep &= table.followers <= filters.max_followers
    if filters.min_posts is not None:
        keep &= table.posts >= filters.min_posts
    for b in exclude:
        keep[table.row[b]] = False
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((rows, -values[rows]))][:top]
    return [str(table.ids[r]) for r in rows], values[rows]


@pytest.fixture(scope="module")
def tables():
    return make_table(grouped=True), make_table(grouped=False)


@pytest.fixture(scope="module")
def queries():
    rng = np.random.default_rng(11)
    return rng.normal(size=(15, 16)).astype(np.float32)


CASES = [
    Filters(lang="de"),                                           # a 12% block
    Filters(lang="nl"),                                           # a 3% block
    Filters(lang="ru,NL"),                                        # two blocks
    Filters(min_followers=2000, max_followers=20_000),            # a follower range over the whole table
    Filters(min_posts=150),                                       # min posts
    Filters(lang="en", min_followers=50_000),                     # a selective bound inside a block: gathered
    Filters(lang="de", min_posts=20, max_followers=10_000),       # a loose bound inside a block: masked
    Filters(lang="xx"),                                           # no such language
]


@pytest.mark.parametrize("filters", CASES)
def test_exact_path_equals_brute_force_on_grouped_and_shuffled_tables(tables, queries, filters):
    pop = Popularity(0.3, 0.5, 0.2)
    for table in tables:
        for q in queries:
            ranking = rank_bloggers(table, q, 15, popularity=pop, filters=filters)
            expected_ids, expected_values = brute_force(table, q, 15, pop, filters)
            assert ranking.method == "exact"
            assert [h.blogger_id for h in ranking.hits] == expected_ids
            # float32 cosines: a gathered product and a block product round apart in the last bits
            np.testing.assert_allclose([h.score for h in ranking.hits], expected_values, rtol=1e-6)
            assert all(filters.mask(table)[table.row[h.blogger_id]] for h in ranking.hits)


def test_the_grouped_table_is_sliced_and_the_shuffled_one_copied_once(tables):
    grouped, shuffled = tables
    assert grouped.grouped and not shuffled.grouped
    assert grouped._g_vectors is grouped.vectors  # no copy: language blocks are slices of the table
    assert grouped.lang_counts() == shuffled.lang_counts()
    block = grouped.lang_blocks(["nl"])[0]
    assert set(grouped.langs[block]) == {"nl"} and block.stop - block.start == grouped.lang_counts()["nl"]


def test_lookalikes_exclude_self_inside_a_language_block(tables, queries):
    grouped, shuffled = tables
    pop = Popularity()
    for table in (grouped, shuffled):
        someone = str(table.ids[np.flatnonzero(table.langs == "de")[3]])
        own = table.vectors[table.row[someone]]
        for filters in (Filters(lang="de"), Filters(lang="de", min_followers=30_000), Filters()):
            ranking = rank_bloggers(table, own, 10, popularity=pop, filters=filters, exclude=[someone])
            assert someone not in [h.blogger_id for h in ranking.hits]
            assert [h.blogger_id for h in ranking.hits] == brute_force(table, own, 10, pop, filters, [someone])[0]


class CountingIndex:
    def __init__(self, vectors):
        self.exact, self.asked = ExactIndex(vectors), []

    def __len__(self):
        return len(self.exact)

    def search(self, q, k):
        self.asked.append(k)
        return self.exact.search(q, k)


def test_switch_between_exact_and_index_by_rows_touched(tables, queries):
    grouped, _ = tables
    counts = grouped.lang_counts()
    config = SearchConfig(exact_max_bloggers=counts["de"], candidate_share=0, max_candidates=10**6)
    pop = Popularity()
    index = CountingIndex(grouped.vectors)
    for filters, method in [
        (Filters(lang="de"), "exact"),                       # the block is within the limit
        (Filters(lang="nl"), "exact"),
        (Filters(lang="en"), "index"),                       # a larger block: the index
        (Filters(lang="de,nl"), "index"),                    # both blocks together exceed it
        (Filters(), "index"),                                # everyone
        (Filters(min_posts=100), "index"),                   # a loose bound scans the whole table
        (Filters(min_followers=int(np.sort(grouped.followers)[-10])), "exact"),  # the top 10: gathered
    ]:
        allowed = int(filters.mask(grouped).sum())
        assert allowed > 0
        touched = sum(b.stop - b.start for b in grouped.lang_blocks(filters.languages)) if filters.languages \
            else min(len(grouped), GATHER_COST * allowed)
        assert (touched <= config.exact_max_bloggers) == (method == "exact"), filters
        index.asked.clear()
        ranking = rank_bloggers(grouped, queries[0], 10, popularity=pop, filters=filters, config=config, index=index)
        assert ranking.method == method, filters
        assert bool(index.asked) == (method == "index")
        assert [h.blogger_id for h in ranking.hits] == brute_force(grouped, queries[0], 10, pop, filters)[0]


def test_candidates_keep_the_share_term_at_all_bloggers_whatever_the_filter():
    config = SearchConfig(candidate_multiplier=10, min_candidates=200, candidate_share=0.005)
    n = 1_000_000
    assert config.candidates(50, n) == 5000
    # 40% pass a follower range: the 0.5% depth among them is still 5,000 index neighbours
    assert config.candidates(50, int(0.4 * n), 0.4) == 5000
    # a 2% filter: the fixed terms dominate (500 allowed ranks -> 25,000 neighbours: above the cap)
    assert config.candidates(50, int(0.02 * n), 0.02) == 25_000 > config.max_candidates


def test_index_path_with_language_filter_equals_brute_force(tables, queries):
    grouped, _ = tables
    index = HnswIndex.build(grouped.vectors, m=16, ef_construction=100, ef_search=100, threads=1)
    # 30% of the allowed bloggers as candidates: on this small, tightly clustered table with widely
    # spread popularity the exact top 10 reaches deep down the cosine list (at 1M, 0.5% suffices)
    config = SearchConfig(exact_max_bloggers=0, candidate_share=0.3)
    pop = Popularity()
    for filters in (Filters(lang="en"), Filters(lang="ru", min_posts=50), Filters(min_followers=1000)):
        for q in queries:
            ranking = rank_bloggers(grouped, q, 10, popularity=pop, filters=filters, config=config, index=index)
            assert ranking.method == "index"
            assert [h.blogger_id for h in ranking.hits] == brute_force(grouped, q, 10, pop, filters)[0]
