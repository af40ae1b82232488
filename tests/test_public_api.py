"""The public surface (``import topictensor as tt``) end to end on a planted corpus whose answer is
known: four themes of eight tags, each blogger posting within one theme. Nothing but ``tt.*`` and
the returned objects is used."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import topictensor as tt

THEMES = {
    "cars": ["bmw", "audi", "porsche", "tesla", "engine", "roadtrip", "garage", "drift"],
    "food": ["pasta", "sushi", "vegan", "brunch", "dessert", "ramen", "bakery", "recipe"],
    "pets": ["puppy", "kitten", "dogsofinstagram", "catlover", "vet", "aquarium", "hamster", "petfood"],
    "gym": ["workout", "deadlift", "protein", "cardio", "yoga", "crossfit", "squat", "fitfam"],
}
THEME_OF = {tag: name for name, tags in THEMES.items() for tag in tags}


def planted_posts(seed: int = 0):
    """40 bloggers (10 per theme, followers 100..10,000), 30 posts each of 3-5 of their theme's tags;
    written as a user would (``#BMW``), so the API's normalisation is exercised too."""
    rng = np.random.default_rng(seed)
    posts, bloggers = [], []
    for b in range(40):
        theme = list(THEMES)[b % 4]
        bloggers.append({"blogger_id": f"b{b}", "username": f"{theme}_fan{b}", "followers": int(100 * (1 + b) ** 1.2)})
        for _ in range(30):
            tags = rng.choice(THEMES[theme], size=int(rng.integers(3, 6)), replace=False)
            posts.append({"blogger_id": f"b{b}", "tags": ["#" + t.upper() for t in tags], "likes": int(rng.integers(1, 500))})
    return posts, bloggers


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    posts, bloggers = planted_posts()
    out = tmp_path_factory.mktemp("model")
    model = tt.train_model([p["tags"] for p in posts], dim=16, epochs=15, deterministic=True, out_dir=out)
    return model, out, posts, bloggers


def test_import_is_light_and_lists_the_surface():
    code = ("import sys, topictensor as tt; heavy = [m for m in ('numba', 'pyarrow', 'pandas', 'numpy') "
            "if m in sys.modules]; print(heavy, sorted(n for n in tt.__all__ if not n.startswith('_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] ['build_topics', 'load_model', 'rank_bloggers', 'train_model']"
    for name in ("train_model", "load_model", "rank_bloggers", "build_topics"):
        assert "Parameters" in getattr(tt, name).__doc__  # documented as gensim and BERTopic do
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tt.nope  # noqa: B018


def test_trained_model_finds_each_tags_theme(trained):
    model, _, _, _ = trained
    assert sorted(model.tags.tolist()) == sorted(THEME_OF)  # normalised: "#BMW" -> "bmw"
    for tag in ("bmw", "sushi", "kitten", "deadlift"):
        near = [t for t, _ in model.neighbours(tag, k=5)]
        assert len(near) == 5
        assert all(THEME_OF[t] == THEME_OF[tag] for t in near), (tag, near)


def test_a_saved_model_loads_with_the_same_vectors(trained):
    model, out, _, _ = trained
    again = tt.load_model(out)
    assert again.tags.tolist() == model.tags.tolist()
    np.testing.assert_array_equal(again.vectors, model.vectors)


def test_bloggers_of_a_theme_rank_first(trained):
    model, _, posts, bloggers = trained
    hits = tt.rank_bloggers(model, posts, "bmw, porsche", bloggers=bloggers, top=10)
    assert len(hits) == 10
    assert {h.blogger_id for h in hits} == {f"b{b}" for b in range(0, 40, 4)}  # the ten car bloggers
    assert all(h.username.startswith("cars_fan") for h in hits)
    # A negative weight subtracts a meaning: "cars, minus bmw" still ranks car bloggers, other themes never.
    minus = tt.rank_bloggers(model, posts, "garage, bmw:-0.2", top=5)
    assert len(minus) == 5
    assert all(h.blogger_id in {f"b{b}" for b in range(0, 40, 4)} for h in minus)


def test_topics_are_the_planted_themes(trained):
    model, _, _, _ = trained
    result = tt.build_topics(model, reducer="pca", min_cluster_size=5, min_count=1)
    members = result.members[result.members.topic_id >= 0]
    assert result.topics.shape[0] == 4
    for _, group in members.groupby("topic_id"):
        assert len({THEME_OF[t] for t in group.tag}) == 1  # every topic is one theme


def test_bad_input_names_the_row():
    with pytest.raises(ValueError, match="row 1 has 2 tags but 1 weights"):
        tt.train_model([{"tags": ["a", "b"], "weights": [1.0, 1.0]}, {"tags": ["a", "b"], "weights": [1.0]}])
    with pytest.raises(ValueError, match="no column 'blogger_id'"):
        tt.rank_bloggers(None, [{"tags": ["a"]}], "a")
