"""The alias table draws tags in proportion to count**power and never draws a zero-weight tag."""

from __future__ import annotations

import numpy as np
import pytest

from topictensor.train.sampler import build_alias_table, sampling_weights


def test_draws_follow_the_weights():
    w = np.array([1.0, 0.0, 3.0, 6.0, 0.0, 10.0])
    table = build_alias_table(w)
    draws = table.sample(np.random.default_rng(0), 200_000)
    freq = np.bincount(draws, minlength=len(w)) / len(draws)
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.005)
    assert freq[1] == 0 and freq[4] == 0


def test_power_flattens_counts():
    np.testing.assert_allclose(sampling_weights(np.array([16, 1, 0]), 0.5), [4.0, 1.0, 0.0])
    np.testing.assert_allclose(sampling_weights(np.array([16, 1, 0]), 0.0), [1.0, 1.0, 0.0])


def test_nothing_to_sample_is_an_error():
    with pytest.raises(ValueError, match="positive weight"):
        build_alias_table(np.zeros(3))


def test_mix_blends_frequency_with_uniform_and_keeps_zero_counts_out():
    counts = np.array([30, 10, 0, 0, 60])
    w = sampling_weights(counts, 1.0, mix=0.5)
    # half ~ counts (0.3, 0.1, 0, 0, 0.6), half uniform over the 3 seen tags (1/3 each)
    np.testing.assert_allclose(w / w.sum(), [0.15 + 1 / 6, 0.05 + 1 / 6, 0, 0, 0.3 + 1 / 6])
    np.testing.assert_allclose(sampling_weights(counts, 1.0, mix=1.0), counts.astype(float))
    u = sampling_weights(counts, 1.0, mix=0.0)
    np.testing.assert_allclose(u / u.sum(), [1 / 3, 1 / 3, 0, 0, 1 / 3])
    draws = build_alias_table(w).sample(np.random.default_rng(1), 100_000)
    freq = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.006)
    with pytest.raises(ValueError, match="mix must be in"):
        sampling_weights(counts, 1.0, mix=1.5)
