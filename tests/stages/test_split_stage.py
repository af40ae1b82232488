"""The held-out split is deterministic, salted and stable as the corpus grows."""

import numpy as np

from topictensor.stages.prepare import heldout_mask


def test_split_share_and_determinism():
    ids = [f"p{i}" for i in range(20000)]
    mask = heldout_mask(ids, 0.1, "s")
    assert abs(mask.mean() - 0.1) < 0.01
    np.testing.assert_array_equal(mask, heldout_mask(ids, 0.1, "s"))
    assert (mask != heldout_mask(ids, 0.1, "other salt")).any()


def test_old_posts_stay_on_their_side_when_new_posts_arrive():
    old = [f"p{i}" for i in range(5000)]
    grown = old + [f"new{i}" for i in range(500)]
    np.testing.assert_array_equal(heldout_mask(old, 0.05, "s"), heldout_mask(grown, 0.05, "s")[:5000])
