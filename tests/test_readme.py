"""The README matches what runs: its configuration reference is the code's, and it lists every
command and every HTTP endpoint, and says where the API docs are as `serve --help` does."""

import re
import sys
from pathlib import Path

from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from topictensor.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "docs"))

from config_reference import reference  # noqa: E402


def test_configuration_section_is_the_codes_reference():
    """Regenerate with: .venv/bin/python docs/config_reference.py (between the two markers)."""
    inside = README.split("<!-- config-reference:start -->\n", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    assert inside == reference()


def test_the_reference_covers_every_section_and_field():
    from topictensor.config import PipelineConfig

    text = reference()
    for section, field in PipelineConfig.model_fields.items():
        assert f"**`{section}`**" in text
        for name in field.annotation.model_fields:
            assert f"| `{name}` |" in text, f"{section}.{name}"


def _command_names(group, prefix=""):
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _command_names(command, f"{prefix}{name} ")
        else:
            yield prefix + name


def test_every_command_is_in_the_command_table():
    table = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `([^`]+)`", table, flags=re.M) + re.findall(r" / `([^`]+)`", table)
    listed = set()
    for cell in cells:
        words = cell.split()
        listed.add(words[0] if words[0] not in ("topics", "versions", "runs") else " ".join(words[:2]))
    # a row such as "`topics list` / `show ID`" names its siblings without the group
    for cell in re.findall(r"^\| `(\w+) \w+[^`]*`((?: / `[^`]+`)+)", table, flags=re.M):
        group, rest = cell
        listed |= {f"{group} {name.split()[0]}" for name in re.findall(r"`([^`]+)`", rest)}
    missing = sorted(set(_command_names(get_command(app))) - listed)
    assert missing == [], f"commands missing from README's Command line table: {missing}"


def test_every_endpoint_is_listed_and_the_docs_location_agrees_with_serve_help():
    from fastapi.routing import APIRoute

    from topictensor.config import load_config
    from topictensor.service.app import create_app

    service = create_app(load_config(overrides={"store": {"uri": "/nonexistent-store"}}, use_env=False))
    paths = {r.path.replace("{blogger_id}", "{id}").replace("{topic_id}", "{id}")
             for r in service.routes if isinstance(r, APIRoute)}
    listed = set(re.findall(r"^\| `(/[^`?]*)", README, flags=re.M))
    assert paths - listed == set(), f"endpoints missing from the README: {sorted(paths - listed)}"
    help_text = " ".join(CliRunner().invoke(app, ["serve", "--help"]).stdout.split())
    for where in ("/docs", "/openapi.json"):
        assert where in help_text and f"`{where}`" in README


def test_use_it_from_python_runs_and_finds_the_planted_answer(tmp_path, monkeypatch, capsys):
    """The README's Python example, executed as written; its comments' claims are checked."""
    block = README.split("<!-- python-api:start -->\n```python\n", 1)[1].split("```\n<!-- python-api:end -->", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md (Use it from Python)", "exec"), scope)
    cars, food = set(scope["themes"]["cars"]), set(scope["themes"]["food"])
    near = {t for t, _ in scope["model"].neighbours("bmw", k=3)}
    assert len(near) == 3 and near <= cars
    assert {h.blogger_id for h in scope["hits"]} <= {f"b{b}" for b in range(0, 20, 2)} and len(scope["hits"]) == 5
    members = scope["topics"].members
    labelled = members[members.topic_id >= 0].groupby("topic_id").tag.apply(set).tolist()
    assert len(labelled) == 2 and all(g <= cars or g <= food for g in labelled)  # one theme each
    assert (tmp_path / "my-model" / "embeddings.parquet").is_file()
    printed = capsys.readouterr().out  # the example prints what its comments say
    assert "('garage'," in printed and "topic_id" in printed
