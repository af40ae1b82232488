"""The weekly refresh over date partitions: incremental preparation, the training window, backfills,
and a worker killed in the middle of a partition."""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from topictensor import synth
from topictensor.artifacts import Artifact
from topictensor.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent / "stages"))
from graph_prefix import run_until  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers.kill import kill_when_marked  # noqa: E402


@pytest.fixture(scope="module")
def weekly_corpus(tmp_path_factory):
    """Eight weekly partitions (posts and a bloggers snapshot per week)."""
    out = tmp_path_factory.mktemp("weekly") / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=9, n_bloggers=200, posts_per_blogger_mean=12)), out,
                partition_by="week")
    return out


@pytest.fixture
def raw(tmp_path, weekly_corpus):
    target = tmp_path / "raw"
    shutil.copytree(weekly_corpus, target)
    return target


def days(raw: Path) -> list[str]:
    return sorted(p.name[3:] for p in (raw / "posts").glob("dt=*"))


def config_for(tmp_path, raw, **ingest):
    return load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                  "ingest": {"input_uri": str(raw), **ingest},
                                  "filter": {"min_bloggers": 2},
                                  "train": {"epochs": 1, "dim": 16, "threads": 2, "seed": 1}}, use_env=False)


def computed(results, stage):
    """The partition days (or labels) of the elements of a mapped stage that were computed, not reused."""
    return sorted(r["dt"] for r, ref in zip(results["plan"], results[stage]) if not ref["reused"])


def window_posts(config, results) -> pa.Table:
    """The window's posts: both sides of every prepared partition (all tags, before the filter)."""
    store = config.open_store()
    return pa.concat_tables([Artifact(store, ref).read_table(f"{side}.parquet")
                             for ref in results["prepare"] for side in ("train", "heldout")])


def test_a_new_partition_prepares_only_itself(tmp_path, raw):
    newest = days(raw)[-1]
    parked = tmp_path / "parked"
    for table in ("posts", "bloggers"):  # this week's delivery has not arrived yet
        (parked / table).mkdir(parents=True)
        shutil.move(raw / table / f"dt={newest}", parked / table / f"dt={newest}")
    config = config_for(tmp_path, raw)
    first = run_until(config, "prepare")
    assert computed(first, "ingest") == days(raw) and len(days(raw)) == 7

    for table in ("posts", "bloggers"):  # next week's delivery arrives
        shutil.move(parked / table / f"dt={newest}", raw / table / f"dt={newest}")
    second = run_until(config, "window")
    assert [p["dt"] for p in second["plan"]] == days(raw) and len(days(raw)) == 8
    assert computed(second, "ingest") == [newest]
    assert computed(second, "normalize") == [newest]
    assert not second["window"]["reused"]
    ingested = sum(r["counts"]["posts_out"] for r in second["ingest"])
    assert second["window"]["counts"]["posts_in"] == ingested  # the window holds every partition's posts
    prepared = run_until(config, "prepare")
    assert computed(prepared, "prepare") == [newest]  # the old partitions' shares of the split are reused
    assert second["window"]["counts"]["posts_out"] == window_posts(config, prepared).num_rows == ingested

    # The incremental window is the one a fresh store computes from scratch (same key, same files).
    scratch = run_until(config_for(tmp_path / "fresh", raw), "filter")
    assert scratch["window"]["key"] == second["window"]["key"]
    assert all(not r["reused"] for r in scratch["ingest"])


def test_a_changed_or_deleted_old_partition_redoes_only_itself(tmp_path, raw):
    config = config_for(tmp_path, raw)
    first = run_until(config, "window")
    oldest, middle = days(raw)[0], days(raw)[3]
    part = next((raw / "posts" / f"dt={oldest}").glob("part-*.parquet"))
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 10), part)  # a corrected re-delivery: 10 posts fewer

    second = run_until(config, "window")
    assert computed(second, "ingest") == [oldest] and computed(second, "normalize") == [oldest]
    assert second["window"]["counts"]["posts_in"] == first["window"]["counts"]["posts_in"] - 10

    shutil.rmtree(raw / "posts" / f"dt={middle}")  # a partition withdrawn
    third = run_until(config, "window")
    assert middle not in [p["dt"] for p in third["plan"]]
    assert computed(third, "ingest") == [] and computed(third, "normalize") == []
    gone = next(r for p, r in zip(second["plan"], second["ingest"]) if p["dt"] == middle)["counts"]["posts_out"]
    assert third["window"]["counts"]["posts_in"] == second["window"]["counts"]["posts_in"] - gone


def test_the_window_excludes_old_posts_and_moves_with_as_of(tmp_path, raw):
    all_days = days(raw)
    end = date.fromisoformat(all_days[-1]) + timedelta(days=7)
    config = config_for(tmp_path, raw, window_days=14)
    latest = run_until(config, "prepare", as_of=end.isoformat())
    assert [p["dt"] for p in latest["plan"]] == all_days[-2:]
    posts = window_posts(config, latest)
    start = end - timedelta(days=14)
    created = posts.column("created_at")
    assert pc.min(created).as_py().date() >= start and pc.max(created).as_py().date() < end

    earlier = run_until(config, "window", as_of=(end - timedelta(days=7)).isoformat())
    assert [p["dt"] for p in earlier["plan"]] == all_days[-3:-1]
    assert computed(earlier, "ingest") == [all_days[-3]]  # the one partition not read before
    assert earlier["window"]["key"] != latest["window"]["key"]
    # Partitions outside every window asked for were never read: no ingest artifact names them.
    store = config.open_store()
    read = {Artifact(store, {"stage": "ingest", "key": k.split("/")[2]}).manifest["params"]["dt"]
            for k in store.list("artifacts/ingest") if k.endswith("_MANIFEST.json")}
    assert read == set(all_days[-3:])
    # The bloggers snapshot is the newest before the window's end, so the older run got an older one.
    assert Artifact(store, earlier["bloggers"]).manifest["params"]["dt"] == all_days[-2]


def test_a_backfill_for_a_past_date_trains_on_that_dates_window(tmp_path, raw):
    all_days = days(raw)
    past = (date.fromisoformat(all_days[-3]) + timedelta(days=7)).isoformat()  # the week of all_days[-3]
    config = config_for(tmp_path, raw, window_days=21)
    week = run_until(config, "train", as_of=past)
    assert [p["dt"] for p in week["plan"]] == all_days[-5:-2]
    now = run_until(config, "train")  # the run of the latest week
    assert [p["dt"] for p in now["plan"]] == all_days[-3:]
    assert now["train"]["key"] != week["train"]["key"]

    backfill = run_until(config, "train", as_of=past)  # a backfill of that week, after newer data arrived
    assert backfill["window"]["key"] == week["window"]["key"]
    assert backfill["train"]["key"] == week["train"]["key"] and backfill["train"]["reused"]
    trained = Artifact(config.open_store(), backfill["window"]).manifest["extra"]["partitions"]
    assert trained == all_days[-5:-2]


KILLED_WORKER = """
import sys, time
from topictensor.config import load_config
from topictensor.partitions import Partition
from topictensor.stages.ingest import ingest_partition
from topictensor.store.local import LocalStore

real = LocalStore.upload_file
def slow_upload(self, key, path):
    real(self, key, path)
    open(sys.argv[3], "w").write(key)  # one file of the artifact is up: now kill me
    time.sleep(120)
LocalStore.upload_file = slow_upload
config = load_config(overrides={"store": {"uri": sys.argv[1]}, "ingest": {"input_uri": sys.argv[2]}}, use_env=False)
ingest_partition(Partition("posts", "posts/dt=" + sys.argv[4], sys.argv[4]), config)
"""


def test_a_worker_killed_mid_partition_leaves_no_manifest_and_the_rerun_completes(tmp_path, raw):
    day = days(raw)[2]
    config = config_for(tmp_path, raw)
    marker = tmp_path / "uploading"
    kill_when_marked([sys.executable, "-c", KILLED_WORKER, config.store.uri, str(raw), str(marker), day], marker,
                     timeout=120, what="its upload")
    store = config.open_store()
    left = store.list("artifacts/ingest")
    assert left and not [k for k in left if k.endswith("_MANIFEST.json")]  # half an artifact, not a complete one

    results = run_until(config, "window")
    redone = next(r for p, r in zip(results["plan"], results["ingest"]) if p["dt"] == day)
    assert not redone["reused"]
    art = Artifact(store, redone)
    import hashlib

    for entry in art.manifest["files"]:  # what the manifest lists is what is there
        assert hashlib.sha256(art.path(entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    assert results["window"]["counts"]["partitions"] == len(days(raw))


def test_two_worker_processes_prepare_the_same_artifacts_as_one(tmp_path, raw):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    one = run_until(config_for(tmp_path / "one", raw), "filter")
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        two = run_until(config_for(tmp_path / "two", raw), "filter", jobs_pool=pool)
    for stage in ("ingest", "normalize", "filter"):
        assert [r["key"] for r in two[stage]] == [r["key"] for r in one[stage]]
        assert not any(r["reused"] for r in two[stage])  # computed in the pool, not found in the store
    assert two["window"]["key"] == one["window"]["key"]


@pytest.fixture
def parquet_reads(monkeypatch):
    """Every parquet file opened (ParquetFile, read_table, read_schema, read_metadata), by path."""
    opened: list[str] = []
    for name in ("ParquetFile", "read_table", "read_schema", "read_metadata"):
        real = getattr(pq, name)

        def spy(source, *args, _real=real, **kwargs):
            opened.append(str(source))
            return _real(source, *args, **kwargs)
        monkeypatch.setattr(pq, name, spy)
    return opened


def test_a_new_weeks_preparation_reads_no_old_partitions_posts(tmp_path, raw, parquet_reads):
    """Through the whole preparation (split included), the new week reads the new partition's posts
    and the window's small tables; no old partition's posts (raw, ingested, normalised or prepared).
    The split it ends with is the one a fresh store computes from scratch."""
    newest = days(raw)[-1]
    parked = tmp_path / "parked"
    for table in ("posts", "bloggers"):
        (parked / table).mkdir(parents=True)
        shutil.move(raw / table / f"dt={newest}", parked / table / f"dt={newest}")
    config = config_for(tmp_path, raw)
    config.filter.generic_mode = "off"  # generic-tag scores recount every week: see the next test
    first = run_until(config, "split")
    old = {stage: {r["key"] for r in first[stage]} for stage in ("ingest", "normalize", "prepare")}
    for table in ("posts", "bloggers"):
        shutil.move(parked / table / f"dt={newest}", raw / table / f"dt={newest}")

    parquet_reads.clear()
    second = run_until(config, "split")
    assert computed(second, "prepare") == [newest] and not second["split"]["reused"]
    posts_files = ("posts.parquet", "train.parquet", "heldout.parquet")
    read_old = [p for p in parquet_reads
                if any(f"/artifacts/{stage}/{key}/" in p for stage, keys in old.items() for key in keys)
                and p.endswith(posts_files)]
    assert read_old == []
    assert not [p for p in parquet_reads if "/posts/dt=" in p and f"dt={newest}" not in p]
    assert [p for p in parquet_reads if f"dt={newest}" in p]  # the new partition was read (the spy works)
    # nor the new one's: filter, reweight and split read small tables (the split is read by train)
    assert [p for p in parquet_reads if "/artifacts/prepare/" in p and p.endswith(posts_files)] == []

    fresh = config_for(tmp_path / "fresh", raw)
    fresh.filter.generic_mode = "off"
    scratch = run_until(fresh, "split")
    assert scratch["split"]["key"] == second["split"]["key"]


def test_generic_tag_scores_recount_the_prepared_partitions_when_their_candidates_move(tmp_path, raw):
    """The trade-off of exact generic-tag scores: the co-occurrences of the review candidates are
    counted again in every partition when the candidate list of a language moves (here: a new week
    brings new tags into a vocabulary smaller than review_top_n), reading only the prepared
    partitions' tags; the partitions' split itself is not redone."""
    config = config_for(tmp_path, raw, window_days=21)
    all_days = days(raw)
    before = run_until(config, "filter", as_of=all_days[-1])
    after = run_until(config, "filter")
    assert computed(after, "prepare") == [all_days[-1]]
    assert sorted(r["dt"] for r, ref in zip(after["plan"], after["cooccur"]) if not ref["reused"]) == all_days[-3:]
    assert {r["key"] for r in before["prepare"]} & {r["key"] for r in after["prepare"]}


def test_a_post_redelivered_in_a_newer_partition_is_kept_once_from_the_newest(tmp_path, raw):
    """Duplicates across partitions: the newer partition's copy wins; the older partition's share of
    the split is redone (its dropped rows changed) and rejects its copies, naming them; every other
    partition is reused."""
    from topictensor import contract

    all_days = days(raw)
    oldest, newest = all_days[0], all_days[-1]
    config = config_for(tmp_path, raw)
    first = run_until(config, "split")
    source = next((raw / "posts" / f"dt={oldest}").glob("part-*.parquet"))
    again = pq.read_table(source).slice(0, 3)
    pq.write_table(again, raw / "posts" / f"dt={newest}" / "part-redelivered.parquet")

    second = run_until(config, "split")
    assert computed(second, "ingest") == [newest] and computed(second, "prepare") == [oldest, newest]
    counts = second["window"]["counts"]
    assert counts["posts_duplicate_across_partitions"] == 3
    assert counts["posts_in"] == first["window"]["counts"]["posts_in"] + 3
    assert counts["posts_out"] == first["window"]["counts"]["posts_out"]
    posts = window_posts(config, second)
    ids = posts.column("post_id").to_pylist()
    assert len(ids) == len(set(ids)) == counts["posts_out"]  # each post once
    old = next(ref for p, ref in zip(second["plan"], second["prepare"]) if p["dt"] == oldest)
    rejects = Artifact(config.open_store(), old).read_table("rejects.parquet").to_pylist()
    assert sorted(r["reason"] for r in rejects) == [contract.REASON_DUPLICATE_ACROSS_PARTITIONS] * 3
    assert {r["source_file"] for r in rejects} == {f"posts/dt={oldest}/{source.name}"}
    assert all(pid in r["record"] for r, pid in zip(sorted(rejects, key=lambda r: r["source_row"]),
                                                    again.column("post_id").to_pylist()))


def review_candidates_of(config, results) -> dict[str, list[str]]:
    """Each language's review candidates as its filter wrote them (most posts first)."""
    store = config.open_store()
    return {Artifact(store, ref).manifest["params"]["lang"]: Artifact(store, ref).read_table("review.parquet")
            .column("tag").to_pylist() for ref in results["filter"]}


def direct_cooccurrence(config, results, lang: str, candidates: list[str]):
    """The candidates' co-occurrences counted directly on the window's prepared posts of ``lang``'s
    bloggers (not through the cooccur artifacts)."""
    import numpy as np

    from topictensor.generic_tags import cooccurrence

    store = config.open_store()
    people = Artifact(store, results["window"]).read_table("bloggers.parquet", columns=["blogger_id", "lang"])
    ours = set(people.filter(pc.equal(people.column("lang"), lang)).column("blogger_id").to_pylist())
    posts = window_posts(config, results)
    index = {t: i for i, t in enumerate(candidates)}
    rows, codes = [], []
    for row, (blogger, tags) in enumerate(zip(posts.column("blogger_id").to_pylist(), posts.column("tags").to_pylist())):
        if blogger in ours:
            for t in tags:
                if t in index:
                    rows.append(row)
                    codes.append(index[t])
    return cooccurrence([(np.array(rows, dtype=np.int64), np.array(codes, dtype=np.int64))], len(candidates))


def margin_config(tmp_path, raw):
    config = config_for(tmp_path, raw)
    config.filter.generic_mode = "suggest"
    config.filter.review_top_n = 15
    config.filter.review_margin = 4.0  # 75 tags counted: this corpus' weekly moves of the top 15 stay inside
    return config


def test_review_candidates_moving_inside_the_margin_reuse_the_old_partitions_counts(tmp_path, raw, parquet_reads):
    """A week whose review candidates moved, but stayed inside the superset each old partition
    counted, counts only the new partition and opens no old partition's prepared posts; the
    filter's review table is exactly the one of counting this week's candidates (a fresh store, and
    a direct count on the window's posts)."""
    import numpy as np

    from topictensor.stages.review import summed_cooccurrence

    all_days = days(raw)
    config = margin_config(tmp_path, raw)
    before = run_until(config, "filter", as_of=all_days[-1])
    old_prepared = {r["key"] for r in before["prepare"]}
    parquet_reads.clear()
    after = run_until(config, "filter")
    was, now = review_candidates_of(config, before), review_candidates_of(config, after)
    assert [lang for lang in now if now[lang] != was.get(lang)], "the candidates did not move: the test shows nothing"
    counted = [p["dt"] for p, ref in zip(after["plan"], after["cooccur"]) if not ref["reused"]]
    assert counted == [all_days[-1]]
    posts_files = ("train.parquet", "heldout.parquet")
    read_old = [p for p in parquet_reads if p.endswith(posts_files)
                and any(f"/artifacts/prepare/{key}/" in p for key in old_prepared)]
    assert read_old == []
    assert [p for p in parquet_reads if "/artifacts/cooccur/" in p]  # the old counts were read (the spy works)

    fresh = margin_config(tmp_path / "fresh", raw)
    scratch = run_until(fresh, "filter")
    store, fresh_store = config.open_store(), fresh.open_store()
    by_lang = {Artifact(store, r).manifest["params"]["lang"]: Artifact(store, r) for r in after["filter"]}
    for ref in scratch["filter"]:
        mine = Artifact(fresh_store, ref)
        lang = mine.manifest["params"]["lang"]
        assert by_lang[lang].read_table("review.parquet").equals(mine.read_table("review.parquet")), lang
        assert by_lang[lang].read_table("kept.parquet").equals(mine.read_table("kept.parquet")), lang
    # and the same keys: the filter is keyed by the partitions counted, not by which count served
    assert sorted(r["key"] for r in after["filter"]) == sorted(r["key"] for r in scratch["filter"])
    counts = [Artifact(store, r) for r in after["cooccur"]]
    for lang, candidates in now.items():
        direct = direct_cooccurrence(config, after, lang, candidates)
        assert direct.sum() > 0
        assert np.array_equal(summed_cooccurrence(counts, lang, candidates), direct), lang

    again = run_until(config, "filter")  # a rerun takes the same counts: a no-op
    assert [r["key"] for r in again["cooccur"]] == [r["key"] for r in after["cooccur"]]
    assert all(r["reused"] for r in again["filter"])


def test_a_damaged_earlier_count_is_passed_over_and_that_partition_counted_again(tmp_path, raw):
    """An earlier count whose tag list was garbled (same size) is not fatal: next week that
    partition is counted again, the others reuse theirs, and the filter equals a fresh store's."""
    all_days = days(raw)
    config = margin_config(tmp_path, raw)
    before = run_until(config, "filter", as_of=all_days[-1])
    store = config.open_store()
    damaged = Artifact(store, before["cooccur"][0])
    path = damaged.path("tags.parquet")
    path.write_bytes(b"\0" * path.stat().st_size)
    after = run_until(config, "filter")
    recounted = [ref for ref in after["cooccur"] if not ref["reused"]]
    assert len(recounted) == 2 and damaged.ref.key not in {r["key"] for r in after["cooccur"]}
    fresh = margin_config(tmp_path / "fresh", raw)
    scratch = run_until(fresh, "filter")
    assert sorted(r["key"] for r in after["filter"]) == sorted(r["key"] for r in scratch["filter"])


def test_a_count_without_this_weeks_candidates_is_refused_by_name(tmp_path, raw):
    from topictensor.stages.review import summed_cooccurrence

    config = margin_config(tmp_path, raw)
    results = run_until(config, "filter")
    store = config.open_store()
    art = Artifact(store, results["cooccur"][0])
    lang = review_candidates_of(config, results)
    lang = next(iter(lang))
    with pytest.raises(ValueError, match=f"cooccur artifact {art.ref.key} counted .* without the review candidates"):
        summed_cooccurrence([art], lang, ["no-such-tag-anywhere"])


KILLED_COOCCUR = """
import sys, time
sys.path.insert(0, sys.argv[4])
from graph_prefix import run_until
from topictensor.config import load_config
from topictensor.store.local import LocalStore

real = LocalStore.upload_file
def slow_upload(self, key, path):
    real(self, key, path)
    if key.startswith("artifacts/cooccur/"):
        open(sys.argv[3], "w").write(key)  # one file of a count is up: now kill me
        time.sleep(120)
LocalStore.upload_file = slow_upload
config = load_config(overrides={"store": {"uri": sys.argv[1]}, "ingest": {"input_uri": sys.argv[2]},
                                "filter": {"min_bloggers": 2, "generic_mode": "suggest"}}, use_env=False)
run_until(config, "cooccur")
"""


def test_a_count_killed_mid_stage_leaves_no_manifest_and_the_rerun_completes(tmp_path, raw):
    config = config_for(tmp_path, raw)
    config.filter.generic_mode = "suggest"
    marker = tmp_path / "uploading"
    helpers = str(Path(__file__).resolve().parent / "stages")
    kill_when_marked([sys.executable, "-c", KILLED_COOCCUR, config.store.uri, str(raw), str(marker), helpers],
                     marker, timeout=300, what="its upload")
    store = config.open_store()
    left = store.list("artifacts/cooccur")
    assert left and not [k for k in left if k.endswith("_MANIFEST.json")]
    assert store.list("indexes/cooccur") == []  # recorded for reuse only once complete

    results = run_until(config, "filter")
    assert not any(r["reused"] for r in results["cooccur"])
    assert len(store.list("indexes/cooccur")) == len(results["prepare"])
    fresh = config_for(tmp_path / "fresh", raw)
    fresh.filter.generic_mode = "suggest"
    assert [r["key"] for r in run_until(fresh, "filter")["filter"]] == [r["key"] for r in results["filter"]]


def test_the_windows_tables_equal_a_direct_count_after_changed_deleted_and_redelivered_partitions(tmp_path, raw):
    """The window's merged tables (each blogger's tag counts, per bucket in (blogger_id, tag) order,
    and the tag statistics per language) equal a direct count on the window's posts, after a week
    in which an old partition was rewritten, another deleted, and posts of the oldest redelivered
    in the newest (the newer copy wins)."""
    import pandas as pd

    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.window import TAG_STATS, habit_file

    all_days = days(raw)
    config = config_for(tmp_path, raw)
    run_until(config, "window")
    changed = next((raw / "posts" / f"dt={all_days[2]}").glob("part-*.parquet"))
    pq.write_table(pq.read_table(changed).slice(5), changed)
    shutil.rmtree(raw / "posts" / f"dt={all_days[4]}")
    source = next((raw / "posts" / f"dt={all_days[0]}").glob("part-*.parquet"))
    pq.write_table(pq.read_table(source).slice(0, 3), raw / "posts" / f"dt={all_days[-1]}" / "part-again.parquet")
    results = run_until(config, "prepare")
    assert results["window"]["counts"]["posts_duplicate_across_partitions"] == 3

    store = config.open_store()
    window = Artifact(store, results["window"])
    people = window.read_table("bloggers.parquet", columns=["blogger_id", "lang"]).to_pandas()
    posts = window_posts(config, results).select(["blogger_id", "tags"]).to_pandas()
    uses = posts.explode("tags").rename(columns={"tags": "tag"})
    pairs = uses.groupby(["blogger_id", "tag"]).size().rename("posts").reset_index().merge(people, on="blogger_id")
    got = pa.concat_tables([window.read_table(habit_file(b)) for b in range(PAIR_BUCKETS)]).to_pandas()
    for b in range(PAIR_BUCKETS):
        part = window.read_table(habit_file(b)).select(["blogger_id", "tag"]).to_pylist()
        assert part == sorted(part, key=lambda r: (r["blogger_id"].encode(), r["tag"].encode()))
    key = ["blogger_id", "tag"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True)[["blogger_id", "tag", "lang", "posts"]],
                                  pairs.sort_values(key).reset_index(drop=True)[["blogger_id", "tag", "lang", "posts"]],
                                  check_dtype=False)
    stats = pairs.groupby(["lang", "tag"]).agg(posts=("posts", "sum"), bloggers=("blogger_id", "count")).reset_index()
    read = window.read_table(TAG_STATS).to_pandas()
    pd.testing.assert_frame_equal(read.reset_index(drop=True),
                                  stats.sort_values(["lang", "tag"]).reset_index(drop=True), check_dtype=False)
