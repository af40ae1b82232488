"""Browser end-to-end fixtures: a small demo model published to a store by the library pipeline,
the real ``topictensor serve`` on a free loopback port, and headless Chromium -- Debian's system
package, driven by Playwright; no browser is ever downloaded.

Nothing here skips: without /usr/bin/chromium or the playwright package the tests FAIL, saying
what to install, so a CI machine that lacks them cannot pass by running nothing.

Screenshots go to ``$TOPICTENSOR_TEST_ARTIFACTS/screenshots/`` (default ``.artifacts/`` in the
repository); with ``UPDATE_SCREENSHOTS=1`` they are also written to ``docs/screenshots/`` for
the README, and the server answers from ``make demo``'s own store (the repository's
topictensor.yaml), so the README shows what a new user sees after ``make demo``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_START_SECONDS = 90


# ---- the model ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def explorer_config(tmp_path_factory) -> Path:
    """A config file whose store holds a published demo-like model (train, blogger vectors, index,
    clusters): a synth corpus through every pipeline stage. Seed 4 with 400 bloggers (~15-40 s).
    With UPDATE_SCREENSHOTS=1 the README's pictures are taken on the store ``make demo`` wrote
    (the repository's topictensor.yaml; the test fails if there is none yet).

    Deterministic training (one thread, bit-identical reruns), so what the tests assert about
    ``apple`` holds on every run; the synth spam tags are blacklisted as ``make demo``'s config does."""
    from topictensor import synth
    from topictensor.config import load_config
    from topictensor.pipeline import run_pipeline

    if readme_screenshots():
        from topictensor.registry import Registry

        demo = REPO / "topictensor.yaml"
        if Registry(load_config(demo, use_env=False).open_store()).production() is None:
            pytest.fail("UPDATE_SCREENSHOTS=1 takes the README's pictures on make demo's store: run `make demo` first")
        return demo
    root = tmp_path_factory.mktemp("explorer")
    corpus, min_bloggers = synth.SynthConfig(seed=4, n_bloggers=400, posts_per_blogger_mean=20), 2
    synth.write(synth.generate(corpus), root / "raw")
    spam = sorted({t for words in synth.SPAM_TAGS.values() for t in words} | set(synth.JUNK_TAGS))
    settings = {
        "store": {"uri": str(root / "store")},
        "ingest": {"input_uri": str(root / "raw")},
        "filter": {"min_bloggers": min_bloggers, "blacklist": {"*": spam}},
        "train": {"deterministic": True},
    }
    path = root / "topictensor.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True))
    run_pipeline(load_config(path, use_env=False))
    return path


# ---- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def explorer_url(explorer_config: Path, tmp_path_factory) -> Iterator[str]:
    """``topictensor serve`` (the installed command, uvicorn) on 127.0.0.1:<free port>; its base URL."""
    command = Path(sys.executable).with_name("topictensor")
    if not command.exists():
        pytest.fail(f"{command} not found: install the project into this environment (pip install -e '.[dev]')")
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOPICTENSOR__")}
    env["TOPICTENSOR_CONFIG"] = str(explorer_config)
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=explorer_config.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"topictensor serve exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"topictensor serve did not answer /health within {SERVER_START_SECONDS} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- the browser -----------------------------------------------------------------------------------

@pytest.fixture
def browser(system_chromium):
    """The session's shared headless Chromium (tests/conftest.py)."""
    return system_chromium


class OffsiteRequests(list):
    """Every request the page made to a host other than this machine's loopback."""

    def record(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.hostname not in LOOPBACK_HOSTS:
            self.append(request.url)


@pytest.fixture
def offsite() -> OffsiteRequests:
    return OffsiteRequests()


@pytest.fixture
def page(browser, explorer_url: str, offsite: OffsiteRequests):
    """A fresh page (own context: no cache or storage shared between tests). JavaScript errors
    fail the test, and so does any request that leaves the machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=explorer_url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("request", offsite.record)
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not offsite, f"the page reached beyond this machine: {offsite}"


# ---- screenshots -------------------------------------------------------------------------------------

def readme_screenshots() -> bool:
    return os.environ.get("UPDATE_SCREENSHOTS") == "1"


def artifacts_dir() -> Path:
    return Path(os.environ.get("TOPICTENSOR_TEST_ARTIFACTS") or REPO / ".artifacts")


@pytest.fixture
def screenshot():
    """``screenshot(page, "name")``: save ``explorer-name.png`` as a test artifact (and for the
    README with UPDATE_SCREENSHOTS=1). Returns the artifact's path."""
    def take(tab, name: str, *, full_page: bool = False) -> Path:
        out = artifacts_dir() / "screenshots" / f"explorer-{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.mouse.move(1, 1)  # no hover underline or tooltip left over from the last click
        tab.screenshot(path=str(out), full_page=full_page)
        if readme_screenshots():
            docs = REPO / "docs" / "screenshots" / out.name
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_bytes(out.read_bytes())
        return out
    return take
