"""
### topictensor_refresh

Weekly refresh of TopicTensor's hashtag embeddings: raw posts in object storage in, a promoted
model version out.

`ingest -> normalize -> filter[lang] (mapped) -> reweight -> split -> train -> evaluate -> gate`
`-> {blogger_vectors -> index, clusters} -> publish`

Every task calls one stage function of the `topictensor` library and passes only artifact
references through XCom. Stages are content-addressed: a task whose artifact already exists
returns at once, so retrying a run or rerunning it redoes nothing that finished.

**Params** (manual trigger): `input_uri` (raw prefix, `s3://...` or a directory), `languages`
(subset to train on), `train` (trainer overrides such as `{"epochs": 10}`), `overrides` (any
config section). Everything else comes from `TOPICTENSOR_CONFIG` / `TOPICTENSOR__*` variables.

**Failure modes that do not retry**: bad input beyond the reject share (ingest), a failed quality
gate (gate), production moved by someone else during the run (publish).
"""

from __future__ import annotations

import functools
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from pod_overrides import train_executor, train_executor_config  # dags/pod_overrides.py: plain data, no kubernetes import

DEFAULT_ARGS = {
    "owner": "mlops",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
}


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
        "languages": Param(None, type=["null", "array"], description="Languages to keep; empty = all."),
        "train": Param({}, type="object", description='Trainer overrides, e.g. {"epochs": 10}.'),
        "overrides": Param({}, type="object", description="Overrides of any config section."),
        "tune_budget_seconds": Param(0, type="number", minimum=0, description="Search the trainer's "
                                     "hyperparameters for this many seconds before training (0 = off)."),
    },
)
def topictensor_refresh():
    @task(doc_md="Read and validate raw posts and bloggers; bad rows go to `rejects`.")
    @_no_retry_on_final_errors
    def ingest() -> dict:
        from topictensor.stages.ingest import ingest as run

        return run(_config()).to_dict()

    @task(doc_md="Normalise tags (lowercase, no diacritics, no `#`) and give every blogger a language.")
    @_no_retry_on_final_errors
    def normalize(raw: dict) -> dict:
        from topictensor.stages.normalize import normalize as run

        return run(raw, _config()).to_dict()

    @task(doc_md="Languages present in the data and allowed by the config: one filter task each.")
    @_no_retry_on_final_errors
    def languages(normalized: dict) -> list[str]:
        from topictensor.stages.languages import select_languages

        return select_languages(normalized, _config())

    @task(doc_md="Keep tags used by enough distinct bloggers of one language; drop its blacklist; "
                 "write the top tags for blacklist review.",
          map_index_template="{{ task.op_kwargs['lang'] }}")
    @_no_retry_on_final_errors
    def filter_language(normalized: dict, lang: str) -> dict:
        from topictensor.stages.filter import filter_language as run

        return run(normalized, lang, _config()).to_dict()

    @task(doc_md="Merge languages; down-weight each blogger's habitual tags.")
    @_no_retry_on_final_errors
    def reweight(filtered: list[dict]) -> dict:
        from topictensor.stages.reweight import reweight as run

        return run(list(filtered), _config()).to_dict()

    @task(doc_md="Hold out posts for evaluation by a salted hash of post_id.")
    @_no_retry_on_final_errors
    def split(weighted: dict) -> dict:
        from topictensor.stages.split import split as run

        return run(weighted, _config()).to_dict()

    @task(doc_md="Optional hyperparameter search (successive halving over random configurations) on a "
                 "validation part of the training split; skipped when `tune_budget_seconds` is 0.",
          queue="train", pool="train", retries=1, execution_timeout=timedelta(hours=72),
          executor=train_executor(), executor_config=train_executor_config())
    @_no_retry_on_final_errors
    def tune(splits: dict) -> dict | None:
        budget = float(get_current_context()["params"].get("tune_budget_seconds") or 0)
        if budget <= 0:
            return None
        from topictensor.stages.tune import tune_config

        return tune_config(splits, _config(), budget).to_dict()

    @task(doc_md="Train the tag embeddings (numba StarSpace), warm-started from the production model. "
                 "Runs on the `train` queue and pool so a deployment can send it to the dedicated "
                 "many-core worker (a pod override under KubernetesExecutor: dags/pod_overrides.py).",
          queue="train", pool="train", retries=1, execution_timeout=timedelta(hours=72),
          executor=train_executor(), executor_config=train_executor_config())
    @_no_retry_on_final_errors
    def train(splits: dict, tuned: dict | None) -> dict:
        from topictensor.stages.train import train_model
        from topictensor.stages.tune import apply_tuned

        return train_model(splits, apply_tuned(_config(), tuned)).to_dict()

    @task(doc_md="Held-out quality: share of each tag's n-1 nearest tags that are its post's tags.")
    @_no_retry_on_final_errors
    def evaluate(model: dict, splits: dict) -> dict:
        from topictensor.stages.evaluate import evaluate_model

        return evaluate_model(model, splits, _config()).to_dict()

    @task(doc_md="Fail the run unless quality passes the floor and is not worse than production.",
          retries=0)
    @_no_retry_on_final_errors
    def gate(evaluation: dict) -> dict:
        from topictensor.stages.gate import gate as run

        return run(evaluation, _config())

    @task(doc_md="Each blogger's vector: the weighted sum of the tag vectors of all their posts.")
    @_no_retry_on_final_errors
    def blogger_vectors(model: dict, weighted: dict, normalized: dict) -> dict:
        from topictensor.stages.blogger_vectors import blogger_vectors as run

        return run(model, weighted, normalized, _config()).to_dict()

    @task(doc_md="nmslib HNSW index (cosine) over the blogger vectors, for fast candidate search.",
          execution_timeout=timedelta(hours=6))
    @_no_retry_on_final_errors
    def build_index(vectors: dict) -> dict:
        from topictensor.stages.index import build_index as run

        return run(vectors, _config()).to_dict()

    @task(doc_md="Fixed topics: UMAP to 5-D, HDBSCAN, cleaning and merging; topic ids carried over "
                 "from the production version.", execution_timeout=timedelta(hours=6))
    @_no_retry_on_final_errors
    def clusters(model: dict, decision: dict, filtered: list[dict]) -> dict:
        from topictensor.stages.clusters import clusters_after_gate

        return clusters_after_gate(model, decision, _config(), filtered=list(filtered)).to_dict()

    @task(doc_md="Record the model version and move the production pointer (compare-and-swap).")
    @_no_retry_on_final_errors
    def publish(raw: dict, normalized: dict, filtered: list[dict], weighted: dict, splits: dict,
                model: dict, evaluation: dict, decision: dict, vectors: dict, index: dict,
                topics: dict) -> dict:
        from topictensor.stages.publish import publish as run

        stages = {"ingest": raw, "normalize": normalized, "filter": list(filtered), "reweight": weighted,
                  "split": splits, "train": model, "evaluate": evaluation,
                  "blogger_vectors": vectors, "index": index, "clusters": topics}
        report = run(stages, decision, _config(), run_id=get_current_context()["run_id"])
        return {"version": report["version"], "promoted": report["promoted"], "quality": report["quality"]}

    raw = ingest()
    normalized = normalize(raw)
    filtered = filter_language.partial(normalized=normalized).expand(lang=languages(normalized))
    weighted = reweight(filtered)
    splits = split(weighted)
    model = train(splits, tune(splits))
    evaluation = evaluate(model, splits)
    decision = gate(evaluation)
    vectors = blogger_vectors(model, weighted, normalized)
    decision >> vectors  # only a model that passed the gate gets bloggers, an index and topics
    index = build_index(vectors)
    topics = clusters(model, decision, filtered)
    publish(raw, normalized, filtered, weighted, splits, model, evaluation, decision, vectors, index, topics)


topictensor_refresh()
