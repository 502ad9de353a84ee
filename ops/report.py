"""Self-contained HTML reports with inline SVG charts: open the file, no server, no scripts.

Used by the demo (``runs/<run_id>/report.html``) and the replay backtester.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
_W, _H, _PAD = 760, 260, 48


@dataclass(frozen=True)
class Marker:
    """A point drawn on top of a line chart (e.g. one of our fills)."""

    x: float
    y: float
    label: str
    color: str = "#000"
    shape: str = "triangle"  # triangle (buy) or circle


@dataclass
class Section:
    title: str
    body_html: str = ""
    charts: list[str] = field(default_factory=list)


def _scale(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high == low:
        high, low = high + 0.5, low - 0.5
    span = high - low
    return low - span * pad, high + span * pad


def line_chart(
    title: str,
    series: dict[str, Sequence[Point]],
    markers: Sequence[Marker] = (),
    x_label: str = "",
    y_label: str = "",
) -> str:
    """An SVG line chart of one or more named series, with optional markers."""
    xs = [p[0] for pts in series.values() for p in pts] + [m.x for m in markers]
    ys = [p[1] for pts in series.values() for p in pts] + [m.y for m in markers]
    if not xs:
        return _empty(title)
    x0, x1 = _scale(xs, 0.0)
    y0, y1 = _scale(ys)

    def px(x: float) -> float:
        return _PAD + (x - x0) / (x1 - x0 or 1) * (_W - 2 * _PAD)

    def py(y: float) -> float:
        return _H - _PAD + -(y - y0) / (y1 - y0 or 1) * (_H - 2 * _PAD)

    parts = [_frame(title, x0, x1, y0, y1, x_label, y_label)]
    for index, (name, points) in enumerate(series.items()):
        color = _COLORS[index % len(_COLORS)]
        if points:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'points="{path}"/>')
        parts.append(f'<text x="{_W - _PAD - 150}" y="{_PAD + 14 * index}" fill="{color}" '
                     f'font-size="11">{html.escape(name)}</text>')
    for marker in markers:
        x, y = px(marker.x), py(marker.y)
        tip = f"<title>{html.escape(marker.label)}</title>"
        if marker.shape == "circle":
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{marker.color}">'
                         f"{tip}</circle>")
        else:
            parts.append(f'<polygon points="{x:.1f},{y - 5:.1f} {x - 4:.1f},{y + 3:.1f} '
                         f'{x + 4:.1f},{y + 3:.1f}" fill="{marker.color}">{tip}</polygon>')
    return _svg(parts)


def histogram(title: str, values: Sequence[float], bins: int = 30, x_label: str = "") -> str:
    """An SVG histogram (log-spaced bins when the values span more than two decades)."""
    finite = sorted(v for v in values if math.isfinite(v) and v >= 0)
    if not finite:
        return _empty(title)
    low, high = finite[0], finite[-1]
    use_log = low > 0 and high / low > 100
    edges = (
        [low * (high / low) ** (i / bins) for i in range(bins + 1)] if use_log
        else [low + (high - low or 1) * i / bins for i in range(bins + 1)]
    )
    counts = [0] * bins
    for value in finite:
        index = min(bins - 1, max(0, _bin_index(edges, value)))
        counts[index] += 1
    top = max(counts)
    parts = [_frame(title, low, high, 0, top, x_label + (" (log bins)" if use_log else ""),
                    "count")]
    width = (_W - 2 * _PAD) / bins
    for i, count in enumerate(counts):
        height = count / top * (_H - 2 * _PAD)
        parts.append(f'<rect x="{_PAD + i * width:.1f}" y="{_H - _PAD - height:.1f}" '
                     f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" fill="{_COLORS[0]}">'
                     f"<title>{edges[i]:.4g}–{edges[i + 1]:.4g}: {count}</title></rect>")
    return _svg(parts)


def _bin_index(edges: list[float], value: float) -> int:
    for index in range(len(edges) - 1):
        if value < edges[index + 1]:
            return index
    return len(edges) - 2


def bar_chart(title: str, bars: dict[str, float], y_label: str = "") -> str:
    """An SVG bar chart of named values (positive green, negative red)."""
    if not bars:
        return _empty(title)
    low, high = min(0.0, *bars.values()), max(0.0, *bars.values())
    if high == low:
        high = low + 1
    parts = [_frame(title, 0, len(bars), low, high, "", y_label)]
    width = (_W - 2 * _PAD) / len(bars)

    def py(y: float) -> float:
        return _H - _PAD - (y - low) / (high - low) * (_H - 2 * _PAD)

    for i, (name, value) in enumerate(bars.items()):
        top, bottom = py(max(value, 0)), py(min(value, 0))
        color = "#2ca02c" if value >= 0 else "#d62728"
        parts.append(f'<rect x="{_PAD + i * width + 2:.1f}" y="{top:.1f}" '
                     f'width="{max(width - 4, 1):.1f}" height="{max(bottom - top, 1):.1f}" '
                     f'fill="{color}"><title>{html.escape(name)}: {value:.4f}</title></rect>')
        parts.append(f'<text x="{_PAD + i * width + 4:.1f}" y="{_H - _PAD + 14}" '
                     f'font-size="9">{html.escape(name[:14])}</text>')
    return _svg(parts)


def _frame(
    title: str, x0: float, x1: float, y0: float, y1: float, x_label: str, y_label: str
) -> str:
    return (
        f'<text x="{_PAD}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>'
        f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" '
        f'fill="none" stroke="#ccc"/>'
        f'<text x="4" y="{_PAD + 4}" font-size="10">{y1:.4g}</text>'
        f'<text x="4" y="{_H - _PAD}" font-size="10">{y0:.4g}</text>'
        f'<text x="{_PAD}" y="{_H - _PAD + 26}" font-size="10">{x0:.4g}</text>'
        f'<text x="{_W - _PAD - 40}" y="{_H - _PAD + 26}" font-size="10">{x1:.4g}</text>'
        f'<text x="{_W / 2 - 40:.0f}" y="{_H - 8}" font-size="10">{html.escape(x_label)}</text>'
        f'<text x="4" y="{_H / 2:.0f}" font-size="10">{html.escape(y_label)}</text>'
    )


def _svg(parts: list[str]) -> str:
    body = "".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
            f'viewBox="0 0 {_W} {_H}" font-family="sans-serif">{body}</svg>')


def _empty(title: str) -> str:
    return _svg([f'<text x="{_PAD}" y="18" font-size="13" font-weight="bold">'
                 f'{html.escape(title)}</text><text x="{_PAD}" y="60">no data</text>'])


def table(rows: Sequence[dict[str, object]]) -> str:
    """An HTML table of dict rows (keys of the first row are the columns)."""
    if not rows:
        return "<p>none</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The whole report as one HTML document."""
    blocks = []
    for section in sections:
        charts = "".join(f"<div class='chart'>{chart}</div>" for chart in section.charts)
        blocks.append(f"<h2>{html.escape(section.title)}</h2>{section.body_html}{charts}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:900px}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px}"
        ".chart{margin:1em 0}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(blocks)}</body></html>"
    )
