"""Query tags are normalised as training normalised the model's tags: with the
``normalize.max_tag_length`` of the config the version was made with (recorded in the version),
not the library's default of 64."""

from datetime import datetime, timezone

import numpy as np
import pytest

from topictensor.artifacts import StageResult, run_stage
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.registry import Registry
from topictensor.search import SearchModel
from topictensor.search.themes import UnknownTagsError
from topictensor.tags import normalize_tag

LONG = "vintagecarrestorationworkshop" * 3  # 87 letters: over the default 64


def _publish(tmp_path, tags, max_tag_length):
    """A version whose train artifact holds ``tags`` and whose config normalised at ``max_tag_length``."""
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                    "normalize": {"max_tag_length": max_tag_length}}, use_env=False)
    store = config.open_store()
    vectors = np.random.default_rng(0).standard_normal((len(tags), 8)).astype(np.float32)

    def compute(ws):
        Embeddings(tags, [10] * len(tags), vectors).save(ws.root)
        return StageResult()

    train = run_stage(store, "train", code="planted", params={"tags": list(tags)}, inputs={}, compute=compute)
    registry = Registry(store)
    registry.write_version({"version": "v1", "created_at": datetime.now(timezone.utc).isoformat(),
                            "stages": {"train": [{"stage": "train", "key": train.key}]},
                            "config": config.model_dump(mode="json")})
    return SearchModel.load(registry, "v1", config.search)


def test_a_longer_max_length_finds_the_long_tags_training_kept(tmp_path):
    # Training with max_tag_length 100 kept the 87-letter tag; the default 64 would drop it from the query.
    assert normalize_tag(LONG) is None and normalize_tag(LONG, 100) == LONG
    model = _publish(tmp_path, [LONG, "bmw", "audi"], max_tag_length=100)
    assert model.max_tag_length == 100 and model.describe()["max_tag_length"] == 100
    theme = model.theme(f"#{LONG.upper()}, bmw")
    assert theme.tags == [LONG, "bmw"] and theme.unknown == []
    assert [h.tag for h in model.suggest(LONG[:70])] == [LONG]
    assert LONG not in [h.tag for h in model.topic("bmw", 5, exclude_tags=(LONG,)).tags]


def test_a_shorter_max_length_drops_query_tags_longer_than_it_as_training_did(tmp_path):
    # The model holds "photography" (11 letters), but its config normalised at 10: training would have
    # dropped such a tag, so the query drops it too, exactly as normalize_tag(raw, 10) does.
    model = _publish(tmp_path, ["photography", "photo", "bmw"], max_tag_length=10)
    raws = ["#Photography", "photo", "BMW"]
    theme = model.theme(", ".join(raws))
    assert [t.tag for t in theme.terms] == [normalize_tag(r, 10) for r in raws] == [None, "photo", "bmw"]
    assert theme.unknown == ["#Photography"] and theme.tags == ["photo", "bmw"]
    with pytest.raises(UnknownTagsError):
        model.theme("photography")


def test_a_version_without_a_recorded_config_uses_the_default(tmp_path):
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()

    def compute(ws):
        Embeddings(["bmw"], [1], np.ones((1, 4), dtype=np.float32)).save(ws.root)
        return StageResult()

    train = run_stage(store, "train", code="planted", params={}, inputs={}, compute=compute)
    registry = Registry(store)
    registry.write_version({"version": "old", "created_at": "2026-01-01T00:00:00",
                            "stages": {"train": [{"stage": "train", "key": train.key}]}})
    assert SearchModel.load(registry, "old").max_tag_length == 64


def test_an_exclusion_longer_than_the_default_is_not_refused_before_the_model_sees_it():
    """Exclusions are parsed before a model is chosen: only their characters are checked there; the
    length limit is the model's, applied when the excluded tags are matched."""
    from topictensor.search import Exclusions, QueryError

    assert Exclusions.parse(tags=LONG).tags == (LONG,)
    with pytest.raises(QueryError, match="not a valid tag"):
        Exclusions.parse(tags="no spaces!")
