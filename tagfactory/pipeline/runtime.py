"""What every job shares: the settings, the manifest, the Spark session, the lineage emitter, run ids.

The profile build, the audience materialization, the maintenance job and the CLI commands that
start Spark all start and stop through here (:func:`start_job` opens the job's one
:class:`~tagfactory.lakehouse.store.TableStore`), so they agree on the session defaults (the master
of the settings, else spark-submit's, else ``local[*]``: see
:func:`tagfactory.lakehouse.spark.build_spark_session`) and on the stop rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tagfactory.compiler.manifest import Manifest, manifest_path, read_manifest
from tagfactory.errors import ConfigError
from tagfactory.progress import step

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.lakehouse.store import TableStore
    from tagfactory.lineage import LineageEmitter
    from tagfactory.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_run_id(text: str) -> str:
    """A run id usable as a folder name (Airflow run ids contain ``:`` and ``+``)."""
    cleaned = _UNSAFE.sub("_", text).strip("_.-")
    if not cleaned:
        raise ConfigError(f"run id {text!r} has no usable characters")
    return cleaned


def load_manifest(settings: Settings, manifest_file: str | Path | None) -> Manifest:
    """The manifest at ``manifest_file``, else ``<settings.target>/manifest.json``."""
    return read_manifest(manifest_file or manifest_path(settings.target))


def start_spark(settings: Settings, master: str | None, app_name: str | None = None, *,
                hive: bool = False) -> SparkSession:
    """The Spark session of a job: ``master``, else the settings' master, else spark-submit's or ``local[*]``.

    ``hive``: the session's catalog is the Hive metastore of the settings (``hive.metastore_uri``);
    only jobs that write Hive tables ask for it, so the build does not depend on a metastore.
    """
    from tagfactory.lakehouse.spark import build_spark_session

    if hive and not settings.hive.metastore_uri:
        raise ConfigError("this job writes Hive tables but no metastore is configured: set `hive.metastore_uri` "
                          "(thrift://host:9083) in the settings or TAGFACTORY_HIVE_METASTORE_URI")
    with step("starting Spark") as s:
        spark = build_spark_session(app_name or settings.spark.app_name, master or settings.spark.master,
                                    settings.spark.conf, hive_metastore_uri=settings.hive.metastore_uri if hive else None)
        s.detail = f"master {spark.sparkContext.master}"
    return spark


def lineage_emitter(settings: Settings) -> LineageEmitter:
    """The OpenLineage emitter the settings configure (disabled: a no-op emitter)."""
    from tagfactory.lineage import LineageEmitter

    return LineageEmitter.from_config(settings.lineage.enabled, settings.lineage.transport, settings.lineage_file())


@dataclass(frozen=True)
class JobContext:
    """What a started job hands to its steps: the session, the lineage emitter and the table store.

    The store is opened here, once per job, from ``settings.writer``; steps take it as an argument
    and never choose a writer themselves.
    """

    spark: SparkSession
    emitter: LineageEmitter
    tables: TableStore


def start_job(settings: Settings, master: str | None, app_name: str | None = None, *,
              hive: bool = False, lineage_parent_id: str | None = None,
              lineage_root_parent_id: str | None = None) -> JobContext:
    """Start a job: its Spark session (with the Hive catalog if ``hive``), lineage emitter and table store.

    ``lineage_parent_id`` / ``lineage_root_parent_id`` (``namespace/job_name/run_id``, what the
    Airflow OpenLineage provider's macros render) become the ``parent`` facet of every run the job
    emits; the emitter also stamps ``processing_engine`` (the Spark version) and ``jobType`` (SPARK).
    """
    from tagfactory.lakehouse.store import open_store

    spark = start_spark(settings, master, app_name, hive=hive)
    emitter = job_lineage(lineage_emitter(settings), spark.version, lineage_parent_id, lineage_root_parent_id)
    return JobContext(spark=spark, emitter=emitter, tables=open_store(settings, spark))


def job_lineage(emitter: LineageEmitter, spark_version: str, parent_id: str | None = None,
                root_parent_id: str | None = None, *, engine: str = "spark",
                integration: str = "SPARK") -> LineageEmitter:
    """The job's emitter: its runs get the parent run, ``processing_engine`` and ``jobType`` SPARK.

    A job that runs without Spark names its engine (``engine="delta-rs"``, its version as
    ``spark_version``, ``integration="TAGFACTORY"``).

    A malformed parent id is a warning (lineage never fails a job): the runs then have no parent.
    """
    from tagfactory.lineage import ParentRun
    from tagfactory.lineage.facets import job_type, processing_engine
    from tagfactory.progress import log

    parent = None
    if parent_id:
        try:
            parent = ParentRun.parse(parent_id, root_parent_id or None)
        except ValueError as exc:
            log(f"warning: lineage parent ignored: {exc}")
    return emitter.with_defaults(parent=parent,
                                 run_facets={"processing_engine": processing_engine(spark_version, engine)},
                                 job_facets={"jobType": job_type(integration)})


def stop_job(spark: SparkSession, settings: Settings, master: str | None) -> None:
    """Stop a session this process started (not a shared cluster session handed in by spark-submit)."""
    if master or not settings.spark.master or settings.spark.master.startswith("local"):
        spark.stop()
