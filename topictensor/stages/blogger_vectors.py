"""Blogger vectors stage (after the gate): one unit vector per blogger from the trained tag
vectors, with the blogger's profile numbers the ranking needs. Writes ``bloggers.parquet``
(blogger_id, username, lang, followers, likes = mean likes per post, likes_total, posts,
tags = tag uses known to the model, vector list<float32>, and each blogger's ``search.profile_tags``
largest tag weights: profile_tags, profile_weights, profile_rest); see ``topictensor.search.bloggers``
and ``topictensor.search.explain``. The split's posts (both sides, filtered and weighted as training
saw them: ``topictensor.stages.split.SplitPosts``) are streamed once, in batches, into per-blogger
sums: peak memory grows with bloggers x dim and the distinct (blogger, tag) pairs, not with posts."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig

STAGE = "blogger_vectors"
ENGINE_MODULES = ("topictensor.search.bloggers", "topictensor.search.explain", "topictensor.embeddings",
                  "topictensor.stages.streaming", "topictensor.stages.split")
# The profiles' weights must rebuild the stored (float32) vectors.
MAX_PROFILE_GAP = 1e-4


def search_section(config: PipelineConfig, section: SearchConfig | None = None) -> SearchConfig:
    """The ``search`` section: given, else from the config (once wired), else the defaults."""
    return section or getattr(config, "search", None) or SearchConfig()


def blogger_vectors(model: ArtifactRef | dict, weighted: ArtifactRef | dict, normalized: ArtifactRef | dict,
                    config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    """``model``: the train artifact; ``weighted``: the split artifact (posts with habit weights);
    ``normalized``: the window artifact (its bloggers.parquet: followers, likes, posts, language)."""
    params = search_section(config, section)
    store = config.open_store()
    model_art, weighted_art, normalized_art = Artifact(store, model), Artifact(store, weighted), Artifact(store, normalized)

    def compute(ws: Workspace) -> StageResult:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from topictensor.embeddings import Embeddings
        from topictensor.search.bloggers import FILENAME, BloggerVectorSums, _vectors
        from topictensor.search.explain import profiles_from_weights
        from topictensor.stages.prepare import SIDES
        from topictensor.stages.split import SplitPosts

        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        columns = ["blogger_id", "tags", "likes", "lang"] + (["weights"] if params.vector_weights == "reweight" else [])
        sums = BloggerVectorSums(emb, params.vector_weights)
        posts = SplitPosts(store, weighted_art)
        for side in SIDES:
            for batch in posts.batches(side, columns):
                sums.add(batch)  # memory: bloggers x dim, not posts
        table = sums.table(normalized_art.read_table("bloggers.parquet"))
        profiles, gap = profiles_from_weights(sums.ids.values().to_pylist(), sums.weight_matrix(), emb,
                                              table.column("blogger_id").to_pylist(),
                                              _vectors(table.column("vector")), params.profile_tags)
        if gap > MAX_PROFILE_GAP:
            raise ValueError(f"blogger profiles: the tag weights rebuild the blogger vectors only up to a cosine "
                             f"gap of {gap:.2e} (> {MAX_PROFILE_GAP:g}): explanations would not add up")
        for name, column in profiles.items():
            table = table.append_column(name, column)
        pq.write_table(table, ws.path(FILENAME))
        stored = pc.list_value_length(table.column("profile_tags")).to_numpy(zero_copy_only=False)
        return StageResult(
            counts={"bloggers": table.num_rows, "bloggers_without_vector": len(sums.ids) - table.num_rows,
                    "posts": sums.posts, "profile_tags": int(stored.sum())},
            metrics={"profile_gap": gap},
            extra={"dim": emb.dim, "profile_tags": params.profile_tags},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES),
                     params={"vector_weights": params.vector_weights, "profile_tags": params.profile_tags},
                     inputs={"model": model_art.ref, "weighted": weighted_art.ref, "normalized": normalized_art.ref},
                     compute=compute)
