"""A theme's tags ranked by cosine - c ln(count) (``search.theme_popularity_penalty``): on a planted
corpus whose topic-free spam tags (``love``, ``instagood``, ...) are kept, plain cosine puts them in
the themes' top lists; the default penalty pushes them out and keeps the themes' own tags."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from topictensor.embeddings import Embeddings
from topictensor.quality import theme_top_tags
from topictensor.ranking import popularity_penalty
from topictensor.search.model import SearchModel
from topictensor.search.params import SearchConfig

TOP = 20


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(emb, themes, topic_of, spam): ``topictensor.synth`` posts (seed 11, 600 bloggers) normalised
    with their spam tags kept, tags of fewer than 3 bloggers dropped, trained deterministically;
    each theme's query is its 3 most frequent single-theme tags (~8 s)."""
    import pyarrow as pa

    from topictensor.modeldir import train_to_dir
    from topictensor.synth import SynthConfig, generate, tag_theme_map
    from topictensor.tags import extract_caption_tags, normalize_tags
    from topictensor.train.params import TrainConfig

    corpus = generate(SynthConfig(seed=11, n_bloggers=600))
    posts, users = [], {}
    for tags, caption, blogger in zip(corpus.posts["tags"], corpus.posts["caption"], corpus.posts["blogger_id"]):
        norm = sorted(set(normalize_tags(tags) if tags is not None else extract_caption_tags(caption)))
        posts.append(norm)
        for t in norm:
            users.setdefault(t, set()).add(blogger)
    posts = [p for p in ([t for t in p if len(users[t]) >= 3] for p in posts) if p]
    out = Path(tmp_path_factory.mktemp("spam-model"))
    train_to_dir(pa.table({"tags": pa.array(posts, type=pa.list_(pa.string()))}),
                 TrainConfig(epochs=5, seed=1, deterministic=True), out)
    emb = Embeddings.load(out)
    truth = tag_theme_map()
    topic_of = {t: next(iter(th)) for t, th in truth.items() if len(th) == 1 and th != {"spam"}}
    spam = {t for t, th in truth.items() if "spam" in th and t in emb.index}
    uses = Counter(t for p in posts for t in p if t in topic_of)
    themes: dict[str, list[str]] = {}
    for tag, _ in sorted(uses.items(), key=lambda tc: (-tc[1], tc[0])):
        if len(themes.setdefault(topic_of[tag], [])) < 3:
            themes[topic_of[tag]].append(tag)
    return emb, themes, topic_of, spam


def tops(model: SearchModel, themes: dict) -> dict[str, list[str]]:
    return {name: [h.tag for h in model.topic(", ".join(seeds), TOP).tags] for name, seeds in themes.items()}


def test_default_penalty_pushes_frequent_topic_free_tags_out_and_keeps_the_themes_own(planted):
    emb, themes, topic_of, spam = planted
    plain = tops(SearchModel(emb, config=SearchConfig(theme_popularity_penalty=0)), themes)
    default = tops(SearchModel(emb), themes)
    most_used_spam = max(spam, key=lambda t: emb.counts[emb.index[t]])  # "love" in synth
    with_it = [name for name, top in plain.items() if most_used_spam in top]
    assert len(with_it) >= len(themes) // 2, (most_used_spam, plain)  # the problem is there under plain cosine
    assert all(most_used_spam not in default[name] for name in with_it), default
    spam_plain = sum(t in spam for top in plain.values() for t in top)
    spam_default = sum(t in spam for top in default.values() for t in top)
    assert spam_default <= spam_plain / 4, (spam_plain, spam_default)
    for name, top in plain.items():
        own = [t for t in top[:10] if topic_of.get(t) == name]
        assert set(own) <= set(default[name]), (name, own, default[name])
        assert sum(topic_of.get(t) == name for t in default[name]) >= sum(topic_of.get(t) == name for t in top)


def test_penalty_zero_is_exactly_the_plain_cosine_ranking_and_relevance_stays_the_cosine(planted):
    emb, themes, _, _ = planted
    unit = emb.normalized()
    for c in (0.0, SearchConfig().theme_popularity_penalty):
        model = SearchModel(emb, config=SearchConfig(theme_popularity_penalty=c))
        for seeds in themes.values():
            result = model.topic(", ".join(seeds), TOP)
            cos = unit @ result.theme.vector
            for h in result.tags:
                assert h.relevance == pytest.approx(float(cos[emb.index[h.tag]]), abs=1e-6)
            if c == 0:
                cos[[emb.index[t] for t in result.theme.tags]] = -np.inf
                expected = [str(emb.tags[i]) for i in np.argsort(-cos, kind="stable")[:TOP]]
                assert [h.tag for h in result.tags] == expected


def test_quality_theme_top_tags_ranks_as_the_service_with_the_same_penalty(planted):
    emb, themes, _, _ = planted
    for c in (0.0, 0.02, SearchConfig().theme_popularity_penalty):
        model = SearchModel(emb, config=SearchConfig(theme_popularity_penalty=c))
        bonus = popularity_penalty(emb.counts, c)
        for seeds in themes.values():
            served = [h.tag for h in model.topic(", ".join(seeds), TOP).tags]
            assert theme_top_tags(emb, dict.fromkeys(seeds, 1.0), TOP, bonus=bonus) == served


def test_relative_cutoff_is_on_the_cosine_under_the_penalty(planted):
    emb, themes, _, _ = planted
    model = SearchModel(emb, config=SearchConfig(relative_relevance=0.9))
    seeds = next(iter(themes.values()))
    result = model.topic(", ".join(seeds), TOP)
    # the reference is the nearest tag's cosine over every candidate (not only the hits the penalty let in)
    theme = model.theme(", ".join(seeds))
    sims = emb.normalized() @ theme.vector
    sims[[emb.index[t] for t in theme.tags]] = -np.inf
    assert result.threshold == pytest.approx(0.9 * float(sims.max()))
    # so the cut-off does not depend on how many tags are asked for: a shorter list is a prefix
    longer = model.topic(", ".join(seeds), 2 * TOP)
    assert longer.threshold == pytest.approx(result.threshold)
    assert [h.tag for h in result.tags] == [h.tag for h in longer.tags][:len(result.tags)]
    uncut = SearchModel(emb).topic(", ".join(seeds), TOP).tags
    assert [h.tag for h in result.tags] == [h.tag for h in uncut if h.relevance >= result.threshold]


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan"), float("inf"), "much"])
def test_the_penalty_field_is_validated(bad):
    with pytest.raises(ValidationError, match="theme_popularity_penalty"):
        SearchConfig(theme_popularity_penalty=bad)


def test_popularity_penalty_refuses_a_negative_or_non_finite_weight():
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            popularity_penalty(np.array([1, 10]), bad)
    assert popularity_penalty(np.array([1, 10]), 0.0) is None
    # count 0 (a vanished tag) takes the largest count's penalty, never the smallest
    np.testing.assert_allclose(popularity_penalty(np.array([0, 1, 100]), 0.5),
                               [-0.5 * np.log(100), 0.0, -0.5 * np.log(100)], rtol=1e-6)


def test_a_tag_with_count_zero_gets_the_largest_penalty_not_none():
    """A vanished tag kept with count 0 (train.keep_vanished_tags) must not be the least penalised."""
    penalty = popularity_penalty(np.array([0, 1, 10, 1000]), 0.05)
    assert penalty[0] == pytest.approx(penalty.min()) and penalty[0] == pytest.approx(-0.05 * np.log(1000))
    assert penalty[1] == 0.0 and penalty[2] > penalty[3]
