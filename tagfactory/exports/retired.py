"""Cleaning the outlets of a retired export after its retention (docs/exports.md, "Registry and consumption").

A ``lifecycle: retired`` export delivers nothing (:func:`tagfactory.exports.job.due_exports`), so
the retention that each delivery applies stops with it. ``tagfactory export --date D`` (every
export) or ``--export <retired>`` calls :func:`clean_retired` instead:

* file drops (layout ``run``) and workbooks: every ``dt=`` folder older than ``retention.days``
  before D is removed, the one ``_LATEST`` points at included (a retired export has no current
  drop to keep), and then ``_LATEST`` itself;
* Hive tables: the partitions older than the retention are dropped and their folders deleted
  (:func:`tagfactory.exports.hive.remove_expired`); the (empty) table stays for its owner to drop;
* Kafka topics and flat drops: nothing is deleted (messages expire by the topic's ``retention.ms``;
  a flat drop has no dates): reported.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from tagfactory.compiler.export_models import ExcelDestination, FilesDestination, HiveDestination
from tagfactory.progress import log

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.compiler.manifest import Export
    from tagfactory.settings import Settings

LATEST = "_LATEST"


def needs_cleaning(export: Export) -> bool:
    """Whether a retired export has outlets that retention could clean (drops, workbooks, Hive)."""
    return any(isinstance(d, ExcelDestination | HiveDestination)
               or (isinstance(d, FilesDestination) and d.layout == "run") for d in export.destinations)


def clean_retired(spark: SparkSession, settings: Settings, export: Export, today: dt.date) -> dict[str, list[str]]:
    """Remove what a retired export left past its retention; returns destination -> removed names."""
    from tagfactory.exports import files, hive
    from tagfactory.exports.hadoopfs import DropFs

    days = export.retention.days
    oldest = today - dt.timedelta(days=days)
    removed: dict[str, list[str]] = {}
    for dest in export.destinations:
        if isinstance(dest, FilesDestination | ExcelDestination) and getattr(dest, "layout", "run") == "run":
            root = settings.export_uri(dest.path)
            gone = files.remove_expired(spark, root, days, today)
            fs = DropFs(spark, root)
            pointed = (fs.read_text(f"{fs.root}/{LATEST}") or "").strip().split("/", 1)[0]
            date = _date_of(pointed)
            if date is not None and date < oldest:
                fs.delete(f"{fs.root}/{pointed}")
                fs.delete(f"{fs.root}/{LATEST}", recursive=False)
                gone.append(pointed)
            removed[dest.name] = gone
        elif isinstance(dest, HiveDestination):
            removed[dest.name] = hive.remove_expired(spark, dest, settings.hive.location_root, days, today)
        else:
            log(f"export {export.name} (retired) -> {dest.name}: nothing to delete ("
                + ("messages expire by the topic's retention" if dest.kind == "kafka" else "a flat drop has no dates")
                + ")")
            continue
        log(f"export {export.name} (retired) -> {dest.name}: removed {len(removed[dest.name])} dates older than "
            f"{oldest} (retention {days} days)")
    return removed


def _date_of(folder: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(folder[3:]) if folder.startswith("dt=") else None
    except ValueError:
        return None
