"""The numbers of an Excel workbook's Summary sheet, read from the lakehouse tables (docs/exports.md).

For the audiences of an export, at snapshot date D:

* sizes and entered / exited keys per published date: ``audience_stats_<entity>`` (``size``,
  ``added``, ``removed``: the counts of ``audience_changes_<entity>`` that the audience job
  wrote with each date), for the last :data:`DAYS` published dates up to D, never later;
* the audience profile: ``audience_profile_<entity>`` of D (TGI per profiled tag value).

Both tables are read at the Delta version of their newest commit of D, as the selection reads
its tables (:func:`tagfactory.exports.select.pinned_version`): a backfill charts what was
published then. Only small aggregates reach the driver (at most DAYS rows per audience, and the
profile's value rows).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from tagfactory.contracts.tables import table_name
from tagfactory.exports.select import pinned_version
from tagfactory.exports.workbook_summary import DayPoint, SummarySeries, TgiBar

if TYPE_CHECKING:
    from tagfactory.compiler.manifest import Export
    from tagfactory.lakehouse.store import TableStore
    from tagfactory.settings import Settings

DAYS = 30


def read_summary(tables: TableStore, settings: Settings, export: Export, snapshot_date: dt.date,
                 days: int = DAYS) -> SummarySeries:
    """Sizes, moves and TGI bars of ``export``'s audiences up to ``snapshot_date`` (none for scenes).

    Raises:
        ExportError: the audience statistics have no published snapshot of ``snapshot_date``.
    """
    from pyspark.sql import functions as F

    audiences = tuple(export.what.audiences or ())
    if not audiences:
        return SummarySeries(audiences=())
    stats_uri = settings.table_uri(table_name("audience_stats", export.entity))
    stats = (tables.read(stats_uri, version=pinned_version(tables, stats_uri, snapshot_date))
             .where((F.col("dt") <= F.lit(snapshot_date)) & F.col("audience").isin(*audiences)))
    dates = [r["dt"] for r in stats.select("dt").distinct().orderBy(F.col("dt").desc()).limit(days).collect()]
    points: list[DayPoint] = []
    if dates:
        rows = stats.where(F.col("dt") >= F.lit(min(dates))).select("dt", "audience", "size", "added", "removed")
        points = [DayPoint(r["dt"], r["audience"], int(r["size"] or 0), int(r["added"] or 0), int(r["removed"] or 0))
                  for r in rows.collect()]
    bars: list[TgiBar] = []
    profile_uri = settings.table_uri(table_name("audience_profile", export.entity))
    if tables.version(profile_uri) is not None:
        profile = tables.read(profile_uri, version=pinned_version(tables, profile_uri, snapshot_date))
        wanted = profile.where((F.col("dt") == F.lit(snapshot_date)) & F.col("audience").isin(*audiences))
        bars = [TgiBar(r["audience"], r["tag"], "(null)" if r["value"] is None else str(r["value"]),
                       r["tgi"], r["share_in_audience"], r["share_in_population"])
                for r in wanted.select("audience", "tag", "value", "tgi", "share_in_audience",
                                       "share_in_population").collect()]
    return SummarySeries(audiences=audiences, days=tuple(sorted(points, key=lambda p: (p.day, p.audience))),
                         tgi=tuple(sorted(bars, key=lambda b: (b.audience, b.tag, b.value))))
