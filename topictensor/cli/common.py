"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config (default: $TOPICTENSOR_CONFIG or ./topictensor.yaml).")


def load(config_path: Path | None, overrides: dict[str, Any] | None = None):
    from topictensor.config import load_config

    return load_config(config_path, overrides=overrides)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table (readable in task logs and terminals alike)."""
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
