"""Blogger vectors stage (after the gate): one unit vector per blogger from the trained tag
vectors, with the blogger's profile numbers the ranking needs. Writes ``bloggers.parquet``
(blogger_id, username, lang, followers, likes = mean likes per post, likes_total, posts,
tags = tag uses known to the model, vector list<float32>, and each blogger's ``search.profile_tags``
largest tag weights: profile_tags, profile_weights, profile_rest); see ``topictensor.search.bloggers``
and ``topictensor.search.explain``."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig

STAGE = "blogger_vectors"
ENGINE_MODULES = ("topictensor.search.bloggers", "topictensor.search.explain", "topictensor.embeddings")
# The explanations' weights are recomputed from the posts; they must rebuild the stored vectors.
MAX_PROFILE_GAP = 1e-4


def search_section(config: PipelineConfig, section: SearchConfig | None = None) -> SearchConfig:
    """The ``search`` section: given, else from the config (once wired), else the defaults."""
    return section or getattr(config, "search", None) or SearchConfig()


def blogger_vectors(model: ArtifactRef | dict, weighted: ArtifactRef | dict, normalized: ArtifactRef | dict,
                    config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    """``model``: the train artifact; ``weighted``: the reweight artifact (posts with habit weights);
    ``normalized``: the normalize artifact (bloggers' followers, likes, posts)."""
    params = search_section(config, section)
    store = config.open_store()
    model_art, weighted_art, normalized_art = Artifact(store, model), Artifact(store, weighted), Artifact(store, normalized)

    def compute(ws: Workspace) -> StageResult:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from topictensor.embeddings import Embeddings
        from topictensor.search.bloggers import FILENAME, _vectors, compute_blogger_vectors
        from topictensor.search.explain import profile_columns

        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        columns = ["blogger_id", "tags", "likes", "lang"] + (["weights"] if params.vector_weights == "reweight" else [])
        posts = weighted_art.read_table("posts.parquet", columns=columns)
        bloggers = normalized_art.read_table("bloggers.parquet")
        table = compute_blogger_vectors(posts, bloggers, emb, params.vector_weights)
        profiles, gap = profile_columns(posts, emb, table.column("blogger_id").to_pylist(),
                                        _vectors(table.column("vector")), params.vector_weights, params.profile_tags)
        if gap > MAX_PROFILE_GAP:
            raise ValueError(f"blogger profiles: the tag weights rebuild the blogger vectors only up to a cosine "
                             f"gap of {gap:.2e} (> {MAX_PROFILE_GAP:g}): explanations would not add up")
        for name, column in profiles.items():
            table = table.append_column(name, column)
        pq.write_table(table, ws.path(FILENAME))
        stored = pc.list_value_length(table.column("profile_tags")).to_numpy(zero_copy_only=False)
        n_posting = len(set(posts.column("blogger_id").to_pylist()))
        return StageResult(
            counts={"bloggers": table.num_rows, "bloggers_without_vector": n_posting - table.num_rows,
                    "posts": posts.num_rows, "profile_tags": int(stored.sum())},
            metrics={"profile_gap": gap},
            extra={"dim": emb.dim, "profile_tags": params.profile_tags},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES),
                     params={"vector_weights": params.vector_weights, "profile_tags": params.profile_tags},
                     inputs={"model": model_art.ref, "weighted": weighted_art.ref, "normalized": normalized_art.ref},
                     compute=compute)
