"""The whole refresh in plain Python, stage after stage: what the DAG wires, for use without
Airflow (``topictensor run``) and for tests. Each call is a no-op when its artifact exists."""

from __future__ import annotations

import logging
from typing import Any

from topictensor.config import PipelineConfig

log = logging.getLogger(__name__)

STAGES = ("ingest", "normalize", "filter", "reweight", "split", "train", "evaluate", "gate",
          "blogger_vectors", "index", "clusters", "publish")


def run_pipeline(config: PipelineConfig, *, run_id: str | None = None,
                 tune_budget_seconds: float = 0) -> dict[str, Any]:
    """Run every stage in order and return publish's run report."""
    from topictensor.stages.blogger_vectors import blogger_vectors
    from topictensor.stages.clusters import clusters_after_gate
    from topictensor.stages.evaluate import evaluate_model
    from topictensor.stages.filter import filter_language
    from topictensor.stages.gate import gate
    from topictensor.stages.index import build_index
    from topictensor.stages.ingest import ingest
    from topictensor.stages.languages import select_languages
    from topictensor.stages.normalize import normalize
    from topictensor.stages.publish import publish
    from topictensor.stages.reweight import reweight
    from topictensor.stages.split import split
    from topictensor.stages.train import train_model

    raw = ingest(config)
    normalized = normalize(raw, config)
    filtered = [filter_language(normalized, lang, config) for lang in select_languages(normalized, config)]
    weighted = reweight(filtered, config)
    splits = split(weighted, config)
    if tune_budget_seconds > 0:  # the DAG's optional tune task: its choice feeds train
        from topictensor.stages.tune import apply_tuned, tune_config

        config = apply_tuned(config, tune_config(splits, config, tune_budget_seconds))
    model = train_model(splits, config)
    evaluation = evaluate_model(model, splits, config)
    decision = gate(evaluation, config)
    vectors = blogger_vectors(model, weighted, normalized, config)
    index = build_index(vectors, config)
    topics = clusters_after_gate(model, decision, config, filtered=filtered)
    stages = {"ingest": raw, "normalize": normalized, "filter": filtered, "reweight": weighted,
              "split": splits, "train": model, "evaluate": evaluation,
              "blogger_vectors": vectors, "index": index, "clusters": topics}
    return publish(stages, decision, config, run_id=run_id)
