"""Streaming preparation: many tiny batches and spill buckets give exactly what one chunk gives,
and what the plain in-memory formulas give; the batch and bucket sizes are honoured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from topictensor import contract, synth
from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import load_config
from topictensor.stages import ingest as ingest_module
from topictensor.stages import streaming
from topictensor.stages.prepare import heldout_mask
from topictensor.stages.split import SplitPosts

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graph_prefix import run_until  # noqa: E402
from helpers.prep import habit_weights  # noqa: E402

TINY_BATCH = 7
TINY_BUCKET = 60


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    corpus = synth.generate(synth.SynthConfig(seed=11, n_bloggers=70, posts_per_blogger_mean=8, n_spammers=2,
                                              spammer_posts_mean=20, files_per_table=3))
    synth.write(corpus, out, partition_by="week")  # 8 weekly partitions and bloggers snapshots
    return out


def _run(raw: Path, store: Path) -> dict:
    config = load_config(overrides={"store": {"uri": str(store)}, "ingest": {"input_uri": str(raw)},
                                    "filter": {"min_bloggers": 2, "blacklist": {"*": ["love"]}}}, use_env=False)
    s = config.open_store()
    results = run_until(config, "split")
    refs = [ArtifactRef.from_dict(r) for name in ("bloggers", "ingest", "normalize", "window", "prepare", "filter",
                                                  "reweight", "split")
            for r in (results[name] if isinstance(results[name], list) else [results[name]])]
    out = {"refs": refs, "languages": results["languages"], "files": {}, "config": config, "split": results["split"]}
    for ref in out["refs"]:
        art = Artifact(s, ref)
        params = art.manifest["params"] if isinstance(art.manifest["params"], dict) else {}
        label = params.get("lang") or params.get("dt") or ""
        for name in art.names("*.parquet"):
            out["files"][f"{ref.stage}{'/' + label if label else ''}/{name}"] = art.path(name)
    return out


@pytest.fixture(scope="module")
def one_chunk(raw_dir, tmp_path_factory):
    return _run(raw_dir, tmp_path_factory.mktemp("store-one-chunk"))


@pytest.fixture(scope="module")
def many_chunks(raw_dir, tmp_path_factory):
    reads: list[tuple[int, int]] = []
    real_read = streaming.BucketSpill.read

    def spying_read(self, bucket):
        values = real_read(self, bucket)
        reads.append((self.buckets, len(values)))
        return values

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(streaming, "BATCH_ROWS", TINY_BATCH)
        mp.setattr(streaming, "SPILL_BUCKET_ROWS", TINY_BUCKET)
        mp.setattr(contract.parquet, "PARQUET_BATCH_ROWS", TINY_BATCH)
        mp.setattr(contract.jsonl, "JSONL_CHUNK_LINES", TINY_BATCH)
        mp.setattr(ingest_module, "DEDUPE_BUCKET_BYTES", 2000)
        mp.setattr(streaming.BucketSpill, "read", spying_read)
        result = _run(raw_dir, tmp_path_factory.mktemp("store-many-chunks"))
    result["spill_reads"] = reads
    return result


def _table(path: Path) -> pa.Table:
    return pq.read_table(path)


def test_tiny_batches_and_buckets_give_the_same_artifacts(one_chunk, many_chunks):
    assert [r.key for r in one_chunk["refs"]] == [r.key for r in many_chunks["refs"]]  # same code, params, inputs
    assert sorted(one_chunk["files"]) == sorted(many_chunks["files"])
    assert len(one_chunk["languages"]) >= 3
    for name, path in one_chunk["files"].items():
        expected, got = _table(path), _table(many_chunks["files"][name])
        assert got.schema == expected.schema, name
        if name == "window/bloggers.parquet":  # lingua's confidences wobble in the last bit between calls
            np.testing.assert_allclose(got.column("lang_confidence").to_numpy(),
                                       expected.column("lang_confidence").to_numpy(), rtol=1e-12)
            got, expected = got.drop_columns(["lang_confidence"]), expected.drop_columns(["lang_confidence"])
        assert got.equals(expected), name
    for a, b in zip(one_chunk["refs"], many_chunks["refs"]):
        assert a.counts == b.counts, a.stage
        assert a.metrics == pytest.approx(b.metrics), a.stage


def test_batch_rows_and_spill_buckets_are_honoured(one_chunk, many_chunks):
    for name, path in many_chunks["files"].items():
        if name.endswith(("rejects.parquet", "bloggers.parquet", "review.parquet", "kept.parquet", "cooc.parquet",
                          "dropped.parquet")) or "/summary/" in name or "/stats/" in name or "/habit/" in name:
            continue  # small tables (bloggers: one row per blogger; a partition's summary; a bucket of pairs)
        meta = pq.ParquetFile(path).metadata
        assert max((meta.row_group(g).num_rows for g in range(meta.num_row_groups)), default=0) <= TINY_BATCH, name
    bucketed = [(buckets, n) for buckets, n in many_chunks["spill_reads"] if buckets > 1]
    assert len(bucketed) > 10  # normalize's pairs, ingest's and the window's post ids went through many buckets
    occurrences = sum(pc.sum(pc.list_value_length(_table(p).column("tags"))).as_py()
                      for name, p in many_chunks["files"].items()
                      if name.startswith("prepare/") and name.endswith(("/train.parquet", "/heldout.parquet")))
    assert max(n for _, n in bucketed) < occurrences / 2  # no bucket holds the whole input


def test_streamed_outputs_match_the_in_memory_formulas(many_chunks):
    files = many_chunks["files"]
    # The window's posts: every prepared partition's two sides (all tags, the blogger's language).
    window = pa.concat_tables([_table(p) for name, p in sorted(files.items())
                               if name.startswith("prepare/") and name.endswith(("/train.parquet", "/heldout.parquet"))])
    people = _table(files["window/bloggers.parquet"])
    lang_of = dict(zip(people.column("blogger_id").to_pylist(), people.column("lang").to_pylist()))
    window = window.append_column("lang", pa.array([lang_of[b] for b in window.column("blogger_id").to_pylist()]))
    expected = {}
    for lang in many_chunks["languages"]:
        posts = window.filter(pc.equal(window.column("lang"), lang))
        # Distinct bloggers per tag on the whole table at once (the stage before streaming).
        flat = pc.list_flatten(posts.column("tags"))
        bloggers = pc.take(posts.column("blogger_id"), pc.list_parent_indices(posts.column("tags")))
        per_tag = pa.table({"tag": flat, "blogger_id": bloggers}).group_by("tag").aggregate(
            [("blogger_id", "count_distinct")]).to_pydict()
        kept = {t for t, n in zip(per_tag["tag"], per_tag["blogger_id_count_distinct"]) if n >= 2 and t != "love"}
        for row in posts.select(["post_id", "tags"]).to_pylist():
            tags = [t for t in row["tags"] if t in kept]
            if tags:
                expected[row["post_id"]] = tags
    split = SplitPosts(many_chunks["config"].open_store(), many_chunks["split"])
    read = pa.concat_tables([split.table(side) for side in ("train", "heldout")])
    assert dict(zip(read.column("post_id").to_pylist(), read.column("tags").to_pylist())) == expected
    assert read.num_rows == len(expected)

    tags = read.column("tags").combine_chunks()
    parent = pc.list_parent_indices(tags).to_numpy()
    blogger_codes = pc.dictionary_encode(read.column("blogger_id")).combine_chunks().indices.to_numpy()
    tag_codes = pc.dictionary_encode(pc.list_flatten(tags)).indices.to_numpy()
    want = habit_weights(blogger_codes[parent], tag_codes, power=0.5)
    got = pc.list_flatten(read.column("weights")).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)

    ids = window.column("post_id").to_pylist()
    mask = heldout_mask(ids, 0.05, "topictensor")
    held = set(split.table("heldout", ["post_id"]).column("post_id").to_pylist())
    assert held == {pid for pid, m in zip(ids, mask) if m and pid in expected}
    train = split.table("train", ["post_id"]).column("post_id").to_pylist()
    assert set(train) == {pid for pid, m in zip(ids, mask) if not m and pid in expected}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_duplicate_post_ids_are_found_exactly_even_when_every_hash_collides(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    _write_jsonl(raw / "bloggers" / "b.jsonl", [{"blogger_id": "b1", "followers": 1}])
    post = {"blogger_id": "b1", "created_at": "2024-01-01", "likes": 1, "tags": ["x"]}
    _write_jsonl(raw / "posts" / "a.jsonl", [dict(post, post_id=p) for p in ["1", "2", "3", "2"]])
    _write_jsonl(raw / "posts" / "b.jsonl", [dict(post, post_id=p) for p in ["4", "1", "5"]])

    def run(store: str):
        config = load_config(overrides={"store": {"uri": str(tmp_path / store)}, "ingest": {
            "input_uri": str(raw), "max_reject_share": 0.5}}, use_env=False)
        art = Artifact(config.open_store(), run_until(config, "ingest")["ingest"][0])
        return art.read_table("posts.parquet").column("post_id").to_pylist(), art.read_table("rejects.parquet")

    posts, rejects = run("plain")
    assert posts == ["1", "2", "3", "4", "5"]
    assert [(r["source_file"], r["source_row"]) for r in rejects.to_pylist()] == [("posts/a.jsonl", 3),
                                                                                  ("posts/b.jsonl", 1)]
    monkeypatch.setattr(ingest_module, "post_id_hashes", lambda ids: np.zeros(len(ids), dtype=np.uint64))
    monkeypatch.setattr(streaming, "BATCH_ROWS", 2)
    assert run("colliding") == (posts, rejects)


def test_vocabulary_codes_follow_first_appearance_across_batches_and_dictionaries():
    vocab = streaming.Vocabulary(["a"])
    first = vocab.codes(pa.array(["b", "a", "b", "c"]))
    second = vocab.codes(pa.array(["c", "d", "a"]).dictionary_encode())
    assert first.tolist() == [1, 0, 1, 2] and second.tolist() == [2, 3, 0]
    assert vocab.values().to_pylist() == ["a", "b", "c", "d"]
    big = streaming.Vocabulary()
    words = [f"w{i}" for i in range(3000)]  # more than the index: it is rebuilt along the way
    for start in range(0, 3000, 500):
        assert big.codes(pa.array(words[start:start + 500])).tolist() == list(range(start, start + 500))
    assert big.codes(pa.array(["w2999", "w0"])).tolist() == [2999, 0] and len(big) == 3000
