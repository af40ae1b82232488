"""The versions view as a person uses it: sign in on Airflow's own login page, open
Browse > Model versions inside the Airflow UI, look at the diff, promote an older version through
the confirmation step, and see production move on the page and in the store. A viewer sees the
same page with the buttons disabled, a write forced from their session is refused, and the run
that made a version opens in Airflow."""

from __future__ import annotations

import os
import re

import pytest
from topictensor.registry import Registry
from topictensor.store import LocalStore

pytestmark = pytest.mark.airflow

VIEW = "/plugin/topictensor-versions"


def sign_in(page, server, user: str) -> None:
    """Through Airflow's login page, landing back on the versions view."""
    page.goto(server.url + VIEW)
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(server.passwords[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(VIEW)))


def versions_frame(page):
    """The view is an iframe in the Airflow UI; its document is served by the plugin's app."""
    frame = page.frame_locator("iframe[src*='/topictensor/']")
    frame.locator("#production-version").wait_for()
    return frame


def test_admin_promotes_an_older_version_and_production_moves(airflow_server, page, save_screenshot):
    registry = Registry(LocalStore(airflow_server.store))
    assert registry.production() == "v3"
    sign_in(page, airflow_server, "admin")
    frame = versions_frame(page)
    assert frame.locator("#production-version").inner_text() == "v3"
    assert frame.locator("#user").inner_text() == "admin"
    assert frame.locator("#versions tr[data-version]").count() == 3
    assert frame.locator("svg.plot circle").count() == 3
    save_screenshot(page, "airflow-versions-planted")

    frame.get_by_role("link", name="Diff", exact=True).click()  # by default: the version before production -> production
    frame.locator("#diff-summary").wait_for()
    summary = frame.locator("#diff-summary").inner_text()
    assert "v2 → v3" in summary and "2 added, 0 dropped" in summary and "1 topics born, 0 died" in summary
    assert frame.locator("#tags-added .tag").all_inner_texts() == ["burger 20", "pasta 12"]
    save_screenshot(page, "airflow-versions-diff")
    frame.get_by_role("link", name="Versions", exact=True).click()

    frame.locator("tr[data-version='v1']").get_by_role("link", name="promote").click()
    confirm = frame.locator("#confirm")
    confirm.wait_for()
    assert "Promote v1?" in confirm.inner_text()
    assert "lower than production" in confirm.inner_text()  # v1 0.200 < v3 0.220: the page warns
    assert registry.production() == "v3"  # opening the confirmation changes nothing
    frame.locator("#reason").fill("browser test: back to v1")
    save_screenshot(page, "airflow-versions-confirm")
    frame.locator("#confirm-button").click()

    frame.locator("#flash").wait_for()
    assert frame.locator("#production-version").inner_text() == "v1"
    assert "recorded as done by admin" in frame.locator("#flash").inner_text()
    assert "production" in frame.locator("tr[data-version='v1']").inner_text()
    assert registry.production() == "v1"
    last = registry.history()[-1]
    assert (last["action"], last["version"], last["previous"], last["by"], last["reason"]) == (
        "promote", "v1", "v3", "admin", "browser test: back to v1")
    save_screenshot(page, "airflow-versions-promoted")


def test_viewer_sees_the_versions_but_cannot_move_production(airflow_server, page, save_screenshot):
    registry = Registry(LocalStore(airflow_server.store))
    before = (registry.production(), len(registry.history()))
    sign_in(page, airflow_server, "viewer")
    frame = versions_frame(page)
    assert frame.locator("#user").inner_text() == "viewer"
    promote_buttons = frame.locator("#versions button", has_text="promote")
    assert promote_buttons.count() == 2 and all(promote_buttons.nth(i).is_disabled() for i in range(2))
    # Forcing the write from the viewer's own signed-in session: Airflow's authorisation refuses it.
    target = next(v for v in ("v1", "v2", "v3") if v != before[0])
    response = page.request.post(f"{airflow_server.url}/topictensor/versions/{target}/promote",
                                 form={"expected": before[0]}, headers={"Origin": airflow_server.url})
    assert response.status == 403
    assert (registry.production(), len(registry.history())) == before
    save_screenshot(page, "airflow-versions-viewer")
    # The run that made a version opens in Airflow itself (the whole tab, not the sandboxed frame).
    frame.locator("tr[data-version='v2'] a[data-airflow-link]").click()
    page.wait_for_url(re.compile(r"/dags/topictensor_refresh/runs/scheduled__2026-01-12T00(%3A|:)00"))


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOTS") != "1",
                    reason="takes the README's picture: UPDATE_SCREENSHOTS=1 make test PYTEST_ARGS=tests/airflow_ui")
def test_readme_picture_of_the_demo_store(demo_store_server, page, save_screenshot):
    """The README's picture of the view, over `make demo`'s own store (a copy of it)."""
    registry = Registry(LocalStore(demo_store_server.store))
    sign_in(page, demo_store_server, "admin")
    frame = versions_frame(page)
    assert frame.locator("#production-version").inner_text() == registry.production()
    assert frame.locator("#versions tr[data-version]").count() == len(registry.list_versions())
    save_screenshot(page, "airflow-versions", readme=True)
