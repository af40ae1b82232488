"""Warm start from a model directory (what `topictensor train --init-from` and the train stage do)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from topictensor.embeddings import Embeddings
from topictensor.errors import ContractError
from topictensor.modeldir import load_warm_start, train_to_dir
from topictensor.train.params import TrainConfig
from topictensor.train.vocab import build_vocabulary, encode_posts
from topictensor.train.warm import WarmStart, warm_init

SMALL = dict(dim=16, epochs=6, warm_epochs=2, deterministic=True)


def _table(posts):
    return pa.table({"tags": pa.array(posts, type=pa.list_(pa.string()))})


def _near(emb: Embeddings, tag: str, k: int = 5) -> set[str]:
    return {t for t, _ in emb.neighbours(tag, k=k)}


@pytest.fixture
def old_and_new(tmp_path, make_posts, groups):
    """A model of groups 0-2 plus one tag that then vanishes; next week's posts add a new group."""
    old_posts = make_posts(300, seed=1, groups=groups[:3]) + [["gone", "g0t0"]] * 3
    train_to_dir(_table(old_posts), TrainConfig(**SMALL), tmp_path / "old")
    new_group = [f"new{t}" for t in range(6)]
    new_posts = make_posts(300, seed=5, groups=groups[:3]) + make_posts(100, seed=3, groups=[new_group])
    return tmp_path, new_posts, new_group


def test_new_tags_get_vectors_and_old_neighbours_stay(old_and_new, group_of):
    root, new_posts, new_group = old_and_new
    old = Embeddings.load(root / "old")
    summary = train_to_dir(_table(new_posts), TrainConfig(**SMALL), root / "warm", init=load_warm_start(root / "old"))
    warm = Embeddings.load(root / "warm")
    assert summary["epochs"] == 2
    assert summary["init"]["tags_new"] == 6 and summary["init"]["tags_vanished"] == 1
    assert "gone" not in warm  # dropped by default
    for tag in new_group:
        assert _near(warm, tag) == set(new_group) - {tag}
    for tag in ("g1t3", "g2t5"):  # groups the vanished tag never touched: the same 5 neighbours
        assert _near(warm, tag) == _near(old, tag) == {f"{tag[:2]}t{i}" for i in range(6)} - {tag}
    model = json.loads((root / "warm" / "model.json").read_text())
    assert model["init"]["path"] == str(root / "old") and model["epochs_run"] == 2


def test_the_optimiser_state_is_saved_and_continued_for_known_tags_only(old_and_new, make_posts, groups):
    root, new_posts, new_group = old_and_new
    previous = load_warm_start(root / "old")
    assert previous.adagrad is not None and (previous.adagrad > 0).all()
    vocab = build_vocabulary(new_posts)
    init = warm_init(encode_posts(new_posts, vocab), vocab, previous, np.random.default_rng(0))
    old_rows = {t: i for i, t in enumerate(previous.tags)}
    for tag in ("g0t0", "g2t3"):
        assert init.adagrad[vocab.index[tag]] == previous.adagrad[old_rows[tag]]
    assert all(init.adagrad[vocab.index[t]] == 0 for t in new_group)
    cfg = TrainConfig(**SMALL)
    summary = train_to_dir(_table(new_posts), cfg, root / "cont", init=previous)
    assert summary["init"]["adagrad_continued"] and summary["init"]["lr"] == cfg.lr
    no_state = load_warm_start(root / "old", adagrad_path=root / "absent.npy")
    summary = train_to_dir(_table(new_posts), cfg, root / "fresh", init=no_state)
    assert not summary["init"]["adagrad_continued"]
    assert summary["init"]["lr"] == pytest.approx(cfg.lr * cfg.warm_lr_scale)


def test_vanished_tags_can_be_kept(old_and_new):
    root, new_posts, _ = old_and_new
    cfg = TrainConfig(**SMALL, keep_vanished_tags=True)
    train_to_dir(_table(new_posts), cfg, root / "keep", init=load_warm_start(root / "old"))
    kept = Embeddings.load(root / "keep")
    old = Embeddings.load(root / "old")
    assert "gone" in kept and kept.counts[kept.index["gone"]] == 0
    assert np.array_equal(kept.vector("gone"), old.vector("gone"))


def test_a_new_tag_starts_next_to_the_known_tags_it_meets(make_posts, groups):
    posts = make_posts(200, seed=1, groups=groups[:2])
    vocab = build_vocabulary(posts + [["fresh", "g1t0", "g1t1"]])
    encoded = encode_posts(posts + [["fresh", "g1t0", "g1t1"]], vocab)
    prev_tags = [t for t in vocab.tags if t != "fresh"]
    rng = np.random.default_rng(0)
    prev = rng.normal(size=(len(prev_tags), 8)).astype(np.float32)
    init = warm_init(encoded, vocab, WarmStart(prev_tags, prev), rng)
    assert init.summary() == {"tags_kept": 12, "tags_new": 1, "tags_new_placed": 1, "tags_vanished": 0}
    fresh = init.vectors[vocab.index["fresh"]]
    unit = prev / np.linalg.norm(prev, axis=1, keepdims=True)
    target = unit[prev_tags.index("g1t0")] + unit[prev_tags.index("g1t1")]
    cos = fresh @ target / (np.linalg.norm(fresh) * np.linalg.norm(target))
    assert cos > 0.95


def test_warm_start_with_another_dim_is_a_clear_error(old_and_new):
    root, new_posts, _ = old_and_new
    with pytest.raises(ContractError, match="dim 16.*dim 32"):
        train_to_dir(_table(new_posts), TrainConfig(**{**SMALL, "dim": 32}), root / "x",
                     init=load_warm_start(root / "old"))
    assert not (root / "x").exists()


def test_warm_start_from_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ContractError, match="cannot warm-start"):
        load_warm_start(tmp_path / "nothing")


def test_train_command_init_from_warm_starts_with_the_models_dim(old_and_new):
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from topictensor.cli import app

    root, new_posts, new_group = old_and_new
    pq.write_table(_table(new_posts), root / "posts.parquet")
    result = CliRunner().invoke(app, ["train", "--posts", str(root / "posts.parquet"), "--out", str(root / "cli"),
                                      "--init-from", str(root / "old"), "--deterministic"])
    assert result.exit_code == 0, result.output
    model = json.loads((root / "cli" / "model.json").read_text())
    assert model["hyperparameters"]["dim"] == 16 and model["init"]["tags_new"] == 6
    assert set(new_group) <= set(Embeddings.load(root / "cli").tags.tolist())
