"""The storage interface every stage and the registry use.

Keys are ``/``-separated paths relative to the store's root. Single-object writes are atomic
(a reader sees the old object or the new one, never half of one). ``write_if_match`` is the one
compare-and-swap the registry needs to move the production pointer safely.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

VersionToken = str | None
"""Opaque version of an object as seen by ``read_versioned``; None means 'absent'."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version: str  # ETag on S3, size+mtime+inode on disk: changes when the object is replaced


class Store(ABC):
    uri: str

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Raise ArtifactNotFound naming the key when absent."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def upload_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def local_path(self, key: str) -> Path:
        """A local file with the object's bytes (the object itself on disk, or a cached download)."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def list_info(self, prefix: str) -> list[ObjectInfo]:
        """Like ``list`` with size and version, to fingerprint mutable inputs (raw data)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; return how many."""

    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes | None, VersionToken]:
        """Current bytes and a token to pass to ``write_if_match`` (None, None when absent)."""

    @abstractmethod
    def write_if_match(self, key: str, data: bytes, token: VersionToken) -> bool:
        """Write only if the object is still at ``token`` (None: only if absent). False if it moved."""

    def url(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))
