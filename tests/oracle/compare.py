"""Compare a published profile (read back with delta-rs) with the pandas oracle's, tag by tag."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd


def is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def same(value_type: str, spark_value: Any, oracle_value: Any) -> bool:
    """Whether a published value equals the oracle's for a tag of ``value_type``."""
    if is_null(spark_value) or is_null(oracle_value):
        return is_null(spark_value) and is_null(oracle_value)
    if value_type == "double":
        return math.isclose(float(spark_value), float(oracle_value), rel_tol=1e-9, abs_tol=1e-9)
    if value_type == "array<string>":
        return list(spark_value) == list(oracle_value)
    if value_type == "date":
        to_date = lambda v: v if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else pd.Timestamp(v).date()  # noqa: E731
        return to_date(spark_value) == to_date(oracle_value)
    if value_type == "integer":
        return int(spark_value) == int(oracle_value)
    if value_type == "boolean":
        return bool(spark_value) == bool(oracle_value)
    return str(spark_value) == str(oracle_value)


def mismatches(published: pd.DataFrame, expected: pd.DataFrame, tags: dict[str, str]) -> list[str]:
    """One line per tag (name -> type) whose values differ between the two frames (both indexed by
    key, ``published``'s population), with a first differing key."""
    out: list[str] = []
    for name, value_type in tags.items():
        got = published[name]
        want = expected[name].reindex(published.index)
        bad = [uid for uid in published.index if not same(value_type, got[uid], want[uid])]
        if bad:
            uid = bad[0]
            out.append(f"{name} ({value_type}): {len(bad)} users differ, e.g. {uid}: "
                       f"spark={got[uid]!r} oracle={want[uid]!r}")
    return out
