"""Field-level rules of the raw input contract (the stage-level behaviour is in test_ingest.py)."""

import json
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from topictensor import contract
from topictensor.errors import ContractError
from topictensor.store import LocalStore


def test_ignored_paths_are_those_with_a_hidden_or_underscore_component():
    assert contract.is_ignored("posts/_SUCCESS")
    assert contract.is_ignored("_truth/posts/a.parquet")
    assert contract.is_ignored("posts/.tmp/a.jsonl")
    assert not contract.is_ignored("posts/2024/part_1.jsonl")


def test_file_format_by_suffix(tmp_path):
    store = LocalStore(tmp_path)
    assert contract.file_format(store, "posts/a.jsonl.gz") == ".jsonl.gz"
    assert contract.file_format(store, "posts/a.parquet") == ".parquet"
    with pytest.raises(ContractError, match="posts/a.csv"):
        contract.file_format(store, "posts/a.csv")


@pytest.mark.parametrize("values", [["7", " b1 ", 12, "", None, 1.5, True], pa.array(["7", " b1 ", "12", "", None])])
def test_ids_are_trimmed_strings_and_integers_are_cast(values):
    ids, missing, invalid = contract.coerce_ids(values)
    assert ids.to_pylist()[:3] == ["7", "b1", "12"]
    assert missing.tolist()[:5] == [False, False, False, True, True]
    assert not invalid[:5].any()
    if isinstance(values, list):
        assert invalid.tolist()[5:] == [True, True]  # floats and booleans are not ids


def test_integer_ids_from_parquet_are_cast():
    ids, missing, invalid = contract.coerce_ids(pa.array([1, None, 3], pa.int64()))
    assert ids.to_pylist() == ["1", None, "3"]
    assert missing.tolist() == [False, True, False]


@pytest.mark.parametrize(
    "values",
    [
        [5, 0, 12.0, -1, 2.5, "7", None, True, 2**70],  # mixed types from JSON: checked one by one
    ],
)
def test_counts_must_be_non_negative_integers(values):
    counts, missing, invalid = contract.coerce_counts(values)
    assert counts.to_pylist()[:3] == [5, 0, 12]
    assert missing.tolist() == [False] * 6 + [True] + [False] * 2
    assert invalid.tolist() == [False, False, False, True, True, True, False, True, True]


def test_counts_from_typed_columns_are_vectorised():
    counts, missing, invalid = contract.coerce_counts(pa.array([3.0, -2.0, 1.5, None]))
    assert counts.to_pylist()[0] == 3
    assert invalid.tolist() == [False, True, True, False]
    assert missing.tolist() == [False, False, False, True]
    counts, missing, invalid = contract.coerce_counts(pa.array([3, -2], pa.int32()))
    assert counts.type == pa.int64()
    assert invalid.tolist() == [False, True]


def test_timestamps_accept_iso_strings_with_or_without_offset():
    stamps, missing, invalid = contract.coerce_timestamps(
        ["2024-01-05T10:00:00+03:00", "2024-01-05", "2024-01-05T10:00:00Z", "yesterday", None, 1704450000]
    )
    utc = timezone.utc
    assert stamps.to_pylist()[:3] == [
        datetime(2024, 1, 5, 7, tzinfo=utc), datetime(2024, 1, 5, tzinfo=utc), datetime(2024, 1, 5, 10, tzinfo=utc)
    ]
    assert stamps.type == contract.TIMESTAMP
    assert missing.tolist() == [False, False, False, False, True, False]
    assert invalid.tolist() == [False, False, False, True, False, True]


def test_naive_timestamp_columns_are_taken_as_utc():
    naive = pa.array([datetime(2024, 3, 1, 12)], pa.timestamp("ns"))
    stamps, _, invalid = contract.coerce_timestamps(naive)
    assert stamps.to_pylist() == [datetime(2024, 3, 1, 12, tzinfo=timezone.utc)]
    assert not invalid.any()


def test_tags_must_be_lists_of_strings_and_empty_counts_as_absent():
    tags, absent, invalid = contract.coerce_tags([["a", "B"], [], None, "a", ["a", 1], ["a", None]])
    assert tags.to_pylist() == [["a", "B"], None, None, None, None, None]
    assert absent.tolist() == [False, True, True, False, False, False]
    assert invalid.tolist() == [False, False, False, True, True, True]


def test_tags_from_parquet_list_with_null_items_are_invalid():
    column = pa.array([["a"], ["b", None], []], pa.list_(pa.string()))
    tags, absent, invalid = contract.coerce_tags(column)
    assert invalid.tolist() == [False, True, False]
    assert absent.tolist() == [False, False, True]
    assert tags.to_pylist() == [["a"], None, None]


def test_a_string_column_of_tags_is_invalid_row_by_row():
    tags, absent, invalid = contract.coerce_tags(pa.array(["a b", None]))
    assert invalid.tolist() == [True, False]
    assert absent.tolist() == [False, True]


def test_lang_takes_the_primary_subtag_and_rejects_non_codes():
    lang, invalid = contract.coerce_lang(["RU", "pt-BR", " ", None, "english", 5])
    assert lang.to_pylist() == ["ru", "pt", None, None, None, None]
    assert invalid.tolist() == [False, False, False, False, True, True]


def test_first_occurrences_keep_the_first_of_each_id():
    keep = contract.first_occurrences(pa.chunked_array([["a", "b"], ["a", "c", "b"]]))
    assert keep.tolist() == [True, True, False, True, False]


FAST_PATH_ROWS = [
    {"post_id": "1", "blogger_id": "b1", "created_at": "2024-01-01T10:00:00+02:00", "tags": ["a", "B"], "likes": 3},
    {"post_id": "2", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": -3},
    {"post_id": "3", "blogger_id": "nobody", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    {"post_id": " ", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 1},
    {"post_id": "5", "blogger_id": "b1", "created_at": "soon", "tags": ["a"], "likes": 1},
    {"post_id": "6", "blogger_id": "b1", "created_at": "2024-01-01", "likes": 1},
    {"post_id": "7", "blogger_id": "b1", "created_at": "2024-01-01", "caption": "#x #y", "likes": 1, "lang": "EN"},
    {"post_id": "8", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 1, "lang": "zzz"},
]


def _checked(store, key):
    (batch,) = list(contract.read_raw_file(store, key, contract.POST_FIELDS))
    checked = contract.check_posts(batch, key, pa.array(["b1"]))
    rejects = [(r["source_row"], r["reason"]) for r in checked.rejects]
    return checked.table.drop_columns(["source_file"]).to_pylist(), rejects


def test_well_formed_jsonl_is_read_by_arrow_with_the_same_verdicts_as_line_by_line(tmp_path, monkeypatch):
    lines = [json.dumps(r) for r in FAST_PATH_ROWS]
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "fast.jsonl").write_text("\n".join(lines) + "\n")
    # An integer post_id on an extra last line makes Arrow's reader give up: rows are parsed one by one.
    (tmp_path / "posts" / "slow.jsonl").write_text("\n".join(lines + ['{"post_id": 9}']) + "\n")
    store = LocalStore(tmp_path)

    with monkeypatch.context() as m:
        m.setattr(contract.jsonl, "_jsonl_chunk_by_line", lambda *a: pytest.fail("fast path not taken"))
        fast_rows, fast_rejects = _checked(store, "posts/fast.jsonl")
    slow_rows, slow_rejects = _checked(store, "posts/slow.jsonl")

    assert fast_rows == slow_rows
    assert fast_rejects == slow_rejects[:-1]
    assert fast_rejects == [
        (1, contract.REASON_INVALID_LIKES), (2, contract.REASON_UNKNOWN_BLOGGER),
        (3, contract.REASON_MISSING_POST_ID), (4, contract.REASON_INVALID_CREATED_AT),
        (5, contract.REASON_NO_TAGS), (7, contract.REASON_INVALID_LANG),
    ]
    assert [r["tags"] for r in fast_rows] == [["a", "B"], ["x", "y"]]
    assert fast_rows[1]["lang"] == "en"
