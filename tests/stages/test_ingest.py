"""The ingest stages: raw parquet/JSONL files -> checked posts (per partition), the bloggers
snapshot, and rejects; a post's blogger is checked against the snapshot by the window stage."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topictensor import contract
from topictensor.artifacts import Artifact
from topictensor.config import load_config
from topictensor.errors import ContractError
from topictensor.partitions import plan_window
from topictensor.stages.ingest import ingest_bloggers, ingest_partition
from topictensor.store import open_store

UTC = timezone.utc


def _config(tmp_path: Path, raw: Path | str | None = None, **ingest_overrides):
    overrides = {
        "store": {"uri": str(tmp_path / "store")},
        "ingest": {"input_uri": str(raw or tmp_path / "raw"), **ingest_overrides},
    }
    return load_config(overrides=overrides, use_env=False)


def _write_jsonl(path: Path, rows: list, *, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = b"".join(
        (row if isinstance(row, bytes) else json.dumps(row, ensure_ascii=False).encode()) + b"\n" for row in rows
    )
    path.write_bytes(gzip.compress(lines) if gz else lines)


def _write_parquet(path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)


def _bloggers(raw: Path, ids=("b1", "b2", "b3")) -> None:
    _write_parquet(raw / "bloggers" / "bloggers.parquet", pa.table({
        "blogger_id": list(ids),
        "username": [f"user_{b}" for b in ids],
        "followers": [100 * (i + 1) for i in range(len(ids))],
        "lang": ["ru"] + [None] * (len(ids) - 1),
    }))


def _good_raw(raw: Path) -> None:
    """Eight valid posts over three formats (one parquet with two row groups), plus ignored files."""
    _bloggers(raw)
    _write_parquet(raw / "posts" / "2024" / "part-0.parquet", pa.table({
        "post_id": pa.array([1, 2, 3], pa.int64()),  # integer ids are cast to strings
        "blogger_id": ["b1", "b1", "b2"],
        "created_at": pa.array([datetime(2024, 1, 1, 12), datetime(2024, 1, 2), datetime(2024, 1, 3)],
                               pa.timestamp("ns")),
        "tags": [["Зеркало", "#Интерьер"], ["BMW"], ["Café", "paris"]],
        "likes": [10, 0, 7],
        "lang": ["ru", None, "fr"],
    }), row_group_size=2)
    _write_jsonl(raw / "posts" / "part-1.jsonl", [
        {"post_id": "4", "blogger_id": "b2", "created_at": "2024-02-01T10:00:00+02:00", "tags": ["baguette"],
         "likes": 3, "caption": "Bonjour"},
        {"post_id": "5", "blogger_id": "b3", "created_at": "2024-02-02", "caption": "Hola #Playa #verano!",
         "likes": 1.0},  # caption only: its tags are used
        {"post_id": "6", "blogger_id": "b3", "created_at": "2024-02-03", "tags": [], "caption": "#sol",
         "likes": 2, "extra_field": "ignored"},
    ])
    _write_jsonl(raw / "posts" / "part-2.jsonl.gz", [
        {"post_id": "7", "blogger_id": "b1", "created_at": "2024-03-01T00:00:00Z", "tags": ["ёлка"], "likes": 5},
        {"post_id": "8", "blogger_id": "b2", "created_at": "2024-03-02", "tags": ["louvre"], "likes": 9, "lang": "FR"},
    ], gz=True)
    # Ignored: a truth folder next to posts/, a marker file, a hidden temp file.
    _write_jsonl(raw / "_truth" / "posts" / "truth.jsonl", [{"post_id": "x"}])
    (raw / "posts" / "_SUCCESS").write_text("")
    (raw / "posts" / ".part-3.jsonl.tmp").write_text("garbage")


def _manifests(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "store").glob("artifacts/ingest/*/_MANIFEST.json"))


def ingest(config):
    """Both ingest stages over an unpartitioned prefix (one partition): (posts ref, bloggers ref)."""
    raw = open_store(config.ingest.input_uri, endpoint_url=config.store.endpoint_url)
    plan = plan_window(raw, config.ingest.window_days, config.ingest.as_of)
    assert len(plan.posts) == 1 and plan.posts[0].dt is None
    people = ingest_bloggers(plan.bloggers, config)
    return ingest_partition(plan.posts[0], config), people


def test_good_data_roundtrip_over_three_formats(tmp_path):
    raw = tmp_path / "raw"
    _good_raw(raw)
    ref, people = ingest(_config(tmp_path))
    assert not ref.reused and not people.reused
    assert ref.counts == {"posts_in": 8, "posts_out": 8, "rejected": 0, "files": 3}
    assert people.counts == {"bloggers_in": 3, "bloggers_out": 3, "rejected": 0, "files": 1}
    art = Artifact(_config(tmp_path).open_store(), ref)
    posts = art.read_table("posts.parquet")
    assert posts.schema == contract.POSTS_SCHEMA
    by_id = {row["post_id"]: row for row in posts.to_pylist()}
    assert sorted(by_id) == [str(i) for i in range(1, 9)]
    assert by_id["1"]["tags"] == ["Зеркало", "#Интерьер"]  # raw, normalised later
    assert by_id["1"]["created_at"] == datetime(2024, 1, 1, 12, tzinfo=UTC)  # naive -> UTC
    assert by_id["4"]["created_at"] == datetime(2024, 2, 1, 8, tzinfo=UTC)
    assert by_id["5"]["tags"] == ["Playa", "verano"]  # from the caption
    assert by_id["5"]["likes"] == 1
    assert by_id["6"]["tags"] == ["sol"]  # an empty list counts as absent: caption used
    assert by_id["8"]["lang"] == "fr"
    assert (by_id["3"]["source_file"], by_id["3"]["source_row"]) == ("posts/2024/part-0.parquet", 2)
    assert (by_id["8"]["source_file"], by_id["8"]["source_row"]) == ("posts/part-2.jsonl.gz", 1)
    bloggers = Artifact(_config(tmp_path).open_store(), people).read_table("bloggers.parquet")
    assert bloggers.schema == contract.BLOGGERS_SCHEMA
    assert bloggers.column("followers").to_pylist() == [100, 200, 300]
    assert art.read_table("rejects.parquet").num_rows == 0
    assert art.manifest["counts"] == ref.counts


def test_rerun_reuses_and_changed_or_added_raw_files_make_a_new_key(tmp_path):
    raw = tmp_path / "raw"
    _good_raw(raw)
    first, _ = ingest(_config(tmp_path))
    again, _ = ingest(_config(tmp_path))
    assert again.reused and again.key == first.key

    (raw / "_truth" / "other.jsonl").write_text("{}\n")  # ignored paths do not matter
    assert ingest(_config(tmp_path))[0].key == first.key

    _write_jsonl(raw / "posts" / "part-9.jsonl", [
        {"post_id": "9", "blogger_id": "b1", "created_at": "2024-04-01", "tags": ["new"], "likes": 1}])
    added, _ = ingest(_config(tmp_path))
    assert not added.reused and added.key != first.key and added.counts["posts_out"] == 9

    part = raw / "posts" / "part-9.jsonl"
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched: same bytes, new version
    touched, _ = ingest(_config(tmp_path))
    assert not touched.reused and touched.key not in {first.key, added.key}


BROKEN_POSTS = [
    # row 0: good
    {"post_id": "g1", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["ok"], "likes": 1},
    {"post_id": "", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    {"post_id": "p2", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    {"post_id": "g1", "blogger_id": "b2", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    {"post_id": "p4", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": -3},
    {"post_id": "p5", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 2.5},
    {"post_id": "p6", "blogger_id": "b1", "created_at": "2024-01-01", "tags": "a b", "likes": 1},
    {"post_id": "p7", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a", 7], "likes": 1},
    {"post_id": "p8", "blogger_id": "b1", "created_at": "2024-01-01", "likes": 1},
    {"post_id": "p9", "blogger_id": "b1", "created_at": "last tuesday", "tags": ["a"], "likes": 1},
    b'{"post_id": "p10", "blogger_id": "b1", "caption": "\xff\xfe"}',
    b'{"post_id": "p11", "blogger_id": ',
    {"post_id": "p12", "blogger_id": "nobody", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    b"",  # a blank line is not a row
    b'["a", "list"]',
    {"post_id": "p15", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 1, "lang": "english"},
    {"post_id": "p16", "blogger_id": "b2", "created_at": "2024-01-01", "tags": ["fine"], "likes": 4},
]
EXPECTED_REASONS = {
    1: contract.REASON_MISSING_POST_ID,
    2: contract.REASON_MISSING_BLOGGER_ID,
    3: contract.REASON_DUPLICATE_POST_ID,
    4: contract.REASON_INVALID_LIKES,
    5: contract.REASON_INVALID_LIKES,
    6: contract.REASON_INVALID_TAGS,
    7: contract.REASON_INVALID_TAGS,
    8: contract.REASON_NO_TAGS,
    9: contract.REASON_INVALID_CREATED_AT,
    10: contract.REASON_UNDECODABLE,
    11: contract.REASON_INVALID_JSON,
    14: contract.REASON_NOT_AN_OBJECT,
    15: contract.REASON_INVALID_LANG,
}


def test_every_kind_of_broken_row_is_rejected_with_its_reason_and_row(tmp_path):
    raw = tmp_path / "raw"
    _write_jsonl(raw / "bloggers" / "b.jsonl", [
        {"blogger_id": "b1", "username": "one", "followers": 10},
        {"blogger_id": "b2", "username": "two", "followers": 20},
        {"blogger_id": "b1", "username": "again", "followers": 30},  # duplicate blogger
        {"blogger_id": "b4", "username": "neg", "followers": -1},
    ])
    _write_jsonl(raw / "posts" / "broken.jsonl", BROKEN_POSTS)
    # A parquet file whose columns have the wrong types for some rows.
    _write_parquet(raw / "posts" / "typed.parquet", pa.table({
        "post_id": ["t0", "t1", "t2"],
        "blogger_id": ["b1", "b1", None],
        "created_at": ["2024-05-01", "2024-05-01T25:00:00", "2024-05-01"],
        "tags": pa.array([["x"], ["y"], ["z"]], pa.list_(pa.string())),
        "likes": pa.array([1, 2, 3], pa.int64()),
    }))
    ref, people = ingest(_config(tmp_path, max_reject_share=1.0))

    store = _config(tmp_path).open_store()
    art = Artifact(store, ref)
    rejects = pa.concat_tables([art.read_table("rejects.parquet"),
                                Artifact(store, people).read_table("rejects.parquet")])
    assert rejects.schema == contract.REJECTS_SCHEMA
    got = {(r["source_file"], r["source_row"]): r for r in rejects.to_pylist()}
    for row, reason in EXPECTED_REASONS.items():
        assert got[("posts/broken.jsonl", row)]["reason"] == reason, row
    assert got[("posts/typed.parquet", 1)]["reason"] == contract.REASON_INVALID_CREATED_AT
    assert got[("posts/typed.parquet", 2)]["reason"] == contract.REASON_MISSING_BLOGGER_ID
    assert got[("bloggers/b.jsonl", 2)]["reason"] == contract.REASON_DUPLICATE_BLOGGER_ID
    assert got[("bloggers/b.jsonl", 3)]["reason"] == contract.REASON_INVALID_FOLLOWERS
    assert json.loads(got[("posts/broken.jsonl", 4)]["record"])["likes"] == -3  # the raw row, as JSON
    assert got[("posts/broken.jsonl", 11)]["record"] == '{"post_id": "p11", "blogger_id": '
    assert ("posts/broken.jsonl", 12) not in got  # an unknown blogger is the window's to reject

    posts = art.read_table("posts.parquet")
    assert sorted(posts.column("post_id").to_pylist()) == ["g1", "p12", "p16", "t0"]
    assert posts.filter(pa.compute.equal(posts.column("post_id"), "g1")).column("blogger_id").to_pylist() == ["b1"]

    counts = ref.counts
    assert counts["posts_in"] == len(BROKEN_POSTS) - 1 + 3  # the blank line is not a row
    assert counts["rejected"] == len(EXPECTED_REASONS) + 2
    assert people.counts["rejected"] == 2
    assert counts["posts_in"] == counts["posts_out"] + counts["rejected"]  # nothing is lost silently
    assert people.counts["bloggers_in"] == people.counts["bloggers_out"] + people.counts["rejected"]
    assert art.manifest["counts"] == counts
    assert art.manifest["extra"]["reject_reasons"][contract.REASON_INVALID_LIKES] == 2

    # The window counts the post of a blogger missing from the snapshot; the partition's prepare
    # artifact rejects it, naming its file and row.
    from topictensor.stages.normalize import normalize_partition
    from topictensor.stages.prepare import prepare_partition
    from topictensor.stages.window import build_window

    normalized = normalize_partition(ref, _config(tmp_path))
    window = build_window(people, [normalized], _config(tmp_path, max_reject_share=1.0))
    assert window.counts["posts_unknown_blogger"] == 1 == window.counts["rejected"]
    assert window.counts["posts_in"] == window.counts["posts_out"] + window.counts["rejected"]
    prepared = prepare_partition(normalized, window, _config(tmp_path, max_reject_share=1.0))
    prepare_rejects = Artifact(store, prepared).read_table("rejects.parquet").to_pylist()
    assert [(r["source_file"], r["source_row"], r["reason"]) for r in prepare_rejects] == [
        ("posts/broken.jsonl", 12, contract.REASON_UNKNOWN_BLOGGER)]
    assert prepared.counts["posts_in"] == (prepared.counts["train_posts"] + prepared.counts["heldout_posts"]
                                           + prepared.counts["rejected"])

    # Above max_reject_share the window fails and leaves the rejected rows for the operator.
    from topictensor.errors import ContractError

    with pytest.raises(ContractError, match="window of 1 partitions: rejected 1 of"):
        build_window(people, [normalized], _config(tmp_path, max_reject_share=0.0))
    left = [k for k in store.list("rejects") if k.endswith("rejects.parquet")]
    assert any(pq.read_table(store.local_path(k)).num_rows == 1 for k in left)


@pytest.mark.parametrize(
    "name, content",
    [
        ("posts/bad.parquet", b"PAR1 this is not parquet PAR1"),
        ("posts/bad.jsonl.gz", b'{"post_id": "1"}\n'),  # not gzip
        ("posts/bad.csv", b"post_id\n1\n"),
        ("bloggers/bad.parquet", b"nope"),
    ],
)
def test_an_unreadable_file_fails_the_stage_naming_it_and_writes_no_artifact(tmp_path, name, content):
    raw = tmp_path / "raw"
    _good_raw(raw)
    (raw / name).write_bytes(content)
    with pytest.raises(ContractError, match=name.replace(".", r"\.")):
        ingest(_config(tmp_path))
    stage = "ingest" if name.startswith("posts/") else "bloggers"
    assert list((tmp_path / "store").glob(f"artifacts/{stage}/*/_MANIFEST.json")) == []


def test_no_posts_files_names_the_prefix(tmp_path):
    raw = tmp_path / "raw"
    _bloggers(raw)
    _write_jsonl(raw / "_truth" / "posts.jsonl", [{"post_id": "1"}])
    with pytest.raises(ContractError, match=f"no posts files under {raw}/posts"):
        ingest(_config(tmp_path))


def test_posts_files_without_rows_fail_the_stage(tmp_path):
    raw = tmp_path / "raw"
    _bloggers(raw)
    _write_jsonl(raw / "posts" / "empty.jsonl", [b"", b"  "])
    with pytest.raises(ContractError, match="hold no rows"):
        ingest(_config(tmp_path))
    assert _manifests(tmp_path) == []


def test_too_many_rejects_fail_with_the_rejects_location_and_no_artifact(tmp_path):
    raw = tmp_path / "raw"
    _good_raw(raw)
    _write_jsonl(raw / "posts" / "bad.jsonl", [
        {"post_id": f"x{i}", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": -1}
        for i in range(2)
    ])  # 2 rejected of 8 + 2 posts = 20%
    config = _config(tmp_path, max_reject_share=0.1)
    with pytest.raises(ContractError) as failure:
        ingest(config)
    message = str(failure.value)
    assert "rejected 2 of 10 rows" in message and f"posts partition {raw}/posts" in message
    assert contract.REASON_INVALID_LIKES in message
    assert _manifests(tmp_path) == []
    location = message.rsplit("Rejected rows: ", 1)[1]
    side = pq.read_table(location)
    assert side.column("source_row").to_pylist() == [0, 1]
    assert location.startswith(str(tmp_path / "store" / "rejects"))

    # Within the allowed share the same data passes, and rejects are part of the artifact.
    ref, _ = ingest(_config(tmp_path, max_reject_share=0.2))
    assert ref.counts["rejected"] == 2
    assert "rejects.parquet" in Artifact(config.open_store(), ref).files


def test_raw_input_on_s3(tmp_path, s3_server, s3_bucket, s3_client):
    raw = tmp_path / "raw"
    _good_raw(raw)
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    for path in raw.rglob("*"):
        if path.is_file():
            s3_client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(raw).as_posix()}")
    overrides = {"store": {"uri": str(tmp_path / "store"), "endpoint_url": s3_server},
                 "ingest": {"input_uri": s3_bucket}}
    ref, _ = ingest(load_config(overrides=overrides, use_env=False))
    assert ref.counts["posts_out"] == 8 and ref.counts["rejected"] == 0
