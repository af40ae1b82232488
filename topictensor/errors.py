"""Exceptions with messages meant for the operator who reads a task log."""


class TopicTensorError(Exception):
    """Base class: anything the pipeline raises on purpose."""


class ConfigError(TopicTensorError):
    """A configuration value is missing or invalid (names the field)."""


class StoreError(TopicTensorError):
    """Object storage failed: names the store, bucket and key involved."""


class NotFound(TopicTensorError):
    """Something the caller named does not exist: a tag, blogger, topic, model version, run, key."""


class ArtifactNotFound(StoreError, NotFound):
    """A key that should exist does not."""


class ArtifactCorrupt(StoreError):
    """An artifact's files do not match its manifest (size or sha256): names the file and both values."""


class ContractError(TopicTensorError):
    """Input data breaks the data contract in a way that fails the whole stage (names the file)."""


class GateFailed(TopicTensorError):
    """The candidate model did not pass the quality gate; production stays untouched."""


class ResourceError(TopicTensorError):
    """A job would not fit on this worker (memory estimate above what is available)."""
