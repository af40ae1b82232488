"""docker/airflow-init.sh (the compose `airflow-init` service) run against a fake `airflow` that
records its calls: migrate first, then the `train` pool, then the admin user; refuses placeholders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "airflow-init.sh"

GOOD_ENV = {
    "AIRFLOW_ADMIN_USERNAME": "ops",
    "AIRFLOW_ADMIN_PASSWORD": "0a1b2c3d",
    "AIRFLOW__CORE__FERNET_KEY": "x" * 44,
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:9f8e@postgres:5432/airflow",
}


def run_init(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = tmp_path / "airflow.log"
    fake = tmp_path / "bin" / "airflow"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    full_env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", **env}
    result = subprocess.run(["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=30)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_migrates_then_creates_the_pool_then_the_admin(tmp_path):
    result, calls = run_init(tmp_path, {**GOOD_ENV, "TRAIN_POOL_SLOTS": "2"})
    assert result.returncode == 0, result.stderr
    assert calls[0] == "db migrate"
    assert calls[1].startswith("pools set train 2 ")
    assert calls[2] == ("users create --username ops --password 0a1b2c3d --role Admin --firstname Admin "
                        "--lastname TopicTensor --email admin@example.org")
    assert len(calls) == 3


def test_pool_defaults_to_one_slot(tmp_path):
    result, calls = run_init(tmp_path, GOOD_ENV)
    assert result.returncode == 0, result.stderr
    assert calls[1].startswith("pools set train 1 ")


@pytest.mark.parametrize("change, complaint", [
    ({"AIRFLOW_ADMIN_PASSWORD": ""}, "AIRFLOW_ADMIN_PASSWORD"),
    ({"AIRFLOW_ADMIN_PASSWORD": "CHANGE_ME"}, "AIRFLOW_ADMIN_PASSWORD still holds a CHANGE_ME"),
    ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:CHANGE_ME@postgres/airflow"},
     "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN still holds a CHANGE_ME"),
    ({"TRAIN_POOL_SLOTS": "two"}, "TRAIN_POOL_SLOTS must be a positive integer"),
])
def test_refuses_missing_or_placeholder_settings_before_touching_the_database(tmp_path, change, complaint):
    result, calls = run_init(tmp_path, {**GOOD_ENV, **change})
    assert result.returncode != 0
    assert complaint in result.stderr
    assert calls == []


def test_a_failed_migration_stops_the_setup(tmp_path):
    fake_dir = tmp_path / "bin"
    fake_dir.mkdir()
    (fake_dir / "airflow").write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/airflow.log\n[ "$1" = db ] && exit 3\nexit 0\n')
    (fake_dir / "airflow").chmod(0o755)
    result = subprocess.run(["bash", str(SCRIPT)], env={"PATH": f"{fake_dir}:{os.environ['PATH']}", **GOOD_ENV},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert (tmp_path / "airflow.log").read_text().splitlines() == ["db migrate"]
