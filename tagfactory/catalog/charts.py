"""Charts as inline SVG, drawn at build time (no JavaScript, no chart library, nothing fetched).

* :func:`line_chart`: one value per snapshot date (coverage, nulls, distinct, PSI, audience size),
  with an optional threshold line;
* :func:`bar_chart`: horizontal bars of labelled values (top values, histogram shares, TGI);
* :func:`pair_bars`: two values per date side by side (entered / exited).

Every chart is a ``<figure class="chart">`` with a ``<title>`` (hover text and screen readers)
and a caption; no data gives a short "no data" note instead of an empty frame.
"""

from __future__ import annotations

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


def line_chart(points: Sequence[tuple[str, float | None]], title: str, fmt: Fmt = number, *,
               y_min: float | None = None, y_max: float | None = None, threshold: float | None = None,
               threshold_label: str = "") -> str:
    """A line over dates; ``None`` values are gaps. The y range covers the data (and the threshold)."""
    values = [v for _, v in points if v is not None]
    if not values:
        return empty(title)
    lo = min(values + ([threshold] if threshold is not None else [])) if y_min is None else y_min
    hi = max(values + ([threshold] if threshold is not None else [])) if y_max is None else y_max
    if hi == lo:
        hi, lo = hi + (abs(hi) * 0.1 or 1), lo - (abs(lo) * 0.1 if lo else 0)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n = len(points)

    def x(i: int) -> float:
        return PAD_L + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return PAD_T + ph * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg class="line" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + ph}" x2="{PAD_L + pw}" y2="{PAD_T + ph}"/>',
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + ph}"/>']
    for v in (lo, hi):
        parts.append(f'<text class="tick" x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{_e(fmt(v))}</text>')
    parts.append(f'<text class="tick" x="{PAD_L}" y="{H - 8}">{_e(points[0][0])}</text>')
    if n > 1:
        parts.append(f'<text class="tick" x="{PAD_L + pw}" y="{H - 8}" text-anchor="end">{_e(points[-1][0])}</text>')
    if threshold is not None:
        ty = y(threshold)
        parts.append(f'<line class="threshold" x1="{PAD_L}" y1="{ty:.1f}" x2="{PAD_L + pw}" y2="{ty:.1f}"/>'
                     f'<text class="tick warn" x="{PAD_L + pw}" y="{ty - 3:.1f}" text-anchor="end">'
                     f'{_e(threshold_label or fmt(threshold))}</text>')
    runs: list[list[str]] = [[]]
    for i, (_, maybe) in enumerate(points):
        if maybe is None:
            runs.append([])
        else:
            runs[-1].append(f"{x(i):.1f},{y(maybe):.1f}")
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline class="series" points="{" ".join(run)}"/>')
    # dots only where a line does not show the value: the latest point and isolated ones
    for i, (label, maybe) in enumerate(points):
        alone = (i == 0 or points[i - 1][1] is None) and (i == n - 1 or points[i + 1][1] is None)
        if maybe is not None and (alone or i == n - 1 or (i + 1 < n and points[i + 1][1] is None)):
            parts.append(f'<circle class="dot" cx="{x(i):.1f}" cy="{y(maybe):.1f}" r="2.5">'
                         f'<title>{_e(label)}: {_e(fmt(maybe))}</title></circle>')
    parts.append("</svg>")
    last = next(v for _, v in reversed(points) if v is not None)
    return _figure(title, "".join(parts), f"latest {fmt(last)}, {len(values)} snapshots")


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
