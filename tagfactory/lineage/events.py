"""Pure mapping functions: our lineage dataclasses -> OpenLineage ``event_v2`` objects.

Nothing here performs I/O or keeps state: every function builds new objects from its arguments,
so the mapping can be tested without a transport. The emitter (``emitter.py``) decides when and
where events are sent.

Dataset naming follows the OpenLineage naming spec (https://openlineage.io/docs/spec/naming):
the namespace is ``scheme://authority`` of the storage and the name is the path inside it, e.g.
``("file", "/warehouse/profiles")``, ``("hdfs://namenode:8020", "/warehouse/profiles")``,
``("s3://bucket", "warehouse/profiles")``.
"""

from __future__ import annotations

import os
import posixpath
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    DatasetFacet,
    JobFacet,
    RunFacet,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    execution_parameters_run,
    input_statistics_input_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    sql_job,
    storage_dataset,
)
from openlineage.client.uuid import generate_new_uuid

DEFAULT_PRODUCER = "https://github.com/lakehouse-tag-factory/tagfactory"
"""URI recorded as ``producer`` of every event and facet we build."""

_OBJECT_STORE_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs"}


@dataclass(frozen=True)
class DatasetRef:
    """A dataset read or written by a job, in OpenLineage naming.

    Attributes:
        namespace: Storage namespace, ``scheme://authority`` (``file`` for the local disk).
        name: Path of the dataset inside the namespace.
        fields: ``(column name, type string)`` pairs; become a ``schema`` facet.
        description: Free text; becomes a ``documentation`` facet.
        row_count: Rows read (inputs) or written (outputs); becomes a statistics facet.
        size_bytes: Bytes read or written; part of the statistics facet.
        file_count: Files read or written; part of the statistics facet.
        version: Dataset version, e.g. the Delta table version; becomes a ``version`` facet.
        storage_layer: Table format, e.g. ``"delta"``; becomes a ``storage`` facet.
        file_format: File format, e.g. ``"parquet"``; part of the storage facet.
        facets: Any further dataset facets, keyed by facet name (e.g. ``columnLineage``).
        input_facets: Input dataset facets (used when the dataset is an input), e.g.
            ``dataQualityAssertions``.
    """

    namespace: str
    name: str
    fields: Sequence[tuple[str, str]] = ()
    description: str | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    file_count: int | None = None
    version: str | None = None
    storage_layer: str | None = None
    file_format: str | None = None
    facets: Mapping[str, DatasetFacet] = field(default_factory=dict, compare=False, hash=False)
    input_facets: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.namespace or not self.name:
            raise ValueError(
                f"A lineage dataset needs a namespace and a name, got namespace={self.namespace!r} "
                f"name={self.name!r}; build it with dataset_for_uri(<table path or URI>)."
            )
        # Normalise to a tuple of pairs so the reference stays immutable and hashable.
        object.__setattr__(self, "fields", tuple((str(n), str(t)) for n, t in self.fields))

    @property
    def uri(self) -> str:
        """The dataset as one URI string, e.g. ``s3://bucket/warehouse/profiles``.

        The path is percent-encoded, so ``dataset_for_uri(ref.uri)`` names the same dataset.
        """
        path = quote(self.name, safe="/")
        if self.namespace == "file":
            return f"file://{path}"
        return f"{self.namespace}{'' if path.startswith('/') else '/'}{path}"

    def with_stats(
        self,
        *,
        row_count: int | None = None,
        size_bytes: int | None = None,
        file_count: int | None = None,
        version: str | int | None = None,
    ) -> DatasetRef:
        """Return a copy with statistics known only after the job ran.

        Args:
            row_count: Rows written or read.
            size_bytes: Bytes written or read.
            file_count: Files written or read.
            version: Dataset version after the write (e.g. the committed Delta version).

        Returns:
            A new ``DatasetRef``; arguments left as ``None`` keep their current value.
        """
        return replace(
            self,
            row_count=self.row_count if row_count is None else row_count,
            size_bytes=self.size_bytes if size_bytes is None else size_bytes,
            file_count=self.file_count if file_count is None else file_count,
            version=self.version if version is None else str(version),
        )


@dataclass(frozen=True)
class ParentRun:
    """The run that started this one, e.g. the Airflow task instance that ran the job.

    A ``run_id`` that is not a UUID (Airflow's ``scheduled__2026-01-01T00:00:00+00:00``) is
    turned into a stable UUID derived from namespace, name and run id (see ``as_run_id``).

    Attributes:
        namespace: Job namespace of the parent (Airflow: its OpenLineage namespace).
        name: Job name of the parent (Airflow: ``<dag_id>.<task_id>``).
        run_id: Run id of the parent.
        root: The root of the hierarchy (Airflow: the DAG run), if known.
    """

    namespace: str
    name: str
    run_id: str
    root: ParentRun | None = None

    def __post_init__(self) -> None:
        if not self.namespace or not self.name:
            raise ValueError(
                f"A parent run needs a job namespace and name, got {self.namespace!r}/{self.name!r}."
            )
        object.__setattr__(
            self, "run_id", as_run_id(self.run_id, scope=f"{self.namespace}/{self.name}")
        )

    @classmethod
    def parse(cls, parent_id: str, root_parent_id: str | None = None) -> ParentRun:
        """Build a parent from Airflow's ``{namespace}/{job_name}/{run_id}`` identifiers.

        These are what the Airflow OpenLineage provider's macros render:
        ``{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}`` and
        ``{{ macros.OpenLineageProviderPlugin.lineage_root_parent_id(task_instance) }}``.

        Args:
            parent_id: ``namespace/job_name/run_id`` of the parent run.
            root_parent_id: The same for the root run (the DAG run), optional.

        Returns:
            The parsed parent run.

        Raises:
            ValueError: If an identifier does not have three ``/``-separated parts.
        """
        root = cls.parse(root_parent_id) if root_parent_id else None
        parts = parent_id.rsplit("/", 2)  # the namespace may itself contain "/"
        if len(parts) != 3 or not all(parts):
            raise ValueError(
                f"Expected a parent run id of the form 'namespace/job_name/run_id', got {parent_id!r}."
            )
        return cls(namespace=parts[0], name=parts[1], run_id=parts[2], root=root)


@dataclass(frozen=True)
class RunSpec:
    """Everything about one run that stays the same from START to COMPLETE/FAIL.

    Attributes:
        job_namespace: Namespace of the job (ours: ``tagfactory``).
        job_name: Name of the job, e.g. ``profile_build.daily``.
        run_id: UUID of this run.
        parent: The run that started this one, if any.
        parameters: Run parameters, e.g. ``{"snapshot_date": date(2026, 1, 1)}``.
        nominal_time: The time the run is for: a ``date`` means the whole day (UTC).
        sql: The SQL the job runs, if it runs one (Spark dialect).
        run_facets: Extra run facets, keyed by facet name.
        job_facets: Extra job facets, keyed by facet name.
    """

    job_namespace: str
    job_name: str
    run_id: str
    parent: ParentRun | None = None
    parameters: Mapping[str, object] = field(default_factory=dict, hash=False)
    nominal_time: date | datetime | None = None
    sql: str | None = None
    run_facets: Mapping[str, RunFacet] = field(default_factory=dict, compare=False, hash=False)
    job_facets: Mapping[str, JobFacet] = field(default_factory=dict, compare=False, hash=False)


def as_run_id(value: str | uuid.UUID | None, *, scope: str = "") -> str:
    """Return a run id that OpenLineage accepts (a UUID string).

    Args:
        value: ``None`` for a new time-ordered UUID; a UUID (or its string) is kept; any other
            string, e.g. an Airflow run id, becomes a UUIDv5 of ``scope`` and the string, so the
            same input always gives the same run id.
        scope: What the value is unique within, e.g. ``"namespace/job_name"``.

    Returns:
        The canonical UUID string.
    """
    if value is None:
        return str(generate_new_uuid())
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}/{value}"))


def dataset_for_uri(
    uri: str | os.PathLike[str], fields: Iterable[tuple[str, str]] = (), **attributes: Any
) -> DatasetRef:
    """Name a file-based dataset (e.g. a Delta table directory) per the OpenLineage spec.

    - ``warehouse/profiles`` (relative) -> ``file``, ``<cwd>/warehouse/profiles``
    - ``/warehouse/profiles`` or ``file:///warehouse/profiles`` -> ``file``, ``/warehouse/profiles``
    - ``file://host/warehouse/profiles`` -> ``file://host``, ``/warehouse/profiles``
    - ``hdfs://namenode:8020/wh/profiles`` -> ``hdfs://namenode:8020``, ``/wh/profiles``
    - ``s3a://bucket/wh/profiles`` (also ``s3``, ``s3n``) -> ``s3://bucket``, ``wh/profiles``

    Trailing slashes are dropped, so a table directory has one name however it is spelt.

    Args:
        uri: Local path or URI of the dataset.
        fields: ``(column name, type string)`` pairs for the schema facet.
        **attributes: Further ``DatasetRef`` fields (``description``, ``row_count``,
            ``storage_layer``, ...).

    Returns:
        The dataset reference.

    Raises:
        ValueError: If ``uri`` is empty or an object-store URI has no bucket.
    """
    text = os.fspath(uri).strip()
    if not text:
        raise ValueError("Cannot name a lineage dataset from an empty path.")
    namespace, name = _split_uri(text)
    return DatasetRef(namespace=namespace, name=name, fields=tuple(fields), **attributes)


def _split_uri(text: str) -> tuple[str, str]:
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme:
        return "file", _clean_path(os.path.abspath(text))
    path = unquote(parts.path)
    if scheme == "file":
        host = parts.netloc
        return ("file" if host in ("", "localhost") else f"file://{host}"), _clean_path(path)
    if scheme in _OBJECT_STORE_SCHEMES:
        if not parts.netloc:
            raise ValueError(
                f"Object-store URI {text!r} names no bucket: use {scheme}://bucket/path."
            )
        key = path.strip("/")
        return f"{_OBJECT_STORE_SCHEMES[scheme]}://{parts.netloc}", key or "/"
    # hdfs and anything else: namespace = scheme://authority (just the scheme without one).
    namespace = f"{scheme}://{parts.netloc}" if parts.netloc else scheme
    return namespace, _clean_path(path)


def _clean_path(path: str) -> str:
    if not path:
        return "/"
    return posixpath.normpath(path)


def fields_from_schema(schema: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    """Turn a pyarrow ``Schema`` or a Spark ``StructType`` into ``(name, type)`` pairs.

    Duck-typed, so this module imports neither pyarrow nor pyspark.

    Args:
        schema: Iterable of fields having ``name`` and either ``type`` (pyarrow) or
            ``dataType`` (Spark).

    Returns:
        ``(column name, type string)`` pairs in schema order, e.g. ``("n_orders_7d", "bigint")``
        for Spark and ``("n_orders_7d", "int64")`` for pyarrow.
    """
    pairs = []
    for f in schema:
        data_type = getattr(f, "dataType", None)
        type_string = data_type.simpleString() if data_type is not None else str(f.type)
        pairs.append((str(f.name), type_string))
    return tuple(pairs)


def schema_facet(
    fields: Iterable[tuple[str, str]], producer: str = DEFAULT_PRODUCER
) -> schema_dataset.SchemaDatasetFacet:
    """Map ``(name, type)`` pairs to a ``SchemaDatasetFacet`` (ordinal positions from 1)."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=n, type=t, ordinal_position=i)
            for i, (n, t) in enumerate(fields, start=1)
        ],
        producer=producer,
    )


def dataset_facets(ref: DatasetRef, producer: str = DEFAULT_PRODUCER) -> dict[str, DatasetFacet]:
    """Map the descriptive parts of a dataset (schema, docs, storage, version) to facets.

    Args:
        ref: The dataset.
        producer: Producer URI written into each facet.

    Returns:
        Facets keyed by their OpenLineage names; ``ref.facets`` are added last and win.
    """
    facets: dict[str, DatasetFacet] = {}
    if ref.fields:
        facets["schema"] = schema_facet(ref.fields, producer)
    if ref.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=ref.description, producer=producer
        )
    if ref.storage_layer:
        facets["storage"] = storage_dataset.StorageDatasetFacet(
            storageLayer=ref.storage_layer, fileFormat=ref.file_format, producer=producer
        )
    if ref.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=ref.version, producer=producer
        )
    facets.update(ref.facets)
    return facets


def _has_stats(ref: DatasetRef) -> bool:
    return any(v is not None for v in (ref.row_count, ref.size_bytes, ref.file_count))


def to_input_dataset(ref: DatasetRef, producer: str = DEFAULT_PRODUCER) -> InputDataset:
    """Map a dataset the job reads to an ``InputDataset`` (statistics as ``inputStatistics``)."""
    input_facets: dict[str, Any] = {}
    if _has_stats(ref):
        input_facets["inputStatistics"] = (
            input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=ref.row_count,
                size=ref.size_bytes,
                fileCount=ref.file_count,
                producer=producer,
            )
        )
    input_facets.update(ref.input_facets)
    return InputDataset(
        namespace=ref.namespace,
        name=ref.name,
        facets=dataset_facets(ref, producer),
        inputFacets=input_facets,
    )


def to_output_dataset(ref: DatasetRef, producer: str = DEFAULT_PRODUCER) -> OutputDataset:
    """Map a dataset the job writes to an ``OutputDataset`` (statistics as ``outputStatistics``)."""
    output_facets: dict[str, Any] = {}
    if _has_stats(ref):
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=ref.row_count,
                size=ref.size_bytes,
                fileCount=ref.file_count,
                producer=producer,
            )
        )
    return OutputDataset(
        namespace=ref.namespace,
        name=ref.name,
        facets=dataset_facets(ref, producer),
        outputFacets=output_facets,
    )


def error_facet(
    error: BaseException, producer: str = DEFAULT_PRODUCER
) -> error_message_run.ErrorMessageRunFacet:
    """Map an exception to an ``ErrorMessageRunFacet`` with its Python stack trace."""
    return error_message_run.ErrorMessageRunFacet(
        message=f"{type(error).__name__}: {error}",
        programmingLanguage="python",
        stackTrace="".join(traceback.format_exception(error)),
        producer=producer,
    )


def parent_facet(parent: ParentRun, producer: str = DEFAULT_PRODUCER) -> parent_run.ParentRunFacet:
    """Map a ``ParentRun`` (and its root, if known) to a ``ParentRunFacet``."""
    root = None
    if parent.root is not None:
        root = parent_run.Root(
            run=parent_run.RootRun(runId=parent.root.run_id),
            job=parent_run.RootJob(namespace=parent.root.namespace, name=parent.root.name),
        )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=parent.namespace, name=parent.name),
        root=root,
        producer=producer,
    )


def parameters_facet(
    parameters: Mapping[str, object], producer: str = DEFAULT_PRODUCER
) -> execution_parameters_run.ExecutionParametersRunFacet:
    """Map run parameters to an ``ExecutionParametersRunFacet`` (values as strings)."""
    return execution_parameters_run.ExecutionParametersRunFacet(
        parameters=[
            execution_parameters_run.ExecutionParameter(key=k, value=_param_text(v))
            for k, v in parameters.items()
        ],
        producer=producer,
    )


def _param_text(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def nominal_time_facet(
    when: date | datetime, producer: str = DEFAULT_PRODUCER
) -> nominal_time_run.NominalTimeRunFacet:
    """Map the time a run is for to a ``NominalTimeRunFacet``.

    A ``date`` (e.g. a snapshot date) covers the whole day in UTC; a naive ``datetime`` is
    taken as UTC.
    """
    if isinstance(when, datetime):
        start = when if when.tzinfo else when.replace(tzinfo=UTC)
        return nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=start.isoformat(), producer=producer
        )
    start = datetime.combine(when, time(0), tzinfo=UTC)
    return nominal_time_run.NominalTimeRunFacet(
        nominalStartTime=start.isoformat(),
        nominalEndTime=(start + timedelta(days=1)).isoformat(),
        producer=producer,
    )


def run_facets(spec: RunSpec, producer: str = DEFAULT_PRODUCER) -> dict[str, RunFacet]:
    """Map the run-level parts of a ``RunSpec`` (parent, parameters, nominal time) to facets."""
    facets: dict[str, RunFacet] = {}
    if spec.parent is not None:
        facets["parent"] = parent_facet(spec.parent, producer)
    if spec.parameters:
        facets["executionParameters"] = parameters_facet(spec.parameters, producer)
    if spec.nominal_time is not None:
        facets["nominalTime"] = nominal_time_facet(spec.nominal_time, producer)
    facets.update(spec.run_facets)
    return facets


def job_facets(spec: RunSpec, producer: str = DEFAULT_PRODUCER) -> dict[str, JobFacet]:
    """Map the job-level parts of a ``RunSpec`` (job type, SQL) to facets."""
    facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="TAGFACTORY", jobType="JOB", producer=producer
        )
    }
    if spec.sql:
        facets["sql"] = sql_job.SQLJobFacet(query=spec.sql, dialect="spark", producer=producer)
    facets.update(spec.job_facets)
    return facets


def build_run_event(
    spec: RunSpec,
    event_type: RunState,
    inputs: Sequence[DatasetRef] = (),
    outputs: Sequence[DatasetRef] = (),
    *,
    error: BaseException | None = None,
    event_time: datetime | None = None,
    producer: str = DEFAULT_PRODUCER,
) -> RunEvent:
    """Build one OpenLineage ``RunEvent`` for a run.

    Args:
        spec: The run (job, run id, parent, parameters, ...).
        event_type: ``RunState.START``, ``COMPLETE``, ``FAIL``, ``ABORT``, ...
        inputs: Datasets read.
        outputs: Datasets written.
        error: The exception that ended the run; adds an ``errorMessage`` run facet.
        event_time: When it happened; now (UTC) by default.
        producer: Producer URI of the event and its facets.

    Returns:
        The event, ready for ``OpenLineageClient.emit``.
    """
    facets = run_facets(spec, producer)
    if error is not None:
        facets["errorMessage"] = error_facet(error, producer)
    when = event_time or datetime.now(UTC)
    return RunEvent(
        eventType=event_type,
        eventTime=when.isoformat(),
        producer=producer,
        run=Run(runId=spec.run_id, facets=facets),
        job=Job(
            namespace=spec.job_namespace, name=spec.job_name, facets=job_facets(spec, producer)
        ),
        inputs=[to_input_dataset(r, producer) for r in inputs],
        outputs=[to_output_dataset(r, producer) for r in outputs],
    )
