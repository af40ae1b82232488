"""The blogger_vectors and index stages on planted artifacts, and loading their version for search."""

import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from topictensor.artifacts import Artifact
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.registry import Registry
from topictensor.search import SearchModel
from topictensor.search.params import SearchConfig
from topictensor.stages.blogger_vectors import blogger_vectors
from topictensor.stages.index import build_index

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.planted import planted  # noqa: E402


def planted_pairs(store, rows, power=0.5, mean=1.0):
    """A reweight artifact: the kept (blogger, tag, count) pairs, all in the first bucket."""
    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.reweight import HABIT_SCHEMA, habit_file

    tables = {habit_file(b): pa.table({"blogger_id": [r[0] for r in rows] if b == 0 else [],
                                       "tag": [r[1] for r in rows] if b == 0 else [],
                                       "count": [r[2] for r in rows] if b == 0 else []}, schema=HABIT_SCHEMA)
              for b in range(PAIR_BUCKETS)}
    return planted(store, "reweight", tables, extra={"habit_power": power, "raw_mean": mean})


@pytest.fixture
def upstream(tmp_path):
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    emb = Embeddings(["car", "apple", "sea"], [9, 8, 7], np.eye(3, dtype=np.float32) * 2)
    # a: car in 1 post (weight 1), apple in 4 (weight 4 ** -0.5 each: 2 in all); b: sea, mystery; c: mystery
    pairs = [("a", "car", 1), ("a", "apple", 4), ("b", "sea", 1), ("b", "mystery", 1), ("c", "mystery", 1)]
    bloggers = pa.table({"blogger_id": ["a", "b", "c"], "username": ["ann", "bob", "cid"],
                         "followers": pa.array([1000, 50, 7], pa.int64()), "lang": ["en", "ru", "de"],
                         "posts": pa.array([2, 1, 1], pa.int64()), "likes_total": pa.array([30, 5, 1], pa.int64())})
    model = planted(store, "train", embeddings=emb)
    weighted = planted_pairs(store, pairs)
    normalized = planted(store, "normalize", {"bloggers.parquet": bloggers})
    return config, model, weighted, normalized


def test_stage_writes_one_unit_vector_per_blogger_with_known_tags(upstream):
    config, model, weighted, normalized = upstream
    ref = blogger_vectors(model, weighted, normalized, config)
    assert ref.counts == {"bloggers": 2, "bloggers_without_vector": 1, "posts": 3, "profile_tags": 3} and not ref.reused
    table = Artifact(config.open_store(), ref).read_table("bloggers.parquet")
    assert table.schema.field("vector").type == pa.list_(pa.float32())
    rows = {r["blogger_id"]: r for r in table.to_pylist()}
    np.testing.assert_allclose(rows["a"]["vector"], np.array([1.0, 2.0, 0]) / math.sqrt(5), atol=1e-6)
    profile = {k: rows["a"].pop(k) for k in ("profile_tags", "profile_weights", "profile_rest")}
    assert rows["a"] | {"vector": None} == {"blogger_id": "a", "username": "ann", "lang": "en", "followers": 1000,
                                            "likes": 15.0, "likes_total": 30, "posts": 2, "tags": 5, "vector": None}
    # the explanations' profile: weight / |sum| of each tag, heaviest first (apple 4 x 0.5, car 1)
    assert profile["profile_tags"] == ["apple", "car"] and profile["profile_rest"] == 0
    np.testing.assert_allclose(profile["profile_weights"], [2 / math.sqrt(5), 1 / math.sqrt(5)], rtol=1e-6)
    assert rows["b"]["profile_tags"] == ["sea"] and rows["b"]["profile_weights"] == [pytest.approx(1.0)]
    assert rows["b"]["tags"] == 1  # the unknown tag is not counted
    assert blogger_vectors(model, weighted, normalized, config).reused


def test_uniform_weighting_is_a_different_artifact(upstream):
    config, model, weighted, normalized = upstream
    reweighted = blogger_vectors(model, weighted, normalized, config)
    uniform = blogger_vectors(model, weighted, normalized, config, SearchConfig(vector_weights="uniform"))
    assert uniform.key != reweighted.key
    row = Artifact(config.open_store(), uniform).read_table("bloggers.parquet").to_pylist()[0]
    np.testing.assert_allclose(row["vector"], np.array([1.0, 4.0, 0]) / math.sqrt(17), atol=1e-6)  # uses: car 1, apple 4


def test_index_stage_saves_graph_and_parameters_and_the_version_loads(upstream):
    config, model, weighted, normalized = upstream
    vectors = blogger_vectors(model, weighted, normalized, config)
    index = build_index(vectors, config, SearchConfig(hnsw_m=8, ef_construction=50))
    art = Artifact(config.open_store(), index)
    assert art.names() == ["index.json", "index.nmslib", "index.nmslib.dat"]
    params = art.read_json("index.json")
    assert params["M"] == 8 and params["efConstruction"] == 50 and params["size"] == 2
    assert params["vectors_key"] == vectors.key and params["space"] == "cosinesimil"
    assert build_index(vectors, config, SearchConfig(hnsw_m=8, ef_construction=50, ef_search=500)).reused

    registry = Registry(config.open_store())
    stages = {name: [{"stage": r.stage, "key": r.key}] for name, r in
              {"train": model, "blogger_vectors": vectors, "index": index}.items()}
    registry.write_version({"version": "v1", "created_at": "2026-01-01T00:00:00", "stages": stages})
    registry.promote("v1")
    search = SearchModel.load(registry, config=SearchConfig(exact_max_bloggers=0))
    assert search.describe()["index"] == "hnsw" and search.describe()["bloggers"] == 2
    result = search.bloggers_for("sea", top=5)
    assert result.method == "index" and [h.blogger_id for h in result.hits][0] == "b"
    assert [h.blogger_id for h in search.lookalikes("a").hits] == ["b"]


def test_an_index_of_other_vectors_is_refused(upstream, tmp_path):
    config, model, weighted, normalized = upstream
    vectors = blogger_vectors(model, weighted, normalized, config)
    other = blogger_vectors(model, weighted, normalized, config, SearchConfig(vector_weights="uniform"))
    index = build_index(other, config)
    registry = Registry(config.open_store())
    stages = {name: [{"stage": r.stage, "key": r.key}] for name, r in
              {"train": model, "blogger_vectors": vectors, "index": index}.items()}
    registry.write_version({"version": "mixed", "created_at": "2026-01-01T00:00:00", "stages": stages})
    with pytest.raises(ValueError, match="index was built from blogger vectors"):
        SearchModel.load(registry, "mixed")


def test_a_pair_used_in_many_posts_gives_the_vector_of_its_posts_whatever_the_chunk(upstream):
    """The stage feeds each pair's c uses in chunks: any chunk size gives the per-post formula."""
    from topictensor.search.vectors import BloggerVectorSums
    from topictensor.stages.blogger_vectors import _pair_uses

    config, model, weighted, normalized = upstream
    emb = Embeddings.load(Artifact(config.open_store(), model).path("embeddings.parquet"))
    pairs = pa.table({"blogger_id": ["a", "a", "b"], "tag": ["car", "apple", "sea"], "count": pa.array([3, 250, 7])})
    weights = np.array([0.5, 0.1, 1.0], dtype=np.float32)
    results = []
    for chunk in (1, 5, 100, 10_000):
        sums = BloggerVectorSums(emb, "reweight")
        for uses in _pair_uses(pairs, weights, chunk):
            sums.add(uses)
        results.append(sums.table(None))
    for table in results:
        rows = {r["blogger_id"]: r for r in table.to_pylist()}
        np.testing.assert_allclose(rows["a"]["vector"], np.array([1.5, 25.0, 0]) / math.hypot(1.5, 25.0), rtol=1e-5)
        assert rows["a"]["tags"] == 253 and rows["b"]["tags"] == 7
