"""The command line on a real (small) model: versions, neighbours, train/evaluate and their errors."""

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from topictensor.cli import app
from topictensor.registry import Registry
from topictensor.store import LocalStore

runner = CliRunner()
GROUPS = [["bmw", "audi", "porsche", "car"], ["sushi", "tokyo", "ramen", "japan"], ["cat", "kitten", "meow", "pets"]]


def topictensor(*args, env=None):
    """Run the real entry point (its error handling included) in a subprocess."""
    return subprocess.run([sys.executable, "-c", "from topictensor.cli import main; main()", *args],
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory):
    import random

    rng = random.Random(0)
    posts = [rng.sample(GROUPS[i % 3], 4) for i in range(900)]  # whole groups: 3 true neighbours each
    path = tmp_path_factory.mktemp("posts") / "posts.parquet"
    pq.write_table(pa.table({"tags": pa.array(posts, type=pa.list_(pa.string()))}), path)
    return path


def test_train_then_evaluate_a_model_directory(tmp_path, posts_file):
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--posts", str(posts_file), "--out", str(out), "--dim", "16",
                                 "--epochs", "3", "--threads", "1", "--param", "neg_power=0.5"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "model.json").read_text())
    assert model["hyperparameters"]["dim"] == 16 and model["hyperparameters"]["neg_power"] == 0.5
    assert model["corpus"]["vocabulary"] == 12
    result = runner.invoke(app, ["evaluate", "--model", str(out), "--posts", str(posts_file)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["quality"] > 0.9  # each tag's 2 nearest are its group's


@pytest.mark.parametrize("table, message", [
    (pa.table({"text": ["a"]}), "no 'tags' column"),
    (pa.table({"tags": pa.array([], type=pa.list_(pa.string()))}), "cannot train"),
    (pa.table({"tags": pa.array([["solo"], ["alone"]], type=pa.list_(pa.string()))}), "cannot train"),
    (pa.table({"tags": pa.array([[1, 2], [3, 4]], type=pa.list_(pa.int64()))}), "must be a list of strings"),
])
def test_train_on_bad_input_fails_clearly_and_writes_nothing(tmp_path, table, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    out = tmp_path / "model"
    done = topictensor("train", "--posts", str(path), "--out", str(out), "--epochs", "1")
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_train_on_a_file_that_is_not_parquet(tmp_path):
    path = tmp_path / "posts.parquet"
    path.write_text("not parquet")
    done = topictensor("train", "--posts", str(path), "--out", str(tmp_path / "m"))
    assert done.returncode == 1 and "not a readable Parquet file" in done.stderr and str(path) in done.stderr


def test_versions_commands_move_the_pointer(tmp_path):
    store = LocalStore(tmp_path / "store")
    registry = Registry(store)
    for i in range(2):
        registry.write_version({"version": f"v{i}", "created_at": f"2026-01-0{i + 1}", "metrics": {"quality": 0.2},
                                "stages": {}, "counts": {}})
    cfg = tmp_path / "tt.yaml"
    cfg.write_text(f"store:\n  uri: {store.root}\n")
    assert runner.invoke(app, ["versions", "promote", "v0", "-c", str(cfg)]).exit_code == 0
    assert runner.invoke(app, ["versions", "promote", "v1", "-c", str(cfg)]).exit_code == 0
    listing = runner.invoke(app, ["versions", "list", "-c", str(cfg)]).output
    assert "* " in listing and "v1" in listing.split("*")[1].split("\n")[0]
    assert runner.invoke(app, ["versions", "rollback", "-c", str(cfg)]).exit_code == 0
    assert registry.production() == "v0"
    history = runner.invoke(app, ["versions", "history", "-c", str(cfg)]).output
    assert "rollback" in history


def test_neighbours_without_a_production_model_is_exit_code_3(tmp_path):
    cfg = tmp_path / "tt.yaml"
    cfg.write_text(f"store:\n  uri: {tmp_path / 'store'}\n")
    done = topictensor("neighbours", "bmw", "-c", str(cfg))
    assert done.returncode == 3 and "no model is in production" in done.stderr
