"""Charts as inline SVG, drawn at build time (no JavaScript, no chart library, nothing fetched).

* :func:`line_chart`: one value per snapshot date (coverage, nulls, distinct, PSI, audience size),
  with an optional threshold line;
* :func:`bar_chart`: horizontal bars of labelled values (top values, histogram shares, TGI);
* :func:`pair_bars`: two values per date side by side (entered / exited);
* :func:`interval_chart`: an estimate per date with its interval as a shaded band and a zero line
  (a scene's effect over time).

Every chart is a ``<figure class="chart">`` with a ``<title>`` (hover text and screen readers;
the interval chart a ``<desc>`` too) and a caption; no data gives a short "no data" note instead
of an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

Fmt = Callable[[float], str]
W, H = 380, 150
PAD_L, PAD_R, PAD_T, PAD_B = 52, 10, 14, 30


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def number(value: float) -> str:
    """Compact number: 1.2M, 35.1k, 0.83, 12."""
    v = float(value)
    for limit, size, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(v) >= limit:
            return f"{v / size:.1f}{suffix}"
    if v == int(v):
        return str(int(v))
    return f"{v:.3g}"


def percent(value: float) -> str:
    return f"{float(value):.1%}"


def _figure(title: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{_e(title)}{(' · ' + _e(caption)) if caption else ''}</figcaption>"
    return f'<figure class="chart">{svg}{cap}</figure>'


def empty(title: str, why: str = "no data yet") -> str:
    return f'<figure class="chart empty"><p>{_e(why)}</p><figcaption>{_e(title)}</figcaption></figure>'


class _Plot:
    """The frame of a chart over ``n`` dates from ``lo`` to ``hi``: its scales, axes, y ticks and the
    first and last date under the x axis."""

    def __init__(self, n: int, lo: float, hi: float) -> None:
        if hi == lo:
            hi, lo = hi + (abs(hi) * 0.1 or 1), lo - (abs(lo) * 0.1 if lo else 0)
        self.n, self.lo, self.hi = n, lo, hi
        self.pw, self.ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(self, i: int) -> float:
        return PAD_L + (self.pw * i / (self.n - 1) if self.n > 1 else self.pw / 2)

    def y(self, v: float) -> float:
        return PAD_T + self.ph * (1 - (v - self.lo) / (self.hi - self.lo))

    def frame(self, cls: str, title: str, first: str, last: str, ticks: Sequence[tuple[float, str]],
              desc: str = "") -> list[str]:
        bottom = PAD_T + self.ph
        parts = [f'<svg class="{cls}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
                 f'aria-label="{_e(title)}"><title>{_e(title)}</title>' + (f"<desc>{_e(desc)}</desc>" if desc else ""),
                 f'<line class="axis" x1="{PAD_L}" y1="{bottom}" x2="{PAD_L + self.pw}" y2="{bottom}"/>',
                 f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{bottom}"/>']
        for v, text in ticks:
            parts.append(f'<text class="tick" x="{PAD_L - 4}" y="{self.y(v) + 4:.1f}" text-anchor="end">{_e(text)}</text>')
        parts.append(f'<text class="tick" x="{PAD_L}" y="{H - 8}">{_e(first)}</text>')
        if self.n > 1:
            parts.append(f'<text class="tick" x="{PAD_L + self.pw}" y="{H - 8}" text-anchor="end">{_e(last)}</text>')
        return parts


def _runs(present: Sequence[bool]) -> list[list[int]]:
    """The indexes of each run of consecutive present values (a missing one ends a run)."""
    runs: list[list[int]] = [[]]
    for i, here in enumerate(present):
        if here:
            runs[-1].append(i)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def line_chart(points: Sequence[tuple[str, float | None]], title: str, fmt: Fmt = number, *,
               y_min: float | None = None, y_max: float | None = None, threshold: float | None = None,
               threshold_label: str = "") -> str:
    """A line over dates; ``None`` values are gaps. The y range covers the data (and the threshold)."""
    values = [v for _, v in points if v is not None]
    if not values:
        return empty(title)
    lo = min(values + ([threshold] if threshold is not None else [])) if y_min is None else y_min
    hi = max(values + ([threshold] if threshold is not None else [])) if y_max is None else y_max
    plot = _Plot(len(points), lo, hi)
    x, y, n = plot.x, plot.y, plot.n
    parts = plot.frame("line", title, points[0][0], points[-1][0], [(v, fmt(v)) for v in (plot.lo, plot.hi)])
    if threshold is not None:
        ty = y(threshold)
        parts.append(f'<line class="threshold" x1="{PAD_L}" y1="{ty:.1f}" x2="{PAD_L + plot.pw}" y2="{ty:.1f}"/>'
                     f'<text class="tick warn" x="{PAD_L + plot.pw}" y="{ty - 3:.1f}" text-anchor="end">'
                     f'{_e(threshold_label or fmt(threshold))}</text>')
    for run in _runs([v is not None for _, v in points]):
        if len(run) > 1:
            parts.append(_polyline([(x(i), y(v)) for i in run if (v := points[i][1]) is not None]))
    # dots only where a line does not show the value: the latest point and isolated ones
    for i, (label, maybe) in enumerate(points):
        alone = (i == 0 or points[i - 1][1] is None) and (i == n - 1 or points[i + 1][1] is None)
        if maybe is not None and (alone or i == n - 1 or (i + 1 < n and points[i + 1][1] is None)):
            parts.append(f'<circle class="dot" cx="{x(i):.1f}" cy="{y(maybe):.1f}" r="2.5">'
                         f'<title>{_e(label)}: {_e(fmt(maybe))}</title></circle>')
    parts.append("</svg>")
    last = next(v for _, v in reversed(points) if v is not None)
    return _figure(title, "".join(parts), f"latest {fmt(last)}, {len(values)} snapshots")


def _polyline(xy: Sequence[tuple[float, float]], cls: str = "series") -> str:
    return f'<polyline class="{cls}" points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in xy)}"/>'


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def interval_chart(points: Sequence[tuple[str, float | None, float | None, float | None]], title: str,
                   fmt: Fmt = number, *, interval: str = "interval", caption: str = "") -> str:
    """An estimate over dates with its interval: ``(date, estimate, low, high)`` per date.

    A shaded band from low to high (a vertical whisker where a single date has one), the estimate's
    line with a dot per date (hover: its value and interval), a dashed zero line; the y range always
    covers 0. ``None`` (and infinite) values are gaps; ``interval`` names the band in the
    description (e.g. "always-valid 95% interval"), ``caption`` is added to the figure's caption.
    """
    rows = [(d, _finite(v), _finite(lo), _finite(hi)) for d, v, lo, hi in points]
    rows = [(d, v, lo, hi) if lo is not None and hi is not None else (d, v, None, None) for d, v, lo, hi in rows]
    values = [x for _, v, lo, hi in rows for x in (v, lo, hi) if x is not None]
    if not values:
        return empty(title)
    plot = _Plot(len(rows), min([*values, 0.0]), max([*values, 0.0]))
    x, y = plot.x, plot.y
    ticks = [(plot.lo, fmt(plot.lo)), (plot.hi, fmt(plot.hi))]
    if all(abs(y(0.0) - y(v)) >= 10 for v, _ in ticks):
        ticks.append((0.0, "0"))
    dated = [r for r in rows if r[1] is not None]
    latest = dated[-1] if dated else None
    desc = (f"{title}: the estimate per date (line and dots) with its {interval} (shaded band) and zero "
            f"(dashed line); {len(dated)} dates" + (f", latest {latest[0]}: {_point(latest, fmt)}" if latest else ""))
    parts = plot.frame("interval", title, rows[0][0], rows[-1][0], ticks, desc)
    for run in _runs([r[2] is not None for r in rows]):
        if len(run) == 1:
            i = run[0]
            parts.append(f'<line class="whisker" x1="{x(i):.1f}" y1="{y(rows[i][3] or 0.0):.1f}" x2="{x(i):.1f}" '
                         f'y2="{y(rows[i][2] or 0.0):.1f}"/>')
        else:
            edge = [(x(i), y(rows[i][3] or 0.0)) for i in run] + [(x(i), y(rows[i][2] or 0.0)) for i in reversed(run)]
            parts.append(f'<polygon class="band" points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in edge)}"/>')
    zy = y(0.0)
    parts.append(f'<line class="zero" x1="{PAD_L}" y1="{zy:.1f}" x2="{PAD_L + plot.pw}" y2="{zy:.1f}"/>')
    for run in _runs([r[1] is not None for r in rows]):
        if len(run) > 1:
            parts.append(_polyline([(x(i), y(v)) for i in run if (v := rows[i][1]) is not None]))
    for i, row in enumerate(rows):
        if row[1] is not None:
            parts.append(f'<circle class="dot" cx="{x(i):.1f}" cy="{y(row[1]):.1f}" r="2">'
                         f'<title>{_e(row[0])}: {_e(_point(row, fmt))}</title></circle>')
    parts.append("</svg>")
    summary = f"latest {_point(latest, fmt)} on {latest[0]}, {len(dated)} dates" if latest else "no estimate yet"
    return _figure(title, "".join(parts), summary + (f" · {caption}" if caption else ""))


def _point(row: tuple[str, float | None, float | None, float | None], fmt: Fmt) -> str:
    _, v, lo, hi = row
    return ("-" if v is None else fmt(v)) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else "")


def bar_chart(items: Sequence[tuple[str, float]], title: str, fmt: Fmt = number, *,
              caption: str = "", reference: float | None = None) -> str:
    """Horizontal bars, one per labelled value (in the given order); ``reference``: a vertical line
    (100 for TGI)."""
    if not items:
        return empty(title)
    bar, gap, label_w = 14, 4, 120
    width = W
    height = PAD_T + len(items) * (bar + gap) + 6
    top = max([v for _, v in items] + ([reference] if reference is not None else [])) or 1.0
    plot = width - label_w - 60
    parts = [f'<svg class="bars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>']
    for i, (label, v) in enumerate(items):
        y0 = PAD_T + i * (bar + gap)
        shown = label if len(label) <= 18 else label[:17] + "…"
        w = max(0.0, plot * float(v) / top)
        parts.append(f'<text class="tick" x="{label_w - 4}" y="{y0 + bar - 3}" text-anchor="end">{_e(shown)}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y0}" width="{w:.1f}" height="{bar}">'
                     f'<title>{_e(label)}: {_e(fmt(v))}</title></rect>'
                     f'<text class="tick" x="{label_w + w + 4:.1f}" y="{y0 + bar - 3}">{_e(fmt(v))}</text>')
    if reference is not None:
        rx = label_w + plot * reference / top
        parts.append(f'<line class="threshold" x1="{rx:.1f}" y1="{PAD_T - 4}" x2="{rx:.1f}" y2="{height - 2}"/>')
    parts.append("</svg>")
    return _figure(title, "".join(parts), caption)


def pair_bars(points: Sequence[tuple[str, float, float]], title: str, names: tuple[str, str]) -> str:
    """Two bars per date (e.g. entered and exited), dates left to right."""
    if not points:
        return empty(title)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    top = max(max(a, b) for _, a, b in points) or 1.0
    slot = pw / len(points)
    bw = max(1.0, min(12.0, slot / 2 - 1))
    parts = [f'<svg class="pairs" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + ph}" x2="{PAD_L + pw}" y2="{PAD_T + ph}"/>',
             f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 4}" text-anchor="end">{_e(number(top))}</text>']
    for i, (label, a, b) in enumerate(points):
        x0 = PAD_L + i * slot + slot / 2 - bw
        for j, (v, cls, name) in enumerate(((a, "bar", names[0]), (b, "bar alt", names[1]))):
            h = ph * float(v) / top
            parts.append(f'<rect class="{cls}" x="{x0 + j * bw:.1f}" y="{PAD_T + ph - h:.1f}" width="{bw:.1f}" '
                         f'height="{h:.1f}"><title>{_e(label)} {_e(name)}: {_e(number(v))}</title></rect>')
    parts.append(f'<text class="tick" x="{PAD_L}" y="{H - 8}">{_e(points[0][0])}</text>')
    parts.append(f'<text class="tick" x="{PAD_L + pw}" y="{H - 8}" text-anchor="end">{_e(points[-1][0])}</text>')
    parts.append("</svg>")
    return _figure(title, "".join(parts), f"{names[0]} (dark) / {names[1]} (light)")
