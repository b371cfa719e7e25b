"""Great Expectations results built from outcomes computed outside GX.

:func:`result_from_outcomes` turns ``(spec, success, result)`` outcomes (for example those of one
fused Spark pass, :mod:`tagfactory.quality.metrics`) into real GX result objects, so they render
in Data Docs exactly like results of a real GX run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import great_expectations as gx
from great_expectations.core import (
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.util import convert_to_json_serializable
from great_expectations.validator.validation_statistics import calc_validation_statistics

from tagfactory.quality.gx_context import DATASOURCE, run_identifier
from tagfactory.quality.specs import ExpectationSpec, expectations_by_name

__all__ = ["result_from_outcomes"]


def result_from_outcomes(
    suite: ExpectationSuite,
    outcomes: Sequence[tuple[ExpectationSpec, bool, Mapping[str, Any]]],
    *,
    run_name: str,
    batch_id: str,
    run_time: _dt.datetime | None = None,
    asset_name: str | None = None,
) -> ExpectationSuiteValidationResult:
    """Build a GX suite validation result from outcomes computed outside GX.

    Each outcome becomes a real :class:`ExpectationValidationResult` holding the suite's own
    ``ExpectationConfiguration`` (with ``batch_id`` in its kwargs, as GX does), so it renders in
    Data Docs like the result of a GX run. For column-map expectations (``unexpected_count``
    given), the percentages GX would report are filled in when missing, with GX's rules:
    ``unexpected_percent`` is relative to non-null values when ``missing_count`` is given, else
    to ``element_count``; ``missing_percent``, ``unexpected_percent_total`` and
    ``unexpected_percent_nonmissing`` are added when ``missing_count`` is given.

    Suite success follows GX: true only if every outcome succeeded. ``statistics`` holds
    ``evaluated_expectations``, ``successful_expectations``, ``unsuccessful_expectations`` and
    ``success_percent``, like GX.

    Args:
        suite: The suite the outcomes belong to; every spec's ``name`` must be in it.
        outcomes: ``(spec, success, result)`` triples; ``result`` holds GX result keys such as
            ``observed_value``, ``element_count``, ``unexpected_count``, ``unexpected_percent``,
            ``missing_count``, ``partial_unexpected_list``.
        run_name: Name of the run, shown in Data Docs.
        batch_id: Identifier of the validated batch (e.g. ``"profiles/dt=2024-05-01"``).
        run_time: Time of the run; now (UTC) when omitted.
        asset_name: Data asset name shown in Data Docs; ``batch_id`` when omitted.

    Returns:
        The suite validation result, results in the order of ``outcomes``.

    Raises:
        KeyError: A spec's name is not in the suite.
        ValueError: An outcome's result has impossible counts or percentages.
    """
    by_name = expectations_by_name(suite)
    results: list[ExpectationValidationResult] = []
    for spec, success, raw in outcomes:
        if spec.name not in by_name:
            raise KeyError(f"expectation {spec.name!r} is not in suite {suite.name!r}")
        config = by_name[spec.name].configuration
        config.kwargs["batch_id"] = batch_id
        details = _complete_map_result(dict(convert_to_json_serializable(dict(raw))))
        if not ExpectationValidationResult.validate_result_dict(details):
            raise ValueError(f"impossible result values for {spec.name!r}: {details}")
        results.append(
            ExpectationValidationResult(
                success=bool(success), expectation_config=config, result=details
            )
        )

    run_id = run_identifier(run_name, run_time)
    meta = {
        "great_expectations_version": gx.__version__,
        "batch_spec": {
            "batch_data": "computed outside Great Expectations",
            "data_asset_name": asset_name or batch_id,
        },
        "batch_markers": {"ge_load_time": run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")},
        "active_batch_definition": {
            "datasource_name": DATASOURCE,
            "data_connector_name": "outcomes",
            "data_asset_name": asset_name or batch_id,
            "batch_identifiers": {"batch_id": batch_id},
        },
        "validation_id": None,
        "checkpoint_id": None,
        "run_id": run_id,
        "validation_time": run_id.run_time,
        "batch_parameters": None,
    }
    return ExpectationSuiteValidationResult(
        success=all(r.success for r in results),
        results=results,
        suite_name=suite.name,
        statistics=_statistics(results),
        meta=meta,
        batch_id=batch_id,
    )


def _complete_map_result(details: dict[str, Any]) -> dict[str, Any]:
    """Fill the percentages GX's ``_format_map_output`` derives from counts, if missing."""
    unexpected = details.get("unexpected_count")
    element_count = details.get("element_count")
    if unexpected is None or element_count is None:
        return details
    missing = details.get("missing_count")
    total_pct = unexpected / element_count * 100 if element_count > 0 else None
    if missing is None:
        details.setdefault("unexpected_percent", total_pct)
    else:
        nonnull = element_count - missing
        nonmissing_pct = unexpected / nonnull * 100 if element_count > 0 and nonnull > 0 else None
        details.setdefault("unexpected_percent", nonmissing_pct)
        details.setdefault(
            "missing_percent", missing / element_count * 100 if element_count > 0 else None
        )
        details.setdefault("unexpected_percent_total", total_pct)
        details.setdefault("unexpected_percent_nonmissing", nonmissing_pct)
    return details


def _statistics(results: Sequence[ExpectationValidationResult]) -> dict[str, Any]:
    """The ``statistics`` GX itself reports, from GX's own function."""
    stats = calc_validation_statistics(list(results))
    return {
        "evaluated_expectations": stats.evaluated_expectations,
        "successful_expectations": stats.successful_expectations,
        "unsuccessful_expectations": stats.unsuccessful_expectations,
        "success_percent": stats.success_percent,
    }
