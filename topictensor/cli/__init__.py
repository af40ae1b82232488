"""The ``topictensor`` command: the same stage functions the DAG runs, for use without Airflow."""

from __future__ import annotations

import logging
import sys

import typer

from topictensor.cli import models, pipeline, search, topics, verify, versions

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
pipeline.register(app)
models.register(app)
search.register(app)
topics.register(app)
verify.register(app)
app.add_typer(versions.app, name="versions", help="Model versions and the production pointer.")
app.add_typer(versions.runs_app, name="runs", help="Reports of pipeline runs.")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    from topictensor.errors import TopicTensorError

    try:
        app()
    except TopicTensorError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from None
