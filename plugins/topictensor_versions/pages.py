"""HTML of the versions view: plain server-rendered pages (no JavaScript needed), shown inside
the Airflow UI in an iframe. Every value from the store is escaped."""

from __future__ import annotations

from dataclasses import dataclass
import re
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from topictensor_versions.catalog import VersionDiff, VersionRow
from topictensor_versions.plot import quality_plot

STYLE = """
:root { color-scheme: light; --fg:#1e293b; --muted:#64748b; --line:#e2e8f0; --accent:#2563eb; --prod:#0f7b3f;
        --warn:#b45309; --bad:#b91c1c; --bg:#ffffff; --soft:#f8fafc; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
       margin: 0; padding: 20px 24px 40px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.muted { color: var(--muted); } .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap;
         border-bottom: 1px solid var(--line); padding-bottom: 10px; }
nav a { margin-left: 14px; }
table { border-collapse: collapse; width: 100%; margin-top: 6px; }
#versions td, #history td { white-space: nowrap; }
.scroll { overflow-x: auto; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.production { background: #ecfdf3; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.prod { background: var(--prod); color: #fff; } .badge.cand { background: #fef3c7; border: 1px solid var(--warn); } .badge.role { background: var(--soft); border: 1px solid var(--line); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-top: 16px; background: var(--soft); }
.cards { display: flex; gap: 16px; flex-wrap: wrap; } .cards .card { flex: 1 1 220px; }
.big { font-size: 22px; font-weight: 650; }
.button { display: inline-block; border: 1px solid var(--accent); color: var(--accent); background: #fff; border-radius: 6px;
          padding: 4px 12px; font: inherit; cursor: pointer; }
.button.primary { background: var(--accent); color: #fff; } .button.danger { border-color: var(--bad); color: var(--bad); }
.button.danger.primary { background: var(--bad); color: #fff; }
.button:disabled { opacity: .45; cursor: not-allowed; }
.flash { border-radius: 8px; padding: 10px 14px; margin-top: 14px; }
.flash.ok { background: #ecfdf3; border: 1px solid #86efac; } .flash.error { background: #fef2f2; border: 1px solid #fca5a5; }
.plot .grid { stroke: var(--line); } .plot .tick { font-size: 13px; fill: var(--muted); }
.delta.up { color: var(--prod); } .delta.down { color: var(--bad); }
.tags { display: flex; flex-wrap: wrap; gap: 4px 6px; margin-top: 6px; }
.tag { border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; background: #fff; }
.tag small { color: var(--muted); }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
form.inline { display: inline; margin: 0; }
label { display: block; margin: 10px 0 4px; font-weight: 600; }
input[type=text], select { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 320px; }
"""


# Airflow shows this view in an iframe sandboxed without allow-top-navigation, so a plain
# target=_top link to an Airflow page (a DAG run) is blocked. The frame is same-origin with the UI,
# so the click is handed to a link in the UI's own document, which navigates the whole tab.
AIRFLOW_LINKS_JS = """
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-airflow-link]");
  if (!link || window.top === window) return;
  try {
    var outer = window.top.document.createElement("a");
    outer.href = link.href;
    window.top.document.body.appendChild(outer);
    outer.click();
    outer.remove();
    event.preventDefault();
  } catch (error) { /* not same-origin: leave it to target=_top */ }
});
"""


@dataclass
class PageContext:
    """What every page needs besides its content."""

    base: str  # this app's URL prefix, e.g. /topictensor
    airflow_root: str  # the Airflow UI's root, e.g. /
    user: str
    role_note: str
    can_edit: bool
    store_uri: str
    dag_id: str


def page(ctx: PageContext, title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>
<style>{STYLE}</style></head><body>
<header><div><h1>TopicTensor model versions</h1>
<span class="muted">store <span class="mono">{escape(ctx.store_uri)}</span> · DAG
<a href="{escape(ctx.airflow_root)}dags/{quote(ctx.dag_id)}" target="_top" data-airflow-link>{escape(ctx.dag_id)}</a></span></div>
<div><span class="muted">signed in as</span> <b id="user">{escape(ctx.user)}</b>
<span class="badge role" title="{escape(ctx.role_note)}">{'can promote' if ctx.can_edit else 'read only'}</span>
<nav style="display:inline"><a href="{escape(ctx.base)}/">Versions</a><a href="{escape(ctx.base)}/diff">Diff</a>
<a href="{escape(ctx.base)}/history">History</a></nav></div></header>
{body}<script>{AIRFLOW_LINKS_JS}</script></body></html>"""


def versions_page(ctx: PageContext, rows: list[VersionRow], history: list[dict[str, Any]], *,
                  rollback_target: str | None, floor: float | None, flash: str = "", flash_kind: str = "ok") -> str:
    production = next((r for r in rows if r.is_production), None)
    parts = [_flash(flash, flash_kind)]
    parts.append('<div class="cards">')
    if production:
        parts.append(f"""<div class="card" id="production"><div class="muted">In production</div>
<div class="big mono" id="production-version">{escape(production.version)}</div>
<div>quality <b>{_q(production.quality)}</b> · {_int(production.vocabulary)} tags · {_int(production.topics)} topics</div>
<div class="muted">made by run {_run_link(ctx, production)}</div>
<div style="margin-top:8px">{_rollback_control(ctx, rollback_target)}</div></div>""")
    else:
        parts.append('<div class="card" id="production"><div class="muted">In production</div>'
                     '<div class="big" id="production-version">none</div>'
                     '<div class="muted">Promote a version below, or let the DAG publish one.</div></div>')
    best = max((r for r in rows if r.quality is not None), key=lambda r: r.quality, default=None)
    parts.append(f"""<div class="card"><div class="muted">Versions</div><div class="big">{len(rows)}</div>
<div>best quality <b>{_q(best.quality) if best else '-'}</b>{f' (<span class="mono">{escape(best.version)}</span>)' if best else ''}</div>
<div class="muted">gate floor {_q(floor)}</div>{_last_change(history)}</div></div>""")
    candidates = [r for r in rows if r.is_candidate]
    if candidates:
        parts.append(f"<h2>Candidates waiting for approval ({len(candidates)})</h2>")
        parts.append(candidates_table(ctx, list(reversed(candidates))))
    parts.append("<h2>Held-out quality over time</h2>")
    parts.append(quality_plot(rows, floor=floor))
    parts.append("<h2>All versions</h2>")
    parts.append(_versions_table(ctx, rows, production))
    parts.append('<h2>Latest promotions and rollbacks</h2>')
    parts.append(history_table(list(reversed(history))[:10]))
    if len(history) > 10:
        parts.append(f'<p><a href="{escape(ctx.base)}/history">All {len(history)} events</a></p>')
    return page(ctx, "Model versions", "".join(parts))


def _last_change(history: list[dict[str, Any]]) -> str:
    if not history:
        return ""
    e = history[-1]
    return (f'<div class="muted">last change: {escape(str(e.get("action", "")))} <span class="mono">'
            f'{escape(str(e.get("version", "")))}</span> by {escape(str(e.get("by", "")))}, {_when(str(e.get("at", "")))}</div>')


def _versions_table(ctx: PageContext, rows: list[VersionRow], production: VersionRow | None) -> str:
    if not rows:
        return '<p class="muted">No model versions yet: run the topictensor_refresh DAG (make demo).</p>'
    head = ("<tr><th></th><th>version</th><th>created (UTC)</th><th class=num>quality</th><th class=num>tags</th>"
            "<th class=num title='training / held-out posts'>posts train / held out</th><th class=num>bloggers</th>"
            "<th class=num>topics</th><th class=num title='trainer wall time'>train time</th><th>made by run</th><th></th></tr>")
    body = []
    for r in reversed(rows):  # newest first
        delta = ""
        if production and r.quality is not None and production.quality is not None and not r.is_production:
            d = r.quality - production.quality
            delta = f' <span class="delta {"up" if d > 0 else "down"}">{d:+.4f}</span>'
        actions = []
        if production and not r.is_production:
            actions.append(f'<a href="{escape(ctx.base)}/diff?{urlencode({"a": production.version, "b": r.version})}">diff</a>')
        if not r.is_production:
            actions.append(_promote_control(ctx, r))
        body.append(
            f'<tr class="{"production" if r.is_production else ""}" data-version="{escape(r.version)}">'
            f'<td>{PRODUCTION_BADGE if r.is_production else STATUS_BADGES.get(r.status, "")}</td>'
            f'<td class="mono">{escape(r.version)}</td><td>{_when(r.created_at)}</td>'
            f'<td class="num">{_q(r.quality)}{delta}</td><td class="num">{_int(r.vocabulary)}</td>'
            f'<td class="num">{_int(r.train_posts)} / {_int(r.heldout_posts)}</td>'
            f'<td class="num">{_int(r.bloggers)}</td><td class="num">{_int(r.topics)}</td>'
            f'<td class="num" title="trained {_when(r.trained_at)}">{"-" if r.train_seconds is None else f"{r.train_seconds:.1f} s"}</td>'
            f'<td class="mono">{_run_link(ctx, r)}</td><td>{" · ".join(actions)}</td></tr>')
    return f'<div class="scroll"><table id="versions">{head}{"".join(body)}</table></div>'


PRODUCTION_BADGE = '<span class="badge prod">production</span>'
STATUS_BADGES = {"candidate": '<span class="badge cand">candidate</span>',
                 "backfill": '<span class="badge role" title="registered by a backfill run, not promoted">backfill</span>'}


def comparison_text(comparison: dict[str, Any] | None) -> str:
    """'0.2710 vs production abc 0.2650 (+0.0060) on 1,704 posts', escaped; '-' when nothing was compared."""
    if not comparison or comparison.get("production_quality") is None:
        return '<span class="muted">no production model to compare with</span>'
    mine, theirs = comparison["candidate_quality"], comparison["production_quality"]
    d = mine - theirs
    best = ""
    if comparison.get("best_recent_quality") is not None:
        best = f'; best of last {len(comparison.get("recent") or [])}: {_q(comparison["best_recent_quality"])}'
    return (f'<b>{_q(mine)}</b> vs production <span class="mono">{escape(str(comparison["production_version"]))}</span> '
            f'{_q(theirs)} (<span class="delta {"up" if d >= 0 else "down"}">{d:+.4f}</span>) on the same '
            f'{_int(comparison.get("posts"))} held-out posts{best}')


def drift_text(drift: dict[str, Any] | None) -> str:
    if not drift:
        return '<span class="muted">-</span>'
    parts = []
    if drift.get("neighbour_overlap_at_10") is not None:
        parts.append(f'neighbour overlap@10 <b>{drift["neighbour_overlap_at_10"]:.3f}</b>')
    parts.append(f'tags +{_int(drift.get("tags_new"))} / −{_int(drift.get("tags_vanished"))}')
    if drift.get("ranking_churn") is not None:
        parts.append(f'ranking churn <b>{drift["ranking_churn"]:.3f}</b>')
    if drift.get("topics_changed_share") is not None:
        parts.append("topics " + ", ".join(f'{_int(drift.get("topics_" + e))} {e}' for e in ("born", "died", "split", "merged")))
    return " · ".join(parts)


def candidates_table(ctx: PageContext, rows: list[VersionRow]) -> str:
    """Versions a manual gate registered: their comparison and drift, and the promote button."""
    body = "".join(
        f'<tr data-version="{escape(r.version)}"><td class="mono">{escape(r.version)}</td><td>{_when(r.created_at)}</td>'
        f'<td>{comparison_text(r.comparison)}</td><td>{drift_text(r.drift)}</td>'
        f'<td class="mono">{_run_link(ctx, r)}</td><td>{_promote_control(ctx, r)}</td></tr>' for r in rows)
    return ('<div class="scroll"><table id="candidates"><tr><th>version</th><th>created (UTC)</th>'
            '<th>quality on the same posts</th><th>drift against production</th><th>made by run</th><th></th></tr>'
            f'{body}</table></div>')


def _promote_control(ctx: PageContext, row: VersionRow) -> str:
    if not ctx.can_edit:
        return f'<button class="button" disabled title="{escape(ctx.role_note)}">promote</button>'
    return f'<a class="button" href="{escape(ctx.base)}/versions/{quote(row.version)}/promote">promote</a>'


def _rollback_control(ctx: PageContext, target: str | None) -> str:
    if target is None:
        return '<span class="muted">no earlier promotion to roll back to</span>'
    if not ctx.can_edit:
        return f'<button class="button danger" disabled title="{escape(ctx.role_note)}">roll back to {escape(target)}</button>'
    return f'<a class="button danger" id="rollback" href="{escape(ctx.base)}/rollback">roll back to {escape(target)}</a>'


def _run_link(ctx: PageContext, row: VersionRow) -> str:
    if not row.run_id:
        return "-"
    if not row.from_airflow:
        return escape(str(row.run_id))
    href = f"{ctx.airflow_root}dags/{quote(ctx.dag_id)}/runs/{quote(str(row.run_id), safe='')}"
    return (f'<a href="{escape(href)}" target="_top" data-airflow-link title="open the DAG run {escape(str(row.run_id))} in Airflow">'
            f'{escape(_short_run_id(str(row.run_id)))}</a>')


def history_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return '<p class="muted">No promotion or rollback yet.</p>'
    rows = "".join(
        f'<tr><td>{_when(str(e.get("at", "")), seconds=True)}</td><td>{escape(str(e.get("action", "")))}</td>'
        f'<td class="mono">{escape(str(e.get("version", "")))}</td><td class="mono">{escape(str(e.get("previous") or "-"))}</td>'
        f'<td>{escape(str(e.get("by", "")))}</td><td>{escape(str(e.get("reason", "")))}</td></tr>'
        for e in events)
    return (f'<table id="history"><tr><th>at (UTC)</th><th>action</th><th>version</th><th>previous</th><th>by</th>'
            f'<th>reason</th></tr>{rows}</table>')


def history_page(ctx: PageContext, history: list[dict[str, Any]]) -> str:
    return page(ctx, "History", f"<h2>Every promotion and rollback, newest first</h2>{history_table(list(reversed(history)))}")


def diff_page(ctx: PageContext, rows: list[VersionRow], diff: VersionDiff | None, error: str = "") -> str:
    options = lambda chosen: "".join(  # noqa: E731
        f'<option value="{escape(r.version)}"{" selected" if r.version == chosen else ""}>{escape(r.version)} · '
        f'{escape(r.created_at[:16].replace("T", " "))} · {_q(r.quality)}{" · production" if r.is_production else ""}</option>'
        for r in reversed(rows))
    chooser = (f'<form method="get" action="{escape(ctx.base)}/diff" class="card"><b>Compare</b> '
               f'<select name="a">{options(diff.a if diff else None)}</select> → '
               f'<select name="b">{options(diff.b if diff else None)}</select> '
               f'<button class="button primary" type="submit">show diff</button></form>')
    body = [chooser, _flash(error, "error")]
    if diff:
        body.append(diff_summary(diff))
        body.append(diff_details(diff))
    elif not error:
        body.append('<p class="muted">Two versions are needed for a diff.</p>')
    return page(ctx, "Diff", "".join(body))


def diff_summary(diff: VersionDiff) -> str:
    dq = "-" if diff.quality_a is None or diff.quality_b is None else f"{diff.quality_b - diff.quality_a:+.4f}"
    topics = ("topics not compared: " + escape(diff.topics_note)) if diff.topics_note else (
        f"<b>{len(diff.born)}</b> topics born, <b>{len(diff.died)}</b> died, {len(diff.kept)} kept")
    return (f'<div class="card" id="diff-summary"><span class="mono">{escape(diff.a)}</span> → '
            f'<span class="mono">{escape(diff.b)}</span>: quality {_q(diff.quality_a)} → {_q(diff.quality_b)} ({dq}); '
            f'tags {diff.tags_a:,} → {diff.tags_b:,}: <b>{diff.added_total}</b> added, <b>{diff.dropped_total}</b> dropped; '
            f'{topics}</div>')


def diff_details(diff: VersionDiff) -> str:
    def tag_list(items, total, what):
        if not total:
            return f'<p class="muted">No tag {what}.</p>'
        more = f'<p class="muted">… and {total - len(items)} more</p>' if total > len(items) else ""
        return ('<div class="tags">' + "".join(f'<span class="tag">{escape(t.tag)} <small>{t.count}</small></span>'
                                               for t in items) + f"</div>{more}")

    def topic_rows(items):
        return "".join(f'<tr><td>{t.event}</td><td class="num">{t.topic_id}</td><td>{escape(t.label)}</td>'
                       f'<td class="num">{_int(t.size_a)}</td><td class="num">{_int(t.size_b)}</td>'
                       f'<td class="num">{"-" if t.jaccard is None else f"{t.jaccard:.2f}"}</td></tr>' for t in items)

    parts = ['<div class="columns">',
             f'<div><h2>Tags added ({diff.added_total})</h2><span class="muted">with their uses in the new training posts</span>'
             f'<div id="tags-added">{tag_list(diff.added, diff.added_total, "added")}</div></div>',
             f'<div><h2>Tags dropped ({diff.dropped_total})</h2><span class="muted">with their uses in the old training posts</span>'
             f'<div id="tags-dropped">{tag_list(diff.dropped, diff.dropped_total, "dropped")}</div></div></div>']
    if diff.topics_note is None:
        head = ("<tr><th>event</th><th class=num>id</th><th>label</th><th class=num>size before</th>"
                "<th class=num>size after</th><th class=num>member overlap</th></tr>")
        parts.append(f'<h2>Topics born and died</h2><table id="topics-changed">{head}'
                     f'{topic_rows(diff.born + diff.died) or "<tr><td colspan=6 class=muted>none</td></tr>"}</table>')
        parts.append(f'<h2>Topics kept, most changed first</h2><table id="topics-kept">{head}{topic_rows(diff.kept)}</table>')
    return "".join(parts)


def confirm_page(ctx: PageContext, *, action: str, target: VersionRow, current: VersionRow | None,
                 diff: VersionDiff | None, post_url: str) -> str:
    """The confirmation step: what will change, then a POST form (the only way to change anything)."""
    verb = "Promote" if action == "promote" else "Roll back to"
    current_text = (f'<span class="mono">{escape(current.version)}</span> (quality {_q(current.quality)})'
                    if current else "nothing")
    warn = ""
    if current and current.quality is not None and target.quality is not None and target.quality < current.quality:
        warn = (f'<div class="flash error">This version\'s held-out quality is lower than production\'s by '
                f'{current.quality - target.quality:.4f}.</div>')
    body = f"""<div class="card" id="confirm"><h2 style="margin-top:0">{verb} <span class="mono">{escape(target.version)}</span>?</h2>
<p>Production moves from {current_text} to <span class="mono">{escape(target.version)}</span>
(quality {_q(target.quality)}, {_int(target.vocabulary)} tags, made by run {_run_link(ctx, target)}).</p>
<p id="confirm-comparison">Compared when it was made: {comparison_text(target.comparison)}<br>
Drift then: {drift_text(target.drift)}</p><p>
The search service picks the new version up within seconds. The move is recorded in the history as done by
<b>{escape(ctx.user)}</b>.</p>{warn}
{diff_summary(diff) if diff else ''}
<form method="post" action="{escape(post_url)}">
<input type="hidden" name="expected" value="{escape(current.version if current else '')}">
<input type="hidden" name="version" value="{escape(target.version)}">
<label for="reason">Reason (recorded in the history)</label>
<input type="text" id="reason" name="reason" placeholder="e.g. the new topics split #cars badly">
<p><button class="button {'danger ' if action == 'rollback' else ''}primary" type="submit" id="confirm-button">Yes, {verb.lower()} {escape(target.version)}</button>
<a class="button" href="{escape(ctx.base)}/">Cancel</a></p></form></div>"""
    if diff:
        body += diff_details(diff)
    return page(ctx, f"{verb} {target.version}", body)


def message_page(ctx: PageContext, title: str, message: str) -> str:
    return page(ctx, title, f'{_flash(message, "error")}<p><a href="{escape(ctx.base)}/">Back to the versions</a></p>')


def _when(stamp: str | None, *, seconds: bool = False) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM' (UTC, as stored)."""
    return escape(stamp[:19 if seconds else 16].replace("T", " ")) if stamp else "-"


def _short_run_id(run_id: str) -> str:
    """manual__2026-11-27T18:30:28.220491+00:00 -> manual__2026-11-27T18:30:28 (the link keeps the full id)."""
    return re.sub(r"(\.\d+)?\+00:00$", "", run_id)


def _flash(text: str, kind: str) -> str:
    return f'<div class="flash {kind}" id="flash">{escape(text)}</div>' if text else ""


def _q(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
