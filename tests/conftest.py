"""Shared fixtures: an S3 server (moto) and a ``store`` over both backends.

CI starts moto's standalone server as its own process (``.ci/s3-server``) and points the
tests at it with ``TOPICTENSOR_TEST_S3_ENDPOINT``: every S3 request then crosses a real socket
to another process, as it does to MinIO or S3. Without that variable (``make test`` on a
developer machine) an in-process moto server starts once per session (about a second).
Every test gets its own bucket, so tests never see each other's objects.
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


EXTERNAL_S3_ENDPOINT_VAR = "TOPICTENSOR_TEST_S3_ENDPOINT"


def pytest_report_header(config: pytest.Config) -> str:
    endpoint = os.environ.get(EXTERNAL_S3_ENDPOINT_VAR, "").strip()
    if endpoint:
        return f"S3 tests: the moto server at {endpoint} (${EXTERNAL_S3_ENDPOINT_VAR}, its own process)"
    return f"S3 tests: a moto server in this process (set ${EXTERNAL_S3_ENDPOINT_VAR} for an external one)"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a moto S3 server on loopback, with dummy AWS credentials in the env.

    The external server of ``$TOPICTENSOR_TEST_S3_ENDPOINT`` when set (it must answer: a CI that
    meant to test against it must not quietly fall back), else one started in this process.
    """
    saved = {name: os.environ.get(name) for name in (*_DUMMY_AWS_ENV, *_UNSET_AWS_ENV)}
    os.environ.update(_DUMMY_AWS_ENV)
    for name in _UNSET_AWS_ENV:
        os.environ.pop(name, None)
    try:
        external = os.environ.get(EXTERNAL_S3_ENDPOINT_VAR, "").strip()
        if external:
            yield _check_external_s3_server(external.rstrip("/"))
        else:
            yield from _in_process_s3_server()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_external_s3_server(endpoint: str) -> str:
    """Fail the session's S3 tests at once, naming the endpoint, if the server does not answer
    as an S3 server, or is not moto (the tests use moto's API to switch its auth checks)."""
    import boto3
    import requests
    from botocore.config import Config

    how_to = f"start it with `eval \"$(.ci/s3-server start)\"` or unset {EXTERNAL_S3_ENDPOINT_VAR}"
    client = boto3.client("s3", endpoint_url=endpoint,
                          config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}))
    try:
        client.list_buckets()
    except Exception as exc:
        pytest.fail(f"{EXTERNAL_S3_ENDPOINT_VAR}={endpoint} does not answer as an S3 server ({exc}); {how_to}",
                    pytrace=False)
    try:
        requests.get(f"{endpoint}/moto-api/data.json", timeout=10).raise_for_status()
    except Exception as exc:
        pytest.fail(f"{EXTERNAL_S3_ENDPOINT_VAR}={endpoint} answers S3 but is not a moto server ({exc}); "
                    f"the tests need moto's /moto-api/; {how_to}", pytrace=False)
    return endpoint


def _in_process_s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_auth_enforced(s3_server: str) -> Iterator[None]:
    """Make moto check credentials (it accepts any by default) for the duration of one test.

    Every client is refused then, the fixtures' own included: plant objects before this fixture
    is set up (list it after the fixtures that plant them).
    """
    import requests

    requests.post(f"{s3_server}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{s3_server}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


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


# ---- the one headless system Chromium of the session -----------------------------------------------

CHROMIUM = os.environ.get("TOPICTENSOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def system_chromium():
    """Debian's Chromium driven by Playwright, shared by every browser test: Playwright's sync API
    allows one instance per thread. Never skips: a missing browser fails, saying how to get it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium package; "
                    "`.ci/run` installs it (.ci/system-packages). Never `playwright install`.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]' (pyproject's dev extras pin it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
