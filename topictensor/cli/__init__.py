"""TopicTensor: the same stage functions the DAG runs, and queries over its models, without Airflow.

Read commands take --json. Exit codes: 0 done; 1 the work failed; 2 usage error (command line, query syntax, config); 3 not found (tag, blogger, topic, version, production, run).
"""  # noqa: E501 - one paragraph: --help keeps a docstring's line breaks

from __future__ import annotations

import logging
import sys

import typer

from topictensor.cli import common, models, pipeline, search, topics, verify, versions


def _print_version(value: bool) -> None:
    if value:
        from topictensor import __version__

        typer.echo(f"topictensor {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=common.Group, no_args_is_help=True, help=__doc__)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the package version and exit."),
) -> None:
    pass


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
    except TopicTensorError as exc:  # raised outside a command (e.g. while completing)
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(int(common.exit_code_for(exc))) from None
