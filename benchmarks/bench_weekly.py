"""The weekly refresh over date partitions (not a test): a first run over a window of P weekly
partitions, then the run a week later with one new partition; per stage: wall seconds, CPU seconds,
peak RSS, computed/reused. Each stage runs in a fresh process, as an Airflow task does; seconds
and CPU seconds are the stage function's (the interpreter's start and imports, ~1-2 s a task
here, are left out; CPU includes the pool's workers); peak RSS is the largest of the process's
VmHWM and its workers' peak.

Then the issue's targets on this machine:
- the second run's preparation (every stage before train) costs at most 2x the new partition's
  share of the first run's preparation (1/P of it);
- the peak memory of every stage but train stays within 15% as the window doubles (``--doubling``:
  a first run over P/2 partitions against the one over P);
- two parallel workers give >= 1.7x one on the per-partition stages (ingest, normalize, prepare),
  each side run ``--repeat`` times (the median is compared) under ``nice`` when the machine is shared;
  the load average is printed with each.
And a PROJECTION (not a measurement) to the seed's workload, assumptions printed with it.

Posts come from ``bench_prep.synthetic_posts`` (Zipfian tags from a 200k vocabulary, ~12 tags a
post, habitual tags per blogger, six languages), cut into weekly partitions ``posts/dt=<Monday>/``
with one bloggers snapshot.

Usage:
    python benchmarks/bench_weekly.py --partitions 26 --posts 20000 --doubling --workers 2 [--generic-mode off]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from topictensor.stages.normalize import PAIR_BUCKETS  # noqa: E402

HERE = Path(__file__).resolve().parent
FIRST_MONDAY = date(2026, 1, 5)
PREP = ("plan", "bloggers", "ingest", "normalize", "window", "languages", "prepare", "cooccur", "filter", "reweight",
        "split")
PER_PARTITION = ("ingest", "normalize", "prepare")
# The window-wide stages whose 16 blogger buckets run in a pool (ingest.bucket_workers, topictensor.pools),
# and their parallel efficiency measured here (speed-up of 2 bucket workers over 1 / 2, window and reweight
# together: benchmarks/bench_bucket_workers.py, README "Weekly refresh"). The projection divides their CPU
# by min(16 buckets, 64 cores) x this efficiency: the 2-process figure taken to hold at 16 (Amdahl on the
# stages' serial parts, e.g. the window's totals and languages, would lower it).
BUCKETED = ("window", "reweight")
PROJECTED_CORES = 64
BUCKET_EFFICIENCY = 0.24  # 2 workers: 0.48x of 1 (15.19 s vs 7.25 s, 26 x 20k posts, load average 6 on 2 cores)
BUCKETED_ASSUMPTION = (f"min({PAIR_BUCKETS} buckets, {PROJECTED_CORES} cores) x {BUCKET_EFFICIENCY:.2f}, the parallel "
                       "efficiency of 2 bucket workers measured by bench_bucket_workers.py on 26 x 20k posts at load "
                       "average 6 on 2 shared cores, where the pool's start dominates; taken to hold at 16")
INDEX_THREAD_EFFICIENCY = 0.8  # projection: nmslib's build threads at 64 (assumed, printed with it)


def write_partitions(root: Path, partitions: int, per_partition: int, seed: int = 0) -> list[str]:
    """posts/dt=<Monday>/part-0.parquet for each week and bloggers/dt=<first Monday>/; the days."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from bench_prep import synthetic_posts

    tables = synthetic_posts(partitions * per_partition, seed)
    bloggers = next(tables)
    days = [(FIRST_MONDAY + timedelta(weeks=i)).isoformat() for i in range(partitions)]
    (root / "bloggers" / f"dt={days[0]}").mkdir(parents=True, exist_ok=True)
    pq.write_table(bloggers, root / "bloggers" / f"dt={days[0]}" / "bloggers.parquet")
    posts = pa.concat_tables(list(tables))
    for i, day in enumerate(days):
        part = posts.slice(i * per_partition, per_partition)
        start = np.datetime64(day) - np.datetime64("1970-01-01")
        micros = start.astype("timedelta64[us]").astype(np.int64) + np.random.default_rng(i).integers(
            0, 7 * 86_400_000_000, part.num_rows)
        part = part.set_column(part.schema.get_field_index("created_at"), "created_at",
                               pa.array(micros, pa.timestamp("us", tz="UTC")))
        folder = root / "posts" / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, folder / "part-0.parquet", row_group_size=100_000)
    return days


def config_for(raw: Path, store: Path, epochs: int):
    from topictensor.config import load_config

    generic = os.environ.get("BENCH_GENERIC_MODE")  # --generic-mode, passed to the stage processes
    return load_config(overrides={"store": {"uri": str(store)}, "ingest": {"input_uri": str(raw)},
                                  "filter": {"min_bloggers": 3, **({"generic_mode": generic} if generic else {})},
                                  "train": {"epochs": epochs, "warm_epochs": max(1, epochs // 2), "threads": 2},
                                  "gate": {"min_quality": 0.0, "tolerance": 1.0}}, use_env=False)


def child(args: list[str]) -> None:
    """One stage in this fresh process: read earlier outputs, run, write outputs and measures."""
    stage_name, state_path, raw, store, as_of, jobs, epochs = args
    from topictensor.pipeline import run_stage_of_graph
    from topictensor.pools import spawn_context
    from topictensor.stages.graph import STAGES, RunContext

    state = json.loads(Path(state_path).read_text())
    config = config_for(Path(raw), Path(store), int(epochs))
    pool, pool_start = None, 0.0
    before = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    started = time.perf_counter()
    if int(jobs) > 1 and STAGES[stage_name].mapped:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=int(jobs), mp_context=spawn_context())
        # Start the workers (a spawned interpreter imports the stage's modules: counted in the stage's
        # time, as a pool of `run --jobs N` pays it once a run), and time that start on its own.
        list(pool.map(_warm, [STAGES[stage_name].func] * int(jobs)))
        pool_start = time.perf_counter() - started
    profile_dir = os.environ.get("BENCH_PROFILE")  # --profile DIR: a cProfile of each stage (its CPU is then inflated)
    profiler = None
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    out = run_stage_of_graph(STAGES[stage_name], config, RunContext(run_id="bench", as_of=as_of or None),
                             state, pool)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(Path(profile_dir) / f"{Path(state_path).stem}-{stage_name}.prof"))
    seconds = time.perf_counter() - started
    if pool is not None:
        pool.shutdown()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in (me, kids)) - sum(u.ru_utime + u.ru_stime for u in before)
    state[stage_name] = out
    Path(state_path).write_text(json.dumps(state, default=str))
    refs = out if isinstance(out, list) else [out]
    artifacts = [r for r in refs if isinstance(r, dict) and "reused" in r]
    print(json.dumps({
        "stage": stage_name, "seconds": seconds,
        "cpu": cpu,
        "rss_mb": max(_vm_hwm_kb(), kids.ru_maxrss) / 1024,
        "computed": sum(not r["reused"] for r in artifacts), "reused": sum(bool(r["reused"]) for r in artifacts),
        "posts": _posts(stage_name, refs),
        "pool_start": pool_start,
        "facts": _facts(refs),
    }))


def _facts(refs: list) -> dict:
    """The counts and metrics of a stage's single artifact (what the projection's post-train terms use)."""
    if len(refs) != 1 or not isinstance(refs[0], dict):
        return {}
    return {**refs[0].get("counts", {}), **refs[0].get("metrics", {})}


def _warm(func: str) -> None:
    """Import a stage function's module in a pool worker."""
    import importlib

    importlib.import_module(func.partition(":")[0])


def _vm_hwm_kb() -> int:
    """This process's peak RSS since its exec (VmHWM; ru_maxrss would carry the forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _posts(stage: str, refs: list) -> int:
    total = 0
    for r in refs:
        counts = r.get("counts", {}) if isinstance(r, dict) else {}
        total += counts.get("posts_out", counts.get("posts", counts.get("train_posts", 0)))
    return total


def run_graph(raw: Path, store: Path, state: Path, *, as_of: str | None, jobs: int, epochs: int,
              stages: tuple[str, ...] | None = None) -> list[dict]:
    from topictensor.stages.graph import GRAPH

    state.write_text("{}") if not state.exists() else None
    rows = []
    for stage in GRAPH:
        if stages and stage.name not in stages:
            continue
        done = subprocess.run([sys.executable, __file__, "--child", stage.name, str(state), str(raw), str(store),
                               as_of or "", str(jobs), str(epochs)], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"stage {stage.name} failed:\n{done.stderr[-4000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {rows[-1]['stage']:16s} {rows[-1]['seconds']:7.1f} s", file=sys.stderr)
    return rows


def table(title: str, rows: list[dict]) -> None:
    print(f"\n{title} (load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| stage | seconds | CPU s | peak RSS MB | computed | reused |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['rss_mb']:,.0f} | {r['computed']} | "
              f"{r['reused']} |")
    prep = [r for r in rows if r["stage"] in PREP]
    print(f"| **preparation (before train)** | {sum(r['seconds'] for r in prep):.1f} | "
          f"{sum(r['cpu'] for r in prep):.1f} | | | |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--partitions", type=int, default=26, help="weekly partitions in the first run's window")
    ap.add_argument("--posts", type=int, default=20_000, help="posts per partition")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs of the first run (warm: half)")
    ap.add_argument("--workers", type=int, default=2, help="processes for the per-partition speed-up check")
    ap.add_argument("--doubling", action="store_true", help="also a first run over half the window (memory check)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side of the 1-vs-N workers comparison")
    ap.add_argument("--nice", type=int, default=10, help="niceness of every stage process (0: none)")
    ap.add_argument("--generic-mode", choices=("off", "suggest", "apply"), default=None,
                    help="filter.generic_mode (default: the config's, suggest)")
    ap.add_argument("--index-bloggers", type=int, default=100_000,
                    help="bloggers of the index build timed for the projection (0: skip it)")
    ap.add_argument("--seed-bloggers", type=float, default=0,
                    help="bloggers in the projected 1B-post window (0: the run's posts per blogger)")
    ap.add_argument("--seed-tags", type=float, default=5e6, help="tags of the projected model (clusters' placement)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="write a cProfile of every stage to DIR/<run>-<stage>.prof (times are then inflated)")
    ap.add_argument("--prep-only", action="store_true",
                    help="only the preparation stages of the first and second runs, then target 1 (and with "
                         "--doubling, a half-window run and the projection's window-wide term); no training, workers "
                         "comparison nor full projection")
    args = ap.parse_args()
    if args.generic_mode:
        os.environ["BENCH_GENERIC_MODE"] = args.generic_mode
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        os.environ["BENCH_PROFILE"] = str(Path(args.profile).resolve())
    if args.nice:
        os.nice(args.nice)  # inherited by every stage process
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench-weekly-"))
    try:
        raw = root / "raw"
        if not (raw / "posts").is_dir():
            days = write_partitions(raw, args.partitions + 1, args.posts)
        else:
            days = sorted(p.name[3:] for p in (raw / "posts").glob("dt=*"))
        first_end, second_end = days[-1], (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()
        p = args.partitions
        print(f"{p} + 1 weekly partitions of {args.posts:,} posts ({(p + 1) * args.posts:,} posts) in {raw}",
              file=sys.stderr)

        store = root / "store"
        shutil.rmtree(store, ignore_errors=True)
        print("first run", file=sys.stderr)
        only = PREP if args.prep_only else None
        first = run_graph(raw, store, root / "state-first.json", as_of=first_end, jobs=1, epochs=args.epochs,
                          stages=only)
        print("second run (one more partition)", file=sys.stderr)
        second = run_graph(raw, store, root / "state-second.json", as_of=second_end, jobs=1, epochs=args.epochs,
                           stages=only)
        table(f"First run: window of {p} partitions x {args.posts:,} posts", first)
        table("Second run: one new partition, the window moved by a week", second)

        print(f"generic_mode {os.environ.get('BENCH_GENERIC_MODE') or 'as configured (suggest)'}, "
              f"niceness {args.nice}, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        prep1 = sum(r["cpu"] for r in first if r["stage"] in PREP)
        prep2 = sum(r["cpu"] for r in second if r["stage"] in PREP)
        wall1 = sum(r["seconds"] for r in first if r["stage"] in PREP)
        wall2 = sum(r["seconds"] for r in second if r["stage"] in PREP)
        share = 1 / p
        print(f"\nTarget 1: second run's preparation / (new partition's share of the first run's) = "
              f"{prep2:.1f} / ({prep1:.1f} x 1/{p}) = {prep2 / (prep1 * share):.1f}x CPU "
              f"({wall2 / (wall1 * share):.1f}x wall); target <= 2x")
        per_stage = {r["stage"]: r["cpu"] for r in second if r["stage"] in PREP}
        print("  second run's preparation CPU by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in per_stage.items()))
        if args.prep_only:
            if args.doubling:  # the projection's window-wide term, from the marginal CPU per post
                half = root / "store-half"
                shutil.rmtree(half, ignore_errors=True)
                print("first run over half the window (preparation only)", file=sys.stderr)
                small = run_graph(raw, half, root / "state-half.json", as_of=days[p // 2], jobs=1,
                                  epochs=args.epochs, stages=only)
                table(f"First run over half the window ({p // 2} partitions)", small)
                cpu1, cpu_half = ({r["stage"]: r["cpu"] for r in rows} for rows in (first, small))
                stages = ("bloggers", "window", "filter", "reweight", "split")

                def marginal(names):
                    return max(sum(cpu1.get(s, 0.0) - cpu_half.get(s, 0.0) for s in names), 0.0) / (
                        (p - p // 2) * args.posts)
                single = tuple(s for s in stages if s not in BUCKETED)
                divide = min(PAIR_BUCKETS, PROJECTED_CORES) * BUCKET_EFFICIENCY
                hours = 1e9 * (marginal(single) + marginal(BUCKETED) / divide) / 3600
                print(f"\nPROJECTION term (not measured): window merge and small-table stages ({', '.join(stages)}) "
                      f"for a 1,000,000,000-post window at the marginal CPU per post between the {p // 2}- and "
                      f"{p}-partition first runs ({marginal(single) * 1e6:.2f} CPU s per million posts in "
                      f"{', '.join(single)}, one process each; {marginal(BUCKETED) * 1e6:.2f} in "
                      f"{' and '.join(BUCKETED)}, divided by {BUCKETED_ASSUMPTION}): {hours:.2f} h")
            return

        if args.doubling:
            half = root / "store-half"
            shutil.rmtree(half, ignore_errors=True)
            half_end = days[p // 2]
            print("first run over half the window (memory doubling check)", file=sys.stderr)
            small = run_graph(raw, half, root / "state-half.json", as_of=half_end, jobs=1, epochs=args.epochs)
            table(f"First run over half the window ({p // 2} partitions)", small)
            print(f"\nTarget 2: peak RSS as the window doubles ({p // 2} -> {p} partitions), every stage but train:")
            worst = 0.0
            by = {r["stage"]: r["rss_mb"] for r in small}
            for r in first:
                if r["stage"] in by and r["stage"] != "train":
                    growth = r["rss_mb"] / by[r["stage"]] - 1
                    worst = max(worst, growth)
                    print(f"  {r['stage']:16s} {by[r['stage']]:7,.0f} -> {r['rss_mb']:7,.0f} MB ({growth:+.0%})")
            print(f"  largest growth {worst:+.0%}; target <= +15%")

        speed: dict[int, list[float]] = {1: [], args.workers: []}
        starts: dict[int, list[float]] = {1: [], args.workers: []}
        for attempt in range(args.repeat):
            for jobs in (1, args.workers):  # interleaved, so that a change of load hits both sides
                s = root / f"store-jobs{jobs}"
                shutil.rmtree(s, ignore_errors=True)
                state = root / f"state-jobs{jobs}.json"
                state.unlink(missing_ok=True)
                rows = run_graph(raw, s, state, as_of=first_end, jobs=jobs, epochs=args.epochs,
                                 stages=("plan", "bloggers") + PER_PARTITION[:2] + ("window",) + PER_PARTITION[2:])
                speed[jobs].append(sum(r["seconds"] for r in rows if r["stage"] in PER_PARTITION))
                starts[jobs].append(sum(r["pool_start"] for r in rows if r["stage"] in PER_PARTITION))
                print(f"  {jobs} worker(s), attempt {attempt + 1}: {speed[jobs][-1]:.1f} s (pool start "
                      f"{starts[jobs][-1]:.1f} s), load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
        one, many = statistics.median(speed[1]), statistics.median(speed[args.workers])
        print(f"\nTarget 3: per-partition stages ({' + '.join(PER_PARTITION)} of {p} partitions), median of "
              f"{args.repeat} interleaved runs each (niceness {args.nice}): 1 worker {one:.1f} s "
              f"({', '.join(f'{x:.1f}' for x in speed[1])}), {args.workers} workers {many:.1f} s "
              f"({', '.join(f'{x:.1f}' for x in speed[args.workers])}; of which starting the pools "
              f"{statistics.median(starts[args.workers]):.1f} s): {one / many:.2f}x; "
              f"target >= 1.7x. Load average (1, 5, 15 min) at the end: "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        index = index_cost(args.index_bloggers) if args.index_bloggers else None
        projection(first, second, p, args.posts, small if args.doubling else None, index=index,
                   seed_bloggers=args.seed_bloggers, seed_tags=args.seed_tags)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)


def index_cost(n: int) -> dict:
    """The index stage's build (``topictensor.search.index.build`` at the config's defaults, every
    core of this machine) over ``n`` synthetic blogger vectors (``bench_index.generate``: topical
    mixtures, dim 100): wall and CPU seconds of all threads."""
    sys.path.insert(0, str(HERE))
    from bench_index import generate

    from topictensor.search.index import build
    from topictensor.search.params import SearchConfig

    data = generate(n, 100, 300, 0.5, seed=0)
    section = SearchConfig()
    cpu, started = time.process_time(), time.perf_counter()
    build(data, section)
    out = {"bloggers": n, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
           "threads": section.index_threads or os.cpu_count() or 1, "m": section.hnsw_m,
           "ef_construction": section.ef_construction}
    print(f"\nIndex build (the index stage's defaults: M={out['m']}, efConstruction {out['ef_construction']}, "
          f"{out['threads']} threads) over {n:,} synthetic blogger vectors: {out['seconds']:.1f} s, "
          f"{out['cpu']:.1f} CPU s ({out['cpu'] / n * 1e6:,.0f} CPU s per million bloggers); load average "
          f"{os.getloadavg()[0]:.1f}")
    return out


def place_cost(cap: int, dim: int = 100, rows: int = 20_000) -> float:
    """Seconds per tag of placing ``rows`` tags against ``cap`` fitted ones (clusters' placement)."""
    import numpy as np

    from topictensor.topics.place import place_by_neighbours

    rng = np.random.default_rng(0)
    space = rng.standard_normal((cap + rows, dim)).astype(np.float32)
    space /= np.linalg.norm(space, axis=1, keepdims=True)
    labels = rng.integers(-1, max(2, cap // 50), cap)
    started = time.process_time()
    place_by_neighbours(space, np.arange(cap), labels, np.arange(cap, cap + rows), 15)
    return (time.process_time() - started) / rows


def projection(first: list[dict], second: list[dict], partitions: int, per_partition: int,
               half: list[dict] | None = None, *, index: dict | None = None, seed_bloggers: float = 0,
               seed_tags: float = 5e6) -> None:
    """The seed's weekly run, scaled from the measured CPU seconds; printed with its assumptions.
    With the half-window run, per-post costs of the window-wide stages are marginal ones (the
    difference between the two windows over the difference in posts), which leaves out each stage's
    fixed cost; the new partition's cost is its share of the first run's per-partition stages."""
    window_posts = partitions * per_partition
    cpu1 = {r["stage"]: r["cpu"] for r in first}
    cpu2 = {r["stage"]: r["cpu"] for r in second}
    window_stages = ("bloggers", "window", "filter", "reweight", "split")
    if half:
        cpu_half = {r["stage"]: r["cpu"] for r in half}
        extra = window_posts - (partitions // 2) * per_partition

        def per_post(stages):
            return max(sum(cpu1.get(s, 0.0) - cpu_half.get(s, 0.0) for s in stages) / extra, 0.0)
        basis = f"marginal CPU per post between the {partitions // 2}- and {partitions}-partition first runs"
    else:
        def per_post(stages):
            return sum(cpu2.get(s, 0.0) for s in stages) / window_posts
        basis = "average CPU per post of the second run (fixed per-stage costs included)"
    new_partition = sum(cpu1.get(s, 0.0) for s in PER_PARTITION) / window_posts  # computed, per post
    # The second run's per-partition stages beyond the new partition: reusing (verifying) the old ones.
    reuse = max(sum(cpu2.get(s, 0.0) for s in PER_PARTITION) - new_partition * per_partition, 0.0) / window_posts
    recount = cpu2.get("cooccur", 0.0) / window_posts
    train_per_post = cpu2.get("train", 0.0) / window_posts  # warm-started epochs, reading the split included
    new, window, cores = 20e6, 1e9, 64
    # Post-train terms (issue 11, h11b): blogger vectors over the 16 buckets in parallel; clusters
    # fitted on at most clusters.max_fit_tags tags; the index from a measured per-blogger build cost.
    facts = {r["stage"]: r.get("facts", {}) for r in second}
    run_bloggers = facts.get("blogger_vectors", {}).get("bloggers", 0) or 1
    bloggers = seed_bloggers or window * run_bloggers / window_posts
    blogger_basis = "given" if seed_bloggers else f"the run's {window_posts / run_bloggers:,.0f} posts per blogger"

    vector_procs = min(cores, PAIR_BUCKETS)
    vector_hours = window * per_post(("blogger_vectors",)) / vector_procs / 3600
    clusters_facts = facts.get("clusters", {})
    run_tags = clusters_facts.get("tags", 0) or 1
    fit_seconds = clusters_facts.get("fit_seconds", 0.0)  # UMAP + HDBSCAN on at most the cap
    map_seconds = clusters_facts.get("map_seconds", 0.0)  # the explorer map: a fixed 2,000 tags
    place_seconds, placed = clusters_facts.get("place_seconds", 0.0), clusters_facts.get("placed_tags", 0)
    fitted = clusters_facts.get("fitted_tags", run_tags)
    # The manifest's parts are wall seconds: each taken as its share of the stage's CPU seconds.
    cpu_share = cpu2.get("clusters", 0.0) / max(next((r["seconds"] for r in second if r["stage"] == "clusters"), 0.0),
                                                1e-9)
    fit_seconds, map_seconds, place_seconds = (x * min(cpu_share, 1.0) for x in (fit_seconds, map_seconds, place_seconds))
    rest = max(cpu2.get("clusters", 0.0) - fit_seconds - map_seconds - place_seconds, 0.0)  # per tag
    from topictensor.topics.params import TopicsConfig

    cap = TopicsConfig().max_fit_tags or fitted
    # A run that fitted fewer tags than the cap: the fit at the cap, by UMAP's measured ~n^1.2 (README,
    # bench_topics scale); the placement's cost per tag timed here at the cap when the run placed none.
    fit_at_cap = fit_seconds * (cap / fitted) ** 1.2 if fitted and fitted < cap else fit_seconds
    per_placed = place_seconds / placed if placed else place_cost(cap)
    clusters_hours = (fit_at_cap + map_seconds + per_placed * max(seed_tags - cap, 0)
                      + rest * max(seed_tags / run_tags, 1.0)) / 3600
    if index:
        # HNSW inserts cost ~log(n) each: scaled from the measured size by n log n, spread over 64
        # threads at an assumed 0.8 efficiency (CPU seconds are measured; wall time on this shared
        # 2-core machine says more about the other work on it than about nmslib's threads).
        import math

        efficiency = INDEX_THREAD_EFFICIENCY
        scale = bloggers * math.log(max(bloggers, 2)) / (index["bloggers"] * math.log(index["bloggers"]))
        index_hours = index["cpu"] * scale / (cores * efficiency) / 3600
        index_basis = (f"{index['cpu'] / index['bloggers'] * 1e6:,.0f} CPU s per million bloggers measured at "
                       f"{index['bloggers']:,}, scaled by n log n, threads at {efficiency:.0%} efficiency (assumed)")
    else:
        index_hours = cpu2.get("index", 0.0) * bloggers / run_bloggers / cores / 3600
        index_basis = "this run's index CPU, linear in bloggers"
    hours = {
        "prepare the new partition (ingest + normalize + prepare, 20M posts; 64 mapped parts)":
            new * new_partition / cores / 3600,
        "reuse the window's old partitions (manifest + sha256 check of each, 1B posts' files; 64 mapped tasks)":
            window * reuse / cores / 3600,
        "recount the review candidates' co-occurrences (cooccur, every partition: 1B posts; 64 mapped tasks; "
        "0 with generic_mode off)": window * recount / cores / 3600,
        "window merge and small-table stages (bloggers, filter[lang], split: one process each; window and "
        f"reweight: their blogger buckets divided by {BUCKETED_ASSUMPTION})":
            window * (per_post(tuple(s for s in window_stages if s not in BUCKETED))
                      + per_post(BUCKETED) / (min(PAIR_BUCKETS, cores) * BUCKET_EFFICIENCY)) / 3600,
        "warm-started training, reading the split (1B posts, 64 threads at the trainer's measured 0.88 "
        "two-thread efficiency; the read taken as parallel as the epochs)": window * train_per_post / (cores * 0.88) / 3600,
        f"blogger vectors (from the kept pairs: taken as growing with posts; {PAIR_BUCKETS} buckets in "
        f"{vector_procs} processes: search.vector_workers set to 0 = one per core, at most the buckets)": vector_hours,
        f"index ({bloggers:,.0f} bloggers, HNSW on 64 threads; {index_basis})": index_hours,
        f"clusters (UMAP + HDBSCAN fitted on the clusters.max_fit_tags cap, {cap:,} tags: this run's fit of "
        f"{fitted:,} tags, {fit_seconds:.0f} CPU s{' x (cap / fitted)^1.2' if fitted < cap else ''}, and its map "
        f"{map_seconds:.0f} s; placing the other {max(seed_tags - cap, 0):,.0f} tags at {per_placed * 1e3:.2f} ms a "
        f"tag{' (timed here at the cap)' if not placed else ''}; the rest of the stage, {rest:.0f} CPU s for "
        f"{run_tags:,} tags, scaled to {seed_tags:,.0f} tags; one core)": clusters_hours,
    }
    print("\nPROJECTION (not measured) of the seed's weekly run: a 1,000,000,000-post window, 20,000,000 new "
          "posts a week, a 64-core worker. Assumptions: CPU time linear in posts for every pass (each is a "
          "streaming pass; the window's small tables grow with distinct (blogger, tag) pairs, taken here as "
          "linear in posts, an upper bound); mapped stages spread over the 64 cores (a week's delivery cut "
          "into 64 partitions or files); the window-wide stages run as single processes but window and reweight, "
          f"whose blogger buckets run in ingest.bucket_workers processes ({BUCKETED_ASSUMPTION}); the trainer's "
          "per-post cost as measured here for its warm epochs; no I/O bound beyond what was measured on "
          f"local disk (on S3 the reuse check downloads each reused file). Per-post costs: {basis}. "
          f"After train: {bloggers:,.0f} bloggers in the window ({blogger_basis}); "
          f"blogger vectors' per-post cost as measured, divided over the {PAIR_BUCKETS} bucket processes (one "
          f"bucket = 1/{PAIR_BUCKETS} of the bloggers; spawning the pool ~1-2 s, left out); a model of "
          f"{seed_tags:,.0f} tags whose clusters stage fits UMAP + HDBSCAN on the {cap:,}-tag cap (this run fitted "
          f"{fitted:,} of its {run_tags:,} tags: those used at least clusters.min_count times"
          f"{', scaled to the cap by n^1.2' if fitted < cap else ''}; each part's wall seconds from the manifest "
          f"taken as its share of the stage's CPU seconds), the placement and the V-sized tables linear in tags; "
          f"the index's build parallel over 64 threads.")
    for what, h in hours.items():
        print(f"  {h:8.2f} h  {what}")
    print(f"  {sum(hours.values()):8.2f} h  total (target: under 1 hour)")


if __name__ == "__main__":
    main()
