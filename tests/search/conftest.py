"""A demo-like model shared by the search tests (built once per session, ~5 s)."""

import pytest


def build_demo(out_dir, seed=3, n_bloggers=1000, posts_per_blogger_mean=25):
    """A demo-like model without the whole pipeline (language detection in normalize would cost more
    than the training): synth posts normalised, spam and tags of fewer than 2 bloggers dropped, habit
    weights, trained deterministically (a rerun gives the same vectors). Returns (posts, bloggers, emb)."""
    import pyarrow as pa

    from topictensor import synth
    from topictensor.embeddings import Embeddings
    from topictensor.modeldir import train_to_dir
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from helpers.prep import add_habit_weights
    from topictensor.tags import extract_caption_tags, normalize_tags
    from topictensor.train.params import TrainConfig

    corpus = synth.generate(synth.SynthConfig(seed=seed, n_bloggers=n_bloggers,
                                              posts_per_blogger_mean=posts_per_blogger_mean))
    spam = {t for words in synth.SPAM_TAGS.values() for t in words} | set(synth.JUNK_TAGS)
    raw = corpus.posts
    post_tags = [[t for t in normalize_tags(list(tags if tags is not None else []) + extract_caption_tags(caption)) if t not in spam]
                 for tags, caption in zip(raw["tags"], raw["caption"].fillna(""))]
    users: dict[str, set] = {}
    for blogger, tags in zip(raw["blogger_id"], post_tags):
        for t in tags:
            users.setdefault(t, set()).add(blogger)
    post_tags = [[t for t in tags if len(users[t]) >= 2] for tags in post_tags]
    lang = dict(zip(corpus.blogger_truth["blogger_id"], corpus.blogger_truth["lang"]))
    keep = [i for i, tags in enumerate(post_tags) if tags]
    posts = pa.table({
        "post_id": [raw["post_id"].iloc[i] for i in keep],
        "blogger_id": [raw["blogger_id"].iloc[i] for i in keep],
        "tags": pa.array([post_tags[i] for i in keep], type=pa.list_(pa.string())),
        "likes": pa.array([int(raw["likes"].iloc[i]) for i in keep], type=pa.int64()),
        "lang": [lang[raw["blogger_id"].iloc[i]] for i in keep],
    })
    posts = add_habit_weights(posts, 0.5)
    frame = posts.select(["blogger_id", "likes"]).to_pandas().groupby("blogger_id")["likes"].agg(["size", "sum"])
    b = corpus.bloggers[corpus.bloggers["blogger_id"].isin(frame.index)]
    bloggers = pa.table({
        "blogger_id": b["blogger_id"].tolist(), "username": b["username"].tolist(),
        "followers": pa.array(b["followers"].astype("int64").tolist(), type=pa.int64()),
        "lang": [lang[x] for x in b["blogger_id"]],
        "posts": pa.array([int(frame.loc[x, "size"]) for x in b["blogger_id"]], type=pa.int64()),
        "likes_total": pa.array([int(frame.loc[x, "sum"]) for x in b["blogger_id"]], type=pa.int64()),
    })
    train_to_dir(posts.select(["tags", "weights"]), TrainConfig(epochs=5, seed=1, deterministic=True), out_dir)
    return posts, bloggers, Embeddings.load(out_dir)


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    """(posts, bloggers, emb) of the demo-like model."""
    return build_demo(tmp_path_factory.mktemp("demo-model"))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, demo_model):
    """A function ``(name) -> (config, refs)``: a fresh store holding the demo-like model's train,
    reweight and normalize artifacts, and blogger vectors and an index built by the real stages
    (refs by stage name; nothing published)."""
    import pyarrow.parquet as pq

    from topictensor.artifacts import StageResult, run_stage
    from topictensor.config import load_config
    from topictensor.search.params import SearchConfig
    from topictensor.stages.blogger_vectors import blogger_vectors
    from topictensor.stages.index import build_index

    posts, bloggers, emb = demo_model

    def planted(store, stage, files):
        def compute(ws):
            for name, write in files.items():
                write(ws.path(name))
            return StageResult()
        return run_stage(store, stage, code="planted", params={"stage": stage}, inputs={}, compute=compute)

    def planted_pairs(store):
        """The reweight artifact of ``posts``: their kept (blogger, tag) pairs and counts."""
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from helpers.prep import write_habit_pairs

        def compute(ws):
            return StageResult(extra=write_habit_pairs(posts, 0.5, ws.path))
        return run_stage(store, "reweight", code="planted", params={"stage": "reweight"}, inputs={}, compute=compute)

    def build(name):
        root = tmp_path_factory.mktemp(name)
        config = load_config(overrides={"store": {"uri": str(root / "store")}}, use_env=False)
        store = config.open_store()
        model = planted(store, "train", {"embeddings.parquet": lambda p: emb.save(p.parent)})
        weighted = planted_pairs(store)
        normalized = planted(store, "normalize", {"bloggers.parquet": lambda p: pq.write_table(bloggers, p)})
        vectors = blogger_vectors(model, weighted, normalized, config)
        index = build_index(vectors, config, SearchConfig(index_threads=1))  # 1 thread: the same graph every run
        return config, {"train": model, "reweight": weighted, "normalize": normalized,
                        "blogger_vectors": vectors, "index": index}

    return build


def write_version(registry, vid, refs, promote=False):
    """Register ``refs`` (stage name -> ref) as model version ``vid``; optionally promote it."""
    from datetime import datetime, timezone

    registry.write_version({"version": vid, "created_at": datetime.now(timezone.utc).isoformat(),
                            "stages": {name: [{"stage": r.stage, "key": r.key}] for name, r in refs.items()}})
    if promote:
        registry.promote(vid)


@pytest.fixture(scope="session")
def publish_demo(demo_store):
    """A function ``(name, version, promote=False) -> (config, registry)``: :func:`demo_store`'s
    train, blogger_vectors and index published as ``version``."""
    from topictensor.registry import Registry

    def publish(name, version, promote=False):
        config, refs = demo_store(name)
        registry = Registry(config.open_store())
        write_version(registry, version, {k: refs[k] for k in ("train", "blogger_vectors", "index")}, promote)
        return config, registry

    return publish


@pytest.fixture(scope="session")
def publish_version():
    """:func:`write_version`, for tests that publish more versions of a store."""
    return write_version
