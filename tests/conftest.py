"""Shared fixtures: an in-process S3 server (moto) and a ``store`` over both backends.

The moto server starts once per session (about a second); every test gets its own bucket,
so tests never see each other's objects.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from topictensor.store import LocalStore, Store, open_store

# Tests build their configs explicitly: never pick up the demo's topictensor.yaml or a
# developer's TOPICTENSOR__* variables (the DAG tests read this file through the DAG's params).
os.environ["TOPICTENSOR_CONFIG"] = os.path.join(os.path.dirname(__file__), "topictensor.test.yaml")
for _name in [n for n in os.environ if n.startswith("TOPICTENSOR__")]:
    del os.environ[_name]

_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never read the developer's real profiles or credentials.
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}
_UNSET_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a moto S3 server on loopback, with dummy AWS credentials in the env."""
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in (*_DUMMY_AWS_ENV, *_UNSET_AWS_ENV)}
    os.environ.update(_DUMMY_AWS_ENV)
    for name in _UNSET_AWS_ENV:
        os.environ.pop(name, None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_client(s3_server: str):
    """A plain boto3 client on the moto server, to plant or inspect objects behind a store's back."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_server)


@pytest.fixture
def s3_bucket(s3_server: str, s3_client) -> str:
    """A fresh, empty bucket for this test: returns ``s3://<bucket>/some/prefix``."""
    bucket = f"tt-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    return f"s3://{bucket}/some/prefix"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    """The same tests over a local directory and over S3 (moto): the two must behave alike."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_server")
    uri = request.getfixturevalue("s3_bucket")
    return open_store(uri, endpoint_url=endpoint, cache_dir=str(tmp_path / "s3-cache"))
