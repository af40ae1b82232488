"""Per-language filtering: thresholds on distinct bloggers, blacklist, review candidates."""

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, run_stage
from topictensor.config import load_config
from topictensor.stages.filter import KEPT, filter_language
from topictensor.stages.window import TAG_STATS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.prep import filter_posts, tag_stats  # noqa: E402


def _posts(rows):
    return pa.table({
        "post_id": [r[0] for r in rows],
        "blogger_id": [r[1] for r in rows],
        "tags": pa.array([r[2] for r in rows], type=pa.list_(pa.string())),
        "lang": [r[3] for r in rows],
    })


ROWS = [
    ("p1", "b1", ["bmw", "audi", "love"], "en"),
    ("p2", "b2", ["bmw", "audi", "mything"], "en"),
    ("p3", "b3", ["bmw", "love"], "en"),
    ("p4", "b3", ["mything", "bmw"], "en"),      # mything: b2 and b3 only
    ("p5", "b1", ["solo"], "en"),                # solo: one blogger -> dropped, post left empty
    ("p6", "b9", ["машина", "bmw"], "ru"),
]


def test_keeps_tags_of_enough_distinct_bloggers_and_drops_blacklist():
    posts = _posts([r for r in ROWS if r[3] == "en"])
    out, review, counts = filter_posts(posts, min_bloggers=2, blacklist={"love"}, review_top_n=10)
    assert out.column("post_id").to_pylist() == ["p1", "p2", "p3", "p4"]  # p5 lost its only tag
    assert out.column("tags").to_pylist() == [["bmw", "audi"], ["bmw", "audi", "mything"], ["bmw"], ["mything", "bmw"]]
    rev = {r["tag"]: r for r in review.to_pylist()}
    assert rev["bmw"]["posts"] == 4 and rev["bmw"]["bloggers"] == 3 and rev["bmw"]["kept"]
    assert rev["love"]["blacklisted"] and not rev["love"]["kept"]
    assert not rev["solo"]["kept"]
    assert review.column("tag").to_pylist()[0] == "bmw"  # most frequent first
    assert counts["posts_in"] == 5 and counts["posts_out"] == 4
    assert counts["tags_kept"] == 3 and counts["tags_blacklisted"] == 1
    assert counts["occurrences_in"] == 11 and counts["occurrences_out"] == 8


def test_a_higher_threshold_keeps_fewer_tags():
    posts = _posts([r for r in ROWS if r[3] == "en"])
    _, _, c2 = filter_posts(posts, min_bloggers=2, blacklist=set(), review_top_n=10)
    _, _, c3 = filter_posts(posts, min_bloggers=3, blacklist=set(), review_top_n=10)
    assert c2["tags_kept"] == 4 and c3["tags_kept"] == 1  # bmw only has 3 bloggers


@pytest.fixture
def window_ref(tmp_path):
    """A window artifact holding only what the filter reads: the per-language tag statistics."""
    cfg = load_config(overrides={"store": {"uri": str(tmp_path / "store")}, "filter": {"generic_mode": "off"}},
                      use_env=False)

    def compute(ws):
        parts = []
        for lang in ("en", "ru"):
            stats = tag_stats(_posts([r for r in ROWS if r[3] == lang]))
            parts.append(stats.add_column(0, "lang", pa.array([lang] * stats.num_rows, pa.string())))
        pq.write_table(pa.concat_tables(parts), ws.path(TAG_STATS))
        return StageResult(extra={"languages": ["en", "ru"]})

    ref = run_stage(cfg.open_store(), "window", code="test", params={}, inputs={}, compute=compute)
    return cfg, ref


def test_stage_filters_one_language_with_its_own_threshold(window_ref):
    cfg, ref = window_ref
    cfg.filter.min_bloggers_by_lang = {"ru": 1}
    cfg.filter.min_bloggers = 2
    ru = filter_language(ref, [], "ru", cfg)
    en = filter_language(ref, [], "en", cfg)
    store = cfg.open_store()
    assert sorted(Artifact(store, ru).read_table(KEPT).column("tag").to_pylist()) == ["bmw", "машина"]
    assert sorted(Artifact(store, en).read_table(KEPT).column("tag").to_pylist()) == ["audi", "bmw", "love", "mything"]
    assert ru.counts["tags_kept"] == 2 and en.counts["occurrences_in"] == 11
    again = filter_language(ArtifactRef.from_dict(ref.to_dict()), [], "en", cfg)
    assert again.reused and again.key == en.key
    cfg.filter.blacklist = {"*": ["love"]}
    assert filter_language(ref, [], "en", cfg).key != en.key  # a new blacklist is a new artifact


def test_generic_scores_without_prepared_partitions_fail_clearly(window_ref):
    cfg, ref = window_ref
    cfg.filter.generic_mode = "suggest"
    with pytest.raises(ValueError, match="co-occurrences, and no prepared partition.s count"):
        filter_language(ref, [], "en", cfg)
