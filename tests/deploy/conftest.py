"""Helpers of the deployment tests: docker/compose_check.py loaded as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def load_docker_module(name: str):
    """A script of docker/ (they are not a package) imported by path, once."""
    key = f"_docker_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, DOCKER / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def compose_check():
    return load_docker_module("compose_check")


@pytest.fixture(scope="session")
def example_env(compose_check) -> dict[str, str]:
    return compose_check.read_env_file(DOCKER / ".env.example")


@pytest.fixture(scope="session")
def compose(compose_check, example_env) -> tuple[dict, dict]:
    """(as written, interpolated with .env.example) docker/docker-compose.yml, schema-checked."""
    return compose_check.load_compose((DOCKER / "docker-compose.yml").read_text(), example_env, "docker-compose.yml")


@pytest.fixture(scope="session")
def make_env():
    return load_docker_module("make_env")
