"""Retention (topictensor gc): what a kept version, production or the current window needs stays,
complete; what nothing needs goes; a dry run deletes nothing. Locally and on S3."""

from __future__ import annotations

import hashlib
import shutil
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from topictensor import synth
from topictensor.artifacts import MANIFEST, Artifact
from topictensor.config import load_config
from topictensor.gc import _reachable, collect, window_artifacts
from topictensor.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parent / "stages"))
from graph_prefix import run_until  # noqa: E402


@pytest.fixture(scope="module")
def weekly_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("gc-weekly") / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=21, n_bloggers=120, posts_per_blogger_mean=10)), out,
                partition_by="week")
    return out


@pytest.fixture(params=["local", "s3"])
def store_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store"), None
    return request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_server")


def plant_versions(config, raw: Path):
    """Three weekly models (only their split is named: the rest must be found through the manifests'
    inputs), the oldest week in production, the newest version a backfill of an early week."""
    weeks = sorted(p.name[3:] for p in (raw / "posts").glob("dt=*"))
    end = {i: (date.fromisoformat(weeks[i]) + timedelta(days=7)).isoformat() for i in range(len(weeks))}
    runs = {"latest": run_until(config, "split", as_of=end[7]),   # weeks 6, 7 (the current window)
            "middle": run_until(config, "split", as_of=end[4])}   # weeks 3, 4
    part = next((raw / "posts" / f"dt={weeks[3]}").glob("part-*.parquet"))  # week 3 re-delivered afterwards
    pq.write_table(pq.read_table(part).slice(5), part)
    runs["backfill"] = run_until(config, "split", as_of=end[1])    # weeks 0, 1
    registry = Registry(config.open_store())
    start = datetime.now(timezone.utc)
    for i, (name, results) in enumerate(runs.items()):
        registry.write_version({"version": name, "created_at": (start + timedelta(seconds=i)).isoformat(),
                                "stages": {"split": [{"stage": "split", "key": results["split"]["key"]}]}})
    registry.promote("latest", reason="test")
    return runs, weeks


def names(results) -> set[str]:
    out = set()
    for value in results.values():
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict) and "stage" in ref and "key" in ref:
                out.add(f"{ref['stage']}/{ref['key']}")
    return out


def complete(store, name: str) -> bool:
    stage, key = name.split("/")
    if not store.exists(f"artifacts/{name}/{MANIFEST}"):
        return False
    art = Artifact(store, {"stage": stage, "key": key})
    return all(hashlib.sha256(art.path(f["name"]).read_bytes()).hexdigest() == f["sha256"]
               for f in art.manifest["files"])


def test_gc_keeps_what_kept_versions_production_and_the_window_need(tmp_path, weekly_corpus, store_uri):
    raw = tmp_path / "raw"
    shutil.copytree(weekly_corpus, raw)
    uri, endpoint = store_uri
    config = load_config(overrides={"store": {"uri": uri, "endpoint_url": endpoint},
                                    "ingest": {"input_uri": str(raw), "window_days": 14},
                                    "filter": {"min_bloggers": 2}}, use_env=False)
    store = config.open_store()
    runs, weeks = plant_versions(config, raw)
    everything = sorted({"/".join(k.split("/")[1:3]) for k in store.list("artifacts")})

    dry = collect(config, keep_versions=1)  # the default is a dry run
    assert sorted({"/".join(k.split("/")[1:3]) for k in store.list("artifacts")}) == everything
    assert dry.kept_versions == ["backfill", "latest"] and not dry.deleted

    needed = names(runs["latest"]) | names(runs["backfill"])  # newest version + production
    only_middle = names(runs["middle"]) - needed
    assert only_middle and set(dry.delete) == only_middle  # exactly the middle model's own artifacts
    # its weeks 3 and 4 went with it; week 3's re-delivery was never ingested, so nothing of it to keep
    assert {n.split("/")[0] for n in only_middle} >= {"ingest", "normalize", "window", "split"}

    # the cooccur stage's lookup entries of the middle model's counts are stale once those go
    entries = store.list("indexes/")
    stale = [e for e in entries if f"cooccur/{e.rsplit('/', 1)[-1].removesuffix('.json')}" in only_middle]
    assert stale and sorted(stale) == dry.stale_index_entries and store.list("indexes/") == entries

    done = collect(config, keep_versions=1, dry_run=False)
    assert done.deleted and set(done.delete) == only_middle
    left = store.list("indexes/")
    assert left and sorted(left) == sorted(set(entries) - set(stale))
    for entry in left:  # every entry left points at a complete, kept artifact
        assert complete(store, f"cooccur/{entry.rsplit('/', 1)[-1].removesuffix('.json')}"), entry
    for name in needed:
        assert complete(store, name), name  # production and the kept version are whole
    for name in only_middle:
        assert not store.list(f"artifacts/{name}"), name
    assert store.list("gc")  # the collection's report
    assert Registry(store).production() == "latest"

    again = collect(config, keep_versions=1, dry_run=False)
    assert again.delete == []  # nothing more to collect


def test_the_current_windows_partitions_are_kept_without_any_version(tmp_path, weekly_corpus):
    raw = tmp_path / "raw"
    shutil.copytree(weekly_corpus, raw)
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                    "ingest": {"input_uri": str(raw), "window_days": 14}}, use_env=False)
    prepared = run_until(config, "normalize")  # next week's run will reuse these
    current = {f"{r['stage']}/{r['key']}" for r in prepared["ingest"] + prepared["normalize"] + [prepared["bloggers"]]}
    assert window_artifacts(config) == current
    weeks = sorted(p.name[3:] for p in (raw / "posts").glob("dt=*"))
    shutil.rmtree(raw / "posts" / f"dt={weeks[-1]}")  # the newest week withdrawn: the window moves back
    moved = window_artifacts(config)
    assert moved != current and len([n for n in moved if n.startswith("ingest/")]) == 2


def test_reachability_follows_inputs_transitively():
    manifests = {
        "train/t": {"inputs": {"split": "split/s", "warm": "train/old"}},
        "split/s": {"inputs": {"weighted": "reweight/r"}},
        "reweight/r": {"inputs": {"filtered": ["filter/a", "filter/b"]}},
        "filter/a": {"inputs": {"normalized": "window/w"}},
        "filter/b": {"inputs": {"normalized": "window/w"}},
        "window/w": {"inputs": {"bloggers": "bloggers/x", "partitions": ["normalize/n1"]}},
        "normalize/n1": {"inputs": {"raw": "ingest/i1"}},
        "ingest/i1": {"inputs": {"raw": {"prefix": "posts/dt=2026-01-05", "uri": "s3://raw/x", "listing": "ab"}}},
        "bloggers/x": {"inputs": {}},
        "train/old": {"inputs": {}},
        "ingest/i0": {"inputs": {}},
    }
    assert _reachable(["train/t"], manifests) == set(manifests) - {"ingest/i0"}
