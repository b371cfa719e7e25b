"""What every job shares: the settings, the manifest, the Spark session, the lineage emitter, run ids.

The profile build, the audience materialization, the maintenance job and the CLI commands that
start Spark all start and stop through here, so they agree on the session defaults (the master
of the settings, else spark-submit's, else ``local[*]``: see
:func:`tagfactory.lakehouse.spark.build_spark_session`) and on the stop rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tagfactory.compiler.manifest import Manifest, manifest_path, read_manifest
from tagfactory.errors import ConfigError
from tagfactory.progress import step

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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


def start_spark(settings: Settings, master: str | None, app_name: str | None = None) -> SparkSession:
    """The Spark session of a job: ``master``, else the settings' master, else spark-submit's or ``local[*]``."""
    from tagfactory.lakehouse.spark import build_spark_session

    with step("starting Spark") as s:
        spark = build_spark_session(app_name or settings.spark.app_name, master or settings.spark.master,
                                    settings.spark.conf)
        s.detail = f"master {spark.sparkContext.master}"
    return spark


def lineage_emitter(settings: Settings) -> LineageEmitter:
    """The OpenLineage emitter the settings configure (disabled: a no-op emitter)."""
    from tagfactory.lineage import LineageEmitter

    return LineageEmitter.from_config(settings.lineage.enabled, settings.lineage.transport, settings.lineage_file())


def start_job(settings: Settings, master: str | None, app_name: str | None = None
              ) -> tuple[SparkSession, LineageEmitter]:
    """The Spark session and the lineage emitter of a job."""
    return start_spark(settings, master, app_name), lineage_emitter(settings)


def stop_job(spark: SparkSession, settings: Settings, master: str | None) -> None:
    """Stop a session this process started (not a shared cluster session handed in by spark-submit)."""
    if master or not settings.spark.master or settings.spark.master.startswith("local"):
        spark.stop()
