"""Normalize (per partition: canonical tags, the partition's summary) and the window stage (one
language per blogger, from the snapshot and the summaries, given to all their posts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import NormalizeConfig, load_config
from topictensor.stages.normalize import BLOGGERS_SCHEMA, assign_languages
from topictensor.stages.prepare import PREPARED_SCHEMA

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_prefix import run_until  # noqa: E402


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _post(post_id, blogger, tags=None, caption=None, lang=None, likes=1):
    row = {"post_id": post_id, "blogger_id": blogger, "created_at": "2024-01-01", "likes": likes}
    if tags is not None:
        row["tags"] = tags
    if caption is not None:
        row["caption"] = caption
    if lang is not None:
        row["lang"] = lang
    return row


@pytest.fixture
def normalized(tmp_path):
    raw = tmp_path / "raw"
    _write_jsonl(raw / "bloggers" / "b.jsonl", [
        {"blogger_id": "given", "username": "g", "followers": 1, "lang": "de"},   # lang given
        {"blogger_id": "voted", "username": "v", "followers": 2},                 # majority of posts' lang
        {"blogger_id": "ru", "username": "r", "followers": 3},                    # detected
        {"blogger_id": "es", "username": "e", "followers": 4},                    # detected
        {"blogger_id": "mute", "username": "m", "followers": 5},                  # nothing to read: fallback
    ])
    _write_jsonl(raw / "posts" / "p.jsonl", [
        _post("1", "given", ["BMW", "#bmw", "Auto", "Straße"], caption="Das ist mein neues Auto", lang="en"),
        _post("2", "voted", ["Café"], lang="fr"),
        _post("3", "voted", ["paris"], lang="fr", likes=5),
        _post("4", "voted", ["london"], lang="en"),
        _post("5", "ru", ["Ёлка", "зеркало", "новый_год"], caption="Наряжаем ёлку всей семьёй, скоро праздник"),
        _post("6", "es", caption="Un día perfecto en la playa con mis amigos #Playa #verano"),
        _post("7", "mute", ["😀", "!!"]),  # no valid tag: the post is dropped
    ])
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}, "ingest": {"input_uri": str(raw)}},
                         use_env=False)
    results = run_until(config, "prepare")
    return (config, ArtifactRef.from_dict(results["window"]), ArtifactRef.from_dict(results["normalize"][0]),
            ArtifactRef.from_dict(results["prepare"][0]))


def _all_posts(config, prepared) -> pa.Table:
    """The window's posts: both sides of the (one) prepared partition."""
    art = Artifact(config.open_store(), prepared)
    return pa.concat_tables([art.read_table(f"{side}.parquet") for side in ("train", "heldout")])


def test_tags_are_normalised_and_empty_posts_dropped(normalized):
    config, window, ref, prepared = normalized
    posts = _all_posts(config, prepared)
    assert posts.schema == PREPARED_SCHEMA
    tags = dict(zip(posts.column("post_id").to_pylist(), posts.column("tags").to_pylist()))
    assert tags == {
        "1": ["bmw", "auto", "strasse"],
        "2": ["cafe"],
        "3": ["paris"],
        "4": ["london"],
        "5": ["елка", "зеркало", "новый_год"],
        "6": ["playa", "verano"],
    }
    assert ref.counts["posts"] == 6
    assert ref.counts["posts_dropped_empty"] == 1
    assert ref.counts["tags_in"] == 4 + 1 + 1 + 1 + 3 + 2 + 2
    assert ref.counts["tags_invalid"] == 2
    assert ref.counts["tags_out"] == 3 + 1 + 1 + 1 + 3 + 2
    assert ref.counts["tags_duplicate"] == 1  # "#bmw" after "BMW"


def test_language_per_blogger_with_its_source_and_every_post_gets_it(normalized):
    config, ref, _, prepared = normalized
    art = Artifact(config.open_store(), ref)
    bloggers = art.read_table("bloggers.parquet")
    assert bloggers.schema == BLOGGERS_SCHEMA
    rows = {r["blogger_id"]: r for r in bloggers.to_pylist()}
    assert (rows["given"]["lang"], rows["given"]["lang_source"], rows["given"]["lang_confidence"]) == ("de", "given", 1.0)
    assert (rows["voted"]["lang"], rows["voted"]["lang_source"]) == ("fr", "posts")
    assert rows["voted"]["lang_confidence"] == pytest.approx(2 / 3)
    assert (rows["ru"]["lang"], rows["ru"]["lang_source"]) == ("ru", "detected")
    assert (rows["es"]["lang"], rows["es"]["lang_source"]) == ("es", "detected")
    assert rows["es"]["lang_confidence"] >= 0.5
    assert (rows["mute"]["lang"], rows["mute"]["lang_source"]) == ("und", "fallback")
    assert (rows["voted"]["posts"], rows["voted"]["likes_total"]) == (3, 7)
    assert (rows["mute"]["posts"], rows["mute"]["likes_total"]) == (0, 0)

    # Every tag use counts in its blogger's language: post 1 said 'en', the blogger's 'de' wins.
    habit = pa.concat_tables([art.read_table(n) for n in art.names("habit/*.parquet")])
    for pair in habit.to_pylist():
        assert pair["lang"] == rows[pair["blogger_id"]]["lang"]
    assert {p["tag"] for p in habit.to_pylist() if p["lang"] == "fr"} == {"cafe", "paris", "london"}
    stats = art.read_table("stats/tags.parquet").to_pylist()
    assert {(r["lang"], r["tag"], r["posts"], r["bloggers"]) for r in stats if r["lang"] in ("fr", "de")} == {
        ("fr", "cafe", 1, 1), ("fr", "paris", 1, 1), ("fr", "london", 1, 1),
        ("de", "bmw", 1, 1), ("de", "auto", 1, 1), ("de", "strasse", 1, 1)}
    assert sorted(_all_posts(config, prepared).column("post_id").to_pylist()) == ["1", "2", "3", "4", "5", "6"]

    counts = ref.counts
    assert counts["bloggers_detected"] == 2
    assert {k: v for k, v in counts.items() if k.startswith("bloggers_") and len(k) <= 12} == {
        "bloggers_de": 1, "bloggers_fr": 1, "bloggers_ru": 1, "bloggers_es": 1, "bloggers_und": 1,
    }
    extra = art.manifest["extra"]
    assert extra["languages"][0] == "fr"  # 3 posts; 'und' has none left and is not listed
    assert sorted(extra["languages"]) == ["de", "es", "fr", "ru"]


def test_rerun_reuses_the_artifact(normalized):
    config, ref, _, _ = normalized
    again = run_until(config, "window")
    assert again["window"]["reused"] and again["window"]["key"] == ref.key
    assert all(r["reused"] for r in again["normalize"] + again["ingest"])


class _FixedIdentifier:
    """Stands in for lingua where the test is about the stage's bookkeeping, not detection."""

    def __init__(self, answer):
        self.answer = answer
        self.seen = []

    def detect_many(self, groups):
        groups = [list(g) for g in groups]
        self.seen.extend(groups)
        return [self.answer for _ in groups]


def test_detection_reads_captions_and_tags_with_underscores_as_spaces_and_unsure_falls_back():
    posts = pa.table({
        "post_id": ["1"], "blogger_id": ["b"],
        "created_at": pa.array([0], pa.timestamp("us", tz="UTC")),
        "tags": pa.array([["#новый_год", "Ёлка"]], pa.list_(pa.string())),
        "likes": [1], "lang": pa.array([None], pa.string()), "caption": ["С праздником"],
    })
    bloggers = pa.table({"blogger_id": ["b"], "username": ["u"], "followers": [1], "lang": pa.array([None], pa.string())})
    identifier = _FixedIdentifier((None, 0.3))
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from helpers.prep import normalize_table

    _, summary, _ = normalize_table(posts.append_column("source_file", pa.array(["f"]))
                                    .append_column("source_row", pa.array([0])), NormalizeConfig())
    texts = {}
    for blogger, text in zip(summary["texts"].column("blogger_id").to_pylist(), summary["texts"].column("text").to_pylist()):
        texts.setdefault(blogger, []).append(text)
    out = assign_languages(bloggers, lambda ids: summary["votes"].to_pandas(), lambda ids: texts,
                           NormalizeConfig(fallback_language="xx"), identifier)
    assert identifier.seen == [["С праздником новый год Ёлка"]]
    assert out.to_dict("records") == [{"blogger_id": "b", "lang": "xx", "source": "fallback",
                                       "confidence": pytest.approx(0.3)}]
