"""Blogger vectors streamed batch by batch equal the one-pass formula: sums per blogger of the
weighted unit tag vectors, whatever the batch size and the order bloggers arrive in."""

import numpy as np
import pyarrow as pa
import pytest

from topictensor.embeddings import Embeddings
from topictensor.search.vectors import BloggerVectorSums, compute_blogger_vectors


@pytest.fixture
def corpus():
    rng = np.random.default_rng(4)
    tags = [f"t{i}" for i in range(40)]
    emb = Embeddings(tags, list(range(40, 0, -1)), rng.normal(size=(40, 8)).astype(np.float32))
    n = 500
    bloggers = [f"b{int(i):03d}" for i in rng.integers(0, 60, n)]
    post_tags = [[tags[j] for j in rng.choice(40, rng.integers(1, 5), replace=False)] + (["unknown"] if i % 7 == 0 else [])
                 for i in range(n)]
    weights = [[float(w) for w in rng.uniform(0.2, 2.0, len(t))] for t in post_tags]
    posts = pa.table({"blogger_id": bloggers, "tags": post_tags, "likes": pa.array(rng.integers(0, 100, n)),
                      "lang": [["en", "ru", None][int(b[1:]) % 3] for b in bloggers],
                      "weights": pa.array(weights, pa.list_(pa.float32()))})
    return posts, emb


def expected_vectors(posts, emb):
    """The formula, written out: per blogger, sum of weight * unit vector over known tag uses."""
    unit = emb.normalized().astype(np.float64)
    row = {t: i for i, t in enumerate(emb.tags.tolist())}
    sums = {}
    for blogger, tags, weights in zip(posts.column("blogger_id").to_pylist(), posts.column("tags").to_pylist(),
                                      posts.column("weights").to_pylist()):
        for tag, w in zip(tags, weights):
            if tag in row:
                sums[blogger] = sums.get(blogger, 0) + w * unit[row[tag]]
    return {b: v / np.linalg.norm(v) for b, v in sums.items()}


@pytest.mark.parametrize("batch_rows", [1, 7, 10_000])
def test_streamed_sums_match_the_formula_for_any_batch_size(corpus, batch_rows):
    posts, emb = corpus
    sums = BloggerVectorSums(emb, "reweight")
    for batch in posts.to_batches(max_chunksize=batch_rows):
        sums.add(pa.Table.from_batches([batch]))
    table = sums.table(None)
    want = expected_vectors(posts, emb)
    got = dict(zip(table.column("blogger_id").to_pylist(), table.column("vector").to_pylist()))
    assert set(got) == set(want)
    for blogger, vector in got.items():
        np.testing.assert_allclose(vector, want[blogger], rtol=1e-5, atol=1e-6)
    assert sums.posts == posts.num_rows
    whole = compute_blogger_vectors(posts, None, emb, "reweight")
    assert whole.drop_columns(["vector"]).equals(table.drop_columns(["vector"]))
    counts = table.select(["blogger_id", "posts", "likes_total"]).to_pylist()
    frame = posts.select(["blogger_id", "likes"]).to_pandas().groupby("blogger_id")["likes"].agg(["count", "sum"])
    for row in counts:
        assert (row["posts"], row["likes_total"]) == tuple(frame.loc[row["blogger_id"]])


def test_memory_is_bloggers_by_dim_not_posts(corpus):
    """Ten times the posts of the same bloggers: the accumulator holds the same arrays."""
    posts, emb = corpus
    small, large = BloggerVectorSums(emb), BloggerVectorSums(emb)
    small.add(posts)
    for _ in range(10):
        large.add(posts)
    assert large.summed.nbytes == small.summed.nbytes and large.posts == 10 * small.posts
    np.testing.assert_allclose(large.summed / 10, small.summed, rtol=1e-9)
