"""S3 (or any S3-compatible server: MinIO, moto) as the object store, through boto3.

Errors name the bucket and key. The production pointer uses S3 conditional writes:
``IfNoneMatch="*"`` for the first write, ``IfMatch=<etag>`` after that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.store.base import ObjectInfo, Store, VersionToken

log = logging.getLogger(__name__)

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store(Store):
    def __init__(self, uri: str, *, endpoint_url: str | None = None, cache_dir: str | None = None):
        import boto3
        from botocore.config import Config

        if not uri.startswith("s3://"):
            raise StoreError(f"not an s3:// uri: {uri!r}")
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise StoreError(f"no bucket in {uri!r}")
        self.uri = uri.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint_url = endpoint_url or os.environ.get("TOPICTENSOR_S3_ENDPOINT_URL") or None
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        default_cache = Path(tempfile.gettempdir()) / "topictensor-s3-cache"
        self.cache_dir = Path(cache_dir or os.environ.get("TOPICTENSOR_CACHE_DIR") or default_cache)
        self._bucket_exists = False

    def _key(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        code = _error_code(exc)
        where = f"bucket {self.bucket!r}, key {self._key(key)!r}"
        if code in _MISSING_CODES:
            return ArtifactNotFound(f"{action}: {where} does not exist")
        if code == "NoSuchBucket":
            return StoreError(f"{action}: bucket {self.bucket!r} does not exist (key {self._key(key)!r})")
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            return StoreError(f"{action}: access denied to {where} ({code}); check the credentials")
        return StoreError(f"{action}: {where} failed: {exc}")

    def _head(self, action: str, key: str) -> dict | None:
        """HEAD the object: its metadata, or None when the key is absent.

        A HEAD answers a bare 404 both for a missing key and for a missing bucket, so the
        first 404 checks the bucket once: a wrong bucket name must fail loudly, not read as
        'nothing computed yet'.
        """
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # botocore.exceptions.ClientError, connection errors
            if _error_code(exc) not in _MISSING_CODES:
                raise self._fail(action, key, exc) from exc
        self._check_bucket(action, key)
        return None

    def _check_bucket(self, action: str, key: str) -> None:
        if self._bucket_exists:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if _error_code(exc) in _MISSING_CODES | {"NoSuchBucket"}:
                raise StoreError(
                    f"{action}: bucket {self.bucket!r} does not exist (key {self._key(key)!r})"
                ) from exc
            raise self._fail(action, key, exc) from exc
        self._bucket_exists = True

    def exists(self, key: str) -> bool:
        return self._head("exists", key) is not None

    def read_bytes(self, key: str) -> bytes:
        return self.read_versioned_strict(key)[0]

    def read_versioned_strict(self, key: str) -> tuple[bytes, str]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return obj["Body"].read(), obj["ETag"]
        except Exception as exc:
            raise self._fail("read", key, exc) from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise self._fail("write", key, exc) from exc

    def upload_file(self, key: str, path: Path) -> None:
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key))
        except Exception as exc:
            raise self._fail("upload", key, exc) from exc

    def _cache_path(self, key: str, action: str) -> Path:
        head = self._head(action, key)
        if head is None:
            raise ArtifactNotFound(f"{action}: bucket {self.bucket!r}, key {self._key(key)!r} does not exist")
        digest = hashlib.sha1(f"{self.bucket}/{self._key(key)}/{head['ETag']}".encode()).hexdigest()[:16]
        return self.cache_dir / digest / Path(key).name

    def drop_local_copy(self, key: str) -> bool:
        """Forget the cached download of ``key`` (say, it does not match its manifest: the copy
        on this disk may be what is damaged), so the next ``local_path`` downloads it again."""
        try:
            target = self._cache_path(key, "drop cached copy")
        except ArtifactNotFound:
            return False
        existed = target.is_file()
        target.unlink(missing_ok=True)
        return existed

    def local_path(self, key: str) -> Path:
        """Download once into a cache keyed by bucket, key and ETag, so a replaced object
        (raw input is mutable) is fetched again while artifacts are fetched once."""
        target = self._cache_path(key, "download")
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self.client.download_file(self.bucket, self._key(key), str(tmp))
            os.replace(tmp, target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise self._fail("download", key, exc) from exc
        return target

    def list(self, prefix: str) -> list[str]:
        return [info.key for info in self.list_info(prefix)]

    def list_info(self, prefix: str) -> list[ObjectInfo]:
        # "a" lists "a" itself and "a/...", never the sibling "ab/...": S3 prefixes are plain
        # string prefixes, so the directory form "a/" is listed, plus the exact key "a".
        rel_prefix = prefix.strip("/")
        full = self._key(rel_prefix) if rel_prefix else self.prefix
        full_dir = f"{full}/" if full else ""
        items: list[dict] = []
        try:
            if rel_prefix:
                # The exact key sorts first among keys starting with it, so one key answers.
                first = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, MaxKeys=1)
                items.extend(i for i in first.get("Contents", []) if i["Key"] == full)
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_dir):
                items.extend(page.get("Contents", []))
        except Exception as exc:
            raise self._fail("list", prefix, exc) from exc
        self._bucket_exists = True
        skip = len(self.prefix) + 1 if self.prefix else 0
        infos = [
            ObjectInfo(key=item["Key"][skip:], size=int(item["Size"]), version=item["ETag"].strip('"'))
            for item in items
        ]
        return sorted(infos, key=lambda i: i.key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete the objects under ``prefix`` and abort its unfinished multipart uploads.

        A writer killed during a multipart upload (files over boto3's 8 MB threshold) leaves its
        parts on the server, invisible to listings but stored and billed until aborted.
        """
        self._abort_multipart_uploads(prefix)
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start:start + 1000]]
            try:
                response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise self._fail("delete", prefix, exc) from exc
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StoreError(
                    f"delete: {len(errors)} of {len(batch)} objects under bucket {self.bucket!r}, "
                    f"prefix {self._key(prefix)!r} were not deleted; first: key {first.get('Key')!r} "
                    f"({first.get('Code')}: {first.get('Message')})"
                )
        return len(keys)

    def _abort_multipart_uploads(self, prefix: str) -> int:
        """Best effort: a policy without s3:ListBucketMultipartUploads / s3:AbortMultipartUpload
        only costs storage (a lifecycle rule can abort them instead), so it warns, not fails."""
        rel_prefix = prefix.strip("/")
        full = self._key(rel_prefix) if rel_prefix else self.prefix
        full_dir = f"{full}/" if full else ""
        aborted = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for upload in page.get("Uploads", []):
                    key = upload["Key"]
                    inside = key.startswith(full_dir) or (bool(rel_prefix) and key == full)
                    if not inside:
                        continue  # a sibling sharing the name's start ("ab/..." for "a")
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                    aborted += 1
        except Exception as exc:
            log.warning("could not abort unfinished multipart uploads under bucket %r, prefix %r: %s",
                        self.bucket, full_dir or full, self._fail("abort uploads", prefix, exc))
        if aborted:
            log.warning("aborted %d unfinished multipart uploads under bucket %r, prefix %r",
                        aborted, self.bucket, full_dir or full)
        return aborted

    def read_versioned(self, key: str) -> tuple[bytes | None, VersionToken]:
        try:
            return self.read_versioned_strict(key)
        except ArtifactNotFound:
            return None, None

    def write_if_match(self, key: str, data: bytes, token: VersionToken) -> bool:
        kwargs = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **kwargs)
            return True
        except Exception as exc:
            code = _error_code(exc)
            if code in _CONFLICT_CODES:
                return False
            if token is not None and code == "NoSuchKey":
                return False  # deleted since it was read at ``token``: it moved
            raise self._fail("conditional write", key, exc) from exc


def _error_code(exc: BaseException) -> str:
    """S3 error code of a botocore ClientError, also when wrapped (boto3's S3UploadFailedError
    carries the ClientError only as its ``__context__``)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        response = getattr(current, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        if not code:
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(status or "")
        if code:
            return code
        current = current.__cause__ or current.__context__
        seen += 1
    return ""
