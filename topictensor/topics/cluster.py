"""Clusterers: reduced vectors -> a label per row (-1 = noise) and a membership strength in [0, 1].

HDBSCAN finds clusters of varying density and leaves outliers as noise instead of forcing every
tag into a topic; its only essential knob is the smallest cluster size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from topictensor.topics.params import TopicsConfig


@dataclass
class Clustering:
    labels: np.ndarray  # int64, -1 = noise, clusters numbered 0..k-1
    strengths: np.ndarray  # float32 in [0, 1]; 0 for noise


class Clusterer(Protocol):
    name: str

    def fit(self, points: np.ndarray) -> Clustering: ...


class HdbscanClusterer:
    name = "hdbscan"

    def __init__(self, min_cluster_size: int = 10, min_samples: int | None = None, method: str = "eom"):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.method = method

    def fit(self, points: np.ndarray) -> Clustering:
        import hdbscan

        n = points.shape[0]
        min_samples = min(self.min_samples or self.min_cluster_size, max(1, n - 1))
        model = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size,
            min_samples=min_samples,
            cluster_selection_method=self.method,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            labels = model.fit_predict(np.asarray(points, dtype=np.float64))
        strengths = np.where(labels >= 0, np.nan_to_num(model.probabilities_, nan=0.0), 0.0)
        return Clustering(labels=labels.astype(np.int64), strengths=strengths.astype(np.float32))


def make_clusterer(cfg: TopicsConfig) -> Clusterer:
    return HdbscanClusterer(cfg.min_cluster_size, cfg.min_samples, cfg.cluster_selection_method)
