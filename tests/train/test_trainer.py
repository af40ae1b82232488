"""The trainer on a planted corpus (4 disjoint groups of 6 tags): the right answer is known."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from topictensor.errors import ResourceError
from topictensor.quality import quality
from topictensor.train.memory import check_memory, estimate_memory
from topictensor.train.params import TrainConfig
from topictensor.train.trainer import train
from topictensor.train.vocab import EncodedPosts, build_vocabulary, encode_posts
from topictensor.train.warm import WarmStart, warm_init

SMALL = dict(dim=16, epochs=6, deterministic=True)


def _group_purity(vectors, vocab, group_of, k=5) -> float:
    """Share of each tag's k nearest tags that are in its own group."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    good = 0
    for i, tag in enumerate(vocab.tags):
        near = np.argsort(-sims[i])[:k]
        good += sum(group_of[vocab.tags[j]] == group_of[tag] for j in near)
    return good / (k * len(vocab))


@pytest.fixture
def corpus(make_posts):
    train_posts = make_posts(400, seed=1)
    vocab = build_vocabulary(train_posts)
    return train_posts, vocab, encode_posts(train_posts, vocab)


@pytest.mark.parametrize("loss", ["hinge", "softmax"])
@pytest.mark.parametrize("mode", ["skipgram", "cbow", "pair"])
def test_every_mode_and_loss_learns_the_planted_groups(corpus, make_posts, group_of, mode, loss):
    _, vocab, posts = corpus
    cfg = TrainConfig(mode=mode, loss=loss, **SMALL)
    res = train(posts, vocab, cfg)
    losses = [h["loss"] for h in res.history]
    # The loss of the untrained vectors: one epoch at a learning rate too small to move them.
    untrained = train(posts, vocab, cfg.model_copy(update={"epochs": 1, "lr": 1e-12})).history[0]["loss"]
    assert losses[-1] < 0.5 * untrained
    assert losses[-1] < losses[0]
    assert res.vectors.shape == (24, 16) and res.vectors.dtype == np.float32
    assert _group_purity(res.vectors, vocab, group_of) == 1.0
    # Tags that share a group are each other's only neighbours, so the metric is the in-group
    # optimum: hits can only come from the 5 group mates (about 0.5 for posts of 2-4 of 6 tags).
    heldout = make_posts(200, seed=2)
    q = quality((res.vectors, vocab.index), heldout).quality
    oracle = np.repeat(np.eye(4, dtype=np.float32), 6, axis=0) + np.random.default_rng(0).normal(0, 1e-3, (24, 4))
    oracle_index = {f"g{g}t{t}": g * 6 + t for g in range(4) for t in range(6)}
    q_oracle = quality((oracle, oracle_index), heldout).quality
    assert q > 0.9 * q_oracle


def test_history_and_progress_callback(corpus, caplog):
    _, vocab, posts = corpus
    seen = []
    with caplog.at_level(logging.INFO, logger="topictensor.train"):
        res = train(posts, vocab, TrainConfig(**SMALL), progress=seen.append)
    assert [h["epoch"] for h in res.history] == list(range(1, 7))
    assert seen == res.history
    assert set(res.history[0]) >= {"epoch", "loss", "tags_per_s", "seconds", "lr"}
    assert res.history[-1]["lr"] < res.history[0]["lr"]  # linear decay
    assert res.config["dim"] == 16
    assert any("epoch 6/6" in r.getMessage() for r in caplog.records)


def test_zero_weight_tag_never_moves(corpus):
    train_posts, vocab, _ = corpus
    frozen = "g0t0"
    weights = [[0.0 if t == frozen else 1.0 for t in p] for p in train_posts]
    posts = encode_posts(train_posts, vocab, weights)
    cfg = TrainConfig(**SMALL)
    init = np.random.default_rng(5).normal(0, 0.1, (len(vocab), 16)).astype(np.float32)
    for mode in ("skipgram", "cbow", "pair"):
        res = train(posts, vocab, cfg.model_copy(update={"mode": mode}), init_vectors=init)
        i = vocab.index[frozen]
        assert np.array_equal(res.vectors[i], init[i]), mode
        other = vocab.index["g0t1"]
        assert not np.array_equal(res.vectors[other], init[other])


def test_deterministic_runs_are_bit_identical(corpus):
    _, vocab, posts = corpus
    a = train(posts, vocab, TrainConfig(**SMALL, seed=7))
    b = train(posts, vocab, TrainConfig(**SMALL, seed=7))
    c = train(posts, vocab, TrainConfig(**SMALL, seed=8))
    assert a.vectors.tobytes() == b.vectors.tobytes()
    assert a.vectors.tobytes() != c.vectors.tobytes()
    assert a.threads == 1


def test_two_threads(corpus, group_of):
    _, vocab, posts = corpus
    res = train(posts, vocab, TrainConfig(dim=16, epochs=6, threads=2))
    assert res.threads in (1, 2)  # capped by the cores numba may use
    assert _group_purity(res.vectors, vocab, group_of) == 1.0


def test_separate_rhs_learns_the_groups(corpus, group_of):
    _, vocab, posts = corpus
    res = train(posts, vocab, TrainConfig(**SMALL, separate_rhs=True))
    assert _group_purity(res.vectors, vocab, group_of) == 1.0


def test_warm_start_keeps_old_neighbours_and_places_new_tags(make_posts, groups, group_of):
    old_groups, new_group = groups[:3], [f"new{t}" for t in range(6)]
    posts_a = make_posts(300, seed=1, groups=old_groups)
    vocab_a = build_vocabulary(posts_a)
    res_a = train(encode_posts(posts_a, vocab_a), vocab_a, TrainConfig(**SMALL))

    posts_b = posts_a + make_posts(100, seed=3, groups=[new_group])
    vocab_b = build_vocabulary(posts_b)
    encoded_b = encode_posts(posts_b, vocab_b)
    start = warm_init(encoded_b, vocab_b, WarmStart(vocab_a.tags.tolist(), res_a.vectors), np.random.default_rng(0))
    init, new_mask = start.vectors, start.new_mask
    assert new_mask.sum() == 6 and all(str(t).startswith("new") for t in vocab_b.tags[new_mask])
    kept = vocab_b.index["g1t2"]
    assert np.array_equal(init[kept], res_a.vectors[vocab_a.index["g1t2"]])

    res_b = train(encoded_b, vocab_b, TrainConfig(**SMALL), init_vectors=init)
    labels = {**group_of, **{t: 9 for t in new_group}}
    assert _group_purity(res_b.vectors, vocab_b, labels) == 1.0
    # Old tags keep the same 5 neighbours as before the warm start.
    def near(vectors, vocab, tag):
        u = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        s = u @ u[vocab.index[tag]]
        s[vocab.index[tag]] = -np.inf
        return {vocab.tags[j] for j in np.argsort(-s)[:5]}

    for tag in ("g0t0", "g1t3", "g2t5"):
        assert near(res_b.vectors, vocab_b, tag) == near(res_a.vectors, vocab_a, tag)


def test_warm_start_rejects_mismatched_previous_model():
    with pytest.raises(ValueError, match="2 tags but vectors of shape"):
        WarmStart(["a", "b"], np.zeros((3, 4)))


def test_empty_corpus_is_a_clear_error():
    vocab = build_vocabulary([["a", "b"]])
    with pytest.raises(ValueError, match="corpus is empty"):
        train(encode_posts([], vocab), vocab, TrainConfig(**SMALL))
    with pytest.raises(ValueError, match="corpus is empty"):
        train(encode_posts([["zz"], ["yy"]], vocab), vocab, TrainConfig(**SMALL))


def test_single_tag_posts_are_a_clear_error():
    vocab = build_vocabulary([["a"], ["b"], ["c"]])
    with pytest.raises(ValueError, match="2 or more known tags"):
        train(encode_posts([["a"], ["b"], ["c"]], vocab), vocab, TrainConfig(**SMALL))


def test_mismatched_weights_are_a_clear_error():
    vocab = build_vocabulary([["a", "b"]])
    with pytest.raises(ValueError, match="post 1: 2 tags but 1 weights"):
        encode_posts([["a", "b"], ["a", "b"]], vocab, [[1.0, 1.0], [1.0]])
    with pytest.raises(ValueError, match="weights has 1"):
        EncodedPosts(offsets=np.array([0, 2]), ids=np.array([0, 1], np.int32), weights=np.ones(1, np.float32))


def test_init_vectors_of_wrong_shape_are_a_clear_error(corpus):
    _, vocab, posts = corpus
    with pytest.raises(ValueError, match=r"init_vectors has shape \(3, 16\), expected \(24, 16\)"):
        train(posts, vocab, TrainConfig(**SMALL), init_vectors=np.zeros((3, 16), np.float32))


def test_memory_estimate_formula():
    cfg = TrainConfig(dim=10, adagrad=True, threads=1)
    est = estimate_memory(1000, 5000, cfg, n_posts=2000)
    b = est.breakdown
    assert b["embedding matrix"] == 1000 * 10 * 4
    assert b["row state (adagrad, norm)"] == 1000 * 8
    assert b["corpus arrays"] == 2001 * 8 + 5000 * 8
    assert b["sampling table"] == 1000 * 8
    assert b["post marks (per thread)"] == 1000 * 4
    assert est.bytes_total == sum(b.values())
    sep = estimate_memory(1000, 5000, cfg.model_copy(update={"separate_rhs": True}), n_posts=2000)
    assert sep.breakdown["embedding matrix"] == 2 * b["embedding matrix"]
    assert b["length-weighted weights (length_power)"] == 0
    weighted = estimate_memory(1000, 5000, cfg.model_copy(update={"length_power": 1.0}), n_posts=2000)
    assert weighted.bytes_total - est.bytes_total == 5000 * 4  # one more float32 per occurrence


def test_absurd_size_raises_resource_error_naming_the_dominant_term():
    est = estimate_memory(10**9, 10**6, TrainConfig(dim=1000))
    with pytest.raises(ResourceError, match="largest term: embedding matrix") as info:
        check_memory(est, available_bytes=8 * 1024**3)
    assert "8.0 GiB is available" in str(info.value)
    check_memory(estimate_memory(100, 1000, TrainConfig()), available_bytes=8 * 1024**3)  # fits


def test_keep_probabilities_follow_word2vec():
    from topictensor.train.trainer import keep_probabilities

    counts = np.array([900, 90, 10, 0])  # shares 0.9, 0.09, 0.01, 0
    np.testing.assert_allclose(keep_probabilities(counts, 0.0), 1.0)
    kp = keep_probabilities(counts, 0.01)
    np.testing.assert_allclose(kp[:2], [np.sqrt(0.01 / 0.9) + 0.01 / 0.9, np.sqrt(0.01 / 0.09) + 0.01 / 0.09], rtol=1e-6)
    assert kp[2] == 1.0 and kp[3] == 1.0


def test_capped_context_and_subsampling_still_learn_the_groups(corpus, group_of):
    _, vocab, posts = corpus
    res = train(posts, vocab, TrainConfig(**{**SMALL, "epochs": 15}, max_context=1, subsample=0.01))
    assert _group_purity(res.vectors, vocab, group_of) == 1.0
    full = train(posts, vocab, TrainConfig(**SMALL, both_directions=True))
    # Fewer examples per epoch: each tag meets one other tag, and frequent tags are dropped at times.
    assert res.history[0]["examples"] < 0.5 * full.history[0]["examples"]


def test_skipgram_trains_each_pair_once_unless_both_directions(corpus):
    _, vocab, posts = corpus
    lengths = posts.post_lengths()
    ordered_pairs = int((lengths * (lengths - 1)).sum())  # posts have distinct tags
    once = train(posts, vocab, TrainConfig(**SMALL)).history[0]["examples"]
    both = train(posts, vocab, TrainConfig(**SMALL, both_directions=True)).history[0]["examples"]
    assert (once, both) == (ordered_pairs // 2, ordered_pairs)


def test_an_epoch_in_several_chunks_learns_and_reports_each_chunk(corpus, group_of, monkeypatch, caplog):
    import topictensor.train.trainer as trainer_module

    _, vocab, posts = corpus
    monkeypatch.setattr(trainer_module, "CHUNK_OCCURRENCES", 500)  # ~1,200 occurrences: 3 chunks
    with caplog.at_level(logging.INFO, logger="topictensor.train"):
        res = train(posts, vocab, TrainConfig(**SMALL))
    assert _group_purity(res.vectors, vocab, group_of) == 1.0
    assert any("chunk 2/3" in r.getMessage() for r in caplog.records)
    assert len(res.history) == 6


def test_rare_boost_trains_the_posts_of_rare_tags_more_often(make_posts, group_of):
    """Group 3's tags are rare (a handful of posts): with rare_boost 2 their posts run 3 times an
    epoch, the others once, and the groups are still learnt."""
    common = make_posts(400, seed=1, groups=[[f"g{g}t{t}" for t in range(6)] for g in range(3)])
    rare = make_posts(12, seed=4, groups=[[f"g3t{t}" for t in range(6)]])
    posts_list = common + rare
    vocab = build_vocabulary(posts_list)
    posts = encode_posts(posts_list, vocab)
    assert all(vocab.counts[vocab.index[f"g3t{t}"]] < 20 for t in range(6))
    assert all(vocab.counts[vocab.index[f"g0t{t}"]] >= 20 for t in range(6))
    plain = train(posts, vocab, TrainConfig(**SMALL))
    boosted = train(posts, vocab, TrainConfig(**SMALL, rare_boost=2, rare_count=20))
    lengths = posts.post_lengths()
    rare_pairs = int((lengths[len(common):] * (lengths[len(common):] - 1) // 2).sum())
    assert boosted.history[0]["examples"] == plain.history[0]["examples"] + 2 * rare_pairs
    assert _group_purity(boosted.vectors, vocab, group_of) == 1.0
    again = train(posts, vocab, TrainConfig(**SMALL, rare_boost=2, rare_count=20))
    assert again.vectors.tobytes() == boosted.vectors.tobytes()  # still deterministic


def test_ppmi_svd_start_is_used_and_then_trained(corpus, group_of):
    from topictensor.train.ppmi import cooccurrence_matrix, ppmi_svd_vectors

    train_posts, vocab, posts = corpus
    m = cooccurrence_matrix(posts, len(vocab))
    a, b = vocab.index["g0t0"], vocab.index["g0t1"]
    together = sum(1 for p in train_posts if "g0t0" in p and "g0t1" in p)
    assert m[a, b] == together and m[b, a] == together and m[a, a] == 0
    assert m[a, vocab.index["g1t0"]] == 0  # never in one post
    start = ppmi_svd_vectors(posts, len(vocab), 16)
    assert _group_purity(start, vocab, group_of) == 1.0  # the counts alone already know the groups
    one_step = train(posts, vocab, TrainConfig(**{**SMALL, "epochs": 1}, init="ppmi_svd", lr=1e-12))
    # scaled to a random row's norm, same directions as the SVD rows
    np.testing.assert_allclose(np.linalg.norm(one_step.vectors, axis=1), 0.001 * 4, rtol=1e-3)
    cos = np.sum(_unit(one_step.vectors) * _unit(start), axis=1)
    assert cos.min() > 0.999
    res = train(posts, vocab, TrainConfig(**SMALL, init="ppmi_svd"))
    assert _group_purity(res.vectors, vocab, group_of) == 1.0
    assert not np.allclose(_unit(res.vectors), _unit(start), atol=1e-2)  # training moved it


def _unit(m):
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_new_levers_validate_their_range():
    from pydantic import ValidationError

    for bad in ({"neg_mix": 1.5}, {"neg_mix": -0.1}, {"rare_boost": -1}, {"rare_count": 0}, {"init": "svd"},
                {"length_power": -0.5}, {"length_power": 2.5}):
        with pytest.raises(ValidationError):
            TrainConfig(**bad)


def test_length_weights_make_a_pair_weigh_one_over_n_minus_one():
    from topictensor.train.trainer import length_weights

    posts = EncodedPosts(offsets=np.array([0, 2, 6, 7]), ids=np.arange(7, dtype=np.int32),
                         weights=np.array([1, 1, 2, 1, 1, 1, 3], dtype=np.float32))
    assert length_weights(posts, 0.0) is posts.weights
    w = length_weights(posts, 1.0)
    # post 0: 2 tags -> a pair weighs 1; post 1: 4 tags -> 1/3 times the occurrences' own weights
    assert w[0] * w[1] == pytest.approx(1.0)
    assert w[2] * w[3] == pytest.approx(2.0 / 3.0)
    assert w[4] * w[5] == pytest.approx(1.0 / 3.0)
    assert w[6] == pytest.approx(3.0)  # a one-tag post trains nothing; its weight is left alone
    half = length_weights(posts, 0.5)
    assert half[4] * half[5] == pytest.approx(3.0 ** -0.5)


def test_length_power_keeps_long_mixed_posts_from_blurring_the_groups(make_posts, group_of):
    """Long posts mixing all four groups (as a spammer's 16-tag posts do) pull the groups together;
    weighting each pair by 1/(n-1) lets the short one-group posts decide."""
    clean = make_posts(400, seed=1)
    rng = np.random.default_rng(7)
    mixed = [[f"g{g}t{t}" for g in range(4) for t in rng.choice(6, size=4, replace=False)] for _ in range(60)]
    posts_list = clean + mixed
    vocab = build_vocabulary(posts_list)
    posts = encode_posts(posts_list, vocab)
    plain = _group_purity(train(posts, vocab, TrainConfig(**SMALL)).vectors, vocab, group_of)
    weighted = _group_purity(train(posts, vocab, TrainConfig(**SMALL, length_power=1.0)).vectors, vocab, group_of)
    assert weighted > plain + 0.1, (plain, weighted)
    assert weighted >= 0.9
