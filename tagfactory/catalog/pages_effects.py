"""The "Effect over time" section of a scene page (issue 19): the effect analysis's daily results.

Reads the scene's total rows of ``effect_results_<entity>`` (``Warehouse.effect_results``, oldest
date first) and draws, per primary goal and comparison, the effect with its interval over the dates
(:func:`tagfactory.catalog.charts.interval_chart`; the always-valid interval where the row has one,
as the caption says), then a table of the latest date with every goal, guardrails too. Values read
as in ``tagfactory effects`` (:mod:`tagfactory.analysis.formats`): conversion effects in percentage
points.
"""

from __future__ import annotations

import math
from typing import Any

from tagfactory.analysis import formats
from tagfactory.catalog import charts
from tagfactory.catalog.render import e, pill, table
from tagfactory.catalog.warehouse import Row
from tagfactory.compiler.goal_manifest import GoalPlan
from tagfactory.compiler.manifest import Scene


def _band(r: Row) -> tuple[Any, Any, bool]:
    """The interval a result row is shown with: the always-valid (sequential) one where the row has
    it, else the fixed-horizon confidence interval; True: the sequential one."""
    if r.get("seq_ci_low") is not None and r.get("seq_ci_high") is not None:
        return r["seq_ci_low"], r["seq_ci_high"], True
    return r.get("ci_low"), r.get("ci_high"), False


def _band_caption(rows: list[Row], level: str) -> str:
    sequential = sum(1 for r in rows if r.get("effect") is not None and _band(r)[2])
    shown = sum(1 for r in rows if r.get("effect") is not None)
    if sequential and sequential == shown:
        return f"band: always-valid (sequential) {level} interval"
    if sequential:
        return (f"band: always-valid (sequential) {level} interval on {sequential} of {shown} dates, "
                f"the {level} confidence interval on the others")
    return f"band: {level} confidence interval"


def _level(goal: GoalPlan | None, rows: list[Row]) -> str:
    alpha = goal.alpha if goal else next((r["alpha"] for r in rows if r.get("alpha") is not None), 0.05)
    return f"{1 - float(alpha):.0%}"


def _effect_chart(name: str, comparison: str, metric: str, by_date: dict[str, Row], dates: list[str],
                  level: str) -> str:
    points = []
    for d in dates:
        r = by_date.get(d)
        low, high, _ = _band(r) if r else (None, None, False)
        points.append((d, r.get("effect") if r else None, low, high))
    band = _band_caption(list(by_date.values()), level)
    return charts.interval_chart(points, f"{name} · {comparison}", lambda v: formats.value(v, metric, signed=True),
                                 interval=band.removeprefix("band: "), caption=band)


def _effect_charts(scene: Scene, rows: list[Row]) -> str:
    """One chart per primary goal and comparison (total rows), grouped by goal, on the dates of the scene."""
    goals = {g.name: g for g in (scene.analysis.goals if scene.analysis else [])}
    dates = sorted({str(r["dt"]) for r in rows})
    series: dict[str, dict[str, dict[str, Row]]] = {}
    metrics: dict[str, str] = {}
    for r in rows:
        if r.get("role") == "primary":
            series.setdefault(str(r["goal"]), {}).setdefault(str(r["comparison"]), {})[str(r["dt"])] = r
            metrics.setdefault(str(r["goal"]), str(r.get("metric_type") or ""))
    out = []
    for name in [g for g in goals if g in series] + sorted(g for g in series if g not in goals):
        goal, metric = goals.get(name), metrics[name]
        figures = "".join(_effect_chart(name, comparison, metric, by_date, dates, _level(goal, list(by_date.values())))
                          for comparison, by_date in series[name].items())
        unit = "percentage points" if metric in formats.PERCENT else metric
        out.append(f'<h3>{e(goal.display_name if goal else name)} <small class="muted"><code>{e(name)}</code> · '
                   f'{e(unit)}</small></h3><div class="charts">{figures}</div>')
    return "".join(out)


def _nowrap(html: str) -> str:
    return f'<span class="nowrap">{html}</span>'


def _under(text: str) -> str:
    """A note under a cell's value (an interval): small, on its own line."""
    return f'<br><small class="muted">{e(text)}</small>' if text else ""


def _range(low: Any, high: Any) -> str:
    return "" if low is None else f"[{formats.value(low, '')}, {formats.value(high, '')}]"


def _effect_row(r: Row) -> list[str]:
    metric = str(r.get("metric_type") or "")
    low, high, sequential = _band(r)
    goal = e(r.get("goal")) + (" " + pill("guardrail", "warn") if r.get("role") == "guardrail" else "")
    trusted = {True: "yes", False: _nowrap(pill("no: SRM", "fail")), None: "-"}[r.get("trusted")]
    lift = e(formats.lift(r.get("relative")))
    if r.get("rel_ci_low") is not None and r.get("rel_ci_high") is not None:
        lift += _under(f"[{formats.lift(r['rel_ci_low'])}, {formats.lift(r['rel_ci_high'])}]")
    cost = "-"
    per = r.get("cost_per_incremental")
    if per is not None:
        shown = f"{formats.value(per, '')} {r.get('currency') or ''}".strip() if math.isfinite(per) else "unbounded"
        cost = _nowrap(e(shown)) + _under(_range(r.get("cost_per_incremental_low"), r.get("cost_per_incremental_high")))
    incremental = e(formats.value(r.get("incremental"), "", signed=True))
    if r.get("incremental_low") is not None:
        incremental += _under(formats.interval(r["incremental_low"], r.get("incremental_high"), ""))
    users = _under(f"n = {r.get('n_treatment') or 0:,} / {r.get('n_baseline') or 0:,}")
    branch, _, arms = str(r.get("comparison")).partition(":")
    return [goal, e(f"{branch}:") + "<wbr>" + e(arms).replace("_vs_", "_vs_<wbr>") + users,
            e(formats.value(r.get("effect"), metric, signed=True)),
            _nowrap(e(formats.interval(low, high, metric))) + _under("always valid" if sequential else ""),
            lift, e("-" if r.get("q_value") is None else f"{r['q_value']:.3f}"),
            pill(r.get("status") or "?", "pass" if r.get("status") == "ok" else "warn"), trusted,
            pill("yes", "pass") if r.get("significant") else "no", incremental, cost]


def effects_section(scene: Scene, rows: list[Row]) -> str:
    """The scene page's "Effect over time": the charts of the primary goals and the latest date's table
    (guardrails too); ``rows``: the scene's total rows of ``effect_results``, oldest date first."""
    if not rows:
        why = ("the effect analysis has not run yet: no results for this scene" if scene.analysis
               else "no goals: the scene has no effect analysis")
        return charts.empty("effect over time", why)
    latest = max(str(r["dt"]) for r in rows)
    last = [r for r in rows if str(r["dt"]) == latest]
    last.sort(key=lambda r: (r.get("role") != "primary", str(r["goal"]), str(r["comparison"])))
    headers = ["goal", "comparison", "effect", "interval", "relative lift", "q-value", "status",
               "trusted", "significant", "incremental", "cost per incremental"]
    return (_effect_charts(scene, rows)
            + f'<p class="muted">Results of {e(latest)} (every goal and comparison, all users; n: treatment / '
              "baseline users whose window matured): effect = treatment - baseline (conversion goals in "
              "percentage points); the interval is the always-valid one where the goal is sequential; "
              "significant: the interval excludes 0 and q &le; alpha; untrusted: the sample-ratio check failed "
              "(SRM). Guardrails must not get worse.</p>"
            + table(headers, (_effect_row(r) for r in last), numeric=(2, 3, 4, 5, 9, 10)))
