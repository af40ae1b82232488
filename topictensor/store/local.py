"""A directory on a local (or mounted) disk used as the object store: the embedded default.

Writes go to a hidden temp file next to the object (``.<name>.<owner tag>.<random>.tmp``, see
``topictensor.owner``) that is renamed over it, so readers see the old or the new object, never
half of one; listings skip hidden names. Files get the permissions of the process's umask (as
``open`` gives them), not ``mkstemp``'s 0600: a shared deployment sets the umask it wants.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.owner import TAG_PATTERN, Owner, owner_of, owner_tag
from topictensor.store.base import ObjectInfo, Store, VersionToken

_TEMP_FILE = re.compile(rf"^\..+?\.(?:{TAG_PATTERN}\.)?[A-Za-z0-9_]+\.tmp$")


def _umask() -> int:
    """The process's umask, read without setting it (``os.umask`` would change it for every
    thread for a moment): from /proc on Linux, else the umask dance."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        key = key.strip("/")
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            link = self._dangling_link(key)
            if link is not None:
                raise StoreError(f"key {key!r}: {link} is a dangling symlink (it points to "
                                 f"{os.readlink(link)!r}, which does not exist)")
            raise StoreError(f"key {key!r} escapes the store root {self.root}")
        return path

    def _dangling_link(self, key: str) -> Path | None:
        """The first symlink on ``key``'s path inside the root whose target does not exist."""
        current = self.root
        for part in Path(key).parts:
            current = current / part
            if current.is_symlink() and not current.exists():
                return current
            if not current.exists():
                return None
        return None

    def _temp_file(self, target: Path) -> str:
        """A hidden temp file next to ``target``, named with this process's owner tag, with the
        permissions a plain ``open`` would give (umask), not mkstemp's 0600."""
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{owner_tag()}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        return tmp

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
        tmp = self._temp_file(path)
        try:
            with open(tmp, "wb") as f:
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
        tmp = self._temp_file(target)
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
            try:
                st = self._path(key).stat()
            except FileNotFoundError:
                link = self._dangling_link(key)
                if link is None:
                    continue  # deleted between the listing and now
                raise StoreError(f"key {key!r}: {link} is a dangling symlink (it points to "
                                 f"{os.readlink(link)!r}, which does not exist)") from None
            # The inode changes on every write here (a new file is renamed over the old), so a
            # replacement is seen even within the file system's mtime granularity (ms on ext4).
            out.append(ObjectInfo(key=key, size=st.st_size, version=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"))
        return out

    def delete_prefix(self, prefix: str) -> int:
        """Delete the objects under ``prefix``, and the temp files of writers that died there
        (killed between creating a temp file and renaming it: a live writer's are kept)."""
        keys = self.list(prefix)
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        self.remove_temp_files(prefix, untagged=True)
        return len(keys)

    def remove_temp_files(self, prefix: str = "", max_age_seconds: float = 0.0, *,
                          untagged: bool = False) -> list[Path]:
        """Remove the hidden write temp files under ``prefix`` left by writers that died: those
        whose writer is gone (and older than ``max_age_seconds``, when given); those whose writer
        cannot be checked (another host, or named before owner tags) when older than
        ``max_age_seconds`` (never, when 0); with ``untagged``, every temp file named before
        owner tags (an artifact being restarted: no live writer of that code writes there)."""
        base = self._path(prefix) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        removed = []
        now = time.time()
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != ".locks"]
            for name in filenames:
                match = _TEMP_FILE.match(name)
                if not match:
                    continue
                path = Path(dirpath, name)
                owner = owner_of(match["pid"], match["host"], match["start"])
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:
                    continue
                old = max_age_seconds > 0 and age > max_age_seconds
                if ((owner is Owner.GONE and (max_age_seconds <= 0 or old))
                        or (owner is Owner.UNKNOWN and old)
                        or (untagged and match["pid"] is None)):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

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
