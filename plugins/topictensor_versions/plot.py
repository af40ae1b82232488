"""The quality-over-time plot as inline SVG, drawn on the server: no JavaScript, no CDN, and it
prints and screenshots exactly as served."""

from __future__ import annotations

from datetime import datetime
from html import escape

from topictensor_versions.catalog import VersionRow

WIDTH, HEIGHT = 1000, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 16, 40
PRODUCTION_COLOUR = "#0f7b3f"
POINT_COLOUR = "#2563eb"
FLOOR_COLOUR = "#b45309"
MAX_LABELS = 10


def quality_plot(rows: list[VersionRow], *, floor: float | None = None) -> str:
    """Held-out quality of every version against its creation time; production is the green
    point, the gate's quality floor a dashed line when it is near the points (else a note, so the
    axis keeps the versions' differences visible). Versions are evenly spaced when their times
    are unknown or all equal, so points never pile up."""
    points = [(r, _time(r.created_at)) for r in rows if r.quality is not None]
    if not points:
        return '<p class="muted">No version has a quality yet.</p>'
    qualities = [r.quality for r, _ in points]
    lo, hi = min(qualities), max(qualities)
    pad = max((hi - lo) * 0.15, 0.005)
    lo, hi = max(0.0, lo - pad), hi + pad
    if floor is not None and lo - 2 * pad <= floor < lo:
        lo = max(0.0, floor - pad / 2)  # a floor just below the points is worth showing in place
    times = [t for _, t in points]
    spread = (max(times) - min(times)) if all(t is not None for t in times) else 0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(i: int, t: float | None) -> float:
        if spread and t is not None:
            return LEFT + (t - min(times)) / spread * plot_w
        return LEFT + (i + 0.5) / len(points) * plot_w

    def y_of(q: float) -> float:
        return TOP + (hi - q) / (hi - lo) * plot_h

    parts = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="max-width:{WIDTH}px" role="img" '
             f'aria-label="held-out quality of each model version over time">']
    for q in _ticks(lo, hi):
        y = y_of(q)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{q:.3f}</text>')
    if floor is not None and not lo <= floor <= hi:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM - 6}" text-anchor="end" class="tick" '
                     f'fill="{FLOOR_COLOUR}">gate floor {floor:.3f} ({"below" if floor < lo else "above"} the chart)</text>')
    elif floor is not None:
        y = y_of(floor)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{FLOOR_COLOUR}" '
                     f'stroke-dasharray="6 4"/><text x="{WIDTH - RIGHT}" y="{y - 5:.1f}" text-anchor="end" '
                     f'class="tick" fill="{FLOOR_COLOUR}">gate floor {floor:.3f}</text>')
    coords = [(x_of(i, t), y_of(r.quality)) for i, (r, t) in enumerate(points)]
    parts.append('<polyline fill="none" stroke="#94a3b8" stroke-width="1.5" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    label_every = max(1, -(-len(points) // MAX_LABELS))  # x labels of at most MAX_LABELS versions, evenly spread
    for i, ((r, _), (x, y)) in enumerate(zip(points, coords)):
        colour = PRODUCTION_COLOUR if r.is_production else POINT_COLOUR
        radius = 7 if r.is_production else 5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}" data-version="{escape(r.version)}">'
                     f'<title>{escape(r.version)}: quality {r.quality:.4f}, {escape(r.created_at[:19])}'
                     f'{" (production)" if r.is_production else ""}</title></circle>')
        if i % label_every and i != len(points) - 1:
            continue
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">'
                     f'{escape(r.version[:6])}</text>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 30}" text-anchor="middle" class="tick muted">'
                     f'{escape(r.created_at[5:16].replace("T", " "))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _time(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return None


def _ticks(lo: float, hi: float, wanted: int = 4) -> list[float]:
    """Round tick values covering [lo, hi]."""
    raw = (hi - lo) / wanted
    step = min((s for s in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2) if s >= raw), default=0.5)
    first = (int(lo / step) + 1) * step
    out, q = [], first
    while q < hi:
        out.append(round(q, 6))
        q += step
    return out
