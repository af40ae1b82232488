"""Stable ids between two versions: carry-over, born, died, split, merged; ids never reused."""

from __future__ import annotations

import numpy as np
import pandas as pd

from topictensor.topics.match import BORN, DIED, MERGED, PERSISTED, SPLIT, match_topics
from topictensor.topics.params import TopicsConfig


def tables(groups: dict[int, list[str]], noise: list[str] = (), dim: int = 4):
    """(topics, members) for topic id -> member tags; centroids are the topic's own axis."""
    topics = pd.DataFrame({
        "topic_id": list(groups), "label": [", ".join(tags[:2]) for tags in groups.values()],
        "size": [len(t) for t in groups.values()],
        "centroid": [np.eye(dim)[i % dim].tolist() for i in range(len(groups))],
    })
    rows = [(tag, tid) for tid, tags in groups.items() for tag in tags] + [(t, -1) for t in noise]
    members = pd.DataFrame({"tag": [r[0] for r in rows], "topic_id": [r[1] for r in rows],
                            "strength": 1.0, "soft": False})
    return topics, members


def words(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


def events(result) -> dict[int, str]:
    return dict(zip(result.changes["topic_id"], result.changes["event"]))


def test_first_version_numbers_topics_from_zero():
    topics, members = tables({0: words("a", 5), 1: words("b", 4)})
    result = match_topics(None, None, topics, members)
    assert result.topics["topic_id"].tolist() == [0, 1]
    assert set(result.changes["event"]) == {BORN} and result.next_id == 2


def test_persisting_topics_keep_their_ids_whatever_the_local_order():
    prev_t, prev_m = tables({10: words("a", 10), 11: words("b", 10), 12: words("c", 10)})
    # the new run numbers them differently and each lost or gained a tag or two
    new_t, new_m = tables({0: words("c", 9), 1: words("a", 11), 2: words("b", 10, start=1)})
    result = match_topics(prev_t, prev_m, new_t, new_m, next_id=20)
    assert result.topics["topic_id"].tolist() == [12, 10, 11]
    assert set(result.changes["event"]) == {PERSISTED}
    member_ids = result.members.groupby("topic_id")["tag"].apply(set).to_dict()
    assert member_ids[10] == set(words("a", 11))
    assert result.next_id == 20 and result.summary()["id_kept_share"] == 1.0


def test_born_topics_get_ids_never_used_before_and_died_ones_are_reported():
    prev_t, prev_m = tables({3: words("a", 10), 7: words("b", 10)})
    new_t, new_m = tables({0: words("a", 10), 1: words("z", 8)})
    # next_id 15: ids 8..14 belonged to topics that died in earlier versions; they must not come back
    result = match_topics(prev_t, prev_m, new_t, new_m, next_id=15)
    ev = events(result)
    assert ev[3] == PERSISTED and ev[15] == BORN and ev[7] == DIED
    assert sorted(result.topics["topic_id"]) == [3, 15]
    assert result.next_id == 16
    died = result.changes.set_index("topic_id").loc[7]
    assert died["size"] == 0 and died["previous_size"] == 10
    assert result.summary()["id_kept_share"] == 0.5


def test_a_split_keeps_the_id_on_one_part_and_records_the_other():
    prev_t, prev_m = tables({5: words("a", 20)})
    new_t, new_m = tables({0: words("a", 12), 1: words("a", 8, start=12)})
    result = match_topics(prev_t, prev_m, new_t, new_m, next_id=6)
    ev = events(result)
    assert ev == {5: SPLIT, 6: SPLIT}
    assert result.topics.set_index("topic_id").loc[5, "size"] == 12  # the larger part keeps the id
    assert all(p == [5] for p in result.changes["previous_ids"])
    assert DIED not in ev.values()


def test_a_merge_keeps_one_id_and_lists_both_parents():
    prev_t, prev_m = tables({1: words("a", 10), 2: words("b", 6)})
    new_t, new_m = tables({0: words("a", 10) + words("b", 6)})
    result = match_topics(prev_t, prev_m, new_t, new_m, next_id=3)
    row = result.changes.set_index("topic_id").loc[1]  # 'a' is the larger share: Jaccard 10/16 vs 6/16
    assert row["event"] == MERGED and row["previous_ids"] == [1, 2]
    assert len(result.changes) == 1  # topic 2 lives on inside topic 1: not died
    assert result.topics["previous_ids"].tolist() == [[1, 2]]


def test_centroid_similarity_in_the_new_model_rescues_a_low_overlap_match():
    # the topic kept 6 of its 10 tags and gained 14 new ones: Jaccard 0.25, below match_jaccard 0.3
    prev_t, prev_m = tables({4: words("a", 10)})
    new_t, new_m = tables({0: words("a", 6) + words("n", 14)})
    cfg = TopicsConfig(match_jaccard=0.3, match_cosine=0.8)
    without = match_topics(prev_t, prev_m, new_t, new_m, cfg, next_id=9)
    assert events(without) == {9: BORN, 4: DIED}

    axis = np.eye(4)[0]  # every tag of 'a' sits on the new topic's centroid axis in the new model
    with_vectors = match_topics(prev_t, prev_m, new_t, new_m, cfg, next_id=9,
                                vector_of=lambda tag: axis if tag.startswith("a") else None)
    assert events(with_vectors) == {4: PERSISTED}


def test_everything_died_when_the_new_version_has_no_topics():
    prev_t, prev_m = tables({0: words("a", 5), 1: words("b", 5)})
    new_t, new_m = tables({}, noise=words("a", 5))
    new_t = new_t.astype({"topic_id": "int64"})
    result = match_topics(prev_t, prev_m, new_t, new_m)
    assert events(result) == {0: DIED, 1: DIED}
    assert result.next_id == 2 and result.topics.empty
