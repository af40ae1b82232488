"""Invalid UTF-8 inside Parquet string columns (issue 13, item 1).

pyarrow does not validate UTF-8 when it writes, so a producer can hand us a Parquet file whose
``string`` column holds bytes that are not text. Such a row must go to the rejects with a reason
naming the field, and nothing undecodable may reach a later stage.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topictensor import contract
from topictensor.artifacts import Artifact
from topictensor.config import load_config
from topictensor.partitions import plan_window
from topictensor.stages.ingest import ingest_bloggers, ingest_partition
from topictensor.stages.normalize import normalize_partition
from topictensor.store import open_store

BAD = b"\xff\xfe\x80bad"


def raw_strings(values: list[bytes | None]) -> pa.Array:
    """A ``string`` array holding exactly these bytes (no UTF-8 check: that is the point)."""
    offsets = [0]
    for v in values:
        offsets.append(offsets[-1] + len(v or b""))
    data = b"".join(v or b"" for v in values)
    validity = None
    if any(v is None for v in values):
        validity = pa.py_buffer(np.packbits(np.array([v is not None for v in values]), bitorder="little").tobytes())
    return pa.Array.from_buffers(pa.string(), len(values),
                                 [validity, pa.py_buffer(np.array(offsets, dtype=np.int32).tobytes()),
                                  pa.py_buffer(data)])


def raw_tag_lists(lists: list[list[bytes]]) -> pa.Array:
    offsets = np.cumsum([0] + [len(t) for t in lists]).astype(np.int32)
    flat = raw_strings([t for tags in lists for t in tags])
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def _config(tmp_path: Path):
    return load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                  "ingest": {"input_uri": str(tmp_path / "raw"), "max_reject_share": 1.0}},
                       use_env=False)


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    _write(raw / "bloggers" / "bloggers.parquet", pa.table({
        "blogger_id": raw_strings([b"b1", b"b2", b"b3", b"b4" + BAD]),
        "username": raw_strings([b"one", b"two" + BAD, None, b"four"]),
        "followers": pa.array([10, 20, 30, 40], pa.int64()),
        "lang": raw_strings([b"en", b"en", b"e" + BAD, b"en"]),
    }))
    n = 8
    post_ids = [b"p%d" % i for i in range(n)]
    post_ids[1] = b"p1" + BAD
    created = [b"2024-05-01"] * n
    created[2] = b"2024-05-01" + BAD
    captions: list[bytes | None] = [None] * n
    captions[3] = b"hello #world " + BAD
    tags = [[b"alpha", b"beta"] for _ in range(n)]
    tags[4] = [b"alpha", b"be" + BAD]
    langs: list[bytes | None] = [b"en"] * n
    langs[5] = BAD
    bloggers = [b"b1"] * n
    bloggers[6] = b"b1" + BAD
    _write(raw / "posts" / "bad-utf8.parquet", pa.table({
        "post_id": raw_strings(post_ids),
        "blogger_id": raw_strings(bloggers),
        "created_at": raw_strings(created),
        "tags": raw_tag_lists(tags),
        "likes": pa.array(range(n), pa.int64()),
        "lang": raw_strings(langs),
        "caption": raw_strings(captions),
    }))
    # A well-formed file next to it: unaffected.
    _write(raw / "posts" / "good.parquet", pa.table({
        "post_id": ["g1"], "blogger_id": ["b1"], "created_at": [datetime(2024, 5, 2)],
        "tags": [["gamma"]], "likes": [1],
    }))
    return raw


def test_invalid_utf8_in_parquet_string_columns_is_rejected_per_row_with_the_field(tmp_path, raw):
    config = _config(tmp_path)
    store = config.open_store()
    plan = plan_window(open_store(config.ingest.input_uri), config.ingest.window_days, config.ingest.as_of)
    people_ref = ingest_bloggers(plan.bloggers, config)
    posts_ref = ingest_partition(plan.posts[0], config)
    posts_art, people_art = Artifact(store, posts_ref), Artifact(store, people_ref)
    rejects = {(r["source_file"], r["source_row"]): r
               for art in (posts_art, people_art) for r in art.read_table("rejects.parquet").to_pylist()}
    expected = {
        ("posts/bad-utf8.parquet", 1): "post_id",
        ("posts/bad-utf8.parquet", 2): "created_at",
        ("posts/bad-utf8.parquet", 3): "caption",
        ("posts/bad-utf8.parquet", 4): "tags",
        ("posts/bad-utf8.parquet", 5): "lang",
        ("posts/bad-utf8.parquet", 6): "blogger_id",
        ("bloggers/bloggers.parquet", 1): "username",
        ("bloggers/bloggers.parquet", 2): "lang",
        ("bloggers/bloggers.parquet", 3): "blogger_id",
    }
    for where, field in expected.items():
        assert where in rejects, where
        assert rejects[where]["reason"] == contract.undecodable_reason(field), where
        assert "\ufffd" in rejects[where]["record"]  # the raw row, bad bytes shown as U+FFFD
    assert len(rejects) == len(expected)

    posts = posts_art.read_table("posts.parquet")
    posts.validate(full=True)  # every string in the output is valid UTF-8
    assert sorted(posts.column("post_id").to_pylist()) == ["g1", "p0", "p7"]
    bloggers = people_art.read_table("bloggers.parquet")
    bloggers.validate(full=True)
    assert bloggers.column("blogger_id").to_pylist() == ["b1"]
    for ref, unit in ((posts_ref, "posts"), (people_ref, "bloggers")):
        counts = ref.counts
        assert counts[f"{unit}_in"] == counts[f"{unit}_out"] + counts["rejected"]

    # The next stage reads what ingest kept without tripping on anything.
    normalized = normalize_partition(posts_ref, config)
    assert normalized.counts
