"""Blogger search at scale: nmslib HNSW vs exact numpy, and the HTTP /bloggers endpoint (not a test).

Data: ``--n`` synthetic blogger vectors of ``--dim`` dimensions. ``--centroids`` topic centroids
are drawn N(0, I); each blogger mixes 1-3 topics (Dirichlet(1) shares of randomly chosen centroids),
plus isotropic Gaussian noise of norm ~``--noise`` times a centroid's, then is unit-normalised. So
bloggers form overlapping topical neighbourhoods (what real blogger vectors -- sums of tag vectors --
look like), not the structureless cloud of pure noise, which is the worst case for any index.
Queries: ``--queries`` fresh vectors from the same generator (themes that are NOT in the index).

Bloggers' profile numbers: followers lognormal around 3,000 (clipped to 100..10M), mean likes
lognormal, posts uniform 1..399, tag uses uniform 1..3,999; languages en 34%, ru 20%, es 15%,
pt 12%, it 10%, de 8%, nl 1%, assigned in contiguous row blocks as the blogger_vectors stage writes
them (rows sorted by language; the vectors are i.i.d., so this is a random assignment).

Reports (markdown tables): index build time and memory; recall@10 against exact over the queries;
QPS and p50/p99 latency single thread, index (several efSearch) vs exact numpy (one matrix-vector
product + argpartition per query); ``rank_bloggers`` per filter case (the path chosen, p50/p99,
and the share of queries whose top 10 equals a full exact ranking of every allowed blogger), also
with each path forced, which is where ``SearchConfig.exact_max_bloggers`` comes from; and HTTP
``GET /bloggers`` p50/p99 over ``--http-requests`` sequential requests per filter case against the
real service (``create_app`` under uvicorn in a subprocess, over a TCP socket).

The HNSW graph is cached in ``--cache-dir`` (one folder per data and graph settings) with its
build time and memory, and reused by later runs: building M=32 over 1M vectors takes ~6 min.

``--compare-python PY``: also time the index with another interpreter (e.g. a venv where nmslib was
built from source with ``pip install --no-binary nmslib nmslib``) on the very same data.

Usage:
    python benchmarks/bench_index.py --n 1000000                # defaults: M=32, efSearch 1600
    python benchmarks/bench_index.py --n 1000000 --compare-python /tmp/nmsbuild/venv/bin/python
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-thread numpy: the comparison is per core

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
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


def timed_queries(native, set_ef, queries: np.ndarray, truth: np.ndarray, ef_list: list[int]) -> list[dict]:
    """recall@k, QPS and p50/p99 of single-thread knnQuery calls on an nmslib index, per efSearch."""
    runs, k = [], truth.shape[1]
    for ef in ef_list:
        set_ef(ef)
        times, hits = [], 0
        for q, t in zip(queries, truth):
            s = time.perf_counter()
            ids, _ = native.knnQuery(q, k=k)
            times.append(time.perf_counter() - s)
            hits += len(set(ids.tolist()) & set(t.tolist()))
        p50, p99 = percentiles(times)
        runs.append({"ef": ef, "recall": hits / truth.size, "qps": len(queries) / sum(times), "p50": p50, "p99": p99})
    return runs


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
    runs = timed_queries(index, lambda ef: index.setQueryTimeParams({"efSearch": ef}), queries, truth, ef_list)
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


LANGUAGES = {"en": .34, "ru": .20, "es": .15, "pt": .12, "it": .10, "de": .08, "nl": .01}


def cache_folder(args) -> Path:
    """One folder per data and graph settings: a cached graph is only reused for the same vectors."""
    return Path(args.cache_dir) / (f"n{args.n}_dim{args.dim}_c{args.centroids}_noise{args.noise}"
                                   f"_M{args.m}_efc{args.ef_construction}")


def load_or_build_index(args, data: np.ndarray, threads: int, log=lambda msg: None):
    """The HNSW graph over ``data`` from the cache, else built (timed) and saved there.

    Returns (HnswIndex, {"build_s", "memory_mb", "disk_mb", "cached"})."""
    from topictensor.search.index import INDEX_FILE, PARAMS_FILE, HnswIndex

    folder = cache_folder(args)
    if (folder / PARAMS_FILE).exists() and (folder / (INDEX_FILE + ".dat")).exists():
        params = json.loads((folder / PARAMS_FILE).read_text())
        if params.get("size") != len(data):
            raise SystemExit(f"{folder / PARAMS_FILE}: cached graph of {params.get('size')} vectors, not {len(data)}")
        started = time.perf_counter()
        index = HnswIndex.load(folder / INDEX_FILE, params, ef_search=args.ef_serve)
        log(f"loaded the cached graph {folder} in {time.perf_counter() - started:.1f} s")
        cached = True
    else:
        log(f"building M={args.m} efConstruction={args.ef_construction} over {len(data):,} vectors "
            f"with {threads} threads (cached in {folder})")
        before = rss_mb()
        started = time.perf_counter()
        index = HnswIndex.build(data, m=args.m, ef_construction=args.ef_construction, ef_search=args.ef_serve,
                                threads=threads)
        seconds = time.perf_counter() - started
        index.save(folder, extra={"build_seconds": round(seconds, 1), "build_memory_mb": round(rss_mb() - before),
                                  "build_threads": threads})
        params = json.loads((folder / PARAMS_FILE).read_text())
        cached = False
    disk = sum(f.stat().st_size for f in folder.iterdir() if f.name.startswith(INDEX_FILE)) / 2**20
    return index, {"build_s": params.get("build_seconds", float("nan")),
                   "memory_mb": params.get("build_memory_mb", float("nan")),
                   "threads": params.get("build_threads"), "disk_mb": disk, "cached": cached}


def bench_index_queries(index, queries: np.ndarray, truth: np.ndarray, ef_list: list[int]) -> list[dict]:
    runs = timed_queries(index._native, index.set_ef, queries, truth, ef_list)
    index.set_ef(int(index.params["ef_search"]))
    return runs


def blogger_model(data: np.ndarray, n_centroids: int, index, ef_search: int):
    """A SearchModel over the synthetic bloggers: tags = the topic centroids."""
    import pyarrow as pa

    from topictensor.embeddings import Embeddings
    from topictensor.search import SearchModel
    from topictensor.search.bloggers import BloggerTable
    from topictensor.search.params import SearchConfig

    n, dim = data.shape
    rng = np.random.default_rng(5)
    centroids = np.random.default_rng(0).normal(size=(n_centroids, dim)).astype(np.float32)
    emb = Embeddings([f"topic{i}" for i in range(n_centroids)], rng.integers(100, 100_000, n_centroids), centroids)
    sizes = np.floor(np.asarray(list(LANGUAGES.values())) * n).astype(np.int64)
    sizes[0] += n - sizes.sum()
    langs = np.sort(np.repeat(np.asarray(list(LANGUAGES)), sizes))  # contiguous blocks, like the stage writes
    flat = pa.array(data.reshape(-1), type=pa.float32())
    table = BloggerTable(pa.table({
        "blogger_id": pa.array([f"b{i:07d}" for i in range(n)]),
        "username": pa.array([f"user{i}" for i in range(n)]),
        "lang": pa.array(langs),
        "followers": pa.array(np.clip(rng.lognormal(np.log(3000), 2.1, n), 100, 1e7).astype(np.int64)),
        "likes": pa.array(rng.lognormal(4, 1.5, n)),
        "likes_total": pa.array(np.zeros(n, dtype=np.int64)),
        "posts": pa.array(rng.integers(1, 400, n).astype(np.int64)),
        "tags": pa.array(rng.integers(1, 4000, n).astype(np.int64)),
        "vector": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int64) * dim, type=pa.int32()), flat),
    }))
    assert table.grouped, "the synthetic table must be grouped by language, as the stage writes it"
    return SearchModel(emb, table, index, SearchConfig(ef_search=ef_search), version="bench")


def filter_cases() -> list[tuple[str, dict]]:
    """The filter cases of the re-rank and HTTP parts (HTTP query parameters)."""
    return [("none", {}), ("followers 1k-10k", {"min_followers": 1000, "max_followers": 10_000}),
            ("lang=de (8%)", {"lang": "de"}), ("lang=nl (1%)", {"lang": "nl"}),
            ("lang=en (34%)", {"lang": "en"}), ("min posts 100", {"min_posts": 100}),
            ("lang=de, followers 1k-10k", {"lang": "de", "min_followers": 1000, "max_followers": 10_000}),
            ("followers >= 30k (~14%)", {"min_followers": 30_000}),
            ("followers >= 100k (~5%)", {"min_followers": 100_000}),
            ("followers >= 1M (~0.3%)", {"min_followers": 1_000_000})]


def bench_rerank(model, queries: np.ndarray, top: int = 10) -> dict:
    """Per filter case: rank_bloggers with the default switch, and with each path forced; agreement
    = share of queries whose top ``top`` equals the exact ranking of every allowed blogger."""
    from topictensor.search.bloggers import Filters, Popularity, rank_bloggers

    pop = Popularity.from_config(model.config)
    variants = {"default": model.config, "forced index": model.config.model_copy(update={"exact_max_bloggers": 0}),
                "forced exact": model.config.model_copy(update={"exact_max_bloggers": 10**12})}
    out = {}
    for name, params in filter_cases():
        filters = Filters(**params)
        truth = [[h.blogger_id for h in rank_bloggers(model.bloggers, q, top, popularity=pop, filters=filters,
                                                      index=None).hits] for q in queries]
        for variant, config in variants.items():
            same, times, methods, candidates = 0, [], set(), []
            for q, expected in zip(queries, truth):
                s = time.perf_counter()
                ranking = rank_bloggers(model.bloggers, q, top, popularity=pop, filters=filters, config=config,
                                        index=model.index)
                times.append(time.perf_counter() - s)
                same += [h.blogger_id for h in ranking.hits] == expected
                methods.add(ranking.method)
                candidates.append(ranking.candidates)
            p50, p99 = percentiles(times)
            out[f"{name} | {variant}"] = {"agreement": same / len(queries), "p50": p50, "p99": p99,
                                          "method": "/".join(sorted(methods)),
                                          "scored": float(np.median(candidates))}
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(args) -> None:
    """Child mode: the service over the synthetic bloggers (cached graph), under uvicorn."""
    import uvicorn

    from topictensor.config import load_config
    from topictensor.service.app import create_app

    data = generate(args.n, args.dim, args.centroids, args.noise, seed=1)
    index, _ = load_or_build_index(args, data, args.threads or os.cpu_count() or 1)
    model = blogger_model(data, args.centroids, index, args.ef_serve)
    del data
    store = tempfile.mkdtemp(prefix="bench-store-")
    app = create_app(load_config(overrides={"store": {"uri": store}}, use_env=False), model=model)
    uvicorn.run(app, host="127.0.0.1", port=args.serve, log_level="warning", access_log=False)


def bench_http(args, log) -> dict:
    """GET /bloggers against the service in a uvicorn subprocess: sequential requests, one keep-alive
    connection, timed from the client (request + JSON response over TCP)."""
    import httpx

    port = free_port()
    cmd = [sys.executable, __file__, "--serve", str(port), "--n", str(args.n), "--dim", str(args.dim),
           "--centroids", str(args.centroids), "--noise", str(args.noise), "--m", str(args.m),
           "--ef-construction", str(args.ef_construction), "--ef-serve", str(args.ef_serve),
           "--cache-dir", args.cache_dir]
    server = subprocess.Popen(cmd)
    rng = np.random.default_rng(9)
    out = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.time() + 900
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the service exited with code {server.returncode}")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("the service did not come up in 15 minutes")
                time.sleep(1)
            log("service up")
            for _ in range(20):  # warm-up: first requests pay imports and page faults
                client.get("/bloggers", params={"q": "topic1", "top": 50})
            for name, extra in filter_cases():
                times, methods = [], set()
                for _ in range(args.http_requests):
                    a, b = rng.integers(args.centroids, size=2)
                    params = {"q": f"topic{a}, topic{b}:0.5", "top": 50, **extra}
                    s = time.perf_counter()
                    response = client.get("/bloggers", params=params)
                    times.append(time.perf_counter() - s)
                    if response.status_code != 200:
                        raise RuntimeError(f"/bloggers {params}: {response.status_code} {response.text}")
                    methods.add(response.json()["method"])
                p50, p99 = percentiles(times)
                out[name] = {"p50": p50, "p99": p99, "rps": len(times) / sum(times),
                             "method": "/".join(sorted(methods))}
                log(f"http {name}: {out[name]}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return out


def main() -> None:
    from topictensor.search.params import SearchConfig

    defaults = SearchConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--centroids", type=int, default=300)
    ap.add_argument("--noise", type=float, default=0.5, help="Noise std per dimension (a centroid's is 1).")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--m", type=int, default=defaults.hnsw_m)
    ap.add_argument("--ef-construction", type=int, default=defaults.ef_construction)
    ap.add_argument("--ef", default="200,800,1600", help="efSearch values for the recall/QPS table.")
    ap.add_argument("--ef-serve", type=int, default=defaults.ef_search, help="efSearch of the re-rank and HTTP parts.")
    ap.add_argument("--threads", type=int, default=0, help="Index build threads (0 = all cores).")
    ap.add_argument("--http-requests", type=int, default=300, help="Sequential requests per filter case.")
    ap.add_argument("--rerank-queries", type=int, default=100)
    ap.add_argument("--skip", default="", help="Comma-separated parts to skip: search, rerank, http.")
    ap.add_argument("--cache-dir", default=".data/bench-index", help="Where built graphs (and ground truth) are kept.")
    ap.add_argument("--compare-python", default=None, help="Interpreter with another nmslib build to time too.")
    ap.add_argument("--json", default=None, help="Also write the results here.")
    ap.add_argument("--nmslib-only", nargs=3, metavar=("DATA", "QUERIES", "TRUTH"), help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    ef_list = [int(x) for x in args.ef.split(",")]
    threads = args.threads or os.cpu_count() or 1
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}

    if args.nmslib_only:  # child mode for --compare-python: nmslib timings only, as JSON
        print(json.dumps(bench_nmslib(*args.nmslib_only, args.m, args.ef_construction, ef_list, threads)))
        return
    if args.serve:  # child mode for the HTTP part
        serve(args)
        return

    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    data = generate(args.n, args.dim, args.centroids, args.noise, seed=1)
    queries = generate(args.queries, args.dim, args.centroids, args.noise, seed=2)
    log(f"generated {args.n:,} x {args.dim} in {time.perf_counter() - started:.1f} s")
    index, build = load_or_build_index(args, data, threads, log)
    folder = cache_folder(args)
    results = {"n": args.n, "dim": args.dim, "centroids": args.centroids, "noise": args.noise,
               "queries": args.queries, "M": args.m, "efConstruction": args.ef_construction, "build": build,
               "load": os.getloadavg()}
    if "search" not in skip:
        truth_path = folder / f"truth_q{args.queries}.npy"
        if truth_path.exists():
            truth = np.load(truth_path)
        else:
            started = time.perf_counter()
            truth = exact_topk(data, queries, 10)
            np.save(truth_path, truth)
            log(f"ground truth in {time.perf_counter() - started:.1f} s")
        results["exact"] = bench_exact(data, queries, 10)
        log(f"exact: {results['exact']}")
        results["runs"] = bench_index_queries(index, queries, truth, ef_list)
        log(f"index: {results['runs']}")
        if args.compare_python:
            with tempfile.TemporaryDirectory() as d:
                paths = [f"{d}/{name}.npy" for name in ("data", "queries", "truth")]
                for path, array in zip(paths, (data, queries, truth)):
                    np.save(path, array)
                cmd = [args.compare_python, __file__, "--nmslib-only", *paths, "--m", str(args.m),
                       "--ef-construction", str(args.ef_construction), "--ef", args.ef, "--threads", str(threads)]
                done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                log(f"--compare-python failed: {done.stderr[-2000:]}")
            else:
                results["nmslib_other"] = json.loads(done.stdout.strip().splitlines()[-1])
                results["other_python"] = args.compare_python
    model = blogger_model(data, args.centroids, index, args.ef_serve)
    results["config"] = model.config.model_dump()
    del data
    if "rerank" not in skip:
        results["rerank"] = bench_rerank(model, queries[:args.rerank_queries])
        log("re-rank done")
    del model, index
    if "http" not in skip:
        results["load_before_http"] = os.getloadavg()
        results["http"] = bench_http(args, log)
        results["load_after_http"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results))


def report(r: dict) -> str:
    b = r["build"]
    lines = [f"### Blogger index: {r['n']:,} vectors x {r['dim']} ({r['centroids']} topics, noise {r['noise']}), "
             f"HNSW M={r['M']} efConstruction={r['efConstruction']}, queries single-thread; "
             f"load average at start {r['load'][0]:.1f}", "",
             "| build | build time (s) | memory (MB, RSS growth) | on disk (MB) |", "|---|---|---|---|",
             f"| nmslib wheel, {b['threads']} threads{' (cached graph)' if b['cached'] else ''} | {b['build_s']:.0f} "
             f"| {b['memory_mb']:.0f} | {b['disk_mb']:.0f} |"]
    if "exact" in r:
        e = r["exact"]
        lines += ["", f"| search (top 10, {r['queries']} queries) | recall@10 | QPS | p50 ms | p99 ms "
                  "| speed-up vs exact |",
                  "|---|---|---|---|---|---|",
                  f"| exact numpy | 1.000 | {e['qps']:.1f} | {e['p50']:.2f} | {e['p99']:.2f} | 1.0x |"]
        builds = [("nmslib wheel", r["runs"])]
        if r.get("nmslib_other"):
            builds.append((f"nmslib ({r['other_python']})", r["nmslib_other"]["runs"]))
        for name, runs in builds:
            for run in runs:
                lines.append(f"| {name}, efSearch={run['ef']} | {run['recall']:.4f} | {run['qps']:.0f} | "
                             f"{run['p50']:.2f} | {run['p99']:.2f} | {run['qps'] / e['qps']:.0f}x |")
    cfg = r["config"]
    if "rerank" in r:
        lines += ["", f"`rank_bloggers` top 10 (efSearch {cfg['ef_search']}; index candidates = max(top x "
                  f"{cfg['candidate_multiplier']}, {cfg['min_candidates']}, {cfg['candidate_share']} x allowed) / "
                  f"allowed share; exact when it touches <= {cfg['exact_max_bloggers']:,} rows or needs > "
                  f"{cfg['max_candidates']:,} candidates). Same top 10 = equal to the exact ranking of every allowed "
                  "blogger:", "",
                  "| filter | path | method | scored (median) | same top 10 | p50 ms | p99 ms |",
                  "|---|---|---|---|---|---|---|"]
        for name, v in r["rerank"].items():
            case, variant = name.split(" | ")
            lines.append(f"| {case} | {variant} | {v['method']} | {v['scored']:,.0f} | {v['agreement']:.0%} | "
                         f"{v['p50']:.2f} | {v['p99']:.2f} |")
    if "http" in r:
        lines += ["", f"HTTP GET /bloggers top 50 (uvicorn subprocess, {len(r['http']) and ''}sequential requests, "
                  f"load average {r['load_before_http'][0]:.1f} before / {r['load_after_http'][0]:.1f} after):", "",
                  "| filter | method | p50 ms | p99 ms | req/s |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {v['method']} | {v['p50']:.1f} | {v['p99']:.1f} | {v['rps']:.0f} |"
                  for name, v in r["http"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
