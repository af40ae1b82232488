"""Query commands: ``topic``, ``bloggers``, ``lookalikes``, ``suggest`` and ``serve`` (the HTTP API).

A bad query (empty, malformed weight) prints the reason and exits with code 2; a query of only
unknown tags or an unknown blogger exits with code 3 (see ``topictensor.cli.common``); unknown
tags in an otherwise usable query are reported on stderr.
"""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, JsonOption, ModelDirOption, echo_json, guarded, load, table

VersionOption = typer.Option(None, "--version", help="Model version (default: production).")


def register(app: typer.Typer) -> None:
    app.command("topic")(topic)
    app.command("bloggers")(bloggers)
    app.command("lookalikes")(lookalikes)
    app.command("suggest")(suggest)
    app.command("serve")(serve)


def _model(config_path: Path | None, version: str | None, model_dir: Path | None = None):
    """The model to query: a model directory's tags (--model), else a version of the store."""
    from topictensor.registry import Registry
    from topictensor.search import SearchModel

    config = load(config_path)
    section = getattr(config, "search", None)
    if model_dir is not None:
        if version is not None:
            raise typer.BadParameter("give --model or --version, not both")
        from topictensor.cli.common import load_model_dir

        return SearchModel(load_model_dir(model_dir), config=section)
    return guarded(lambda: SearchModel.load(Registry(config.open_store()), version, section))


def _run(action):
    """Run a query; a library error becomes its message and exit code (topictensor.cli.common)."""
    return guarded(action)


def _warn_unknown(unknown: list[str]) -> None:
    if unknown:
        typer.secho(f"unknown tags (ignored): {', '.join(unknown)}", fg="yellow", err=True)


def topic(
    query: str = typer.Argument(..., help="Tags with optional weights: 'apple, iphone:-1, macbook:-0.05'."),
    top: int = typer.Option(50, "--top", min=1, help="How many tags (at most search.max_top)."),
    include_query_tags: bool = typer.Option(False, "--include-query-tags", help="Also list the query's own tags."),
    version: str = VersionOption, model_dir: Path = ModelDirOption, as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """The tags nearest to a theme, with relevance (cosine) and popularity (count)."""
    model = _model(config, version, model_dir)
    result = _run(lambda: model.topic(query, top, include_query_tags=include_query_tags))
    if as_json:
        echo_json(result.to_dict())
        return
    _warn_unknown(result.theme.unknown)
    rows = [{"tag": h.tag, "relevance": h.relevance, "count": h.count} for h in result.tags]
    typer.echo(table(rows, ["tag", "relevance", "count"]))


def _filters_and_popularity(model, lang, min_followers, max_followers, min_posts, lambda_, phi, tau):
    from topictensor.search import Filters, Popularity

    return (Filters(lang, min_followers, max_followers, min_posts),
            Popularity.from_config(model.config, lambda_, phi, tau))


_COLUMNS = ["blogger_id", "username", "lang", "followers", "likes", "posts", "tags", "similarity", "score"]


def _print_bloggers(result, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
        return
    _warn_unknown(result.unknown)
    typer.echo(table([h.to_dict() for h in result.hits], _COLUMNS))


def bloggers(
    query: str = typer.Argument(..., help="Theme: tags with optional weights."),
    top: int = typer.Option(50, "--top"),
    lang: str = typer.Option(None, "--lang", help="Language code(s), e.g. en or en,ru."),
    min_followers: int = typer.Option(None, "--min-followers"),
    max_followers: int = typer.Option(None, "--max-followers"),
    min_posts: int = typer.Option(None, "--min-posts"),
    lambda_: float = typer.Option(None, "--lambda", help="Exponent of L(likes), 0..1 (default: config)."),
    phi: float = typer.Option(None, "--phi", help="Exponent of L(followers), 0..1."),
    tau: float = typer.Option(None, "--tau", help="Exponent of L(tags), 0..1."),
    version: str = VersionOption, as_json: bool = JsonOption, config: Path = ConfigOption,
) -> None:
    """Bloggers ranked for a theme by relevance and popularity."""
    model = _model(config, version)

    def run():
        filters, popularity = _filters_and_popularity(model, lang, min_followers, max_followers, min_posts,
                                                      lambda_, phi, tau)
        return model.bloggers_for(query, top, filters, popularity)

    _print_bloggers(_run(run), as_json)


def lookalikes(
    blogger_id: str = typer.Argument(..., help="The blogger to find look-alikes of."),
    top: int = typer.Option(50, "--top"),
    lang: str = typer.Option(None, "--lang"),
    min_followers: int = typer.Option(None, "--min-followers"),
    max_followers: int = typer.Option(None, "--max-followers"),
    min_posts: int = typer.Option(None, "--min-posts"),
    lambda_: float = typer.Option(None, "--lambda"), phi: float = typer.Option(None, "--phi"),
    tau: float = typer.Option(None, "--tau"),
    version: str = VersionOption, as_json: bool = JsonOption, config: Path = ConfigOption,
) -> None:
    """Bloggers similar to BLOGGER_ID (their own vector as the theme), the blogger excluded."""
    model = _model(config, version)

    def run():
        filters, popularity = _filters_and_popularity(model, lang, min_followers, max_followers, min_posts,
                                                      lambda_, phi, tau)
        return model.lookalikes(blogger_id, top, filters, popularity)

    _print_bloggers(_run(run), as_json)


def suggest(
    prefix: str = typer.Argument("", help="Start of a tag."),
    limit: int = typer.Option(10, "--limit", min=1, help="How many tags (at most search.max_top)."),
    version: str = VersionOption, as_json: bool = JsonOption, config: Path = ConfigOption,
) -> None:
    """Autocomplete: the most used tags starting with PREFIX."""
    model = _model(config, version)
    hits = _run(lambda: model.suggest(prefix, limit))
    rows = [{"tag": h.tag, "count": int(h.count)} for h in hits]
    if as_json:
        echo_json({"version": model.version, "prefix": prefix, "tags": rows})
    else:
        typer.echo(table(rows, ["tag", "count"]))


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    reload_seconds: float = typer.Option(None, "--reload-seconds", min=0,
                                         help="Check the production pointer at most this often "
                                              "(default: config search.reload_seconds)."),
    version: str = typer.Option(None, "--version", help="Serve this version only (no hot reload)."),
    config: Path = ConfigOption,
) -> None:
    """The explorer (/) and the HTTP API over the production version, following promotions live.
    API docs: /docs (Swagger UI, served locally), the schema at /openapi.json."""
    import uvicorn

    from topictensor.service.app import create_app

    app = create_app(load(config), version=version, reload_seconds=reload_seconds)
    app.state.holder.refresh(force=True)  # load before accepting requests (errors show in /health)
    uvicorn.run(app, host=host, port=port, log_level="info")
