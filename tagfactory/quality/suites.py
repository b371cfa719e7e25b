"""Expectation suites of the gate, generated from the compiled manifest.

Three suites per entity and date:

* ``sources.<source>``: before the build, on the source rows the snapshot reads for date D
  (the ``dt=D`` partition of a partitioned source, the whole table otherwise): freshness (the
  partition exists and is not empty), entity key not null, declared expectations;
* ``profile_<entity>``: after the build, on the staged snapshot: key not null and unique, enum
  tags within their values, booleans, declared ranges and coverage minimums, declared
  expectations, and checks against the previous snapshot (row-count change, coverage drop,
  distribution drift as PSI).

Checks against the previous snapshot are ordinary expectations whose bounds come from it (a
row-count change of at most 30% is ``expect_table_row_count_to_be_between`` with bounds 0.7 and
1.3 times yesterday's count), so Great Expectations stays the format of every check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tagfactory.compiler.expectations import validated_kwargs
from tagfactory.compiler.manifest import Entity, Source, Tag
from tagfactory.compiler.quality import ExpectationDecl
from tagfactory.quality.gx_bridge import ExpectationSpec
from tagfactory.quality.psi import PSI_TYPE


@dataclass
class Reference:
    """What the gate knows about the previous published snapshot of an entity.

    Attributes:
        dt: Its date (ISO).
        rows: Its row count.
        coverage: Tag -> share of non-null values.
        distributions: Tag -> {bin label: share} (categorical values, or numeric bins).
        edges: Numeric tag -> sorted bin edges the distribution was measured with.
    """

    dt: str
    rows: int
    coverage: dict[str, float] = field(default_factory=dict)
    distributions: dict[str, dict[str, float]] = field(default_factory=dict)
    edges: dict[str, list[float]] = field(default_factory=dict)


def _declared(decls: Sequence[ExpectationDecl], default_column: str | None, prefix: str) -> list[ExpectationSpec]:
    out = []
    for i, decl in enumerate(decls):
        kwargs = dict(decl.kwargs)
        if default_column and "column" not in kwargs and decl.type.startswith("expect_column"):
            kwargs["column"] = default_column
        # declared kwargs come from definitions: the compiler's typed models, checked again here
        kwargs = validated_kwargs(decl.type, kwargs)
        name = decl.name or f"{prefix}.declared_{i}.{decl.type.removeprefix('expect_')}"
        out.append(ExpectationSpec(decl.type, kwargs, decl.severity, name, {"origin": "declared"}))
    return out


def profile_specs(entity: Entity, reference: Reference | None = None) -> list[ExpectationSpec]:
    """Every expectation of an entity's staged profile snapshot."""
    key = entity.key
    quality = entity.quality
    gen = {"origin": "generated"}
    specs = [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": key}, "error", f"{key}.not_null", gen),
        ExpectationSpec("expect_column_values_to_be_unique", {"column": key}, "error", f"{key}.unique", gen),
        ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 1}, "error", "table.not_empty", gen),
    ]
    change = quality.max_row_count_change
    if reference is not None and change:
        specs.append(ExpectationSpec(
            "expect_table_row_count_to_be_between",
            {"min_value": math.floor(reference.rows * max(0.0, 1 - change)),
             "max_value": math.ceil(reference.rows * (1 + change))},
            quality.row_count_severity, "table.row_count_change",
            {"origin": "previous", "previous_dt": reference.dt, "previous_rows": reference.rows, "max_change": change}))
    specs += _declared(quality.expectations, None, "table")
    for tag in entity.tags:
        specs += tag_specs(tag, reference)
    return specs


def tag_specs(tag: Tag, reference: Reference | None = None) -> list[ExpectationSpec]:
    """The expectations of one tag column."""
    name, typ = tag.name, tag.type
    q = tag.quality
    gen = {"origin": "generated"}
    out: list[ExpectationSpec] = []
    if typ == "enum" and tag.values:
        out.append(ExpectationSpec("expect_column_values_to_be_in_set", {"column": name, "value_set": tag.values},
                                   "error", f"{name}.in_allowed_values", gen))
    if typ == "boolean":
        out.append(ExpectationSpec("expect_column_values_to_be_in_set", {"column": name, "value_set": [True, False]},
                                   "error", f"{name}.boolean", gen))
    rng = q.range
    if rng is not None:
        kwargs: dict[str, Any] = {"column": name}
        if rng.min is not None:
            kwargs["min_value"] = rng.min
        if rng.max is not None:
            kwargs["max_value"] = rng.max
        if rng.mostly < 1.0:
            kwargs["mostly"] = rng.mostly
        out.append(ExpectationSpec("expect_column_values_to_be_between", kwargs, rng.severity,
                                   f"{name}.range", {"origin": "declared"}))
    if q.coverage_min is not None:
        out.append(ExpectationSpec("expect_column_values_to_not_be_null", {"column": name, "mostly": q.coverage_min},
                                   q.coverage_severity, f"{name}.coverage", {"origin": "declared"}))
    if reference is not None and q.max_coverage_drop and name in reference.coverage:
        floor = reference.coverage[name] - q.max_coverage_drop
        if floor > 0:
            out.append(ExpectationSpec(
                "expect_column_values_to_not_be_null", {"column": name, "mostly": round(min(floor, 1.0), 6)},
                q.coverage_severity, f"{name}.coverage_drop",
                {"origin": "previous", "previous_dt": reference.dt, "previous_coverage": reference.coverage[name]}))
    drift = q.drift
    if reference is not None and drift is not None and name in reference.distributions:
        out.append(ExpectationSpec(
            PSI_TYPE, {"column": name, "reference": reference.distributions[name], "threshold": drift.psi_max},
            drift.severity, f"{name}.drift",
            {"origin": "previous", "previous_dt": reference.dt, "edges": reference.edges.get(name)}))
    out += _declared(q.expectations, name, name)
    return out


def source_specs(source: Source, key: str | None = None) -> list[ExpectationSpec]:
    """The expectations of a source's rows for the snapshot date."""
    q = source.quality
    name = source.name
    out: list[ExpectationSpec] = []
    if q.freshness and source.partition_column:
        out.append(ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": max(1, q.min_rows or 1)},
                                   q.freshness_severity, f"{name}.fresh_partition",
                                   {"origin": "generated", "check": "freshness"}))
    elif q.min_rows:
        out.append(ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": q.min_rows}, "error",
                                   f"{name}.min_rows", {"origin": "declared"}))
    entity_key = source.entity_key or key
    if entity_key:
        out.append(ExpectationSpec("expect_column_values_to_not_be_null", {"column": entity_key}, "error",
                                   f"{name}.{entity_key}.not_null", {"origin": "generated"}))
    for column in source.columns:
        if column.type == "enum" and column.values:
            out.append(ExpectationSpec("expect_column_values_to_be_in_set",
                                       {"column": column.name, "value_set": column.values}, "error",
                                       f"{name}.{column.name}.in_declared_values", {"origin": "generated"}))
    out += _declared(q.expectations, None, name)
    return out
