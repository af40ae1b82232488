"""The explorer under its security headers, and the API docs with no internet (issue 13, item 7):
``X-Content-Type-Options: nosniff`` and a Content-Security-Policy on the explorer, which must
still work under it (no violation reported by the browser); /docs (Swagger UI) renders from files
this server serves (the page fixture fails the test on any request off the machine)."""

from __future__ import annotations

import urllib.request

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
"""


def test_the_explorer_has_nosniff_and_a_csp_and_works_under_it(page, explorer_url):
    page.add_init_script(COLLECT_VIOLATIONS)
    response = page.goto("/#explore?q=apple")
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp
    page.wait_for_function("() => document.querySelector('#cloud .cloud-tag') && "
                           "document.querySelector('#bloggers tbody tr')")
    page.goto("/#topics")
    page.wait_for_function("() => document.querySelectorAll('#map circle').length > 100", timeout=90_000)
    page.locator("#map circle").nth(10).hover()  # the tooltip: styles set from script
    page.locator("#tree li[data-topic] a").first.click()
    page.wait_for_function("() => document.querySelector('#topic-cloud .cloud-tag')")
    assert page.evaluate("window.__cspViolations") == []
    for asset in ("/static/app.js", "/static/app.css"):
        with urllib.request.urlopen(explorer_url + asset) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    with urllib.request.urlopen(explorer_url + "/health") as r:
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_swagger_ui_works_offline(page):
    page.add_init_script(COLLECT_VIOLATIONS)
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="TopicTensor").wait_for()
    page.locator(".opblock-summary-path", has_text="/topics/map").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__cspViolations") == []


def test_redoc_is_not_served(explorer_url):
    """ReDoc's page loads its vendor's logo from a CDN: not served rather than broken offline."""
    import urllib.error

    try:
        urllib.request.urlopen(explorer_url + "/redoc")
        raise AssertionError("/redoc answered")
    except urllib.error.HTTPError as error:
        assert error.code == 404
