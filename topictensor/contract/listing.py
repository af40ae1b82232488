"""Which raw files the contract covers under a prefix (``posts/``, ``bloggers/``)."""

from __future__ import annotations

from topictensor.store import ObjectInfo, Store


def is_ignored(key: str) -> bool:
    """True for keys with a path component starting with '_' or '.' (metadata, truth, temp files)."""
    return any(part.startswith(("_", ".")) for part in key.split("/") if part)


def raw_files(store: Store, kind: str) -> list[ObjectInfo]:
    """The contract's files of one kind (``posts`` or ``bloggers``), sorted by key."""
    return [info for info in store.list_info(kind) if not is_ignored(info.key)]
