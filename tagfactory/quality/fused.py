"""Building blocks of the fused pass shared by the planners and the evaluator.

The fused pass (:mod:`tagfactory.quality.metrics`) computes many expectations' metrics in one
``df.agg`` plus at most one grouped action. Here: the Spark type families the planners reason
about, quoted column references, the deduplicated aggregate list, the grouped counts, and a
planned check (a spec, its GX expectation and how to build GX's metrics for it).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tagfactory.quality.specs import ExpectationSpec

INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
NUMERIC = (*INTEGRAL, T.FloatType, T.DoubleType, T.DecimalType)
#: Column types GX's ``column.mean`` accepts on Spark (no byte/short).
MEAN_TYPES = (T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
ATOMIC = (*NUMERIC, T.StringType, T.BooleanType, T.DateType, T.TimestampType, T.TimestampNTZType)


def quoted_column(name: str) -> Column:
    """A reference to the column ``name`` exactly as in ``df.columns`` (backquoted)."""
    return F.col("`" + name.replace("`", "``") + "`")


class Metrics:
    """Aggregate expressions of the fused pass, deduplicated by key."""

    def __init__(self) -> None:
        self.columns: list[Column] = []
        self.alias: dict[Hashable, str] = {}

    def add(self, key: Hashable, make: Callable[[], Column]) -> str:
        if key not in self.alias:
            alias = f"_m{len(self.columns)}"
            self.alias[key] = alias
            self.columns.append(make().alias(alias))
        return self.alias[key]


@dataclass
class Grouped:
    """Results of the grouped action: duplicated rows per unique column, bin counts per drift key."""

    duplicated: dict[str, int] = field(default_factory=dict)
    bins: dict[Hashable, dict[str, int]] = field(default_factory=dict)


#: Builds GX's metrics dict for one expectation from the fused row and the grouped counts.
MetricsFn = Callable[[Mapping[Hashable, Any], Grouped], dict[str, Any]]


@dataclass
class Planned:
    """A spec evaluated here: its GX expectation and how to build GX's metrics for it."""

    spec: ExpectationSpec
    expectation: Any
    metrics: MetricsFn
