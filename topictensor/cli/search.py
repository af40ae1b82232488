"""Query commands: ``topic``, ``bloggers``, ``lookalikes``, ``suggest`` and ``serve`` (the HTTP API).

A bad query (empty, malformed weight, only negative weights) prints the reason and exits with
code 2; a query of only unknown tags or an unknown blogger exits with code 3 (see
``topictensor.cli.common``); unknown tags in an otherwise usable query are reported on stderr with
"did you mean" suggestions.

``bloggers`` and ``lookalikes`` take the API's options: engagement bounds, the relevance cut-off,
exclusions (bloggers by id or @username, and tags), ``--sort``/``--order``/``--offset``/``--limit``,
``--explain`` (each blogger's most contributing tags) and ``--csv`` (the whole result set as CSV).
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
    section = config.search
    if model_dir is not None:
        if version is not None:
            raise typer.BadParameter("give --model or --version, not both")
        from topictensor.cli.common import load_model_dir

        return SearchModel(load_model_dir(model_dir), config=section,
                           max_tag_length=config.normalize.max_tag_length)
    return guarded(lambda: SearchModel.load(Registry(config.open_store()), version, section))


def _run(action):
    """Run a query; a library error becomes its message and exit code (topictensor.cli.common)."""
    return guarded(action)


def _warn_unknown(unknown: list[str], suggestions: dict | None = None, hints: list[str] | None = None) -> None:
    from topictensor.search.themes import describe_unknown

    if unknown:
        typer.secho(f"unknown tags (ignored): {describe_unknown(unknown, suggestions or {})}", fg="yellow", err=True)
    for hint in hints or []:
        typer.secho(f"hint: {hint}", fg="yellow", err=True)


MinRelevanceOption = typer.Option(None, "--min-relevance",
                                  help="Leave out results with a cosine to the theme below this (-1..1).")
RelativeRelevanceOption = typer.Option(None, "--relative-relevance",
                                       help="...or below this share (0..1) of the best hit's cosine.")
ExcludeTagsOption = typer.Option(None, "--exclude-tags", help="Comma-separated tags: bloggers whose profile holds "
                                 "any are left out (topic: the tags are not listed).")


def topic(
    query: str = typer.Argument(..., help="Tags with optional weights: 'apple, iphone:-1, macbook:-0.05'."),
    top: int = typer.Option(50, "--top", min=1, help="How many tags (at most search.max_top)."),
    include_query_tags: bool = typer.Option(False, "--include-query-tags", help="Also list the query's own tags."),
    min_relevance: float = MinRelevanceOption, relative_relevance: float = RelativeRelevanceOption,
    exclude_tags: str = ExcludeTagsOption,
    version: str = VersionOption, model_dir: Path = ModelDirOption, as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """The tags nearest to a theme, with relevance (cosine) and popularity (count)."""
    from topictensor.search import Cutoff

    model = _model(config, version, model_dir)
    excluded = tuple(t.strip() for t in (exclude_tags or "").split(",") if t.strip())
    result = _run(lambda: model.topic(query, top, include_query_tags=include_query_tags,
                                      cutoff=Cutoff.from_config(model.config, min_relevance, relative_relevance),
                                      exclude_tags=excluded))
    if as_json:
        echo_json(result.to_dict())
        return
    _warn_unknown(result.theme.unknown, result.theme.suggestions, result.theme.hints)
    rows = [{"tag": h.tag, "relevance": h.relevance, "count": h.count} for h in result.tags]
    typer.echo(table(rows, ["tag", "relevance", "count"]))


def _filters_and_popularity(model, lang, min_followers, max_followers, min_posts, lambda_, phi, tau,
                            min_engagement=None, max_engagement=None):
    from topictensor.search import Filters, Popularity

    return (Filters(lang, min_followers, max_followers, min_posts, min_engagement, max_engagement),
            Popularity.from_config(model.config, lambda_, phi, tau))


def _selection(model, min_relevance, relative_relevance, exclude, exclude_tags, sort, order, offset, limit,
               explain, explain_tags, as_csv) -> dict:
    """The keyword arguments of SearchModel.bloggers_for / lookalikes for the selection options."""
    from topictensor.search import Cutoff, Exclusions, QueryError, View

    if as_csv and (offset or limit is not None):
        raise QueryError("--csv writes the whole result set: drop --offset and --limit")
    return {"cutoff": Cutoff.from_config(model.config, min_relevance, relative_relevance),
            "exclusions": Exclusions.parse(exclude, exclude_tags),
            "view": View(sort=sort, order=order, offset=offset, limit=limit),
            "explain_tags": (explain_tags or model.config.explain_tags) if explain else 0,
            "export": as_csv}


_COLUMNS = ["blogger_id", "username", "lang", "followers", "likes", "engagement", "posts", "tags", "similarity",
            "score"]


def _print_bloggers(result, as_json: bool, as_csv: bool = False) -> None:
    from topictensor.search.export import bloggers_csv, explanation_text

    if as_csv:
        typer.echo(bloggers_csv(result), nl=False)
    elif as_json:
        echo_json(result.to_dict())
        return
    _warn_unknown(result.unknown, result.suggestions, result.hints)
    if result.unknown_excluded:
        typer.secho(f"exclusions naming no blogger or known tag: {', '.join(result.unknown_excluded)}",
                    fg="yellow", err=True)
    if as_csv:
        return
    rows = [{**h.to_dict(), "why": explanation_text(h.why)} for h in result.hits]
    typer.echo(table(rows, _COLUMNS + (["why"] if result.explained else [])))
    if result.total > len(result.hits):
        typer.echo(f"rows {result.view.offset + 1}-{result.view.offset + len(result.hits)} of {result.total}", err=True)


MinEngagementOption = typer.Option(None, "--min-engagement", help="Engagement rate (likes per post / followers) "
                                   "at least this, e.g. 0.02.")
MaxEngagementOption = typer.Option(None, "--max-engagement", help="Engagement rate at most this.")
ExcludeOption = typer.Option(None, "--exclude", help="Comma-separated blogger ids or @usernames to leave out.")
SortOption = typer.Option("score", "--sort", help="Order of the result set: score, relevance, followers, engagement.")
OrderOption = typer.Option("desc", "--order", help="asc or desc.")
OffsetOption = typer.Option(0, "--offset", help="Skip this many rows of the (sorted) result set.")
LimitOption = typer.Option(None, "--limit", help="Print at most this many rows (default: all of --top).")
ExplainOption = typer.Option(False, "--explain", help="Show each blogger's tags contributing most to the relevance.")
ExplainTagsOption = typer.Option(None, "--explain-tags", help="How many tags --explain shows (default: config).")
CsvOption = typer.Option(False, "--csv", help="Write the whole result set as CSV to stdout.")


def bloggers(
    query: str = typer.Argument(..., help="Theme: tags with optional weights."),
    top: int = typer.Option(50, "--top"),
    lang: str = typer.Option(None, "--lang", help="Language code(s), e.g. en or en,ru."),
    min_followers: int = typer.Option(None, "--min-followers"),
    max_followers: int = typer.Option(None, "--max-followers"),
    min_posts: int = typer.Option(None, "--min-posts"),
    lambda_: float = typer.Option(None, "--lambda", help="Exponent of L(likes), -1..1 (default: config; negative favours popularity)."),
    phi: float = typer.Option(None, "--phi", help="Exponent of L(followers), -1..1."),
    tau: float = typer.Option(None, "--tau", help="Exponent of L(tags), -1..1."),
    min_engagement: float = MinEngagementOption, max_engagement: float = MaxEngagementOption,
    min_relevance: float = MinRelevanceOption, relative_relevance: float = RelativeRelevanceOption,
    exclude: str = ExcludeOption, exclude_tags: str = ExcludeTagsOption,
    sort: str = SortOption, order: str = OrderOption, offset: int = OffsetOption, limit: int = LimitOption,
    explain: bool = ExplainOption, explain_tags: int = ExplainTagsOption, as_csv: bool = CsvOption,
    version: str = VersionOption, as_json: bool = JsonOption, config: Path = ConfigOption,
) -> None:
    """Bloggers ranked for a theme by relevance and popularity."""
    model = _model(config, version)

    def run():
        filters, popularity = _filters_and_popularity(model, lang, min_followers, max_followers, min_posts,
                                                      lambda_, phi, tau, min_engagement, max_engagement)
        return model.bloggers_for(query, top, filters, popularity,
                                  **_selection(model, min_relevance, relative_relevance, exclude, exclude_tags, sort,
                                               order, offset, limit, explain, explain_tags, as_csv))

    _print_bloggers(_run(run), as_json, as_csv)


def lookalikes(
    blogger_id: str = typer.Argument(..., help="The blogger to find look-alikes of: an id or @username."),
    top: int = typer.Option(50, "--top"),
    lang: str = typer.Option(None, "--lang"),
    min_followers: int = typer.Option(None, "--min-followers"),
    max_followers: int = typer.Option(None, "--max-followers"),
    min_posts: int = typer.Option(None, "--min-posts"),
    lambda_: float = typer.Option(None, "--lambda"), phi: float = typer.Option(None, "--phi"),
    tau: float = typer.Option(None, "--tau"),
    min_engagement: float = MinEngagementOption, max_engagement: float = MaxEngagementOption,
    min_relevance: float = MinRelevanceOption, relative_relevance: float = RelativeRelevanceOption,
    exclude: str = ExcludeOption, exclude_tags: str = ExcludeTagsOption,
    sort: str = SortOption, order: str = OrderOption, offset: int = OffsetOption, limit: int = LimitOption,
    explain: bool = ExplainOption, explain_tags: int = ExplainTagsOption, as_csv: bool = CsvOption,
    version: str = VersionOption, as_json: bool = JsonOption, config: Path = ConfigOption,
) -> None:
    """Bloggers similar to BLOGGER_ID (an id or @username; their own vector as the theme), the blogger excluded."""
    model = _model(config, version)

    def run():
        filters, popularity = _filters_and_popularity(model, lang, min_followers, max_followers, min_posts,
                                                      lambda_, phi, tau, min_engagement, max_engagement)
        return model.lookalikes(blogger_id, top, filters, popularity,
                                **_selection(model, min_relevance, relative_relevance, exclude, exclude_tags, sort,
                                             order, offset, limit, explain, explain_tags, as_csv))

    _print_bloggers(_run(run), as_json, as_csv)


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
