"""Where the project's Spark-side jars are, and the Spark settings that turn Delta Lake on.

``jvm/resolve.py`` (run by ``make install``, ``make demo`` and ``make test``) copies the jar sets
pinned in ``jvm/*/pom.xml`` from Maven Central into ``.jars/<set>/``. Only the ``spark`` set (native
Delta Lake and Spark's Kafka connector) belongs on Spark's classpath; the broker and mini-cluster
sets never do. The folder is ``$TAGFACTORY_JARS`` or, in a checkout, ``<repo>/.jars``.

On a cluster, ship the same jars with ``spark-submit --jars`` (or ``spark.jars``) and the two
settings in ``jvm/spark/spark-conf.json``; see docs/jvm-components.md. Standard library only: the DAG file and
jobs may use it without importing Spark.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tagfactory.errors import ConfigError


class JarsMissingError(ConfigError, FileNotFoundError):
    """A jar set was not resolved (``make jars``); also a FileNotFoundError, which it replaced."""

SPARK_SET = "spark"
_CHECKOUT = Path(__file__).resolve().parents[2]
# Settings that go with the spark jar set: jvm/spark/spark-conf.json, copied beside the jars by
# jvm/resolve.py (the DAG reads the same file): Delta Lake's SQL extension (DESCRIBE HISTORY,
# VERSION AS OF, OPTIMIZE, VACUUM) and its catalog, and Spark's legacy parameter substitution:
# Delta 4.4's SQL parser drops the named parameters of `spark.sql(text, args=...)` on Spark 4.1+
# (UNBOUND_SQL_PARAMETER for the compiled queries' :snapshot_date; delta-io/delta#7640, open).
# Only constants are parameters in this project's SQL, which is all the legacy mode supports.
CONF_FILE = "spark-conf.json"
# The class-data sharing archive of the Spark driver JVM, built by jvm/cds.py at install: a JVM that
# maps it starts Spark and Delta ~4-6 s sooner (docs/jvm-components.md#startup). -Xshare:auto: a
# JVM whose version or class path does not match ignores it.
CDS_SET = "spark-cds"
CDS_ARCHIVE = "spark.jsa"


def jars_root() -> Path:
    """The folder holding the resolved jar sets (it may not exist)."""
    configured = os.environ.get("TAGFACTORY_JARS")
    return Path(configured) if configured else _CHECKOUT / ".jars"


def spark_jars(root: Path | None = None) -> list[str]:
    """Absolute paths of the Spark-side jars, sorted; [] when they were not resolved."""
    folder = (root or jars_root()) / SPARK_SET
    return sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []


def jar_set(name: str, root: Path | None = None) -> Path:
    """The folder of one resolved jar set (``kafka-broker``, ``hadoop-minicluster`` ...).

    Raises:
        JarsMissingError: the set was not resolved; the message says how to resolve it.
    """
    folder = (root or jars_root()) / name
    if not any(folder.glob("*.jar")):
        raise JarsMissingError(
            f"no jars in {folder}: the `{name}` jar set was not resolved. Run `make jars` "
            f"(or `python jvm/resolve.py --set {name}`), which needs `mvn` and Maven Central once.")
    return folder


def cds_java_options(root: Path | None = None) -> str:
    """JVM options that map the driver's CDS archive (jvm/cds.py); "" when it was not built."""
    archive = (root or jars_root()) / CDS_SET / CDS_ARCHIVE
    if not archive.is_file():
        return ""
    return f"-XX:SharedArchiveFile={archive} -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"


def delta_session_conf(root: Path | None = None) -> dict[str, str]:
    """Settings that put the resolved jars on a new session's classpath and enable Delta Lake.

    Empty when the jars were not resolved (e.g. a pull-request check that never starts Spark, or a
    cluster that provides its own jars through spark-submit).
    """
    jars = spark_jars(root)
    if not jars:
        return {}
    conf: dict[str, str] = json.loads(((root or jars_root()) / SPARK_SET / CONF_FILE).read_text(encoding="utf-8"))
    cds = cds_java_options(root)
    return {"spark.jars": ",".join(jars), **conf, **({"spark.driver.extraJavaOptions": cds} if cds else {})}
