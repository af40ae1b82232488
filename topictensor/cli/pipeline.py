"""Commands that make data and run stages: ``synth``, ``run``, ``stage``."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, echo_json, load, table

def _stage_names() -> list[str]:
    from topictensor.stages.graph import GRAPH

    return [s.name for s in GRAPH if s.name not in ("publish", "cleanup")]


STAGE_NAMES = _stage_names()


def register(app: typer.Typer) -> None:
    app.command()(synth)
    app.command()(run)
    app.command()(stage)
    app.command()(gc)


def synth(
    out: Path = typer.Option(Path(".data/raw"), "--out", help="Raw prefix to write posts/ and bloggers/ under."),
    seed: int = typer.Option(7, help="Same seed, same corpus."),
    bloggers: int = typer.Option(None, help="Number of bloggers (default: the generator's)."),
    posts_per_blogger: float = typer.Option(None, help="Mean posts per blogger."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or jsonl."),
    files: int = typer.Option(1, help="Files per table."),
    force: bool = typer.Option(False, help="Rewrite even when the same corpus is already there."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
    partition_by: str = typer.Option(None, "--partition-by", help="'week': posts/dt=<Monday>/ partitions and a "
                                                                  "bloggers snapshot per week; default: one folder."),
) -> None:
    """Write a realistic demo corpus in the raw data contract (deterministic per seed)."""
    from topictensor import synth as synthesis

    fields = {"seed": seed, "format": fmt, "files_per_table": files}
    if bloggers is not None:
        fields["n_bloggers"] = bloggers
    if posts_per_blogger is not None:
        fields["posts_per_blogger_mean"] = posts_per_blogger
    config = synthesis.SynthConfig(**fields)
    if not force and synthesis.already_written(config, out, partition_by):
        if as_json:
            echo_json({"out": str(out), "seed": seed, "written": False})
        else:
            typer.echo(f"{out}: the same corpus (seed {seed}) is already there; nothing written")
        return
    corpus = synthesis.generate(config)
    counts = synthesis.write(corpus, out, format=fmt, files_per_table=files, partition_by=partition_by)
    if as_json:
        echo_json({"out": str(out), "seed": seed, "written": True, **counts})
    else:
        typer.echo(f"wrote {out} (seed {seed}): " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))


def run(config: Path = ConfigOption, run_id: str = typer.Option(None, help="Name of this run in the report."),
        tune_budget: float = typer.Option(0, min=0, help="Seconds of hyperparameter search before training "
                                                         "(0 = off); training uses the choice."),
        as_of: str = typer.Option(None, "--as-of", help="End of the training window (exclusive, YYYY-MM-DD), as "
                                                       "Airflow's data interval end; default: the day after the "
                                                       "newest posts partition."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Processes for the per-partition and "
                                                                "per-language stages."),
        gc_keep_versions: int = typer.Option(0, "--gc-keep-versions", min=0, help="After publish, delete what no "
                                             "kept version, production or window partition needs (0 = off)."),
        as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON.")) -> None:
    """Run the whole refresh without Airflow; finished stages are reused."""
    from topictensor.pipeline import run_pipeline

    report = run_pipeline(load(config), run_id=run_id or "cli", tune_budget_seconds=tune_budget, as_of=as_of,
                          jobs=jobs, gc_keep_versions=gc_keep_versions)
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_run_report(report))


def stage(
    name: str = typer.Argument(..., help=f"One of: {', '.join(STAGE_NAMES)}."),
    inputs: list[str] = typer.Option([], "--input", "-i", help="Input artifacts as STAGE/KEY (repeat a stage "
                                                              "for a list, e.g. every filter/KEY of reweight)."),
    lang: str = typer.Option(None, help="Language (filter stage)."),
    partition: str = typer.Option(None, help="Posts partition day YYYY-MM-DD (ingest stage); 'all' for an "
                                             "unpartitioned prefix."),
    as_of: str = typer.Option(None, "--as-of", help="End of the window (plan, bloggers, ingest)."),
    config: Path = ConfigOption,
) -> None:
    """Run one stage of the graph on given inputs and print its output (JSON).

    Artifact inputs come from --input (STAGE/KEY, repeated for a list); ingest's partition is
    --partition of the window ending at --as-of; gate's decision is production as it is now."""
    from topictensor.artifacts import Artifact, ArtifactRef
    from topictensor.registry import Registry
    from topictensor.stages.graph import STAGES, RunContext, Stage, call, inputs_of

    if name not in STAGES or name in ("publish", "cleanup"):
        raise typer.BadParameter(f"unknown stage {name!r}; one of {', '.join(STAGE_NAMES)}")
    cfg = load(config)
    store = cfg.open_store()
    run = RunContext(run_id="cli", as_of=as_of)
    given: dict[str, list[dict]] = {}
    for text in inputs:
        stage_name, _, key = text.partition("/")
        if not key:
            raise typer.BadParameter(f"--input {text!r}: expected STAGE/KEY")
        given.setdefault(stage_name, []).append(Artifact(store, ArtifactRef(stage=stage_name, key=key)).ref.to_dict())
    spec = STAGES[name]
    kwargs = {}
    for input_name in inputs_of(spec):
        upstream = input_name.split(".", 1)[0]
        if upstream == "plan":
            wanted = None if partition in (None, "all") else partition
            chosen = [p for p in call("plan", cfg, run) if p["dt"] == wanted]
            if not chosen:
                raise typer.BadParameter(f"--partition {partition!r} is not a posts partition of the window "
                                         f"(see: topictensor stage plan)")
            value = chosen[0]
        elif upstream == "languages":
            if not lang:
                raise typer.BadParameter(f"the {name} stage needs --lang")
            value = lang
        elif upstream == "gate":
            value = {"production_version": Registry(store).production()}
        elif upstream == "tune":
            value = given.get("tune", [{}])[0]
        else:
            refs = given.get(upstream)
            if not refs:
                raise typer.BadParameter(f"the {name} stage needs --input {upstream}/KEY")
            as_list = STAGES[upstream].mapped is not None and spec.mapped != input_name
            if not as_list and len(refs) != 1:
                raise typer.BadParameter(f"the {name} stage takes exactly one --input {upstream}/KEY")
            value = refs if as_list else refs[0]
        kwargs[Stage.argument(input_name)] = value
    echo_json(call(name, cfg, run, **kwargs))


def gc(
    keep_versions: int = typer.Option(3, "--keep-versions", min=1, help="Model versions to keep besides production "
                                                                      "and the rollback target (newest first)."),
    dry_run: bool = typer.Option(True, "--dry-run/--delete", help="Only list what would go (the default); "
                                                                  "--delete deletes it."),
    as_of: str = typer.Option(None, "--as-of", help="Window whose partitions are kept (default: as a run's)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was (or would be) deleted as JSON."),
    config: Path = ConfigOption,
) -> None:
    """Delete artifacts that no kept version, production, or partition of the current window needs;
    with --delete also the scratch folders and temp files that killed processes left behind
    (``topictensor.scratch.clean_scratch``, which the stage runner also calls before every stage)."""
    from topictensor.scratch import clean_scratch
    from topictensor.gc import collect

    cfg = load(config)
    result = collect(cfg, keep_versions=keep_versions, dry_run=dry_run, as_of=as_of)
    scratch = None if dry_run else clean_scratch(store=cfg.open_store())
    if as_json:
        echo_json({**result.to_dict(), "scratch_removed": [str(p) for p in scratch.removed] if scratch else [],
                   "temp_files_removed": [str(p) for p in scratch.temp_files] if scratch else []})
        return
    by_stage: dict[str, int] = {}
    for name in result.delete:
        by_stage[name.split("/")[0]] = by_stage.get(name.split("/")[0], 0) + 1
    verb = "deleted" if result.deleted else "would delete"
    typer.echo(f"kept versions: {', '.join(result.kept_versions) or '-'}; {len(result.keep)} artifacts kept "
               f"({len(result.roots['versions'])} of versions, {len(result.roots['window'])} of the window's "
               f"partitions, {len(result.roots['recent'])} newer than the newest version)")
    typer.echo(f"{verb} {len(result.delete)} artifacts, {result.bytes_deleted / 1e6:.1f} MB"
               + (": " + ", ".join(f"{stage} {n}" for stage, n in sorted(by_stage.items())) if by_stage else ""))
    if result.incomplete:
        typer.echo(f"left alone: {len(result.incomplete)} folders without a manifest (in progress or crashed)")
    if scratch is not None:
        typer.echo(f"removed {len(scratch.removed)} stale scratch folders ({scratch.bytes_freed / 1e6:.1f} MB) and "
                   f"{len(scratch.temp_files)} temp files of gone processes; left {len(scratch.kept_alive)} of live ones")
    if not result.deleted and result.delete:
        typer.echo("dry run: nothing deleted; run with --delete to delete (stale scratch too)")


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


def _window_lines(report: dict) -> list[str]:
    """The training window and which of its partitions this run prepared (the rest were reused)."""
    window = report.get("window")
    if not window:
        return []
    days = [d or "all" for d in window.get("partitions", [])]
    fresh = sorted({s["label"] or "all" for s in report["stages"]  # a partition read again by any of them
                    if s["stage"] in ("ingest", "normalize", "prepare") and not s["reused"]})
    span = f"{days[0]} .. {days[-1]}" if len(days) > 1 else (days[0] if days else "-")
    return [f"window: {len(days)} partitions ({span}), ending {window.get('as_of') or 'after the newest'}; "
            f"prepared now: {', '.join(fresh) if fresh else 'none'} ({len(days) - len(fresh)} reused)"]


def _production_line(report: dict) -> str:
    status = report.get("status")
    if status == "rejected":
        return (f"production: {report.get('previous_production') or 'none'}, unchanged: rejected by the "
                f"{report.get('rejected_by')} ({report.get('reason')})")
    if report["promoted"]:
        return f"production: moved from {report['previous_production']} to {report['version']}"
    if status in ("candidate", "backfill"):
        return (f"production: {report.get('previous_production') or 'none'}, unchanged; {report['version']} "
                f"registered as a {status}: {report.get('why')}")
    return f"production: already {report['version']}, unchanged"


def format_run_report(report: dict) -> str:
    from topictensor.runs import comparison_lines

    rows = [stage_row(s) for s in report["stages"]]
    computed = [r for r in rows if r["status"] == "computed"]
    quality = report.get("quality")
    head = (f"run {report.get('run_id')}: " + (f"model version {report['version']}" if report.get("version")
                                               else "no version (rejected)")
            + ", held-out quality " + (f"{quality:.4f}" if quality is not None else "-"))
    if report.get("status") == "rejected":
        return "\n".join([head, _production_line(report), *comparison_lines(report)])
    lines = [
        head,
        _production_line(report),
        *comparison_lines(report),
        *_window_lines(report),
        table(rows, ["stage", "status", "seconds", "posts", "bloggers", "tag uses", "distinct tags", "rejected"]),
        ("no work done: every stage's artifact was already present" if not computed
         else f"{len(computed)} of {len(rows)} stage artifacts computed, "
              f"{sum(r['seconds'] for r in computed):.1f} s of stage work"),
    ]
    return "\n".join(lines)
