"""The nmslib HNSW index and its exact twin: recall, save/load, and re-ranking through the index
giving the same top results as an exact re-rank of every blogger (filters included)."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from topictensor.search.bloggers import BloggerTable, Filters, Popularity, rank_bloggers
from topictensor.search.index import HnswIndex
from topictensor.search.params import SearchConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exact_index import ExactIndex  # noqa: E402


def clustered(n, dim, n_centroids, seed):
    """Unit vectors, each a mix of two random topic centroids plus noise: realistic neighbourhoods
    (pure noise has none), with bloggers between topics."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(n_centroids, dim))
    share = rng.uniform(0.5, 1.0, size=(n, 1))
    x = (share * centroids[rng.integers(n_centroids, size=n)] + (1 - share) * centroids[rng.integers(n_centroids, size=n)]
         + 0.5 * rng.normal(size=(n, dim)))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    both = clustered(4100, 32, 60, seed=1)
    vectors, queries = both[:4000], both[4000:]  # queries from the same topics, not in the index
    return vectors, queries, HnswIndex.build(vectors, m=16, ef_construction=100, ef_search=100, threads=1)  # 1 thread: same graph every run


def test_exact_index_is_exact_and_ordered():
    vectors = clustered(500, 8, 5, seed=3)
    q = vectors[7]
    rows, sims = ExactIndex(vectors).search(q, 5)
    expected = np.argsort(-(vectors @ q), kind="stable")[:5]
    assert rows.tolist() == expected.tolist() and rows[0] == 7
    assert np.all(np.diff(sims) <= 0)


def test_hnsw_recall_at_10_against_exact(data):
    vectors, queries, index = data
    exact = ExactIndex(vectors)
    hits = 0
    for q in queries:
        hits += len(set(index.search(q, 10)[0].tolist()) & set(exact.search(q, 10)[0].tolist()))
    assert hits / (10 * len(queries)) >= 0.95


def test_hnsw_returns_cosines_and_honours_large_k(data):
    vectors, queries, index = data
    rows, sims = index.search(queries[0], 700)  # above efSearch: efSearch is raised to k
    assert len(rows) == 700 and len(set(rows.tolist())) == 700
    np.testing.assert_allclose(sims, vectors[rows] @ queries[0], atol=1e-5)


def test_save_and_load_give_the_same_answers(data, tmp_path):
    vectors, queries, index = data
    files = index.save(tmp_path, extra={"vectors_key": "k"})
    assert sorted(p.name for p in files) == ["index.json", "index.nmslib", "index.nmslib.dat"]
    import json

    params = json.loads((tmp_path / "index.json").read_text())
    assert params["M"] == 16 and params["efConstruction"] == 100 and params["size"] == 4000
    loaded = HnswIndex.load(tmp_path / "index.nmslib", params, ef_search=100)
    for q in queries[:10]:
        assert loaded.search(q, 10)[0].tolist() == index.search(q, 10)[0].tolist()


def blogger_table(vectors, seed=5) -> BloggerTable:
    """Popularity spread like the demo corpus's (followers ~ lognormal around 3,000)."""
    rng = np.random.default_rng(seed)
    n = len(vectors)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return BloggerTable(pa.table({
        "blogger_id": [f"b{i:05d}" for i in range(n)], "username": [f"u{i}" for i in range(n)],
        "lang": rng.choice(["en", "ru", "es", "de"], size=n, p=[0.5, 0.3, 0.15, 0.05]).tolist(),
        "followers": pa.array(rng.lognormal(8, 1.0, n).astype(np.int64)),
        "likes": pa.array(rng.lognormal(3, 1.0, n)), "likes_total": pa.array(np.zeros(n, np.int64)),
        "posts": pa.array(rng.integers(1, 200, n), pa.int64()), "tags": pa.array(rng.integers(10, 500, n), pa.int64()),
        "vector": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * vectors.shape[1]), flat),
    }))


@pytest.mark.parametrize("filters", [Filters(), Filters(lang="ru"), Filters(lang="de", min_followers=1000),
                                     Filters(min_posts=150, max_followers=5000)])
def test_index_rerank_equals_exact_rerank(data, filters):
    vectors, queries, index = data
    table = blogger_table(vectors)
    # the index path, with 100 candidates (2.5% of the bloggers) for the top 10
    config = SearchConfig(exact_max_bloggers=0, candidate_multiplier=10, min_candidates=100, candidate_share=0)
    pop = Popularity(0.2, 0.2, 0.2)
    for q in queries[:30]:
        via_index = rank_bloggers(table, q, 10, popularity=pop, filters=filters, config=config, index=index)
        exact = rank_bloggers(table, q, 10, popularity=pop, filters=filters, config=config, index=None)
        assert via_index.method == "index" and exact.method == "exact"
        assert [h.blogger_id for h in via_index.hits] == [h.blogger_id for h in exact.hits]
        assert [h.score for h in via_index.hits] == pytest.approx([h.score for h in exact.hits])


class CountingIndex:
    """Exact answers, but records how many candidates were asked for."""

    def __init__(self, vectors, limit=None):
        self.exact, self.asked, self.limit = ExactIndex(vectors), [], limit

    def __len__(self):
        return len(self.exact)

    def search(self, q, k):
        self.asked.append(k)
        rows, sims = self.exact.search(q, k)
        return rows[:self.limit], sims[:self.limit]


def test_candidate_rule():
    config = SearchConfig(candidate_multiplier=10, min_candidates=200, candidate_share=0.005)
    assert config.candidates(5, 1000) == 200 and config.candidates(50, 1000) == 500
    assert config.candidates(50, 1_000_000) == 5000  # grows with the corpus
    assert config.candidates(50, 1000, selectivity=0.25) == 2000  # four times as many when 1 in 4 passes


def test_too_few_filtered_candidates_doubles_then_falls_back_to_exact(data):
    vectors, queries, _ = data
    table = blogger_table(vectors)
    index = CountingIndex(vectors)
    rare = Filters(lang="de", min_followers=10_000)  # a handful of bloggers, far from most queries
    n_allowed = int(rare.mask(table).sum())
    assert 0 < n_allowed < 50
    # 1 candidate per result, 10 at least, / selectivity (~1/200): 2000, above the cap -> exact at once
    config = SearchConfig(exact_max_bloggers=0, candidate_multiplier=1, min_candidates=10, candidate_share=0,
                          max_candidates=400)
    ranking = rank_bloggers(table, queries[0], 60, popularity=Popularity(), filters=rare, config=config, index=index)
    assert ranking.method == "exact" and len(ranking.hits) == n_allowed and index.asked == []
    # an index that returns too few hits (a disconnected graph): the count doubles, then exact
    stingy = CountingIndex(vectors, limit=10)
    config = SearchConfig(exact_max_bloggers=0, candidate_multiplier=1, min_candidates=100, candidate_share=0,
                          max_candidates=1000)
    ranking = rank_bloggers(table, queries[0], 20, popularity=Popularity(), config=config, index=stingy)
    assert stingy.asked == [100, 200, 400, 800, 1000]
    assert ranking.method == "exact" and len(ranking.hits) == 20


def test_small_filtered_subsets_are_searched_exactly_without_the_index(data):
    vectors, queries, _ = data
    table = blogger_table(vectors)
    index = CountingIndex(vectors)
    config = SearchConfig(exact_max_bloggers=1000)
    ranking = rank_bloggers(table, queries[0], 5, popularity=Popularity(), filters=Filters(lang="de"),
                            config=config, index=index)
    assert ranking.method == "exact" and index.asked == []
