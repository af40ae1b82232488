"""A synthetic Instagram corpus whose right answers are known, for ``make demo`` and for tests.

Real posts cannot ship with the project, and a model trained on noise proves nothing; so this
module plants structure that a good tag embedding must recover, and writes the plant next to the
data (``_truth/``):

* themes with per-language hashtag vocabularies, Zipf-like frequencies inside each theme
  (``cars``: bmw, audi, машина, тачка, autos ...); ``cats`` and ``dogs`` are two separate themes;
* ``apple`` in two themes of comparable frequency (``tech``: iphone, macbook; ``fruit``: orchard,
  harvest), so ``apple - iphone`` should land near the fruit;
* one concept spelled in every language (``mirror`` theme: зеркало, espejo, specchio, spiegel ...)
  whose bloggers mix their own words with the English ``mirror``/``reflection`` (and some stack a
  third language's word too), so words of
  different languages meet through English;
* topic-free spam tags (love, instagood, like4like ...) sprinkled over every theme, a few spammer
  bloggers posting 30 random tags a post, and habitual tags each blogger puts in most posts (what
  the reweight stage damps);
* raw-data mess: mixed case, Latin diacritics, a leading ``#``, ~10% of posts with tags only
  inside the caption, ~30% of bloggers without a language (their language must be detected from
  captions written in real words);
* where literal hashtag matching fails (``benchmarks/bench_selection.py``): an account's number of
  themes grows with its followers (1-5, Dirichlet shares), generic popular accounts posting on every
  theme, bloggers who never write their themes' headline tags (``HEADLINE_TAGS``: #car, #cars) but the
  other spellings (#auto, #bmw), accidental one-off uses of another theme's headline tag, and hashtag
  spammers putting a popular theme's headline tags on half their unrelated posts.

The blogger truth: ``_truth/interests.parquet`` (blogger_id, theme, share of the blogger's posts,
posts) and ``_truth/bloggers.parquet`` (themes, language, kind = ordinary / generic / spammer,
habitual tags, synonym_themes, accidental_tags, spammed_tags).

Default size (``SynthConfig()``, seed 7): 1,500 bloggers (30 of them generic accounts) + 12
spammers, 43,061 posts (42-45k for any seed), 178,729 tag occurrences (caption hashtags included)
over 1,245 distinct normalised tags; generated in about 0.6 s.

Everything is a function of the seed: dates count back from a reference date derived from the
seed, never from ``now()``.

Why one module of ~900 lines: it is one generator whose parts (bloggers, post themes, tags,
captions, tables: ``generate`` and the ``_draw_*`` functions it calls in order) share the planted
constants and draw from one random stream in a fixed order, so a seed gives one corpus byte for
byte; the vocabularies (the bulk of it before) are package data, ``data/synth_vocabularies.json``.
Writing (``write`` and the schemas, which are the input contract's) is the last ~170 lines.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from topictensor.contract.schema import RAW_BLOGGERS_SCHEMA, RAW_POSTS_SCHEMA
from topictensor.errors import ConfigError
from topictensor.tags import normalize_tag

# --------------------------------------------------------------------------------------------
# Vocabularies: package data (topictensor/data/synth_vocabularies.json), spelled as people write
# them (diacritics kept); order = frequency rank. Key "en" of a theme is the English /
# international vocabulary (brands, places) that bloggers of every language mix in; the other
# keys are a language's own words for the theme.
# --------------------------------------------------------------------------------------------

VOCABULARIES_FILE = "synth_vocabularies.json"
SPAM_THEME = "spam"


def _vocabularies() -> dict:
    from importlib.resources import files

    return json.loads(files("topictensor.data").joinpath(VOCABULARIES_FILE).read_text(encoding="utf-8"))


_DATA = _vocabularies()
_VOCAB: dict[str, dict[str, list[str]]] = _DATA["themes"]
_SPAM_VOCAB: dict[str, list[str]] = _DATA["spam"]
_JUNK: list[str] = _DATA["junk"]  # only spammers use these: sales junk that belongs to no theme
_CAPTIONS: dict[str, list[str]] = _DATA["captions"]  # real words, so a language identifier can place a blogger
_FIRST_NAMES: dict[str, list[str]] = _DATA["first_names"]
_USERNAME_SUFFIX: dict[str, list[str]] = _DATA["username_suffixes"]

# Share of a non-English blogger's theme tags drawn from the English/international list.
_ENGLISH_SHARE = {"cars": 0.45, "tech": 0.7, "japan": 0.6, "mirror": 0.5, "fruit": 0.3}
_DEFAULT_ENGLISH_SHARE = 0.3
# Themes whose non-English posts always carry a word of their own language AND an English one,
# so that the languages' words meet through English (the cross-language test of the embedding).
_BRIDGED_THEMES = ("mirror",)
# Share of those posts that also stack the word of another language, as posts written for an
# international audience do ("зеркало mirror espejo"): direct cross-language co-occurrences.
_STACKED_SHARE = 0.3

# How often a theme is someone's main theme (relative). tech and fruit are equal so the two
# senses of "apple" come out comparable.
_THEME_POPULARITY = {"cars": 1.2, "food": 1.4, "travel": 1.4, "fitness": 1.1, "fashion": 1.1,
                     "cats": 0.9, "dogs": 0.9, "japan": 0.7, "beauty": 1.0, "photography": 1.0,
                     "tech": 0.8, "fruit": 0.8, "mirror": 0.8}

_LANGUAGE_WEIGHT = {"en": 0.35, "ru": 0.2, "es": 0.13, "pt": 0.12, "it": 0.1, "de": 0.1, "fr": 0.1}


def _planted(raw: str) -> str:
    """A vocabulary word in the pipeline's own normal form (``topictensor.tags.normalize_tag``), so
    the truth matches what training sees; a word that is no valid tag is an error in the data file."""
    norm = normalize_tag(raw)
    if norm is None:
        raise ValueError(f"{VOCABULARIES_FILE}: synthetic vocabulary word {raw!r} is not a valid tag")
    return norm


def _normalised_vocab(vocab: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lang, words in vocab.items():
        seen: dict[str, None] = {}
        for word in words:
            seen.setdefault(_planted(word), None)
        out[lang] = list(seen)
    return out


THEMES: dict[str, dict[str, list[str]]] = {theme: _normalised_vocab(v) for theme, v in _VOCAB.items()}
"""theme -> language -> normalised tags, most frequent first ("en" = English/international)."""

SPAM_TAGS: dict[str, list[str]] = _normalised_vocab(_SPAM_VOCAB)
"""language -> normalised topic-free spam tags sprinkled over every theme."""

JUNK_TAGS: list[str] = [_planted(t) for t in _JUNK]
"""Tags that only spammer bloggers use."""

AMBIGUOUS_TAGS: dict[str, tuple[str, ...]] = {"apple": ("tech", "fruit")}
"""Tags planted in more than one theme on purpose."""

HEADLINE_TAGS: dict[str, list[str]] = {theme: vocab["en"][:2] for theme, vocab in THEMES.items()}
"""theme -> its two most frequent English tags (``car, cars``): what an advertiser types first, the
query of ``benchmarks/bench_selection.py``, the tags synonym bloggers never write, and the tags of
accidental one-off uses and of hashtag spam."""

MIRROR_WORDS: dict[str, list[str]] = {lang: words[:2] for lang, words in THEMES["mirror"].items()}
"""language -> its words for 'mirror' and 'reflection' (the concept spelled in every language)."""

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(_LANGUAGE_WEIGHT)


def theme_tags(theme: str, lang: str | None = None) -> set[str]:
    """Normalised tags of a theme, for one language's vocabulary or for all of them."""
    if theme not in THEMES:
        raise KeyError(f"unknown theme {theme!r}; known: {sorted(THEMES)}")
    vocab = THEMES[theme]
    if lang is not None:
        return set(vocab.get(lang, []))
    return {tag for words in vocab.values() for tag in words}


def tag_theme_map() -> dict[str, set[str]]:
    """normalised tag -> the themes it belongs to (spam tags map to {'spam'})."""
    out: dict[str, set[str]] = {}
    for theme in THEMES:
        for tag in theme_tags(theme):
            out.setdefault(tag, set()).add(theme)
    for tag in {t for words in SPAM_TAGS.values() for t in words} | set(JUNK_TAGS):
        out.setdefault(tag, set()).add(SPAM_THEME)
    return out


# --------------------------------------------------------------------------------------------
# Configuration and result
# --------------------------------------------------------------------------------------------


class SynthConfig(BaseModel):
    """Size and mess of the synthetic corpus. CLI: --seed, --bloggers (n_bloggers), --format."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(7, ge=0, description="Everything, dates included, is a function of it.")
    n_bloggers: int = Field(1500, ge=1, description="Ordinary bloggers (spammers come on top).")
    posts_per_blogger_mean: float = Field(25.0, gt=0, description="Mean of a heavy-tailed count.")
    languages: list[str] = Field(
        default_factory=lambda: ["en", "ru", "es", "pt", "it", "de"],
        description=f"Blogger languages to draw from; supported: {', '.join(SUPPORTED_LANGUAGES)}.",
    )
    share_missing_lang: float = Field(0.3, ge=0, le=1, description="Bloggers (and posts) without lang.")
    share_caption_only: float = Field(0.1, ge=0, le=1, description="Posts whose tags are only in the caption.")
    n_spammers: int = Field(12, ge=0, description="Bloggers posting 30 random tags a post.")
    spammer_posts_mean: float = Field(80.0, gt=0, description="Spammers post a lot.")
    share_with_caption: float = Field(0.8, ge=0, le=1, description="Tagged posts that also have a caption.")
    # Where literal hashtag matching fails (the blogger-selection benchmark's hard cases):
    share_generic: float = Field(
        0.02, ge=0, le=1, description="Ordinary bloggers that are generic popular accounts (lifestyle, celebrity): "
        "100k+ followers, 3x the posts, every theme a little.")
    share_synonym: float = Field(
        0.25, ge=0, le=1, description="Bloggers who never write their themes' headline tags (#car, #cars) but "
        "the other spellings (#auto, #bmw, #машина).")
    share_one_off: float = Field(
        0.15, ge=0, le=1, description="Bloggers who put another theme's headline tag on 1-2 posts by accident.")
    share_tag_spammers: float = Field(
        0.03, ge=0, le=1, description="Bloggers who put a popular theme's headline tags (#cat) on half their "
        "unrelated posts (hashtag spam for reach); they post 3x as much.")
    format: Literal["parquet", "jsonl"] = "parquet"
    files_per_table: int = Field(1, ge=1, description="Split each table into this many part files.")

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        unknown = [lang for lang in value if lang not in _LANGUAGE_WEIGHT]
        if unknown or not value:
            raise ValueError(f"languages {unknown or value} not supported; choose from {list(SUPPORTED_LANGUAGES)}")
        return list(dict.fromkeys(value))

    def reference_date(self) -> datetime:
        """The 'now' of the corpus: a Monday 00:00 UTC chosen by the seed (posts fall in the 8 weeks before)."""
        return datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(weeks=self.seed % 52)


@dataclass
class SynthCorpus:
    """The generated tables, in memory, in the raw contract's columns (plus the planted truth)."""

    posts: pd.DataFrame
    bloggers: pd.DataFrame
    tag_themes: pd.DataFrame
    blogger_truth: pd.DataFrame
    config: SynthConfig
    interests: pd.DataFrame  # blogger_id, theme, share (of the blogger's posts), posts; INTERESTS_SCHEMA


WINDOW_DAYS = 56
HABIT_SHARE = 0.7  # of a blogger's posts carry each of their habitual tags
BREADTH_MAX = 5  # themes of the broadest (most popular) ordinary accounts
TAG_SPAM_SHARE = 0.5  # of a hashtag spammer's posts carry the spammed theme's headline tag


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


class _Vocabulary:
    """All tags with integer ids, the lists to draw from and their Zipf weights."""

    def __init__(self) -> None:
        self.norm: list[str] = []
        self.spelling: list[str] = []
        self._ids: dict[str, int] = {}
        self.lists: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for theme, vocab in _VOCAB.items():
            for lang, words in vocab.items():
                self.lists[(theme, lang)] = self._zipf_list(words)
        for lang, words in _SPAM_VOCAB.items():
            self.lists[(SPAM_THEME, lang)] = self._zipf_list(words)
        self.junk_ids = np.array([self.add(w) for w in _JUNK])
        self.theme_ids = np.array(sorted({i for (t, _), (ids, _) in self.lists.items()
                                          if t != SPAM_THEME for i in ids}))
        self.spam_ids = np.unique(np.concatenate(
            [ids for (t, _), (ids, _) in self.lists.items() if t == SPAM_THEME] + [self.junk_ids]))
        # A theme's English list without its headline tags: what synonym bloggers draw from.
        self.headline_ids = {theme: [self.add(w) for w in _VOCAB[theme]["en"][:2]] for theme in _VOCAB}
        self.synonym_lists = {theme: self._zipf_list(
            [w for w in _VOCAB[theme]["en"] if self.add(w) not in self.headline_ids[theme]]) for theme in _VOCAB}

    def add(self, spelling: str) -> int:
        norm = _planted(spelling)
        if norm not in self._ids:
            self._ids[norm] = len(self.norm)
            self.norm.append(norm)
            self.spelling.append(spelling)
        return self._ids[norm]

    def _zipf_list(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(list(dict.fromkeys(self.add(w) for w in words)))
        weights = 1.0 / np.arange(1, len(ids) + 1) ** 1.0
        return ids, np.cumsum(weights / weights.sum())

    def draw(self, rng: np.random.Generator, key: tuple[str, str], n: int) -> np.ndarray:
        return self.draw_from(rng, self.lists[key], n)

    @staticmethod
    def draw_from(rng: np.random.Generator, weighted: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
        ids, cdf = weighted
        return ids[np.minimum(np.searchsorted(cdf, rng.random(n)), len(ids) - 1)]


def _count_of_theme_tags(rng: np.random.Generator, n: int) -> np.ndarray:
    """Theme tags per post: mostly 1-2 (habit and spam tags come on top), long tail to 26."""
    head = rng.choice([1, 2, 3], size=n, p=[0.55, 0.35, 0.1])
    tail_sizes = np.arange(4, 27)
    tail_p = tail_sizes ** -1.6
    tail = rng.choice(tail_sizes, size=n, p=tail_p / tail_p.sum())
    return np.where(rng.random(n) < 0.88, head, tail)


def _lognormal_counts(rng: np.random.Generator, mean: float, sigma: float, n: int,
                      low: int, high: int) -> np.ndarray:
    mu = np.log(mean) - sigma**2 / 2
    return np.clip(np.rint(rng.lognormal(mu, sigma, n)), low, high).astype(np.int64)


@dataclass
class _Bloggers:
    """The drawn bloggers (arrays over all of them, spammers included) and what is planted in them."""

    ids: np.ndarray
    lang: np.ndarray
    lang_missing: np.ndarray
    followers: np.ndarray
    n_posts: np.ndarray
    is_spammer: np.ndarray
    is_generic: np.ndarray
    is_synonym: np.ndarray
    is_tag_spammer: np.ndarray
    is_one_off: np.ndarray
    main_themes: list[list[str]]
    theme_share: list[np.ndarray]
    habits: list[list[int]]
    usernames: list[str]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class _Posts:
    """Which blogger wrote each post (``blogger``), its theme (index into the themes; -1: a
    spammer's post) and where each blogger's posts start (``starts``, posts being grouped by blogger)."""

    blogger: np.ndarray
    theme: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.blogger)


def generate(config: SynthConfig | None = None) -> SynthCorpus:
    """Build the corpus in memory; the same config always gives identical frames.

    The parts, in the order they draw from the one random generator (so a seed gives one corpus):
    the bloggers, their posts' themes, the posts' tags, the captions, then dates and likes."""
    config = config or SynthConfig()
    rng = np.random.default_rng(config.seed)
    vocab = _Vocabulary()
    themes = list(_VOCAB)
    popularity = np.array([_THEME_POPULARITY[t] for t in themes])
    bloggers = _draw_bloggers(rng, config, vocab, themes, popularity)
    posts = _draw_post_themes(rng, bloggers, themes)
    tag_lists, accidental, spammed = _draw_tags(rng, vocab, themes, popularity, bloggers, posts)
    captions, tags_column = _draw_captions(rng, config, bloggers.lang[posts.blogger], tag_lists)
    return _corpus(rng, config, vocab, themes, bloggers, posts, captions, tags_column, accidental, spammed)


def _draw_bloggers(rng: np.random.Generator, config: SynthConfig, vocab: _Vocabulary, themes: list[str],
                   popularity: np.ndarray) -> _Bloggers:
    """Languages, followers, post counts, kinds, themes with their shares, usernames, habitual tags."""
    n_total = config.n_bloggers + config.n_spammers
    is_spammer = np.zeros(n_total, dtype=bool)
    if config.n_spammers:
        is_spammer[rng.choice(n_total, config.n_spammers, replace=False)] = True
    lang_p = np.array([_LANGUAGE_WEIGHT[lang] for lang in config.languages])
    blogger_lang = np.array(config.languages, dtype=object)[
        rng.choice(len(config.languages), n_total, p=lang_p / lang_p.sum())]
    lang_missing = rng.random(n_total) < config.share_missing_lang
    followers = np.clip(rng.lognormal(np.log(3000), 2.1, n_total), 100, 10_000_000).astype(np.int64)
    followers[is_spammer] = np.clip(followers[is_spammer] // 20, 100, None)
    n_posts = _lognormal_counts(rng, config.posts_per_blogger_mean, 0.8, n_total, 1, 400)
    n_posts[is_spammer] = _lognormal_counts(rng, config.spammer_posts_mean, 0.3,
                                            int(is_spammer.sum()), 20, 400)

    # The kinds of blogger literal hashtag matching gets wrong (see SynthConfig).
    ordinary = np.flatnonzero(~is_spammer)
    is_generic = np.zeros(n_total, dtype=bool)
    n_generic = int(round(config.share_generic * len(ordinary)))
    if n_generic:
        is_generic[rng.choice(ordinary, n_generic, replace=False)] = True
    followers[is_generic] = np.clip(rng.lognormal(np.log(400_000), 0.8, n_generic), 50_000, 10_000_000).astype(np.int64)
    n_posts[is_generic] = _lognormal_counts(rng, 3 * config.posts_per_blogger_mean, 0.4, n_generic, 20, 400)
    focused = ~is_spammer & ~is_generic
    is_synonym = focused & (rng.random(n_total) < config.share_synonym)
    is_tag_spammer = focused & (rng.random(n_total) < config.share_tag_spammers)
    n_posts[is_tag_spammer] = _lognormal_counts(rng, 3 * config.posts_per_blogger_mean, 0.5,
                                                int(is_tag_spammer.sum()), 10, 400)
    is_one_off = focused & ~is_tag_spammer & (rng.random(n_total) < config.share_one_off)
    # Breadth follows popularity: 1-5 themes, a median account ~1.9, one with 200k followers ~3.6.
    z = (np.log(followers) - np.log(3000)) / 2.1
    breadth = 1 + rng.binomial(BREADTH_MAX - 1, 1 / (1 + np.exp(-(0.9 * z - 1.2))))

    main_themes: list[list[str]] = []
    theme_share: list[np.ndarray] = []
    habits: list[list[int]] = []
    usernames: list[str] = []
    taken: set[str] = set()
    for b in range(n_total):
        lang = blogger_lang[b]
        if is_spammer[b]:
            chosen: list[str] = []
            share = np.zeros(0)
        elif is_generic[b]:  # every theme, in proportions of its own
            share = rng.dirichlet(4 * popularity)
            order = np.argsort(-share, kind="stable")
            chosen, share = [themes[i] for i in order], share[order]
        else:
            k = int(breadth[b])
            chosen = [themes[i] for i in rng.choice(len(themes), k, replace=False, p=popularity / popularity.sum())]
            share = np.sort(rng.dirichlet(np.full(k, 3.0)))[::-1] if k > 1 else np.ones(1)
        main_themes.append(chosen)
        theme_share.append(share)
        kind = "generic" if is_generic[b] else (chosen[0] if chosen else SPAM_THEME)
        usernames.append(_username(rng, lang, kind, taken))
        avoid = {i for t in chosen if t not in _BRIDGED_THEMES for i in vocab.headline_ids[t]} if is_synonym[b] else set()
        habits.append([] if is_spammer[b] else _habits(rng, vocab, usernames[-1], chosen, lang, avoid))

    return _Bloggers(ids=np.array([f"b{i + 1:05d}" for i in range(n_total)], dtype=object), lang=blogger_lang,
                     lang_missing=lang_missing, followers=followers, n_posts=n_posts, is_spammer=is_spammer,
                     is_generic=is_generic, is_synonym=is_synonym, is_tag_spammer=is_tag_spammer,
                     is_one_off=is_one_off, main_themes=main_themes, theme_share=theme_share, habits=habits,
                     usernames=usernames)


def _draw_post_themes(rng: np.random.Generator, bloggers: _Bloggers, themes: list[str]) -> _Posts:
    """Each blogger's posts, each on one of the blogger's themes by its share (spammers: none)."""
    post_blogger = np.repeat(np.arange(len(bloggers)), bloggers.n_posts)
    post_theme = np.full(len(post_blogger), -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(bloggers.n_posts)[:-1]])
    for b in np.flatnonzero(~bloggers.is_spammer):
        own = np.array([themes.index(t) for t in bloggers.main_themes[b]])
        n = bloggers.n_posts[b]
        post_theme[starts[b]: starts[b] + n] = own[rng.choice(len(own), n, p=bloggers.theme_share[b])]
    return _Posts(blogger=post_blogger, theme=post_theme, starts=starts)


def _draw_tags(rng: np.random.Generator, vocab: _Vocabulary, themes: list[str], popularity: np.ndarray,
               bloggers: _Bloggers, posts: _Posts) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Every post's raw tags, as written (``tag_lists``), and per blogger the planted accidental and
    spammed headline tags. Tag uses are drawn part by part (theme tags, translations stacked on
    bridged posts, habits, accidental one-offs, hashtag spam, sprinkled spam, spammers' posts),
    then deduplicated per post, shuffled and rendered."""
    parts_post: list[np.ndarray] = []
    parts_tag: list[np.ndarray] = []
    normal_posts, bridged = _theme_tag_uses(rng, vocab, themes, bloggers, posts, parts_post, parts_tag)
    _stacked_tag_uses(rng, vocab, themes, bloggers, posts, normal_posts[bridged], parts_post, parts_tag)
    starts, n_posts = posts.starts, bloggers.n_posts

    # habitual tags: each in an exact HABIT_SHARE of the blogger's posts
    for b in np.flatnonzero(~bloggers.is_spammer):
        for tag_id in bloggers.habits[b]:
            k = max(1, int(round(HABIT_SHARE * n_posts[b])))
            chosen_posts = starts[b] + rng.choice(n_posts[b], k, replace=False)
            parts_post.append(chosen_posts)
            parts_tag.append(np.full(k, tag_id))

    # accidental one-off use: another theme's headline tag on 1-2 posts (a food blogger's #car)
    accidental: list[list[str]] = [[] for _ in range(len(bloggers))]
    for b in np.flatnonzero(bloggers.is_one_off):
        tag_id = _foreign_headline(rng, vocab, themes, popularity, bloggers.main_themes[b])
        k = min(int(n_posts[b]), int(rng.integers(1, 3)))
        parts_post.append(starts[b] + rng.choice(n_posts[b], k, replace=False))
        parts_tag.append(np.full(k, tag_id))
        accidental[b] = [vocab.norm[tag_id]]

    # hashtag spam: a popular theme's headline tags on half the posts of an unrelated blogger
    spammed: list[list[str]] = [[] for _ in range(len(bloggers))]
    for b in np.flatnonzero(bloggers.is_tag_spammer):
        target = _foreign_headline(rng, vocab, themes, popularity, bloggers.main_themes[b], theme_only=True)
        ids = vocab.headline_ids[target]
        k = max(1, int(round(TAG_SPAM_SHARE * n_posts[b])))
        chosen_posts = starts[b] + rng.choice(n_posts[b], k, replace=False)
        both = chosen_posts[rng.random(k) < 0.5]
        parts_post += [chosen_posts, both]
        parts_tag += [np.full(k, ids[0]), np.full(len(both), ids[1])]
        spammed[b] = [vocab.norm[i] for i in ids]

    _spam_tag_uses(rng, vocab, bloggers, posts, normal_posts, parts_post, parts_tag)

    occurrences = pd.DataFrame({"post": np.concatenate(parts_post), "tag": np.concatenate(parts_tag)})
    occurrences["order"] = rng.random(len(occurrences))
    occurrences = (occurrences.drop_duplicates(["post", "tag"])
                   .sort_values(["post", "order"], kind="stable").reset_index(drop=True))
    raw_tags = _render(rng, vocab, occurrences["tag"].to_numpy())
    bounds = np.searchsorted(occurrences["post"].to_numpy(), np.arange(len(posts) + 1))
    tag_lists = [raw_tags[bounds[i]: bounds[i + 1]].tolist() for i in range(len(posts))]
    return tag_lists, accidental, spammed


def _theme_tag_uses(rng: np.random.Generator, vocab: _Vocabulary, themes: list[str], bloggers: _Bloggers,
                    posts: _Posts, parts_post: list, parts_tag: list) -> tuple[np.ndarray, np.ndarray]:
    """Theme tags of the ordinary posts: each draw from the blogger's language list, or from the
    English/international one; a bridged theme's non-English post says it in its own language first,
    then in English. Returns the ordinary posts and which of them are bridged."""
    normal_posts = np.flatnonzero(posts.theme >= 0)
    blogger_lang = bloggers.lang
    counts = _count_of_theme_tags(rng, len(normal_posts))
    bridged = np.isin(posts.theme[normal_posts], [themes.index(t) for t in _BRIDGED_THEMES]) \
        & (blogger_lang[posts.blogger[normal_posts]] != "en")
    counts[bridged] = np.maximum(counts[bridged], 2)
    draw_post = np.repeat(normal_posts, counts)
    draw_rank = np.arange(len(draw_post)) - np.repeat(np.cumsum(counts) - counts, counts)
    draw_theme = posts.theme[draw_post]
    draw_lang = blogger_lang[posts.blogger[draw_post]]
    english_share = np.array([_ENGLISH_SHARE.get(t, _DEFAULT_ENGLISH_SHARE) for t in themes])
    use_english = (rng.random(len(draw_post)) < english_share[draw_theme]) | (draw_lang == "en")
    draw_bridged = np.repeat(bridged, counts)
    use_english[draw_bridged & (draw_rank == 0)] = False
    use_english[draw_bridged & (draw_rank == 1)] = True
    draw_source = np.where(use_english, "en", draw_lang)
    draw_tag = np.empty(len(draw_post), dtype=np.int64)
    bridged_index = [themes.index(t) for t in _BRIDGED_THEMES]
    draw_synonym = bloggers.is_synonym[posts.blogger[draw_post]] & ~np.isin(draw_theme, bridged_index)
    keys = pd.DataFrame({"theme": draw_theme, "source": draw_source, "synonym": draw_synonym}) \
        .groupby(["theme", "source", "synonym"]).indices
    for (theme_index, source, synonym), rows in sorted(keys.items()):
        key = (themes[theme_index], source)
        if key not in vocab.lists:
            key = (themes[theme_index], "en")
        if synonym and key[1] == "en":  # other spellings only: #auto, #bmw, never #car
            draw_tag[rows] = vocab.draw_from(rng, vocab.synonym_lists[key[0]], len(rows))
        else:
            draw_tag[rows] = vocab.draw(rng, key, len(rows))
    parts_post.append(draw_post)
    parts_tag.append(draw_tag)
    return normal_posts, bridged


def _stacked_tag_uses(rng: np.random.Generator, vocab: _Vocabulary, themes: list[str], bloggers: _Bloggers,
                      posts: _Posts, bridged_posts: np.ndarray, parts_post: list, parts_tag: list) -> None:
    """Translation stacking: some bridged posts add the word of one more language."""
    stacked = bridged_posts[rng.random(len(bridged_posts)) < _STACKED_SHARE]
    for post in stacked:
        own = bloggers.lang[posts.blogger[post]]
        theme = themes[posts.theme[post]]
        others = sorted(lang for (t, lang) in vocab.lists if t == theme and lang not in ("en", own))
        if others:
            key = (theme, others[rng.integers(len(others))])
            parts_post.append(np.array([post]))
            parts_tag.append(vocab.draw(rng, key, 1))


def _spam_tag_uses(rng: np.random.Generator, vocab: _Vocabulary, bloggers: _Bloggers, posts: _Posts,
                   normal_posts: np.ndarray, parts_post: list, parts_tag: list) -> None:
    """Spam tags sprinkled over ordinary posts (0 -- most --, 1, 2 or 3; generic accounts use more),
    and the spammers' posts: 30 tags each, mostly spam and junk, the rest random theme tags."""
    spam_counts = rng.choice([0, 1, 2, 3], size=len(normal_posts), p=[0.68, 0.2, 0.08, 0.04])
    heavy = bloggers.is_generic[posts.blogger[normal_posts]]
    spam_counts[heavy] = rng.choice([0, 1, 2, 3, 4], size=int(heavy.sum()), p=[0.2, 0.3, 0.25, 0.15, 0.1])
    spam_post = np.repeat(normal_posts, spam_counts)
    spam_lang = bloggers.lang[posts.blogger[spam_post]]
    spam_source = np.where(rng.random(len(spam_post)) < 0.75, "en", spam_lang)
    spam_tag = np.empty(len(spam_post), dtype=np.int64)
    for source in np.unique(spam_source):
        rows = np.flatnonzero(spam_source == source)
        spam_tag[rows] = vocab.draw(rng, (SPAM_THEME, source), len(rows))
    parts_post.append(spam_post)
    parts_tag.append(spam_tag)

    spammer_posts = np.flatnonzero(posts.theme < 0)
    if len(spammer_posts):
        per_post = 30
        sp_post = np.repeat(spammer_posts, per_post)
        from_spam = rng.random(len(sp_post)) < 0.6
        sp_tag = np.where(from_spam, rng.choice(vocab.spam_ids, len(sp_post)),
                          rng.choice(vocab.theme_ids, len(sp_post)))
        parts_post.append(sp_post)
        parts_tag.append(sp_tag)


def _draw_captions(rng: np.random.Generator, config: SynthConfig, post_lang: np.ndarray,
                   tag_lists: list[list[str]]) -> tuple[list[str | None], list[list[str] | None]]:
    """Captions in the blogger's language (real words, for language detection); a caption-only post
    carries its tags as ``#hashtags`` in the caption and none in ``tags``."""
    n = len(tag_lists)
    caption_only = rng.random(n) < config.share_caption_only
    has_caption = caption_only | (rng.random(n) < config.share_with_caption)
    phrase_pick = rng.integers(0, 12, size=(n, 2))
    two_phrases = rng.random(n) < 0.3
    captions: list[str | None] = []
    tags_column: list[list[str] | None] = []
    for i in range(n):
        phrases = _CAPTIONS[post_lang[i]]
        text = phrases[phrase_pick[i, 0]]
        if two_phrases[i] and phrase_pick[i, 1] != phrase_pick[i, 0]:
            text = f"{text}. {phrases[phrase_pick[i, 1]]}"
        if caption_only[i]:
            hashtags = " ".join(t if t.startswith("#") else f"#{t}" for t in tag_lists[i])
            captions.append(f"{text} {hashtags}")
            tags_column.append(None)
        else:
            captions.append(text if has_caption[i] else None)
            tags_column.append(tag_lists[i])
    return captions, tags_column


def _corpus(rng: np.random.Generator, config: SynthConfig, vocab: _Vocabulary, themes: list[str],
            bloggers: _Bloggers, posts: _Posts, captions: list[str | None], tags_column: list[list[str] | None],
            accidental: list[list[str]], spammed: list[list[str]]) -> SynthCorpus:
    """Dates and likes drawn, then the raw tables in the contract's columns and the planted truth."""
    n_post_total = len(posts)
    post_blogger = posts.blogger
    reference = pd.Timestamp(config.reference_date())
    offsets = rng.integers(1, WINDOW_DAYS * 86_400, size=n_post_total)
    created_at = (reference - pd.to_timedelta(offsets, unit="s")).as_unit("us")
    engagement = rng.lognormal(np.log(0.03), 0.9, n_post_total)
    likes = np.floor(bloggers.followers[post_blogger] * engagement).astype(np.int64)

    order = np.lexsort((post_blogger, offsets))[::-1]  # oldest first
    stated_lang = np.where(bloggers.lang_missing, None, bloggers.lang)
    blogger_ids = bloggers.ids
    posts_frame = pd.DataFrame({
        "post_id": pd.array([f"p{i + 1:07d}" for i in range(n_post_total)], dtype="str"),
        "blogger_id": pd.array(blogger_ids[post_blogger[order]], dtype="str"),
        "created_at": created_at[order],
        "tags": pd.Series([tags_column[i] for i in order], dtype=object),
        "likes": likes[order],
        "lang": pd.array(stated_lang[post_blogger[order]], dtype="str"),
        "caption": pd.array([captions[i] for i in order], dtype="str"),
    })
    bloggers_frame = pd.DataFrame({
        "blogger_id": pd.array(blogger_ids, dtype="str"),
        "username": pd.array(bloggers.usernames, dtype="str"),
        "followers": bloggers.followers,
        "lang": pd.array(stated_lang, dtype="str"),
    })
    main_themes = bloggers.main_themes
    kind = np.where(bloggers.is_spammer, "spammer", np.where(bloggers.is_generic, "generic", "ordinary"))
    blogger_truth = pd.DataFrame({
        "blogger_id": pd.array(blogger_ids, dtype="str"),
        "main_themes": pd.Series(main_themes, dtype=object),
        "lang": pd.array(bloggers.lang, dtype="str"),
        "is_spammer": bloggers.is_spammer,
        "habitual_tags": pd.Series([[vocab.norm[t] for t in h] for h in bloggers.habits], dtype=object),
        "kind": pd.array(kind, dtype="str"),
        "synonym_themes": pd.Series([[t for t in main_themes[b] if t not in _BRIDGED_THEMES]
                                     if bloggers.is_synonym[b] else [] for b in range(len(bloggers))], dtype=object),
        "accidental_tags": pd.Series(accidental, dtype=object),
        "spammed_tags": pd.Series(spammed, dtype=object),
    })
    on_theme = posts.theme >= 0
    realised = pd.DataFrame({"b": post_blogger[on_theme], "t": posts.theme[on_theme]}).value_counts().reset_index(name="posts")
    realised["share"] = realised["posts"] / bloggers.n_posts[realised["b"].to_numpy()]
    realised = realised.sort_values(["b", "posts", "t"], ascending=[True, False, True], kind="stable")
    interests = pd.DataFrame({
        "blogger_id": pd.array(blogger_ids[realised["b"].to_numpy()], dtype="str"),
        "theme": pd.array(np.array(themes, dtype=object)[realised["t"].to_numpy()], dtype="str"),
        "share": realised["share"].to_numpy(dtype=np.float64),
        "posts": realised["posts"].to_numpy(dtype=np.int64),
    }).reset_index(drop=True)
    return SynthCorpus(posts=posts_frame, bloggers=bloggers_frame, tag_themes=_truth_table(),
                       blogger_truth=blogger_truth, config=config, interests=interests)


def _foreign_headline(rng: np.random.Generator, vocab: _Vocabulary, themes: list[str], popularity: np.ndarray,
                      own: list[str], theme_only: bool = False):
    """A theme the blogger does not post on (by popularity) whose headline tags are none of the
    blogger's own themes' tags (``apple`` is tech's and fruit's); its headline tag id (or the theme)."""
    own_tags = {t for theme in own for t in theme_tags(theme)}
    options = [i for i, t in enumerate(themes) if t not in own
               and not {vocab.norm[x] for x in vocab.headline_ids[t]} & own_tags]
    weights = popularity[options] / popularity[options].sum()
    theme = themes[options[rng.choice(len(options), p=weights)]]
    return theme if theme_only else vocab.headline_ids[theme][rng.integers(2)]


def _truth_table() -> pd.DataFrame:
    rows = [(tag, theme, lang) for theme, vocab in THEMES.items()
            for lang, words in vocab.items() for tag in words]
    rows += [(tag, SPAM_THEME, lang) for lang, words in SPAM_TAGS.items() for tag in words]
    rows += [(tag, SPAM_THEME, "en") for tag in JUNK_TAGS]
    table = pd.DataFrame(rows, columns=["tag", "theme", "lang"]).drop_duplicates(ignore_index=True)
    return table.astype({"tag": "str", "theme": "str", "lang": "str"})


def _username(rng: np.random.Generator, lang: str, theme: str, taken: set[str]) -> str:
    first = _FIRST_NAMES[lang][rng.integers(len(_FIRST_NAMES[lang]))]
    suffix = _USERNAME_SUFFIX[theme][rng.integers(len(_USERNAME_SUFFIX[theme]))]
    style = rng.integers(4)
    name = [f"{first}.{suffix}", f"{first}_{suffix}", f"{suffix}_by_{first}",
            f"{first}{suffix}{rng.integers(1, 99)}"][style]
    base, n = name, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _habits(rng: np.random.Generator, vocab: _Vocabulary, username: str, main: list[str],
            lang: str, avoid: set[int] = frozenset()) -> list[int]:
    """1-3 tags the blogger puts in most posts: an own name-like tag or a top tag of a main theme
    (never one of ``avoid``: a synonym blogger's headline tags)."""
    k = rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])
    out: list[int] = []
    if rng.random() < 0.4:
        own = "".join(ch for ch in username if ch.isalnum())
        out.append(vocab.add(own.capitalize() if rng.random() < 0.5 else own))
    while len(out) < k:
        theme = main[rng.integers(len(main))]
        source = lang if (theme, lang) in vocab.lists and rng.random() < 0.5 else "en"
        ids, _ = vocab.lists[(theme, source)]
        candidate = int(ids[rng.integers(min(8, len(ids)))])
        if candidate not in out and candidate not in avoid:
            out.append(candidate)
    return out


def _render(rng: np.random.Generator, vocab: _Vocabulary, tag_ids: np.ndarray) -> np.ndarray:
    """Raw spellings as people type them: diacritics or not, Capitalised, UPPER, leading '#'."""
    spelling = np.array(vocab.spelling, dtype=object)
    norm = np.array(vocab.norm, dtype=object)
    title = np.array([s[:1].upper() + s[1:] for s in vocab.spelling], dtype=object)
    upper = np.array([s.upper() if len(s) <= 4 else s[:1].upper() + s[1:] for s in vocab.spelling], dtype=object)
    forms = np.stack([spelling, norm, title, upper])
    variant = rng.choice(4, size=len(tag_ids), p=[0.72, 0.14, 0.1, 0.04])
    rendered = forms[variant, tag_ids]
    hashed = rng.random(len(tag_ids)) < 0.04
    rendered[hashed] = "#" + rendered[hashed]
    return rendered


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

# The raw files are written in the input contract's own columns (one definition: topictensor.contract.schema).
POSTS_SCHEMA = RAW_POSTS_SCHEMA
BLOGGERS_SCHEMA = RAW_BLOGGERS_SCHEMA
TAG_THEMES_SCHEMA = pa.schema([("tag", pa.string()), ("theme", pa.string()), ("lang", pa.string())])
BLOGGER_TRUTH_SCHEMA = pa.schema([
    ("blogger_id", pa.string()), ("main_themes", pa.list_(pa.string())), ("lang", pa.string()),
    ("is_spammer", pa.bool_()), ("habitual_tags", pa.list_(pa.string())), ("kind", pa.string()),
    ("synonym_themes", pa.list_(pa.string())), ("accidental_tags", pa.list_(pa.string())),
    ("spammed_tags", pa.list_(pa.string())),
])
INTERESTS_SCHEMA = pa.schema([("blogger_id", pa.string()), ("theme", pa.string()), ("share", pa.float64()),
                              ("posts", pa.int64())])


def write(corpus: SynthCorpus, out_dir: str | os.PathLike, format: str | None = None,
          files_per_table: int | None = None, partition_by: str | None = None) -> dict[str, int]:
    """Write the raw tables under ``out_dir`` (posts/, bloggers/) and the truth under ``_truth/``.

    ``format`` ("parquet" or "jsonl") and ``files_per_table`` default to the corpus's config
    (whose defaults are parquet and 1). ``partition_by="week"`` writes date partitions
    (``topictensor.partitions``): ``posts/dt=<Monday>/`` with the posts created that week (UTC),
    and a bloggers snapshot ``bloggers/dt=<Monday>/`` for every week (the same table). Returns the
    counts of :func:`corpus_counts` plus ``files`` (and ``partitions``).

    Earlier ``part-*`` files and ``dt=`` folders in posts/ and bloggers/ are removed first so a
    smaller rerun leaves no stale parts behind. Each file is written under a temporary
    ``_``-prefixed name (which ingest ignores) and renamed into place.
    """
    if partition_by not in (None, "week"):
        raise ConfigError(f"synth partition_by must be None or 'week', got {partition_by!r}")
    format = format or corpus.config.format
    files_per_table = files_per_table if files_per_table is not None else corpus.config.files_per_table
    if format not in ("parquet", "jsonl"):
        raise ConfigError(f"synth format must be 'parquet' or 'jsonl', got {format!r}")
    if files_per_table < 1:
        raise ConfigError(f"files_per_table must be >= 1, got {files_per_table}")
    out = Path(out_dir)
    posts_dir, bloggers_dir, truth_dir = out / "posts", out / "bloggers", out / "_truth"
    for folder in (posts_dir, bloggers_dir, truth_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (posts_dir, bloggers_dir):
        for stale in folder.glob("part-*"):
            stale.unlink()
        for stale in folder.glob("dt=*"):
            shutil.rmtree(stale)

    tables = []
    if partition_by == "week":
        created = pd.to_datetime(corpus.posts["created_at"], utc=True)
        week = (created.dt.tz_localize(None).dt.normalize()
                - pd.to_timedelta(created.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
        for day in sorted(week.unique()):
            tables.append((corpus.posts[(week == day).to_numpy()], POSTS_SCHEMA, posts_dir / f"dt={day}"))
            tables.append((corpus.bloggers, BLOGGERS_SCHEMA, bloggers_dir / f"dt={day}"))
    else:
        tables = [(corpus.posts, POSTS_SCHEMA, posts_dir), (corpus.bloggers, BLOGGERS_SCHEMA, bloggers_dir)]
    files = 0
    for frame, schema, folder in tables:
        folder.mkdir(parents=True, exist_ok=True)
        for index, rows in enumerate(np.array_split(np.arange(len(frame)), files_per_table)):
            part = frame.iloc[rows]
            target = folder / f"part-{index:05d}.{format}"
            if format == "parquet":
                _atomic_parquet(_to_arrow(part, schema), target)
            else:
                _atomic_jsonl(part, target)
            files += 1
    _atomic_parquet(_to_arrow(corpus.tag_themes, TAG_THEMES_SCHEMA), truth_dir / "tag_themes.parquet")
    _atomic_parquet(_to_arrow(corpus.blogger_truth, BLOGGER_TRUTH_SCHEMA), truth_dir / "bloggers.parquet")
    _atomic_parquet(_to_arrow(corpus.interests, INTERESTS_SCHEMA), truth_dir / "interests.parquet")
    settings = corpus.config.model_dump(mode="json") | {
        "format": format, "files_per_table": files_per_table, "partition_by": partition_by,
        "reference_date": corpus.config.reference_date().isoformat(), "window_days": WINDOW_DAYS,
        "generator": generator_version(),
    }
    _atomic_text(json.dumps(settings, indent=2, sort_keys=True), truth_dir / "synth_config.json")
    counts = corpus_counts(corpus) | {"files": files}
    return counts | ({"partitions": len(tables) // 2} if partition_by else {})


def corpus_counts(corpus: SynthCorpus) -> dict[str, int]:
    """Posts, bloggers, tag occurrences (caption hashtags included) and distinct normalised tags."""
    tags = corpus_tag_lists(corpus.posts)
    flat = [normalize_tag(t) for ts in tags for t in ts]
    return {"posts": len(corpus.posts), "bloggers": len(corpus.bloggers),
            "tag_occurrences": len(flat), "distinct_tags": len(set(flat)),
            "caption_only_posts": int(corpus.posts["tags"].isna().sum())}


def corpus_tag_lists(posts: pd.DataFrame) -> list[list[str]]:
    """Each post's raw tags, taken from the caption's #hashtags when the tags column is null."""
    out: list[list[str]] = []
    for tags, caption in zip(posts["tags"], posts["caption"]):
        if tags is None or (not isinstance(tags, (list, np.ndarray)) and pd.isna(tags)):
            out.append([w for w in (caption or "").split() if w.startswith("#") and len(w) > 1])
        else:
            out.append(list(tags))
    return out


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    columns = {}
    for field in schema:
        values = frame[field.name]
        if pa.types.is_list(field.type):
            columns[field.name] = pa.array([None if v is None else list(v) for v in values], type=field.type)
        elif pa.types.is_string(field.type):
            columns[field.name] = pa.array([None if pd.isna(v) else v for v in values], type=field.type)
        else:
            columns[field.name] = pa.array(values, type=field.type)
    return pa.table(columns, schema=schema)


def _atomic_parquet(table: pa.Table, target: Path) -> None:
    tmp = target.with_name(f"_tmp.{target.name}")
    pq.write_table(table, tmp)
    os.replace(tmp, target)


def _atomic_jsonl(frame: pd.DataFrame, target: Path) -> None:
    records = frame.copy()
    if "created_at" in records:
        records["created_at"] = records["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = []
    for row in records.itertuples(index=False):
        item = {}
        for name, value in zip(records.columns, row):
            if isinstance(value, list):
                item[name] = value
            elif value is None or (not isinstance(value, (list, np.ndarray)) and pd.isna(value)):
                item[name] = None
            elif isinstance(value, np.integer):
                item[name] = int(value)
            else:
                item[name] = value
        lines.append(json.dumps(item, ensure_ascii=False))
    _atomic_text("\n".join(lines) + "\n", target)


def _atomic_text(text: str, target: Path) -> None:
    tmp = target.with_name(f"_tmp.{target.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def generator_version() -> str:
    """Hash of this module's source and its vocabularies: a changed generator makes a different corpus."""
    import hashlib
    from importlib.resources import files

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(files("topictensor.data").joinpath(VOCABULARIES_FILE).read_bytes())
    return digest.hexdigest()[:12]


def already_written(config: SynthConfig, out_dir: str | os.PathLike, partition_by: str | None = None) -> bool:
    """True when ``out_dir`` already holds the corpus of exactly this config, generator and layout:
    rewriting it would change nothing but file times, which are part of ingest's input key."""
    marker = Path(out_dir) / "_truth" / "synth_config.json"
    if not marker.is_file():
        return False
    try:
        written = json.loads(marker.read_text())
    except ValueError:
        return False
    wanted = config.model_dump(mode="json") | {"generator": generator_version(), "partition_by": partition_by}
    return all(written.get(key) == value for key, value in wanted.items())
