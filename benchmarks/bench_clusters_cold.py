"""What the clusters stage costs in a fresh process (every Airflow task is one), cold and warm.

    python benchmarks/bench_clusters_cold.py [--config topictensor.yaml] [--repeats 1]

For each option, child processes run the topics engine (``build_topics``) on the production
model of the demo store, as the clusters stage does: first with an empty numba cache folder
(cold: a new machine, or the first run after an upgrade), then again with the same folder (warm:
every later run). Each child reports the seconds of its imports, of the reduction and of the
clustering, its whole wall time, and the ARI / NMI against the planted themes (the same scoring
as ``bench_topics.py quality``). ``wall_s`` is the child's whole life (interpreter start,
imports, reading the model, the topics). Prints a markdown table.

Options measured:
- umap with ``NUMBA_CACHE_DIR`` set and nothing patched: only the functions umap-learn and
  pynndescent mark ``cache=True`` are cached; the others compile in every process;
- the same with ``init="random"``: a lighter first call (no spectral initialisation);
- umap as the clusters stage now imports it (``topictensor.topics.reduce.import_umap``: numba's
  file cache enabled on every jitted function of umap and pynndescent before the first call);
- ``reducer: pca``: another reducer behind the same interface (no numba at all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
from bench_topics import demo_model, score, truth_labels
from topictensor.topics.build import build_topics
from topictensor.topics.params import TopicsConfig
from topictensor.topics.reduce import UmapReducer
_, _, emb, _ = demo_model({config!r})
cfg = TopicsConfig(**json.loads({overrides!r}))
mode = {mode!r}
reducer = None  # the clusters stage's own reducer (topictensor.topics.reduce.import_umap)
if mode.startswith("plain"):
    class Plain(UmapReducer):  # umap as imported by anyone: NUMBA_CACHE_DIR set, nothing else
        def fit_transform(self, vectors):
            import numpy as np
            import umap
            model = umap.UMAP(n_components=self.n_components, n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                              metric="cosine", random_state=self.seed,
                              init="random" if mode == "plain-random" else "spectral")
            return model.fit_transform(vectors).astype(np.float32)
    reducer = Plain(cfg.n_components, cfg.n_neighbors, cfg.min_dist, cfg.seed)
t1 = time.perf_counter()
result = build_topics(emb.tags, emb.counts, emb.vectors, cfg, reducer=reducer)
t_build = time.perf_counter() - t1
s = score(result, truth_labels(emb.tags))
print(json.dumps({{"setup_s": t1 - t0, "reduce_s": result.summary.get("reduce_seconds"),
                  "cluster_s": result.summary.get("cluster_seconds"), "build_s": t_build,
                  "topics": s["topics"], "ARI": s["ARI"], "NMI": s["NMI"]}}))
"""

OPTIONS = [
    ("umap, NUMBA_CACHE_DIR only (patch nothing)", {}, "plain"),
    ("umap, NUMBA_CACHE_DIR only, init=random (lighter first call)", {}, "plain-random"),
    ("umap with caching enabled on umap's and pynndescent's functions (the stage now)", {}, "stage"),
    ("pca reducer", {"reducer": "pca"}, "stage"),
]


def child(config: Path, overrides: dict, mode: str, cache_dir: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    code = CHILD.format(bench=str(ROOT / "benchmarks"), config=str(config), overrides=json.dumps(overrides),
                        mode=mode)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "topictensor.yaml")
    parser.add_argument("--repeats", type=int, default=1, help="Warm runs per option (the median is printed).")
    args = parser.parse_args()
    rows = []
    for name, overrides, mode in OPTIONS:
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
            cold = child(args.config, overrides, mode, cache)
            warm = sorted((child(args.config, overrides, mode, cache) for _ in range(args.repeats)),
                          key=lambda r: r["wall_s"])[args.repeats // 2]
        for phase, r in (("cold", cold), ("warm", warm)):
            rows.append({"option": name, "cache": phase, **r})
            print(f"  {name} {phase}: {r['wall_s']:.1f} s", file=sys.stderr)
    load = os.getloadavg()[0]
    cols = ["option", "cache", "wall_s", "setup_s", "reduce_s", "cluster_s", "topics", "ARI", "NMI"]
    print(f"\nload average at the end: {load:.1f}\n")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
