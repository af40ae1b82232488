"""Airflow needs its home and DB before it is imported: a project-local SQLite home, migrated once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the project-local Airflow DB if `make airflow-init` has not."""
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".initialised"
    if not marker.exists():
        home.mkdir(parents=True, exist_ok=True)
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
        subprocess.run([str(airflow), "pools", "set", "train", "1", "training"], check=True, capture_output=True)
        marker.touch()
    return home
