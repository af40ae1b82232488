"""``topictensor topics``: build topics for any model directory, and read the production topics."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, Group, JsonOption, echo_json, load, not_found, table

app = typer.Typer(cls=Group, no_args_is_help=True, add_completion=False,
                  help="Fixed topics: build them for a model directory; list, show and diff published ones.")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="topics")


@app.command("build")
def build_command(
    model: Path = typer.Option(..., "--model", help="A model directory with embeddings.parquet (`topictensor train`)."),
    out: Path = typer.Option(..., "--out", help="Directory to write topics.parquet, members.parquet, report.html ..."),
    previous: Path = typer.Option(None, "--previous", help="An earlier output directory to carry topic ids from."),
    param: list[str] = typer.Option([], "--param", "-p", help="A topics setting KEY=VALUE (repeatable), "
                                    "e.g. -p min_cluster_size=20 -p reducer=pca."),
    config: Path = ConfigOption,
) -> None:
    """Cluster a model's tags into topics outside the pipeline (same engine as the clusters stage)."""
    import yaml

    from topictensor.embeddings import Embeddings
    from topictensor.topics.build import PreviousTopics, build_to_dir
    from topictensor.topics.params import TopicsConfig

    overrides = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param takes KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    base = load(config).clusters
    cfg = TopicsConfig.model_validate({**base.model_dump(), **overrides})
    emb = Embeddings.load(model)
    prev = PreviousTopics.load(lambda name: previous / name, source=str(previous)) if previous else None
    summary = build_to_dir(emb, cfg, out, previous=prev, title=f"Topics of {model}")
    if summary["reason"]:
        typer.secho(f"no topics: {summary['reason']}", fg="yellow", err=True)
    typer.echo(f"wrote {out}: {summary['topics']} topics, noise share {summary['noise_share']:.1%}, "
               f"mean coherence {summary['mean_coherence']:.3f}, ids kept {summary['ids_kept']}")


@app.command("list")
def list_command(
    version: str = typer.Option(None, help="Model version (default: production)."),
    flagged: bool = typer.Option(True, "--flagged/--no-flagged", help="Include topics flagged as suspect."),
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """The topics of the production (or given) version: id, label, size, coherence, group, flags."""
    topics = _topics(_artifact(config, version))
    if not flagged:
        topics = topics[[len(f) == 0 for f in topics["flags"]]]
    rows = [{"id": int(r.topic_id), "label": r.label, "size": int(r.size), "coherence": float(r.coherence),
             "group": int(r.parent_group), "flags": ",".join(r.flags)}
            for r in topics.sort_values(["size", "topic_id"], ascending=[False, True]).itertuples()]
    if as_json:
        echo_json(rows)
    else:
        typer.echo(table(rows, ["id", "label", "size", "coherence", "group", "flags"]))


@app.command("show")
def show_command(
    topic_id: int = typer.Argument(..., metavar="ID"),
    version: str = typer.Option(None, help="Model version (default: production)."),
    top: int = typer.Option(50, min=1, help="Members to print (strongest first)."),
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """One topic: its facts and its member tags by membership strength."""
    art = _artifact(config, version)
    topics = _topics(art)
    row = topics[topics["topic_id"] == topic_id]
    if row.empty:
        not_found(f"no topic {topic_id} in {art.ref.stage}/{art.ref.key} (ids: "
                  f"{', '.join(str(t) for t in sorted(topics['topic_id'])[:30])} ...)")
    r = row.iloc[0]
    members = art.read_table("members.parquet").to_pandas()
    members = members[members["topic_id"] == topic_id].sort_values(["soft", "strength", "tag"],
                                                                   ascending=[True, False, True])
    rows = [{"tag": m.tag, "strength": float(m.strength), "soft": bool(m.soft)} for m in members.head(top).itertuples()]
    if as_json:
        echo_json({"id": topic_id, "label": r["label"], "size": int(r["size"]), "soft_size": int(r["soft_size"]),
                   "coherence": float(r["coherence"]), "group": int(r["parent_group"]), "flags": list(r["flags"]),
                   "previous_ids": [int(v) for v in r["previous_ids"]],
                   "merged_from": [int(v) for v in r["merged_from"]], "members": rows})
        return
    ints = lambda values: ", ".join(str(int(v)) for v in values) or "-"  # noqa: E731
    typer.echo(f"topic {topic_id}: {r['label']}\n  size {r['size']} ({r['soft_size']} soft), coherence "
               f"{r['coherence']:.3f}, group {r['parent_group']}, flags {', '.join(r['flags']) or '-'}, "
               f"previous ids {ints(r['previous_ids'])}, merged from this run's clusters {ints(r['merged_from'])}")
    typer.echo(table(rows, ["tag", "strength", "soft"]))


@app.command("diff")
def diff_command(
    version_a: str = typer.Argument(..., metavar="VERSION_A"),
    version_b: str = typer.Argument(..., metavar="VERSION_B"),
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """Topics born, died and changed from version A to version B (ids are carried over between
    versions, so the same id is the same topic)."""
    from dataclasses import asdict

    from topictensor.topics.match import topic_changes

    a, b = _artifact(config, version_a), _artifact(config, version_b)
    changes = topic_changes(_topics(a), a.read_table("members.parquet").to_pandas(),
                            _topics(b), b.read_table("members.parquet").to_pandas())
    rows = [{**asdict(c), "id": c.topic_id} for c in changes]
    if as_json:
        echo_json(rows)
    else:
        typer.echo(table(rows, ["event", "id", "label", "size_a", "size_b", "jaccard"]))


def _artifact(config: Path | None, version: str | None):
    from topictensor.registry import Registry

    return Registry(load(config).open_store()).artifact(version, "clusters")


def _topics(art):
    return art.read_table("topics.parquet").to_pandas()
