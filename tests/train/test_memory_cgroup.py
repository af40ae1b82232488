"""The memory check sees a container's limit, not the host's memory (/proc/meminfo shows the host)."""

from pathlib import Path

import pytest

from topictensor.errors import ResourceError
from topictensor.train.memory import available_memory, cgroup_headroom, check_memory, estimate_memory
from topictensor.train.params import TrainConfig

GiB = 1 << 30


def _write(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return str(root)


def test_cgroup_v2_headroom_is_limit_minus_usage(tmp_path):
    root = _write(tmp_path, {"memory.max": str(4 * GiB), "memory.current": str(1 * GiB)})
    assert cgroup_headroom(root) == 3 * GiB
    assert available_memory(root) <= 3 * GiB  # capped below the host's MemAvailable


def test_cgroup_v1_headroom_and_no_limit(tmp_path):
    v1 = _write(tmp_path / "v1", {"memory/memory.limit_in_bytes": str(2 * GiB),
                                  "memory/memory.usage_in_bytes": str(GiB // 2)})
    assert cgroup_headroom(v1) == GiB + GiB // 2
    unlimited_v1 = _write(tmp_path / "u1", {"memory/memory.limit_in_bytes": str(2**63 - 4096),
                                            "memory/memory.usage_in_bytes": "1"})
    unlimited_v2 = _write(tmp_path / "u2", {"memory.max": "max", "memory.current": "1"})
    assert cgroup_headroom(unlimited_v1) is None and cgroup_headroom(unlimited_v2) is None
    assert cgroup_headroom(str(tmp_path / "absent")) is None


def test_a_model_bigger_than_the_container_fails_before_training(tmp_path, monkeypatch):
    root = _write(tmp_path, {"memory.max": str(256 << 20), "memory.current": str(200 << 20)})
    estimate = estimate_memory(1_000_000, 10_000_000, TrainConfig(dim=100, threads=1), n_posts=1_000_000)
    with pytest.raises(ResourceError, match="available"):
        check_memory(estimate, available_memory(root))
