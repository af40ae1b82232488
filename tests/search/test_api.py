"""The HTTP API and the CLI on a demo-like model published through the registry: answers, filters,
lookalikes, every bad-query case (4xx, never 500), hot reload, and index re-rank == exact re-rank."""

import threading
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from topictensor import synth
from topictensor.config import load_config
from topictensor.registry import Registry
from topictensor.search import SearchModel
from topictensor.search.bloggers import Filters
from topictensor.search.params import SearchConfig
from topictensor.service.app import ModelHolder, create_app
from topictensor.stages.blogger_vectors import blogger_vectors
from topictensor.stages.index import build_index


@pytest.fixture(scope="module")
def publish(publish_version):
    return lambda registry, vid, refs: publish_version(registry, vid, refs, promote=True)


@pytest.fixture(scope="module")
def world(demo_store):
    """A store with the demo-like model's train/reweight/normalize artifacts, blogger vectors and an
    index built by the real stages, published as version "v1" (not yet promoted: tests choose)."""
    config, refs = demo_store("api")
    return {"config": config, "refs": refs, "root": Path(config.store.uri).parent,
            "truth": synth.generate(synth.SynthConfig(seed=3, n_bloggers=1000, posts_per_blogger_mean=25)).blogger_truth}


@pytest.fixture(scope="module")
def client(world, publish):
    registry = Registry(world["config"].open_store())
    publish(registry, "v1", world["refs"])
    app = create_app(world["config"], section=SearchConfig(exact_max_bloggers=0), reload_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def themes_of(world, blogger_ids):
    truth = world["truth"].set_index("blogger_id")["main_themes"]
    return [set(truth[b]) for b in blogger_ids]


# ---- answers ---------------------------------------------------------------------------------

def test_health_version_and_openapi(client):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/version").json()
    assert info["version"] == "v1" and info["index"] == "hnsw" and info["bloggers"] > 900 and info["dim"] == 100
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/topic", "/bloggers", "/bloggers/{blogger_id}/lookalikes", "/tags/suggest", "/health", "/version"} <= set(paths)


def test_topic_lists_nearest_tags_with_relevance_and_popularity(client):
    body = client.get("/topic", params={"q": "bmw,audi,mercedes,vw", "top": 20}).json()
    tags = [t["tag"] for t in body["tags"]]
    assert {"porsche", "mercedesbenz", "volkswagen", "car"} <= set(tags)
    assert all(t["count"] > 0 and -1 <= t["relevance"] <= 1 for t in body["tags"])
    assert body["used"] == ["bmw", "audi", "mercedes", "vw"] and body["unknown"] == [] and body["version"] == "v1"


def test_unknown_tags_are_reported_back(client):
    body = client.get("/topic", params={"q": "apple, iphone:-1, notatag123"}).json()
    assert body["unknown"] == ["notatag123"] and body["used"] == ["apple", "iphone"]


def test_bloggers_for_a_theme_are_of_that_theme(client, world):
    body = client.get("/bloggers", params={"q": "bmw, audi", "top": 10}).json()
    assert body["method"] == "index" and len(body["bloggers"]) == 10
    themes = themes_of(world, [b["blogger_id"] for b in body["bloggers"]])
    assert sum("cars" in t for t in themes) >= 8, themes


def test_bloggers_filters(client):
    body = client.get("/bloggers", params={"q": "cat", "top": 30, "lang": "ru", "min_followers": 1000,
                                           "max_followers": 100_000, "min_posts": 10}).json()
    assert body["bloggers"]
    for b in body["bloggers"]:
        assert b["lang"] == "ru" and 1000 <= b["followers"] <= 100_000 and b["posts"] >= 10


def test_exponents_per_query_change_the_ranking(client):
    plain = client.get("/bloggers", params={"q": "sushi", "top": 10, "lambda_": 0, "phi": 0, "tau": 0}).json()
    sims = [b["similarity"] for b in plain["bloggers"]]
    assert sims == sorted(sims, reverse=True) and plain["lambda_"] == 0
    assert all(b["score"] == pytest.approx(b["similarity"]) for b in plain["bloggers"])
    heavy = client.get("/bloggers", params={"q": "sushi", "top": 10, "phi": 1}).json()
    assert [b["blogger_id"] for b in heavy["bloggers"]] != [b["blogger_id"] for b in plain["bloggers"]]


def test_lookalikes_exclude_the_blogger(client, world):
    first = client.get("/bloggers", params={"q": "katze, cat", "top": 1}).json()["bloggers"][0]["blogger_id"]
    body = client.get(f"/bloggers/{first}/lookalikes", params={"top": 20}).json()
    ids = [b["blogger_id"] for b in body["bloggers"]]
    assert first not in ids and len(ids) == 20
    assert sum("cats" in t for t in themes_of(world, ids[:10])) >= 8


def test_suggest(client):
    body = client.get("/tags/suggest", params={"prefix": "#Car", "limit": 3}).json()
    tags = [t["tag"] for t in body["tags"]]
    assert len(tags) == 3 and all(t.startswith("car") for t in tags)
    counts = [t["count"] for t in body["tags"]]
    assert counts == sorted(counts, reverse=True)


# ---- bad queries: 4xx with a message, never 500 ----------------------------------------------

@pytest.mark.parametrize("path, params, status, message", [
    ("/topic", {"q": ""}, 400, "empty query"),
    ("/topic", {"q": " , , "}, 400, "only separators"),
    ("/topic", {"q": "apple:abc"}, 400, "malformed weight"),
    ("/topic", {"q": "apple:1:2"}, 400, "not in the model|none of the query"),
    ("/topic", {"q": "apple:nan"}, 400, "finite"),
    ("/topic", {"q": "apple:-1e300, bmw"}, 400, "must be between"),
    ("/topic", {"q": "zzzunknown, qqqunknown"}, 400, "none of the query's tags is known"),
    ("/topic", {"q": "bmw, bmw:-1"}, 400, "cancel out"),
    ("/topic", {"q": "bmw", "top": 0}, 400, "top must be an integer in 1..1000"),
    ("/topic", {"q": "bmw", "top": 10**9}, 400, "top must be"),
    ("/topic", {"q": "bmw", "top": -5}, 400, "top must be"),
    ("/topic", {"q": "bmw", "top": "ten"}, 422, "int"),
    ("/topic", {}, 422, "q"),
    ("/topic", {"q": ",".join(["bmw"] * 51)}, 400, "at most 50"),
    ("/bloggers", {"q": "bmw", "lambda_": 2}, 400, "lambda_ must be a number in -1..1"),
    ("/bloggers", {"q": "bmw", "tau": -1.5}, 400, "tau must be"),
    ("/bloggers", {"q": "bmw", "min_followers": 10, "max_followers": 1}, 400, "above max_followers"),
    ("/bloggers", {"q": "bmw", "min_posts": -1}, 400, "min_posts must be >= 0"),
    ("/bloggers", {"q": "bmw", "min_followers": "many"}, 422, "int"),
    ("/bloggers", {"q": ""}, 400, "empty query"),
    ("/bloggers", {"q": "bmw", "top": 100000}, 400, "top must be"),
    ("/bloggers", {"q": "bmw", "phi": "x"}, 422, "float|number"),
    ("/bloggers", {"q": "zzzunknown"}, 400, "none of the query's tags is known"),
    ("/bloggers", {"q": "bmw:1e400"}, 400, "finite"),
    ("/bloggers/nobody/lookalikes", {}, 404, "no blogger 'nobody'"),
    ("/bloggers/nobody/lookalikes", {"top": 0}, 400, "top must be an integer in 1..1000"),
    ("/bloggers/nobody/lookalikes", {"min_followers": 9, "max_followers": 2}, 400, "above max_followers"),
    ("/bloggers/nobody/lookalikes", {"lambda_": 1.5}, 400, "lambda_ must be a number in -1..1"),
    ("/tags/suggest", {"prefix": "car", "limit": 0}, 400, "limit must be an integer in 1..1000"),
])
def test_bad_queries_get_a_4xx_with_a_message(client, path, params, status, message):
    import re

    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert re.search(message, str(response.json()["detail"])), response.json()


def test_filters_that_exclude_everyone_give_an_empty_list_not_an_error(client):
    body = client.get("/bloggers", params={"q": "bmw", "lang": "xx"}).json()
    assert body["bloggers"] == []


# ---- re-rank through the index == exact re-rank, on the demo corpus ----------------------------

@pytest.mark.parametrize("filters", [Filters(), Filters(lang="en"), Filters(min_followers=2000, min_posts=10)])
def test_index_rerank_equals_exact_rerank_on_demo_corpus(client, filters):
    registry = Registry(client.app.state.holder.registry.store)
    via_index = SearchModel.load(registry, "v1", SearchConfig(exact_max_bloggers=0))
    exact = SearchModel(via_index.embeddings, via_index.bloggers, None, via_index.config, "v1")
    queries = ["bmw", "bmw,audi,mercedes,vw", "apple", "apple, iphone:-1", "mirror", "sushi, ramen",
               "cat", "dog, puppy", "makeup", "travel, beach", "gym", "fashion, ootd"]
    for query in queries:
        a = via_index.bloggers_for(query, 10, filters)
        b = exact.bloggers_for(query, 10, filters)
        assert a.method == "index" and b.method == "exact"
        assert [h.blogger_id for h in a.hits] == [h.blogger_id for h in b.hits], query
    some = via_index.bloggers.ids[:20]
    for blogger in some:
        assert ([h.blogger_id for h in via_index.lookalikes(blogger, 10, filters).hits]
                == [h.blogger_id for h in exact.lookalikes(blogger, 10, filters).hits])


# ---- hot reload --------------------------------------------------------------------------------

def test_a_newly_promoted_version_is_served_by_the_next_request(world, publish):
    config = world["config"]
    registry = Registry(config.open_store())
    publish(registry, "v1", world["refs"])
    app = create_app(config, reload_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/version").json()["version"] == "v1"
        before = c.get("/bloggers", params={"q": "bmw", "top": 5}).json()
        # v2: uniform blogger vectors and their own index (a different model, same tags)
        section = SearchConfig(vector_weights="uniform")
        refs = dict(world["refs"])
        refs["blogger_vectors"] = blogger_vectors(refs["train"], refs["reweight"], refs["normalize"], config, section)
        refs["index"] = build_index(refs["blogger_vectors"], config, section)
        publish(registry, "v2", refs)
        after = c.get("/bloggers", params={"q": "bmw", "top": 5}).json()
        assert before["version"] == "v1" and after["version"] == "v2"
        assert c.get("/version").json()["version"] == "v2"
        registry.rollback()
        assert c.get("/topic", params={"q": "bmw"}).json()["version"] == "v1"


class FakeModel:
    def __init__(self, version):
        self.version = version


class FakeRegistry:
    def __init__(self):
        self.pointer = "a"
        self.store = type("S", (), {"uri": "memory://"})()

    def production(self):
        return self.pointer


def test_requests_during_a_load_keep_the_old_version_and_never_see_a_half_loaded_one():
    registry = FakeRegistry()
    started, release = threading.Event(), threading.Event()

    def loader(reg, version, section):
        if version == "b":
            started.set()
            assert release.wait(10)
        if version == "broken":
            raise OSError("disk gone")
        return FakeModel(version)

    holder = ModelHolder(registry, SearchConfig(), reload_seconds=0, loader=loader)
    assert holder.get().version == "a"
    registry.pointer = "b"
    loading = threading.Thread(target=holder.get)
    loading.start()
    assert started.wait(10)
    assert holder.get().version == "a"  # another request while b loads: served by a, not blocked
    release.set()
    loading.join(10)
    assert holder.get().version == "b"
    registry.pointer = "broken"
    assert holder.get().version == "b" and "disk gone" in holder.last_error  # failed load: keep b


def test_the_pointer_is_read_at_most_every_reload_seconds():
    registry = FakeRegistry()
    holder = ModelHolder(registry, SearchConfig(), reload_seconds=3600, loader=lambda r, v, s: FakeModel(v))
    assert holder.get().version == "a"
    registry.pointer = "b"
    assert holder.get().version == "a"  # not checked again yet
    holder.refresh(force=True)
    assert holder.get().version == "b"


def test_no_model_in_production_is_503_and_a_version_without_bloggers_answers_topics_only(world, tmp_path):
    config = load_config(overrides={"store": {"uri": str(tmp_path / "empty")}}, use_env=False)
    with TestClient(create_app(config, reload_seconds=0), raise_server_exceptions=False) as c:
        assert c.get("/health").status_code == 503
        response = c.get("/topic", params={"q": "bmw"})
        assert response.status_code == 503 and "no model is in production" in response.json()["detail"]
    registry = Registry(world["config"].open_store())
    registry.write_version({"version": "tags-only", "created_at": "2026-01-01T00:00:00",
                            "stages": {"train": [{"stage": "train", "key": world["refs"]["train"].key}]}})
    app = create_app(world["config"], version="tags-only")
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/topic", params={"q": "bmw"}).status_code == 200
        response = c.get("/bloggers", params={"q": "bmw"})
        assert response.status_code == 503 and "no blogger_vectors" in response.json()["detail"]


# ---- CLI -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli(world, publish):
    from topictensor.cli import search

    app = typer.Typer()
    search.register(app)
    path = world["root"] / "cli.yaml"
    path.write_text(f"store:\n  uri: {world['config'].store.uri}\n")
    registry = Registry(world["config"].open_store())
    publish(registry, "v1", world["refs"])
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [*args, "--config", str(path)])


def test_cli_topic_bloggers_lookalikes(cli):
    result = cli("topic", "bmw,audi,mercedes,vw", "--top", "20")
    assert result.exit_code == 0, result.output
    assert "porsche" in result.output and "relevance" in result.output
    result = cli("bloggers", "bmw", "--lang", "ru", "--min-followers", "100", "--top", "5", "--json")
    assert result.exit_code == 0, result.output
    import json

    body = json.loads(result.output)
    assert len(body["bloggers"]) == 5 and all(b["lang"] == "ru" for b in body["bloggers"])
    first = body["bloggers"][0]["blogger_id"]
    result = cli("lookalikes", first, "--top", "3")
    assert result.exit_code == 0 and first not in result.output.split("\n", 2)[2]


@pytest.mark.parametrize("args, code", [(["topic", "apple:x"], 2), (["topic", ""], 2), (["bloggers", "zzznotatag"], 3),
                                        (["bloggers", "bmw", "--top", "0"], 2), (["lookalikes", "nobody"], 3),
                                        (["bloggers", "bmw", "--min-followers", "5", "--max-followers", "1"], 2)])
def test_cli_bad_queries_exit_with_their_code_and_a_message(cli, args, code):
    """2: the query is malformed; 3: what it names does not exist (topictensor.cli.common.ExitCode)."""
    result = cli(*args)
    assert result.exit_code == code and "error:" in result.output, result.output
