"""Blogger vectors stage (after the gate): one unit vector per blogger from the trained tag
vectors, with the blogger's profile numbers the ranking needs. Writes ``bloggers.parquet``
(blogger_id, username, lang, followers, likes = mean likes per post, likes_total, posts,
tags = tag uses known to the model, vector list<float32>); see ``topictensor.search.bloggers``.
The reweight stage's posts are streamed in batches into per-blogger sums: peak memory grows with
bloggers x dim, not with posts."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig

STAGE = "blogger_vectors"
ENGINE_MODULES = ("topictensor.search.bloggers", "topictensor.embeddings", "topictensor.stages.streaming")


def search_section(config: PipelineConfig, section: SearchConfig | None = None) -> SearchConfig:
    """The ``search`` section: given, else from the config (once wired), else the defaults."""
    return section or getattr(config, "search", None) or SearchConfig()


def blogger_vectors(model: ArtifactRef | dict, weighted: ArtifactRef | dict, normalized: ArtifactRef | dict,
                    config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    """``model``: the train artifact; ``weighted``: the reweight artifact (posts with habit weights);
    ``normalized``: the window artifact (its bloggers.parquet: followers, likes, posts, language)."""
    params = search_section(config, section)
    store = config.open_store()
    model_art, weighted_art, normalized_art = Artifact(store, model), Artifact(store, weighted), Artifact(store, normalized)

    def compute(ws: Workspace) -> StageResult:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from topictensor.embeddings import Embeddings
        from topictensor.search.bloggers import FILENAME, BloggerVectorSums
        from topictensor.stages import streaming

        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        columns = ["blogger_id", "tags", "likes", "lang"] + (["weights"] if params.vector_weights == "reweight" else [])
        sums = BloggerVectorSums(emb, params.vector_weights)
        for batch in streaming.parquet_batches(weighted_art.path("posts.parquet"), columns,
                                               dictionary=("blogger_id", "tags"))():
            sums.add(pa.Table.from_batches([batch]))  # memory: bloggers x dim, not posts
        table = sums.table(normalized_art.read_table("bloggers.parquet"))
        pq.write_table(table, ws.path(FILENAME))
        return StageResult(
            counts={"bloggers": table.num_rows, "bloggers_without_vector": len(sums.ids) - table.num_rows,
                    "posts": sums.posts},
            extra={"dim": emb.dim},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES),
                     params={"vector_weights": params.vector_weights},
                     inputs={"model": model_art.ref, "weighted": weighted_art.ref, "normalized": normalized_art.ref},
                     compute=compute)
