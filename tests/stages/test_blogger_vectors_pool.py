"""blogger_vectors over its buckets in a process pool: the same file as one process; memory that
does not grow with the vocabulary beyond its V x dim float32 vectors; a stage process killed with
its pool at work leaves no manifest and the rerun completes."""

from __future__ import annotations

import sys
from pathlib import Path
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.search.table import FILENAME
from topictensor.stages.blogger_vectors import blogger_vectors
from topictensor.stages.normalize import PAIR_BUCKETS
from topictensor.stages.reweight import HABIT_SCHEMA, habit_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.kill import kill_when_marked  # noqa: E402
from helpers.planted import planted  # noqa: E402


def corpus(n_tags=300, n_bloggers=400, dim=12, seed=0):
    """Embeddings, (blogger, tag, count) pairs (some tags unknown to the model) and bloggers."""
    rng = np.random.default_rng(seed)
    tags = [f"tag{i}" for i in range(n_tags)]
    emb = Embeddings(tags, rng.integers(1, 100, n_tags), rng.standard_normal((n_tags, dim)).astype(np.float32))
    pairs = []
    for b in range(n_bloggers):
        for t in rng.choice(n_tags + 20, size=int(rng.integers(1, 30)), replace=False):
            pairs.append((f"b{b:04d}", f"tag{t}", int(rng.integers(1, 9))))
    bloggers = pa.table({"blogger_id": [f"b{b:04d}" for b in range(n_bloggers)],
                         "username": [f"user{b}" for b in range(n_bloggers)],
                         "followers": pa.array(rng.integers(0, 10**6, n_bloggers), pa.int64()),
                         "lang": [("en", "ru", "de")[b % 3] for b in range(n_bloggers)],
                         "posts": pa.array(rng.integers(1, 50, n_bloggers), pa.int64()),
                         "likes_total": pa.array(rng.integers(0, 10**5, n_bloggers), pa.int64())})
    return emb, pairs, bloggers


def bucket_tables(pairs):
    """The pairs spread over every bucket (a blogger's pairs in one bucket, as reweight writes them)."""
    out = {}
    for b in range(PAIR_BUCKETS):
        rows = [p for p in pairs if int(p[0][1:]) % PAIR_BUCKETS == b]
        out[habit_file(b)] = pa.table({"blogger_id": [r[0] for r in rows], "tag": [r[1] for r in rows],
                                       "count": [r[2] for r in rows]}, schema=HABIT_SCHEMA)
    return out


def upstream(root, emb, pairs, bloggers, workers):
    config = load_config(overrides={"store": {"uri": str(root)}, "search": {"vector_workers": workers}},
                         use_env=False)
    store = config.open_store()
    model = planted(store, "train", embeddings=emb)
    weighted = planted(store, "reweight", bucket_tables(pairs), extra={"habit_power": 0.5, "raw_mean": 1.3})
    normalized = planted(store, "normalize", {"bloggers.parquet": bloggers})
    return config, model, weighted, normalized


def test_the_pool_writes_the_same_table_as_one_process(tmp_path):
    emb, pairs, bloggers = corpus()
    out = {}
    for workers in (1, 3):
        config, *refs = upstream(tmp_path / f"w{workers}", emb, pairs, bloggers, workers)
        ref = blogger_vectors(*refs, config)
        art = Artifact(config.open_store(), ref)
        assert art.manifest["extra"]["workers"] == workers
        out[workers] = (ref.key, pq.read_table(art.path(FILENAME)))
        counts = art.manifest["counts"]
        assert counts["bloggers"] + counts["bloggers_without_vector"] == len(bloggers)
    assert out[1][0] == out[3][0]  # the worker count is not part of the artifact's key
    serial, pooled = out[1][1], out[3][1]
    assert serial.num_rows > 0.9 * len(bloggers)
    assert len(set(serial.column("blogger_id").to_pylist())) == serial.num_rows
    assert serial.equals(pooled)  # every column, every row, in the same order, bit for bit


def test_peak_memory_does_not_grow_with_the_vocabulary_beyond_its_vectors():
    """The same pairs (over 200 tags) against models of 2,000 and 40,000 tags: the bucket's traced
    peak, once the model is loaded (its float32 unit vectors and vocabulary), grows by less than a
    quarter of the extra V x dim float32 matrix (the old code made two float64 copies of it per
    bucket: 4x that matrix)."""
    from topictensor.search.explain import profiles_from_weights
    from topictensor.search.table import read_vectors
    from topictensor.search.vectors import BloggerVectorSums, tag_vocabulary
    from topictensor.stages.blogger_vectors import _pair_uses
    from topictensor.stages.reweight import pair_weights

    dim, rng = 64, np.random.default_rng(3)
    used = 200
    pairs = [(f"b{b:03d}", f"tag{t}", int(rng.integers(1, 5)))
             for b in range(300) for t in rng.choice(used, size=20, replace=False)]
    table = pa.table({"blogger_id": [p[0] for p in pairs], "tag": [p[1] for p in pairs],
                      "count": [p[2] for p in pairs]}, schema=HABIT_SCHEMA)
    peaks = {}
    for n_tags in (2_000, 40_000):
        emb = Embeddings([f"tag{i}" for i in range(n_tags)], np.ones(n_tags, dtype=np.int64),
                         rng.standard_normal((n_tags, dim)).astype(np.float32))
        emb.normalized()
        tags = tag_vocabulary(emb)
        tags.codes(pa.array(["tag1"]))  # the lookup's hash table: part of the loaded vocabulary
        tracemalloc.start()
        try:
            sums = BloggerVectorSums(emb, "reweight", tags=tags)
            for uses in _pair_uses(table, pair_weights(table.column("count").to_numpy(), 0.5, 1.0)):
                sums.add(uses)
            out = sums.table(None)
            profiles_from_weights(sums.ids.values().to_pylist(), sums.weight_matrix(), emb,
                                  out.column("blogger_id").to_pylist(), read_vectors(out.column("vector")), 32)
            peaks[n_tags] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    matrix = (40_000 - 2_000) * dim * 4
    assert peaks[40_000] - peaks[2_000] < matrix / 4, (peaks, matrix)


KILLED_STAGE = r"""
import sys, time
import pyarrow.parquet as pq
from topictensor.config import load_config
from topictensor.stages.blogger_vectors import blogger_vectors
import json

real = pq.write_table
def slow_write(table, where, *args, **kwargs):
    real(table, where, *args, **kwargs)
    open(sys.argv[2], "w").write("writing")  # the buckets are done, the file half-stored: kill me
    time.sleep(120)
pq.write_table = slow_write
refs = json.loads(sys.argv[3])
config = load_config(overrides={"store": {"uri": sys.argv[1]}, "search": {"vector_workers": 2}}, use_env=False)
if __name__ == "__main__":
    blogger_vectors(*refs, config)
"""


def test_a_stage_killed_after_its_pool_while_writing_leaves_no_manifest_and_the_rerun_completes(tmp_path):
    import json

    emb, pairs, bloggers = corpus(n_tags=80, n_bloggers=120)
    config, *refs = upstream(tmp_path / "store", emb, pairs, bloggers, 2)
    marker = tmp_path / "writing"
    script = tmp_path / "killed.py"
    script.write_text(KILLED_STAGE)
    kill_when_marked([sys.executable, str(script), str(tmp_path / "store"), str(marker),
                      json.dumps([r.to_dict() for r in refs])], marker, timeout=180, what="its write")
    store = config.open_store()
    assert not [k for k in store.list("artifacts/blogger_vectors") if k.endswith("_MANIFEST.json")]

    ref = blogger_vectors(*refs, config)
    assert not ref.reused
    fresh = load_config(overrides={"store": {"uri": str(tmp_path / "clean")}, "search": {"vector_workers": 1}},
                        use_env=False)
    clean_refs = upstream(tmp_path / "clean", emb, pairs, bloggers, 1)[1:]
    clean = blogger_vectors(*clean_refs, fresh)
    assert clean.key == ref.key
    assert pq.read_table(Artifact(store, ref).path(FILENAME)).equals(
        pq.read_table(Artifact(fresh.open_store(), clean).path(FILENAME)))
