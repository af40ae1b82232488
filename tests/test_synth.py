"""The synthetic corpus: deterministic, in the raw contract, and carrying the planted answers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from topictensor.synth import (
    BLOGGERS_SCHEMA,
    HABIT_SHARE,
    MIRROR_WORDS,
    POSTS_SCHEMA,
    SPAM_TAGS,
    THEMES,
    SynthConfig,
    corpus_tag_lists,
    generate,
    normalize_tag,
    tag_theme_map,
    theme_tags,
    write,
)

SMALL = SynthConfig(seed=3, n_bloggers=150, n_spammers=3, posts_per_blogger_mean=10)


@pytest.fixture(scope="module")
def corpus():
    return generate(SynthConfig())


@pytest.fixture(scope="module")
def normalised_lists(corpus):
    return [[normalize_tag(t) for t in tags] for tags in corpus_tag_lists(corpus.posts)]


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    first, again = generate(SMALL), generate(SMALL)
    for name in ("posts", "bloggers", "tag_themes", "blogger_truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = generate(SMALL.model_copy(update={"seed": 4}))
    assert not first.posts["created_at"].equals(other.posts["created_at"])
    assert not first.blogger_truth["main_themes"].equals(other.blogger_truth["main_themes"])


def test_default_size_fits_the_demo(corpus):
    assert 30_000 <= len(corpus.posts) <= 50_000
    assert len(corpus.bloggers) == 1500 + 12


def test_ids_are_unique_and_posts_point_at_known_bloggers(corpus):
    assert corpus.posts["post_id"].is_unique
    assert corpus.bloggers["blogger_id"].is_unique
    assert corpus.bloggers["username"].is_unique
    assert set(corpus.posts["blogger_id"]) <= set(corpus.bloggers["blogger_id"])


def test_written_parquet_matches_the_contract(tmp_path: Path):
    data = generate(SMALL)
    counts = write(data, tmp_path, format="parquet", files_per_table=3)
    posts_files = sorted((tmp_path / "posts").iterdir())
    assert [f.name for f in posts_files] == [f"part-0000{i}.parquet" for i in range(3)]
    assert pq.read_schema(posts_files[0]).remove_metadata() == POSTS_SCHEMA
    assert pq.read_schema(tmp_path / "bloggers" / "part-00000.parquet").remove_metadata() == BLOGGERS_SCHEMA
    posts = pq.read_table(tmp_path / "posts").to_pandas()
    assert len(posts) == counts["posts"] == len(data.posts)
    assert posts["tags"].isna().sum() == data.posts["tags"].isna().sum() > 0
    assert str(posts["created_at"].dt.tz) == "UTC"
    truth = pq.read_table(tmp_path / "_truth" / "tag_themes.parquet").to_pandas()
    assert list(truth.columns) == ["tag", "theme", "lang"]
    bloggers_truth = pq.read_table(tmp_path / "_truth" / "bloggers.parquet").to_pandas()
    assert {"blogger_id", "main_themes", "lang", "is_spammer"} <= set(bloggers_truth.columns)
    settings = json.loads((tmp_path / "_truth" / "synth_config.json").read_text())
    assert settings["seed"] == 3
    assert not list(tmp_path.rglob("_tmp.*")), "temporary files must be renamed into place"


def test_rewriting_with_fewer_parts_leaves_no_stale_parts(tmp_path: Path):
    data = generate(SMALL)
    write(data, tmp_path, files_per_table=3)
    write(data, tmp_path, files_per_table=1)
    assert [f.name for f in (tmp_path / "posts").iterdir()] == ["part-00000.parquet"]


def test_written_jsonl_has_the_same_fields_and_iso_dates(tmp_path: Path):
    data = generate(SMALL)
    write(data, tmp_path, format="jsonl")
    assert not list(tmp_path.rglob("*.parquet")) or {p.parent.name for p in tmp_path.rglob("*.parquet")} == {"_truth"}
    lines = (tmp_path / "posts" / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(data.posts)
    assert set(rows[0]) == set(POSTS_SCHEMA.names)
    parsed = pd.to_datetime([r["created_at"] for r in rows], utc=True)
    assert (parsed == data.posts["created_at"].dt.floor("s").to_numpy()).all()
    assert all(r["created_at"].endswith("Z") for r in rows)
    assert sum(r["tags"] is None for r in rows) == data.posts["tags"].isna().sum()
    assert all(isinstance(r["likes"], int) for r in rows)
    bloggers = [json.loads(line) for line in
                (tmp_path / "bloggers" / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()]
    assert set(bloggers[0]) == set(BLOGGERS_SCHEMA.names)
    assert any(b["lang"] is None for b in bloggers)


def test_missing_language_and_caption_only_shares_are_near_the_config(corpus):
    bloggers, posts = corpus.bloggers, corpus.posts
    assert abs(bloggers["lang"].isna().mean() - 0.3) < 0.04
    stated = bloggers.set_index("blogger_id")["lang"]
    assert (posts["lang"].isna() == stated.loc[posts["blogger_id"]].isna().to_numpy()).all()
    caption_only = posts["tags"].isna()
    assert abs(caption_only.mean() - 0.1) < 0.015
    assert posts.loc[caption_only, "caption"].str.contains("#", regex=False).all()
    assert not posts.loc[~caption_only, "caption"].dropna().str.contains("#", regex=False).any()


def test_dates_fall_in_the_eight_weeks_before_the_seeded_reference(corpus):
    reference = pd.Timestamp(corpus.config.reference_date())
    assert corpus.posts["created_at"].max() < reference
    assert corpus.posts["created_at"].min() >= reference - pd.Timedelta(days=56)


def test_followers_and_likes_are_heavy_tailed_and_correlated(corpus):
    followers = corpus.bloggers.set_index("blogger_id")["followers"]
    assert followers.min() >= 100 and followers.max() <= 10_000_000
    assert followers.max() > 50 * followers.median()
    median_likes = corpus.posts.groupby("blogger_id")["likes"].median()
    assert median_likes.corr(followers.loc[median_likes.index], method="spearman") > 0.6


def test_raw_tags_need_normalising_and_truth_is_normalised(corpus):
    raw = [t for tags in corpus_tag_lists(corpus.posts) for t in tags]
    assert any(t.startswith("#") for t in corpus.posts["tags"].dropna().explode())
    assert any(t != t.lower() for t in raw)
    with_latin_diacritics = {t for t in raw if normalize_tag(t) != t.lower().lstrip("#")}
    assert {"málaga", "paçoca", "schönheit", "café"} <= {t.lower() for t in with_latin_diacritics}
    truth = corpus.tag_themes
    assert (truth["tag"] == truth["tag"].map(normalize_tag)).all()
    assert {"malaga", "pacoca", "schonheit", "котенок", "cafe"} <= set(truth["tag"])


@pytest.mark.parametrize("raw, expected", [
    ("BMW", "bmw"), ("#Málaga", "malaga"), ("Paçoca", "pacoca"), ("Schönheit", "schonheit"),
    ("Котёнок", "котенок"), ("йога", "йога"), ("東京", "東京"),
])
def test_normalize_tag_follows_the_contract(raw, expected):
    assert normalize_tag(raw) == expected


def test_every_used_tag_is_known_to_the_truth(corpus, normalised_lists):
    known = set(corpus.tag_themes["tag"])
    known |= {t for tags in corpus.blogger_truth["habitual_tags"] for t in tags}
    assert {t for tags in normalised_lists for t in tags} <= known


def test_apple_is_planted_in_two_comparable_themes(corpus, normalised_lists):
    assert set(corpus.tag_themes.loc[corpus.tag_themes["tag"] == "apple", "theme"]) == {"tech", "fruit"}
    multi = {tag for tag, themes in tag_theme_map().items() if len(themes) > 1}
    assert multi == {"apple"}
    tech, fruit = theme_tags("tech") - {"apple"}, theme_tags("fruit") - {"apple"}
    with_tech = sum(1 for tags in normalised_lists if "apple" in tags and tech & set(tags))
    with_fruit = sum(1 for tags in normalised_lists if "apple" in tags and fruit & set(tags))
    assert 0.5 < with_tech / with_fruit < 2


def test_every_mirror_word_is_used_and_meets_english(corpus, normalised_lists):
    english = set(THEMES["mirror"]["en"])
    used = Counter(t for tags in normalised_lists for t in tags)
    for lang in corpus.config.languages:
        for word in MIRROR_WORDS[lang]:
            assert used[word] >= 30, (lang, word)
            if lang != "en":
                meets = sum(1 for tags in normalised_lists if word in tags and english & set(tags))
                assert meets >= 0.5 * used[word], (lang, word, meets)


def test_spam_tags_are_sprinkled_over_every_theme(corpus, normalised_lists):
    spam = {t for words in SPAM_TAGS.values() for t in words}
    ordinary = ~corpus.blogger_truth.set_index("blogger_id").loc[corpus.posts["blogger_id"], "is_spammer"].to_numpy()
    for theme in THEMES:
        vocab = theme_tags(theme) - {"apple"}
        theme_posts = [set(tags) for tags, keep in zip(normalised_lists, ordinary) if keep and vocab & set(tags)]
        with_spam = sum(1 for tags in theme_posts if tags & spam)
        assert 0.15 < with_spam / len(theme_posts) < 0.6, theme


def test_each_blogger_uses_their_habitual_tags_in_most_posts(corpus, normalised_lists):
    truth = corpus.blogger_truth.set_index("blogger_id")
    posts_by_blogger: dict[str, list[set[str]]] = {}
    for blogger, tags in zip(corpus.posts["blogger_id"], normalised_lists):
        posts_by_blogger.setdefault(blogger, []).append(set(tags))
    for blogger, row in truth[~truth["is_spammer"]].iterrows():
        assert 1 <= len(row["habitual_tags"]) <= 3
        posts = posts_by_blogger[blogger]
        for tag in row["habitual_tags"]:
            share = sum(tag in tags for tags in posts) / len(posts)
            assert share >= 0.5, (blogger, tag, share)
            if len(posts) >= 10:
                assert share >= HABIT_SHARE - 0.06, (blogger, tag, share)


def test_spammers_post_a_lot_with_huge_tag_lists(corpus, normalised_lists):
    spammers = set(corpus.blogger_truth.loc[corpus.blogger_truth["is_spammer"], "blogger_id"])
    assert len(spammers) == 12
    sizes = [len(tags) for blogger, tags in zip(corpus.posts["blogger_id"], normalised_lists) if blogger in spammers]
    assert np.median(sizes) >= 25
    assert len(sizes) / len(spammers) > 2 * corpus.config.posts_per_blogger_mean


def test_most_posts_have_two_or_three_tags_with_a_long_tail(normalised_lists):
    sizes = np.array([len(tags) for tags in normalised_lists])
    assert np.isin(sizes, [2, 3]).mean() > 0.5
    assert sizes.max() >= 25


def test_only_russian_bloggers_use_russian_tags(corpus, normalised_lists):
    """Outside the mirror theme, whose posts may stack a third language's word (tested below)."""
    truth = corpus.blogger_truth.set_index("blogger_id")
    russian = {t for theme, vocab in THEMES.items() if theme != "mirror" for t in vocab.get("ru", [])}
    russian_uses: Counter[str] = Counter()
    for blogger, tags in zip(corpus.posts["blogger_id"], normalised_lists):
        if not truth.at[blogger, "is_spammer"]:
            russian_uses[truth.at[blogger, "lang"]] += sum(t in russian for t in tags)
    assert russian_uses["ru"] > 1000
    others = {lang: uses for lang, uses in russian_uses.items() if lang != "ru"}
    assert set(others) == {"en", "es", "pt", "it", "de"}
    assert all(uses == 0 for uses in others.values()), others


def test_some_mirror_posts_stack_words_of_two_non_english_languages(normalised_lists):
    language_of = {w: lang for lang, words in THEMES["mirror"].items() if lang != "en" for w in words}
    stacked = [tags for tags in normalised_lists if len({language_of[t] for t in tags if t in language_of}) >= 2]
    assert len(stacked) > 50
    with_english = [tags for tags in stacked if any(t in THEMES["mirror"]["en"] for t in tags)]
    assert len(with_english) > 0.8 * len(stacked)  # the rest: spammers' random tags


def test_bmw_co_occurs_with_cars_far_more_than_with_food(normalised_lists):
    cars, food = theme_tags("cars") - {"bmw"}, theme_tags("food")
    with_cars = with_food = 0
    for tags in normalised_lists:
        if "bmw" in tags:
            with_cars += len(cars & set(tags))
            with_food += len(food & set(tags))
    assert with_cars > 10 * max(with_food, 1)


def test_config_rejects_unknown_fields_and_languages():
    with pytest.raises(ValidationError):
        SynthConfig(bloggers=10)
    with pytest.raises(ValidationError, match="xx"):
        SynthConfig(languages=["en", "xx"])


def test_french_can_be_switched_on(tmp_path: Path):
    data = generate(SynthConfig(seed=1, n_bloggers=200, languages=["fr", "en"], n_spammers=0))
    assert set(data.blogger_truth["lang"]) == {"fr", "en"}
    assert data.posts["caption"].dropna().str.contains("journée|vacances|matin", regex=True).any()


# ---- planted truth for blogger selection (benchmarks/bench_selection.py) ----------------------------

def test_interests_are_the_realised_shares_of_each_bloggers_posts(corpus):
    interests = corpus.interests
    sums = interests.groupby("blogger_id")["share"].sum()
    ordinary = set(corpus.blogger_truth.loc[~corpus.blogger_truth["is_spammer"], "blogger_id"])
    assert set(sums.index) == ordinary and np.allclose(sums, 1.0)
    posts = corpus.posts.groupby("blogger_id").size()
    assert (interests.groupby("blogger_id")["posts"].sum() == posts.loc[sums.index]).all()
    main = corpus.blogger_truth.set_index("blogger_id")["main_themes"]
    assert all(set(g["theme"]) <= set(main[b]) for b, g in interests.groupby("blogger_id"))


def test_big_accounts_post_on_more_themes(corpus):
    truth = corpus.blogger_truth[corpus.blogger_truth["kind"] == "ordinary"].set_index("blogger_id")
    followers = corpus.bloggers.set_index("blogger_id")["followers"].loc[truth.index]
    breadth = truth["main_themes"].map(len)
    assert breadth.corr(followers, method="spearman") > 0.2
    assert breadth[followers > 100_000].mean() > breadth[followers < 1_000].mean() + 0.8


def test_generic_accounts_are_popular_and_post_on_every_theme(corpus):
    generic = corpus.blogger_truth[corpus.blogger_truth["kind"] == "generic"]
    assert len(generic) == round(0.02 * 1500)
    assert (generic["main_themes"].map(len) == len(THEMES)).all()
    followers = corpus.bloggers.set_index("blogger_id")["followers"].loc[generic["blogger_id"]]
    assert followers.min() >= 50_000
    top = corpus.interests[corpus.interests["blogger_id"].isin(generic["blogger_id"])].groupby("blogger_id")["share"].max()
    assert top.median() < 0.3  # no theme of theirs is a real focus


def test_synonym_bloggers_never_write_their_themes_headline_tags(corpus, normalised_lists):
    from topictensor.synth import HEADLINE_TAGS

    truth = corpus.blogger_truth.set_index("blogger_id")
    synonym = truth[truth["synonym_themes"].map(len) > 0]
    assert 0.2 < len(synonym) / len(truth) < 0.3
    used: dict[str, set[str]] = {}
    for blogger, tags in zip(corpus.posts["blogger_id"], normalised_lists):
        used.setdefault(blogger, set()).update(tags)
    for blogger, row in synonym.iterrows():
        avoided = {t for theme in row["synonym_themes"] for t in HEADLINE_TAGS[theme]}
        assert not used[blogger] & avoided - set(row["spammed_tags"]), blogger
    cars = synonym[synonym["synonym_themes"].map(lambda t: "cars" in t)].index
    assert sum(bool(used[b] & {"bmw", "auto", "audi"}) for b in cars) > 0.5 * len(cars)


def test_one_off_and_spammed_tags_are_planted_as_recorded(corpus, normalised_lists):
    truth = corpus.blogger_truth.set_index("blogger_id")
    posts_of: dict[str, list[set[str]]] = {}
    for blogger, tags in zip(corpus.posts["blogger_id"], normalised_lists):
        posts_of.setdefault(blogger, []).append(set(tags))
    accidental = truth[truth["accidental_tags"].map(len) > 0]
    assert len(accidental) > 100
    for blogger, row in accidental.iterrows():
        tag = row["accidental_tags"][0]
        assert 1 <= sum(tag in p for p in posts_of[blogger]) <= 2, blogger
        assert tag not in {t for theme in row["main_themes"] for t in theme_tags(theme)}
    spammers = truth[truth["spammed_tags"].map(len) > 0]
    assert len(spammers) > 20
    for blogger, row in spammers.iterrows():
        share = np.mean([row["spammed_tags"][0] in p for p in posts_of[blogger]])
        assert share >= 0.45, (blogger, share)
        assert not set(row["spammed_tags"]) & {t for theme in row["main_themes"] for t in theme_tags(theme)}


def test_interests_are_written_beside_the_corpus(tmp_path: Path):
    data = generate(SMALL)
    write(data, tmp_path)
    interests = pq.read_table(tmp_path / "_truth" / "interests.parquet").to_pandas()
    pd.testing.assert_frame_equal(interests, data.interests, check_dtype=False)
    truth = pq.read_table(tmp_path / "_truth" / "bloggers.parquet").to_pandas()
    assert {"kind", "synonym_themes", "accidental_tags", "spammed_tags"} <= set(truth.columns)


def test_the_vocabularies_are_package_data_declared_for_installation():
    """The synthetic vocabularies ship as package data (topictensor/data/*.json, loaded through
    importlib.resources), and pyproject.toml declares every data file there, so `pip install .`
    (not only an editable install) has them."""
    import fnmatch
    import tomllib
    from importlib.resources import files
    from pathlib import Path

    from topictensor import synth

    root = Path(synth.__file__).resolve().parent
    declared = tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = declared["topictensor.data"]
    data_files = [p.name for p in (root / "data").iterdir() if p.is_file() and p.suffix != ".py"]
    assert synth.VOCABULARIES_FILE in data_files
    assert all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns) for name in data_files)
    loaded = json.loads(files("topictensor.data").joinpath(synth.VOCABULARIES_FILE).read_text(encoding="utf-8"))
    assert set(loaded["themes"]) == set(synth.THEMES) and loaded["themes"]["cars"]["en"][:2] == ["car", "cars"]
