"""The topics report: one self-contained HTML file (inline SVG map, no CDN, no JavaScript).

A 2-D map of the tags coloured by topic, the topic tree, the topic table (flags included) and
the week-over-week changes, so a person can judge the topics without any tool.
"""

from __future__ import annotations

import colorsys
import html
from typing import Any

import numpy as np
import pandas as pd

_W, _H, _PAD = 900, 600, 20


def topic_colour(topic_id: int) -> str:
    """A stable colour per topic id (golden-angle hues), so a topic keeps its colour week to week."""
    if topic_id < 0:
        return "#c8c8c8"
    r, g, b = colorsys.hls_to_rgb((topic_id * 0.618034) % 1.0, 0.45, 0.65)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def map_svg(coords: np.ndarray | None, tags: list[str], topic_ids: np.ndarray, max_points: int = 5000,
            seed: int = 0) -> str:
    if coords is None or len(coords) == 0 or max_points == 0:
        return "<p>No map: nothing was clustered.</p>"
    rows = np.arange(len(coords))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_points, replace=False))
    xy = coords[rows].astype(np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    px = _PAD + (xy[:, 0] - lo[0]) / span[0] * (_W - 2 * _PAD)
    py = _PAD + (1 - (xy[:, 1] - lo[1]) / span[1]) * (_H - 2 * _PAD)
    dots = []
    for i, r in enumerate(rows.tolist()):  # noise first, so topics are drawn on top
        if topic_ids[r] < 0:
            dots.append(_dot(px[i], py[i], tags[r], int(topic_ids[r])))
    for i, r in enumerate(rows.tolist()):
        if topic_ids[r] >= 0:
            dots.append(_dot(px[i], py[i], tags[r], int(topic_ids[r])))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
            f'style="border:1px solid #ddd;background:#fff">{"".join(dots)}</svg>')


def _dot(x: float, y: float, tag: str, tid: int) -> str:
    title = html.escape(f"#{tag} (topic {tid})" if tid >= 0 else f"#{tag} (noise)")
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{topic_colour(tid)}" fill-opacity="0.8"><title>{title}</title></circle>'


def render_report(*, title: str, summary: dict[str, Any], topics: pd.DataFrame, changes: pd.DataFrame,
                  tree: dict[str, Any], map_html: str) -> str:
    e = html.escape
    stats = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>" for k, v in summary.items())
    tree_html = "".join(
        f"<li><b>{e(g['label'])}</b> ({g['size']} tags)<ul>" + "".join(
            f'<li><span style="color:{topic_colour(t["topic_id"])}">&#9679;</span> {t["topic_id"]}: '
            f'{e(t["label"])} ({t["size"]})</li>' for t in g["topics"]) + "</ul></li>"
        for g in tree.get("groups", []))
    topic_rows = "".join(
        f'<tr><td><span style="color:{topic_colour(int(r.topic_id))}">&#9679;</span> {int(r.topic_id)}</td>'
        f"<td>{e(r.label)}</td><td>{int(r.size)}</td><td>{int(r.soft_size)}</td><td>{r.coherence:.3f}</td>"
        f"<td>{int(r.parent_group)}</td><td>{e(', '.join(r.flags))}</td>"
        f"<td>{e(', '.join(str(x) for x in r.previous_ids))}</td></tr>"
        for r in topics.sort_values(["size", "topic_id"], ascending=[False, True]).itertuples())
    change_rows = "".join(
        f"<tr><td>{e(r.event)}</td><td>{int(r.topic_id)}</td><td>{e(', '.join(str(x) for x in r.previous_ids))}</td>"
        f"<td>{e(_text(r.label))}</td><td>{e(_text(r.previous_label))}</td><td>{_fmt(r.size)}</td>"
        f"<td>{_fmt(r.previous_size)}</td><td>{r.jaccard:.2f}</td></tr>"
        for r in changes.itertuples())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}} th{{background:#f4f4f4}}</style>
</head><body>
<h1>{e(title)}</h1>
<table>{stats}</table>
<h2>Map of the tags</h2>
<p>The two main axes of the reduced (UMAP) space; colour = topic, grey = noise. Hover a dot for its tag.</p>
{map_html}
<h2>Topic tree</h2><ul>{tree_html}</ul>
<h2>Topics</h2>
<table><tr><th>id</th><th>label (most central tags)</th><th>size</th><th>soft</th><th>coherence</th>
<th>group</th><th>flags</th><th>previous ids</th></tr>{topic_rows}</table>
<h2>Changes since the previous version</h2>
<table><tr><th>event</th><th>id</th><th>from</th><th>label</th><th>previous label</th><th>size</th>
<th>previous size</th><th>jaccard</th></tr>{change_rows}</table>
</body></html>
"""


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
