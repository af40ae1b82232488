"""The Store contract, over a local directory and S3 (moto): both must behave alike."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import requests

from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.store import LocalStore, Store, open_store


def _bucket_and_prefix(store) -> tuple[str, str]:
    return store.bucket, store.prefix


# --- read / write / exists ----------------------------------------------------------------


def test_write_then_read_returns_the_same_bytes_and_text(store: Store):
    store.write_bytes("a/b/blob.bin", b"\x00\x01binary\xff")
    store.write_text("a/note.txt", "héllo #тег")

    assert store.read_bytes("a/b/blob.bin") == b"\x00\x01binary\xff"
    assert store.read_text("a/note.txt") == "héllo #тег"


def test_exists_is_true_only_for_written_objects(store: Store):
    store.write_bytes("dir/obj", b"x")

    assert store.exists("dir/obj")
    assert not store.exists("dir/missing")  # S3: HEAD answers a bare 404
    assert not store.exists("dir")  # a "directory" is not an object
    assert not store.exists("di")


def test_write_replaces_an_existing_object(store: Store):
    store.write_bytes("k", b"old contents")
    store.write_bytes("k", b"new")

    assert store.read_bytes("k") == b"new"


def test_upload_file_stores_the_file_bytes(store: Store, tmp_path: Path):
    source = tmp_path / "upload.bin"
    source.write_bytes(b"uploaded" * 1000)

    store.upload_file("up/loaded.bin", source)

    assert store.read_bytes("up/loaded.bin") == b"uploaded" * 1000


def test_missing_key_raises_artifact_not_found_naming_the_key(store: Store):
    with pytest.raises(ArtifactNotFound, match="no/such/key"):
        store.read_bytes("no/such/key")
    with pytest.raises(ArtifactNotFound, match="no/such/key"):
        store.local_path("no/such/key")


def test_reading_a_directory_like_prefix_is_not_found(store: Store):
    store.write_bytes("folder/file", b"x")

    with pytest.raises(ArtifactNotFound, match="folder"):
        store.read_bytes("folder")


# --- list / list_info / delete_prefix ------------------------------------------------------


def _plant(store: Store, keys: list[str]) -> None:
    for key in keys:
        store.write_bytes(key, key.encode())


def test_list_is_recursive_sorted_and_excludes_siblings_sharing_the_name_start(store: Store):
    _plant(store, ["a/y/z", "a/x", "ab/w", "a.txt", "b"])

    assert store.list("a") == ["a/x", "a/y/z"]
    assert store.list("a/") == ["a/x", "a/y/z"]
    assert store.list("a/y") == ["a/y/z"]
    assert store.list("nothing/here") == []


def test_list_of_an_empty_prefix_lists_everything(store: Store):
    _plant(store, ["a/y/z", "a/x", "ab/w", "b"])

    assert store.list("") == ["a/x", "a/y/z", "ab/w", "b"]
    assert store.list("/") == ["a/x", "a/y/z", "ab/w", "b"]


def test_list_of_a_prefix_that_is_itself_an_object_returns_it(store: Store):
    _plant(store, ["raw/posts.parquet", "raw/posts.parquet.bak"])

    assert store.list("raw/posts.parquet") == ["raw/posts.parquet"]


def test_list_info_gives_sizes_and_a_version_that_changes_on_replace(store: Store):
    store.write_bytes("in/one", b"12345")
    store.write_bytes("in/two", b"1")
    before = {i.key: i for i in store.list_info("in")}

    store.write_bytes("in/one", b"54321")  # same size, other bytes, within the same mtime tick
    after = {i.key: i for i in store.list_info("in")}

    assert sorted(before) == ["in/one", "in/two"]
    assert (before["in/one"].size, before["in/two"].size) == (5, 1)
    assert after["in/one"].size == 5
    assert after["in/one"].version != before["in/one"].version
    assert after["in/two"].version == before["in/two"].version


def test_delete_prefix_deletes_the_subtree_only(store: Store):
    _plant(store, ["artifacts/a/1", "artifacts/a/2/3", "artifacts/ab/x", "artifacts/a.json", "other"])

    removed = store.delete_prefix("artifacts/a")

    assert removed == 2
    assert store.list("") == ["artifacts/a.json", "artifacts/ab/x", "other"]
    assert store.delete_prefix("artifacts/a") == 0
    assert store.delete_prefix("never/was") == 0


# --- local_path ----------------------------------------------------------------------------


def test_local_path_gives_a_file_with_the_object_bytes(store: Store):
    store.write_bytes("m/model.bin", b"weights")

    path = store.local_path("m/model.bin")

    assert path.read_bytes() == b"weights"


def test_local_path_of_a_replaced_object_returns_the_new_bytes(store: Store):
    store.write_bytes("raw/posts.jsonl", b"version one")
    first = store.local_path("raw/posts.jsonl").read_bytes()

    store.write_bytes("raw/posts.jsonl", b"version two, longer")
    second = store.local_path("raw/posts.jsonl").read_bytes()

    assert (first, second) == (b"version one", b"version two, longer")


def test_s3_local_path_downloads_an_unchanged_object_once(s3_server, s3_bucket, tmp_path, monkeypatch):
    store = open_store(s3_bucket, endpoint_url=s3_server, cache_dir=str(tmp_path / "cache"))
    store.write_bytes("big/file", b"payload")
    first = store.local_path("big/file")

    def no_second_download(*args, **kwargs):
        raise AssertionError("downloaded again although the ETag did not change")

    monkeypatch.setattr(store.client, "download_file", no_second_download)
    second = store.local_path("big/file")

    assert second == first
    assert second.read_bytes() == b"payload"
    assert first.is_relative_to(tmp_path / "cache")


# --- compare-and-swap ----------------------------------------------------------------------


def test_write_if_match_is_a_compare_and_swap(store: Store):
    assert store.read_versioned("production.json") == (None, None)

    assert store.write_if_match("production.json", b"v1", None) is True
    assert store.write_if_match("production.json", b"v1-again", None) is False  # exists now

    data, token = store.read_versioned("production.json")
    assert data == b"v1"
    assert store.write_if_match("production.json", b"v2", token) is True
    assert store.write_if_match("production.json", b"v3", token) is False  # token is stale

    data, newer = store.read_versioned("production.json")
    assert data == b"v2"
    assert newer != token


def test_write_if_match_fails_when_the_object_was_deleted_since_it_was_read(store: Store):
    store.write_bytes("pointer", b"v1")
    _, token = store.read_versioned("pointer")
    store.delete_prefix("pointer")

    assert store.write_if_match("pointer", b"v2", token) is False
    assert not store.exists("pointer")


def test_two_writers_holding_the_same_token_have_exactly_one_winner(store: Store):
    store.write_bytes("production.json", b"v0")
    _, token_a = store.read_versioned("production.json")
    _, token_b = store.read_versioned("production.json")  # both promoters read before either writes

    won_a = store.write_if_match("production.json", b"from a", token_a)
    won_b = store.write_if_match("production.json", b"from b", token_b)

    assert (won_a, won_b) == (True, False)
    assert store.read_bytes("production.json") == b"from a"


def _race(writers: int, attempt) -> dict[int, bool]:
    start = threading.Barrier(writers)
    outcomes: dict[int, bool] = {}

    def run(i: int) -> None:
        start.wait()
        outcomes[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


# Threads race only on the local store, where the atomicity is ours (a lock plus a rename).
# On S3 it is the server's: moto checks the condition and then writes without a lock, so a
# threaded race there would test moto, and could flake.


def test_local_racing_writers_on_the_same_token_have_exactly_one_winner(tmp_path: Path):
    store = LocalStore(tmp_path / "root")
    store.write_bytes("production.json", b"v0")
    _, token = store.read_versioned("production.json")

    outcomes = _race(8, lambda i: store.write_if_match("production.json", f"writer {i}".encode(), token))

    winners = [i for i, won in outcomes.items() if won]
    assert len(outcomes) == 8 and len(winners) == 1
    assert store.read_bytes("production.json") == f"writer {winners[0]}".encode()


def test_local_racing_first_writers_have_exactly_one_winner(tmp_path: Path):
    store = LocalStore(tmp_path / "root")

    # Half spell the key with a leading slash: still one object, so still one lock.
    outcomes = _race(8, lambda i: store.write_if_match("/first.json" if i % 2 else "first.json",
                                                       f"writer {i}".encode(), None))

    winners = [i for i, won in outcomes.items() if won]
    assert len(outcomes) == 8 and len(winners) == 1
    assert store.read_bytes("first.json") == f"writer {winners[0]}".encode()


def test_moto_enforces_conditional_writes(s3_client, s3_bucket):
    """The S3 compare-and-swap tests mean something only if the test server checks the
    conditions; a moto that ignores IfMatch/IfNoneMatch fails here, not silently."""
    from botocore.exceptions import ClientError

    bucket = s3_bucket[len("s3://"):].split("/")[0]
    etag = s3_client.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as if_none_match:
        s3_client.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    with pytest.raises(ClientError) as stale_if_match:
        s3_client.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch='"0123456789abcdef0123456789abcdef"')
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"4", IfMatch=etag)

    assert if_none_match.value.response["Error"]["Code"] == "PreconditionFailed"
    assert stale_if_match.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3_client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"4"


# --- LocalStore specifics ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "a/../../../etc/passwd"])
def test_local_store_rejects_keys_escaping_its_root(tmp_path: Path, key: str):
    store = LocalStore(tmp_path / "root")

    for attempt in (
        lambda: store.write_bytes(key, b"x"),
        lambda: store.read_bytes(key),
        lambda: store.exists(key),
        lambda: store.list(key),
        lambda: store.delete_prefix(key),
        lambda: store.write_if_match(key, b"x", None),
    ):
        with pytest.raises(StoreError, match="escapes the store root"):
            attempt()
    assert not (tmp_path / "outside").exists()


def test_local_store_rejects_a_symlink_leading_out_of_its_root(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = LocalStore(tmp_path / "root")
    store.write_bytes("placeholder", b"")
    (tmp_path / "root" / "link").symlink_to(outside)

    with pytest.raises(StoreError, match="escapes the store root"):
        store.read_bytes("link/secret")


def test_local_store_rejects_writing_the_root_itself(tmp_path: Path):
    store = LocalStore(tmp_path / "root")

    with pytest.raises(StoreError, match="store root"):
        store.write_bytes("", b"x")
    with pytest.raises(StoreError, match="store root"):
        store.write_if_match("/", b"x", None)


def test_local_list_ignores_temp_files_and_lock_files(tmp_path: Path):
    store = LocalStore(tmp_path / "root")
    store.write_bytes("a/real", b"x")
    store.write_if_match("a/pointer", b"p", None)  # creates .locks/
    (tmp_path / "root" / "a" / ".real.abc123.tmp").write_bytes(b"half a write")

    assert store.list("") == ["a/pointer", "a/real"]
    assert store.list("a") == ["a/pointer", "a/real"]


def test_open_store_gives_a_local_store_for_paths_and_file_uris(tmp_path: Path):
    by_path = open_store(str(tmp_path / "s"))
    by_uri = open_store(f"file://{tmp_path / 's'}")

    by_path.write_bytes("k", b"v")

    assert isinstance(by_uri, LocalStore)
    assert by_uri.read_bytes("k") == b"v"


# --- S3 specifics --------------------------------------------------------------------------


def test_s3_store_sees_only_its_own_prefix(s3_server, s3_bucket, s3_client):
    store = open_store(s3_bucket, endpoint_url=s3_server)
    bucket, prefix = _bucket_and_prefix(store)
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}es/neighbour", Body=b"n")  # some/prefixes/...
    s3_client.put_object(Bucket=bucket, Key="elsewhere/x", Body=b"e")
    store.write_bytes("mine", b"m")

    assert store.list("") == ["mine"]
    assert [i.key for i in store.list_info("")] == ["mine"]
    assert store.delete_prefix("") == 1
    assert s3_client.get_object(Bucket=bucket, Key=f"{prefix}es/neighbour")["Body"].read() == b"n"
    assert s3_client.get_object(Bucket=bucket, Key="elsewhere/x")["Body"].read() == b"e"


def test_s3_store_writes_under_its_prefix(s3_server, s3_bucket, s3_client):
    store = open_store(s3_bucket, endpoint_url=s3_server)
    bucket, prefix = _bucket_and_prefix(store)

    store.write_bytes("/artifacts/x/file", b"f")

    assert prefix == "some/prefix"
    assert s3_client.get_object(Bucket=bucket, Key="some/prefix/artifacts/x/file")["Body"].read() == b"f"
    assert store.url("artifacts/x/file") == f"s3://{bucket}/some/prefix/artifacts/x/file"


def test_s3_missing_bucket_fails_naming_bucket_and_key(s3_server, tmp_path):
    bucket = f"tt-missing-{uuid.uuid4().hex[:8]}"
    store = open_store(f"s3://{bucket}/p", endpoint_url=s3_server, cache_dir=str(tmp_path))
    source = tmp_path / "f"
    source.write_bytes(b"x")

    for attempt in (
        lambda: store.read_bytes("k/obj"),
        lambda: store.exists("k/obj"),  # must not read as "not computed yet"
        lambda: store.local_path("k/obj"),
        lambda: store.write_bytes("k/obj", b"x"),
        lambda: store.upload_file("k/obj", source),
        lambda: store.list("k/obj"),
        lambda: store.read_versioned("k/obj"),
        lambda: store.write_if_match("k/obj", b"x", None),
    ):
        with pytest.raises(StoreError) as err:
            attempt()
        assert not isinstance(err.value, ArtifactNotFound), err.value
        assert bucket in str(err.value) and "p/k/obj" in str(err.value), err.value


@pytest.fixture
def s3_auth_enforced(s3_server):
    """Make moto check credentials (it accepts any by default) for the duration of one test."""
    reply = requests.post(f"{s3_server}/moto-api/reset-auth", data=b"0", timeout=10)
    reply.raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{s3_server}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def test_s3_wrong_credentials_fail_naming_bucket_and_key(s3_server, s3_bucket, monkeypatch, tmp_path, s3_auth_enforced):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    store = open_store(s3_bucket, endpoint_url=s3_server, cache_dir=str(tmp_path))
    bucket, _ = _bucket_and_prefix(store)

    for attempt in (
        lambda: store.read_bytes("k/obj"),
        lambda: store.exists("k/obj"),
        lambda: store.write_bytes("k/obj", b"x"),
        lambda: store.list("k"),
    ):
        with pytest.raises(StoreError) as err:
            attempt()
        message = str(err.value)
        assert not isinstance(err.value, ArtifactNotFound), message
        assert bucket in message and "some/prefix/k" in message, message
        assert "denied" in message or "credentials" in message, message
