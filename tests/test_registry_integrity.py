"""The production pointer under faults and hostile input (issue 13, items 3-5), local and S3.

- a process killed between moving the pointer and writing its history event (3);
- version ids that could name another key, from the CLI and the library (4);
- a damaged ``production.json`` (invalid JSON, a list, no ``version``): clear errors, and a plain
  promote repairs it with the history recording the repair (5).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from topictensor.registry import POINTER, Registry, RegistryError
from topictensor.store import LocalStore


def _plant(registry: Registry, n: int = 3) -> None:
    for i in range(n):
        registry.write_version({"version": f"v{i}", "created_at": f"2026-01-0{i + 1}", "metrics": {"quality": 0.2},
                                "stages": {}, "counts": {}})


def _config_file(tmp_path, store) -> str:
    cfg = tmp_path / "tt.yaml"
    if isinstance(store, LocalStore):
        cfg.write_text(f"store:\n  uri: {store.root}\n")
    else:
        endpoint = store.client.meta.endpoint_url
        cfg.write_text(f"store:\n  uri: {store.uri}\n  endpoint_url: {endpoint}\n")
    return str(cfg)


def _cli(*args: str, cache: str):
    """The real entry point in a subprocess (its error handling included)."""
    env = {**os.environ, "TOPICTENSOR_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-c", "from topictensor.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _store_args(store) -> str:
    if isinstance(store, LocalStore):
        return f"LocalStore({str(store.root)!r})"
    return f"open_store({store.uri!r}, endpoint_url={store.client.meta.endpoint_url!r})"


# ------------------------------------------------------------------------- 3: pointer + history

def test_a_kill_between_the_pointer_move_and_the_history_write_is_completed_by_the_next_command(store, tmp_path):
    registry = Registry(store)
    _plant(registry)
    registry.promote("v0", by="ann")
    # Kill -9 the promoting process right after its pointer write, before its history write.
    script = textwrap.dedent(f"""
        import os, signal
        from topictensor.registry import Registry
        from topictensor.store import LocalStore, open_store
        Registry._append_history = lambda self, event: os.kill(os.getpid(), signal.SIGKILL)
        Registry({_store_args(store)}).promote("v1", by="bob", reason="killed")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    assert registry.production() == "v1"  # the pointer moved ...

    cfg = _config_file(tmp_path, store)
    cache = str(tmp_path / "cache")
    # ... the rerun of the same promote finds it there and the history has it
    again = _cli("versions", "promote", "v1", "-c", cfg, cache=cache)
    assert again.returncode == 0, again.stderr
    history = Registry(store).history()
    assert [(e["action"], e["version"], e["previous"], e["by"]) for e in history] == [
        ("promote", "v0", None, "ann"), ("promote", "v1", "v0", "bob")]
    assert history[1]["reason"] == "killed"
    # ... so a rollback goes back to v0, as it would have without the kill
    back = _cli("versions", "rollback", "-c", cfg, cache=cache)
    assert back.returncode == 0, back.stderr
    assert registry.production() == "v0"
    assert [e["action"] for e in registry.history()] == ["promote", "promote", "rollback"]


def test_completing_the_history_twice_writes_one_event(store):
    registry = Registry(store)
    _plant(registry)
    registry.promote("v0")
    registry.store.delete_prefix("history")  # as if the history write had been lost
    assert registry.complete_history()["version"] == "v0"
    assert registry.complete_history() is None
    assert Registry(store).complete_history() is None
    assert [e["version"] for e in registry.history()] == ["v0"]


# ------------------------------------------------------------------------------ 4: hostile ids

HOSTILE_IDS = ["../production", "..", ".", "", "v0/../v1", "a/b", "/etc/passwd", "v0.json", "v0\n", " v0",
               "x" * 65, "-rf"]


@pytest.mark.parametrize("vid", HOSTILE_IDS)
def test_hostile_version_ids_are_refused_by_every_registry_entry(tmp_path, vid):
    registry = Registry(LocalStore(tmp_path / "store"))
    _plant(registry)
    registry.promote("v0")
    for call in (lambda: registry.promote(vid), lambda: registry.get_version(vid),
                 lambda: registry.rollback(to=vid), lambda: registry.artifact(vid, "train"),
                 lambda: registry.write_version({"version": vid})):
        with pytest.raises(RegistryError, match="invalid model version id"):
            call()
    assert registry.production() == "v0"
    assert sorted(os.listdir(tmp_path / "store" / "versions")) == ["v0.json", "v1.json", "v2.json"]


def test_the_id_format_accepts_what_the_registry_mints_and_planted_names():
    from topictensor.registry import check_version_id, version_id

    for vid in (version_id({"train": "x"}), "v0", "tags-only", "A_1"):
        assert check_version_id(vid) == vid


def test_cli_promote_of_a_hostile_id_is_refused_and_later_commands_work(store, tmp_path):
    registry = Registry(store)
    _plant(registry)
    registry.promote("v0")
    cfg = _config_file(tmp_path, store)
    cache = str(tmp_path / "cache")
    done = _cli("versions", "promote", "../production", "-c", cfg, cache=cache)
    assert done.returncode == 2
    assert "invalid model version id '../production'" in done.stderr and "Traceback" not in done.stderr
    assert registry.production() == "v0"
    for args in (["versions", "list"], ["versions", "show"], ["versions", "history"]):
        later = _cli(*args, "-c", cfg, cache=cache)
        assert later.returncode == 0, (args, later.stderr)
    shown = _cli("versions", "show", "../production", "-c", cfg, cache=cache)
    assert shown.returncode == 2 and "invalid model version id" in shown.stderr
    rolled = _cli("versions", "rollback", "--to", "../v1", "-c", cfg, cache=cache)
    assert rolled.returncode == 2 and "invalid model version id" in rolled.stderr


# -------------------------------------------------------------------------- 5: damaged pointer

DAMAGED = {
    "invalid JSON": (b'{"version": "v0"', "not valid JSON"),
    "a list": (b'["v0"]', "a JSON list, not an object"),
    "no version key": (b'{"previous": "v0"}', "no 'version' key"),
    "a hostile version": (b'{"version": "../production"}', "invalid model version id"),
    "not UTF-8": (b'\xff\xfe', "not valid JSON"),
}


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_pointer_gives_clear_errors_and_promote_repairs_it(store, tmp_path, damage):
    data, message = DAMAGED[damage]
    registry = Registry(store)
    _plant(registry)
    registry.promote("v0")
    store.write_bytes(POINTER, data)
    with pytest.raises(RegistryError, match=message):
        registry.production()
    with pytest.raises(RegistryError, match="repair it with `topictensor versions promote VERSION`"):
        registry.rollback()
    with pytest.raises(RegistryError, match="is damaged"):
        registry.promote("v1", expected="v0")  # a caller that expects a version is told, not overridden

    cfg = _config_file(tmp_path, store)
    cache = str(tmp_path / "cache")
    listing = _cli("versions", "list", "-c", cfg, cache=cache)
    assert listing.returncode == 1 and "Traceback" not in listing.stderr
    assert "production pointer" in listing.stderr and "is damaged" in listing.stderr and message in listing.stderr

    repaired = _cli("versions", "promote", "v1", "-c", cfg, cache=cache)
    assert repaired.returncode == 0, repaired.stderr
    assert registry.production() == "v1"
    last = registry.history()[-1]
    assert (last["action"], last["version"], last["previous"]) == ("promote", "v1", None)
    assert message in last["repaired"]
    assert _cli("versions", "list", "-c", cfg, cache=cache).returncode == 0
