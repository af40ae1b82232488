"""Corpus shapes for the trainer benchmarks, with a planted truth: which topic each tag belongs
to, which tags are topic-free spam, and a query for each theme.

    python benchmarks/corpora.py --out .data/shapes            # every shape
    python benchmarks/corpora.py --out .data/shapes --shape short --seed 3

Each shape is written to ``<out>/<shape>/`` as ``train.parquet`` and ``heldout.parquet`` (column
``tags``, like ``../shared/bench``) and ``truth.json`` ({"topic_of": tag -> topic, "spam": [tags],
"themes": topic -> its 3 most frequent tags}). ``truth_for(dir)`` reads it, or for
``../shared/bench`` (no truth file) derives it from the tag names there (``t<N>w<M>[_lang]``:
topic N; ``spam<N>``: planted topic-free spam; ``amb*`` and ``s*g*`` belong to no single topic).

The shapes are what ``topictensor.synth`` and ``../shared/bench`` do not cover, kept small
enough to train in seconds (sizes printed by the command; the README's table lists them):

* ``short``: about 2 tags per post and a long tail of rare tags (big per-topic vocabularies
  with a flat Zipf law, so most tags are used a handful of times);
* ``generic``: a few very frequent topic-free tags (``love``, ``photo``-like: each in 10-35% of
  posts) on top of 3-4 topic tags a post;
* ``zipf``: real-world-like heavy tails everywhere: topic sizes, tag frequencies within a topic
  (exponent 1.2) and post lengths (log-normal, 2 to 30 tags);

and ``synth``: ``topictensor.synth``'s planted corpus (seed 11, 3,000 bloggers), normalised and
filtered the same way, with its truth (the planted-topic corpus whose topic precision must not
fall). The generated shapes come
with bloggers (1-2 topics each, a few habitual tags), spam tags sprinkled over posts and a few
spammers posting 20-30 random tags. Filtered like production: tags used by >= 3 bloggers; 5% of
posts held out, their tags kept only if known to the training split.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    n_bloggers: int = 3000
    posts_per_blogger: float = 16.0  # mean of a log-normal (sigma 1)
    n_topics: int = 60
    topic_vocab: int = 150  # tags per topic (the largest topic under topic_size_zipf)
    topic_size_zipf: float = 0.0  # topic t has topic_vocab * (t+1)**-this tags (at least 20)
    topic_popularity_zipf: float = 0.0  # P(topic t is a blogger's) ~ (t+1)**-this
    tag_zipf: float = 1.0  # P(tag r of a topic) ~ (r+1)**-this
    length: str = "poisson"  # topic tags a post: "poisson" (2 + Poisson(length_mean - 2)) or "lognormal"
    length_mean: float = 3.0
    generic: tuple[float, ...] = ()  # share of posts carrying each very frequent generic tag
    n_spam: int = 40
    spam_rate: float = 0.3  # mean spam tags sprinkled per ordinary post (Zipf 1 over the spam tags)
    habits: int = 3  # habitual tags per blogger (from a shared pool of 400), each in 30% of its posts
    n_spammers: int = 15
    heldout_share: float = 0.05
    min_bloggers: int = 3


SHAPES: dict[str, Shape] = {
    "short": Shape(n_bloggers=4000, posts_per_blogger=14.0, topic_vocab=400, tag_zipf=0.8,
                   length="poisson", length_mean=2.0, spam_rate=0.08, habits=0, n_spammers=5),
    "generic": Shape(length="poisson", length_mean=3.3, generic=(0.35, 0.25, 0.2, 0.15, 0.12, 0.1),
                     spam_rate=0.2),
    "zipf": Shape(topic_vocab=800, topic_size_zipf=0.7, topic_popularity_zipf=1.0, tag_zipf=1.2,
                  length="lognormal", length_mean=3.5),
}


def _zipf_p(n: int, s: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    return w / w.sum()


def _lengths(rng: np.random.Generator, shape: Shape, n: int) -> np.ndarray:
    if shape.length == "poisson":
        return 2 + rng.poisson(max(shape.length_mean - 2.0, 0.0), size=n)
    # log-normal with sigma 0.8 whose mean is length_mean, clipped to 2..30
    sigma = 0.8
    mu = np.log(max(shape.length_mean - 1.0, 0.5)) - sigma**2 / 2
    return np.clip(1 + np.round(rng.lognormal(mu, sigma, size=n)).astype(np.int64), 2, 30)


def generate(shape: Shape, seed: int = 0) -> tuple[list[list[str]], list[str], dict]:
    """Posts (tag lists), each post's blogger id, and the truth (topic_of, spam, themes, sizes)."""
    rng = np.random.default_rng(seed)
    sizes = [max(20, int(round(shape.topic_vocab * (t + 1) ** -shape.topic_size_zipf)))
             for t in range(shape.n_topics)]
    topic_tags = [[f"t{t}w{r}" for r in range(sizes[t])] for t in range(shape.n_topics)]
    topic_p = [_zipf_p(sizes[t], shape.tag_zipf) for t in range(shape.n_topics)]
    popularity = _zipf_p(shape.n_topics, shape.topic_popularity_zipf)
    spam_tags = [f"spam{k}" for k in range(shape.n_spam)]
    spam_p = _zipf_p(shape.n_spam, 1.0)
    generic_tags = [f"generic{k}" for k in range(len(shape.generic))]

    n_total = shape.n_bloggers + shape.n_spammers
    mu = np.log(shape.posts_per_blogger) - 0.5
    n_posts = np.clip(np.round(rng.lognormal(mu, 1.0, size=n_total)).astype(np.int64), 1, 400)
    posts: list[list[str]] = []
    bloggers: list[str] = []
    for b in range(n_total):
        name = f"b{b}"
        if b >= shape.n_bloggers:  # a spammer: 20-30 tags, 60% spam, the rest of any topic
            for _ in range(int(n_posts[b])):
                n = int(rng.integers(20, 31))
                tags = set()
                for _ in range(n):
                    if rng.random() < 0.6:
                        tags.add(spam_tags[int(rng.integers(shape.n_spam))])
                    else:
                        t = int(rng.integers(shape.n_topics))
                        tags.add(topic_tags[t][int(rng.integers(sizes[t]))])
                posts.append(sorted(tags))
                bloggers.append(name)
            continue
        mine = rng.choice(shape.n_topics, size=1 + int(rng.random() < 0.3), replace=False, p=popularity)
        habit = [f"habit{k}" for k in rng.choice(400, size=shape.habits, replace=False)]
        lengths = _lengths(rng, shape, int(n_posts[b]))
        for n in lengths.tolist():
            t = int(mine[int(rng.integers(len(mine)))])
            n = min(n, sizes[t])
            tags = [topic_tags[t][i] for i in rng.choice(sizes[t], size=n, replace=False, p=topic_p[t])]
            for g, share in zip(generic_tags, shape.generic):
                if rng.random() < share:
                    tags.append(g)
            for _ in range(rng.poisson(shape.spam_rate)):
                tags.append(spam_tags[int(rng.choice(shape.n_spam, p=spam_p))])
            for h in habit:
                if rng.random() < 0.3:
                    tags.append(h)
            posts.append(sorted(set(tags)))
            bloggers.append(name)

    # Production's filter: tags used by >= min_bloggers distinct bloggers.
    users: dict[str, set] = {}
    for tags, b in zip(posts, bloggers):
        for tag in tags:
            users.setdefault(tag, set()).add(b)
    keep = {t for t, u in users.items() if len(u) >= shape.min_bloggers}
    posts = [[t for t in p if t in keep] for p in posts]
    topic_of = {tag: f"t{t}" for t in range(shape.n_topics) for tag in topic_tags[t] if tag in keep}
    spam = sorted(t for t in spam_tags + generic_tags if t in keep)
    return posts, bloggers, {"topic_of": topic_of, "spam": spam}


def generate_synth(seed: int = 11, n_bloggers: int = 3000) -> tuple[list[list[str]], list[str], dict]:
    """The project's own planted generator (``topictensor.synth``: themes in several languages,
    ambiguous tags, spam, habits, spammers), normalised (caption hashtags included) and with the
    truth of ``topictensor.synth.tag_theme_map``: tags of exactly one theme, and the spam tags."""
    from topictensor.synth import SynthConfig, tag_theme_map
    from topictensor.synth import generate as synth_generate
    from topictensor.tags import extract_caption_tags, normalize_tags

    corpus = synth_generate(SynthConfig(seed=seed, n_bloggers=n_bloggers))
    posts, bloggers = [], []
    for tags, caption, blogger in zip(corpus.posts["tags"], corpus.posts["caption"], corpus.posts["blogger_id"]):
        norm = normalize_tags(tags) if tags is not None else extract_caption_tags(caption)
        posts.append(sorted(set(norm)))
        bloggers.append(str(blogger))
    users: dict[str, set] = {}
    for tags, b in zip(posts, bloggers):
        for tag in tags:
            users.setdefault(tag, set()).add(b)
    keep = {t for t, u in users.items() if len(u) >= 3}
    posts = [[t for t in p if t in keep] for p in posts]
    themes = tag_theme_map()
    topic_of = {t: next(iter(th)) for t, th in themes.items() if t in keep and len(th) == 1 and th != {"spam"}}
    spam = sorted(t for t, th in themes.items() if t in keep and "spam" in th)
    return posts, bloggers, {"topic_of": topic_of, "spam": spam}


def split(posts: list[list[str]], share: float, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Posts with >= 2 tags; ``share`` of them held out, keeping only tags the training split knows."""
    posts = [p for p in posts if len(p) >= 2]
    rng = np.random.default_rng(seed + 1)
    held = rng.random(len(posts)) < share
    train = [p for p, h in zip(posts, held) if not h]
    known = {t for p in train for t in p}
    heldout = [[t for t in p if t in known] for p, h in zip(posts, held) if h]
    return train, [p for p in heldout if len(p) >= 2]


def themes_of(train: list[list[str]], topic_of: dict[str, str], per_theme: int = 3) -> dict[str, list[str]]:
    """Each topic's query: its ``per_theme`` most frequent tags in training."""
    counts = Counter(t for p in train for t in p if t in topic_of)
    by_topic: dict[str, list[str]] = {}
    for tag, _ in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0])):
        by_topic.setdefault(topic_of[tag], [])
        if len(by_topic[topic_of[tag]]) < per_theme:
            by_topic[topic_of[tag]].append(tag)
    return by_topic


def describe(train: list[list[str]]) -> dict:
    counts = Counter(t for p in train for t in p)
    lengths = np.array([len(p) for p in train])
    c = np.array(sorted(counts.values(), reverse=True))
    return {"posts": len(train), "tags": int(lengths.sum()), "distinct": len(counts),
            "mean_tags_per_post": round(float(lengths.mean()), 2),
            "tags_used_under_10_times": round(float((c < 10).mean()), 3),
            "top_tag_share_of_posts": round(float(c[0] / len(train)), 3)}


def write_shape(name: str, out: Path, seed: int = 0) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if name == "synth":
        posts, _, truth = generate_synth(seed=11 + seed)
        share = 0.05
    else:
        posts, _, truth = generate(SHAPES[name], seed)
        share = SHAPES[name].heldout_share
    train, heldout = split(posts, share, seed)
    truth["themes"] = themes_of(train, truth["topic_of"])
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    for fname, rows in (("train.parquet", train), ("heldout.parquet", heldout)):
        pq.write_table(pa.table({"tags": pa.array(rows, type=pa.list_(pa.string()))}), d / fname)
    info = {"shape": name, "seed": seed, **describe(train), "heldout_posts": len(heldout)}
    (d / "truth.json").write_text(json.dumps({**truth, "info": info}))
    return info


_BENCH_TOPIC = re.compile(r"t(\d+)w\d+(_[a-z]+)?")


def truth_for(corpus_dir: str | Path, train: list[list[str]] | None = None) -> dict | None:
    """The planted truth of a corpus directory: its truth.json, or for ../shared/bench one
    derived from its tag names (see the module docstring); None when neither applies."""
    d = Path(corpus_dir)
    if (d / "truth.json").exists():
        return json.loads((d / "truth.json").read_text())
    if train is None:
        return None
    vocab = {t for p in train for t in p}
    if not any(t.startswith("spam") for t in vocab):
        return None
    topic_of = {t: f"t{m.group(1)}" for t in vocab if (m := _BENCH_TOPIC.fullmatch(t))}
    if not topic_of:
        return None
    spam = sorted(t for t in vocab if re.fullmatch(r"spam\d+", t))
    return {"topic_of": topic_of, "spam": spam, "themes": themes_of(train, topic_of)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".data/shapes")
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES) + ["synth"], help="default: all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name in args.shape or [*SHAPES, "synth"]:
        t = time.perf_counter()
        info = write_shape(name, Path(args.out), args.seed)
        print(json.dumps({**info, "seconds": round(time.perf_counter() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()


__all__ = ["SHAPES", "Shape", "generate", "split", "themes_of", "truth_for", "write_shape", "replace"]
