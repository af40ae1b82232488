"""benchmarks/bench_levers.py: every named lever is a valid set of TrainConfig overrides."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from topictensor.train.params import TrainConfig

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_levers.py"
_spec = importlib.util.spec_from_file_location("bench_levers", _PATH)
bench_levers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_levers)


@pytest.mark.parametrize("name", sorted(bench_levers.LEVERS))
def test_every_lever_is_a_valid_train_config(name):
    over = bench_levers.LEVERS[name]
    cfg = TrainConfig(**over)
    for field, value in over.items():
        assert getattr(cfg, field) == value, (name, field)
    if name != "defaults":
        assert over and cfg != TrainConfig(), f"lever {name} changes nothing"


def test_a_lever_on_the_command_line_parses_its_values():
    assert bench_levers.parse_lever("length-power-1") == ("length-power-1", {"length_power": 1.0})
    name, over = bench_levers.parse_lever("mine:loss=softmax,temperature=0.05,negatives=5")
    assert name == "mine" and over == {"loss": "softmax", "temperature": 0.05, "negatives": 5}
    TrainConfig(**over)
    with pytest.raises(SystemExit, match="unknown lever"):
        bench_levers.parse_lever("no-such-lever")
