"""Blogger search at scale: nmslib HNSW vs exact numpy, and the HTTP /bloggers endpoint (not a test).

Data: ``--n`` synthetic blogger vectors of ``--dim`` dimensions. ``--centroids`` topic centroids
are drawn N(0, I); each blogger mixes 1-3 topics (Dirichlet(1) shares of randomly chosen centroids),
plus isotropic Gaussian noise of norm ~``--noise`` times a centroid's, then is unit-normalised. So
bloggers form overlapping topical neighbourhoods (what real blogger vectors -- sums of tag vectors --
look like), not the structureless cloud of pure noise, which is the worst case for any index.
Queries: ``--queries`` fresh vectors from the same generator (themes that are NOT in the index).

Reports (markdown table): index build time and memory; recall@10 against exact over the queries;
QPS and p50/p99 latency single thread, index (several efSearch) vs exact numpy (one matrix-vector
product + argpartition per query); the exact re-rank agreement (top-10 through the index's
candidates equal to a full exact re-rank of every blogger with the score); and HTTP ``/bloggers``
p50/p99 at this size, in-process (FastAPI TestClient), with and without filters.

``--compare-python PY``: also time the index with another interpreter (e.g. a venv where nmslib was
built from source with ``pip install --no-binary nmslib nmslib``) on the very same data.

Usage:
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_index.py --n 1000000 \\
        --compare-python /tmp/nmsbuild/venv/bin/python
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-thread numpy: the comparison is per core

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

logging.getLogger("nmslib").setLevel(logging.WARNING)


def generate(n: int, dim: int, n_centroids: int, noise: float, seed: int, centroid_seed: int = 0) -> np.ndarray:
    """Unit vectors mixing 1-3 topic centroids plus noise (see module docstring); built in chunks."""
    centroids = np.random.default_rng(centroid_seed).normal(size=(n_centroids, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        k = rng.integers(1, 4, size=m)
        shares = rng.dirichlet(np.ones(3), size=m).astype(np.float32)
        shares[k < 2, 1] = 0
        shares[k < 3, 2] = 0
        shares /= shares.sum(axis=1, keepdims=True)
        picks = rng.integers(n_centroids, size=(m, 3))
        x = np.einsum("mk,mkd->md", shares, centroids[picks])
        x += noise * rng.normal(size=(m, dim)).astype(np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ground truth in blocks of queries (matrix-matrix: much faster than per query)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 100):
        sims = data @ queries[start:start + 100].T
        part = np.argpartition(-sims, k - 1, axis=0)[:k].T
        for i, row in enumerate(part):
            out[start + i] = row[np.argsort(-sims[row, i])]
    return out


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_nmslib(data_path: str, queries_path: str, truth_path: str, m: int, ef_construction: int,
                 ef_list: list[int], threads: int, keep: list | None = None) -> dict:
    """Build + query timings of nmslib alone (importable by a bare interpreter with numpy + nmslib)."""
    import nmslib

    data, queries, truth = np.load(data_path, mmap_mode="r"), np.load(queries_path), np.load(truth_path)
    data = np.ascontiguousarray(data)
    before = rss_mb()
    index = nmslib.init(method="hnsw", space="cosinesimil", data_type=nmslib.DataType.DENSE_VECTOR)
    index.addDataPointBatch(data)
    started = time.perf_counter()
    index.createIndex({"M": m, "efConstruction": ef_construction, "post": 0, "indexThreadQty": threads},
                      print_progress=False)
    build = time.perf_counter() - started
    memory = rss_mb() - before
    with tempfile.TemporaryDirectory() as d:
        index.saveIndex(f"{d}/i", save_data=True)
        disk = sum(p.stat().st_size for p in Path(d).iterdir()) / 2**20
    runs = []
    k = truth.shape[1]
    for ef in ef_list:
        index.setQueryTimeParams({"efSearch": ef})
        times, hits = [], 0
        for q, t in zip(queries, truth):
            s = time.perf_counter()
            ids, _ = index.knnQuery(q, k=k)
            times.append(time.perf_counter() - s)
            hits += len(set(ids.tolist()) & set(t.tolist()))
        p50, p99 = percentiles(times)
        runs.append({"ef": ef, "recall": hits / truth.size, "qps": len(queries) / sum(times), "p50": p50, "p99": p99})
    if keep is not None:
        keep.append(index)  # the service part reuses this graph instead of building another
    return {"build_s": build, "memory_mb": memory, "disk_mb": disk, "runs": runs, "threads": threads,
            "nmslib": getattr(nmslib, "__file__", "?")}


def bench_exact(data: np.ndarray, queries: np.ndarray, k: int) -> dict:
    times = []
    for q in queries:
        s = time.perf_counter()
        sims = data @ q
        top = np.argpartition(-sims, k - 1)[:k]
        top[np.argsort(-sims[top])]
        times.append(time.perf_counter() - s)
    p50, p99 = percentiles(times)
    return {"qps": len(queries) / sum(times), "p50": p50, "p99": p99}


def blogger_model(data: np.ndarray, n_centroids: int, index, ef_search: int):
    """A SearchModel over the synthetic bloggers: tags = the topic centroids (plus near-duplicates)."""
    import pyarrow as pa

    from topictensor.embeddings import Embeddings
    from topictensor.search import SearchModel
    from topictensor.search.bloggers import BloggerTable
    from topictensor.search.params import SearchConfig

    n, dim = data.shape
    rng = np.random.default_rng(5)
    centroids = np.random.default_rng(0).normal(size=(n_centroids, dim)).astype(np.float32)
    emb = Embeddings([f"topic{i}" for i in range(n_centroids)], rng.integers(100, 100_000, n_centroids), centroids)
    flat = pa.array(data.reshape(-1), type=pa.float32())
    table = BloggerTable(pa.table({
        "blogger_id": pa.array([f"b{i:07d}" for i in range(n)]),
        "username": pa.array([f"user{i}" for i in range(n)]),
        "lang": pa.array(rng.choice(["en", "ru", "es", "pt", "it", "de"], size=n, p=[.35, .2, .15, .12, .1, .08])),
        "followers": pa.array(np.clip(rng.lognormal(np.log(3000), 2.1, n), 100, 1e7).astype(np.int64)),
        "likes": pa.array(rng.lognormal(4, 1.5, n)),
        "likes_total": pa.array(np.zeros(n, dtype=np.int64)),
        "posts": pa.array(rng.integers(1, 400, n).astype(np.int64)),
        "tags": pa.array(rng.integers(1, 4000, n).astype(np.int64)),
        "vector": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int64) * dim, type=pa.int32()), flat),
    }))
    config = SearchConfig(ef_search=ef_search)
    return SearchModel(emb, table, index, config, version="bench")


def bench_rerank_agreement(model, queries: np.ndarray, top: int = 10) -> dict:
    """Share of queries whose top results via the index's candidates equal a full exact re-rank."""
    from topictensor.search.bloggers import Filters, Popularity, rank_bloggers

    pop = Popularity.from_config(model.config)
    always_exact = model.config.model_copy(update={"exact_max_bloggers": 10**12})
    out = {}
    for name, filters, config in (
            ("none", Filters(), model.config), ("lang=de", Filters(lang="de"), model.config),
            ("lang=de, exact subset", Filters(lang="de"), always_exact),
            ("followers 1k-10k", Filters(min_followers=1000, max_followers=10_000), model.config),
            ("followers 1k-10k, exact subset", Filters(min_followers=1000, max_followers=10_000), always_exact)):
        same, times = 0, []
        for q in queries:
            s = time.perf_counter()
            a = rank_bloggers(model.bloggers, q, top, popularity=pop, filters=filters, config=config,
                              index=model.index)
            times.append(time.perf_counter() - s)
            b = rank_bloggers(model.bloggers, q, top, popularity=pop, filters=filters, config=model.config, index=None)
            same += [h.blogger_id for h in a.hits] == [h.blogger_id for h in b.hits]
        p50, p99 = percentiles(times)
        out[name] = {"agreement": same / len(queries), "p50": p50, "p99": p99, "method": a.method}
    return out


def bench_http(model, n_requests: int, n_centroids: int) -> dict:
    from fastapi.testclient import TestClient

    from topictensor.config import load_config
    from topictensor.service.app import create_app

    store = tempfile.mkdtemp(prefix="bench-store-")
    app = create_app(load_config(overrides={"store": {"uri": store}}, use_env=False), model=model)
    rng = np.random.default_rng(9)
    out = {}
    with TestClient(app) as client:
        for name, extra in (("top 50", {}), ("top 50, lang=de", {"lang": "de"}),
                            ("top 50, 1k-10k followers", {"min_followers": 1000, "max_followers": 10_000})):
            times = []
            for i in range(n_requests):
                a, b = rng.integers(n_centroids, size=2)
                params = {"q": f"topic{a}, topic{b}:0.5", "top": 50, **extra}
                s = time.perf_counter()
                response = client.get("/bloggers", params=params)
                times.append(time.perf_counter() - s)
                if response.status_code != 200:
                    raise RuntimeError(response.text)
            p50, p99 = percentiles(times)
            out[name] = {"p50": p50, "p99": p99, "rps": n_requests / sum(times)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--centroids", type=int, default=300)
    ap.add_argument("--noise", type=float, default=0.5, help="Noise std per dimension (a centroid's is 1).")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="50,100,200,400")
    ap.add_argument("--ef-serve", type=int, default=200, help="efSearch used for the re-rank and HTTP parts.")
    ap.add_argument("--threads", type=int, default=0, help="Index build threads (0 = all cores).")
    ap.add_argument("--http-requests", type=int, default=500)
    ap.add_argument("--rerank-queries", type=int, default=200)
    ap.add_argument("--compare-python", default=None, help="Interpreter with another nmslib build to time too.")
    ap.add_argument("--workdir", default=None, help="Where the data files go (default: a temp dir).")
    ap.add_argument("--json", default=None, help="Also write the results here.")
    ap.add_argument("--reuse", action="store_true", help="Reuse the ground truth saved in --workdir by an earlier run.")
    ap.add_argument("--nmslib-only", nargs=3, metavar=("DATA", "QUERIES", "TRUTH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    ef_list = [int(x) for x in args.ef.split(",")]
    threads = args.threads or os.cpu_count() or 1

    if args.nmslib_only:  # child mode for --compare-python: nmslib timings only, as JSON
        print(json.dumps(bench_nmslib(*args.nmslib_only, args.m, args.ef_construction, ef_list, threads)))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-index-"))
    work.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    data = generate(args.n, args.dim, args.centroids, args.noise, seed=1)
    queries = generate(args.queries, args.dim, args.centroids, args.noise, seed=2)
    log(f"generated {args.n:,} x {args.dim} in {time.perf_counter() - started:.1f} s")
    paths = [str(work / name) for name in ("data.npy", "queries.npy", "truth.npy")]
    saved = [np.load(p, mmap_mode="r") if Path(p).exists() else None for p in paths]
    if (args.reuse and saved[2] is not None and saved[0].shape == data.shape and saved[1].shape == queries.shape
            and np.array_equal(saved[1], queries)):
        truth = np.asarray(saved[2])  # same seeds, same data: the ground truth of an earlier run
    else:
        started = time.perf_counter()
        truth = exact_topk(data, queries, 10)
        log(f"ground truth in {time.perf_counter() - started:.1f} s")
        for path, array in zip(paths, (data, queries, truth)):
            np.save(path, array)

    exact = bench_exact(data, queries, 10)
    log(f"exact: {exact}")
    built: list = []
    wheel = bench_nmslib(*paths, args.m, args.ef_construction, ef_list, threads, keep=built)
    log(f"nmslib (this interpreter): build {wheel['build_s']:.1f} s, {wheel['runs']}")
    other = None
    if args.compare_python:
        cmd = [args.compare_python, __file__, "--nmslib-only", *paths, "--m", str(args.m),
               "--ef-construction", str(args.ef_construction), "--ef", args.ef, "--threads", str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            log(f"--compare-python failed: {done.stderr[-2000:]}")
        else:
            other = json.loads(done.stdout.strip().splitlines()[-1])
            log(f"nmslib ({args.compare_python}): build {other['build_s']:.1f} s, {other['runs']}")

    # The service's path at this size: the same index, re-rank and HTTP.
    from topictensor.search.index import HnswIndex

    index = HnswIndex(built[0], len(data), {"space": "cosinesimil", "M": args.m,
                                           "efConstruction": args.ef_construction, "ef_search": args.ef_serve})
    model = blogger_model(data, args.centroids, index, args.ef_serve)
    del data
    rerank = bench_rerank_agreement(model, queries[:args.rerank_queries])
    log(f"re-rank: {rerank}")
    http = bench_http(model, args.http_requests, args.centroids)
    log(f"http: {http}")

    results = {"n": args.n, "dim": args.dim, "centroids": args.centroids, "noise": args.noise,
               "queries": args.queries, "M": args.m, "efConstruction": args.ef_construction, "threads": threads,
               "exact": exact, "nmslib": wheel, "nmslib_other": other, "rerank": rerank, "http": http,
               "config": model.config.model_dump()}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results, args.compare_python))


def report(r: dict, other_python: str | None) -> str:
    lines = [f"### Blogger index: {r['n']:,} vectors x {r['dim']} ({r['centroids']} topics, noise {r['noise']}), "
             f"{r['queries']} queries, HNSW M={r['M']} efConstruction={r['efConstruction']}, "
             f"build threads {r['threads']}, queries single-thread", ""]
    builds = [("nmslib wheel (this venv)", r["nmslib"])] + ([(f"nmslib from source ({other_python})", r["nmslib_other"])]
                                                            if r.get("nmslib_other") else [])
    lines += ["| build | build time (s) | memory (MB, RSS growth) | on disk (MB) |", "|---|---|---|---|"]
    lines += [f"| {name} | {b['build_s']:.1f} | {b['memory_mb']:.0f} | {b['disk_mb']:.0f} |" for name, b in builds]
    e = r["exact"]
    lines += ["", "| search (top 10) | recall@10 | QPS | p50 ms | p99 ms | speed-up vs exact |", "|---|---|---|---|---|---|",
              f"| exact numpy | 1.000 | {e['qps']:.1f} | {e['p50']:.2f} | {e['p99']:.2f} | 1.0x |"]
    for name, b in builds:
        for run in b["runs"]:
            lines.append(f"| {name}, efSearch={run['ef']} | {run['recall']:.4f} | {run['qps']:.0f} | {run['p50']:.2f} "
                         f"| {run['p99']:.2f} | {run['qps'] / e['qps']:.0f}x |")
    cfg = r["config"]
    lines += ["", f"Re-rank through the index (efSearch={cfg['ef_search']}, candidates = max(top x "
              f"{cfg['candidate_multiplier']}, {cfg['min_candidates']}, {cfg['candidate_share']} x bloggers) / filter "
              f"share, exact when that exceeds {cfg['max_candidates']:,} or at most {cfg['exact_max_bloggers']:,} "
              "bloggers pass the filters), top 10 vs a full exact re-rank of every blogger:", "",
              "| filter | same top 10 as exact | method | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {v['agreement']:.1%} | {v['method']} | {v['p50']:.2f} | {v['p99']:.2f} |"
              for name, v in r["rerank"].items()]
    lines += ["", f"HTTP GET /bloggers (in-process TestClient, sequential):", "",
              "| request | p50 ms | p99 ms | req/s |", "|---|---|---|---|"]
    lines += [f"| {name} | {v['p50']:.1f} | {v['p99']:.1f} | {v['rps']:.0f} |" for name, v in r["http"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
