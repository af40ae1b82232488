"""Test helper: run the stage graph up to one stage (what `topictensor run` runs, cut short)."""

from __future__ import annotations

from typing import Any

from topictensor.pipeline import run_stage_of_graph
from topictensor.stages.graph import GRAPH, RunContext


def run_until(config, last: str, *, as_of: str | None = None, jobs_pool=None) -> dict[str, Any]:
    """Outputs of every stage up to and including ``last``, by stage name."""
    run = RunContext(run_id="test", as_of=as_of)
    results: dict[str, Any] = {}
    for stage in GRAPH:
        results[stage.name] = run_stage_of_graph(stage, config, run, results, jobs_pool)
        if stage.name == last:
            return results
    raise KeyError(last)
