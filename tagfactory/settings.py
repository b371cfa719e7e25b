"""Runtime settings: where data lives and how Spark runs. Never secrets, never tag logic.

Resolution order (later wins): embedded defaults -> a YAML file (``--config`` or
``TAGFACTORY_CONFIG``) -> environment variables ``TAGFACTORY_<FIELD>`` for the top-level
fields (e.g. ``TAGFACTORY_WAREHOUSE``, ``TAGFACTORY_SPARK_MASTER``). Relative local paths are
resolved against the directory of the config file, or the current directory without one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tagfactory.errors import ConfigError


class SparkSettings(BaseModel):
    """How the SparkSession is built."""

    model_config = ConfigDict(extra="forbid")

    master: str | None = Field(None, description="local[*], yarn, k8s://...; None keeps spark-submit's choice")
    app_name: str = "tagfactory"
    conf: dict[str, str] = Field(default_factory=dict)


class LineageSettings(BaseModel):
    """Where OpenLineage events go."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    transport: dict[str, Any] | None = Field(None, description="openlineage.yml `transport:` section")
    file: str | None = Field(None, description="default JSON-lines file; <warehouse>/_lineage/openlineage.jsonl")


class QualitySettings(BaseModel):
    """The quality gate between staging and publishing."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="audit sources and staged snapshots before publishing")
    engine: Literal["fast", "gx"] = Field(
        "fast", description="fast: one fused Spark pass, Great Expectations for the rest; gx: GX for everything")
    quarantine_retention_days: float = Field(7, gt=0, description="days a failed run's files are kept")
    data_docs: bool = Field(True, description="render Great Expectations Data Docs after each audit")


class MaintenanceSettings(BaseModel):
    """Compaction and vacuum of the warehouse tables (the DAG's ``maintain_tables`` task)."""

    model_config = ConfigDict(extra="forbid")

    retention_days: float = Field(7, ge=0, description="files removed longer ago than this are deleted; "
                                                       "time travel works within it")
    target_file_mb: int = Field(128, gt=0, description="compaction target file size")


class HiveSettings(BaseModel):
    """The Hive metastore: Hive export tables (``kind: hive``) and the lakehouse tables are registered there."""

    model_config = ConfigDict(extra="forbid")

    metastore_uri: str | None = Field(None, description="thrift://host:9083; None: no metastore (Hive "
                                      "destinations fail, the lakehouse tables are not registered)")
    location_root: str = Field("hive", description="root of the Hive export tables' data "
                               "(<root>/<database>/<table>/dt=<D>/content=<id>/)")
    database: str = Field("tagfactory", description="database the lakehouse's own Delta tables are registered in")


class KafkaSettings(BaseModel):
    """The Kafka cluster of ``kind: kafka`` export destinations (servers and security never come from definitions)."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str | None = Field(None, description="host:port,...; None: Kafka destinations fail")
    client: dict[str, str] = Field(default_factory=dict, description="further librdkafka options of every "
                                   "client (security.protocol, sasl.mechanism, ssl.ca.location ...)")
    sasl_username: str | None = None
    sasl_password: str | None = Field(None, description="from TAGFACTORY_KAFKA_SASL_PASSWORD, not a file")
    replication_factor: int = Field(-1, description="of topics created by tagfactory; -1: the broker's default")
    control_topic: str = Field("_tagfactory_export_control", description="compacted topic of the committed "
                               "runs (one record per export, destination and date)")
    transaction_timeout_ms: int = Field(600_000, gt=0)
    delivery_timeout_ms: int = Field(300_000, gt=0, description="message.timeout.ms of the producer")

    def client_config(self) -> dict[str, str]:
        """librdkafka options shared by the admin client, producers and consumers."""
        if not self.bootstrap_servers:
            raise ConfigError("a Kafka destination needs `kafka: {bootstrap_servers: ...}` in the settings "
                              "(or TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS)")
        config = {"bootstrap.servers": self.bootstrap_servers, **self.client}
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password
        return config


class ExportsSettings(BaseModel):
    """The export registry (``tagfactory exports``, docs/exports.md "Registry and consumption")."""

    model_config = ConfigDict(extra="forbid")

    idle_after_days: int = Field(14, ge=1, description="an export nobody consumed for this many days is idle")


class Settings(BaseModel):
    """All runtime settings."""

    model_config = ConfigDict(extra="forbid")

    definitions: str = "tag_definitions"
    target: str = "target"
    warehouse: str = "warehouse"
    sources_root: str = "data/demo"
    exports_root: str = Field("deliveries", description="root of file drops (local path, hdfs://, s3a://); "
                              "export definitions name paths relative to it")
    writer: Literal["deltars", "native"] = Field(
        "deltars", description="deltars: Spark writes Parquet, delta-rs commits; native: Delta Lake jars on the cluster")
    spark: SparkSettings = Field(default_factory=SparkSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    hive: HiveSettings = Field(default_factory=HiveSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    exports: ExportsSettings = Field(default_factory=ExportsSettings)

    def table_uri(self, table: str) -> str:
        """Location of a warehouse table."""
        return join_uri(self.warehouse, table)

    def source_uri(self, path: str) -> str:
        """Location of a source dataset: ``path`` (from a definition) inside ``sources_root``.

        Definitions are untrusted: a path that is absolute, has a scheme or leaves the root
        (``..``) is refused here too, not only by `tagfactory validate` (docs/security.md).
        Absolute locations come from the settings (``sources_root``), never from definitions.

        Raises:
            ConfigError: ``path`` does not stay inside ``sources_root``.
        """
        from tagfactory.compiler.guards import path_problem

        problem = path_problem(path)
        if problem:
            raise ConfigError(f"source path {path!r} {problem}: definitions name paths relative to "
                             "`sources_root`; set absolute locations in the settings")
        return join_uri(self.sources_root, path)

    def export_uri(self, path: str) -> str:
        """Location of a file-drop destination: ``path`` (from an export definition) inside ``exports_root``.

        Raises:
            ConfigError: ``path`` is absolute, has a scheme or leaves the root.
        """
        from tagfactory.compiler.guards import path_problem

        problem = path_problem(path)
        if problem:
            raise ConfigError(f"export path {path!r} {problem}: definitions name paths relative to "
                             "`exports_root`; set absolute locations in the settings")
        return join_uri(self.exports_root, path)

    def lineage_file(self) -> str:
        """Default lineage event file."""
        return self.lineage.file or join_uri(self.warehouse, "_lineage/openlineage.jsonl")


ENV_FIELDS = {
    "TAGFACTORY_DEFINITIONS": ("definitions",),
    "TAGFACTORY_TARGET": ("target",),
    "TAGFACTORY_WAREHOUSE": ("warehouse",),
    "TAGFACTORY_SOURCES_ROOT": ("sources_root",),
    "TAGFACTORY_EXPORTS_ROOT": ("exports_root",),
    "TAGFACTORY_WRITER": ("writer",),
    "TAGFACTORY_SPARK_MASTER": ("spark", "master"),
    # Spark's S3A endpoint (MinIO, Ceph ...); delta-rs reads AWS_ENDPOINT_URL and AWS_* itself (docker/README.md)
    "TAGFACTORY_S3_ENDPOINT": ("spark", "conf", "spark.hadoop.fs.s3a.endpoint"),
    "TAGFACTORY_QUALITY_ENGINE": ("quality", "engine"),
    "TAGFACTORY_HIVE_METASTORE_URI": ("hive", "metastore_uri"),
    "TAGFACTORY_HIVE_LOCATION_ROOT": ("hive", "location_root"),
    "TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS": ("kafka", "bootstrap_servers"),
    "TAGFACTORY_KAFKA_SASL_USERNAME": ("kafka", "sasl_username"),
    "TAGFACTORY_KAFKA_SASL_PASSWORD": ("kafka", "sasl_password"),
    # librdkafka options that go with the credentials (a deployment sets them beside the secret)
    "TAGFACTORY_KAFKA_SECURITY_PROTOCOL": ("kafka", "client", "security.protocol"),
    "TAGFACTORY_KAFKA_SASL_MECHANISM": ("kafka", "client", "sasl.mechanism"),
    "TAGFACTORY_EXPORTS_IDLE_AFTER_DAYS": ("exports", "idle_after_days"),
}


def is_absolute(path: str) -> bool:
    """True for URIs with a scheme (hdfs://, s3a://, file:) and absolute local paths."""
    return "://" in path or path.startswith("file:") or os.path.isabs(path)


def join_uri(base: str, child: str) -> str:
    """Join a child path onto a local path or URI."""
    return base.rstrip("/") + "/" + child.lstrip("/")


def load_settings(config: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings; see the module docstring for the resolution order.

    Raises:
        ConfigError: the config file is missing or invalid (message names the file and field).
    """
    data: dict[str, Any] = {}
    base = Path.cwd()
    config = config or os.environ.get("TAGFACTORY_CONFIG")
    if config:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping of settings")
        data = loaded
        base = path.resolve().parent
    for env, keys in ENV_FIELDS.items():
        if os.environ.get(env):
            target = data
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = os.environ[env]
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        where = f"config {config}" if config else "settings"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
    for name in ("definitions", "target", "warehouse", "sources_root", "exports_root"):
        value = getattr(settings, name)
        if not is_absolute(value):
            setattr(settings, name, str((base / value).resolve()))
    if not is_absolute(settings.hive.location_root):
        settings.hive.location_root = str((base / settings.hive.location_root).resolve())
    return settings
