"""How the values of a column are binned for the PSI expectation in the fused pass."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tagfactory.quality.fused import INTEGRAL, NUMERIC
from tagfactory.quality.psi import PSI_OTHER_BIN, PSI_TYPE, shares
from tagfactory.quality.specs import ExpectationSpec, Severity

__all__ = ["DriftBins"]


@dataclass(frozen=True)
class DriftBins:
    """How the values of one column are binned for ``expect_column_psi_to_be_less_than``.

    Categorical (``edges`` is ``None``): a value's bin is ``str(value)`` (``"True"``/``"False"``
    for booleans, ISO ``YYYY-MM-DD`` for dates) when that is a key of ``reference``, else
    ``"__other__"`` (:data:`tagfactory.quality.psi.PSI_OTHER_BIN`) -- exactly what the GX expectation does on a
    column of labels. String, integer, boolean and date columns can be binned this way.

    Numeric (``edges`` given, strictly increasing): ``n`` edges make ``n + 1`` bins labelled
    ``"b0"`` .. ``"bn"``: ``b0`` is ``value < edges[0]``, ``bi`` is
    ``edges[i-1] <= value < edges[i]``, ``bn`` is ``value >= edges[-1]`` (NaN falls in ``bn``);
    the label is ``"b" + str(bisect.bisect_right(edges, value))``. Any numeric column.

    Nulls are in no bin: the observed distribution is that of the non-null values, as in GX's
    ``column.value_counts``. PSI itself is :func:`tagfactory.quality.psi.population_stability_index` of the
    observed bin counts against ``reference`` (bins empty on either side floored at
    ``PSI_EPSILON``).

    Attributes:
        reference: Bin label -> share (or count) in the reference data. It must equal the PSI
            expectation's own ``reference`` argument (:meth:`spec` builds a matching spec).
        edges: Bin edges for a numeric column, ``None`` for a categorical one. A list is
            accepted and stored as a tuple.
    """

    reference: Mapping[str, float]
    edges: Sequence[float] | None = None
    _labels: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reference = {str(k): float(v) for k, v in self.reference.items()}
        if not reference or sum(reference.values()) <= 0 or min(reference.values()) < 0:
            raise ValueError("reference must map bins to non-negative shares with a positive sum")
        object.__setattr__(self, "reference", reference)
        if self.edges is None:
            object.__setattr__(self, "_labels", tuple(reference))
            return
        edges = tuple(float(e) for e in self.edges)
        if not edges or not all(math.isfinite(e) for e in edges):
            raise ValueError("edges must be a non-empty list of finite numbers")
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError(f"edges must be strictly increasing: {list(edges)}")
        labels = tuple(f"b{i}" for i in range(len(edges) + 1))
        unknown = sorted(set(reference) - set(labels))
        if unknown:
            raise ValueError(
                f"reference bins {unknown} are not bins of these edges ({labels[0]}..{labels[-1]})"
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "_labels", labels)

    @property
    def numeric(self) -> bool:
        """True for numeric bins (``edges`` given)."""
        return self.edges is not None

    @property
    def labels(self) -> tuple[str, ...]:
        """The bins: ``b0`` .. ``bn`` for numeric bins, the reference keys otherwise."""
        return self._labels

    def spec(
        self,
        column: str,
        threshold: float,
        *,
        severity: Severity = "warn",
        name: str = "",
        meta: dict[str, Any] | None = None,
    ) -> ExpectationSpec:
        """A PSI expectation on ``column`` whose ``reference`` is this one's."""
        return ExpectationSpec(
            PSI_TYPE,
            {"column": column, "reference": dict(self.reference), "threshold": threshold},
            severity,
            name,
            dict(meta or {}),
        )

    def label_column(self, column: Column, data_type: T.DataType) -> Column | None:
        """The Spark expression of each row's bin (null for null values), ``None`` if unsupported."""
        if self.edges is not None:
            if not isinstance(data_type, NUMERIC):
                return None
            index = functools.reduce(
                operator.add, [F.when(column >= F.lit(e), 1).otherwise(0) for e in self.edges]
            )
            return F.when(column.isNull(), F.lit(None)).otherwise(
                F.concat(F.lit("b"), index.cast("string"))
            )
        if isinstance(data_type, T.StringType):
            text = column
        elif isinstance(data_type, (*INTEGRAL, T.DateType)):
            text = column.cast("string")  # the same text as Python's str() of the value
        elif isinstance(data_type, T.BooleanType):
            text = F.when(column, F.lit("True")).otherwise(F.lit("False"))
        else:
            return None  # str() of floats, timestamps, ... differs between Python and Spark
        return (
            F.when(column.isNull(), F.lit(None))
            .when(text.isin(list(self.reference)), text)
            .otherwise(F.lit(PSI_OTHER_BIN))
        )

    def matches(self, reference: Mapping[str, Any]) -> bool:
        """Whether ``reference`` has the same bins and shares (after normalising both)."""
        mine = shares(self.reference)
        theirs = shares(reference)
        return set(mine) == set(theirs) and all(
            math.isclose(mine[k], theirs[k], rel_tol=1e-9, abs_tol=1e-12) for k in mine
        )
