"""The model-versions plugin inside Airflow's own FastAPI wiring: the plugin is found by Airflow's
plugins manager and mounted by Airflow's ``init_plugins``; users log in through the real
SimpleAuthManager (``/auth/token`` with a password, a signed JWT back), so who may promote is
decided by Airflow, not by anything in this test."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow_ui"))
from versions_planted_registry import plant_registry, write_config  # noqa: E402

PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw", "editor": "editor-pw"}
PROMOTE_V1 = "/topictensor/versions/v1/promote"


@pytest.fixture(scope="module")
def planted(tmp_path_factory, airflow_db):
    """Env for the auth manager and topictensor's config, pointed at a planted store."""
    root = tmp_path_factory.mktemp("versions_plugin")
    (root / "passwords.json").write_text(json.dumps(PASSWORDS))
    config = write_config(root / "topictensor.yaml", root / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                  "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,viewer:viewer,editor:user")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(root / "passwords.json"))
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "versions-plugin-test-secret-" + "x" * 48)
        mp.setenv("TOPICTENSOR_CONFIG", str(config))
        yield root / "store"


@pytest.fixture(scope="module")
def client(planted):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import init_auth_manager, init_plugins

    app = FastAPI()
    init_plugins(app)  # what `airflow api-server` does with every plugin's fastapi_apps
    init_auth_manager(app)  # mounts the auth manager's /auth (login, tokens)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def registry(planted):
    """A fresh planted store for each test: v1, v2, v3 promoted in turn, v3 in production."""
    import shutil

    shutil.rmtree(planted, ignore_errors=True)
    return plant_registry(planted)


def bearer(client, user: str) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_airflow_loads_the_plugin_with_its_app_and_ui_entry():
    from airflow import plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    assert not errors
    plugin = next(p for p in plugins if p.name == "topictensor_versions")
    assert [a["url_prefix"] for a in plugin.fastapi_apps] == ["/topictensor"]
    external_views, _ = plugins_manager._get_ui_plugins()
    view = next(v for v in external_views if v["url_route"] == "topictensor-versions")
    assert view["href"] == "/topictensor/" and view["destination"] == "nav"
    # The package's modules are not loaded as plugin files (Airflow would register them in
    # sys.modules under their bare file names: 'app', '__init__', ...): plugins/.airflowignore.
    package = Path(__file__).resolve().parents[2] / "plugins" / "topictensor_versions"
    loaded_from_package = {name for name, module in list(sys.modules.items())
                           if str(getattr(module, "__file__", "") or "").startswith(str(package))}
    assert all(name.startswith("topictensor_versions") for name in loaded_from_package), loaded_from_package


def test_the_page_lists_every_version_marks_production_and_links_runs(client, registry):
    page = client.get("/topictensor/", headers=bearer(client, "viewer"))
    assert page.status_code == 200
    html = page.text
    for vid in ("v1", "v2", "v3"):
        assert f'data-version="{vid}"' in html
    assert '<div class="big mono" id="production-version">v3</div>' in html
    assert 'href="/dags/topictensor_refresh/runs/scheduled__2026-01-05T00%3A00%3A00%2B00%3A00"' in html
    assert "<svg" in html and html.count("<circle") == 3
    assert "read only" in html and "roll back to v2" in html
    listing = client.get("/topictensor/api/versions", headers=bearer(client, "viewer")).json()
    assert listing["production"] == "v3" and listing["rollback_target"] == "v2"
    assert [(v["version"], v["quality"], v["vocabulary"], v["train_seconds"]) for v in listing["versions"]] == [
        ("v1", 0.200, 5, 1.5), ("v2", 0.240, 7, 1.5), ("v3", 0.220, 9, 1.5)]


def test_the_diff_names_tags_added_and_dropped_and_topics_born_and_died(client, registry):
    diff = client.get("/topictensor/api/diff", params={"a": "v1", "b": "v2"}, headers=bearer(client, "viewer")).json()
    assert [t["tag"] for t in diff["added"]] == ["apple", "iphone", "tesla"]  # most used first
    assert [t["tag"] for t in diff["dropped"]] == ["pasta"]
    events = {(t["event"], t["topic_id"]) for t in diff["topics"]}
    assert events == {("kept", 0), ("died", 1), ("born", 2)}
    kept = next(t for t in diff["topics"] if t["event"] == "kept")
    assert kept["jaccard"] == pytest.approx(3 / 4)
    page = client.get("/topictensor/diff", params={"a": "v2", "b": "v3"}, headers=bearer(client, "viewer"))
    assert page.status_code == 200 and "burger" in page.text and "<b>2</b> added" in page.text


def test_anonymous_requests_are_refused_and_move_nothing(client, registry):
    assert client.get("/topictensor/").status_code == 401
    assert client.post(PROMOTE_V1, data={"expected": "v3"}).status_code == 401
    assert client.post("/topictensor/rollback").status_code == 401
    assert registry.production() == "v3"
    assert len(registry.history()) == 3


def test_a_read_only_user_may_look_but_not_promote_or_roll_back(client, registry):
    viewer = bearer(client, "viewer")
    assert client.get("/topictensor/versions/v1/promote", headers=viewer).status_code == 403
    assert client.post(PROMOTE_V1, data={"expected": "v3"}, headers=viewer).status_code == 403
    assert client.post("/topictensor/rollback", headers=viewer).status_code == 403
    assert registry.production() == "v3"
    assert [e["by"] for e in registry.history()] == ["pipeline"] * 3


def test_an_editor_promotes_and_the_history_names_them(client, registry):
    editor = bearer(client, "editor")
    confirm = client.get("/topictensor/versions/v1/promote", headers=editor)
    assert confirm.status_code == 200 and 'method="post"' in confirm.text and 'name="expected" value="v3"' in confirm.text
    response = client.post(PROMOTE_V1, data={"expected": "v3", "reason": "v3 topics look wrong"}, headers=editor)
    assert response.status_code == 200, response.text
    assert registry.production() == "v1"
    last = registry.history()[-1]
    assert (last["action"], last["version"], last["previous"], last["by"], last["reason"]) == (
        "promote", "v1", "v3", "editor", "v3 topics look wrong")


def test_an_admin_rolls_back_to_the_version_before(client, registry):
    response = client.post("/topictensor/rollback", data={"expected": "v3", "version": "v2"}, headers=bearer(client, "admin"))
    assert response.status_code == 200, response.text
    assert registry.production() == "v2"
    assert (registry.history()[-1]["action"], registry.history()[-1]["by"]) == ("rollback", "admin")


def test_a_stale_confirmation_does_not_override_a_newer_move(client, registry):
    """The confirmation page showed v3 in production; someone moved it meanwhile: nothing changes."""
    registry.promote("v2", by="someone-else")
    response = client.post(PROMOTE_V1, data={"expected": "v3"}, headers=bearer(client, "editor"))
    assert response.status_code == 409 and "moved" in response.json()["detail"]
    assert registry.production() == "v2"


def test_hostile_version_ids_are_refused_before_the_store_is_touched(client, registry):
    """Issue 13.4: ``../production`` names the pointer itself (versions/../production.json)."""
    admin = bearer(client, "admin")
    for data in ({"expected": "v3", "version": "../production"}, {"expected": "../production", "version": "v2"},
                 {"expected": "v3", "version": "v2/../v1"}):
        response = client.post("/topictensor/rollback", data=data, headers=admin)
        assert response.status_code == 400, (data, response.text)
        assert "invalid model version id" in response.json()["detail"]
    response = client.post("/topictensor/versions/..%2Fproduction/promote", data={"expected": "v3"}, headers=admin)
    assert response.status_code in (400, 404)
    response = client.get("/topictensor/api/diff", params={"a": "../production", "b": "v3"}, headers=admin)
    assert response.status_code == 400 and "a: invalid model version id" in response.json()["detail"]
    assert client.get("/topictensor/versions/v1.json/promote", headers=admin).status_code == 400
    assert registry.production() == "v3"
    assert [e["version"] for e in registry.history()] == ["v1", "v2", "v3"]


def test_browser_session_cookie_works_but_a_cross_site_post_is_refused(client, registry):
    token = bearer(client, "editor")["Authorization"].removeprefix("Bearer ")
    client.cookies.set("_token", token)
    try:
        evil = client.post(PROMOTE_V1, data={"expected": "v3"}, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        assert registry.production() == "v3"
        ok = client.post(PROMOTE_V1, data={"expected": "v3"},
                         headers={"Origin": "http://testserver", "Accept": "text/html"}, follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"].startswith("/topictensor/?event=")
        assert registry.production() == "v1"
        page = client.get(ok.headers["location"], headers={"Accept": "text/html"})
        assert "Promoted v1 (production was v3); recorded as done by editor." in page.text
    finally:
        client.cookies.clear()


def test_an_unreadable_config_is_named_not_a_bare_error(client, registry, monkeypatch, tmp_path):
    monkeypatch.setenv("TOPICTENSOR_CONFIG", str(tmp_path / "missing.yaml"))
    response = client.get("/topictensor/api/versions", headers=bearer(client, "viewer"))
    assert response.status_code == 500
    assert "missing.yaml does not exist" in response.json()["detail"]


def test_a_candidate_of_a_manual_gate_is_shown_with_its_comparison_and_drift_then_promoted(client, registry):
    """gate.promote: manual registers a version without moving production; the view lists it apart,
    with the comparison and drift its run measured, and an editor promotes it from there."""
    manifest = dict(registry.get_version("v3"), version="v4", created_at="2026-01-26T03:00:00+00:00",
                    run_id="scheduled__2026-01-26T00:00:00+00:00",
                    publish={"mode": "manual", "promoted": False, "why": "gate.promote is manual"},
                    comparison={"candidate_quality": 0.2310, "production_version": "v3", "production_quality": 0.2250,
                                "posts": 1704, "best_recent_quality": 0.2400, "best_recent_version": "v2",
                                "recent": [{"version": "v3", "quality": 0.225}, {"version": "v2", "quality": 0.24}]},
                    drift={"neighbour_overlap_at_10": 0.612, "tags_new": 41, "tags_vanished": 7, "ranking_churn": 0.18,
                           "topics_born": 2, "topics_died": 1, "topics_split": 0, "topics_merged": 1,
                           "topics_changed_share": 0.4})
    registry.write_version(manifest)
    viewer = bearer(client, "viewer")
    html = client.get("/topictensor/", headers=viewer).text
    assert "Candidates waiting for approval (1)" in html
    table = html[html.index('<table id="candidates">'):]
    table = table[: table.index("</table>")]
    assert 'data-version="v4"' in table and 'data-version="v3"' not in table
    assert "<b>0.2310</b> vs production" in table and "+0.0060" in table and "1,704 held-out posts" in table
    assert "neighbour overlap@10 <b>0.612</b>" in table and "ranking churn <b>0.180</b>" in table
    assert "2 born, 1 died, 0 split, 1 merged" in table
    assert registry.production() == "v3"  # registered, not promoted
    statuses = {v["version"]: v["status"] for v in client.get("/topictensor/api/versions", headers=viewer).json()["versions"]}
    assert statuses == {"v1": "retired", "v2": "retired", "v3": "production", "v4": "candidate"}

    editor = bearer(client, "editor")
    confirm = client.get("/topictensor/versions/v4/promote", headers=editor)
    assert confirm.status_code == 200 and "Compared when it was made: <b>0.2310</b>" in confirm.text
    response = client.post("/topictensor/versions/v4/promote", data={"expected": "v3", "reason": "approved"},
                           headers=editor)
    assert response.status_code == 200, response.text
    assert registry.production() == "v4"
    assert "Candidates waiting for approval" not in client.get("/topictensor/", headers=viewer).text
