"""The query side: themes from weighted tags, bloggers ranked by relevance and popularity,
lookalikes. :class:`SearchModel` is one loaded model version (tag embeddings, blogger vectors,
HNSW index), what the CLI and the service answer from.

A version without ``blogger_vectors`` still answers tag queries; without ``index`` it ranks
bloggers exactly (numpy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topictensor.embeddings import Embeddings
from topictensor.search.bloggers import BloggerHit, BloggerTable, Filters, Popularity, Ranking, rank_bloggers
from topictensor.search.params import SearchConfig
from topictensor.search.themes import NotFoundError, QueryError, TagHit, TagSuggester, Theme, build_theme, nearest_tags

__all__ = ["SearchModel", "SearchConfig", "QueryError", "NotFoundError", "Filters", "Popularity", "TopicResult",
           "BloggerResult", "ModelUnavailable"]


class ModelUnavailable(QueryError):
    """The loaded version cannot answer this kind of query (e.g. it has no blogger vectors); HTTP 503."""


@dataclass
class TopicResult:
    version: str | None
    theme: Theme
    tags: list[TagHit]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "query": self.theme.query, "used": self.theme.tags,
                "weights": {t.tag: t.weight for t in self.theme.terms if t.tag in self.theme.tags},
                "unknown": self.theme.unknown,
                "tags": [{"tag": h.tag, "relevance": round(h.relevance, 6), "count": h.count} for h in self.tags]}


@dataclass
class BloggerResult:
    version: str | None
    hits: list[BloggerHit]
    method: str
    candidates: int
    popularity: Popularity
    used: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    query: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "query": self.query, "used": self.used, "unknown": self.unknown,
                "method": self.method, "candidates": self.candidates,
                "lambda_": self.popularity.lambda_, "phi": self.popularity.phi, "tau": self.popularity.tau,
                "bloggers": [h.to_dict() for h in self.hits]}


class SearchModel:
    """Everything one model version needs to answer queries, loaded fully before use."""

    def __init__(self, embeddings: Embeddings, bloggers: BloggerTable | None = None, index: Any | None = None,
                 config: SearchConfig | None = None, version: str | None = None):
        self.embeddings = embeddings
        self.bloggers = bloggers
        self.index = index
        self.config = config or SearchConfig()
        self.version = version
        self.suggester = TagSuggester(embeddings)
        self.loaded_at = time.time()
        if bloggers is not None and len(bloggers) and bloggers.dim != embeddings.dim:
            raise ValueError(f"blogger vectors have {bloggers.dim} dimensions, the tag embeddings {embeddings.dim}")
        if index is not None and bloggers is not None and len(index) != len(bloggers):
            raise ValueError(f"the index holds {len(index)} vectors but there are {len(bloggers)} bloggers")

    # loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, registry, version: str | None = None, config: SearchConfig | None = None) -> "SearchModel":
        """Load ``version`` (None: production) from the registry: train, blogger_vectors, index."""
        from topictensor.registry import VersionNotFound
        from topictensor.search.bloggers import FILENAME
        from topictensor.search.index import INDEX_FILE, PARAMS_FILE, HnswIndex

        config = config or SearchConfig()
        vid = version or registry.production()
        if vid is None:
            raise VersionNotFound(f"no model is in production in {registry.store.uri}; run the pipeline first")
        manifest = registry.get_version(vid)
        stages = manifest.get("stages", {})
        # Every artifact the service reads is checked against its manifest's sha256s first: a
        # damaged file refuses the whole version (the holder keeps serving the one it has).
        served = {stage: registry.artifact(vid, stage).verify()
                  for stage in ("train", "blogger_vectors", "index", "clusters") if stages.get(stage)}
        if "train" not in served:
            registry.artifact(vid, "train")  # the registry's error: the version has no train artifact
        emb = Embeddings.load(served["train"].path("embeddings.parquet"))
        bloggers = index = None
        if "blogger_vectors" in served:
            bloggers = BloggerTable.read(served["blogger_vectors"].path(FILENAME))
        if bloggers is not None and "index" in served:
            art = served["index"]
            params = art.read_json(PARAMS_FILE)
            if params.get("vectors_key") not in (None, stages["blogger_vectors"][0]["key"]):
                raise ValueError(f"version {vid}: the index was built from blogger vectors "
                                 f"{params.get('vectors_key')}, not the version's {stages['blogger_vectors'][0]['key']}")
            index = HnswIndex.load(_adjacent(art.path(INDEX_FILE), art.path(INDEX_FILE + ".dat")), params,
                                   ef_search=config.ef_search)
        return cls(emb, bloggers, index, config, vid)

    # queries ---------------------------------------------------------------------------
    def check_top(self, top: int | None, name: str = "top") -> int:
        """``top`` itself when in 1..max_top (None: the default); otherwise a QueryError, never a silent cap."""
        top = self.config.default_top if top is None else top
        if not isinstance(top, int) or isinstance(top, bool) or top < 1 or top > self.config.max_top:
            raise QueryError(f"{name} must be an integer in 1..{self.config.max_top}, got {top!r}")
        return top

    def theme(self, query: str) -> Theme:
        return build_theme(query, self.embeddings, self.config.max_query_terms)

    def topic(self, query: str, top: int | None = None, *, include_query_tags: bool = False) -> TopicResult:
        top = self.check_top(top)
        theme = self.theme(query)
        return TopicResult(self.version, theme, nearest_tags(self.embeddings, theme, top,
                                                             include_query_tags=include_query_tags))

    def suggest(self, prefix: str, limit: int = 10) -> list[TagHit]:
        return self.suggester.suggest(prefix, self.check_top(limit, "limit"))

    def bloggers_for(self, query: str, top: int | None = None, filters: Filters = Filters(),
                     popularity: Popularity | None = None) -> BloggerResult:
        table = self._require_bloggers()
        top = self.check_top(top)
        theme = self.theme(query)
        pop = popularity or Popularity.from_config(self.config)
        ranking = rank_bloggers(table, theme.vector, top, popularity=pop, filters=filters, config=self.config,
                                index=self.index)
        return self._result(ranking, pop, query=query, used=theme.tags, unknown=theme.unknown)

    def lookalikes(self, blogger_id: str, top: int | None = None, filters: Filters = Filters(),
                   popularity: Popularity | None = None) -> BloggerResult:
        table = self._require_bloggers()
        top = self.check_top(top)
        row = table.row.get(str(blogger_id))
        if row is None:
            raise NotFoundError(f"no blogger {blogger_id!r} with a vector in version {self.version} "
                                f"({len(table):,} bloggers)")
        pop = popularity or Popularity.from_config(self.config)
        ranking = rank_bloggers(table, table.vectors[row], top, popularity=pop, filters=filters, config=self.config,
                                index=self.index, exclude=[str(blogger_id)])
        return self._result(ranking, pop, query=f"lookalikes of {blogger_id}")

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "tags": len(self.embeddings), "dim": self.embeddings.dim,
                "bloggers": len(self.bloggers) if self.bloggers is not None else 0,
                "index": getattr(self.index, "method", None) if self.index is not None else None,
                "loaded_at": self.loaded_at}

    def _require_bloggers(self) -> BloggerTable:
        if self.bloggers is None:
            raise ModelUnavailable(f"version {self.version} has no blogger_vectors artifact: "
                                   "blogger search needs a model published with the blogger_vectors stage")
        return self.bloggers

    def _result(self, ranking: Ranking, pop: Popularity, **kw) -> BloggerResult:
        return BloggerResult(self.version, ranking.hits, ranking.method, ranking.candidates, pop, **kw)


def _adjacent(index_path: Path, data_path: Path) -> Path:
    """nmslib loads ``<path>.dat`` next to ``<path>``; an S3 cache may keep them apart: link them."""
    if Path(str(index_path) + ".dat") == data_path:
        return index_path
    from topictensor.artifacts import scratch_dir

    folder = scratch_dir("index-links")  # lives as long as the model: tagged, so no cleanup takes it
    (folder / index_path.name).symlink_to(index_path)
    (folder / (index_path.name + ".dat")).symlink_to(data_path)
    return folder / index_path.name

