"""How fast the explorer paints: first contentful paint and time to the first tag cloud, measured
by headless Chromium's own performance timeline (not a timed test: a table to read).

Starts ``topictensor serve`` on a free loopback port over the production model of the config
(default: the demo's ``topictensor.yaml`` -- run ``make demo`` first), opens
``/#explore?q=<query>`` in Debian's Chromium through Playwright and reads, per page load:

* ``fcp``: the browser's ``first-contentful-paint`` entry (the static page drawn);
* ``cloud``: the page's ``tt-first-cloud`` mark, set by app.js right after the first tag cloud
  is in the DOM (the /topic answer fetched and drawn);
* ``dcl`` / ``load``: DOMContentLoaded and load from the navigation entry.

``fresh server`` = the first load after the server started (its ``GET /`` also starts the map's
t-SNE layout in the background, which competes for the CPU); ``cold`` = a new browser context per
load (empty HTTP cache); ``warm`` = a reload in the same context (assets revalidated). Also prints
the seconds the map took to be read from the clusters artifact (or, for a version made before the
clusters stage stored it, laid out by the service; once per model version).

    .venv/bin/python benchmarks/bench_explorer.py [--config topictensor.yaml] [--runs 10] [--query apple]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

TIMINGS_JS = """() => {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const cloud = performance.getEntriesByName('tt-first-cloud')[0];
  const nav = performance.getEntriesByType('navigation')[0];
  return {fcp: paint ? paint.startTime : null, cloud: cloud ? cloud.startTime : null,
          dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          bytes: performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, nav.transferSize)};
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(config: Path) -> tuple[subprocess.Popen, str, Path]:
    command = Path(sys.executable).with_name("topictensor")
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-explorer-")) / "serve.log"
    env = {**os.environ, "TOPICTENSOR_CONFIG": str(config)}
    with log.open("wb") as out:
        process = subprocess.Popen([str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"topictensor serve exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return process, url, log
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    sys.exit(f"topictensor serve did not become healthy in 120 s:\n{log.read_text()[-2000:]}")


def measure(page, url: str) -> dict:
    page.wait_for_function("() => performance.getEntriesByName('tt-first-cloud').length > 0", timeout=60_000)
    page.wait_for_load_state("load")
    return page.evaluate(TIMINGS_JS)


def summary(name: str, rows: list[dict]) -> list[str]:
    out = []
    for key in ("fcp", "cloud", "dcl", "load"):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            out.append(f"| {name} | {key} | {statistics.median(values):7.1f} | {min(values):7.1f} | "
                       f"{max(values):7.1f} | {len(values)} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("topictensor.yaml"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--query", default="apple")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    process, url, log = start_server(args.config.resolve())
    try:
        version = json.loads(urllib.request.urlopen(url + "/version").read())["version"]
        target = f"{url}/#explore?q={args.query}"
        fresh, cold, warm = [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # the very first load of a fresh server: GET / also starts the map layout in the background
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(target)
            fresh.append(measure(page, url))
            context.close()
            layout = json.loads(urllib.request.urlopen(url + "/topics/map", timeout=600).read())
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(target)
                cold.append(measure(page, url))
                page.reload()
                warm.append(measure(page, url))
                context.close()
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)

    print(f"server: {url}  model: {version}")
    print(f"page: /#explore?q={args.query}, {args.runs} loads each, Chromium {CHROMIUM}, 1400x900")
    print(f"bytes transferred on a cold load: {int(statistics.median(r['bytes'] for r in cold)):,}")
    print(f"map of {len(layout['tags'])} tags ({layout['method']}; from the {layout.get('source', 'service')}, "
          f"once per version, in the background): {layout['seconds']:.2f} s\n")
    print("| load | metric | median ms | min ms | max ms | n |")
    print("|---|---|---|---|---|---|")
    for line in summary("fresh server", fresh) + summary("cold", cold) + summary("warm", warm):
        print(line)
    print("\nfcp = first-contentful-paint; cloud = the first tag cloud drawn (app.js mark tt-first-cloud);"
          " times from navigation start.")


if __name__ == "__main__":
    main()
