"""The selection features over HTTP and the CLI: `lambda` accepted, unknown parameters refused by
name, every new parameter's bad values a 4xx, pages and sorts, explanations, exclusions, @username,
and the CSV/JSON exports of a whole result set."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from topictensor.registry import Registry
from topictensor.search.export import CSV_COLUMNS
from topictensor.search.params import SearchConfig
from topictensor.service.app import create_app


@pytest.fixture(scope="module")
def world(publish_demo):
    config, _ = publish_demo("selection-api", "v1", promote=True)
    return {"config": config, "root": Path(config.store.uri).parent}


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world["config"], section=SearchConfig(exact_max_bloggers=0), reload_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def ids(body):
    return [b["blogger_id"] for b in body["bloggers"]]


# ---- lambda, unknown parameters -------------------------------------------------------------------

def test_lambda_is_accepted_and_lambda_zero_is_not_ignored(client):
    default = client.get("/bloggers", params={"q": "bmw, audi", "top": 20}).json()
    off = client.get("/bloggers", params={"q": "bmw, audi", "top": 20, "lambda": 0, "phi": 0, "tau": 0}).json()
    old = client.get("/bloggers", params={"q": "bmw, audi", "top": 20, "lambda_": 0, "phi": 0, "tau": 0}).json()
    assert off["lambda"] == 0 and ids(off) == ids(old) and ids(off) != ids(default)
    assert all(b["score"] == pytest.approx(b["similarity"]) for b in off["bloggers"])
    only_lambda = client.get("/bloggers", params={"q": "bmw, audi", "top": 20, "lambda": 0}).json()
    assert only_lambda["lambda"] == 0 and only_lambda["phi"] == default["phi"]
    paths = client.get("/openapi.json").json()["paths"]
    names = {p["name"] for p in paths["/bloggers"]["get"]["parameters"]}
    assert {"lambda", "sort", "offset", "page", "limit", "explain", "exclude", "exclude_tags",
            "min_relevance", "relative_relevance", "min_engagement", "max_engagement"} <= names


@pytest.mark.parametrize("path, params, named", [
    ("/bloggers", {"q": "bmw", "lamda": 0}, "'lamda'"),
    ("/bloggers", {"q": "bmw", "min_follower": 10, "sortby": "x"}, "'min_follower', 'sortby'"),
    ("/topic", {"q": "bmw", "limit": 5}, "'limit'"),
    ("/tags/suggest", {"prefix": "b", "top": 3}, "'top'"),
    ("/bloggers/b00001/lookalikes", {"topp": 3}, "'topp'"),
    ("/bloggers.csv", {"q": "bmw", "explian": 3}, "'explian'"),
    ("/version", {"x": 1}, "'x'"),
])
def test_unknown_query_parameters_are_a_422_naming_them(client, path, params, named):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert named in detail and "takes" in detail, detail


def test_the_explorer_page_takes_any_query_string(client):
    assert client.get("/", params={"utm_source": "mail"}).status_code == 200


# ---- bad values of every new parameter -------------------------------------------------------------

@pytest.mark.parametrize("params, status, message", [
    ({"lambda": 2}, 400, "lambda_ must be a number in -1..1"),
    ({"lambda": "x"}, 422, "float|number"),
    ({"lambda": 0.1, "lambda_": 0.3}, 400, "disagree"),
    ({"sort": "likes"}, 400, "sort must be one of score, relevance, followers, engagement"),
    ({"order": "up"}, 400, "order must be asc or desc"),
    ({"offset": -1}, 400, "offset must be an integer >= 0"),
    ({"offset": "first"}, 422, "int"),
    ({"page": 0, "limit": 10}, 400, "page must be an integer >= 1"),
    ({"page": 2}, 400, "page needs limit"),
    ({"page": 2, "limit": 5, "offset": 3}, 400, "offset or page, not both"),
    ({"limit": 0}, 400, "limit must be an integer >= 1"),
    ({"limit": "all"}, 422, "int"),
    ({"explain": -1}, 400, "explain must be a number of tags in 0..100"),
    ({"explain": 101}, 400, "explain must be"),
    ({"explain": "yes"}, 422, "int"),
    ({"min_relevance": 1.5}, 400, "min_relevance must be a cosine in -1..1"),
    ({"min_relevance": "nan"}, 400, "min_relevance must be"),
    ({"relative_relevance": -0.2}, 400, "relative_relevance must be a share"),
    ({"relative_relevance": 3}, 400, "relative_relevance must be"),
    ({"min_engagement": -0.1}, 400, "min_engagement must be >= 0"),
    ({"max_engagement": "inf"}, 400, "max_engagement must be >= 0"),
    ({"min_engagement": 0.5, "max_engagement": 0.1}, 400, "above max_engagement"),
    ({"exclude": "@"}, 400, "'@' must be followed by a username"),
    ({"exclude": ",".join(f"b{i}" for i in range(1001))}, 400, "at most 1000"),
    ({"exclude_tags": "no spaces!"}, 400, "not a valid tag"),
    ({"q": "iphone:-1"}, 400, "only negative weights"),
])
def test_bad_values_of_the_new_parameters_get_a_4xx(client, params, status, message):
    import re

    for path in ("/bloggers", "/bloggers.csv", "/bloggers/b00001/lookalikes"):
        query = {"q": "bmw", **params} if path != "/bloggers/b00001/lookalikes" else {
            k: v for k, v in params.items() if k != "q"}
        if path == "/bloggers/b00001/lookalikes" and "q" in params:
            continue
        if path == "/bloggers.csv" and any(k in params for k in ("offset", "limit", "page")):
            continue
        response = client.get(path, params=query)
        assert response.status_code == status, (path, response.text)
        assert re.search(message, str(response.json()["detail"])), (path, response.json())


@pytest.mark.parametrize("path, params, message", [
    ("/bloggers.csv", {"q": "bmw", "limit": 10}, "whole result set"),
    ("/bloggers.csv", {"q": "bmw", "top": 10_001}, "top must be an integer in 1..10000"),
    ("/bloggers.json", {"q": "bmw", "offset": 5}, "whole result set"),
    ("/topic", {"q": "bmw", "min_relevance": 7}, "min_relevance must be"),
    ("/topic", {"q": "bmw", "relative_relevance": -1}, "relative_relevance must be"),
    ("/topic", {"q": "apple:-1, iphone:-1"}, "only negative weights"),
    ("/bloggers/@nobody_here", {}, "no blogger '@nobody_here'"),
    ("/bloggers/@nobody_here/lookalikes", {}, "no blogger '@nobody_here'"),
])
def test_bad_exports_topics_and_usernames_get_a_4xx(client, path, params, message):
    response = client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text
    assert message in response.json()["detail"]


# ---- answers -----------------------------------------------------------------------------------------

def test_pages_and_sorts_over_http_are_slices_of_the_sorted_result_set(client):
    whole = client.get("/bloggers", params={"q": "cat", "top": 45, "sort": "followers"}).json()
    assert whole["total"] == 45 and len(whole["bloggers"]) == 45
    followers = [b["followers"] for b in whole["bloggers"]]
    assert followers == sorted(followers, reverse=True)
    pages = []
    for page in (1, 2, 3):
        body = client.get("/bloggers", params={"q": "cat", "top": 45, "sort": "followers", "page": page,
                                               "limit": 20}).json()
        assert body["total"] == 45 and body["offset"] == (page - 1) * 20
        pages += ids(body)
    assert pages == ids(whole)
    asc = client.get("/bloggers", params={"q": "cat", "top": 45, "sort": "engagement", "order": "asc"}).json()
    rates = [b["engagement"] for b in asc["bloggers"] if b["engagement"] is not None]
    assert rates == sorted(rates)


def test_hits_carry_engagement_a_profile_link_and_on_request_an_explanation(client):
    body = client.get("/bloggers", params={"q": "bmw, audi", "top": 5, "explain": 3}).json()
    for b in body["bloggers"]:
        assert b["profile_url"] == f"https://www.instagram.com/{b['username']}/"
        assert b["engagement"] == pytest.approx(b["likes"] / b["followers"], rel=1e-3)
        why = b["why"]
        assert len(why["tags"]) <= 3
        assert sum(t["contribution"] for t in why["tags"]) + why["other"] == pytest.approx(b["similarity"], abs=1e-4)
    default = client.get("/bloggers", params={"q": "bmw, audi", "top": 5}).json()
    assert all(1 <= len(b["why"]["tags"]) <= SearchConfig().explain_tags for b in default["bloggers"])  # on by default
    plain = client.get("/bloggers", params={"q": "bmw, audi", "top": 5, "explain": 0}).json()
    assert all("why" not in b for b in plain["bloggers"])


def test_unknown_tags_come_back_with_suggestions_and_hints(client):
    body = client.get("/bloggers", params={"q": "cat, bwm"}).json()
    assert body["unknown"] == ["bwm"] and "bmw" in body["suggestions"]["bwm"]
    topic = client.get("/topic", params={"q": "cat, bmw audi"}).json()
    assert topic["hints"] and "separate tags with commas" in topic["hints"][0]
    refused = client.get("/topic", params={"q": "bmw audi"})
    assert refused.status_code == 400 and "separate tags with commas, e.g. 'bmw, audi'" in refused.json()["detail"]


def test_exclusions_and_username_lookups_over_http(client):
    base = client.get("/bloggers", params={"q": "bmw, audi", "top": 10}).json()["bloggers"]
    first = base[0]
    body = client.get("/bloggers", params={"q": "bmw, audi", "top": 10,
                                           "exclude": f"@{first['username']},ghost", "exclude_tags": "mercedes"}).json()
    assert first["blogger_id"] not in ids(body) and body["unknown_excluded"] == ["ghost"]
    for b in body["bloggers"]:
        profile = client.get(f"/bloggers/{b['blogger_id']}", params={"top_tags": 0}).json()["profile"]
        assert "mercedes" not in {p["tag"] for p in profile}
    by_name = client.get(f"/bloggers/@{first['username']}/lookalikes", params={"top": 10}).json()
    by_id = client.get(f"/bloggers/{first['blogger_id']}/lookalikes", params={"top": 10}).json()
    assert ids(by_name) == ids(by_id) and first["blogger_id"] not in ids(by_name)
    assert client.get(f"/bloggers/@{first['username']}").json()["blogger_id"] == first["blogger_id"]


def test_csv_and_json_exports_hold_the_whole_result_set(client):
    params = {"q": "cat", "top": 120, "sort": "followers", "explain": 2, "min_followers": 100}
    full = client.get("/bloggers", params=params).json()
    response = client.get("/bloggers.csv", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="bloggers-cat.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert [r["blogger_id"] for r in rows] == ids(full) and len(rows) == full["total"]
    assert rows[0]["why"].count("%") == 3 and rows[0]["profile_url"].startswith("https://www.instagram.com/")
    exported = client.get("/bloggers.json", params=params).json()
    assert ids(exported) == ids(full)
    default_depth = client.get("/bloggers.csv", params={"q": "cat"}).text.count("\n") - 1
    assert default_depth == min(1000, client.get("/version").json()["bloggers"])  # search.max_top
    look = client.get("/bloggers/b00002/lookalikes.csv", params={"top": 7})
    assert look.status_code == 200 and len(list(csv.DictReader(io.StringIO(look.text)))) == 7


def test_facets_give_the_engagement_range(client):
    facets = client.get("/bloggers/facets").json()
    assert facets["explanations"] is True
    e = facets["engagement"]
    assert 0 <= e["min"] <= e["median"] <= e["max"]


# ---- the CLI -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli(world):
    from topictensor.cli import app

    path = world["root"] / "topictensor.yaml"
    path.write_text(yaml.safe_dump({"store": {"uri": str(world["root"] / "store")}}))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [*args, "--config", str(path)])


def test_cli_explain_sort_pages_exclusions_and_csv(cli, client):
    shown = cli("bloggers", "bmw, audi", "--top", "20", "--explain", "--sort", "followers", "--limit", "5")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert "why" in lines[0] and "engagement" in lines[0] and len(lines) == 2 + 5
    assert "%" in lines[2] and "other" in lines[2]
    out = cli("bloggers", "bmw, audi", "--top", "20", "--csv", "--sort", "followers", "--explain",
              "--exclude-tags", "mercedes")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    api = client.get("/bloggers", params={"q": "bmw, audi", "top": 20, "sort": "followers",
                                          "exclude_tags": "mercedes"}).json()
    assert [r["blogger_id"] for r in rows] == ids(api) and all(r["why"] for r in rows)
    first = api["bloggers"][0]
    look = cli("lookalikes", "@" + first["username"], "--top", "5", "--json")
    assert look.exit_code == 0, look.output
    import json

    answer = json.loads(look.stdout)
    assert answer["query"] == f"lookalikes of {first['blogger_id']} (@{first['username']})"
    assert len(answer["bloggers"]) == 5 and first["blogger_id"] not in ids(answer)


@pytest.mark.parametrize("args, message", [
    (["bloggers", "iphone:-1"], "only negative weights"),
    (["bloggers", "cat", "--sort", "likes"], "sort must be one of"),
    (["bloggers", "cat", "--csv", "--limit", "3"], "whole result set"),
    (["bloggers", "cat", "--min-relevance", "2"], "min_relevance must be"),
    (["bloggers", "cat", "--min-engagement", "-1"], "min_engagement must be >= 0"),
    (["topic", "apple:-1"], "only negative weights"),
])
def test_cli_bad_selection_options_exit_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_cli_unknown_username_exits_3_not_found(cli):
    result = cli("lookalikes", "@nobody_here")
    assert result.exit_code == 3, result.output
    assert "no blogger '@nobody_here'" in result.output


def test_a_version_written_before_profiles_still_ranks_and_says_why_it_cannot_explain(world, client):
    from topictensor.search import SearchModel
    from topictensor.search.bloggers import BloggerTable
    from topictensor.search.explain import PROFILE_COLUMNS

    registry = Registry(world["config"].open_store())
    old = registry.artifact("v1", "blogger_vectors").read_table("bloggers.parquet").drop_columns(list(PROFILE_COLUMNS))
    served = client.app.state.holder.get()
    model = SearchModel(served.embeddings, BloggerTable(old), None, served.config, "old")
    app = create_app(world["config"], model=model)
    with TestClient(app, raise_server_exceptions=False) as c:
        body = c.get("/bloggers", params={"q": "cat", "top": 5}).json()
        assert len(body["bloggers"]) == 5 and all("why" not in b for b in body["bloggers"])
        assert c.get("/bloggers/facets").json()["explanations"] is False
        for params in ({"q": "cat", "explain": 3}, {"q": "cat", "exclude_tags": "cat"}):
            refused = c.get("/bloggers", params=params)
            assert refused.status_code == 503 and "rerun the blogger_vectors stage" in refused.json()["detail"]
