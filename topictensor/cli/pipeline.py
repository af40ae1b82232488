"""Commands that make data and run stages: ``synth``, ``run``, ``stage``."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, echo_json, load, table

STAGE_NAMES = ["ingest", "normalize", "filter", "reweight", "split", "train", "evaluate",
               "blogger_vectors", "index", "clusters"]


def register(app: typer.Typer) -> None:
    app.command()(synth)
    app.command()(run)
    app.command()(stage)


def synth(
    out: Path = typer.Option(Path(".data/raw"), "--out", help="Raw prefix to write posts/ and bloggers/ under."),
    seed: int = typer.Option(7, help="Same seed, same corpus."),
    bloggers: int = typer.Option(None, help="Number of bloggers (default: the generator's)."),
    posts_per_blogger: float = typer.Option(None, help="Mean posts per blogger."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or jsonl."),
    files: int = typer.Option(1, help="Files per table."),
    force: bool = typer.Option(False, help="Rewrite even when the same corpus is already there."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write a realistic demo corpus in the raw data contract (deterministic per seed)."""
    from topictensor import synth as synthesis

    fields = {"seed": seed, "format": fmt, "files_per_table": files}
    if bloggers is not None:
        fields["n_bloggers"] = bloggers
    if posts_per_blogger is not None:
        fields["posts_per_blogger_mean"] = posts_per_blogger
    config = synthesis.SynthConfig(**fields)
    if not force and synthesis.already_written(config, out):
        if as_json:
            echo_json({"out": str(out), "seed": seed, "written": False})
        else:
            typer.echo(f"{out}: the same corpus (seed {seed}) is already there; nothing written")
        return
    corpus = synthesis.generate(config)
    counts = synthesis.write(corpus, out, format=fmt, files_per_table=files)
    if as_json:
        echo_json({"out": str(out), "seed": seed, "written": True, **counts})
    else:
        typer.echo(f"wrote {out} (seed {seed}): " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))


def run(config: Path = ConfigOption, run_id: str = typer.Option(None, help="Name of this run in the report."),
        tune_budget: float = typer.Option(0, min=0, help="Seconds of hyperparameter search before training "
                                                         "(0 = off); training uses the choice."),
        as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON.")) -> None:
    """Run the whole refresh without Airflow; finished stages are reused."""
    from topictensor.pipeline import run_pipeline

    report = run_pipeline(load(config), run_id=run_id or "cli", tune_budget_seconds=tune_budget)
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_run_report(report))


def stage(
    name: str = typer.Argument(..., help=f"One of: {', '.join(STAGE_NAMES)}."),
    inputs: list[str] = typer.Option([], "--input", "-i", help="Input artifacts as STAGE/KEY, in order."),
    lang: str = typer.Option(None, help="Language (filter stage)."),
    config: Path = ConfigOption,
) -> None:
    """Run one stage on given input artifacts and print its reference (JSON)."""
    from topictensor.artifacts import Artifact, ArtifactRef

    cfg = load(config)
    store = cfg.open_store()
    refs = []
    for text in inputs:
        stage_name, _, key = text.partition("/")
        refs.append(Artifact(store, ArtifactRef(stage=stage_name, key=key)).ref)
    if name == "ingest":
        from topictensor.stages.ingest import ingest as fn

        ref = fn(cfg)
    elif name == "normalize":
        from topictensor.stages.normalize import normalize as fn

        ref = fn(_one(refs, name), cfg)
    elif name == "filter":
        from topictensor.stages.filter import filter_language as fn

        if not lang:
            raise typer.BadParameter("the filter stage needs --lang")
        ref = fn(_one(refs, name), lang, cfg)
    elif name == "reweight":
        from topictensor.stages.reweight import reweight as fn

        ref = fn(refs, cfg)
    elif name == "split":
        from topictensor.stages.split import split as fn

        ref = fn(_one(refs, name), cfg)
    elif name == "train":
        from topictensor.stages.train import train_model as fn

        ref = fn(_one(refs, name), cfg)
    elif name == "evaluate":
        from topictensor.stages.evaluate import evaluate_model as fn

        if len(refs) != 2:
            raise typer.BadParameter("evaluate needs --input train/KEY --input split/KEY")
        ref = fn(refs[0], refs[1], cfg)
    elif name == "blogger_vectors":
        from topictensor.stages.blogger_vectors import blogger_vectors as fn

        if len(refs) != 3:
            raise typer.BadParameter("blogger_vectors needs --input train/KEY --input reweight/KEY --input normalize/KEY")
        ref = fn(refs[0], refs[1], refs[2], cfg)
    elif name == "index":
        from topictensor.stages.index import build_index as fn

        ref = fn(_one(refs, name), cfg)
    elif name == "clusters":
        from topictensor.stages.clusters import clusters as fn
        from topictensor.stages.clusters import production_clusters

        ref = fn(_one(refs, name), cfg, previous=production_clusters(store))
    else:
        raise typer.BadParameter(f"unknown stage {name!r}; one of {', '.join(STAGE_NAMES)}")
    echo_json(ref.to_dict())


def _one(refs, name):
    if len(refs) != 1:
        raise typer.BadParameter(f"the {name} stage takes exactly one --input STAGE/KEY")
    return refs[0]


def _in_out(counts: dict, *pairs: tuple[str, str]) -> str:
    """'in -> out' for the first pair of count names the stage reports, else the single count."""
    for a, b in pairs:
        if a in counts and b in counts:
            return f"{counts[a]:,} -> {counts[b]:,}" if counts[a] != counts[b] else f"{counts[a]:,}"
        if a in counts and not b:
            return f"{counts[a]:,}"
    return ""


def stage_row(stage: dict) -> dict:
    """One report line: what went in and came out of a stage, in the same columns for every stage."""
    c = stage["counts"]
    return {
        "stage": stage["stage"] + (f"[{stage['label']}]" if stage.get("label") else ""),
        "status": "reused" if stage["reused"] else "computed",
        "seconds": stage["seconds"],
        "posts": _in_out(c, ("posts_in", "posts_out"), ("posts", ""), ("train_posts", "")),
        "bloggers": _in_out(c, ("bloggers_in", "bloggers_out"), ("bloggers", "")),
        "tag uses": _in_out(c, ("occurrences_in", "occurrences_out"), ("tags_in", "tags_out"), ("occurrences", "")),
        "distinct tags": _in_out(c, ("tags_in", "tags_kept"), ("vocabulary", "")) if "tags_kept" in c or "vocabulary" in c else "",
        "rejected": _in_out(c, ("rejected", "")),
    }


def format_run_report(report: dict) -> str:
    rows = [stage_row(s) for s in report["stages"]]
    computed = [r for r in rows if r["status"] == "computed"]
    quality = report.get("quality")
    lines = [
        f"run {report.get('run_id')}: model version {report['version']}, held-out quality "
        + (f"{quality:.4f}" if quality is not None else "-"),
        "production: " + (f"moved from {report['previous_production']} to {report['version']}" if report["promoted"]
                          else f"already {report['version']}, unchanged"),
        table(rows, ["stage", "status", "seconds", "posts", "bloggers", "tag uses", "distinct tags", "rejected"]),
        ("no work done: every stage's artifact was already present" if not computed
         else f"{len(computed)} of {len(rows)} stage artifacts computed, "
              f"{sum(r['seconds'] for r in computed):.1f} s of stage work"),
    ]
    return "\n".join(lines)
