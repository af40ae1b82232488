"""
### topictensor_refresh

Weekly refresh of TopicTensor's hashtag embeddings: raw posts in object storage in, a promoted
model version out. The tasks and their edges are the stage graph of `topictensor.stages.graph`:

`plan -> {bloggers, ingest[partition] -> normalize[partition]} -> window -> filter[lang] (mapped)`
`-> reweight -> split -> tune -> train -> evaluate -> gate -> {blogger_vectors -> index, clusters} -> publish`
`-> cleanup` (retention, when the `gc_keep_versions` param is > 0)

`plan` lists the raw prefix: the `posts/dt=YYYY-MM-DD/` partitions in the training window
(`ingest.window_days` days before the run's data interval end, or the `as_of` param) and the
newest bloggers snapshot before it. `ingest` and `normalize` are mapped per partition and keyed
by the partition's own listing, so a week adds one new partition's work; the window stage merges
the partitions' small summaries. Every task calls one stage function of the `topictensor` library
and passes only artifact references through XCom. Stages are content-addressed: a task whose
artifact already exists returns at once, so retrying or rerunning redoes nothing that finished.

**Params** (manual trigger): `input_uri` (raw prefix, `s3://...` or a directory), `as_of` (window
end, YYYY-MM-DD; empty = the data interval end), `languages` (subset to train on), `train`
(trainer overrides such as `{"epochs": 10}`), `overrides` (any config section). Everything else
comes from `TOPICTENSOR_CONFIG` / `TOPICTENSOR__*` variables. `TOPICTENSOR_MAPPED_CONCURRENCY`
caps how many partition / language tasks run at once (default: Airflow's parallelism).

**Failure modes that do not retry**: bad input beyond the reject share (bloggers, ingest, window),
a failed quality gate (gate, drift), production moved by someone else during the run (publish).

**The model Asset**: publish emits an event through the asset alias `topictensor-model` for the
store's production pointer (`file:///.../production.json` or `s3://.../production.json`) each time
it moves production, with the version and its quality in the event's extra; a run that promotes
nothing (a rerun, a manual gate, a backfill) emits none. `dags/topictensor_model_report.py` is
scheduled on it. **Failure notifications**: set `TOPICTENSOR_FAILURE_WEBHOOK` (a Slack-compatible
incoming webhook URL) and every failed task posts a message (`plugins/topictensor_notifications.py`); unset, off.
"""

from __future__ import annotations

import functools
import inspect
import os
from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, Param, dag, get_current_context, task
from topictensor_notifications import failure_callbacks  # plugins/topictensor_notifications.py (plugins are on sys.path)
from pod_overrides import train_executor, train_executor_config  # dags/pod_overrides.py: plain data, no kubernetes import

from topictensor.stages.graph import GRAPH, Stage, inputs_of  # the graph only: no heavy import at parse time

MAPPED_CONCURRENCY = int(os.environ.get("TOPICTENSOR_MAPPED_CONCURRENCY") or 0) or None
MAP_INDEX_TEMPLATES = {  # how the UI names each mapped task instance
    "ingest": "{{ task.op_kwargs['plan']['dt'] or 'all' }}",
    "filter": "{{ task.op_kwargs['languages'] }}",
}

_CALLBACKS = failure_callbacks()  # built once per parse: none unless a webhook is configured

DEFAULT_ARGS = {
    "owner": "mlops",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
    **({"on_failure_callback": _CALLBACKS} if _CALLBACKS else {}),
}

# Publish's outlet: the alias resolves, per run, to the Asset of the store the run published to.
MODEL_ALIAS = AssetAlias("topictensor-model")


def _config():
    """The run's config: the project config plus this run's params."""
    from topictensor.config import config_from_params

    return config_from_params(dict(get_current_context()["params"]))


def _no_retry_on_final_errors(func):
    """Errors that a retry cannot fix (bad data, failed gate, invalid config) fail the task at once."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from airflow.sdk.exceptions import AirflowFailException

        from topictensor.errors import ConfigError, ContractError, GateFailed, ResourceError
        from topictensor.registry import RegistryError

        try:
            return func(*args, **kwargs)
        except (ConfigError, ContractError, GateFailed, ResourceError, RegistryError) as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def _run_context():
    """This run's id, window end (the `as_of` param, else the data interval end) and tune budget."""
    from topictensor.stages.graph import RunContext

    context = get_current_context()
    params = context["params"]
    end = params.get("as_of") or context.get("data_interval_end") or context.get("logical_date")
    return RunContext(run_id=context["run_id"], as_of=end.isoformat() if hasattr(end, "isoformat") else end,
                      tune_budget_seconds=float(params.get("tune_budget_seconds") or 0),
                      gc_keep_versions=int(params.get("gc_keep_versions") or 0))


def _task_body(stage: Stage):
    """A task calling the stage's library function; its keyword inputs are the graph's."""

    def body(**inputs):
        from topictensor.stages.graph import call

        inputs = {name: _materialise(value) for name, value in inputs.items()}
        out = call(stage.name, _config(), _run_context(), **inputs)
        if stage.name == "publish":  # the report is in the store (runs/); XCom keeps the gist
            if out["promoted"]:
                _emit_model_event(out)
            out = {"version": out["version"], "promoted": out["promoted"], "quality": out["quality"],
                   "status": out["status"]}
        return out

    body.__name__ = stage.name
    body.__doc__ = stage.doc
    body.__signature__ = inspect.Signature(
        [inspect.Parameter(Stage.argument(name), inspect.Parameter.KEYWORD_ONLY) for name in inputs_of(stage)])
    return _no_retry_on_final_errors(body)


def _emit_model_event(report):
    """One Asset event per promotion: the production pointer of the run's store, version and quality."""
    from airflow.sdk import Asset

    store = _config().open_store()
    comparison = report.get("comparison") or {}
    extra = {"version": report["version"], "previous": report["previous_production"], "quality": report["quality"],
             "candidate_quality": comparison.get("candidate_quality"),
             "production_quality": comparison.get("production_quality"), "run": report.get("run"),
             "store": store.uri}
    get_current_context()["outlet_events"][MODEL_ALIAS].add(Asset(_asset_uri(store.url("production.json"))),
                                                           extra=extra)


def _asset_uri(url: str) -> str:
    """A local store's pointer as a file:// URI (an S3 one is already s3://bucket/key)."""
    from pathlib import Path

    return url if "://" in url else Path(url).resolve().as_uri()


def _materialise(value):
    """A mapped task's outputs arrive as a lazy sequence: read it by index up to its length.
    Iterating it instead probes one index past the end, which Airflow logs as
    '[error] XCom not found' in every successful run."""
    from collections.abc import Mapping, Sequence

    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, list, tuple, Mapping)):
        return [value[i] for i in range(len(value))]
    return value


def _task_options(stage: Stage) -> dict:
    options: dict = {}
    if stage.queue:
        options["queue"] = stage.queue
    if stage.pool:
        options["pool"] = stage.pool
    if stage.queue == "train":
        options.update(executor=train_executor(), executor_config=train_executor_config())
    if "retries" in stage.limits:
        options["retries"] = stage.limits["retries"]
    if "hours" in stage.limits:
        options["execution_timeout"] = timedelta(hours=stage.limits["hours"])
    if stage.name == "publish":
        options["outlets"] = [MODEL_ALIAS]
    if stage.mapped:
        options["map_index_template"] = MAP_INDEX_TEMPLATES.get(stage.name)
        if MAPPED_CONCURRENCY:
            options["max_active_tis_per_dag"] = MAPPED_CONCURRENCY
    return options


def _output(outputs: dict, name: str):
    stage, _, field = name.partition(".")
    return outputs[stage][field] if field else outputs[stage]


@dag(
    dag_id="topictensor_refresh",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["topictensor"],
    params={
        "input_uri": Param(None, type=["null", "string"], description="Raw prefix; empty = configured."),
        "as_of": Param(None, type=["null", "string"], description="End of the training window (YYYY-MM-DD, "
                       "exclusive); empty = the run's data interval end."),
        "languages": Param(None, type=["null", "array"], description="Languages to keep; empty = all."),
        "train": Param({}, type="object", description='Trainer overrides, e.g. {"epochs": 10}.'),
        "overrides": Param({}, type="object", description="Overrides of any config section."),
        "tune_budget_seconds": Param(0, type="number", minimum=0, description="Search the trainer's "
                                     "hyperparameters for this many seconds before training (0 = off)."),
        "gc_keep_versions": Param(0, type="integer", minimum=0, description="After publish, delete the artifacts "
                                  "no kept version (this many newest), production or window partition needs "
                                  "(0 = keep everything)."),
    },
)
def topictensor_refresh():
    outputs: dict = {}
    for stage in GRAPH:
        kwargs = {Stage.argument(name): _output(outputs, name) for name in inputs_of(stage)}
        operator = task(python_callable=_task_body(stage), task_id=stage.name, doc_md=stage.doc,
                        multiple_outputs=stage.multiple_outputs, **_task_options(stage))
        if stage.mapped:
            key = Stage.argument(stage.mapped)
            mapped_over = kwargs.pop(key)
            out = operator.partial(**kwargs).expand(**{key: mapped_over})
        else:
            out = operator(**kwargs)
        for upstream in stage.after:  # ordering only: e.g. a model that failed the gate gets no bloggers
            outputs[upstream] >> out
        outputs[stage.name] = out


topictensor_refresh()
