"""The ``audience_stats`` rows: each audience's size, its change since the previous snapshot, list misses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tagfactory.compiler.manifest import Audience


def member_counts(today: DataFrame) -> dict[str, int]:
    """Members of each audience (audiences without members are absent)."""
    return {r["audience"]: int(r["n"]) for r in today.groupBy("audience").agg(F.count("*").alias("n")).collect()}


def change_counts(changes: DataFrame) -> dict[tuple[str, str], int]:
    """Rows of each (audience, ``entered`` / ``exited``) in the change records."""
    moves: dict[tuple[str, str], int] = {}
    for r in changes.groupBy("audience", "change").count().collect():
        moves[(r["audience"], r["change"])] = int(r["count"])
    return moves


def list_unknown(lists: DataFrame | None, profile: DataFrame, key: str) -> dict[str, int]:
    """Identifiers of each list audience that are not in the profile snapshot."""
    if lists is None:
        return {}
    keys = profile.select(F.col(key).cast("string").alias(key))
    rows = lists.join(keys, key, "left_anti").groupBy("audience").count().collect()
    return {r["audience"]: int(r["count"]) for r in rows}


def stats_rows(audiences: Sequence[Audience], sizes: dict[str, int], moves: dict[tuple[str, str], int],
               unknown: dict[str, int], previous_dt: dt.date | None,
               previous_sizes: dict[str, int]) -> list[dict[str, Any]]:
    """One stats row per audience; ``change`` is ``|size - previous size| / previous size``."""
    rows = []
    for a in audiences:
        size = sizes.get(a.name, 0)
        prev_size = previous_sizes.get(a.name) if previous_dt else None
        change = abs(size - prev_size) / prev_size if prev_size else None
        rows.append({
            "audience": a.name, "kind": a.kind, "size": size, "previous_dt": previous_dt,
            "previous_size": prev_size, "added": moves.get((a.name, "entered"), 0),
            "removed": moves.get((a.name, "exited"), 0), "change": change,
            "list_unknown": unknown.get(a.name) if a.kind == "list" else None,
        })
    return rows
