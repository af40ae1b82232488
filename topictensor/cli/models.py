"""Commands that train, tune and read a model: ``train``, ``tune``, ``evaluate``,
``export-projector``, ``neighbours``."""

from __future__ import annotations

from pathlib import Path

import typer

from topictensor.cli.common import (ConfigOption, JsonOption, ModelDirOption, echo_json, load, load_model_dir,
                                    not_found, table)


def register(app: typer.Typer) -> None:
    app.command()(neighbours)
    app.command("train")(train_command)
    app.command("tune")(tune_command)
    app.command("evaluate")(evaluate_command)
    app.command("export-projector")(export_projector_command)


def export_projector_command(
    out: Path = typer.Option(..., "--out", help="Folder for vectors.tsv and metadata.tsv."),
    model: Path = typer.Option(None, "--model", help="A model directory (default: the production version's)."),
    version: str = typer.Option(None, help="Model version (default: production)."),
    config: Path = ConfigOption,
) -> None:
    """Files for TensorFlow's Embedding Projector (projector.tensorflow.org: Load -> the two TSVs)."""
    from topictensor.embeddings import export_projector

    emb = _embeddings(model, config, version)
    vectors, metadata = export_projector(emb, out)
    typer.echo(f"wrote {vectors} and {metadata} ({len(emb.tags):,} tags x {emb.dim})")


def _production_embeddings_path(config: Path | None, version: str | None) -> Path:
    from topictensor.registry import Registry

    # Verified (sha256) like the service's load: a damaged file is an error, never an answer.
    return Registry(load(config).open_store()).artifact(version, "train").verify().path("embeddings.parquet")


def _embeddings(model: Path | None, config: Path | None, version: str | None):
    """A model directory's embeddings when --model is given, else the version's (default: production)."""
    if model is not None:
        if version is not None:
            raise typer.BadParameter("give --model or --version, not both")
        return load_model_dir(model)
    from topictensor.embeddings import Embeddings

    return Embeddings.load(_production_embeddings_path(config, version))


def train_command(
    posts: Path = typer.Option(..., "--posts", help="Parquet file with a `tags` list<string> column (optional `weights`)."),
    out: Path = typer.Option(..., "--out", help="Model directory to write (embeddings.parquet, model.json)."),
    mode: str = typer.Option(None, help="skipgram | cbow | pair."),
    loss: str = typer.Option(None, help="hinge | softmax."),
    dim: int = typer.Option(None, min=1, help="Vector dimension (default: config train.dim)."),
    epochs: int = typer.Option(None, min=1, help="Passes over the posts (default: config train.epochs)."),
    negatives: int = typer.Option(None, min=1, help="Sampled negatives per example (default: config)."),
    lr: float = typer.Option(None, min=0.0, help="Learning rate (default: config train.lr)."),
    threads: int = typer.Option(None, min=0, help="0 = all cores (default: config train.threads)."),
    seed: int = typer.Option(None, help="Random seed (default: config train.seed)."),
    min_count: int = typer.Option(None, "--min-count", min=1, help="Drop tags used fewer times (default: config)."),
    deterministic: bool = typer.Option(False, "--deterministic", help="One thread, bit-identical reruns."),
    param: list[str] = typer.Option([], "--param", "-p", help="Any other trainer field, KEY=VALUE (repeatable)."),
    init_from: Path = typer.Option(
        None, "--init-from", help="Warm start from this model directory: its vectors start the training, "
        "new tags are placed next to the known tags they co-occur with, and train.warm_epochs epochs run "
        "(its dim is used unless --dim is given)."),
    as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
    config: Path = ConfigOption,
) -> None:
    """Train tag embeddings on any posts file, outside the pipeline (same trainer as the DAG).

    The first run on a machine compiles the trainer's kernels (about 15-20 s; said on stderr) into
    numba's cache ($NUMBA_CACHE_DIR, default ~/.cache/topictensor/numba); later runs load them."""
    import pyarrow.parquet as pq
    import yaml

    from topictensor.modeldir import load_warm_start, train_to_dir

    flags = {"mode": mode, "loss": loss, "dim": dim, "epochs": epochs, "negatives": negatives, "lr": lr,
             "threads": threads, "seed": seed, "min_count": min_count, "deterministic": deterministic or None}
    overrides = {k: v for k, v in flags.items() if v is not None}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param takes KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    init = None
    if init_from is not None:
        init = load_warm_start(init_from)
        overrides.setdefault("dim", init.dim)
    cfg = load(config, overrides={"train": overrides}).train
    table = _read_posts(posts, pq)
    summary = train_to_dir(table, cfg, out, init=init)
    if as_json:
        echo_json({"out": str(out), **summary})
        return
    lines = [f"wrote {out}: {summary['vocabulary']:,} tags x {cfg.dim} dims from {summary['posts']:,} posts "
             f"({summary['occurrences']:,} tag uses)",
             f"  {summary['epochs']} epochs in {summary['epoch_seconds']:.2f} s on {summary['threads']} thread(s): "
             f"{summary['tags_per_second']:,.0f} tags/s; final loss {summary['final_loss']:.4f}",
             f"  kernels {summary['compile_seconds']:.2f} s (compile or cache load); {summary['seconds']:.2f} s in all"]
    if summary["init"]:
        init_info = summary["init"]
        lines.append(f"  warm start from {init_info.get('path') or init_info.get('version')}: "
                     f"{init_info['tags_kept']:,} tags kept, {init_info['tags_new']:,} new, "
                     f"{init_info['tags_vanished']:,} vanished")
    typer.echo("\n".join(lines))


def tune_command(
    posts: Path = typer.Option(..., "--posts", help="Training posts: Parquet with a `tags` list<string> column."),
    out: Path = typer.Option(..., "--out", help="YAML file to write: the chosen `train:` section."),
    budget: float = typer.Option(..., "--budget", min=1, help="Wall-clock budget of the search, in seconds."),
    validation: Path = typer.Option(
        None, "--validation", help="Validation posts to choose by (default: --validation-share of --posts, "
        "carved out and not trained on)."),
    validation_share: float = typer.Option(0.1, "--validation-share", min=0.001, max=0.5),
    heldout: Path = typer.Option(
        None, "--heldout", help="Test posts: only reported for the chosen and the starting configuration "
        "after the search, never used to choose."),
    threads: int = typer.Option(None, help="0 = all cores."),
    seed: int = typer.Option(0, help="Seed of the validation carve-out and of the random configurations."),
    report: Path = typer.Option(None, "--report", help="Also write every trial as JSON here."),
    config: Path = ConfigOption,
) -> None:
    """Search dim (<= 128), epochs, negatives, learning rate and mode within a time budget
    (successive halving over random configurations, validation quality), print the trade-off table
    and write the chosen configuration."""
    import json

    import pyarrow.parquet as pq

    from topictensor.train.tune import split_validation, tune

    overrides = {"threads": threads} if threads is not None else {}
    base = load(config, overrides={"train": overrides} if overrides else None).train
    table = _read_posts(posts, pq)
    if validation is not None:
        train_part, valid_tags = table, _read_posts(validation, pq).column("tags").to_pylist()
    else:
        train_part, held = split_validation(table, validation_share, seed)
        valid_tags = held.column("tags").to_pylist()
    result = tune(train_part, valid_tags, budget, base, seed=seed,
                  progress=lambda t: typer.echo(f"trial {t.number}: {t.config} on {t.share:.0%} of posts: "
                                                f"{t.quality:.4f} in {t.seconds:.2f} s", err=True))
    typer.echo(result.table())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.to_yaml())
    typer.echo(f"wrote {out}: {result.train_section()}")
    if report is not None:
        report.write_text(json.dumps(result.summary(), indent=2, default=float))
    if heldout is not None:
        _report_on_test_split(table, heldout, result, pq)


def _report_on_test_split(table, heldout: Path, result, pq) -> None:
    """Train the chosen and the starting configuration on all posts and score them on the test split."""
    from topictensor.quality import quality
    from topictensor.train.trainer import train
    from topictensor.train.vocab import encode_table

    test = _read_posts(heldout, pq).column("tags").to_pylist()
    vocab, posts = encode_table(table, result.best.min_count)
    for name, cfg in (("chosen", result.best), ("starting", result.baseline)):
        trained = train(posts, vocab, cfg)
        q = quality((trained.vectors, vocab.index), test).quality
        typer.echo(f"test split ({heldout}): {name} configuration {q:.4f} in {trained.seconds:.2f} s")


def evaluate_command(
    model: Path = typer.Option(..., "--model", help="A model directory written by `topictensor train`."),
    posts: Path = typer.Option(..., "--posts", help="Held-out posts: Parquet with a `tags` column."),
) -> None:
    """Held-out quality of a model directory, as JSON."""
    import dataclasses
    import pyarrow.parquet as pq

    from topictensor.quality import quality

    emb = load_model_dir(model)
    table = _read_posts(posts, pq)
    echo_json(dataclasses.asdict(quality(emb, table.column("tags").to_pylist())))


def _read_posts(path: Path, pq):
    from topictensor.errors import ContractError

    if not path.is_file():
        raise ContractError(f"{path}: no such file")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise ContractError(f"{path}: not a readable Parquet file ({exc})") from None
    if "tags" not in schema.names:
        raise ContractError(f"{path}: no 'tags' column (columns: {schema.names})")
    columns = [c for c in ("tags", "weights") if c in schema.names]
    return pq.read_table(path, columns=columns)


def neighbours(
    tag: str = typer.Argument(..., help="A tag, normalised as in training (#BMW -> bmw)."),
    top: int = typer.Option(10, min=1, max=10_000, help="How many neighbours."),
    version: str = typer.Option(None, help="Model version (default: production)."),
    model: Path = ModelDirOption,
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
) -> None:
    """The tags nearest to TAG by cosine in the production (or given) model."""
    from topictensor.tags import normalize_tag

    emb = _embeddings(model, config, version)
    norm = normalize_tag(tag)
    if norm is None or norm not in emb:
        not_found(f"unknown tag {tag!r} (normalised: {norm!r}); the model has {len(emb.tags):,} tags")
    rows = [{"tag": t, "cosine": float(s), "count": int(emb.counts[emb.index[t]])}
            for t, s in emb.neighbours(norm, k=top, exclude=(norm,))]
    if as_json:
        echo_json({"tag": norm, "neighbours": rows})
    else:
        typer.echo(table(rows, ["tag", "cosine", "count"]))
