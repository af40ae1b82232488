"""Habit down-weighting: the documented formula on hand-computed values."""

import numpy as np
import pyarrow as pa
import pytest

from topictensor.stages.reweight import add_habit_weights, habit_weights


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


def test_languages_merge_in_language_order_whatever_their_keys(tmp_path):
    """The merged order is the order training reads posts in: it must not follow the filter
    artifacts' keys, which change with the raw input's mtimes (a rerun of the same corpus then
    trained a different model)."""
    import pyarrow.parquet as pq

    from topictensor.artifacts import Artifact, StageResult, run_stage
    from topictensor.config import load_config
    from topictensor.stages.reweight import reweight

    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()

    def filtered(lang, salt):
        posts = pa.table({"post_id": [f"{lang}1", f"{lang}2"], "blogger_id": [f"{lang}-a", f"{lang}-b"],
                          "tags": pa.array([["x", "y"], ["y"]], type=pa.list_(pa.string())),
                          "likes": pa.array([1, 2], pa.int64()), "lang": [lang, lang]})

        def compute(ws):
            pq.write_table(posts, ws.path("posts.parquet"))
            return StageResult()
        return run_stage(store, "filter", code="planted", params={"lang": lang, "salt": salt}, inputs={},
                         compute=compute)

    orders = set()
    for salt in range(12):  # both key orders of the two languages occur among these
        en, ru = filtered("en", salt), filtered("ru", salt)
        orders.add(en.key < ru.key)
        for given in ([en, ru], [ru, en]):
            out = Artifact(store, reweight(given, config)).read_table("posts.parquet")
            assert out.column("lang").to_pylist() == ["en", "en", "ru", "ru"], (salt, en.key, ru.key)
    assert orders == {True, False}
