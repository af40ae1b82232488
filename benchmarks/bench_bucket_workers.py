"""The window and reweight stages' 16 blogger buckets over 1, 2, ... processes (``ingest.bucket_workers``),
not a test: builds one store of weekly partitions (``bench_weekly.write_partitions``) up to the filter,
then recomputes the window and reweight artifacts with each worker count, interleaved, ``--repeat``
times each, and prints seconds, CPU seconds (the pool's processes included) and the speed-up over one
worker. Every run's files are checked to be the same bytes as the first's.

    .venv/bin/python benchmarks/bench_bucket_workers.py --partitions 26 --posts 20000 --workers 1,2,0
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def cpu_seconds() -> float:
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def digest(store: Path, ref: dict) -> dict[str, str]:
    """sha256 of each file of the artifact; for the window's bloggers.parquet, of its rows without
    lang_confidence (lingua's detected confidences differ in the last bit from run to run, whatever
    the worker count; that table is written before the buckets)."""
    import pyarrow.parquet as pq

    from topictensor.artifacts import Artifact
    from topictensor.store import open_store

    art = Artifact(open_store(str(store)), ref)
    out = {}
    for name in sorted(art.files):
        if ref["stage"] == "window" and name == "bloggers.parquet":
            table = pq.read_table(art.path(name)).drop_columns(["lang_confidence"])
            out[name] = hashlib.sha256(repr(table.to_pydict()).encode()).hexdigest()
        else:
            out[name] = hashlib.sha256(art.path(name).read_bytes()).hexdigest()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--partitions", type=int, default=26)
    ap.add_argument("--posts", type=int, default=20_000, help="posts per partition")
    ap.add_argument("--workers", default="1,2,0", help="comma-separated ingest.bucket_workers values (0 = cores)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)
    from bench_weekly import config_for, write_partitions

    from topictensor.pipeline import run_stage_of_graph
    from topictensor.pools import bucket_workers
    from topictensor.stages.graph import GRAPH, RunContext
    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.reweight import reweight
    from topictensor.stages.window import build_window

    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench-buckets-"))
    try:
        raw, store = root / "raw", root / "store"
        write_partitions(raw, args.partitions, args.posts)
        config = config_for(raw, store, 1)
        run = RunContext(run_id="bench", as_of=None)  # the window: every partition written
        results: dict = {}
        print(f"building the store: {args.partitions} partitions x {args.posts:,} posts", file=sys.stderr)
        for stage in GRAPH:
            results[stage.name] = run_stage_of_graph(stage, config, run, results)
            if stage.name == "filter":
                break
        rows, reference = [], None
        requested = [int(w) for w in args.workers.split(",")]
        for rep in range(args.repeat):
            for w in requested:
                config.ingest.bucket_workers = w
                times = {}
                for name in ("window", "reweight"):
                    shutil.rmtree(store / "artifacts" / name, ignore_errors=True)
                    cpu, start = cpu_seconds(), time.perf_counter()
                    if name == "window":
                        ref = build_window(results["bloggers"], list(results["normalize"]), config)
                    else:
                        ref = reweight(list(results["filter"]), results["window"], config)
                    times[name] = (time.perf_counter() - start, cpu_seconds() - cpu)
                    if ref.reused or (name == "window" and ref.key != results["window"]["key"]):
                        raise SystemExit(f"{name} with {w} workers was reused or changed key")
                    files = digest(store, ref.to_dict())
                    if reference is None or name not in reference:
                        reference = {**(reference or {}), name: files}
                    elif files != reference[name]:
                        differ = sorted(n for n in files if files[n] != reference[name].get(n))
                        raise SystemExit(f"{name} with {w} workers wrote different files than the first run: {differ}")
                rows.append((rep, w, bucket_workers(w, PAIR_BUCKETS), times))
                print(f"  repeat {rep + 1}, bucket_workers {w}: " + ", ".join(
                    f"{n} {s:.2f} s" for n, (s, _) in times.items()), file=sys.stderr)
        print(f"\nwindow and reweight over {PAIR_BUCKETS} blogger buckets; {args.partitions} partitions x "
              f"{args.posts:,} posts; {os.cpu_count()} cores; niceness {args.nice}; load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; every file identical for every worker count (bloggers.parquet: but for lingua's lang_confidence)")
        print("| bucket_workers (processes) | window s (CPU s) | reweight s (CPU s) | both s | speed-up vs 1 |")
        print("|---|---|---|---|---|")
        best = {}
        for w in requested:
            mine = [t for _, ww, _, t in rows if ww == w]
            best[w] = {n: min(t[n][0] for t in mine) for n in ("window", "reweight")}
        one = best.get(1)
        for w in requested:
            mine = [t for _, ww, _, t in rows if ww == w]
            cells = []
            for n in ("window", "reweight"):
                cells.append(" / ".join(f"{t[n][0]:.2f} ({t[n][1]:.2f})" for t in mine))
            both = sum(best[w].values())
            speed = f"{sum(one.values()) / both:.2f}x" if one else "-"
            print(f"| {w} ({bucket_workers(w, PAIR_BUCKETS)}) | {cells[0]} | {cells[1]} | {both:.2f} (best) | {speed} |")
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
