"""Commands that read a trained model: ``neighbours``."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, load, table


def register(app: typer.Typer) -> None:
    app.command()(neighbours)


def neighbours(
    tag: str = typer.Argument(..., help="A tag, normalised as in training (#BMW -> bmw)."),
    top: int = typer.Option(10, min=1, max=10_000),
    version: str = typer.Option(None, help="Model version (default: production)."),
    config: Path = ConfigOption,
) -> None:
    """The tags nearest to TAG by cosine in the production (or given) model."""
    from topictensor.embeddings import Embeddings
    from topictensor.registry import Registry
    from topictensor.tags import normalize_tag

    registry = Registry(load(config).open_store())
    emb = Embeddings.load(registry.artifact(version, "train").path("embeddings.parquet"))
    norm = normalize_tag(tag)
    if norm is None or norm not in emb:
        typer.secho(f"unknown tag {tag!r} (normalised: {norm!r}); the model has {len(emb.tags):,} tags", fg="red", err=True)
        raise typer.Exit(2)
    rows = [{"tag": t, "cosine": s, "count": int(emb.counts[emb.index[t]])} for t, s in emb.neighbours(norm, k=top, exclude=(norm,))]
    typer.echo(table(rows, ["tag", "cosine", "count"]))
