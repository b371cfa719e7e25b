"""The effect results for people (``tagfactory effects``): read back without Spark (delta-rs).

:func:`render` prints one line per scene, goal, comparison (and slice with ``slices``): the arms'
users and means, the effect with its interval, the relative lift, the q-value, the always-valid
interval where the goal is sequential, and the cost per incremental conversion; flags say
``*`` significant (q <= alpha) and ``!`` untrusted (sample-ratio mismatch). :func:`effects_report`
reads a date of ``effect_results_<entity>`` (default: the latest) as text or JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from deltalake import DeltaTable

from tagfactory.analysis.formats import interval as _interval
from tagfactory.analysis.formats import lift as _lift
from tagfactory.analysis.formats import value as _num
from tagfactory.contracts.tables import table_name
from tagfactory.errors import WarehouseError
from tagfactory.lakehouse.delta import read_arrow
from tagfactory.settings import Settings


def _order(r: Mapping[str, Any]) -> tuple[str, int, str, str, str, str]:
    return (r["scene"], 0 if r.get("role") == "primary" else 1, r["goal"], r["comparison"],
            str(r.get("slice_tag") or ""), str(r.get("slice_value") or ""))


def render(rows: Sequence[Mapping[str, Any]], *, slices: bool = False) -> str:
    """The readable table of result rows (totals; slices too with ``slices``)."""
    chosen = sorted((r for r in rows if slices or r.get("slice_tag") is None), key=_order)
    if not chosen:
        return "no effect results"
    head = (f"{'scene':<14} {'goal':<22} {'comparison':<30} {'n t/b':>13} {'baseline':>9} {'treat.':>9} "
            f"{'effect':>9} {'95% interval':>22} {'lift':>7} {'q':>6} {'flags':<5} {'cost/incr.':>10}")
    lines = [head]
    for r in chosen:
        metric = r.get("metric_type") or ""
        name = r["comparison"] + (f" [{r['slice_tag']}={r['slice_value']}]" if r.get("slice_tag") else "")
        n = f"{r.get('n_treatment') or 0:,}/{r.get('n_baseline') or 0:,}"
        if r.get("status") == "no_users":
            lines.append(f"{r['scene']:<14} {r['goal']:<22} {name:<30} {n:>13}   (no matured users in an arm yet)")
            continue
        flags = ("*" if r.get("significant") else "") + ("!" if r.get("trusted") is False else "") + \
                ("~" if r.get("status") == "degenerate" else "")
        lift = _lift(r.get("relative"))
        q = "-" if r.get("q_value") is None else f"{r['q_value']:.3f}"
        cost = "-" if r.get("cost_per_incremental") is None else _num(r["cost_per_incremental"], "")
        interval = _interval(r.get("ci_low"), r.get("ci_high"), metric)
        lines.append(f"{r['scene']:<14} {r['goal']:<22} {name:<30} {n:>13} {_num(r.get('mean_baseline'), metric):>9} "
                     f"{_num(r.get('mean_treatment'), metric):>9} {_num(r.get('effect'), metric, signed=True):>9} "
                     f"{interval:>22} {lift:>7} {q:>6} {flags:<5} {cost:>10}")
        if r.get("seq_ci_low") is not None:
            lines.append(f"{'':<68} always valid {_interval(r['seq_ci_low'], r['seq_ci_high'], metric)}")
    sources = sorted({str(r["reach_source"]) for r in chosen if r.get("cost") is not None and r.get("reach_source")})
    lines.append("flags: * significant (q <= alpha), ! untrusted (sample-ratio mismatch), ~ degenerate; "
                 "n t/b: treatment/baseline users whose window matured"
                 + (f"; reach from {', '.join(sources)}" if sources else ""))
    return "\n".join(lines)


def load_results(settings: Settings, entity: str = "user", date: dt.date | None = None,
                 scene: str | None = None) -> tuple[dt.date, list[dict[str, Any]]]:
    """The rows of ``effect_results_<entity>`` of ``date`` (default: the latest), of one scene or all."""
    uri = settings.table_uri(table_name("effect_results", entity))
    if not DeltaTable.is_deltatable(uri):
        raise WarehouseError(f"no effect results at {uri}: run the effect analysis first "
                             "(jobs/analyze_effects.py --date D, the DAG's analyze_effects task)")
    table = DeltaTable(uri)
    dates = read_arrow(table, columns=["dt"]).column("dt").to_pylist()
    if not dates:
        raise WarehouseError(f"{uri} holds no results yet: run the effect analysis first")
    date = date or max(dates)
    if date not in set(dates):
        raise WarehouseError(f"no effect results for {date} in {uri}; dates with results: "
                             f"{', '.join(str(d) for d in sorted(set(dates))[-5:])}")
    filters: list[Any] = [("dt", "=", date)]
    if scene:
        filters.append(("scene", "=", scene))
    rows = read_arrow(table, filters=filters).to_pylist()
    if scene and not rows:
        known = sorted(str(s) for s in set(read_arrow(table, columns=["scene"], filters=[("dt", "=", date)])
                           .column("scene").to_pylist()))
        raise WarehouseError(f"no effect results for scene {scene!r} on {date}; scenes: {', '.join(known) or 'none'}")
    return date, rows


def effects_report(settings: Settings, entity: str = "user", date: dt.date | None = None, scene: str | None = None,
                   *, slices: bool = False, fmt: str = "text") -> str:
    """``tagfactory effects``: the results of a date as a table or JSON."""
    date, rows = load_results(settings, entity, date, scene)
    if fmt == "json":
        chosen = [{k: _plain(v) for k, v in r.items()} for r in
                  sorted((r for r in rows if slices or r.get("slice_tag") is None), key=_order)]
        return json.dumps({"date": date.isoformat(), "results": chosen}, default=_json, indent=1)
    where = settings.table_uri(table_name("effect_results", entity))
    return f"effects of {entity} as of {date} ({where}):\n" + render(rows, slices=slices)


def _plain(value: Any) -> Any:
    """Strict JSON: an unbounded cost ("inf") as a string, NaN as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
