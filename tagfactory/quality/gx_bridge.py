"""Bridge between the tag factory's quality gate and Great Expectations (GX) 1.24.

Great Expectations is the suite format, the result format and the report (Data Docs) of the
quality gate. Metrics can reach GX in two ways, and both end in the same GX objects:

* :func:`validate_dataframe` runs real GX validation on a pandas or Spark DataFrame;
* :func:`result_from_outcomes` builds GX result objects from outcomes computed elsewhere (for
  example one fused Spark ``agg`` over the staged snapshot), so they render in Data Docs exactly
  like results of a real GX run.

Each expectation carries our stable ``name`` and gate ``severity`` in its ``meta``; they also map
onto GX's own ``severity`` field (``error`` -> ``critical``, ``warn`` -> ``warning``). GX keeps its
own semantics: a suite result succeeds only when every expectation succeeded; the gate decides
what a failed ``warn`` expectation means.

The module also defines one custom expectation, :class:`ExpectColumnPsiToBeLessThan`
(``expect_column_psi_to_be_less_than``): the population stability index of a binned column
against a reference distribution. Importing this module registers it with GX; any process that
loads suites or results holding it (for example to rebuild Data Docs) must import this module
first.

Typical use::

    specs = [ExpectationSpec("expect_column_values_to_not_be_null", {"column": "user_id"},
                             name="user_id.not_null")]
    suite = build_suite("profiles.daily", specs)
    result = validate_dataframe(df, suite, engine="spark", run_name="2024-05-01")
    index = write_data_docs([result], Path("target/quality"))
    rows = rows_from_result(result, run_id="...", dt="2024-05-01", dataset="profiles")
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

# GX reads this when a context starts; the caller's environment wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.compatibility import pydantic  # noqa: E402
from great_expectations.core import (  # noqa: E402
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations.expectation import ColumnAggregateExpectation  # noqa: E402
from great_expectations.expectations.expectation_configuration import (  # noqa: E402
    ExpectationConfiguration,
)
from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: E402
from great_expectations.expectations.registry import get_expectation_impl  # noqa: E402
from great_expectations.render import (  # noqa: E402
    LegacyDiagnosticRendererType,
    LegacyRendererType,
    RenderedStringTemplateContent,
)
from great_expectations.render.renderer.renderer import renderer  # noqa: E402
from great_expectations.render.renderer_configuration import (  # noqa: E402
    RendererConfiguration,
    RendererValueType,
)
from great_expectations.util import convert_to_json_serializable  # noqa: E402
from great_expectations.validator.metric_configuration import MetricConfiguration  # noqa: E402
from great_expectations.validator.validation_statistics import (  # noqa: E402
    calc_validation_statistics,
)

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.execution_engine import ExecutionEngine
    from great_expectations.validator.validator import ValidationDependencies

__all__ = [
    "PSI_EPSILON",
    "PSI_OTHER_BIN",
    "ExpectColumnPsiToBeLessThan",
    "ExpectationSpec",
    "Severity",
    "build_suite",
    "population_stability_index",
    "result_from_outcomes",
    "rows_from_result",
    "spec_from_result",
    "validate_dataframe",
    "write_data_docs",
]

Severity = Literal["error", "warn"]
Engine = Literal["spark", "pandas"]
ResultFormatName = Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"]

_GX_SEVERITY: dict[str, FailureSeverity] = {
    "error": FailureSeverity.CRITICAL,
    "warn": FailureSeverity.WARNING,
}
_DATASOURCE = "tagfactory"
_ASSET = "staged"
_BATCH_DEFINITION = "whole_dataframe"
_DOCS_SITE = "local_site"

#: Floor applied to empty bins (either side) so that PSI stays finite.
PSI_EPSILON = 1e-4
#: Observed values that are no key of the reference distribution are pooled under this bin.
PSI_OTHER_BIN = "__other__"


# --------------------------------------------------------------------------------------------
# Specs and suites
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a quality gate, as our configuration states it.

    Attributes:
        type: snake_case GX expectation type, e.g. ``"expect_column_values_to_not_be_null"`` or
            the custom ``"expect_column_psi_to_be_less_than"``.
        kwargs: The expectation's arguments (``column``, ``min_value``, ``value_set``, ...),
            without ``meta`` or ``severity``.
        severity: What a failure means to our gate: ``"error"`` blocks the commit, ``"warn"``
            is reported only.
        name: Stable id we choose; it joins results to specs. Defaults to
            ``"<column or table>.<type without expect_ prefix>"``.
        meta: Extra JSON-serialisable metadata stored with the expectation.
        internal: Built by the project's own code (e.g. audience guardrails, whose
            ``row_condition`` names the audience's stats row), never from definitions: only such a
            spec may carry ``row_condition`` / ``condition_parser``.
    """

    type: str
    kwargs: dict[str, Any]
    severity: Severity = "error"
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    internal: bool = False

    def __post_init__(self) -> None:
        if self.severity not in _GX_SEVERITY:
            raise ValueError(f"severity must be 'error' or 'warn', not {self.severity!r}")
        if not self.type.startswith("expect_"):
            raise ValueError(f"not a GX expectation type: {self.type!r}")
        reserved = {"meta", "severity", "batch_id"} & set(self.kwargs)
        if reserved:
            raise ValueError(f"{sorted(reserved)} belong to the spec, not to kwargs")
        if not self.name:
            domain = self.kwargs.get("column") or "table"
            object.__setattr__(self, "name", f"{domain}.{self.type.removeprefix('expect_')}")

    @property
    def column(self) -> str | None:
        """The column the expectation is about, or ``None`` for table expectations."""
        column = self.kwargs.get("column")
        return str(column) if column is not None else None

    def expectation_meta(self) -> dict[str, Any]:
        """The ``meta`` dict stored on the GX expectation: our meta plus ``name`` and ``severity``."""
        return {**self.meta, "name": self.name, "severity": self.severity}


#: kwargs GX would run as code (``row_condition`` becomes a Spark filter); never passed on.
_CODE_KWARGS = frozenset({"row_condition", "condition_parser"})


def _no_conditions(spec: ExpectationSpec) -> dict[str, Any]:
    """The spec's kwargs, refusing the ones GX would execute (definitions are untrusted)."""
    found = sorted(_CODE_KWARGS & set(spec.kwargs))
    if found and not spec.internal:
        raise ValueError(f"expectation {spec.name!r}: {', '.join(found)} not allowed (conditions are code)")
    return spec.kwargs


def build_suite(suite_name: str, specs: Iterable[ExpectationSpec]) -> ExpectationSuite:
    """Build a GX expectation suite from specs.

    Every expectation gets ``meta["name"]`` and ``meta["severity"]`` from its spec, and GX's own
    ``severity`` (``critical`` for ``error``, ``warning`` for ``warn``).

    Args:
        suite_name: Name of the suite (and of its Data Docs page).
        specs: The expectations, in the order results should be reported.

    Returns:
        A suite that belongs to no data context.

    Raises:
        ValueError: Two specs share a name, or two specs differ only in ``meta`` (a GX suite
            is a set and would silently drop the second one).
        great_expectations.exceptions.ExpectationNotFoundError: Unknown expectation type.
        pydantic.ValidationError: Invalid kwargs for the expectation type.
    """
    expectations: list[Any] = []
    seen_names: set[str] = set()
    for spec in specs:
        if spec.name in seen_names:
            raise ValueError(f"duplicate expectation name {spec.name!r} in suite {suite_name!r}")
        seen_names.add(spec.name)
        expectation_class = get_expectation_impl(spec.type)
        expectation = expectation_class(
            **_no_conditions(spec), meta=spec.expectation_meta(), severity=_GX_SEVERITY[spec.severity]
        )
        for other in expectations:
            if ExpectationSuite._expectations_are_equalish(expectation, other):
                raise ValueError(
                    f"expectation {spec.name!r} repeats {(other.meta or {}).get('name')!r} in suite "
                    f"{suite_name!r}; GX keeps only one of them"
                )
        expectations.append(expectation)
    return ExpectationSuite(name=suite_name, expectations=expectations)


def spec_from_result(result: ExpectationValidationResult) -> ExpectationSpec:
    """Rebuild the spec of one expectation result from its configuration and ``meta``.

    Args:
        result: A result of :func:`validate_dataframe` or :func:`result_from_outcomes`.

    Returns:
        The spec. Results of expectations not built by :func:`build_suite` get severity
        ``error`` for GX ``critical`` and ``warn`` otherwise, and a derived name. GX leaves
        kwargs equal to the expectation's defaults (e.g. ``strict_min=False``) out of its
        configurations, so such kwargs are missing here too.
    """
    config = _config_of(result)
    meta = dict(config.meta or {})
    name = str(meta.pop("name", ""))
    severity = meta.pop("severity", None) or _severity_from_gx(config)
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    return ExpectationSpec(config.type, kwargs, severity=severity, name=name, meta=meta)


# --------------------------------------------------------------------------------------------
# Real GX validation
# --------------------------------------------------------------------------------------------


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
    (:func:`spec_from_result` maps a result back to its spec).

    Args:
        df: A ``pyspark.sql.DataFrame`` (engine ``"spark"``) or ``pandas.DataFrame``
            (engine ``"pandas"``).
        suite: The suite, usually from :func:`build_suite`.
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
    _quiet(context)
    if engine == "spark":
        datasource: Any = context.data_sources.add_spark(_DATASOURCE, persist=spark_persist)
    elif engine == "pandas":
        datasource = context.data_sources.add_pandas(_DATASOURCE)
    else:
        raise ValueError(f"engine must be 'spark' or 'pandas', not {engine!r}")
    batch_definition = datasource.add_dataframe_asset(
        asset_name
    ).add_batch_definition_whole_dataframe(_BATCH_DEFINITION)
    own_suite = context.suites.add(_copy_suite(suite))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=own_suite)
    )
    run_id = RunIdentifier(run_name=run_name, run_time=run_time or _utcnow())
    release = engine == "spark" and spark_persist and not df.is_cached
    try:
        result = validation.run(
            batch_parameters={"dataframe": df}, result_format=result_format, run_id=run_id
        )
    finally:
        if release:
            df.unpersist()
    result.results = _in_suite_order(result.results, suite)
    result.batch_id = result.batch_id or _batch_id_of(result)
    # GX 1.x leaves the asset name out of batch_spec, where Data Docs looks for it.
    meta = cast(dict[str, Any], result.meta)
    batch_spec = dict(meta.get("batch_spec") or {})
    batch_spec.setdefault("data_asset_name", asset_name)
    meta["batch_spec"] = batch_spec
    return result


# --------------------------------------------------------------------------------------------
# Results from outcomes computed elsewhere
# --------------------------------------------------------------------------------------------


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
    by_name = _expectations_by_name(suite)
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

    run_id = RunIdentifier(run_name=run_name, run_time=run_time or _utcnow())
    meta = {
        "great_expectations_version": gx.__version__,
        "batch_spec": {
            "batch_data": "computed outside Great Expectations",
            "data_asset_name": asset_name or batch_id,
        },
        "batch_markers": {"ge_load_time": run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")},
        "active_batch_definition": {
            "datasource_name": _DATASOURCE,
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


# --------------------------------------------------------------------------------------------
# Data Docs
# --------------------------------------------------------------------------------------------


def write_data_docs(results: Sequence[ExpectationSuiteValidationResult], root: Path) -> Path:
    """Store suites and results in a file-based GX project and (re)build its Data Docs.

    The GX project lives in ``root / "gx"`` (created on first use). Each result's suite is
    rebuilt from the configurations inside the result and stored (replacing a stored suite of
    the same name), then the result is stored under ``validations/<suite>/<run_name>/<run_time>/
    <batch_id>.json`` (``/`` in the batch id becomes ``__``). Stores persist, so results accumulate across calls: the index lists every
    result ever stored there. Storing the same suite, run name, run time and batch again
    replaces that result.

    Only local paths are supported here. For ``s3a://``/``gs://``/``abfss://`` targets, GX can
    keep its stores and the Data Docs site in object storage itself: configure
    ``TupleS3StoreBackend`` (or the GCS/Azure backends) for ``expectations_store``,
    ``validation_results_store`` and the site's ``store_backend`` in ``great_expectations.yml``
    (needs ``boto3`` etc.). GX has no HDFS backend: for ``hdfs://`` render into a local
    folder and copy ``root/gx`` to HDFS afterwards (``hdfs dfs -put -f`` or Hadoop's
    FileSystem API through Spark's JVM); to accumulate, copy the stored ``gx`` folder back
    before calling this function.

    Rendering a result of :class:`ExpectColumnPsiToBeLessThan` needs this module imported,
    which calling this function guarantees.

    Args:
        results: Suite validation results from :func:`validate_dataframe` or
            :func:`result_from_outcomes`.
        root: Local folder that holds (or will hold) the ``gx`` project.

    Returns:
        Path of the Data Docs ``index.html``.
    """
    root = Path(root)
    if "://" in str(root):
        raise ValueError(f"write_data_docs needs a local path, got {root}")
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    _quiet(context)
    identifiers: list[ValidationResultIdentifier] = []
    for result in results:
        suite = _suite_from_result(result)
        context.suites.add_or_update(suite)
        suite_id = ExpectationSuiteIdentifier(name=suite.name)
        run_id = result.meta.get("run_id")
        if not isinstance(run_id, RunIdentifier):
            run_id = RunIdentifier(**run_id) if isinstance(run_id, dict) else RunIdentifier()
        result_id = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id,
            run_id=run_id,
            batch_identifier=_store_key_part(result.batch_id or _batch_id_of(result) or "batch"),
        )
        context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=result_id,
            expectation_suite_identifier=suite_id,
        )
        identifiers.append(result_id)
    context.build_data_docs(site_names=[_DOCS_SITE])
    index = Path(context.root_directory) / "uncommitted" / "data_docs" / _DOCS_SITE / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GX did not write {index}")
    return index


# --------------------------------------------------------------------------------------------
# Rows for machines
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Custom expectation: population stability index
# --------------------------------------------------------------------------------------------


def population_stability_index(
    observed: Mapping[str, float], reference: Mapping[str, float], *, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index of an observed against a reference distribution.

    ``PSI = sum((o - r) * ln(o / r))`` over the union of bins, with both sides normalised to
    shares and empty bins floored at ``epsilon``.

    Args:
        observed: Bin -> count or share of the data being checked.
        reference: Bin -> count or share of the reference (e.g. last accepted snapshot).
        epsilon: Floor for empty bins.

    Returns:
        The PSI (0 for identical distributions; > 0.25 is commonly read as a major shift).
    """
    observed_shares = _shares(observed)
    reference_shares = _shares(reference)
    psi = 0.0
    for key in set(observed_shares) | set(reference_shares):
        o = max(observed_shares.get(key, 0.0), epsilon)
        r = max(reference_shares.get(key, 0.0), epsilon)
        psi += (o - r) * math.log(o / r)
    return psi


class ExpectColumnPsiToBeLessThan(ColumnAggregateExpectation):
    """Expect the population stability index of a binned column to be below a threshold.

    The column holds bin labels (categories, or numeric values already mapped to bin labels);
    ``reference`` gives each bin's share in the reference data. Non-null values that are no key
    of ``reference`` count in the bin ``"__other__"``. Values are compared as strings
    (``str(value)``), so reference keys are strings.

    GX can evaluate it itself on pandas and Spark (it reads GX's ``column.value_counts``
    metric), and :func:`result_from_outcomes` accepts a PSI computed elsewhere: the result's
    ``observed_value`` is the PSI; ``details.observed_distribution`` may hold the observed shares.

    Args:
        column: The binned column.
        reference: Bin -> share (or count) of the reference distribution.
        threshold: The PSI must be strictly below this value.
    """

    reference: dict[str, float] = pydantic.Field(
        description="Bin -> share of the reference distribution."
    )
    # Required on purpose: GX drops kwargs equal to a field's default from configurations.
    threshold: float = pydantic.Field(
        description="The PSI must be strictly smaller than this value (0.1-0.25 is common)."
    )

    library_metadata: ClassVar[dict[str, Any]] = {
        "maturity": "experimental",
        "tags": ["distribution", "drift", "tagfactory"],
        "contributors": ["tagfactory"],
        "requirements": [],
        "has_full_test_suite": False,
        "manually_reviewed_code": False,
    }
    metric_dependencies = ("column.value_counts",)
    success_keys = ("reference", "threshold")
    args_keys = ("column", "reference", "threshold")

    @pydantic.validator("reference")
    def _reference_not_empty(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or sum(value.values()) <= 0 or min(value.values()) < 0:
            raise ValueError("reference must map bins to non-negative shares with a positive sum")
        return value

    def get_validation_dependencies(
        self,
        execution_engine: ExecutionEngine | None = None,
        runtime_configuration: dict | None = None,
    ) -> ValidationDependencies:
        """Ask GX for the column's value counts (sorted by value, no collation)."""
        dependencies = super().get_validation_dependencies(
            execution_engine=execution_engine, runtime_configuration=runtime_configuration
        )
        counts = dependencies.get_metric_configuration("column.value_counts")
        assert counts is not None
        dependencies.set_metric_configuration(
            "column.value_counts",
            MetricConfiguration(
                metric_name="column.value_counts",
                metric_domain_kwargs=counts.metric_domain_kwargs,
                metric_value_kwargs={"sort": "value", "collate": None},
            ),
        )
        return dependencies

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: ExecutionEngine | None = None,
    ) -> dict[str, Any]:
        counts = metrics["column.value_counts"]
        reference = self.reference
        observed: dict[str, float] = {}
        for value, count in counts.items():
            key = str(value) if str(value) in reference else PSI_OTHER_BIN
            observed[key] = observed.get(key, 0.0) + float(count)
        total = sum(observed.values())
        if total == 0:
            return {"success": False, "result": {"observed_value": None, "element_count": 0}}
        psi = population_stability_index(observed, reference)
        return {
            "success": psi < self.threshold,
            "result": {
                "observed_value": psi,
                "details": {"observed_distribution": _shares(observed)},
            },
        }

    @classmethod
    def _prescriptive_template(
        cls, renderer_configuration: RendererConfiguration
    ) -> RendererConfiguration:
        renderer_configuration.add_param(name="column", param_type=RendererValueType.STRING)
        renderer_configuration.add_param(name="threshold", param_type=RendererValueType.NUMBER)
        template = "population stability index against a reference distribution must be less than $threshold."
        if renderer_configuration.include_column_name:
            template = f"$column {template}"
        renderer_configuration.template_str = template
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: ExpectationConfiguration | None = None,
        result: ExpectationValidationResult | None = None,
        runtime_configuration: dict | None = None,
    ) -> list[RenderedStringTemplateContent]:
        # The Data Docs dispatcher calls this with configuration only, result only, or both.
        if configuration is None and result is not None:
            configuration = result.expectation_config
        kwargs = configuration.kwargs if configuration is not None else {}
        runtime_configuration = runtime_configuration or {}
        include_column_name = runtime_configuration.get("include_column_name") is not False
        reference = kwargs.get("reference") or {}
        params = {
            "column": kwargs.get("column"),
            "threshold": kwargs.get("threshold"),
            "bins": len(reference),
            "reference": ", ".join(f"{k}: {v:g}" for k, v in sorted(reference.items())),
        }
        template = (
            "population stability index against the reference distribution ($bins bins: "
            "$reference) must be less than $threshold."
        )
        if include_column_name:
            template = f"$column {template}"
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": template,
                    "params": params,
                    "styling": runtime_configuration.get("styling"),
                },
            )
        ]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls,
        configuration: ExpectationConfiguration | None = None,
        result: ExpectationValidationResult | None = None,
        runtime_configuration: dict | None = None,
    ) -> str:
        value = (result.result or {}).get("observed_value") if result is not None else None
        if value is None:
            return "--"
        return f"PSI {float(value):.4f}"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _quiet(context: AbstractDataContext) -> None:
    """No tqdm progress bars (they garble job logs); no analytics."""
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.config.analytics_enabled = False


def _detached_config(
    config: ExpectationConfiguration, *, drop_batch_id: bool = False
) -> ExpectationConfiguration:
    """A copy of ``config`` without id (so a suite may take it), optionally without batch_id."""
    data = cast(dict[str, Any], config.to_json_dict())
    data["id"] = None
    if drop_batch_id:
        data["kwargs"] = {k: v for k, v in data["kwargs"].items() if k != "batch_id"}
    return ExpectationConfiguration(**data)


def _copy_suite(suite: ExpectationSuite) -> ExpectationSuite:
    """A copy of ``suite`` that belongs to no context (a suite can be added to one context)."""
    configs = [_detached_config(e.configuration) for e in suite.expectations]
    return ExpectationSuite(
        name=suite.name,
        expectations=configs,
        suite_parameters=dict(suite.suite_parameters),
        meta=json.loads(json.dumps(convert_to_json_serializable(suite.meta))),
        notes=suite.notes,
    )


def _suite_from_result(result: ExpectationSuiteValidationResult) -> ExpectationSuite:
    configs = [_detached_config(_config_of(evr), drop_batch_id=True) for evr in result.results]
    return ExpectationSuite(name=result.suite_name, expectations=configs)


def _config_of(result: ExpectationValidationResult) -> ExpectationConfiguration:
    if result.expectation_config is None:
        raise ValueError("expectation result without expectation_config")
    return result.expectation_config


def _severity_from_gx(config: ExpectationConfiguration) -> Severity:
    return "error" if config.severity == FailureSeverity.CRITICAL else "warn"


def _expectations_by_name(suite: ExpectationSuite) -> dict[str, Any]:
    by_name: dict[str, Any] = {}
    for expectation in suite.expectations:
        name = (expectation.meta or {}).get("name")
        if name:
            by_name[name] = expectation
    return by_name


def _in_suite_order(
    results: list[ExpectationValidationResult], suite: ExpectationSuite
) -> list[ExpectationValidationResult]:
    position = {name: i for i, name in enumerate(_expectations_by_name(suite))}

    def key(evr: ExpectationValidationResult) -> int:
        name = (_config_of(evr).meta or {}).get("name")
        return position.get(str(name), len(position))

    return sorted(results, key=key)


def _batch_id_of(result: ExpectationSuiteValidationResult) -> str | None:
    for evr in result.results:
        batch_id = _config_of(evr).kwargs.get("batch_id")
        if batch_id:
            return str(batch_id)
    return None


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


def _store_key_part(value: str) -> str:
    """GX's filesystem store keys must not contain path separators."""
    return value.replace("/", "__").replace("\\", "__")


def _statistics(results: Sequence[ExpectationValidationResult]) -> dict[str, Any]:
    """The ``statistics`` GX itself reports, from GX's own function."""
    stats = calc_validation_statistics(list(results))
    return {
        "evaluated_expectations": stats.evaluated_expectations,
        "successful_expectations": stats.successful_expectations,
        "unsuccessful_expectations": stats.unsuccessful_expectations,
        "success_percent": stats.success_percent,
    }


def _shares(distribution: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(distribution.values()))
    if total <= 0:
        return {}
    return {str(k): float(v) / total for k, v in distribution.items()}


def _as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
