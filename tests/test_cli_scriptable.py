"""The CLI as a script sees it, on a store made by the real pipeline: every read command's --json
parses, exit codes tell usage errors, not-found and failures apart, --version, the nmslib banner
is gone, and a command run outside the project folder says which store it used."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from topictensor import __version__, synth
from topictensor.cli import app
from topictensor.cli.common import ExitCode
from topictensor.config import load_config
from topictensor.pipeline import run_pipeline

runner = CliRunner()

# Commands that print JSON whatever the flags (so they need no --json) and commands that are not
# reads (they write, serve or search): everything else must take --json.
ALWAYS_JSON = {"stage", "evaluate", "versions show", "versions promote", "versions rollback"}
NOT_READS = {"tune", "export-projector", "serve", "topics build"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A store with one version made by the pipeline (PCA topics: no umap JIT in the suite), and a
    config file naming it."""
    root = tmp_path_factory.mktemp("cli")
    synth.write(synth.generate(synth.SynthConfig(seed=5, n_bloggers=300, posts_per_blogger_mean=20)), root / "raw")
    overrides = {"store": {"uri": str(root / "store")}, "ingest": {"input_uri": str(root / "raw")},
                 "filter": {"min_bloggers": 2}, "train": {"epochs": 3, "threads": 1, "seed": 1},
                 "clusters": {"reducer": "pca", "min_cluster_size": 5}}
    report = run_pipeline(load_config(overrides=overrides, use_env=False), run_id="cli-test")
    cfg = root / "topictensor.yaml"
    cfg.write_text(json.dumps(overrides))  # JSON is YAML
    return {"config": cfg, "version": report["version"], "root": root}


def cli(project, *args):
    return runner.invoke(app, [*args, "--config", str(project["config"])])


def _first_blogger(project):
    done = cli(project, "bloggers", "bmw", "--top", "1", "--json")
    return json.loads(done.stdout)["bloggers"][0]["blogger_id"]


def _first_topic(project):
    return json.loads(cli(project, "topics", "list", "--json").stdout)[0]["id"]


READS = [
    ["versions", "list"], ["versions", "history"], ["runs", "last"],
    ["neighbours", "bmw"], ["topic", "bmw, audi"], ["bloggers", "bmw", "--top", "3"],
    ["lookalikes", "{blogger}", "--top", "3"], ["suggest", "bm"],
    ["topics", "list"], ["topics", "show", "{topic}"], ["topics", "diff", "{version}", "{version}"],
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_every_read_command_prints_json_that_parses(project, args):
    values = {"version": project["version"]}
    if any("{blogger}" in a for a in args):
        values["blogger"] = _first_blogger(project)
    if any("{topic}" in a for a in args):
        values["topic"] = str(_first_topic(project))
    done = cli(project, *[a.format(**values) for a in args], "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body, f"{args}: empty JSON"


def test_json_carries_what_the_table_shows(project):
    listed = json.loads(cli(project, "versions", "list", "--json").stdout)
    assert [v["version"] for v in listed] == [project["version"]] and listed[0]["production"] is True
    near = json.loads(cli(project, "neighbours", "bmw", "--top", "5", "--json").stdout)
    assert near["tag"] == "bmw" and len(near["neighbours"]) == 5
    assert all(isinstance(n["cosine"], float) and -1 <= n["cosine"] <= 1 for n in near["neighbours"])
    report = json.loads(cli(project, "runs", "last", "--json").stdout)
    assert report["version"] == project["version"] and report["run_id"] == "cli-test"


def _commands(group: TyperGroup, prefix=""):
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_read_command_takes_json():
    """A command added later without --json fails here unless it is listed as not a read."""
    missing = [name for name, command in _commands(get_command(app))
               if name not in ALWAYS_JSON | NOT_READS and "--json" not in
               [opt for p in command.params for opt in getattr(p, "opts", [])]]
    assert missing == []


@pytest.mark.parametrize("args, code", [
    (["no-such-command"], ExitCode.USAGE),
    (["neighbours", "bmw", "--top", "0"], ExitCode.USAGE),  # out of the option's range
    (["topic", "apple:x"], ExitCode.USAGE),  # malformed weight
    (["bloggers", "bmw", "--lambda", "3"], ExitCode.USAGE),  # exponent outside 0..1
    (["neighbours", "zzznotatag"], ExitCode.NOT_FOUND),
    (["topic", "zzznotatag"], ExitCode.NOT_FOUND),
    (["lookalikes", "nobody"], ExitCode.NOT_FOUND),
    (["versions", "show", "0123456789ab"], ExitCode.NOT_FOUND),
    (["topics", "show", "99999"], ExitCode.NOT_FOUND),
    (["neighbours", "bmw", "--model", "/nonexistent/model"], ExitCode.NOT_FOUND),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v.name)
def test_exit_codes(project, args, code):
    done = cli(project, *args)
    assert done.exit_code == code, done.output
    if code != ExitCode.USAGE:  # click words its own usage errors
        assert "error:" in done.stderr


def test_exit_code_of_a_failure(tmp_path):
    bad = tmp_path / "posts.parquet"
    bad.write_text("not parquet")
    done = runner.invoke(app, ["train", "--posts", str(bad), "--out", str(tmp_path / "m")])
    assert done.exit_code == ExitCode.FAILURE and "not a readable Parquet file" in done.stderr


def test_exit_code_of_an_invalid_config(tmp_path):
    cfg = tmp_path / "tt.yaml"
    cfg.write_text("train:\n  dim: -3\n")
    done = runner.invoke(app, ["versions", "list", "--config", str(cfg)])
    assert done.exit_code == ExitCode.USAGE and "train.dim" in done.stderr


def test_nothing_found_in_an_empty_store_is_exit_code_3_and_names_the_store(tmp_path):
    cfg = tmp_path / "tt.yaml"
    cfg.write_text(f"store:\n  uri: {tmp_path / 'empty'}\n")
    for args in (["neighbours", "bmw"], ["runs", "last"], ["versions", "show"], ["topic", "bmw"]):
        done = runner.invoke(app, [*args, "--config", str(cfg)])
        assert done.exit_code == ExitCode.NOT_FOUND, (args, done.output)
        assert str(tmp_path / "empty") in done.stderr, (args, done.stderr)


def _entry_point(*args, cwd=None, env=None):
    """The installed entry point in a fresh process (its logging set-up and imports included)."""
    return subprocess.run([sys.executable, "-c", "from topictensor.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_outside_the_project_folder_the_command_says_which_store_it_used(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TOPICTENSOR_CONFIG"}
    done = _entry_point("versions", "list", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / ".data" / "store") in done.stdout and "no config file" in done.stdout
    done = _entry_point("neighbours", "bmw", cwd=tmp_path, env=env)
    assert done.returncode == ExitCode.NOT_FOUND
    assert str(tmp_path / ".data" / "store") in done.stderr and "no config file" in done.stderr


def test_version_flag():
    done = runner.invoke(app, ["--version"])
    assert done.exit_code == 0 and done.stdout.strip() == f"topictensor {__version__}"


def test_shell_completion_is_offered():
    done = runner.invoke(app, ["--help"])
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout


def test_help_shows_defaults_and_ranges():
    done = runner.invoke(app, ["neighbours", "--help"])
    text = " ".join(done.stdout.split())
    assert "[default: 10]" in text and "1<=x<=10000" in text


def test_no_nmslib_banner_on_a_query_that_loads_the_index(project):
    """`topictensor topic bmw 2>&1` in a fresh process: the index (nmslib) is loaded, nothing of
    nmslib's import-time banner reaches the terminal."""
    done = _entry_point("topic", "bmw", "--config", str(project["config"]))
    assert done.returncode == 0, done.stderr
    assert "CPU supports instructions" not in done.stderr + done.stdout
    assert "NMSLIB" not in done.stderr + done.stdout
    assert "bmw" in done.stdout or "relevance" in done.stdout


def test_train_prints_a_readable_summary_or_json(tmp_path):
    posts = tmp_path / "posts.parquet"
    groups = [["bmw", "audi", "car"], ["sushi", "ramen", "tokyo"]]
    pq.write_table(pa.table({"tags": pa.array([groups[i % 2] for i in range(400)], type=pa.list_(pa.string()))}),
                   posts)
    done = runner.invoke(app, ["train", "--posts", str(posts), "--out", str(tmp_path / "m"), "--dim", "8",
                               "--epochs", "2", "--threads", "1"])
    assert done.exit_code == 0, done.output
    assert "{" not in done.stdout and "tags/s" in done.stdout and "6 tags x 8 dims" in done.stdout
    done = runner.invoke(app, ["train", "--posts", str(posts), "--out", str(tmp_path / "j"), "--dim", "8",
                               "--epochs", "2", "--threads", "1", "--json"])
    summary = json.loads(done.stdout)
    # tags/s over the epochs only: the kernels' compile or cache load is reported apart
    history = json.loads((tmp_path / "j" / "model.json").read_text())["history"]
    processed, epoch_seconds = sum(h["tags_per_s"] * h["seconds"] for h in history), sum(h["seconds"] for h in history)
    assert summary["tags_per_second"] == pytest.approx(processed / epoch_seconds)
    assert summary["epoch_seconds"] == pytest.approx(epoch_seconds, abs=0.001)
    assert summary["epoch_seconds"] + summary["compile_seconds"] <= summary["seconds"] + 0.002
    assert summary["tags_per_second"] > processed / summary["seconds"]  # the compile is left out
    near = runner.invoke(app, ["neighbours", "bmw", "--model", str(tmp_path / "j"), "--json"])
    assert near.exit_code == 0, near.output
    assert {n["tag"] for n in json.loads(near.stdout)["neighbours"][:2]} == {"audi", "car"}
    topic = runner.invoke(app, ["topic", "sushi", "--model", str(tmp_path / "j"), "--json"])
    assert topic.exit_code == 0, topic.output
    assert {t["tag"] for t in json.loads(topic.stdout)["tags"][:2]} == {"ramen", "tokyo"}


def test_a_first_train_says_it_compiles_and_the_next_loads_from_the_cache(tmp_path):
    """In fresh processes with an empty numba cache folder: the first run says it compiles (about
    15-20 s here), the second that it loads; tags/s stays over the epochs."""
    posts = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"tags": pa.array([["a", "b", "c"], ["d", "e", "f"]] * 100,
                                              type=pa.list_(pa.string()))}), posts)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first = _entry_point("train", "--posts", str(posts), "--out", str(tmp_path / "m1"), "--dim", "4",
                         "--epochs", "1", "--threads", "1", env=env)
    assert first.returncode == 0, first.stderr
    assert "compiling the trainer's numba kernels" in first.stderr and str(tmp_path / "numba") in first.stderr
    second = _entry_point("train", "--posts", str(posts), "--out", str(tmp_path / "m2"), "--dim", "4",
                          "--epochs", "1", "--threads", "1", env=env)
    assert second.returncode == 0, second.stderr
    assert "loading the trainer's compiled kernels from the numba cache" in second.stderr
    assert "compiling" not in second.stderr


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/topictensor/numba"),
    ({"HOME": "{tmp}/home"}, "{tmp}/home/.cache/topictensor/numba"),
    ({"NUMBA_CACHE_DIR": "{tmp}/mine", "XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/mine"),
])
def test_numba_cache_folder_defaults_per_user(tmp_path, env, expected):
    """Set when topictensor is imported, before numba reads it (whatever imports numba later)."""
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    base.update({k: v.format(tmp=tmp_path) for k, v in env.items()})
    done = subprocess.run([sys.executable, "-c", "import topictensor, numba; print(numba.config.CACHE_DIR)"],
                          capture_output=True, text=True, env=base)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected.format(tmp=tmp_path)


def test_an_unusable_home_leaves_numba_its_own_cache_choice(tmp_path):
    """HOME is a file (no folder can be made under it, even by root): NUMBA_CACHE_DIR stays unset."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", "import os, topictensor; print(os.environ.get('NUMBA_CACHE_DIR'))"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_serve_prints_no_banner(project, tmp_path):
    """`topictensor serve` over a store with a model: up and answering, and no banner in its log."""
    import socket
    import time
    import urllib.request

    config = project["config"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from topictensor.cli import main; main()", "serve",
                                 "--port", str(port), "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"serve did not come up: {log.read_text()[-3000:]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Uvicorn running" in text or "Application startup complete" in text, text[-2000:]
    assert "CPU supports instructions" not in text and "NMSLIB" not in text
