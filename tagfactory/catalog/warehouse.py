"""What the catalog reads from the warehouse: the Delta tables the pipeline writes, with delta-rs (no Spark).

A table that does not exist yet is simply empty, so the catalog builds on a fresh checkout with
no warehouse. Only the last ``snapshots`` dates of each table are kept (tag statistics, audience
sizes, quality results); the audience profiles and scene counts of the latest date only; the
newest receipts of every export; the effect results (the cumulative daily series of each scene's
goals and comparisons) of the last ``EFFECT_DATES`` dates, their total rows only (no slices).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagfactory.compiler.manifest import Manifest
from tagfactory.contracts.tables import RECEIPTS_TABLE, RESULTS_TABLE, table_name
from tagfactory.settings import Settings

Row = dict[str, Any]
RECEIPTS_PER_EXPORT = 50
EFFECT_DATES = 60


@dataclass
class Warehouse:
    """Rows of the warehouse tables, grouped by the object whose page shows them."""

    tag_stats: dict[str, list[Row]] = field(default_factory=dict)  # tag -> rows, oldest first
    quality: list[Row] = field(default_factory=list)  # newest dates first
    audience_stats: dict[str, list[Row]] = field(default_factory=dict)  # audience -> rows, oldest first
    audience_profile: dict[str, list[Row]] = field(default_factory=dict)  # audience -> latest date's rows
    scene_stats: dict[str, list[Row]] = field(default_factory=dict)  # scene -> latest date's rows
    receipts: dict[str, list[Row]] = field(default_factory=dict)  # export -> rows, newest first
    # scene -> total rows (slice_tag null) of effect_results_<entity>, oldest date first
    effect_results: dict[str, list[Row]] = field(default_factory=dict)
    freshness: dict[str, list[str]] = field(default_factory=dict)  # source -> partition dates, newest first
    tables_read: list[str] = field(default_factory=list)  # tables that exist (for the build summary)
    _by_key: dict[tuple[str, str | None], list[Row]] = field(default_factory=dict, repr=False)

    def quality_by(self, dataset: str, column: str | None = None) -> list[Row]:
        """Every quality row of ``dataset`` (and ``column``), newest date first (indexed on first use)."""
        if not self._by_key:
            for row in self.quality:
                self._by_key.setdefault((str(row.get("dataset")), None), []).append(row)
                self._by_key.setdefault((str(row.get("dataset")), row.get("column")), []).append(row)
            self._by_key[("", None)] = []  # indexed, even when empty
        return self._by_key.get((dataset, column), [])

    def quality_of(self, dataset: str, column: str | None = None) -> list[Row]:
        """Quality rows of ``dataset`` (and ``column``) of the latest audited date, newest run first."""
        mine = self.quality_by(dataset, column)
        if not mine:
            return []
        latest = max(str(r.get("dt")) for r in mine)
        return [r for r in mine if str(r.get("dt")) == latest]


def _read(settings: Settings, name: str, columns: list[str] | None = None,
          filters: list[Any] | None = None) -> list[Row] | None:
    """Rows of the warehouse table ``name`` (None: the table does not exist)."""
    from tagfactory.lakehouse.paths import TableLocation
    from tagfactory.lakehouse.reads import load_table, read_arrow

    table = load_table(TableLocation.parse(settings.table_uri(name)), None)
    if table is None:
        return None
    rows: list[Row] = read_arrow(table, columns=columns, filters=filters).to_pylist()
    return rows


def _last_dates(settings: Settings, name: str, n: int) -> list[dt.date] | None:
    """The newest ``n`` distinct ``dt`` values of a table (None: no table), from its partition values."""
    from tagfactory.lakehouse.paths import TableLocation
    from tagfactory.lakehouse.reads import load_table, read_arrow

    table = load_table(TableLocation.parse(settings.table_uri(name)), None)
    if table is None:
        return None
    if "dt" in table.metadata().partition_columns:
        values = {p.get("dt") for p in table.partitions()}
        dates = {dt.date.fromisoformat(v) for v in values if v}
    else:
        dates = {d for d in read_arrow(table, columns=["dt"]).column("dt").to_pylist() if d is not None}
    return sorted(dates, reverse=True)[:n]


def _recent(settings: Settings, name: str, n: int) -> list[Row] | None:
    dates = _last_dates(settings, name, n)
    if dates is None:
        return None
    if not dates:
        return []
    return _read(settings, name, filters=[("dt", ">=", min(dates))])


def _group(rows: Iterable[Row], key: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(str(row[key]), []).append(row)
    return out


def read_warehouse(settings: Settings, manifest: Manifest, snapshots: int = 30) -> Warehouse:
    """Read every table the catalog shows; missing tables are empty."""
    out = Warehouse()

    def note(name: str, rows: list[Row] | None) -> list[Row]:
        if rows is not None:
            out.tables_read.append(name)
        return rows or []

    for entity in manifest.entities:
        stats = note(entity.stats_table, _recent(settings, entity.stats_table, snapshots))
        for tag, rows in _group(stats, "tag").items():
            out.tag_stats[tag] = sorted(rows, key=lambda r: r["dt"])
        names = entity.audience_tables
        sizes = note(names["audience_stats"], _recent(settings, names["audience_stats"], snapshots))
        for audience, rows in _group(sizes, "audience").items():
            out.audience_stats[audience] = sorted(rows, key=lambda r: r["dt"])
        for kind, target in (("audience_profile", out.audience_profile), ("scene_stats", out.scene_stats)):
            rows = note(names[kind], _recent(settings, names[kind], 1))
            target.update(_group(rows, "audience" if kind == "audience_profile" else "scene"))
        effects = table_name("effect_results", entity.name)
        totals = [r for r in note(effects, _recent(settings, effects, EFFECT_DATES)) if r.get("slice_tag") is None]
        for scene, rows in _group(totals, "scene").items():
            out.effect_results[scene] = sorted(rows, key=lambda r: (r["dt"], r.get("role") != "primary",
                                                                    str(r["goal"]), str(r["comparison"])))
        for source in entity.sources:
            dates = _partitions(settings, source.path, source.partition_column)
            if dates:
                out.freshness[source.name] = dates
    quality = note(RESULTS_TABLE, _recent(settings, RESULTS_TABLE, snapshots))
    out.quality = sorted(quality, key=lambda r: (str(r.get("dt")), str(r.get("recorded_at") or "")), reverse=True)
    receipts = note(RECEIPTS_TABLE, _read(settings, RECEIPTS_TABLE))
    for export, rows in _group(receipts, "export").items():
        rows.sort(key=lambda r: r.get("finished_at") or dt.datetime.min, reverse=True)
        out.receipts[export] = rows[:RECEIPTS_PER_EXPORT]
    return out


def _partitions(settings: Settings, path: str, column: str | None) -> list[str]:
    """Partition dates of a local source folder (``<column>=YYYY-MM-DD`` sub-folders), newest first.

    Only local sources are listed (a folder listing is cheap there); other stores show no freshness.
    """
    if column is None:
        return []
    try:
        uri = settings.source_uri(path)
    except Exception:  # noqa: BLE001 - an unlisted source only loses its freshness line
        return []
    folder = Path(uri.removeprefix("file://"))
    if "://" in uri and not uri.startswith("file://") or not folder.is_dir():
        return []
    prefix = f"{column}="
    dates = [p.name[len(prefix):] for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix)]
    return sorted(dates, reverse=True)


def parse_json(text: Any) -> Any:
    """A JSON column's value (None when empty or not JSON)."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
