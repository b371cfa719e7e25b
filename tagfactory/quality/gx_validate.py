"""Real Great Expectations validation of a pandas or Spark DataFrame.

:func:`validate_dataframe` runs a suite through GX in a fresh ephemeral data context and returns
GX's own result, in suite order, each result carrying its spec's ``name`` and ``severity``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal, cast

import great_expectations as gx
from great_expectations.core import (
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

from tagfactory.quality.gx_context import (
    DATASOURCE,
    batch_id_of,
    config_of,
    quiet,
    run_identifier,
)
from tagfactory.quality.specs import copy_suite, expectations_by_name

__all__ = ["Engine", "ResultFormatName", "validate_dataframe"]

Engine = Literal["spark", "pandas"]
ResultFormatName = Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"]

_ASSET = "staged"
_BATCH_DEFINITION = "whole_dataframe"


def validate_dataframe(
    df: Any,
    suite: ExpectationSuite,
    *,
    engine: Engine,
    run_name: str,
    run_time: _dt.datetime | None = None,
    result_format: ResultFormatName = "SUMMARY",
    asset_name: str = _ASSET,
    spark_persist: bool = True,
) -> ExpectationSuiteValidationResult:
    """Validate a DataFrame with GX and return GX's own result.

    Runs in a fresh ephemeral (in-memory) data context: ``add_spark`` or ``add_pandas`` data
    source, a DataFrame asset, a whole-DataFrame batch definition and a ``ValidationDefinition``
    run with ``batch_parameters={"dataframe": df}``. The suite passed in is not modified (a copy
    is registered with the ephemeral context).

    GX returns results grouped by column; they are put back into suite order here, and each
    one carries its spec's ``name`` and ``severity`` in ``expectation_config.meta``
    (:func:`tagfactory.quality.specs.spec_from_result` maps a result back to its spec).

    Args:
        df: A ``pyspark.sql.DataFrame`` (engine ``"spark"``) or ``pandas.DataFrame``
            (engine ``"pandas"``).
        suite: The suite, usually from :func:`tagfactory.quality.specs.build_suite`.
        engine: ``"spark"`` or ``"pandas"``.
        run_name: Name of the run, shown in Data Docs (e.g. the snapshot date).
        run_time: Time of the run; now (UTC) when omitted.
        result_format: GX result format (``BOOLEAN_ONLY``, ``BASIC``, ``SUMMARY``, ``COMPLETE``).
        asset_name: Name of the DataFrame asset; shown in Data Docs ("Data asset") and part of
            the batch id (``"tagfactory-<asset_name>"``).
        spark_persist: Let GX ``persist()`` the Spark DataFrame for the run (GX's default). GX
            computes its metrics in several Spark jobs, so this usually pays off. GX never
            unpersists it; this function does, unless the DataFrame was cached before the call.

    Returns:
        The suite validation result.
    """
    context = gx.get_context(mode="ephemeral")
    quiet(context)
    if engine == "spark":
        datasource: Any = context.data_sources.add_spark(DATASOURCE, persist=spark_persist)
    elif engine == "pandas":
        datasource = context.data_sources.add_pandas(DATASOURCE)
    else:
        raise ValueError(f"engine must be 'spark' or 'pandas', not {engine!r}")
    batch_definition = datasource.add_dataframe_asset(
        asset_name
    ).add_batch_definition_whole_dataframe(_BATCH_DEFINITION)
    own_suite = context.suites.add(copy_suite(suite))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=own_suite)
    )
    run_id = run_identifier(run_name, run_time)
    release = engine == "spark" and spark_persist and not df.is_cached
    try:
        result = validation.run(
            batch_parameters={"dataframe": df}, result_format=result_format, run_id=run_id
        )
    finally:
        if release:
            df.unpersist()
    result.results = _in_suite_order(result.results, suite)
    result.batch_id = result.batch_id or batch_id_of(result)
    # GX 1.x leaves the asset name out of batch_spec, where Data Docs looks for it.
    meta = cast(dict[str, Any], result.meta)
    batch_spec = dict(meta.get("batch_spec") or {})
    batch_spec.setdefault("data_asset_name", asset_name)
    meta["batch_spec"] = batch_spec
    return result


def _in_suite_order(
    results: list[ExpectationValidationResult], suite: ExpectationSuite
) -> list[ExpectationValidationResult]:
    position = {name: i for i, name in enumerate(expectations_by_name(suite))}

    def key(evr: ExpectationValidationResult) -> int:
        name = (config_of(evr).meta or {}).get("name")
        return position.get(str(name), len(position))

    return sorted(results, key=key)
