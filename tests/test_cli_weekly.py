"""The weekly commands: `topictensor stage` over the graph (plan, a partition, the window from
given inputs) and `topictensor gc` (a dry run by default)."""

import json

from typer.testing import CliRunner

from topictensor import synth
from topictensor.cli import app

runner = CliRunner()


def test_stage_plan_then_one_partition_then_the_window_from_its_inputs(tmp_path):
    raw = tmp_path / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=6, n_bloggers=60, posts_per_blogger_mean=6)), raw,
                partition_by="week")
    config = tmp_path / "topictensor.yaml"
    config.write_text(f"store:\n  uri: {tmp_path / 'store'}\ningest:\n  input_uri: {raw}\n  window_days: 14\n")

    plan = runner.invoke(app, ["stage", "plan", "-c", str(config)])
    assert plan.exit_code == 0, plan.output
    days = [p["dt"] for p in json.loads(plan.output)]
    assert len(days) == 2  # window_days 14: the last two weekly partitions

    refs = []
    for day in days:
        ingested = runner.invoke(app, ["stage", "ingest", "--partition", day, "-c", str(config)])
        assert ingested.exit_code == 0, ingested.output
        key = json.loads(ingested.output)["key"]
        normalized = runner.invoke(app, ["stage", "normalize", "--input", f"ingest/{key}", "-c", str(config)])
        refs.append(json.loads(normalized.output)["key"])
    people = json.loads(runner.invoke(app, ["stage", "bloggers", "-c", str(config)]).output)
    inputs = ["--input", f"bloggers/{people['key']}"] + [a for k in refs for a in ("--input", f"normalize/{k}")]
    window = runner.invoke(app, ["stage", "window", *inputs, "-c", str(config)])
    assert window.exit_code == 0, window.output
    assert json.loads(window.output)["counts"]["partitions"] == 2

    wrong = runner.invoke(app, ["stage", "ingest", "--partition", "1999-01-04", "-c", str(config)])
    text = " ".join(wrong.output.replace("│", " ").split())  # the message inside typer's error box
    assert wrong.exit_code == 2 and "not a posts partition of the window" in text

    dry = runner.invoke(app, ["gc", "-c", str(config)])
    assert dry.exit_code == 0, dry.output
    assert "would delete 0 artifacts" in dry.output  # everything here is the current window's or newer
