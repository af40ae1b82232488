"""The fixed-topics endpoints of the API: ``/topics``, ``/topics/tree``, ``/topics/map``,
``/topics/{id}``, answered from the topics loaded with the request's model version
(:class:`topictensor.service.topic_map.VersionTopics`, swapped with it): no request reads an
artifact file, and one request's topics, tree, map and tag counts are all of one version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from topictensor.search.model import ModelUnavailable
from topictensor.search.themes import NotFoundError
from topictensor.service import topic_map
from topictensor.service.holder import ServedModel, current_model
from topictensor.service.strict import StrictQueryRoute
from topictensor.service.topic_map import STAGE, VersionTopics


def version_topics(model: ServedModel) -> VersionTopics:
    """The topics served with ``model``; a 503 naming the version when it has none."""
    topics = model.topics
    if topics is None:
        raise ModelUnavailable(f"version {model.version} has no {STAGE} artifact: the topic endpoints need a "
                               f"model published with the {STAGE} stage")
    return topics


router = APIRouter(route_class=StrictQueryRoute)


@router.get("/topics")
def topics(include_generic: bool = Query(False, description="Also list topics flagged 'generic' "
                                         "(made of topic-free tags; not in the tree)."),
           model: ServedModel = Depends(current_model)) -> dict[str, Any]:
    """The fixed topics of the served version: id, label, size, coherence, flags, group."""
    table = version_topics(model).table
    rows = [{"topic_id": int(r.topic_id), "label": r.label, "size": int(r.size),
             "coherence": float(r.coherence), "flags": list(r.flags), "group": int(r.parent_group)}
            for r in table.itertuples() if include_generic or "generic" not in list(r.flags)]
    return {"version": model.version, "topics": rows}

@router.get("/topics/tree")
def topics_tree(model: ServedModel = Depends(current_model)) -> dict[str, Any]:
    """The two-level topic tree of the served version: broad groups, each with its topics."""
    return {"version": model.version, "groups": version_topics(model).tree.get("groups", [])}

@router.get("/topics/map")
def topics_map(limit: int = Query(topic_map.DEFAULT_LIMIT, ge=1, le=topic_map.MAX_LIMIT,
                                  description="At most this many tags, the most used."),
               model: ServedModel = Depends(current_model)) -> dict[str, Any]:
    """2-D positions of the most used tags with their topic (t-SNE, laid out once per version by the
    clusters stage; ``limit`` picks the most used tags of that one layout)."""
    served = version_topics(model)
    layout, facts = served.topic_map()
    return {"version": model.version, **layout.most_used(limit).to_dict(served.table), **facts}

@router.get("/topics/{topic_id}")
def topic_detail(topic_id: int, top: int = Query(50, ge=1, le=10_000),
                 model: ServedModel = Depends(current_model)) -> dict[str, Any]:
    """One topic and its member tags, strongest first (soft members flagged)."""
    served = version_topics(model)
    table, members = served.table, served.members
    match = table[table["topic_id"] == topic_id]
    if match.empty:
        raise NotFoundError(f"no topic {topic_id} in version {model.version} "
                            f"(ids: {sorted(table['topic_id'].tolist())[:20]})")
    row = match.iloc[0]
    tags = members[members["topic_id"] == topic_id].sort_values("strength", ascending=False).head(top)
    emb = model.embeddings

    def count(tag: str) -> int:
        i = emb.index.get(tag)
        return int(emb.counts[i]) if i is not None else 0

    return {"version": model.version, "topic_id": topic_id, "label": row["label"], "size": int(row["size"]),
            "coherence": float(row["coherence"]), "flags": list(row["flags"]),
            "tags": [{"tag": t.tag, "strength": float(t.strength), "soft": bool(t.soft), "count": count(t.tag)}
                     for t in tags.itertuples()]}
