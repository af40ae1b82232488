"""A model directory: ``embeddings.parquet`` (tag, count, vector) and ``model.json`` (every
hyperparameter, corpus counts, timings, per-epoch history). The train stage and the
``topictensor train`` command both write it, so a model trained by hand and one from the DAG
are interchangeable. A warm start (:class:`topictensor.train.warm.WarmStart`) trains
``warm_epochs`` from a previous model's vectors and records where it started in model.json."""

from __future__ import annotations

import json
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from topictensor import __version__
from topictensor.errors import ContractError
from topictensor.train.params import TrainConfig

if TYPE_CHECKING:  # warm.py imports numba: only when a training actually runs
    from topictensor.train.warm import WarmStart

log = logging.getLogger(__name__)

MODEL_JSON = "model.json"
EMBEDDINGS = "embeddings.parquet"
OPTIMIZER = "adagrad.npy"  # float32 [rows of embeddings.parquet]: what a warm start continues from


def load_warm_start(model_dir: Path, source: dict[str, Any] | None = None, *,
                    adagrad_path: Path | None = None) -> WarmStart:
    """A model directory (or its embeddings.parquet) as the starting point of a retraining, with
    the Adagrad accumulators saved next to it when there are any."""
    import numpy as np

    from topictensor.embeddings import Embeddings
    from topictensor.train.warm import WarmStart

    try:
        emb = Embeddings.load(model_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise ContractError(f"cannot warm-start from {model_dir}: {exc}") from None
    folder = Path(model_dir) if Path(model_dir).is_dir() else Path(model_dir).parent
    adagrad_path = adagrad_path or folder / OPTIMIZER
    adagrad = None
    if adagrad_path.is_file():
        adagrad = np.load(adagrad_path)
        if adagrad.shape != (len(emb.tags),):  # not written with these embeddings: start it afresh
            log.warning("%s has %s values for %d tags; ignoring it", adagrad_path, adagrad.shape, len(emb.tags))
            adagrad = None
    return WarmStart(tags=emb.tags.tolist(), vectors=emb.vectors, source=source or {"path": str(model_dir)},
                     adagrad=adagrad)


def train_to_dir(table: pa.Table, cfg: TrainConfig, out_dir: Path, *, init: WarmStart | None = None) -> dict[str, Any]:
    """Train on a table with a ``tags`` list column (and optional ``weights``) and write the model.

    With ``init``: start from its vectors (same dim as ``cfg.dim``, else an error) and train
    ``cfg.warm_epochs`` epochs, continuing its Adagrad state (or, without one, at
    ``cfg.lr * cfg.warm_lr_scale``); its tags absent from ``table`` are kept (count 0, previous vector)
    when ``cfg.keep_vanished_tags``."""
    import numpy as np

    from topictensor.embeddings import Embeddings
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table
    from topictensor.train.warm import warm_init

    if "tags" not in table.column_names:
        raise ContractError(f"the training table has no 'tags' column (columns: {table.column_names})")
    tags_type = table.schema.field("tags").type
    is_list = pa.types.is_list(tags_type) or pa.types.is_large_list(tags_type)
    value_type = tags_type.value_type if is_list else None
    if value_type is not None and pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if value_type is None or not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise ContractError(f"the 'tags' column must be a list of strings, not {tags_type}")
    if init is not None and init.dim != cfg.dim:
        raise ContractError(
            f"cannot warm-start: the previous model {init.source} has dim {init.dim}, the config asks for "
            f"dim {cfg.dim}; set dim to {init.dim} or train cold"
        )
    warm = None
    run_cfg = cfg
    try:
        vocab, posts = encode_table(table, cfg.min_count)
        if init is not None and len(vocab):
            warm = warm_init(posts, vocab, init, np.random.default_rng([cfg.seed, 1]), cfg.init_sd)
            run_cfg = cfg.warm_run(adagrad_continued=warm.adagrad is not None)
            log.info("warm start from %s: %s", init.source, warm.summary())
        result = train(posts, vocab, run_cfg, init_vectors=None if warm is None else warm.vectors,
                       init_adagrad=None if warm is None else warm.adagrad)
    except ValueError as exc:  # the trainer's input checks: bad data, which no retry can fix
        raise ContractError(f"cannot train on these posts: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    tags, counts, vectors, adagrad = vocab.tags, vocab.counts, result.vectors, result.adagrad
    if warm is not None and cfg.keep_vanished_tags and warm.vanished_tags:
        tags = np.concatenate([tags, np.array(warm.vanished_tags, dtype=object)])
        counts = np.concatenate([counts, np.zeros(len(warm.vanished_tags), dtype=np.int64)])
        vectors = np.concatenate([vectors, warm.vanished_vectors])
        kept = warm.vanished_adagrad if warm.vanished_adagrad is not None else np.zeros(len(warm.vanished_tags))
        adagrad = np.concatenate([adagrad, kept.astype(np.float32)])
    Embeddings(tags=tags, counts=counts, vectors=vectors).save(out_dir)
    if cfg.adagrad and not cfg.separate_rhs:  # the state of the one matrix the vectors are
        np.save(out_dir / OPTIMIZER, adagrad.astype(np.float32))
    last = result.history[-1] if result.history else {}
    # over the epochs only (the kernels' compile or cache load and the set-up are not training), and
    # of the tag uses the kernels processed (trainable posts), as each epoch's log line reports
    epoch_seconds = sum(h["seconds"] for h in result.history)
    tags_processed = sum(h["tags_per_s"] * h["seconds"] for h in result.history)
    summary = {
        "vocabulary": len(vocab),
        "posts": len(posts),
        "occurrences": int(posts.n_occurrences),
        "seconds": round(result.seconds, 3),
        "threads": result.threads,
        "final_loss": float(last.get("loss", float("nan"))),
        "epoch_seconds": round(epoch_seconds, 3),
        "compile_seconds": round(result.jit_seconds, 3),
        "tags_per_second": float(tags_processed / epoch_seconds) if epoch_seconds > 0 else 0.0,
        "epochs": run_cfg.epochs,
        "init": None,
    }
    if warm is not None:
        summary["init"] = {**init.source, **warm.summary(), "vanished_kept": bool(cfg.keep_vanished_tags),
                           "epochs": run_cfg.epochs, "lr": run_cfg.lr, "adagrad_continued": warm.adagrad is not None}
    model = {
        "format": 1,
        "package_version": __version__,
        "trained_at": datetime.now(timezone.utc).isoformat(),
        "host": platform.node(),
        "hyperparameters": cfg.model_dump(mode="json"),
        "epochs_run": run_cfg.epochs,
        "init": summary["init"],
        "corpus": {k: summary[k] for k in ("vocabulary", "posts", "occurrences")},
        "seconds": summary["seconds"],
        "threads": summary["threads"],
        "history": result.history,
    }
    (out_dir / MODEL_JSON).write_text(json.dumps(model, indent=2, default=float))
    return summary
