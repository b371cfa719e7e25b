"""The point-in-time cut of a source: what a snapshot of date D may read of it.

A source is read as of D: rows whose time is before D+1 00:00 (the session time zone) and, for
a partitioned source, partitions <= D. The profile query (:mod:`compile`: the ``population``
and ``pit_<source>`` CTEs, the scan filter of every fused aggregate) and SQL audiences
(:mod:`audience.sql`: each source they read becomes this cut) use the one definition here.
"""

from __future__ import annotations

from sqlglot import exp

from tagfactory.compiler.models import SourceSpec
from tagfactory.compiler.sqlbuild import and_all, col, day_offset, day_start, snapshot


def is_timestamp(source: SourceSpec, column: str) -> bool:
    """Whether ``column`` of ``source`` is declared ``timestamp`` (else a date)."""
    return source.column_specs()[column].type == "timestamp"


def before_next_day(source: SourceSpec) -> exp.Expr | None:
    """Rows whose time is before D+1 00:00 (and partition <= D); None for a source with neither."""
    conditions: list[exp.Expr | None] = []
    if source.time_column:
        bound = day_start(1) if is_timestamp(source, source.time_column) else day_offset(1)
        conditions.append(exp.LT(this=col(source.time_column), expression=bound))
    if source.partition_column:
        conditions.append(exp.LTE(this=col(source.partition_column), expression=snapshot()))
    return and_all(*conditions)


def point_in_time(source: SourceSpec) -> exp.Select:
    """``SELECT * FROM <source>`` cut to the snapshot's point in time."""
    query = exp.select(exp.Star()).from_(source.name)
    condition = before_next_day(source)
    return query.where(condition) if condition is not None else query
