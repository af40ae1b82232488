"""Acting on a selection in the explorer, in headless Chromium against `topictensor serve`: each row
explains itself, the server sorts and pages the result set, exclusions and ranking weights live in
the URL, a shortlist survives a new page and downloads as CSV, and the whole result set exports."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
import urllib.request

from topictensor import synth

CARS = synth.theme_tags("cars")


def wait_for_rows(page, query: str, selector: str = "#bloggers", hash_part: str | None = None):
    """The table drawn for ``query`` (and, if given, once the URL holds ``hash_part`` and the table
    answers that URL: the page marks each table with the hash it was requested for)."""
    if hash_part:
        page.wait_for_function("(part) => location.hash.includes(part)", arg=hash_part)
        page.wait_for_function("(sel) => { const t = document.querySelector(sel); return t && t.dataset.hash === location.hash; }",
                               arg=selector)
    page.wait_for_function(
        "([sel, q]) => { const t = document.querySelector(sel); return t && t.dataset.query === q"
        " && t.querySelector('tbody tr'); }", arg=[selector, query])
    return page.locator(f"{selector} tbody tr")


def row_ids(page, selector: str = "#bloggers") -> list[str]:
    return page.locator(f"{selector} tbody tr").evaluate_all("els => els.map(e => e.dataset.bloggerId)")


def api(base: str, path: str, **params) -> dict:
    with urllib.request.urlopen(f"{base}{path}?{urllib.parse.urlencode(params)}", timeout=60) as response:
        return json.load(response)


def wait_for_ids(page, expected: list[str], selector: str = "#bloggers") -> None:
    page.wait_for_function(
        "([sel, ids]) => JSON.stringify([...document.querySelectorAll(sel + ' tbody tr')].map(e => e.dataset.bloggerId))"
        " === JSON.stringify(ids)", arg=[selector, expected])


def test_every_row_explains_its_relevance_with_its_own_tags(page, screenshot, explorer_url):
    page.goto("/#explore?q=bmw,+audi")
    rows = wait_for_rows(page, "bmw, audi")
    assert "Why" in page.locator("#bloggers th").all_inner_texts()
    whys = rows.evaluate_all("els => els.map(e => [...e.querySelectorAll('.why-tag')].map(t => [t.dataset.tag,"
                             " parseFloat(t.querySelector('.share').textContent)]))")
    assert len(whys) == 50 and all(1 <= len(w) <= 3 for w in whys)
    for tags in whys:
        shares = [share for _, share in tags]
        assert shares == sorted(shares, reverse=True)
    assert sum(tag in CARS for tag, _ in whys[0]) >= 2, whys[0]  # a car theme is explained by car tags
    body = api(explorer_url, "/bloggers", q="bmw, audi", top=500, limit=50, page=1, explain=3)
    first = body["bloggers"][0]
    assert [t for t, _ in whys[0]] == [t["tag"] for t in first["why"]["tags"]]  # the API's explanation, shown
    title = page.locator("#bloggers tbody tr").first.locator(".why-tag").first.get_attribute("title")
    assert re.search(r"of \d\.\d{3} \(weight", title), title
    screenshot(page, "explain")


def test_the_server_sorts_and_pages_the_whole_result_set(page, explorer_url):
    page.goto("/#explore?q=cat")
    wait_for_rows(page, "cat")
    assert page.locator("#bloggers .pager-info").inner_text().startswith("rows 1–50 of")
    first_page = row_ids(page)
    page.locator("#bloggers .pager-next").click()
    wait_for_rows(page, "cat", hash_part="page=2")
    ranks = page.locator("#bloggers tbody tr td:first-child").all_inner_texts()
    assert ranks[0] == "51" and not set(row_ids(page)) & set(first_page)
    expected = api(explorer_url, "/bloggers", q="cat", top=500, limit=50, page=2)
    wait_for_ids(page, [b["blogger_id"] for b in expected["bloggers"]])

    page.locator("#bloggers th[data-sort='engagement']").click()  # sorting starts again at page 1
    wait_for_rows(page, "cat", hash_part="sort=engagement")
    assert "page=" not in page.url
    by_rate = api(explorer_url, "/bloggers", q="cat", top=500, limit=50, page=1, sort="engagement")
    wait_for_ids(page, [b["blogger_id"] for b in by_rate["bloggers"]])
    rates = page.locator("#bloggers tbody tr").evaluate_all("els => els.map(e => Number(e.dataset.engagement))")
    assert rates == sorted(rates, reverse=True)
    page.locator("#bloggers th[data-sort='engagement']").click()  # a second click: ascending
    wait_for_rows(page, "cat", hash_part="order=asc")
    ascending = api(explorer_url, "/bloggers", q="cat", top=500, limit=50, page=1, sort="engagement", order="asc")
    wait_for_ids(page, [b["blogger_id"] for b in ascending["bloggers"]])
    page.locator("#bloggers th[data-sort='followers']").click()
    wait_for_rows(page, "cat", hash_part="sort=followers")
    by_followers = api(explorer_url, "/bloggers", q="cat", top=500, limit=50, page=1, sort="followers")
    wait_for_ids(page, [b["blogger_id"] for b in by_followers["bloggers"]])
    assert "ER" in page.locator("#bloggers th").all_inner_texts()


def test_exclusions_cutoff_and_ranking_weights_live_in_the_url(page, explorer_url):
    page.goto("/#explore?q=bmw")
    rows = wait_for_rows(page, "bmw")
    first = rows.first
    name = first.get_attribute("data-username")
    first.locator(".exclude-one").click()  # leave one blogger out, by @username
    wait_for_rows(page, "bmw", hash_part="exclude=%40" + name)
    assert name not in page.locator("#bloggers tbody tr").evaluate_all("els => els.map(e => e.dataset.username)")
    assert page.locator("#exclude").input_value() == "@" + name

    page.locator("#exclude-tags").fill("mercedes")
    page.locator("#exclude-tags").press("Enter")
    wait_for_rows(page, "bmw", hash_part="exclude_tags=mercedes")
    expected = api(explorer_url, "/bloggers", q="bmw", top=500, limit=50, page=1, exclude="@" + name,
                   exclude_tags="mercedes")
    wait_for_ids(page, [b["blogger_id"] for b in expected["bloggers"]])
    assert expected["excluded"] > 1

    for key, value in (("lambda", "0"), ("phi", "0"), ("tau", "0")):
        page.locator(f"#w-{key}").fill(value)
    wait_for_rows(page, "bmw", hash_part="tau=0")
    page.wait_for_function("() => location.hash.includes('lambda=0') && location.hash.includes('phi=0')")
    page.wait_for_function("() => { const rows = [...document.querySelectorAll('#bloggers tbody tr')];"
                           " return rows.length && rows.every(r => Math.abs(r.dataset.score - r.dataset.similarity) < 1e-9); }")
    page.locator("#relative-relevance").fill("95")
    wait_for_rows(page, "bmw", hash_part="relative_relevance=0.95")
    page.wait_for_function("() => document.querySelector('#bloggers-meta').textContent.includes('relevance ≥')")
    sims = page.locator("#bloggers tbody tr").evaluate_all("els => els.map(e => Number(e.dataset.similarity))")
    assert sims and min(sims) >= 0.95 * max(sims) - 1e-6

    url = page.url
    page.goto("about:blank")  # the bookmarked URL restores exclusions, weights and cut-off
    page.goto(url)
    wait_for_rows(page, "bmw")
    assert page.locator("#exclude-tags").input_value() == "mercedes"
    assert page.locator("#w-lambda").input_value() == "0"
    assert page.locator("#relative-relevance").input_value() == "95"
    assert name not in page.locator("#bloggers tbody tr").evaluate_all("els => els.map(e => e.dataset.username)")


def test_shortlist_survives_a_new_page_and_downloads_as_csv(page, screenshot, tmp_path):
    page.goto("/#explore?q=sushi,+ramen")
    rows = wait_for_rows(page, "sushi, ramen")
    picked = []
    for i in (0, 2, 3):
        row = rows.nth(i)
        picked.append(row.get_attribute("data-username"))
        row.locator("button.star").click()
    rows.nth(3).locator("button.star").click()  # un-star one again
    picked.pop()
    assert page.locator("#shortlist-count").inner_text() == "2"
    assert rows.nth(0).locator("button.star").get_attribute("aria-pressed") == "true"

    later = page.context.new_page()  # another page of the same browser profile, later
    later.goto("/#shortlist")
    later.locator("#shortlist tbody tr").nth(1).wait_for()
    names = later.locator("#shortlist tbody tr a.user").all_inner_texts()
    assert names == ["@" + n for n in picked]
    assert later.locator("#shortlist-count").inner_text() == "2"
    screenshot(later, "shortlist")
    with later.expect_download() as download_info:
        later.locator("#shortlist-download").click()
    download = download_info.value
    assert download.suggested_filename == "shortlist.csv"
    path = tmp_path / "shortlist.csv"
    download.save_as(path)
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["username"] for r in table] == picked
    assert all(r["profile_url"] == f"https://www.instagram.com/{r['username']}/" and r["query"] == "sushi, ramen"
               for r in table)
    later.locator("#shortlist tbody tr").first.locator(".shortlist-remove").click()
    assert later.locator("#shortlist tbody tr").count() == 1
    later.close()


def test_the_whole_result_set_exports_as_csv(page, tmp_path, explorer_url):
    page.goto("/#explore?q=travel,+beach&min_followers=200&sort=followers")
    wait_for_rows(page, "travel, beach")
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    everything = api(explorer_url, "/bloggers", q="travel, beach", top=500, min_followers=200, sort="followers")
    assert [r["blogger_id"] for r in rows] == [b["blogger_id"] for b in everything["bloggers"]]
    assert len(rows) == everything["total"] > 50  # every page, not the one shown
    assert all(r["why"] for r in rows)


def test_an_at_username_opens_that_bloggers_lookalikes_with_profile_links(page, explorer_url):
    body = api(explorer_url, "/bloggers", q="bmw", top=1)
    blogger = body["bloggers"][0]
    page.goto("/")
    page.locator("#query-input").fill("@" + blogger["username"])
    page.locator("#query-input").press("Enter")
    page.wait_for_url(re.compile(r"#lookalikes/@" + re.escape(blogger["username"])))
    page.locator(f"#profile [data-blogger-id='{blogger['blogger_id']}']").wait_for()
    rows = wait_for_rows(page, "@" + blogger["username"], "#lookalikes")
    assert blogger["blogger_id"] not in row_ids(page, "#lookalikes") and rows.count() == 50
    link = page.locator("#profile a.profile-link")
    assert link.get_attribute("href") == f"https://www.instagram.com/{blogger['username']}/"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    row_link = rows.first.locator("a.profile-link").get_attribute("href")
    assert row_link == f"https://www.instagram.com/{rows.first.get_attribute('data-username')}/"
