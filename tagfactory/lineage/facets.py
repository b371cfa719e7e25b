"""Facet builders for what the tag factory's jobs know: engine, job type, owners, quality, staging.

Pure functions, no I/O, no pyspark / tagfactory imports (like ``events.py``): the jobs pass plain
values (a Spark version string, owner names, quality result rows, tag statistics rows) and get
OpenLineage ``facet_v2`` objects to hand to ``LineageEmitter.run`` (``run_facets=``,
``job_facets=``) or to ``DatasetRef(facets=...)`` / ``DatasetRef.input_facets``.

Facet names (the keys) are OpenLineage's: ``processing_engine``, ``jobType``, ``ownership``,
``documentation``, ``dataQualityAssertions`` (an input dataset facet), ``dataQualityMetrics``;
ours are prefixed ``tagfactory_`` (``tagfactory_staging``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import attr
from openlineage.client.facet_v2 import (
    RunFacet,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    documentation_job,
    job_type_job,
    ownership_job,
    processing_engine_run,
)

from .events import DEFAULT_PRODUCER

STAGING_FACET = "tagfactory_staging"
STAGING_SCHEMA_URL = f"{DEFAULT_PRODUCER}/blob/main/tagfactory/lineage/facets.py#StagingRunFacet"


def _adapter_version() -> str | None:
    try:
        return metadata.version("openlineage-python")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with the package
        return None


def processing_engine(version: str, name: str = "spark",
                      producer: str = DEFAULT_PRODUCER) -> processing_engine_run.ProcessingEngineRunFacet:
    """``processing_engine`` run facet: the engine (Spark) and its version."""
    return processing_engine_run.ProcessingEngineRunFacet(
        version=version, name=name, openlineageAdapterVersion=_adapter_version(), producer=producer)


def job_type(integration: str = "TAGFACTORY", kind: str = "JOB",
             producer: str = DEFAULT_PRODUCER) -> job_type_job.JobTypeJobFacet:
    """``jobType`` job facet: a BATCH job of ``integration`` (``SPARK`` or ``TAGFACTORY``)."""
    return job_type_job.JobTypeJobFacet(processingType="BATCH", integration=integration, jobType=kind,
                                        producer=producer)


def ownership(owners: Iterable[str], producer: str = DEFAULT_PRODUCER) -> ownership_job.OwnershipJobFacet | None:
    """``ownership`` job facet of the distinct owners in order (``team:x`` / ``user:y`` / plain names); None if none."""
    names = list(dict.fromkeys(o for o in owners if o))
    if not names:
        return None
    return ownership_job.OwnershipJobFacet(
        owners=[ownership_job.Owner(name=n, type=n.split(":", 1)[0] if ":" in n else None) for n in names],
        producer=producer)


def documentation(description: str | None, producer: str = DEFAULT_PRODUCER
                  ) -> documentation_job.DocumentationJobFacet | None:
    """``documentation`` job facet; None when there is no description."""
    if not description or not description.strip():
        return None
    return documentation_job.DocumentationJobFacet(description=description.strip(), contentType="text/plain",
                                                   producer=producer)


@attr.define
class StagingRunFacet(RunFacet):
    """``tagfactory_staging`` run facet: where a write-audit-publish run staged its files.

    The staged files are the published table's next version, not a dataset of their own: the
    table is the dataset and the staging folder is a property of the run.
    """

    location: str
    stagingRunId: str  # noqa: N815 - OpenLineage fields are camelCase
    table: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return STAGING_SCHEMA_URL


def staging(location: str, staging_run_id: str, table: str | None = None,
            producer: str = DEFAULT_PRODUCER) -> StagingRunFacet:
    """``tagfactory_staging`` run facet for the staged files at ``location``."""
    return StagingRunFacet(location=location, stagingRunId=staging_run_id, table=table, producer=producer)


def without_none(facets: Mapping[str, Any]) -> dict[str, Any]:
    """The facets that are not None (builders return None when there is nothing to say)."""
    return {k: v for k, v in facets.items() if v is not None}


def _assertion_name(expectation_type: str) -> str:
    name = expectation_type.removeprefix("expect_")
    return name.removeprefix("column_values_to_").removeprefix("column_").removeprefix("table_")


def quality_assertions(rows: Sequence[Mapping[str, Any]], producer: str = DEFAULT_PRODUCER
                       ) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """``dataQualityAssertions`` input facet from quality result rows (``quality_results`` rows).

    Each row (``expectation``, ``expectation_type``, ``column``, ``severity``, ``success``,
    ``observed_value``) becomes one assertion: ``assertion`` the expectation type without its
    ``expect_`` prefix (e.g. ``not_be_null``), ``name`` our expectation id, ``actual`` the observed value.
    """
    assertions = []
    for row in rows:
        observed = row.get("observed_value")
        assertions.append(data_quality_assertions_dataset.Assertion(
            assertion=_assertion_name(str(row.get("expectation_type") or row.get("expectation") or "custom")),
            success=bool(row.get("success")),
            column=str(row["column"]) if row.get("column") else None,
            severity=str(row["severity"]) if row.get("severity") else None,
            name=str(row["expectation"]) if row.get("expectation") else None,
            actual=observed if isinstance(observed, str) and observed != "null" else None,
        ))
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=assertions, producer=producer)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def quality_metrics(row_count: int, stats: Iterable[Mapping[str, Any]], *, numeric: Iterable[str] = (),
                    producer: str = DEFAULT_PRODUCER) -> data_quality_metrics_dataset.DataQualityMetricsDatasetFacet:
    """``dataQualityMetrics`` dataset facet from tag statistics rows (the ``tag_stats`` table's rows).

    Per column: ``nullCount`` (``null_count``), ``distinctCount`` (``approx_distinct``), ``count``
    (``non_null``), and ``min`` / ``max`` (``min_value`` / ``max_value``) for the ``numeric`` columns
    (the facet's min/max are numbers).
    """
    numeric_columns = set(numeric)
    columns: dict[str, data_quality_metrics_dataset.ColumnMetrics] = {}
    for row in stats:
        name = str(row["tag"])
        is_numeric = name in numeric_columns
        columns[name] = data_quality_metrics_dataset.ColumnMetrics(
            nullCount=_int(row.get("null_count")),
            distinctCount=_int(row.get("approx_distinct")),
            count=_number(row.get("non_null")),
            min=_number(row.get("min_value")) if is_numeric else None,
            max=_number(row.get("max_value")) if is_numeric else None,
            quantiles=None,
        )
    return data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
        rowCount=row_count, columnMetrics=columns, producer=producer)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)

