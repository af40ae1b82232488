"""Index stage (after blogger_vectors): the ANN backend's index over the blogger vectors
(``topictensor.search.index``: which library, its parameters and its files are that module's),
saved with its parameters for the service to load."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig

STAGE = "index"


def index_params(section: SearchConfig) -> dict:
    """What decides the index (its artifact key): the backend's key parameters."""
    from topictensor.search.index import key_params

    return key_params(section)


def build_index(vectors: ArtifactRef | dict, config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    params = section or config.search
    store = config.open_store()
    source = Artifact(store, vectors)

    def compute(ws: Workspace) -> StageResult:
        import time

        from topictensor.search import index as ann
        from topictensor.search.table import COLUMNS, FILENAME, BloggerTable

        table = BloggerTable(source.read_table(FILENAME, columns=list(COLUMNS)))
        started = time.perf_counter()
        index = ann.build(table.vectors, params)
        seconds = time.perf_counter() - started
        index.save(ws.root, extra={"vectors_key": source.ref.key, "build_seconds": round(seconds, 3)})
        return StageResult(counts={"bloggers": len(table)}, metrics={"build_seconds": seconds})

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.search.index"), params=index_params(params),
                     inputs={"vectors": source.ref}, compute=compute)
