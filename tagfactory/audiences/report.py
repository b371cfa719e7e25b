"""The audience and scene tables for people: a run's summary (:func:`describe`) and, read back without
Spark (delta-rs), the published summaries and lookups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from deltalake import DeltaTable

from tagfactory.compiler.assemble import audience_tables
from tagfactory.errors import WarehouseError
from tagfactory.lakehouse.delta import read_arrow
from tagfactory.settings import Settings


def describe(summary: dict[str, Any]) -> str:
    """Human summary: audience sizes and day-over-day changes, scene counts."""
    width = max([28, *(len(r["audience"]) for r in summary.get("stats", []))])
    lines = [f"{'audience':<{width}} {'kind':<5} {'size':>9} {'prev':>9} {'+added':>8} {'-removed':>9} {'change':>7}"]
    for r in summary.get("stats", []):
        prev = "-" if r["previous_size"] is None else f"{r['previous_size']:,}"
        change = "-" if r["change"] is None else f"{r['change']:.1%}"
        lines.append(f"{r['audience']:<{width}} {r['kind']:<5} {r['size']:>9,} {prev:>9} {r['added']:>8,} "
                     f"{r['removed']:>9,} {change:>7}")
    for scene, counts in sorted(summary.get("scenes", {}).items()):
        total = sum(c["users"] for c in counts)
        lines.append(f"scene {scene}: {total:,} users assigned")
        for c in sorted(counts, key=lambda c: (c["branch"], c["group"], c["variant"] or "")):
            variant = f" variant {c['variant']}" if c["variant"] else ""
            lines.append(f"  {c['branch']:<20} {c['group']:<9}{variant:<12} {c['users']:>9,}")
    return "\n".join(lines)


def _table(settings: Settings, name: str) -> DeltaTable:
    uri = settings.table_uri(name)
    if not DeltaTable.is_deltatable(uri):
        raise WarehouseError(f"no Delta table at {uri}: run `tagfactory audiences --date D` first")
    return DeltaTable(uri)


def _latest(table: DeltaTable) -> dt.date | None:
    dates = read_arrow(table, columns=["dt"]).column("dt").to_pylist()
    return max(dates) if dates else None


def audience_summary(settings: Settings, entity: str = "user", date: dt.date | None = None) -> str:
    """Sizes and day-over-day changes of every audience, and per-branch scene counts, for a date."""
    names = audience_tables(entity)
    stats = _table(settings, names["audience_stats"])
    date = date or _latest(stats)
    if date is None:
        return "no audience snapshot published yet"
    rows = read_arrow(stats, filters=[("dt", "=", date)]).to_pylist()
    scenes: dict[str, list[dict[str, Any]]] = {}
    uri = settings.table_uri(names["scene_stats"])
    if DeltaTable.is_deltatable(uri):
        for r in read_arrow(DeltaTable(uri), filters=[("dt", "=", date)]).to_pylist():
            scenes.setdefault(r["scene"], []).append(r)
    order = {r["audience"]: i for i, r in enumerate(sorted(rows, key=lambda r: r["audience"]))}
    rows.sort(key=lambda r: order[r["audience"]])
    head = f"audiences of {entity} on {date} ({settings.table_uri(names['audience_stats'])}):"
    return head + "\n" + describe({"stats": rows, "scenes": scenes})


def lookup(settings: Settings, key: str, entity: str = "user", date: dt.date | None = None) -> str:
    """What one entity gets on a date: its audiences and, for every scene, branch, group and payload."""
    names = audience_tables(entity)
    members = _table(settings, names["audience_members"])
    date = date or _latest(_table(settings, names["audience_stats"]))  # one row per audience and day
    if date is None:
        return "no audience snapshot published yet"
    key_column = [f.name for f in members.schema().fields if f.name not in ("audience", "dt")][0]
    auds = read_arrow(members, filters=[("dt", "=", date), (key_column, "=", key)]).column("audience")
    lines = [f"{key_column} {key} on {date}: member of {', '.join(sorted(auds.to_pylist())) or 'no audience'}"]
    uri = settings.table_uri(names["scene_assignments"])
    if DeltaTable.is_deltatable(uri):
        rows = read_arrow(DeltaTable(uri), filters=[("dt", "=", date), (key_column, "=", key)]).to_pylist()
        for r in sorted(rows, key=lambda r: r["scene"]):
            variant = f", variant {r['variant']}" if r["variant"] else ""
            lines.append(f"  scene {r['scene']}: branch {r['branch']}, {r['group']}{variant}, payload {r['payload'] or '-'}")
        if not rows:
            lines.append("  no scene assigns it")
    return "\n".join(lines)
