"""A model directory: ``embeddings.parquet`` (tag, count, vector) and ``model.json`` (every
hyperparameter, corpus counts, timings, per-epoch history). The train stage and the
``topictensor train`` command both write it, so a model trained by hand and one from the DAG
are interchangeable."""

from __future__ import annotations

import json
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from topictensor import __version__
from topictensor.errors import ContractError
from topictensor.train.params import TrainConfig

log = logging.getLogger(__name__)

MODEL_JSON = "model.json"
EMBEDDINGS = "embeddings.parquet"


def train_to_dir(table: pa.Table, cfg: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Train on a table with a ``tags`` list column (and optional ``weights``) and write the model."""
    from topictensor.embeddings import Embeddings
    from topictensor.train.trainer import train
    from topictensor.train.vocab import build_vocabulary_arrow, encode_arrow

    if "tags" not in table.column_names:
        raise ContractError(f"the training table has no 'tags' column (columns: {table.column_names})")
    tags_type = table.schema.field("tags").type
    is_list = pa.types.is_list(tags_type) or pa.types.is_large_list(tags_type)
    value_type = tags_type.value_type if is_list else None
    if value_type is not None and pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if value_type is None or not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise ContractError(f"the 'tags' column must be a list of strings, not {tags_type}")
    weights = table.column("weights") if "weights" in table.column_names else None
    try:
        vocab = build_vocabulary_arrow(table.column("tags"), cfg.min_count)
        posts = encode_arrow(table.column("tags"), vocab, weights)
        result = train(posts, vocab, cfg)
    except ValueError as exc:  # the trainer's input checks: bad data, which no retry can fix
        raise ContractError(f"cannot train on these posts: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    Embeddings(tags=vocab.tags, counts=vocab.counts, vectors=result.vectors).save(out_dir)
    last = result.history[-1] if result.history else {}
    summary = {
        "vocabulary": len(vocab),
        "posts": len(posts),
        "occurrences": int(posts.n_occurrences),
        "seconds": round(result.seconds, 3),
        "threads": result.threads,
        "final_loss": float(last.get("loss", float("nan"))),
        "tags_per_second": float(posts.n_occurrences * cfg.epochs / max(result.seconds, 1e-9)),
    }
    model = {
        "format": 1,
        "package_version": __version__,
        "trained_at": datetime.now(timezone.utc).isoformat(),
        "host": platform.node(),
        "hyperparameters": result.config or cfg.model_dump(mode="json"),
        "corpus": {k: summary[k] for k in ("vocabulary", "posts", "occurrences")},
        "seconds": summary["seconds"],
        "threads": summary["threads"],
        "history": result.history,
    }
    (out_dir / MODEL_JSON).write_text(json.dumps(model, indent=2, default=float))
    return summary
