"""``topictensor verify [VERSION]``: check a model version's artifacts against their manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import ConfigOption, echo_json, load, table


def register(parent: typer.Typer) -> None:
    parent.command("verify")(verify)


def verify(
    version: str = typer.Argument(None, help="Model version (default: production)."),
    all_versions: bool = typer.Option(False, "--all", help="Every version in the registry."),
    sizes_only: bool = typer.Option(False, "--sizes-only", help="Check sizes only, not sha256 (no full read)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    config: Path = ConfigOption,
) -> None:
    """Check every file of a version's artifacts against its manifest (size and sha256).

    Exit status 1 when any file is missing or differs (each is listed), 0 when all match."""
    from topictensor.registry import Registry

    registry = Registry(load(config).open_store())
    if all_versions and version:
        raise typer.BadParameter("name a VERSION or --all, not both")
    versions = [m["version"] for m in registry.list_versions()] if all_versions else [version]
    rows = [row for vid in versions for row in registry.verify(vid, hashes=not sizes_only)]
    bad = [r for r in rows if r["problems"]]
    if as_json:
        echo_json({"ok": not bad, "checked": "sizes" if sizes_only else "sizes and sha256", "artifacts": rows})
    else:
        shown = [{**r, "status": "ok" if not r["problems"] else f"{len(r['problems'])} problems"} for r in rows]
        typer.echo(table(shown, ["version", "stage", "key", "files", "status"]) if rows else "no artifacts to verify")
        for r in bad:
            for problem in r["problems"]:
                typer.echo(f"{r['version']} {r['stage']}/{r['key']}: {problem}", err=True)
        files = sum(r["files"] for r in rows)
        what = "sizes" if sizes_only else "sizes and sha256"
        typer.echo(f"{len(rows) - len(bad)} of {len(rows)} artifacts ({files} files) match their manifests ({what})")
    if bad:
        raise typer.Exit(1)
