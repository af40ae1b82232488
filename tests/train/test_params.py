"""The warm-start policy of TrainConfig: one definition of which settings decide a training, used
by the train and the tune stage alike."""

from __future__ import annotations

from topictensor.config import PipelineConfig
from topictensor.stages.train import train_params
from topictensor.stages.tune import tune_params
from topictensor.train.params import TrainConfig


def test_the_warm_start_policy_is_its_four_fields():
    assert TrainConfig.warm_start_fields() == {"warm_start", "warm_epochs", "warm_lr_scale", "keep_vanished_tags"}


def test_warm_settings_decide_only_a_warm_run_and_threads_never():
    base, other = TrainConfig(), TrainConfig(warm_epochs=7, keep_vanished_tags=True, threads=3)
    assert base.deciding_settings(warm=False) == other.deciding_settings(warm=False)
    assert base.deciding_settings(warm=True) != other.deciding_settings(warm=True)
    assert "threads" not in base.deciding_settings(warm=True)
    assert base.deciding_settings(warm=False) != TrainConfig(dim=32).deciding_settings(warm=False)


def test_warm_run_trains_warm_epochs_and_scales_lr_only_without_the_old_optimiser():
    cfg = TrainConfig(lr=0.02, epochs=9, warm_epochs=3, warm_lr_scale=0.5)
    continued = cfg.warm_run(adagrad_continued=True)
    fresh = cfg.warm_run(adagrad_continued=False)
    assert (continued.epochs, continued.lr) == (3, 0.02)
    assert (fresh.epochs, fresh.lr) == (3, 0.01)


def test_train_and_tune_stages_key_on_the_same_settings():
    config = PipelineConfig.model_validate({"train": {"dim": 24, "warm_epochs": 4, "threads": 2}})
    assert tune_params(config, 60, 0.1)["train"] == train_params(config, warm=False)
    assert train_params(config, warm=True)["warm_epochs"] == 4
