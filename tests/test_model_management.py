"""The weekly decision on planted models whose right answer is known: champion against challenger
on the same held-out posts, the slow slide, drift thresholds, manual approval, backfills, run
history, and the confirmation before a promote.

The planted world: 50 groups of 4 tags; each held-out post is one whole group, so a model whose
group vectors are tight finds every post's other tags as its nearest ones (quality 1.0). A model
"scrambled" on s groups gives those groups' tags random vectors: those posts score ~0, so its
quality on the same posts is ~1 - s/50, a drop of 0.02 per group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from topictensor.artifacts import StageResult, run_stage
from topictensor.cli import app
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.errors import GateFailed
from topictensor.registry import Registry
from topictensor.stages.evaluate import evaluate_model
from topictensor.stages.gate import gate
from topictensor.stages.publish import publish

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers.prep import plant_split  # noqa: E402

GROUPS = [[f"g{g}t{i}" for i in range(4)] for g in range(50)]
DIM = 16
runner = CliRunner()


def planted_vectors(scrambled=(), missing=(), seed=0):
    """Tags of every group but ``missing``; groups in ``scrambled`` get random vectors."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(len(GROUPS), DIM))
    tags, vectors = [], []
    for g, group in enumerate(GROUPS):
        if g in missing:
            continue
        for tag in group:
            tags.append(tag)
            vectors.append(rng.normal(size=DIM) if g in scrambled else centres[g] + 0.01 * rng.normal(size=DIM))
    return Embeddings(tags, [10] * len(tags), np.asarray(vectors, dtype=np.float32))


def make_model(config, emb, name):
    """A train artifact holding ``emb`` (what the train stage writes, for the stages that read it)."""
    def compute(ws):
        emb.save(ws.root)
        return StageResult(counts={"vocabulary": len(emb)})

    return run_stage(config.open_store(), "train", code="planted", params={"name": name}, inputs={}, compute=compute)


def make_split(config, heldout, name):
    """A split whose training and held-out posts are ``heldout`` (``name``: the week, for reading)."""
    return plant_split(config, heldout, heldout)


CLEAN_POSTS = [list(g) for g in GROUPS]
# Harder posts: each mixes two groups, so even a perfect model finds only some of the other tags.
MIXED_POSTS = [GROUPS[g][:2] + GROUPS[(g + 1) % 50][:2] for g in range(50)]


def week(config, emb, heldout, name, *, window=None):
    """One run through evaluate, gate and publish; returns (evaluation ref, report)."""
    split = make_split(config, heldout, name)
    model = make_model(config, emb, name)
    evaluation = evaluate_model(model, split, config)
    decision = gate(evaluation, config, run_id=name)
    report = publish({"split": split, "train": model, "evaluate": evaluation}, decision, config, run_id=name,
                     window=window)
    return evaluation, report


def make_config(tmp_path, **gate):
    return load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                  "gate": {"min_quality": 0.05, "tolerance": 0.03, **gate}}, use_env=False)


def test_a_candidate_worse_on_the_same_posts_fails_even_with_a_higher_own_figure(tmp_path):
    config = make_config(tmp_path)
    _, first = week(config, planted_vectors(), MIXED_POSTS, "w0")  # its own figure: on the hard posts
    assert first["promoted"] and first["quality"] < 0.6
    # The candidate knows half the groups: on the posts it can score it is perfect (its own figure
    # is 1.0, far above production's), but on the same posts, where every tag it does not know
    # counts against it, it is half as good as production.
    with pytest.raises(GateFailed, match="on the same 50 held-out posts the candidate scores 0.5000"):
        week(config, planted_vectors(missing=range(25)), CLEAN_POSTS, "w1")
    rejected = json.loads(config.open_store().read_text(config.open_store().list("runs")[-1]))
    assert rejected["status"] == "rejected" and rejected["quality"] == pytest.approx(1.0)
    assert rejected["quality"] > first["quality"]  # the figure the old gate compared: it would have passed
    assert rejected["comparison"]["candidate_quality"] == pytest.approx(0.5)
    assert rejected["comparison"]["production_quality"] == pytest.approx(1.0)
    assert Registry(config.open_store()).production() == first["version"]


def test_the_same_candidate_passes_against_a_production_that_is_as_good(tmp_path):
    """The counterpart: the rule is about being worse, not about being different."""
    config = make_config(tmp_path)
    week(config, planted_vectors(missing=range(25), seed=1), CLEAN_POSTS, "w0")
    _, report = week(config, planted_vectors(missing=range(25)), CLEAN_POSTS, "w1")
    assert report["promoted"]
    assert report["comparison"]["candidate_quality"] == pytest.approx(report["comparison"]["production_quality"])


def slide(config):
    """Four weeks, each one group worse than the week before (0.02 < the tolerance 0.03)."""
    reports, failure = [], None
    for s in range(4):
        try:
            reports.append(week(config, planted_vectors(scrambled=range(s)), CLEAN_POSTS, f"w{s}")[1])
        except GateFailed as exc:
            failure = (s, str(exc))
            break
    return reports, failure


def test_a_slow_slide_over_several_weeks_is_caught(tmp_path):
    reports, failure = slide(make_config(tmp_path, best_of_last=4))
    assert [r["promoted"] for r in reports] == [True, True]  # week 1: 0.02 below week 0, within tolerance
    assert failure is not None and failure[0] == 2  # week 2: 0.02 below production, 0.04 below week 0
    assert "slow slide" in failure[1] and "the best of the last 2 promoted versions" in failure[1]
    assert reports[1]["comparison"]["best_recent_quality"] == pytest.approx(1.0)


def test_without_best_of_last_the_same_slide_passes_unnoticed(tmp_path):
    """What the best-of-last-N check is for: production alone lets every week through."""
    reports, failure = slide(make_config(tmp_path, best_of_last=0))
    assert failure is None and all(r["promoted"] for r in reports)
    assert reports[-1]["comparison"]["candidate_quality"] == pytest.approx(0.94)  # 2x the tolerance below week 0


def test_a_drift_threshold_breach_fails_the_gate_with_its_reason(tmp_path):
    config = make_config(tmp_path, tolerance=1.0)  # quality never fails here: only drift can
    week(config, planted_vectors(), CLEAN_POSTS, "w0")
    strict = config.model_copy(update={"drift": config.drift.model_copy(update={"min_neighbour_overlap": 0.95})})
    with pytest.raises(GateFailed, match=r"drift: neighbour overlap@10 over shared tags is 0\.\d+, below the "
                                         r"threshold drift.min_neighbour_overlap = 0.9500"):
        week(strict, planted_vectors(scrambled=range(10)), CLEAN_POSTS, "w1")
    # Report only by default: the same model passes and its drift is in the report.
    _, report = week(config, planted_vectors(scrambled=range(10)), CLEAN_POSTS, "w1")
    assert report["promoted"] and report["drift"]["neighbour_overlap_at_10"] < 0.95


def test_vocabulary_churn_is_measured_with_counts_and_gated(tmp_path):
    config = make_config(tmp_path, tolerance=1.0)
    week(config, planted_vectors(missing=range(40, 50)), CLEAN_POSTS, "w0")
    evaluation, report = week(config, planted_vectors(missing=range(5)), CLEAN_POSTS, "w1")
    drift = report["drift"]
    assert (drift["tags_new"], drift["tags_vanished"]) == (40, 20)  # groups 40-49 came, groups 0-4 went
    assert drift["top_new"][0] == ["g40t0", 10]
    strict = config.model_copy(update={"drift": config.drift.model_copy(update={"max_tags_vanished_share": 0.1})})
    with pytest.raises(GateFailed, match=r"vanished tags .* is 0.1250, above the threshold"):
        gate(evaluation, strict)


def test_manual_mode_leaves_production_untouched_until_a_promote(tmp_path):
    config = make_config(tmp_path)
    _, first = week(config, planted_vectors(), CLEAN_POSTS, "w0")
    manual = config.model_copy(update={"gate": config.gate.model_copy(update={"promote": "manual"})})
    registry = Registry(config.open_store())
    _, report = week(manual, planted_vectors(seed=3), CLEAN_POSTS, "w1")
    assert report["status"] == "candidate" and not report["promoted"]
    assert registry.production() == first["version"]
    assert registry.get_version(report["version"])["comparison"]["production_version"] == first["version"]
    _, again = week(manual, planted_vectors(seed=3), CLEAN_POSTS, "w1")  # a rerun: still a candidate
    assert again["version"] == report["version"] and registry.production() == first["version"]

    config_file = tmp_path / "topictensor.yaml"
    config_file.write_text(f"store:\n  uri: {config.store.uri}\n")
    listed = runner.invoke(app, ["versions", "list", "--json", "-c", str(config_file)])
    status = {r["version"]: r["status"] for r in json.loads(listed.stdout)}
    assert status == {first["version"]: "production", report["version"]: "candidate"}
    done = runner.invoke(app, ["versions", "promote", report["version"], "--yes", "-c", str(config_file)])
    assert done.exit_code == 0, done.output
    assert registry.production() == report["version"]
    assert f"promote: production moves from {first['version']}" in done.stderr


def test_a_rerun_after_publishing_compares_with_what_it_was_compared_with(tmp_path):
    """Production at the time is in evaluate's key: after this model is promoted, rerunning its
    evaluate reuses the artifact (a no-op); a rollback changes what it is compared with."""
    config = make_config(tmp_path)
    _, first = week(config, planted_vectors(), CLEAN_POSTS, "w0")
    evaluation, second = week(config, planted_vectors(seed=4), CLEAN_POSTS, "w1")
    assert second["promoted"]
    split, model = (make_split(config, CLEAN_POSTS, "w1"), make_model(config, planted_vectors(seed=4), "w1"))
    rerun = evaluate_model(model, split, config)
    assert rerun.reused and rerun.key == evaluation.key
    Registry(config.open_store()).rollback()
    Registry(config.open_store()).promote(first["version"])  # unchanged: already there
    after_rollback = evaluate_model(model, split, config)
    assert after_rollback.key == evaluation.key  # the same production as when it was the candidate
    week(config, planted_vectors(seed=5), CLEAN_POSTS, "w2")  # a third model in production
    assert evaluate_model(model, split, config).key != evaluation.key


def test_a_backfill_is_registered_but_not_promoted_unless_asked(tmp_path):
    config = make_config(tmp_path)
    new = {"as_of": "2026-03-02", "window_days": 14, "partitions": ["2026-02-16", "2026-02-23"]}
    old = {"as_of": "2026-02-16", "window_days": 14, "partitions": ["2026-02-02", "2026-02-09"]}
    _, first = week(config, planted_vectors(), CLEAN_POSTS, "w0", window=new)
    _, backfill = week(config, planted_vectors(seed=6), CLEAN_POSTS, "back", window=old)
    assert backfill["status"] == "backfill" and "registered, not promoted" in backfill["why"]
    assert Registry(config.open_store()).production() == first["version"]
    asked = config.model_copy(update={"gate": config.gate.model_copy(update={"promote_backfills": True})})
    _, promoted = week(asked, planted_vectors(seed=7), CLEAN_POSTS, "back2", window=old)
    assert promoted["promoted"]


@pytest.fixture
def history(tmp_path):
    """A store with four runs: promoted, promoted, rejected (slide), and the config naming it."""
    config = make_config(tmp_path, best_of_last=4)
    slide(config)
    config_file = tmp_path / "topictensor.yaml"
    config_file.write_text(f"store:\n  uri: {config.store.uri}\n")
    return config, str(config_file)


def test_runs_list_show_and_diff_on_a_store_with_several_runs(history):
    config, config_file = history
    listed = runner.invoke(app, ["runs", "list", "--json", "-c", config_file])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["promoted", "promoted", "rejected"]
    assert rows[0]["production_quality"] is None and rows[1]["production_quality"] == pytest.approx(1.0)
    assert rows[1]["candidate_quality"] == pytest.approx(0.98)
    assert rows[2]["neighbour_overlap_at_10"] < 1.0

    latest = json.loads(runner.invoke(app, ["runs", "show", "--json", "-c", config_file]).stdout)
    assert latest["run"] == rows[-1]["run"] and latest["status"] == "rejected"
    assert "slow slide" in latest["reason"]
    by_id = json.loads(runner.invoke(app, ["runs", "show", "w1", "--json", "-c", config_file]).stdout)
    assert by_id["run"] == rows[1]["run"]
    assert set(by_id["comparison"]) >= {"candidate_quality", "production_quality", "posts"}
    assert set(by_id["drift"]) >= {"neighbour_overlap_at_10", "tags_new", "tags_vanished", "ranking_churn"}
    text = runner.invoke(app, ["runs", "show", rows[1]["run"], "-c", config_file]).stdout
    assert "comparison on the same 50 held-out posts: candidate 0.9800" in text and "drift: neighbour overlap" in text

    diff = runner.invoke(app, ["runs", "diff", rows[0]["run"], rows[1]["run"], "--json", "-c", config_file])
    assert diff.exit_code == 0, diff.output
    result = json.loads(diff.stdout)
    assert result["figures"]["quality"]["delta"] == pytest.approx(-0.02)
    assert result["version"] == {"a": rows[0]["version"], "b": rows[1]["version"]}
    assert "train" in result["stages_changed"]
    assert runner.invoke(app, ["runs", "diff", rows[0]["run"], rows[1]["run"], "-c", config_file]).exit_code == 0
    missing = runner.invoke(app, ["runs", "show", "nosuchrun", "-c", config_file])
    assert missing.exit_code == 3 and "no run 'nosuchrun'" in missing.stderr


def test_promote_and_rollback_ask_on_a_terminal_and_say_what_changes(history, monkeypatch):
    config, config_file = history
    registry = Registry(config.open_store())
    before = registry.production()
    target = registry.rollback_target()
    monkeypatch.setattr("topictensor.cli.versions.interactive", lambda: True)  # as on a terminal
    refused = runner.invoke(app, ["versions", "rollback", "-c", config_file], input="n\n")
    assert refused.exit_code != 0 and registry.production() == before
    assert f"rollback: production moves from {before}" in refused.stderr and f"to {target}" in refused.stderr
    accepted = runner.invoke(app, ["versions", "rollback", "-c", config_file], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert registry.production() == target
    refused = runner.invoke(app, ["versions", "promote", before, "-c", config_file], input="n\n")
    assert refused.exit_code != 0 and registry.production() == target
    assert runner.invoke(app, ["versions", "promote", before, "--yes", "-c", config_file]).exit_code == 0
    assert registry.production() == before


def test_an_older_version_whose_model_was_deleted_is_left_out_of_the_comparison(tmp_path):
    """Retention may delete an old version's artifacts: the slide check compares with what is left;
    production's model must be there (else the run cannot be compared and fails, naming it)."""
    config = make_config(tmp_path)
    store = config.open_store()
    registry = Registry(store)
    _, first = week(config, planted_vectors(), CLEAN_POSTS, "w0")
    _, second = week(config, planted_vectors(seed=8), CLEAN_POSTS, "w1")
    old = registry.artifact(first["version"], "train")
    store.delete_prefix(old.ref.prefix)
    _, third = week(config, planted_vectors(seed=9), CLEAN_POSTS, "w2")
    assert [r["version"] for r in third["comparison"]["recent"]] == [second["version"]]
    store.delete_prefix(registry.artifact(third["version"], "train").ref.prefix)
    from topictensor.registry import RegistryError

    with pytest.raises(RegistryError, match=f"production version {third['version']}'s model cannot be read"):
        week(config, planted_vectors(seed=10), CLEAN_POSTS, "w3")
