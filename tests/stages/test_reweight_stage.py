"""Habit down-weighting: the documented formula on hand-computed values."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.prep import add_habit_weights, habit_weights  # noqa: E402


def test_formula_on_hand_computed_values():
    # blogger 0 uses tag 0 in 4 posts and tag 1 once; blogger 1 uses tag 0 once.
    bloggers = np.array([0, 0, 0, 0, 0, 1])
    tags = np.array([0, 0, 0, 0, 1, 0])
    w = habit_weights(bloggers, tags, power=0.5)
    raw = np.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)
    assert w.mean() == pytest.approx(1.0)
    # blogger 0's total say about tag 0 is sqrt(4)=2 raw units, not 4
    assert w[:4].sum() / w[5] == pytest.approx(2.0)


def test_power_zero_gives_unit_weights():
    w = habit_weights(np.array([0, 0, 1]), np.array([0, 0, 0]), power=0.0)
    np.testing.assert_array_equal(w, np.ones(3, dtype=np.float32))


def test_weights_align_with_tags_per_post():
    posts = pa.table({
        "blogger_id": ["a", "a", "b"],
        "tags": pa.array([["x", "y"], ["x"], ["x", "z", "y"]], type=pa.list_(pa.string())),
    })
    out = add_habit_weights(posts, power=1.0)
    weights = out.column("weights").to_pylist()
    assert [len(w) for w in weights] == [2, 1, 3]
    # a uses x twice -> 1/2 each; every other (blogger, tag) pair once -> 1
    raw = [[0.5, 1.0], [0.5], [1.0, 1.0, 1.0]]
    mean = np.mean([v for row in raw for v in row])
    for got, want in zip(weights, raw):
        np.testing.assert_allclose(got, np.array(want) / mean, rtol=1e-6)


def _planted_window_and_filters(store, salt):
    """A window with every blogger's tag counts, and the filters of two languages."""
    import pyarrow.parquet as pq

    from topictensor.artifacts import StageResult, run_stage
    from topictensor.stages.filter import KEPT
    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.window import HABIT_SCHEMA, habit_file

    habit = {"en": [("en-a", "x", 4), ("en-a", "y", 1), ("en-b", "x", 1), ("en-b", "gone", 3)],
             "ru": [("ru-a", "x", 9)]}

    def window(ws):
        rows = [(b, t, lang, n) for lang, pairs in habit.items() for b, t, n in pairs]
        for bucket in range(PAIR_BUCKETS):  # all in bucket 0 is fine: the reader does not care
            mine = rows if bucket == 0 else []
            pq.write_table(pa.table({"blogger_id": [r[0] for r in mine], "tag": [r[1] for r in mine],
                                     "lang": [r[2] for r in mine], "posts": [r[3] for r in mine]}, schema=HABIT_SCHEMA),
                           ws.path(habit_file(bucket)))
        return StageResult()

    def filtered(lang, tags):
        def compute(ws):
            pq.write_table(pa.table({"tag": pa.array(tags, pa.string())}), ws.path(KEPT))
            return StageResult()
        return run_stage(store, "filter", code="planted", params={"lang": lang, "salt": salt}, inputs={},
                         compute=compute)

    win = run_stage(store, "window", code="planted", params={"salt": salt}, inputs={}, compute=window)
    return win, filtered("en", ["x", "y"]), filtered("ru", ["x"])


def test_the_stage_weighs_the_kept_pairs_of_the_window_by_the_formula(tmp_path):
    from topictensor.artifacts import Artifact
    from topictensor.config import load_config
    from topictensor.stages.reweight import habit_file, reweight

    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    window, en, ru = _planted_window_and_filters(store, 0)
    ref = reweight([en, ru], window, config)
    art = Artifact(store, ref)
    pairs = pa.concat_tables([art.read_table(habit_file(b)) for b in range(16)]).to_pylist()
    assert {(p["blogger_id"], p["tag"], p["count"]) for p in pairs} == {
        ("en-a", "x", 4), ("en-a", "y", 1), ("en-b", "x", 1), ("ru-a", "x", 9)}  # "gone" is not kept in en
    counts = np.array([4, 1, 1, 9])
    raw = counts ** -0.5
    mean = float((counts * raw).sum() / counts.sum())  # the mean over occurrences: a pair counts c times
    assert art.manifest["extra"]["raw_mean"] == pytest.approx(mean)
    assert ref.counts["occurrences"] == 15 and ref.counts["pairs"] == 4
    assert ref.metrics["weight_max"] == pytest.approx(1 / mean) and ref.metrics["weight_min"] == pytest.approx(9 ** -0.5 / mean)


def test_the_order_of_the_languages_given_does_not_change_the_artifact(tmp_path):
    """Filter artifacts' keys change with the raw input's mtimes: the same corpus must give the same
    habit table whatever order its languages come in (once, training read posts in that order)."""
    from topictensor.artifacts import Artifact
    from topictensor.config import load_config
    from topictensor.stages.reweight import reweight

    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    orders = set()
    for salt in range(12):  # both key orders of the two languages occur among these
        window, en, ru = _planted_window_and_filters(store, salt)
        orders.add(en.key < ru.key)
        one, two = reweight([en, ru], window, config), reweight([ru, en], window, config)
        assert one.key == two.key and two.reused
        assert Artifact(store, one).manifest["inputs"]["filtered"][0].endswith(en.key)
    assert orders == {True, False}
