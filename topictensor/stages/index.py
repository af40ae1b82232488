"""Index stage (after blogger_vectors): an nmslib HNSW graph over the blogger vectors, saved with
its parameters (``index.nmslib``, ``index.nmslib.dat``, ``index.json``) for the service to load."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig
from topictensor.stages.blogger_vectors import search_section

STAGE = "index"


def index_params(section: SearchConfig) -> dict:
    """What decides the graph; efSearch and the thread count are query/how settings, not part of the key."""
    return {"method": "hnsw", "space": "cosinesimil", "M": section.hnsw_m, "efConstruction": section.ef_construction}


def build_index(vectors: ArtifactRef | dict, config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    params = search_section(config, section)
    store = config.open_store()
    source = Artifact(store, vectors)

    def compute(ws: Workspace) -> StageResult:
        import time

        from topictensor.search.bloggers import FILENAME, BloggerTable
        from topictensor.search.index import HnswIndex

        table = BloggerTable(source.read_table(FILENAME, columns=["blogger_id", "username", "lang", "followers",
                                                                  "likes", "likes_total", "posts", "tags", "vector"]))
        started = time.perf_counter()
        index = HnswIndex.build(table.vectors, m=params.hnsw_m, ef_construction=params.ef_construction,
                                ef_search=params.ef_search, threads=params.index_threads)
        seconds = time.perf_counter() - started
        index.save(ws.root, extra={"vectors_key": source.ref.key, "build_seconds": round(seconds, 3)})
        return StageResult(counts={"bloggers": len(table)}, metrics={"build_seconds": seconds})

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.search.index"), params=index_params(params),
                     inputs={"vectors": source.ref}, compute=compute)
