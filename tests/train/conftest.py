"""A corpus whose right answer is known: 4 disjoint groups of 6 tags, every post drawn within one group."""

from __future__ import annotations

import numpy as np

GROUPS = [[f"g{g}t{t}" for t in range(6)] for g in range(4)]
GROUP_OF = {tag: g for g, tags in enumerate(GROUPS) for tag in tags}


def planted_posts(n_posts: int, seed: int, groups=GROUPS) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    posts = []
    for _ in range(n_posts):
        g = groups[int(rng.integers(len(groups)))]
        n = int(rng.integers(2, 5))
        posts.append([g[i] for i in rng.choice(len(g), size=n, replace=False)])
    return posts


import pytest  # noqa: E402


@pytest.fixture
def make_posts():
    """Factory: make_posts(n_posts, seed, groups=GROUPS) -> list of tag lists."""
    return planted_posts


@pytest.fixture
def group_of():
    return dict(GROUP_OF)


@pytest.fixture
def groups():
    return [list(g) for g in GROUPS]
