"""A real ``airflow api-server`` (one per session, on a free loopback port) with the project's
AIRFLOW_HOME and plugins, SimpleAuthManager users admin (Admin) and viewer (Viewer), and
topictensor's config pointed at a planted registry; plus headless Chromium through Playwright
driving the system browser (Debian's ``chromium``; nothing is downloaded)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from versions_planted_registry import plant_registry, write_config  # noqa: E402

PASSWORDS = {"admin": "admin-ui-pw", "viewer": "viewer-ui-pw"}
STARTUP_SECONDS = 180  # the api-server imports all of Airflow; ~25-45 s on a loaded 2-core machine
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


@dataclass
class AirflowServer:
    url: str
    store: Path  # the planted registry the plugin reads (through TOPICTENSOR_CONFIG)
    log: Path
    passwords: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _airflow_env(tmp: Path, port: int) -> dict[str, str]:
    (tmp / "passwords.json").write_text(json.dumps(PASSWORDS))
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "airflow-ui-test-secret-" + "x" * 48,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "NUMBA_CACHE_DIR": str(ROOT / ".numba_cache"),
        "TOPICTENSOR_CONFIG": str(write_config(tmp / "topictensor.yaml", tmp / "store")),
    })
    return env


def _migrate_once(env: dict[str, str]) -> None:
    """Like tests/airflow's fixture: migrate the project-local DB unless `make airflow-init` did."""
    marker = Path(env["AIRFLOW_HOME"]) / ".initialised"
    if marker.exists():
        return
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=env)
    subprocess.run([str(airflow), "pools", "set", "train", "1", "training"], check=True, capture_output=True, env=env)
    marker.touch()


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory) -> AirflowServer:
    tmp = tmp_path_factory.mktemp("airflow_ui")
    plant_registry(tmp / "store")
    yield from _serve(tmp)


@pytest.fixture(scope="session")
def demo_store_server(tmp_path_factory) -> AirflowServer:
    """The view over a copy of `make demo`'s store (the README's picture shows real versions;
    a copy, so that nothing here can move the demo's production pointer)."""
    from topictensor.config import load_config
    from topictensor.registry import Registry
    from topictensor.store import LocalStore

    demo = Path(load_config(ROOT / "topictensor.yaml", use_env=False).store.uri)
    if not (demo / "production.json").is_file():
        pytest.fail(f"no demo model in {demo}: run `make demo` first")
    tmp = tmp_path_factory.mktemp("airflow_ui_demo")
    shutil.copytree(demo, tmp / "store", ignore=shutil.ignore_patterns("artifacts"))
    (tmp / "store" / "artifacts").symlink_to(demo / "artifacts")  # read-only use: the view reads manifests
    assert Registry(LocalStore(tmp / "store")).production() is not None
    yield from _serve(tmp)


def _serve(tmp: Path):
    """An Airflow api-server whose TopicTensor plugin reads the store in ``tmp / "store"``."""
    port = _free_port()
    env = _airflow_env(tmp, port)
    _migrate_once(env)
    log = tmp / "api-server.log"
    airflow = Path(sys.executable).with_name("airflow")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield AirflowServer(url=url, store=tmp / "store", log=log, passwords=dict(PASSWORDS))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"airflow api-server did not answer at {url} within {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def browser(system_chromium):
    """The session's shared headless Chromium (tests/conftest.py)."""
    return system_chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def save_screenshot():
    """save_screenshot(page, name, readme=False): into .artifacts/screenshots/ always, and into
    docs/screenshots/ too when it is a README picture and UPDATE_SCREENSHOTS=1 (the README's
    pictures come from the demo store, never from the planted registry)."""

    def save(page, name: str, readme: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    return save
