"""The whole refresh on a small planted corpus, without Airflow: results, reuse, crash safety."""

import pytest

from topictensor import synth
from topictensor.artifacts import Artifact
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.pipeline import run_pipeline
from topictensor.registry import Registry

BLACKLIST = {"*": sorted(set(synth.SPAM_TAGS["en"]))}


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    synth.write(synth.generate(synth.SynthConfig(seed=3, n_bloggers=500, posts_per_blogger_mean=20)), out,
                partition_by="week")
    return out


def make_config(store_dir, raw_dir, **train):
    return load_config(overrides={
        "store": {"uri": str(store_dir)},
        "ingest": {"input_uri": str(raw_dir)},
        "filter": {"min_bloggers": 2, "blacklist": BLACKLIST},
        "train": {"epochs": 5, "threads": 2, "seed": 1, **train},
    }, use_env=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, raw_dir):
    store_dir = tmp_path_factory.mktemp("store")
    config = make_config(store_dir, raw_dir)
    return config, run_pipeline(config, run_id="first")


def test_first_run_computes_every_stage_and_promotes(first_run):
    config, report = first_run
    assert report["promoted"] and report["previous_production"] is None
    assert all(not s["reused"] for s in report["stages"])
    assert {s["stage"] for s in report["stages"]} == {"bloggers", "ingest", "normalize", "window", "prepare",
                                                        "cooccur", "filter", "reweight", "split", "train", "evaluate",
                                                        "blogger_vectors", "index", "clusters"}
    assert len([s for s in report["stages"] if s["stage"] == "ingest"]) == 8  # one per weekly partition
    registry = Registry(config.open_store())
    assert registry.production() == report["version"]
    manifest = registry.get_version(report["version"])
    assert manifest["metrics"]["quality"] == report["quality"] > 0.1
    assert manifest["counts"]["ingest"]["posts_out"] > 5000


def test_car_tags_are_nearest_to_bmw(first_run):
    config, report = first_run
    registry = Registry(config.open_store())
    emb = Embeddings.load(registry.artifact(None, "train").path("embeddings.parquet"))
    cars = synth.theme_tags("cars")
    top = [t for t, _ in emb.neighbours("bmw", k=10, exclude=("bmw",))]
    assert sum(t in cars for t in top) >= 7, top


def test_second_run_does_no_work(first_run):
    config, report = first_run
    again = run_pipeline(config, run_id="second")
    assert all(s["reused"] for s in again["stages"])
    assert again["version"] == report["version"] and again["promoted"] is False


def test_flipped_bits_in_a_reused_artifact_make_the_rerun_recompute_it(first_run):
    """Issue 13.2: bits flipped in a split's train.parquet (same size) were reused by the next run."""
    config, report = first_run
    store = config.open_store()
    split = Registry(store).artifact(report["version"], "split")
    part = Artifact(store, split.read_json("parts.json")["prepared"][0])  # one partition's share of the split
    path = part.path("train.parquet")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))
    again = run_pipeline(config, run_id="flipped")
    redone = [(s["stage"], s["key"]) for s in again["stages"] if not s["reused"]]
    assert redone == [("prepare", part.ref.key)]  # the same key: everything downstream is still valid
    assert again["version"] == report["version"]
    assert Artifact(store, part.ref).problems() == []


def test_changing_a_training_parameter_reruns_only_downstream(first_run, raw_dir):
    config, report = first_run
    changed = make_config(config.store.uri, raw_dir, dim=32)
    new = run_pipeline(changed, run_id="dim32")
    reused = {s["stage"]: s["reused"] for s in new["stages"]}
    assert reused == {"bloggers": True, "ingest": True, "normalize": True, "window": True, "prepare": True,
                      "cooccur": True, "filter": True, "reweight": True, "split": True,
                      "train": False, "evaluate": False, "blogger_vectors": False, "index": False, "clusters": False}
    assert new["version"] != report["version"]


def test_a_crash_midway_leaves_no_partial_version(tmp_path, raw_dir, monkeypatch):
    import topictensor.modeldir as modeldir

    config = make_config(tmp_path / "store", raw_dir, epochs=1)
    real = modeldir.train_to_dir

    def crash_after_partial_write(table, cfg, out_dir):
        (out_dir / "embeddings.parquet").write_bytes(b"half a file")
        raise RuntimeError("worker killed")

    monkeypatch.setattr(modeldir, "train_to_dir", crash_after_partial_write)
    with pytest.raises(RuntimeError, match="worker killed"):
        run_pipeline(config, run_id="crash")
    store = config.open_store()
    assert Registry(store).production() is None
    assert not [k for k in store.list("artifacts/train") if k.endswith("_MANIFEST.json")]
    assert store.list("versions") == []

    monkeypatch.setattr(modeldir, "train_to_dir", real)
    report = run_pipeline(config, run_id="after crash")
    reused = {s["stage"]: s["reused"] for s in report["stages"]}
    assert reused["split"] and not reused["train"]  # only the crashed stage onwards is redone
    registry = Registry(store)
    assert registry.production() == report["version"]
    for entries in registry.get_version(report["version"])["stages"].values():
        for ref in entries:  # every artifact of the promoted version is complete
            Artifact(store, ref).path(Artifact(store, ref).manifest["files"][0]["name"])


def test_mirror_words_of_other_languages_are_near_zerkalo(first_run):
    config, _ = first_run
    emb = Embeddings.load(Registry(config.open_store()).artifact(None, "train").path("embeddings.parquet"))
    language_of = {w: lang for lang, words in synth.THEMES["mirror"].items() if lang != "ru" for w in words}
    top = [t for t, _ in emb.neighbours("зеркало", k=30, exclude=("зеркало",))]
    mirror_words = [t for t in top if t in language_of]
    assert len(mirror_words) >= 5 and len({language_of[t] for t in mirror_words}) >= 2, top
