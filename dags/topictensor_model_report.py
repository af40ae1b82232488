"""
### topictensor_model_report

Runs after every promotion of a TopicTensor model: scheduled on the asset alias
`topictensor-model`, which the refresh's publish task resolves to the store's production pointer
(`file:///.../production.json`, `s3://.../production.json`) each time it moves production.

It exports the week's report: the promoting run's report (comparison with the previous model on
the same held-out posts, drift, stages) as text and JSON under `reports/` in the same store
(`reports/<version>.txt`, `reports/<version>.json`), and prints it in the task log. A team that
warms a search service, refreshes a dashboard or mails the report adds its task here.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, dag, get_current_context, task

MODEL_ALIAS = AssetAlias("topictensor-model")  # the refresh's publish outlet (dags/topictensor_refresh.py)


@dag(
    dag_id="topictensor_model_report",
    schedule=[MODEL_ALIAS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "mlops", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "execution_timeout": timedelta(minutes=10)},
    doc_md=__doc__,
    tags=["topictensor"],
)
def topictensor_model_report():
    @task(inlets=[MODEL_ALIAS], doc_md="Write the promoting run's report under `reports/` and log it.")
    def export_report() -> list[dict]:
        import json

        from topictensor.cli.pipeline import format_run_report
        from topictensor.config import load_config
        from topictensor.registry import Registry
        from topictensor.runs import find
        from topictensor.store import open_store

        config = load_config()
        events = list(get_current_context().get("triggering_asset_events", {}).values())
        promoted = [e.extra for group in events for e in group if (e.extra or {}).get("version")]
        if not promoted:  # started by hand: the production model of the configured store
            store = config.open_store()
            version = Registry(store).production()
            promoted = [{"version": version, "store": store.uri}] if version else []
        written = []
        for extra in promoted:
            store = open_store(extra.get("store") or config.store.uri, endpoint_url=config.store.endpoint_url)
            report = find(store, extra.get("run") or extra["version"])
            text = format_run_report(report)
            print(text)
            store.write_text(f"reports/{extra['version']}.txt", text + "\n")
            store.write_text(f"reports/{extra['version']}.json", json.dumps(report, indent=2, default=str))
            written.append({"version": extra["version"], "report": store.url(f"reports/{extra['version']}.txt")})
        return written

    export_report()


topictensor_model_report()
