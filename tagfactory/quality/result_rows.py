"""Great Expectations suite results flattened into rows (one per expectation) for tables."""

from __future__ import annotations

import json
from typing import Any

from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.util import convert_to_json_serializable

from tagfactory.quality.specs import spec_from_result

__all__ = ["rows_from_result"]


def rows_from_result(
    result: ExpectationSuiteValidationResult, *, run_id: str, dt: str, dataset: str
) -> list[dict[str, Any]]:
    """Flatten a suite validation result into one row per expectation.

    Args:
        result: A suite validation result.
        run_id: Our run id (e.g. the Airflow run id).
        dt: Snapshot date, ``YYYY-MM-DD``.
        dataset: Dataset the result is about.

    Returns:
        Rows with keys ``run_id``, ``dt``, ``dataset``, ``expectation`` (spec name),
        ``expectation_type``, ``column``, ``severity``, ``success``, ``observed_value`` (a JSON
        string; ``"null"`` when GX reports none), ``unexpected_count``, ``unexpected_percent``,
        ``element_count`` (``None`` when the expectation reports no such value).
    """
    rows = []
    for evr in result.results:
        spec = spec_from_result(evr)
        details = evr.result or {}
        rows.append(
            {
                "run_id": run_id,
                "dt": dt,
                "dataset": dataset,
                "expectation": spec.name,
                "expectation_type": spec.type,
                "column": spec.column,
                "severity": spec.severity,
                "success": bool(evr.success),
                "observed_value": json.dumps(
                    convert_to_json_serializable(details.get("observed_value")), sort_keys=True
                ),
                "unexpected_count": _as_int(details.get("unexpected_count")),
                "unexpected_percent": _as_float(details.get("unexpected_percent")),
                "element_count": _as_int(details.get("element_count")),
            }
        )
    return rows


def _as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
