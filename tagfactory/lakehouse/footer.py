"""Delta file statistics from Parquet footers.

Delta readers skip files by the ``stats`` of each ``add`` action (numRecords, nullCount,
minValues, maxValues). Spark's Parquet writer leaves these in every file's footer; this module
reads only the footers (through parquet-mr in the JVM, no data pages) and turns them into Delta's
statistics JSON, as Delta Lake on Spark would write them: integers, floats, dates and strings get
bounds (strings cut to a :data:`STRING_STATS_PREFIX` prefix, which stays a valid lower bound but
not an upper bound), other types null counts only; nested fields are left out.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagfactory.lakehouse.paths import HadoopFs

# Delta Spark's default prefix length for string statistics.
STRING_STATS_PREFIX = 32

@dataclass
class _ColumnStats:
    """Statistics of one top-level column, accumulated over a file's row groups."""

    kind: str | None  # "int" | "float" | "date" | "string"; None: null counts only
    null_count: int | None = 0
    low: Any = None
    high: Any = None
    bounds_known: bool = True

    def add(self, stats: Any, rows: int) -> None:
        nulls: int | None = int(stats.getNumNulls())
        if nulls is not None and nulls < 0:  # parquet-mr reports -1 when the file has no count
            nulls = None
        self.null_count = (
            None if nulls is None or self.null_count is None else self.null_count + nulls
        )
        if self.kind is None:
            return
        if not stats.hasNonNullValue():
            # A chunk with values but without min/max leaves the bounds unknown.
            self.bounds_known &= nulls == rows
            return
        low = _stat_value(self.kind, stats.genericGetMin())
        high = _stat_value(self.kind, stats.genericGetMax())
        if low is None or high is None:
            self.bounds_known = False
            return
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)


def _stat_value(kind: str, raw: Any) -> Any:
    """A min/max from parquet-mr as a comparable Python value, or None if unusable."""
    if kind == "int":
        return int(raw)
    if kind == "float":
        value = float(raw)
        return value if math.isfinite(value) else None  # JSON has no NaN/Infinity
    if kind == "date":
        try:
            return date(1970, 1, 1) + timedelta(days=int(raw))
        except OverflowError:
            return None
    return str(raw.toStringUsingUTF8())


def _column_kind(primitive_type: Any) -> str | None:
    """Which Delta min/max we can derive from a Parquet column type (None: null counts only)."""
    physical = str(primitive_type.getPrimitiveTypeName().name())
    annotation = primitive_type.getLogicalTypeAnnotation()
    logical = None if annotation is None else str(annotation.toString())
    if physical in ("INT32", "INT64") and (
        logical is None or re.fullmatch(r"INTEGER\(\d+,true\)", logical)
    ):
        return "int"
    if physical == "INT32" and logical == "DATE":
        return "date"
    if physical in ("FLOAT", "DOUBLE") and logical is None:
        return "float"
    if physical == "BINARY" and logical == "STRING":
        return "string"
    return None  # booleans, decimals, timestamps, binary, nested


def footer_stats(fs: HadoopFs, uri: str, kinds: dict[str, str | None]) -> tuple[int, str]:
    """Row count and Delta stats JSON of one Parquet file, from its footer only."""
    parquet = fs.jvm.org.apache.parquet.hadoop
    reader = parquet.ParquetFileReader.open(
        parquet.util.HadoopInputFile.fromPath(fs.path(uri), fs.conf)
    )
    try:
        blocks = list(reader.getFooter().getBlocks())
    finally:
        reader.close()
    num_records = 0
    columns: dict[str, _ColumnStats] = {}
    for block in blocks:
        rows = int(block.getRowCount())
        num_records += rows
        for chunk in block.getColumns():
            column_path = chunk.getPath()
            if column_path.size() != 1:
                continue  # nested field: Delta nests its stats; we leave them out
            name = str(column_path.toDotString())
            if name not in kinds:
                kinds[name] = _column_kind(chunk.getPrimitiveType())
            columns.setdefault(name, _ColumnStats(kinds[name])).add(chunk.getStatistics(), rows)
    return num_records, stats_json(num_records, columns)


def stats_json(num_records: int, columns: dict[str, _ColumnStats]) -> str:
    null_count = {n: c.null_count for n, c in columns.items() if c.null_count is not None}
    bounded = {n: c for n, c in columns.items() if c.bounds_known and c.low is not None}
    min_values = {n: _json_bound(c.low, is_max=False) for n, c in bounded.items()}
    max_values = {n: _json_bound(c.high, is_max=True) for n, c in bounded.items()}
    stats = {
        "numRecords": num_records,
        "minValues": min_values,
        "maxValues": {n: v for n, v in max_values.items() if v is not None},
        "nullCount": null_count,
    }
    return json.dumps(stats, separators=(",", ":"), allow_nan=False)


def _json_bound(value: Any, *, is_max: bool) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > STRING_STATS_PREFIX:
        # A prefix is still a lower bound; it is not an upper bound, so the max is dropped.
        return None if is_max else value[:STRING_STATS_PREFIX]
    return value
