"""A directory on a local (or mounted) disk used as the object store: the embedded default."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.store.base import ObjectInfo, Store, VersionToken


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        key = key.strip("/")
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise StoreError(f"key {key!r} escapes the store root {self.root}")
        return path

    def _object_path(self, key: str) -> Path:
        """Path of an object to write: a key naming the root itself is not an object."""
        path = self._path(key)
        if path == self.root:
            raise StoreError(f"key {key!r} names the store root {self.root}, not an object")
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFound(f"{self.url(key)} does not exist") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._object_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic on POSIX: readers see old or new, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upload_file(self, key: str, path: Path) -> None:
        target = self._object_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactNotFound(f"{self.url(key)} does not exist")
        return path

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix.strip("/") else self.root
        if base.is_file():
            return [base.relative_to(self.root).as_posix()]
        if not base.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue  # temp files of writes in flight, lock files
                keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(keys)

    def list_info(self, prefix: str) -> list[ObjectInfo]:
        out = []
        for key in self.list(prefix):
            st = self._path(key).stat()
            # The inode changes on every write here (a new file is renamed over the old), so a
            # replacement is seen even within the file system's mtime granularity (ms on ext4).
            out.append(ObjectInfo(key=key, size=st.st_size, version=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"))
        return out

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        return len(keys)

    @staticmethod
    def _token(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def read_versioned(self, key: str) -> tuple[bytes | None, VersionToken]:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None, None
        return data, self._token(data)

    def write_if_match(self, key: str, data: bytes, token: VersionToken) -> bool:
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        # One lock per object, whatever spelling of its key ("a" and "/a" are the same object).
        rel = self._object_path(key).relative_to(self.root).as_posix()
        lock_path = lock_dir / (hashlib.sha1(rel.encode()).hexdigest() + ".lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # serialises writers on this host; rename keeps it atomic
            _, current = self.read_versioned(key)
            if current != token:
                return False
            self.write_bytes(key, data)
            return True
