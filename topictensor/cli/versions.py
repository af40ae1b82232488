"""``topictensor versions ...`` and ``topictensor runs ...``: read and move the production pointer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, Group, JsonOption, echo_json, load, not_found, store_description, table

app = typer.Typer(cls=Group, no_args_is_help=True)
runs_app = typer.Typer(cls=Group, no_args_is_help=True)


def _registry(config: Path | None):
    from topictensor.registry import Registry

    return Registry(load(config).open_store())


@app.command("list")
def list_versions(as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """Every model version, oldest first; * marks production."""
    registry = _registry(config)
    prod = registry.production()
    rows = []
    for m in registry.list_versions():
        counts = m.get("counts", {})
        rows.append({
            "": "*" if m["version"] == prod else "",
            "version": m["version"],
            "created_at": m.get("created_at", "")[:19],
            "quality": m.get("metrics", {}).get("quality"),
            "tags": counts.get("train", {}).get("vocabulary"),
            "train_posts": counts.get("split", {}).get("train_posts"),
            "run": m.get("run_id"),
        })
    if as_json:
        echo_json([{"production": r[""] == "*", **{k: v for k, v in r.items() if k}} for r in rows])
    elif rows:
        typer.echo(table(rows, ["", "version", "created_at", "quality", "tags", "train_posts", "run"]))
    else:
        typer.echo(f"no model versions yet in {store_description(config)}")


@app.command()
def show(version: str = typer.Argument(None, help="Default: production."), config: Path = ConfigOption) -> None:
    """A version's manifest: artifacts, metrics, counts, config."""
    registry = _registry(config)
    version = version or registry.production()
    if version is None:
        not_found(f"nothing in production yet in {store_description(config)}; name a version")
    echo_json(registry.get_version(version))


@app.command()
def promote(version: str, reason: str = typer.Option("", help="Recorded in the history."),
            config: Path = ConfigOption) -> None:
    """Point production at VERSION."""
    echo_json(_registry(config).promote(version, reason=reason or "manual promote"))


@app.command()
def rollback(to: str = typer.Option(None, help="Version to go back to (default: the previous one)."),
             reason: str = typer.Option("", help="Recorded in the history."), config: Path = ConfigOption) -> None:
    """Point production back at the version before the current one."""
    echo_json(_registry(config).rollback(to=to, reason=reason))


@app.command()
def history(as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """Promotions and rollbacks, oldest first."""
    rows = _registry(config).history()
    if as_json:
        echo_json(rows)
    elif rows:
        typer.echo(table(rows, ["at", "action", "version", "previous", "by", "reason"]))
    else:
        typer.echo(f"no history yet in {store_description(config)}")


@runs_app.command()
def last(as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """The report of the latest pipeline run."""
    from topictensor.cli.pipeline import format_run_report

    cfg = load(config)
    store = cfg.open_store()
    keys = store.list("runs")
    if not keys:
        not_found(f"no pipeline run has finished yet in {store_description(config, cfg)}")
    report = json.loads(store.read_text(keys[-1]))
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_run_report(report))
