"""Print a published snapshot without Spark (delta-rs reads the Delta log and files)."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
from deltalake import DeltaTable

from tagfactory.compiler.assemble import profile_table, stats_table
from tagfactory.errors import WarehouseError
from tagfactory.lakehouse.delta import read_arrow
from tagfactory.settings import Settings


def show_snapshot(settings: Settings, entity: str, snapshot_date: dt.date | None, limit: int = 5) -> str:
    """A human-readable summary of one snapshot of an entity's profile table."""
    import pandas as pd

    uri = settings.table_uri(profile_table(entity))
    try:
        table = DeltaTable(uri)
    except Exception:  # delta-rs raises TableNotFoundError and friends
        raise WarehouseError(f"no Delta table at {uri}: build a snapshot first (`tagfactory build --date ...`)") from None
    if snapshot_date is None:
        dates = read_arrow(table, columns=["dt"]).column("dt")
        if len(dates) == 0:
            return f"{uri}: the table is empty"
        snapshot_date = pc.max(dates).as_py()
    data = read_arrow(table, filters=[("dt", "=", snapshot_date)])
    lines = [
        f"profile table : {uri}",
        f"delta version : {table.version()}  (history: {len(table.history())} commits)",
        f"snapshot      : dt={snapshot_date}: {data.num_rows:,} rows x {data.num_columns - 2} tags",
    ]
    frame = data.slice(0, limit).to_pandas()
    with pd.option_context("display.width", 160, "display.max_columns", 10, "display.max_colwidth", 24):
        lines += ["", f"sample rows (first {limit}, first columns):", frame.iloc[:, :10].to_string(index=False)]
    stats_uri = settings.table_uri(stats_table(entity))
    try:
        stats = read_arrow(DeltaTable(stats_uri), filters=[("dt", "=", snapshot_date)]).to_pandas()
    except Exception:
        stats = None
    if stats is not None and len(stats):
        low = stats.sort_values("coverage").head(5)[["tag", "coverage", "approx_distinct", "min_value", "max_value"]]
        lines += ["", f"tag statistics ({stats_uri}); lowest coverage:", low.to_string(index=False)]
    return "\n".join(lines)
