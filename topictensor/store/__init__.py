"""Object storage behind one small interface: a local directory (default) or S3."""

from topictensor.store.base import ObjectInfo, Store, VersionToken
from topictensor.store.local import LocalStore


def open_store(uri: str, *, endpoint_url: str | None = None, cache_dir: str | None = None) -> Store:
    """Open ``s3://bucket/prefix`` with boto3 or anything else as a local directory."""
    if uri.startswith("s3://"):
        from topictensor.store.s3 import S3Store  # boto3 is only imported when S3 is used

        return S3Store(uri, endpoint_url=endpoint_url, cache_dir=cache_dir)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return LocalStore(uri)


__all__ = ["Store", "LocalStore", "ObjectInfo", "VersionToken", "open_store"]
