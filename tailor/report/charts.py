"""The report's plots as inline SVG (no JavaScript, no plotting library): bars, the RFM
heatmap, lines over dates and the sparkline of an anomalous series. Every label is escaped."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tailor.report.markup import esc, fmt

PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#475569")


def _svg_text(x: float, y: float, text: Any, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{esc(text)}</text>'


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def bar_chart_svg(
    labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = ""
) -> str:
    """Horizontal bars, one per label, the value printed at the end of each bar."""
    if not labels:
        return ""
    bar_h, gap, left, right, top = 22, 8, 270, 90, 30
    width = 720
    height = top + len(labels) * (bar_h + gap) + 10
    top_value = max(max(values), 0) or 1
    scale = (width - left - right) / top_value
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        w = max(value, 0) * scale
        color = PALETTE[i % len(PALETTE)]
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(_svg_text(left - 8, y + bar_h * 0.7, shown, anchor="end"))
        parts.append(
            f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}"'
            f' fill="{color}"><title>{esc(label)}: {esc(value)}{esc(unit)}</title></rect>'
        )
        parts.append(_svg_text(left + w + 6, y + bar_h * 0.7, f"{fmt(value)}{unit}"))
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(
    counts: Mapping[tuple[int, int], int],
    *,
    title: str,
    row_label: str = "R score",
    col_label: str = "F score",
    size: int = 5,
) -> str:
    """A size x size grid: rows are R scores (high at the top), columns F scores."""
    cell, left, top = 64, 80, 40
    width = left + size * cell + 20
    height = top + size * cell + 50
    top_value = max(counts.values(), default=0) or 1
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for r in range(size, 0, -1):
        y = top + (size - r) * cell
        parts.append(_svg_text(left - 10, y + cell / 2 + 4, r, anchor="end"))
        for f in range(1, size + 1):
            x = left + (f - 1) * cell
            n = counts.get((r, f), 0)
            share = n / top_value
            # white -> blue; text turns white on dark cells
            red, green = int(255 - share * (255 - 37)), int(255 - share * (255 - 99))
            fill = f"rgb({red},{green},{int(255 - share * (255 - 235))})"
            ink = "#fff" if share > 0.55 else "#111"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}"'
                f' fill="{fill}"><title>R {r}, F {f}: {esc(n)} customers</title></rect>'
            )
            parts.append(
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}"'
                f' text-anchor="middle" fill="{ink}">{esc(n)}</text>'
            )
    for f in range(1, size + 1):
        parts.append(_svg_text(left + (f - 0.5) * cell, top + size * cell + 16, f, "middle"))
    parts.append(_svg_text(left + size * cell / 2, top + size * cell + 36, col_label, "middle"))
    parts.append(
        f'<text x="16" y="{top + size * cell / 2:.1f}" text-anchor="middle"'
        f' transform="rotate(-90 16 {top + size * cell / 2:.1f})">{esc(row_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    series: Mapping[str, Sequence[tuple[dt.date, float]]], *, title: str, y_label: str = ""
) -> str:
    """One line per series over dates; points carry their value as a tooltip."""
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    width, height, left, right, top, bottom = 720, 300, 60, 170, 30, 40
    days = sorted({d for d, _ in points})
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)
    y_max = _nice_max(max(v for _, v in points))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(d: dt.date) -> float:
        if first == last:
            return left + plot_w / 2
        return left + plot_w * (d - first).days / span

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for i in range(5):
        v = y_max * i / 4
        y = y_of(v)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(_svg_text(left - 6, y + 4, f"{v:.3g}", anchor="end"))
    ticks = days if len(days) <= 8 else [days[round(i * (len(days) - 1) / 6)] for i in range(7)]
    for d in dict.fromkeys(ticks):
        parts.append(_svg_text(x_of(d), top + plot_h + 18, d.isoformat()[5:], anchor="middle"))
    if y_label:
        parts.append(
            f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle"'
            f' transform="rotate(-90 14 {top + plot_h / 2:.1f})">{esc(y_label)}</text>'
        )
    # the first series is drawn last (on top) and thicker: it is the one that matters
    for i, (name, pts) in reversed(list(enumerate(series.items()))):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in pts)
        if len(pts) > 1:
            parts.append(
                f'<polyline class="series" points="{coords}" fill="none" stroke="{color}"'
                f' stroke-width="{3 if i == 0 else 1.5}"/>'
            )
        for d, v in pts:
            parts.append(
                f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{color}">'
                f"<title>{esc(name)} {esc(d)}: {v:.4f}</title></circle>"
            )
        ly = top + 14 + i * 18
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
        )
        parts.append(_svg_text(left + plot_w + 34, ly + 1, name))
    parts.append("</svg>")
    return "".join(parts)


def sparkline_svg(
    points: Sequence[tuple[dt.date, float]],
    *,
    day: dt.date,
    lower: float | None,
    upper: float | None,
    title: str,
) -> str:
    """A small line of a series over its days, the expected range of ``day`` as a band and
    ``day``'s point in red."""
    pts = sorted((d, v) for d, v in points if v is not None and math.isfinite(v))
    if not pts:
        return ""
    width, height, pad = 260, 64, 6
    band = [x for x in (lower, upper) if x is not None and math.isfinite(x)]
    values = [v for _, v in pts] + band
    lo, hi = min(values), max(values)
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    first = pts[0][0]
    span = max((max(day, pts[-1][0]) - first).days, 1)

    def x_of(d: dt.date) -> float:
        return pad + (width - 2 * pad) * (d - first).days / span

    def y_of(v: float) -> float:
        return pad + (height - 2 * pad) * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
    ]
    if band:
        top = y_of(upper) if upper is not None and math.isfinite(upper) else pad
        bottom = y_of(lower) if lower is not None and math.isfinite(lower) else height - pad
        parts.append(
            f'<rect x="{x_of(day) - 5:.1f}" y="{top:.1f}" width="10"'
            f' height="{max(bottom - top, 1):.1f}" fill="#bbf7d0"><title>expected'
            f" {esc(lower)} to {esc(upper)}</title></rect>"
        )
    coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in pts)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    for d, v in pts:
        color, r = ("#dc2626", 3.5) if d == day else ("#2563eb", 1.8)
        parts.append(
            f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="{r}" fill="{color}">'
            f"<title>{esc(d)}: {esc(v)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
