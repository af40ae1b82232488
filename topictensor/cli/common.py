"""Helpers shared by the CLI command modules: options, output, and the exit codes.

Exit codes (one definition, used by every command through :class:`Group` and :func:`guarded`):

====  ===========  ==========================================================================
code  name         when
====  ===========  ==========================================================================
0     OK           the command did what it was asked
1     FAILURE      the work failed: unreadable or bad input data, storage unreachable, a failed
                   quality gate, not enough memory, a model that cannot answer this kind of query
2     USAGE        the command line or the config is wrong: unknown option, value out of range,
                   malformed query (``tag:NUMBER``), invalid config field
3     NOT_FOUND    what was named does not exist: tag, blogger, topic, model version, no model
                   in production yet, no pipeline run yet
====  ===========  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config (default: $TOPICTENSOR_CONFIG or ./topictensor.yaml).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")

T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of an error the library raised on purpose."""
    from topictensor.errors import ConfigError, NotFound
    from topictensor.search.themes import QueryError

    if isinstance(exc, NotFound):
        return ExitCode.NOT_FOUND
    from topictensor.search import ModelUnavailable

    if isinstance(exc, ModelUnavailable):
        return ExitCode.FAILURE
    from topictensor.registry import InvalidVersionId

    if isinstance(exc, (ConfigError, QueryError, InvalidVersionId)):
        return ExitCode.USAGE
    return ExitCode.FAILURE


def fail(message: str, code: ExitCode = ExitCode.FAILURE) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(int(code))


def not_found(message: str) -> NoReturn:
    fail(message, ExitCode.NOT_FOUND)


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a TopicTensorError becomes its message on stderr and its exit code."""
    from topictensor.errors import TopicTensorError

    try:
        return action()
    except TopicTensorError as exc:
        code = exit_code_for(exc)
        message = str(exc)
        if code == ExitCode.NOT_FOUND and _loaded_from and _loaded_from[0] not in message:
            message += f" ({_loaded_from[0]})"  # a newcomer outside the project folder sees why
        fail(message, code)


class Group(TyperGroup):
    """A command group whose commands (and sub-groups') TopicTensorErrors exit with their code.

    Every Typer app of the CLI is made with ``typer.Typer(cls=Group)``, so a command added to
    any of them needs no error handling of its own."""

    def invoke(self, ctx: Any) -> Any:
        _loaded_from.clear()  # this command's config, not an earlier one's (one process, many invocations)
        return guarded(lambda: super(Group, self).invoke(ctx))


def store_description(config_path: Path | None, config=None) -> str:
    """Which store a command used and why: 'store /x/.data/store (config /x/topictensor.yaml)'."""
    uri = (config or load(config_path)).store.uri
    return f"store {uri} ({config_origin(config_path)})"


_loaded_from: list[str] = []  # where this process's config came from (for not-found messages)


def load(config_path: Path | None, overrides: dict[str, Any] | None = None):
    from topictensor.config import load_config

    config = load_config(config_path, overrides=overrides)
    _loaded_from[:] = [config_origin(config_path)]
    return config


def config_origin(config_path: Path | None) -> str:
    """'config /x/topictensor.yaml', or why there was none (so the defaults were used)."""
    from topictensor.config import default_config_path

    source = config_path or default_config_path()
    if source is not None:
        return f"config {Path(source).resolve()}"
    return f"no config file: $TOPICTENSOR_CONFIG is unset and {Path.cwd()} has no topictensor.yaml"


ModelDirOption = typer.Option(
    None, "--model", help="A model directory written by `topictensor train` (instead of a version of the store).")


def load_model_dir(path: Path):
    """The tag embeddings of a model directory; a missing or unreadable one is a clear error."""
    from topictensor.embeddings import FILENAME, Embeddings
    from topictensor.errors import ContractError

    file = path / FILENAME if path.is_dir() else path
    if not file.is_file():
        not_found(f"{path}: no model here (expected {FILENAME}, as `topictensor train --out DIR` writes)")
    try:
        return Embeddings.load(file)
    except (OSError, ValueError) as exc:
        raise ContractError(f"{file}: not a readable embeddings file ({exc})") from None


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
