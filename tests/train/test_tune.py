"""The budgeted search on a planted corpus: never worse than the starting config, within budget."""

from __future__ import annotations

import sys
from pathlib import Path

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from topictensor.cli import app
from topictensor.config import load_config
from topictensor.train.params import TrainConfig
from topictensor.train.tune import MAX_DIM, SEARCHED, SearchSpace, split_validation, tune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.prep import plant_split  # noqa: E402

# A deliberately weak starting point (1 epoch at a learning rate that barely moves the random
# vectors), so that a search has something to find.
WEAK = TrainConfig(dim=8, epochs=1, lr=0.00001, negatives=2, threads=1, seed=3)


def planted_posts(n_posts: int, seed: int) -> list[list[str]]:
    """4 disjoint groups of 6 tags, each post 2-4 tags of one group (as tests/train/conftest.py)."""
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}t{t}" for t in range(6)] for g in range(4)]
    out = []
    for _ in range(n_posts):
        g = groups[int(rng.integers(4))]
        out.append([g[i] for i in rng.choice(6, size=int(rng.integers(2, 5)), replace=False)])
    return out


def _table(posts):
    return pa.table({"tags": pa.array(posts, type=pa.list_(pa.string()))})


@pytest.fixture(scope="module")
def search():
    table = _table(planted_posts(600, seed=1))
    train_part, valid = split_validation(table, 0.2, seed=0)
    budget = 4.0
    started = time.perf_counter()
    result = tune(train_part, valid.column("tags").to_pylist(), budget, WEAK, seed=0)
    return result, budget, time.perf_counter() - started, train_part, valid


def test_the_choice_is_at_least_as_good_as_the_start_on_validation(search):
    result, *_ = search
    assert result.trials[0].config == {k: getattr(WEAK, k) for k in SEARCHED}
    assert result.best_trial.quality >= result.baseline_trial.quality
    assert result.best_trial.quality > result.baseline_trial.quality + 0.05  # the weak start is beaten


def test_the_search_stays_within_its_budget(search):
    result, budget, wall, *_ = search
    longest = max(t.seconds for t in result.trials)
    assert wall <= budget + longest + 0.5
    assert len(result.trials) > 3  # successive halving actually ran brackets


def test_rungs_and_pareto_front(search):
    result, *_ = search
    shares = {t.share for t in result.trials}
    assert min(shares) < 1.0 and 1.0 in shares
    assert all(t.config["dim"] <= MAX_DIM for t in result.trials)
    front = [t for t in result.trials if t.pareto]
    assert front and all(t.share == 1.0 for t in front)
    assert result.best_trial.pareto  # the best quality is never dominated
    table = result.table()
    assert len(table.splitlines()) == len(result.trials) + 3 and "*" in table


def test_validation_is_carved_from_training_posts(search):
    *_, train_part, valid = search
    assert train_part.num_rows + valid.num_rows == 600 and 60 < valid.num_rows < 180


def test_written_yaml_is_a_train_section_load_config_reads(search, tmp_path):
    result, *_ = search
    path = tmp_path / "tuned.yaml"
    path.write_text(result.to_yaml())
    cfg = load_config(path, use_env=False).train
    for key in SEARCHED:
        assert getattr(cfg, key) == getattr(result.best, key)
    assert cfg.seed == 3  # what the starting config set is kept


def test_search_space_refuses_dimensions_above_the_limit():
    with pytest.raises(ValueError, match="dim 256"):
        SearchSpace(dims=(64, 256))


def test_tune_command_prints_the_table_and_writes_the_config(tmp_path):
    posts = tmp_path / "posts.parquet"
    pq.write_table(_table(planted_posts(300, seed=2)), posts)
    out = tmp_path / "tuned.yaml"
    result = CliRunner().invoke(app, ["tune", "--posts", str(posts), "--budget", "2", "--out", str(out),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "pareto" in result.output and "< = chosen" in result.output
    assert load_config(out, use_env=False).train.dim <= MAX_DIM


def test_tune_stage_writes_the_choice_reuses_it_and_feeds_train(tmp_path):
    from topictensor.stages.train import train_model
    from topictensor.stages.tune import apply_tuned, tune_config

    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                    "train": WEAK.model_dump(mode="json")}, use_env=False)

    splits = plant_split(config, planted_posts(400, seed=4), planted_posts(50, seed=5))
    tuned = tune_config(splits, config, budget_seconds=2)
    assert not tuned.reused and tuned.metrics["chosen_quality"] >= tuned.metrics["baseline_quality"]
    again = tune_config(splits, config, budget_seconds=2)
    assert again.reused and again.key == tuned.key  # the choice is not redone (it depends on timing)
    chosen = apply_tuned(config, tuned)
    assert apply_tuned(config, None) is config
    assert chosen.train.threads == config.train.threads
    model = train_model(splits, chosen)
    params = config.open_store().local_path(f"{model.prefix}/_MANIFEST.json").read_text()
    import json

    recorded = json.loads(params)["params"]
    assert {k: recorded[k] for k in SEARCHED} == {k: getattr(chosen.train, k) for k in SEARCHED}
