"""The whole refresh in plain Python, built from the stage graph (``topictensor.stages.graph``):
what the DAG wires, for use without Airflow (``topictensor run``) and for tests. Each call is a
no-op when its artifact exists. Mapped stages (one call per partition or language) run in a pool
of ``jobs`` processes when ``jobs > 1``."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from topictensor.config import PipelineConfig
from topictensor.pools import spawn_context
from topictensor.stages.graph import GRAPH, RunContext, Stage, call, inputs_of

log = logging.getLogger(__name__)


def run_pipeline(config: PipelineConfig, *, run_id: str | None = None, tune_budget_seconds: float = 0,
                 as_of: str | None = None, jobs: int = 1, gc_keep_versions: int = 0) -> dict[str, Any]:
    """Run every stage of the graph in order and return publish's run report."""
    run = RunContext(run_id=run_id, as_of=as_of, tune_budget_seconds=tune_budget_seconds,
                     gc_keep_versions=gc_keep_versions)
    results: dict[str, Any] = {}
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=spawn_context()) if jobs > 1 else None
    try:
        for stage in GRAPH:
            results[stage.name] = run_stage_of_graph(stage, config, run, results, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return results["publish"]


def run_stage_of_graph(stage: Stage, config: PipelineConfig, run: RunContext, results: dict[str, Any],
                       pool: ProcessPoolExecutor | None = None) -> Any:
    """One stage, its inputs taken from ``results`` (stage name -> output); all elements of a mapped one."""
    kwargs = {Stage.argument(name): _value(results, name) for name in inputs_of(stage)}
    if stage.mapped is None:
        return call(stage.name, config, run, **kwargs)
    key = Stage.argument(stage.mapped)
    items = list(kwargs.pop(key))
    if pool is None or len(items) < 2:
        return [call(stage.name, config, run, **kwargs, **{key: item}) for item in items]
    futures = [pool.submit(call, stage.name, config, run, **kwargs, **{key: item}) for item in items]
    return [f.result() for f in futures]


def _value(results: dict[str, Any], name: str) -> Any:
    stage, _, field = name.partition(".")
    value = results[stage]
    return value[field] if field else value


