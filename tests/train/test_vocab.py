"""Vocabulary order and the CSR encoding, from Python lists and from an arrow column alike."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from topictensor.train.vocab import build_vocabulary, build_vocabulary_arrow, encode_arrow, encode_posts

POSTS = [["b", "a", "c"], ["a", "b"], ["a"], [], ["d", "zz"], None]


def test_vocabulary_is_ordered_by_count_then_tag():
    vocab = build_vocabulary(POSTS)
    assert vocab.tags.tolist() == ["a", "b", "c", "d", "zz"]
    assert vocab.counts.tolist() == [3, 2, 1, 1, 1]
    assert vocab.index["c"] == 2 and len(vocab) == 5 and "zz" in vocab


def test_min_count_drops_rare_tags():
    vocab = build_vocabulary(POSTS, min_count=2)
    assert vocab.tags.tolist() == ["a", "b"]


def test_arrow_vocabulary_matches_python():
    col = pa.array(POSTS, type=pa.list_(pa.string()))
    for mc in (1, 2):
        a, b = build_vocabulary(POSTS, min_count=mc), build_vocabulary_arrow(col, min_count=mc)
        assert a.tags.tolist() == b.tags.tolist() and a.counts.tolist() == b.counts.tolist()


def test_encode_drops_unknown_tags_with_their_weights():
    vocab = build_vocabulary(POSTS, min_count=2)  # a, b
    enc = encode_posts([["b", "x", "a"], ["x"]], vocab, [[0.5, 9.0, 2.0], [1.0]])
    assert enc.offsets.tolist() == [0, 2, 2]
    assert enc.ids.tolist() == [1, 0]
    assert enc.weights.tolist() == [0.5, 2.0]
    assert enc.ids.dtype == np.int32 and enc.weights.dtype == np.float32 and enc.offsets.dtype == np.int64


def test_default_weight_is_one():
    vocab = build_vocabulary(POSTS)
    assert encode_posts([["a", "b"]], vocab).weights.tolist() == [1.0, 1.0]


def test_negative_weight_is_an_error():
    vocab = build_vocabulary(POSTS)
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        encode_posts([["a", "b"]], vocab, [[1.0, -1.0]])


def test_weight_list_count_mismatch_is_an_error():
    vocab = build_vocabulary(POSTS)
    with pytest.raises(ValueError, match="fewer posts"):
        encode_posts([["a"], ["b"]], vocab, [[1.0]])
    with pytest.raises(ValueError, match="more posts"):
        encode_posts([["a"]], vocab, [[1.0], [1.0]])


def test_arrow_encoding_matches_python_encoding():
    vocab = build_vocabulary(POSTS, min_count=1)
    posts = [["b", "x", "a"], None, ["c", "c", "d"], [], ["zz"]]
    weights = [[0.5, 9.0, 2.0], None, [1.0, 3.0, 4.0], [], [7.0]]
    py = encode_posts([p or [] for p in posts], vocab, [w or [] for w in weights])
    col = pa.chunked_array([pa.array(posts[:2], pa.list_(pa.string())), pa.array(posts[2:], pa.list_(pa.string()))])
    wcol = pa.array(weights, pa.list_(pa.float64()))
    ar = encode_arrow(col, vocab, wcol)
    assert ar.offsets.tolist() == py.offsets.tolist()
    assert ar.ids.tolist() == py.ids.tolist()
    assert ar.weights.tolist() == py.weights.tolist()
    # Dictionary-encoded strings (as parquet often yields) work too.
    dict_col = pa.array(posts, pa.list_(pa.dictionary(pa.int32(), pa.string())))
    assert encode_arrow(dict_col, vocab).ids.tolist() == py.ids.tolist()


def test_arrow_weight_length_mismatch_names_the_post():
    vocab = build_vocabulary(POSTS)
    col = pa.array([["a", "b"], ["a", "b", "c"]], pa.list_(pa.string()))
    wcol = pa.array([[1.0, 1.0], [1.0, 1.0]], pa.list_(pa.float32()))
    with pytest.raises(ValueError, match="post 1: 3 tags but 2 weights"):
        encode_arrow(col, vocab, wcol)


def test_one_vocabulary_class_grows_for_the_stages_and_stays_fixed_for_training():
    from topictensor.stages import streaming
    from topictensor.vocabulary import Vocabulary

    assert streaming.Vocabulary is Vocabulary
    trained = build_vocabulary(POSTS)
    assert isinstance(trained, Vocabulary)
    with pytest.raises(ValueError, match="fixed"):
        trained.codes(pa.array(["a", "new"]))
    growing = Vocabulary(["x"])
    assert growing.codes(pa.array(["y", "x"])).tolist() == [1, 0]
    assert growing.tags.tolist() == ["x", "y"] and growing.index == {"x": 0, "y": 1} and "y" in growing
    with pytest.raises(AttributeError, match="no counts"):
        growing.counts
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="2 values but 1 counts"):
        Vocabulary(["a", "b"], np.array([3]))
