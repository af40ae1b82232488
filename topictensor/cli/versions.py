"""``topictensor versions ...`` and ``topictensor runs ...``: read and move the production pointer."""

from __future__ import annotations

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
    """Every model version, oldest first; * marks production; status says which wait for a promote."""
    registry = _registry(config)
    manifests = registry.list_versions()
    statuses = registry.statuses(manifests)
    rows = []
    for m in manifests:
        counts = m.get("counts", {})
        comparison = m.get("comparison") or {}
        rows.append({
            "": "*" if statuses[m["version"]] == "production" else "",
            "version": m["version"],
            "status": statuses.get(m["version"]),
            "created_at": m.get("created_at", "")[:19],
            "quality": m.get("metrics", {}).get("quality"),
            "vs_production": (comparison["candidate_quality"] - comparison["production_quality"]
                              if comparison.get("production_quality") is not None else None),
            "tags": counts.get("train", {}).get("vocabulary"),
            "train_posts": counts.get("split", {}).get("train_posts"),
            "run": m.get("run_id"),
        })
    if as_json:
        echo_json([{"production": r[""] == "*", **{k: v for k, v in r.items() if k}} for r in rows])
    elif rows:
        typer.echo(table(rows, ["", "version", "status", "created_at", "quality", "vs_production", "tags",
                                "train_posts", "run"]))
    else:
        typer.echo(f"no model versions yet in {store_description(config)}")


@app.command()
def show(version: str = typer.Argument(None, help="Default: production."), config: Path = ConfigOption) -> None:
    """A version's manifest: artifacts, metrics, counts, config, comparison, drift."""
    registry = _registry(config)
    version = version or registry.production()
    if version is None:
        not_found(f"nothing in production yet in {store_description(config)}; name a version")
    echo_json(registry.get_version(version))


YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (scripts).")


def _plan(registry, current: str | None, target: str, verb: str) -> str:
    """What a promote or rollback will change, in words: from, to, and the target's comparison."""
    def describe(vid):
        if vid is None:
            return "nothing"
        m = registry.get_version(vid)
        q = m.get("metrics", {}).get("quality")
        return f"{vid} (held-out quality {q:.4f}, created {m.get('created_at', '')[:19]})" if q is not None else vid

    lines = [f"{verb}: production moves from {describe(current)} to {describe(target)}"]
    manifest = registry.get_version(target)
    comparison = manifest.get("comparison") or {}
    if comparison.get("production_quality") is not None:
        lines.append(f"  {target} was compared with {comparison['production_version']} on the same "
                     f"{comparison['posts']:,} held-out posts: {comparison['candidate_quality']:.4f} vs "
                     f"{comparison['production_quality']:.4f}")
        if comparison["production_version"] != current:
            lines.append(f"  note: production is now {current}, not the version it was compared with")
    drift = manifest.get("drift") or {}
    if drift:
        from topictensor.runs import comparison_lines

        lines += ["  " + line for line in comparison_lines({"comparison": None, "drift": drift})[1:]]
    return "\n".join(lines)


def interactive() -> bool:
    """Whether a person can answer: stdin is a terminal (a script, a pipe or CI is not)."""
    import sys

    return sys.stdin.isatty()


def _confirm(plan: str, yes: bool) -> None:
    """Print the plan; on a terminal ask before going on (--yes skips the question)."""
    typer.echo(plan, err=True)
    if not yes and interactive():
        typer.confirm("Go ahead?", abort=True, err=True)


@app.command()
def promote(version: str, reason: str = typer.Option("", help="Recorded in the history."), yes: bool = YesOption,
            config: Path = ConfigOption) -> None:
    """Point production at VERSION (a candidate waiting for approval, or any earlier version).
    Prints what will change and, on a terminal, asks first."""
    from topictensor.registry import DamagedPointer, check_version_id

    registry = _registry(config)
    check_version_id(version)
    try:
        current, damage = registry.production(), None
    except DamagedPointer as exc:  # a plain promote is the repair (the history records it)
        current, damage = None, str(exc)
    plan = _plan(registry, current, version, "promote")
    if damage:
        plan += f"\n  {damage}: this promote repairs it"
    _confirm(plan, yes)
    expected = {} if damage else {"expected": current}
    echo_json(registry.promote(version, reason=reason or "manual promote", **expected))


@app.command()
def rollback(to: str = typer.Option(None, help="Version to go back to (default: the previous one)."),
             reason: str = typer.Option("", help="Recorded in the history."), yes: bool = YesOption,
             config: Path = ConfigOption) -> None:
    """Point production back at the version before the current one. Prints what will change and,
    on a terminal, asks first."""
    registry = _registry(config)
    current, target = registry.rollback_plan(to)
    _confirm(_plan(registry, current, target, "rollback"), yes)
    echo_json(registry.rollback(to=target, reason=reason, expected=current))


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


def _runs_store(config: Path | None):
    cfg = load(config)
    return cfg.open_store()


RunArgument = typer.Argument(None, help="A run: its report name (or a unique prefix), run id or model version; "
                                        "default: the latest.")


@runs_app.command("list")
def list_runs(as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """Every pipeline run, oldest first: outcome, quality, the comparison and the drift."""
    from topictensor import runs

    rows = [runs.summary(r) for r in runs.list_reports(_runs_store(config))]
    if as_json:
        echo_json(rows)
    elif rows:
        typer.echo(table(rows, ["run", "status", "version", "quality", "candidate_quality", "production_quality",
                                "neighbour_overlap_at_10", "tags_new", "tags_vanished", "ranking_churn",
                                "computed", "seconds"]))
    else:
        typer.echo(f"no pipeline run has finished yet in {store_description(config)}")


@runs_app.command()
def show(run: str = RunArgument, as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """One run's report (default: the latest)."""
    from topictensor import runs
    from topictensor.cli.pipeline import format_run_report

    report = runs.find(_runs_store(config), run)
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_run_report(report))


@runs_app.command()
def last(as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """The report of the latest pipeline run (as `runs show`)."""
    show(None, as_json=as_json, config=config)


@runs_app.command("diff")
def diff_runs(run_a: str = typer.Argument(..., help="The earlier run (name, prefix, run id or version)."),
              run_b: str = typer.Argument(None, help="The later run; default: the latest."),
              as_json: bool = JsonOption, config: Path = ConfigOption) -> None:
    """What changed from RUN_A to RUN_B: outcome, quality and comparison, drift, window, recomputed stages."""
    from topictensor import runs

    store = _runs_store(config)
    result = runs.diff(runs.find(store, run_a), runs.find(store, run_b))
    if as_json:
        echo_json(result)
        return
    typer.echo(f"{result['a']} ({result['status']['a']}, version {result['version']['a'] or '-'}) -> "
               f"{result['b']} ({result['status']['b']}, version {result['version']['b'] or '-'})")
    rows = [{"figure": k, "a": v["a"], "b": v["b"], "delta": v["delta"]} for k, v in result["figures"].items()]
    typer.echo(table(rows, ["figure", "a", "b", "delta"]))
    typer.echo(f"partitions added: {', '.join(result['partitions_added']) or 'none'}; dropped: "
               f"{', '.join(result['partitions_dropped']) or 'none'}")
    typer.echo(f"stage artifacts that differ: {', '.join(result['stages_changed']) or 'none'} "
               f"({result['stages_same']} the same)")
