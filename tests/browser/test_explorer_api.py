"""What the explorer page is served from: the page and its assets, and the JSON endpoints added
for it (/bloggers/facets, /bloggers/{id}, /topics/tree, /topics/map), over HTTP against the same
`topictensor serve` the browser tests use; and the map layout on planted vectors."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from topictensor import synth
from topictensor.service.topic_map import layout

STATIC = Path(__file__).resolve().parents[2] / "topictensor" / "service" / "static"


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> dict:
    status, _, body = get(url)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)


def test_the_page_and_its_assets_come_from_this_server(explorer_url):
    status, headers, body = get(explorer_url + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = body.decode()
    assert 'src="/static/app.js"' in html and 'href="/static/app.css"' in html
    # every URL the page and its assets name is this server's own (or inline data)
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text().replace("http://www.w3.org/2000/svg", "")  # a namespace, not a fetch
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
    for asset, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        status, headers, body = get(f"{explorer_url}/static/{asset}")
        assert status == 200 and kind in headers["content-type"] and body == (STATIC / asset).read_bytes()
    assert get(explorer_url + "/static/nothing.js")[0] == 404
    paths = get_json(explorer_url + "/openapi.json")["paths"]
    assert {"/bloggers/facets", "/bloggers/{blogger_id}", "/topics/tree", "/topics/map"} <= set(paths)
    assert "/" not in paths


def test_facets_describe_every_blogger(explorer_url):
    facets = get_json(explorer_url + "/bloggers/facets")
    assert sum(lang["bloggers"] for lang in facets["languages"]) == facets["bloggers"] > 300
    assert {lang["lang"] for lang in facets["languages"]} <= {"en", "ru", "es", "pt", "it", "de", "fr", "und"}
    counts = [lang["bloggers"] for lang in facets["languages"]]
    assert counts == sorted(counts, reverse=True)
    assert 0 <= facets["followers"]["min"] <= facets["followers"]["max"]
    assert 1 <= facets["posts"]["min"] <= facets["posts"]["max"]


def test_a_blogger_profile_lists_what_they_post_about(explorer_url):
    best = get_json(explorer_url + "/bloggers?q=bmw&top=1")["bloggers"][0]
    profile = get_json(f"{explorer_url}/bloggers/{best['blogger_id']}?top_tags=10")
    facts = ("blogger_id", "username", "lang", "followers", "likes", "posts", "tags")
    assert {k: profile[k] for k in facts} == {k: best[k] for k in facts}  # the same numbers /bloggers gives
    tags = [t["tag"] for t in profile["about"]]
    assert len(tags) == 10 and sum(t in synth.theme_tags("cars") for t in tags) >= 7, tags
    relevance = [t["relevance"] for t in profile["about"]]
    assert relevance == sorted(relevance, reverse=True) and all(t["count"] > 0 for t in profile["about"])
    status, _, body = get(explorer_url + "/bloggers/nobody-here")
    assert status == 404 and "no blogger 'nobody-here'" in json.loads(body)["detail"]


def test_tree_holds_every_topic_once(explorer_url):
    topics = {t["topic_id"]: t for t in get_json(explorer_url + "/topics")["topics"]}
    tree = get_json(explorer_url + "/topics/tree")
    listed = [t["topic_id"] for g in tree["groups"] for t in g["topics"]]
    assert sorted(listed) == sorted(topics) and len(tree["groups"]) >= 2
    for group in tree["groups"]:
        assert group["size"] == sum(topics[t["topic_id"]]["size"] for t in group["topics"])
        assert all(topics[t["topic_id"]]["group"] == group["group_id"] for t in group["topics"])


def test_topic_detail_carries_popularity(explorer_url):
    topic = get_json(explorer_url + "/topics")["topics"][0]
    detail = get_json(f"{explorer_url}/topics/{topic['topic_id']}?top=5")
    cloud = {t["tag"]: t["count"] for t in get_json(explorer_url + "/topic?q=" + detail["tags"][0]["tag"]
                                                       + "&top=1000&include_query_tags=true")["tags"]}
    assert all(t["count"] == cloud[t["tag"]] > 0 for t in detail["tags"])  # the same counts /topic gives


def test_map_places_the_most_used_tags_with_their_topics(explorer_url):
    full = get_json(explorer_url + "/topics/map")
    n = len(full["tags"])
    assert n > 300 and len(set(full["tags"])) == n
    assert all(len(full[key]) == n for key in ("x", "y", "topic", "count"))
    assert all(0 <= v <= 1 for v in full["x"] + full["y"])
    assert get_json(explorer_url + "/topics/map")["x"] == full["x"]  # laid out once per version
    topic = full["topics"][0]
    members = {t["tag"] for t in get_json(f"{explorer_url}/topics/{topic['topic_id']}?top=10000")["tags"]}
    assert {t for t, tid in zip(full["tags"], full["topic"]) if tid == topic["topic_id"]} == members & set(full["tags"])
    # the tags of one topic sit together: closer to their own centre than to the other topics' centres
    xy = np.column_stack([full["x"], full["y"]])
    centres = {t["topic_id"]: np.array([t["x"], t["y"]]) for t in full["topics"]}
    placed = [(i, tid) for i, tid in enumerate(full["topic"]) if tid >= 0]
    nearest_own = [min(centres, key=lambda c: np.linalg.norm(xy[i] - centres[c])) == tid for i, tid in placed]
    # t-SNE keeps neighbourhoods, not cluster centres, and HDBSCAN topics are not convex: measured
    # 0.77-0.9 across trainings; a layout ignoring topics scores about 1 / len(centres) (< 0.1)
    assert np.mean(nearest_own) > 0.6

    small = get_json(explorer_url + "/topics/map?limit=50")
    by_count = sorted(zip(full["count"], full["tags"]), key=lambda p: (-p[0], p[1]))
    assert set(small["tags"]) == {t for _, t in by_count[:50]}
    assert get(explorer_url + "/topics/map?limit=0")[0] == 422


def test_layout_keeps_planted_groups_apart():
    """Three planted groups of 20 noisy vectors around orthogonal directions: every tag lands
    nearer to its own group's mean position than to another group's."""
    rng = np.random.default_rng(0)
    centres = np.eye(30)[:3] * 3
    vectors = np.vstack([c + rng.normal(scale=0.3, size=(20, 30)) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coords, method = layout(vectors)
    assert method == "tsne" and coords.shape == (60, 2)
    assert coords.min() == pytest.approx(0) and coords.max() == pytest.approx(1)
    groups = np.repeat(np.arange(3), 20)
    means = np.stack([coords[groups == g].mean(axis=0) for g in range(3)])
    nearest = np.argmin(np.linalg.norm(coords[:, None, :] - means[None], axis=2), axis=1)
    assert (nearest == groups).all()
    again, _ = layout(vectors)
    assert np.array_equal(coords, again)  # a version always draws the same picture


def test_layout_of_a_handful_of_tags():
    coords, method = layout(np.eye(4)[:3])
    assert method == "pca" and coords.shape == (3, 2) and np.isfinite(coords).all()
    assert layout(np.zeros((0, 5)))[0].shape == (0, 2)
