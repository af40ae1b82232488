"""What the versions view shows, read from the model registry: one row per version, the diff
between two versions, the history. No Airflow and no HTML here, so it is tested on a plain store.

Every number comes from what the pipeline already recorded (the version manifest and the
manifests of its train and clusters artifacts); nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from topictensor.errors import TopicTensorError
from topictensor.registry import Registry
from topictensor.topics.match import TopicChange
from topictensor.topics.match import topic_changes as match_topic_changes  # the one rule, shared with the CLI

TAGS_LISTED = 200  # tags added / dropped shown by name, most used first; the totals are always exact


@dataclass
class VersionRow:
    version: str
    created_at: str
    quality: float | None
    run_id: str | None
    is_production: bool
    vocabulary: int | None  # tags with a vector
    train_posts: int | None
    heldout_posts: int | None
    bloggers: int | None
    topics: int | None
    trained_at: str | None  # when the train artifact was written (a reused artifact keeps its first time)
    train_seconds: float | None
    status: str = "registered"  # production | candidate | backfill | retired | registered (Registry.statuses)
    comparison: dict[str, Any] | None = None  # the run's candidate vs production on the same posts
    drift: dict[str, Any] | None = None  # neighbour overlap, vocabulary, ranking and topic churn
    why: str | None = None  # why the run did (not) promote it

    @property
    def is_candidate(self) -> bool:
        """Registered by a manual gate and never promoted: waiting for a person's promote."""
        return self.status == "candidate"

    @property
    def from_airflow(self) -> bool:
        """Runs started by Airflow carry its run id (manual__..., scheduled__...); the CLI writes 'cli'."""
        return bool(self.run_id) and "__" in str(self.run_id)


def version_rows(registry: Registry) -> list[VersionRow]:
    """Every version, oldest first."""
    manifests = registry.list_versions()
    statuses = registry.statuses(manifests)
    production = registry.production()
    return [_row(registry, manifest, production, statuses.get(manifest["version"], "registered"))
            for manifest in manifests]


def _row(registry: Registry, manifest: dict[str, Any], production: str | None, status: str) -> VersionRow:
    counts = manifest.get("counts", {})
    train = _artifact_manifest(registry, manifest, "train")
    train_metrics = train.get("metrics", {})
    return VersionRow(
        version=manifest["version"],
        created_at=manifest.get("created_at", ""),
        quality=manifest.get("metrics", {}).get("quality"),
        run_id=manifest.get("run_id"),
        is_production=manifest["version"] == production,
        vocabulary=counts.get("train", {}).get("vocabulary"),
        train_posts=counts.get("split", {}).get("train_posts"),
        heldout_posts=counts.get("split", {}).get("heldout_posts"),
        bloggers=counts.get("blogger_vectors", {}).get("bloggers"),
        topics=counts.get("clusters", {}).get("topics"),
        trained_at=train.get("created_at"),
        train_seconds=train_metrics.get("train_seconds", train.get("seconds")),
        status=status,
        comparison=manifest.get("comparison"),
        drift=manifest.get("drift"),
        why=(manifest.get("publish") or {}).get("why"),
    )


def _artifact_manifest(registry: Registry, manifest: dict[str, Any], stage: str) -> dict[str, Any]:
    """The stage artifact's manifest, or {} when the version has none or it was deleted."""
    refs = manifest.get("stages", {}).get(stage)
    if not refs:
        return {}
    try:
        return registry.artifact(manifest["version"], stage).manifest
    except TopicTensorError:
        return {}


@dataclass
class TagChange:
    tag: str
    count: int  # uses in the training posts of the version that has the tag


@dataclass
class VersionDiff:
    a: str
    b: str
    quality_a: float | None
    quality_b: float | None
    tags_a: int
    tags_b: int
    added: list[TagChange] = field(default_factory=list)  # most used first, at most TAGS_LISTED
    dropped: list[TagChange] = field(default_factory=list)
    added_total: int = 0
    dropped_total: int = 0
    topics: list[TopicChange] = field(default_factory=list)
    topics_note: str | None = None  # why topics could not be compared, if they could not

    @property
    def born(self) -> list[TopicChange]:
        return [t for t in self.topics if t.event == "born"]

    @property
    def died(self) -> list[TopicChange]:
        return [t for t in self.topics if t.event == "died"]

    @property
    def kept(self) -> list[TopicChange]:
        """Kept topics, most changed first."""
        return sorted((t for t in self.topics if t.event == "kept"), key=lambda t: (t.jaccard or 0.0, t.topic_id))


def version_diff(registry: Registry, a: str, b: str) -> VersionDiff:
    """Tags added and dropped and topics born and died from version ``a`` to version ``b``.

    Tags come from each version's trained vocabulary; topics from its clusters artifact, whose
    ids are carried over between versions (the same id is the same topic), compared exactly as
    ``topictensor topics diff`` compares them."""
    manifest_a, manifest_b = registry.get_version(a), registry.get_version(b)
    vocab_a, vocab_b = _vocabulary(registry, a), _vocabulary(registry, b)
    added = sorted(set(vocab_b) - set(vocab_a), key=lambda t: (-vocab_b[t], t))
    dropped = sorted(set(vocab_a) - set(vocab_b), key=lambda t: (-vocab_a[t], t))
    diff = VersionDiff(
        a=a, b=b,
        quality_a=manifest_a.get("metrics", {}).get("quality"),
        quality_b=manifest_b.get("metrics", {}).get("quality"),
        tags_a=len(vocab_a), tags_b=len(vocab_b),
        added=[TagChange(t, vocab_b[t]) for t in added[:TAGS_LISTED]],
        dropped=[TagChange(t, vocab_a[t]) for t in dropped[:TAGS_LISTED]],
        added_total=len(added), dropped_total=len(dropped),
    )
    try:
        diff.topics = topic_changes(registry, a, b)
    except TopicTensorError as exc:
        diff.topics_note = str(exc)
    return diff


def _vocabulary(registry: Registry, vid: str) -> dict[str, int]:
    """tag -> its count in the version's training posts."""
    table = registry.artifact(vid, "train").read_table("embeddings.parquet", columns=["tag", "count"])
    return dict(zip(table.column("tag").to_pylist(), table.column("count").to_pylist()))


def topic_changes(registry: Registry, a: str, b: str) -> list[TopicChange]:
    """Topics born, died and kept from ``a`` to ``b``, by topic id (the rule of ``topictensor topics diff``)."""
    art_a, art_b = registry.artifact(a, "clusters"), registry.artifact(b, "clusters")
    columns = ["topic_id", "label", "size"]
    return match_topic_changes(art_a.read_table("topics.parquet", columns=columns).to_pandas(),
                               art_a.read_table("members.parquet").to_pandas(),
                               art_b.read_table("topics.parquet", columns=columns).to_pandas(),
                               art_b.read_table("members.parquet").to_pandas())


def default_pair(rows: list[VersionRow]) -> tuple[str, str] | None:
    """The diff shown first: the version before production against production (or the last two)."""
    if len(rows) < 2:
        return None
    ids = [r.version for r in rows]
    prod = next((i for i, r in enumerate(rows) if r.is_production), len(rows) - 1)
    if prod == 0:
        return ids[0], ids[1]
    return ids[prod - 1], ids[prod]
