"""The explorer as a person uses it, in headless Chromium against `topictensor serve` on a demo
model: type a theme, read the cloud and the bloggers, flip a weight with a chip, filter, open a
lookalike, browse the topics. Assertions name the demo corpus's planted themes (topictensor.synth).
Every test also fails on a JavaScript error or a request to any host but this machine (conftest)."""

from __future__ import annotations

import re

from topictensor import synth

TECH = synth.theme_tags("tech") - synth.theme_tags("fruit")  # the brand sense of "apple"
FRUIT = synth.theme_tags("fruit") - synth.theme_tags("tech")
CARS = synth.theme_tags("cars")


def cloud_tags(page, selector: str = "#cloud") -> list[str]:
    return page.locator(f"{selector} .cloud-tag").evaluate_all("els => els.map(e => e.dataset.tag)")


def wait_for_cloud(page, query: str, selector: str = "#cloud") -> list[str]:
    """The cloud drawn for exactly this query (the page marks it with data-query)."""
    page.wait_for_function(
        "([sel, q]) => { const c = document.querySelector(sel); return c && c.dataset.query === q"
        " && !c.classList.contains('loading') && c.querySelector('.cloud-tag'); }", arg=[selector, query])
    return cloud_tags(page, selector)


def wait_for_bloggers(page, query: str, selector: str = "#bloggers"):
    page.wait_for_function(
        "([sel, q]) => { const t = document.querySelector(sel); return t && t.dataset.query === q"
        " && t.querySelector('tbody tr'); }", arg=[selector, query])
    return page.locator(f"{selector} tbody tr")


def chip_text(page) -> list[tuple[str, str]]:
    pairs = page.locator("#chips .chip").evaluate_all("els => els.map(e => [e.dataset.tag, e.dataset.weight])")
    return [tuple(pair) for pair in pairs]


def test_apple_then_minus_iphone_turns_the_brand_into_the_fruit(page, screenshot):
    page.goto("/")
    box = page.locator("#query-input")
    box.click()
    box.press_sequentially("appl", delay=30)
    suggestion = page.locator("#suggestions li[data-tag='apple']")
    suggestion.wait_for()
    suggestion.click()  # autocomplete fills the tag in
    assert box.input_value().startswith("apple")
    box.press("Enter")

    top = wait_for_cloud(page, "apple")
    assert re.search(r"#explore\?q=apple$", page.url), page.url
    first = top[:15]
    assert sum(t in TECH for t in first) >= 2 and sum(t in FRUIT for t in first) >= 2, first  # both senses
    assert "iphone" in top
    sizes = page.locator("#cloud .cloud-tag").evaluate_all(
        "els => els.map(e => [Number(e.dataset.count), parseFloat(e.style.fontSize)])")
    assert max(sizes)[1] > min(sizes)[1]  # the most used tag is drawn larger than the least used
    legend = page.locator("#cloud-legend").inner_text()
    assert "popularity" in legend and "relevance" in legend
    rows = wait_for_bloggers(page, "apple")
    assert rows.count() == 50
    assert page.locator("#bloggers th").all_inner_texts()[:11] == [
        "#", "", "Blogger", "Lang", "Followers", "Likes", "ER", "Posts", "Relevance", "Score", "Why"]
    screenshot(page, "query")

    page.locator("#cloud .cloud-tag[data-tag='iphone']").click()  # a cloud tag joins the theme
    wait_for_cloud(page, "apple, iphone")
    assert box.input_value() == "apple, iphone"
    assert chip_text(page) == [("apple", "1"), ("iphone", "1")]

    page.locator("#chips .chip[data-tag='iphone'] .chip-flip").click()  # ...and its chip flips it
    fruit_top = wait_for_cloud(page, "apple, iphone:-1")
    assert box.input_value() == "apple, iphone:-1"  # the chip rewrote the text box
    assert chip_text(page) == [("apple", "1"), ("iphone", "-1")]
    assert "negative" in page.locator("#chips .chip[data-tag='iphone']").get_attribute("class")
    assert not [t for t in fruit_top[:20] if t in TECH], fruit_top[:20]  # the brand is gone...
    assert fruit_top[0] in FRUIT and sum(t in FRUIT for t in fruit_top[:10]) >= 7, fruit_top[:10]  # ...fruit leads
    assert "q=apple,+iphone:-1" in page.url
    wait_for_bloggers(page, "apple, iphone:-1")
    screenshot(page, "fruit")


def test_chips_and_text_stay_in_sync_and_unknown_tags_are_shown(page):
    page.goto("/")
    box = page.locator("#query-input")
    box.fill("bmw, audi:0.5, zzznotatag")
    assert chip_text(page) == [("bmw", "1"), ("audi", "0.5"), ("zzznotatag", "1")]  # chips follow typing
    box.press("Enter")
    wait_for_cloud(page, "bmw, audi:0.5, zzznotatag")
    notice = page.locator("#notice")
    assert notice.is_visible() and "zzznotatag" in notice.inner_text()
    assert "unknown" in page.locator("#chips .chip[data-tag='zzznotatag']").get_attribute("class")

    weight = page.locator("#chips .chip[data-tag='audi'] .chip-weight")
    weight.fill("2")
    weight.press("Enter")  # a changed weight rewrites the text and reruns the theme
    wait_for_cloud(page, "bmw, audi:2, zzznotatag")
    page.locator("#chips .chip[data-tag='zzznotatag'] .chip-remove").click()
    cars = wait_for_cloud(page, "bmw, audi:2")
    assert box.input_value() == "bmw, audi:2" and not notice.is_visible()
    assert sum(t in CARS for t in cars[:10]) >= 8, cars[:10]

    box.fill("bmw, ")  # the keyboard picks a suggestion for the tag being typed
    box.press_sequentially("merc", delay=30)
    page.locator("#suggestions li[data-tag='mercedes']").wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert box.input_value() == "bmw, mercedes, "
    assert [tag for tag, _ in chip_text(page)] == ["bmw", "mercedes"]

    box.fill("zzznotatag")  # nothing usable: the server's message, no cloud
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#notice').textContent.includes('none of the query')")
    assert page.locator("#notice").get_attribute("class") == "notice error"


def test_filters_narrow_the_bloggers_and_live_in_the_url(page):
    page.goto("/#explore?q=bmw")
    wait_for_bloggers(page, "bmw")
    page.locator("#lang-options input[value='ru']").check()
    page.wait_for_function("() => location.hash.includes('lang=ru')")
    page.wait_for_function("() => [...document.querySelectorAll('#bloggers tbody tr')].every(r => r.dataset.lang === 'ru')")
    page.locator("#min-followers").fill("500")
    page.wait_for_function("() => location.hash.includes('min_followers=500')")
    page.wait_for_function("() => { const rows = [...document.querySelectorAll('#bloggers tbody tr')];"
                           " return rows.length && rows.every(r => r.dataset.lang === 'ru' && Number(r.dataset.followers) >= 500); }")

    page.locator("#min-posts").fill("20")
    page.wait_for_function("() => location.hash.includes('min_posts=20')")
    page.wait_for_function("() => { const rows = [...document.querySelectorAll('#bloggers tbody tr')];"
                           " return rows.length && rows.every(r => Number(r.dataset.posts) >= 20); }")
    page.locator("#bloggers th[data-sort='followers']").click()  # the server sorts the result set by a column
    page.wait_for_function("() => location.hash.includes('sort=followers')")
    page.locator("#bloggers th.sorted[data-sort='followers']").wait_for()
    followers = page.locator("#bloggers tbody tr").evaluate_all("els => els.map(e => Number(e.dataset.followers))")
    assert followers == sorted(followers, reverse=True)
    page.locator("#filters-clear").click()
    page.wait_for_function("() => !location.hash.includes('lang=') && !location.hash.includes('min_')")

    page.goto("about:blank")  # a bookmarked link restores the whole view
    page.goto("/#explore?q=bmw&lang=ru&min_followers=500")
    rows = wait_for_bloggers(page, "bmw")
    assert rows.count() > 0
    assert page.locator("#lang-options input[value='ru']").is_checked()
    assert page.locator("#min-followers").input_value() == "500"
    assert all(lang == "ru" for lang in rows.evaluate_all("els => els.map(e => e.dataset.lang)"))


def test_a_blogger_opens_their_lookalikes(page, screenshot):
    page.goto("/#explore?q=bmw")
    rows = wait_for_bloggers(page, "bmw")
    first = rows.first
    blogger = first.get_attribute("data-blogger-id")
    first.locator("a.lookalikes-link").click()
    page.wait_for_url(re.compile(rf"#lookalikes/{blogger}\?q=bmw$"))
    page.locator(f"#profile [data-blogger-id='{blogger}']").wait_for()
    about = wait_for_cloud(page, blogger, "#profile-cloud")
    assert sum(t in CARS for t in about[:10]) >= 6, about[:10]  # a car blogger's own tags
    similar = wait_for_bloggers(page, blogger, "#lookalikes")
    ids = similar.evaluate_all("els => els.map(e => e.dataset.bloggerId)")
    assert len(ids) == 50 and blogger not in ids
    screenshot(page, "lookalikes")
    page.locator("#back-to-query").click()
    wait_for_cloud(page, "bmw")


def test_topics_tree_map_and_one_topic(page, screenshot):
    page.goto("/#topics")
    page.locator("#tree li[data-topic]").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#map circle').length > 100", timeout=90_000)
    colours = set(page.locator("#map circle").evaluate_all("els => els.map(e => e.getAttribute('fill'))"))
    assert len(colours) >= 6  # tags coloured by their topic
    screenshot(page, "topics")

    labels = page.locator("#tree li[data-topic] a").evaluate_all(
        "els => els.map(a => [a.closest('li').dataset.topic, a.textContent])")
    topic_id, label = max(labels, key=lambda item: sum(t in CARS for t in item[1].split(", ")))
    assert sum(t in CARS for t in label.split(", ")) >= 3, labels  # the tree has a cars topic
    page.locator(f"#tree li[data-topic='{topic_id}'] a").click()
    page.wait_for_url(re.compile(rf"#topic/{topic_id}$"))
    tags = wait_for_cloud(page, topic_id, "#topic-cloud")
    assert sum(t in CARS for t in tags[:10]) >= 8, tags[:10]
    theme = page.locator("#topic-bloggers-meta").inner_text().removeprefix("theme: ")
    bloggers = wait_for_bloggers(page, theme, "#topic-bloggers")
    assert bloggers.count() > 0
    screenshot(page, "topic")

    page.locator("#topic-cloud .cloud-tag").first.click()  # a topic's tag opens it as a theme
    wait_for_cloud(page, tags[0])


def test_only_this_server_is_ever_contacted(page, offsite, explorer_url):
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    for hash_ in ("", "#explore?q=apple", "#topics", "#topic/0", "#explore?q=mirror"):
        page.goto("/" + hash_)
        page.wait_for_load_state("networkidle")
    assert any(url.endswith("/static/app.js") for url in seen) and any("/topic?" in url for url in seen)
    assert all(url.startswith(explorer_url) or url.startswith("data:") for url in seen), seen
    assert not offsite
