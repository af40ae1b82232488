"""Embeddings: lookup, neighbours, parquet roundtrip and the projector export."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topictensor.embeddings import Embeddings, export_projector

TAGS = ["cat", "kitten", "dog", "car"]
VECTORS = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.5, 0.8, 0], [0, 0, 1]], dtype=np.float32)


@pytest.fixture
def emb():
    return Embeddings(TAGS, [10, 5, 7, 3], VECTORS)


def test_lookup(emb):
    assert emb.dim == 3 and len(emb) == 4 and "dog" in emb and "bird" not in emb
    assert emb.vector("dog").tolist() == pytest.approx([0.5, 0.8, 0])
    with pytest.raises(KeyError, match="bird"):
        emb.vector("bird")
    np.testing.assert_allclose(np.linalg.norm(emb.normalized(), axis=1), 1.0, rtol=1e-6)


def test_neighbours_of_a_tag_and_of_a_vector(emb):
    near = emb.neighbours("cat", k=2)
    assert [t for t, _ in near] == ["kitten", "dog"]
    assert near[0][1] == pytest.approx(0.9 / np.sqrt(0.82))
    assert [t for t, _ in emb.neighbours("cat", k=2, exclude=["kitten"])] == ["dog", "car"]
    assert [t for t, _ in emb.neighbours(np.array([0, 0, 2.0]), k=1)] == ["car"]
    assert len(emb.neighbours("cat", k=100)) == 3


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="same length"):
        Embeddings(["a"], [1, 2], np.zeros((1, 2)))


def test_save_load_roundtrip(emb, tmp_path):
    path = emb.save(tmp_path / "model")
    assert path.name == "embeddings.parquet"
    schema = pq.read_schema(path)
    assert schema.field("tag").type == pa.string() and schema.field("count").type == pa.int64()
    for source in (path, tmp_path / "model"):
        back = Embeddings.load(source)
        assert back.tags.tolist() == TAGS and back.counts.tolist() == [10, 5, 7, 3]
        assert back.vectors.tobytes() == emb.vectors.tobytes()


def test_load_accepts_variable_size_lists(tmp_path):
    table = pa.table({"tag": ["x", "y"], "count": pa.array([1, 2], pa.int64()),
                      "vector": pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "embeddings.parquet")
    back = Embeddings.load(tmp_path)
    assert back.vectors.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_projector_export(emb, tmp_path):
    vec_path, meta_path = export_projector(emb, tmp_path)
    rows = [line.split("\t") for line in vec_path.read_text().splitlines()]
    assert len(rows) == 4 and [float(x) for x in rows[2]] == pytest.approx([0.5, 0.8, 0])
    meta = meta_path.read_text().splitlines()
    assert meta[0] == "tag\tlog_count"
    assert meta[1].split("\t")[0] == "cat" and float(meta[1].split("\t")[1]) == pytest.approx(np.log(10), abs=1e-4)
    assert len(meta) == 5
