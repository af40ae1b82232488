"""Every knob of the topics stage (config section ``topics``).

The number of topics is moved mainly by ``min_cluster_size`` (HDBSCAN's smallest topic: larger
gives fewer, broader topics; see benchmarks/bench_topics.py for a sweep), secondarily by
``merge_cosine`` (lower merges more near-duplicates) and ``cluster_selection_method`` ("leaf"
gives more, finer topics than "eom").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TopicsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # reduction --------------------------------------------------------------------------------
    reducer: Literal["umap", "pca", "none"] = Field(
        "umap", description="umap: the seed's method; pca / none: fast, for tests and comparisons.")
    n_components: int = Field(5, ge=2, le=100, description="Dimensions the tag vectors are reduced to.")
    n_neighbors: int = Field(15, ge=2, le=500, description="UMAP neighbourhood: larger = more global structure.")
    min_dist: float = Field(0.0, ge=0, le=1, description="UMAP: 0 packs clusters tightly (good for clustering).")
    seed: int = Field(0, ge=0, description="UMAP random_state: same seed + same input = same topics.")
    max_fit_tags: int | None = Field(
        20_000, ge=2, description="UMAP and HDBSCAN are fitted on at most this many tags (the most used of those "
        "above min_count); every other one takes the topic its nearest fitted tags vote for (cosine, "
        "n_neighbors of them), so time and memory stop growing with the vocabulary beyond V x dim. None: fit "
        "on all (README: \"Fixed topics\", the cap's table).")
    # clustering -------------------------------------------------------------------------------
    min_cluster_size: int = Field(
        10, ge=2, description="HDBSCAN's smallest topic, in tags: THE knob for the number of topics.")
    min_samples: int | None = Field(
        None, ge=1, description="HDBSCAN density smoothing (None = min_cluster_size); larger = more noise.")
    cluster_selection_method: Literal["eom", "leaf"] = Field(
        "leaf", description="eom: the most persistent clusters; leaf: the finest ones (more topics).")
    center: bool = Field(
        True, description="Remove the tags' common direction before every cosine decision (merge, soft members, "
        "labels, coherence, matching); see topictensor.topics.build.")
    min_count: int = Field(
        20, ge=1, description="Tags used fewer times are not clustered (their vectors are noisy) but may "
        "still join a topic as soft members.")
    # cleaning ---------------------------------------------------------------------------------
    soft_threshold: float | None = Field(
        0.2, ge=-1, le=1, description="Noise and rare tags join the nearest topic as soft members when their "
        "cosine to its centroid is at least this; None keeps them as noise (-1).")
    merge_cosine: float | None = Field(
        0.6, ge=-1, le=1, description="Merge topics whose centroids (original space, centred) are at least this "
        "cosine-similar; None never merges.")
    label_size: int = Field(5, ge=1, le=50, description="Tags in a topic's label (the most central ones).")
    low_coherence: float = Field(0.1, ge=-1, le=1, description="Flag topics less coherent than this.")
    frequent_quantile: float = Field(
        0.95, gt=0, lt=1, description="Tags above this count quantile are 'frequent' (blacklist-like).")
    frequent_share: float = Field(
        0.5, gt=0, le=1, description="Flag topics whose members are at least this share frequent tags.")
    stoplist: list[str] = Field(
        default_factory=list, description="Tags that mark a topic as useless (names, emotions, common words).")
    stoplist_share: float = Field(
        0.3, gt=0, le=1, description="Flag topics whose members are at least this share stop-listed tags.")
    generic_share: float = Field(
        0.5, gt=0, le=1, description="Flag topics 'generic' (kept out of the tree and, by default, of /topics) whose "
        "members are at least this share tags the filter stage's review marked generic (filter.generic_threshold).")
    # identities across versions ---------------------------------------------------------------
    match_jaccard: float = Field(
        0.3, gt=0, le=1, description="A topic persists (keeps its id) when its members' Jaccard overlap with a "
        "previous topic's is at least this ...")
    match_cosine: float = Field(
        0.8, ge=-1, le=1, description="... or when its centroid is at least this close to the previous topic's "
        "centroid re-computed in the new model, and most of one's members are in the other.")
    lineage_share: float = Field(
        0.3, gt=0, le=1, description="A new topic descends from a previous one (split / merge) when at least "
        "this share of either's members are shared.")
    # tree and report --------------------------------------------------------------------------
    tree_groups: int | None = Field(
        None, ge=1, description="Broad groups above the topics (None = about sqrt(number of topics)).")
    map_points: int = Field(5000, ge=0, description="Tags drawn on the report's 2-D map (a sample if more).")
    explorer_map_tags: int = Field(
        2000, ge=0, le=10_000,
        description="Tags (the most used) the clusters stage lays out for the explorer's map (map.parquet); "
                    "/topics/map serves subsets of this one layout.")
