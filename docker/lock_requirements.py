"""Write docker/requirements.lock: every package of the image, pinned, resolved from PyPI.

The image installs exactly this list (``pip install --no-deps``), so a rebuild next month gets the
same versions as today's. The resolution starts from pyproject.toml's runtime dependencies plus
Airflow with the extras a Celery cluster needs, and prefers the versions of the environment that
runs this script (the one the test suite passed in), so the image runs what CI tested.
Only wheels are accepted: the image then needs no compiler.

    .venv/bin/python docker/lock_requirements.py     # rewrite the lock

tests/deploy/test_image_lock.py fails when pyproject.toml asks for something the lock lacks.

The lock is for CPython 3.11 on linux/x86_64 (the platform of the machine that resolves it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "docker" / "requirements.lock"
AIRFLOW_EXTRAS = "celery,postgres,fab"  # CeleryExecutor + Redis, Postgres metadata DB, FAB users


def image_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """Top-level requirements of the image: Airflow (as pinned in the airflow extra) and the
    project's runtime dependencies."""
    project = tomllib.loads(pyproject.read_text())["project"]
    airflow = [r for r in project["optional-dependencies"]["airflow"] if r.startswith("apache-airflow")]
    if len(airflow) != 1 or "==" not in airflow[0]:
        raise SystemExit(f"{pyproject}: the 'airflow' extra must pin apache-airflow exactly, got {airflow}")
    version = airflow[0].split("==", 1)[1]
    return [f"apache-airflow[{AIRFLOW_EXTRAS}]=={version}", *project["dependencies"]]


def current_pins() -> list[str]:
    """name==version of this interpreter's packages, as constraints (editables left out)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if "==" in line and not line.startswith("-")]


def resolve(requirements: list[str], constraints: list[str]) -> list[tuple[str, str]]:
    """(name, version) of everything pip would install from PyPI for these requirements."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints_file = Path(tmp) / "constraints.txt"
        constraints_file.write_text("\n".join(constraints) + "\n")
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--quiet", "--report", str(report), "-c", str(constraints_file),
               *requirements]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"pip could not resolve the image's requirements:\n{proc.stderr}")
        installs = json.loads(report.read_text())["install"]
    return sorted(((i["metadata"]["name"], i["metadata"]["version"]) for i in installs), key=lambda p: p[0].lower())


def render(requirements: list[str], pins: list[tuple[str, str]]) -> str:
    header = [
        "# The image's Python packages, every one pinned: written by docker/lock_requirements.py, do not edit.",
        "# Resolved for CPython 3.11, linux/x86_64, wheels only, from:",
        *[f"#   {r}" for r in requirements],
    ]
    return "\n".join(header + [f"{name}=={version}" for name, version in pins]) + "\n"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    requirements = image_requirements()
    pins = resolve(requirements, current_pins())
    LOCK.write_text(render(requirements, pins))
    print(f"wrote {LOCK.relative_to(REPO)}: {len(pins)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
