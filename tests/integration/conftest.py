"""Fixtures for the Spark integration tests: generated demo data, a compiled manifest, built snapshots."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.compiler.manifest import Entity, Manifest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parents[2]
END_DATE = dt.date(2026, 11, 24)
EDGE_DATE = END_DATE - dt.timedelta(days=1)  # the generator plants window-boundary rows around it
DATES = (EDGE_DATE, EDGE_DATE - dt.timedelta(days=7))


@dataclass
class Built:
    """A warehouse built from generated data by the real build job."""

    data: Path
    target: Path
    warehouse: Path
    settings: Any
    manifest: Manifest

    @property
    def entity(self) -> Entity:
        return self.manifest.entities[0]

    @property
    def digest(self) -> str:
        return self.manifest.digest


def compile_to(definitions: Path, target: Path) -> Manifest:
    """Compile definitions into a manifest under ``target`` (the real `tagfactory compile` path)."""
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    project, _ = load_project(definitions)
    manifest = build_manifest(project, definitions)
    write_manifest(manifest, target)
    return manifest


def build(spark: SparkSession, built: Built, entity: Entity, date: dt.date) -> dict[str, Any]:
    """Run the build job's per-entity step with the test session."""
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import build_entity

    emitter = LineageEmitter.from_config(True, None, built.settings.lineage_file())
    return build_entity(spark, built.settings, entity, date, emitter, built.digest,
                        tables=open_store(built.settings, spark))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small deterministic demo sources (2,000 users, 120 days, planted edge cases)."""
    from tagfactory.demo.generate import generate_demo_data

    out = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_data(out, n_users=2_000, end_date=END_DATE, days=120, seed=11, progress=None)
    return out


@pytest.fixture(scope="session")
def project_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per run, copied to ``tagfactory.zip``: what ``spark-submit
    --py-files`` ships to a cluster. A wheel is a zip archive, but PySpark 4.2 puts only ``.zip``,
    ``.egg`` and ``.jar`` py-files on the Python path (driver and executors), never a ``.whl``."""
    from tests.wheel import build_wheel

    base = tmp_path_factory.mktemp("project-wheel")
    return Path(shutil.copy(build_wheel(base), base / "tagfactory.zip"))


@pytest.fixture(scope="session")
def built(spark: SparkSession, demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The repository's tag definitions built for both test dates into a fresh warehouse."""
    from tagfactory.settings import load_settings

    base = tmp_path_factory.mktemp("built")
    settings = load_settings(overrides={"warehouse": str(base / "warehouse"), "sources_root": str(demo_data),
                                        "target": str(base / "target"), "definitions": str(REPO / "tag_definitions")})
    manifest = compile_to(REPO / "tag_definitions", base / "target")
    result = Built(demo_data, base / "target", base / "warehouse", settings, manifest)
    for date in DATES:
        build(spark, result, result.entity, date)
    yield result


def copy_warehouse(spark: SparkSession, built: Built, source: Path, base: Path) -> tuple[Any, Any]:
    """A copy of the warehouse ``source`` in ``base/warehouse`` (file drops in ``base/deliveries``),
    with its settings (no Data Docs) and its table store: what a test that changes tables starts from."""
    from tagfactory.lakehouse.store import open_store
    from tagfactory.settings import load_settings

    shutil.copytree(source, base / "warehouse")
    settings = load_settings(overrides={"warehouse": str(base / "warehouse"), "sources_root": str(built.data),
                                        "target": str(built.target), "exports_root": str(base / "deliveries")})
    settings.quality.data_docs = False
    return settings, open_store(settings, spark)


@dataclass
class Materialized:
    """The built warehouse with the audiences and scenes of both test dates published (copy it
    before changing it): what the audience and export tests start from."""

    built: Built
    warehouse: Path
    summaries: dict[dt.date, dict[str, Any]]


@pytest.fixture(scope="session")
def materialized(spark: SparkSession, built: Built, tmp_path_factory: pytest.TempPathFactory) -> Materialized:
    """The audiences of both test dates materialized once per test run by the real audience job."""
    from tagfactory.audiences.materialize import materialize

    base = tmp_path_factory.mktemp("materialized")
    settings, tables = copy_warehouse(spark, built, built.warehouse, base)
    summaries = {date: materialize(spark, settings, tables, built.entity, date, f"aud-{date}", built.target,
                                   built.digest) for date in sorted(DATES)}
    return Materialized(built, base / "warehouse", summaries)


@pytest.fixture(scope="session")
def hive_spark(spark: SparkSession, hive_metastore: Any) -> SparkSession:
    """A second root session on the test run's SparkContext whose catalog is the test metastore.

    ``spark.sql.catalogImplementation`` is static: the shared ``spark`` session (in-memory
    catalog) cannot switch, but a new root session gets its own catalog from its options, the
    same settings ``build_spark_session(hive_metastore_uri=...)`` gives a job.
    """
    from pyspark.sql import SparkSession as Session

    from tagfactory.lakehouse.spark import hive_session_conf

    options = {**hive_session_conf(hive_metastore.uri), "hive.metastore.uris": hive_metastore.uri}
    jvm: Any = spark._jvm  # type: ignore[attr-defined]
    jsession = jvm.org.apache.spark.sql.classic.SparkSession(spark._jsc.sc(), options)  # type: ignore[attr-defined]
    session = Session(spark.sparkContext, jsparkSession=jsession)
    assert session.conf.get("spark.sql.catalogImplementation") == "hive"
    return session
