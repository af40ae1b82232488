"""Versions, the production pointer, promote / rollback and their history."""

import pytest

from topictensor.registry import Registry, RegistryError, version_id
from topictensor.stages.gate import decide
from topictensor.store import LocalStore


@pytest.fixture
def registry(tmp_path):
    reg = Registry(LocalStore(tmp_path))
    for i, q in enumerate([0.20, 0.25, 0.22]):
        reg.write_version({"version": f"v{i}", "created_at": f"2026-01-0{i + 1}", "metrics": {"quality": q},
                           "stages": {}})
    return reg


def test_version_id_depends_on_keys_only():
    assert version_id({"a": "1", "b": ["2", "3"]}) == version_id({"b": ["2", "3"], "a": "1"})
    assert version_id({"a": "1"}) != version_id({"a": "2"})


def test_write_version_is_idempotent(registry):
    assert registry.write_version({"version": "v0", "created_at": "x", "metrics": {"quality": 0.9}}) == ("v0", False)
    assert registry.get_version("v0")["metrics"]["quality"] == 0.20  # the first write stands
    assert [v["version"] for v in registry.list_versions()] == ["v0", "v1", "v2"]


def test_promote_and_rollback_walk_the_history(registry):
    assert registry.production() is None
    assert registry.promote("v0", by="ann")["changed"]
    registry.promote("v1", by="bob")
    registry.promote("v2", by="bob")
    assert registry.production() == "v2"
    event = registry.rollback(by="ann")
    assert (event["action"], event["version"], event["previous"]) == ("rollback", "v1", "v2")
    assert registry.production() == "v1"
    assert registry.rollback()["version"] == "v0"
    history = registry.history()
    assert [(e["action"], e["version"]) for e in history] == [
        ("promote", "v0"), ("promote", "v1"), ("promote", "v2"), ("rollback", "v1"), ("rollback", "v0")]
    assert history[0]["by"] == "ann"


def test_promoting_the_current_version_changes_nothing(registry):
    registry.promote("v0")
    assert registry.promote("v0")["changed"] is False
    assert len(registry.history()) == 1


def test_unknown_version_and_empty_rollback_are_clear_errors(registry):
    with pytest.raises(RegistryError, match="no model version 'nope'"):
        registry.promote("nope")
    with pytest.raises(RegistryError, match="nothing is in production"):
        registry.rollback()
    registry.promote("v0")
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback()
    assert registry.production() == "v0"


def test_promote_refuses_when_production_moved_since_the_caller_looked(registry):
    registry.promote("v0")
    registry.promote("v1")  # an operator acted meanwhile
    with pytest.raises(RegistryError, match="moved to 'v1'"):
        registry.promote("v2", expected="v0")
    assert registry.production() == "v1"


def test_artifact_of_production_without_production_is_a_clear_error(registry):
    with pytest.raises(RegistryError, match="no model is in production"):
        registry.artifact(None, "train")


@pytest.mark.parametrize("quality, prod, passed", [
    (0.30, None, True),            # first model: only the floor matters
    (0.04, None, False),           # below the floor
    (0.245, 0.25, True),           # within tolerance of production
    (0.20, 0.25, False),           # clearly worse than production
    (0.40, 0.25, True),
])
def test_gate_rule(quality, prod, passed):
    comparison = ({"candidate_quality": quality, "production_version": "vp", "production_quality": prod,
                   "posts": 100, "recent": []} if prod is not None else None)
    decision = decide(quality, comparison, floor=0.05, tolerance=0.01)
    assert decision["passed"] is passed
    assert decision["reason"]
    assert decision["champion_version"] == (comparison and "vp")
