"""Daily tag factory DAG: compile the definitions, write-audit-publish the profile snapshots, then
materialize the audiences and scenes from the published snapshot.

    validate_and_compile >> check_sources >> build_profiles >> audit_profiles >> publish_profiles
        >> materialize_audiences >> analyze_effects >> maintain_tables

Each Spark step is its own task (its own spark-submit) sharing one build run id: a failed source
check stops the run before anything is computed; a failed audit quarantines the staged files and
fails ``audit_profiles`` with the list of failures, so nothing is published and the previous
snapshot stays current. ``materialize_audiences`` evaluates every audience in one pass, derives
changes, stats, audience profiles and scene assignments, checks the audiences' guardrails and only
then commits its six tables (a failed guardrail quarantines them and fails the task). To publish a
quarantined profile run anyway (a recorded decision):
``tagfactory publish --entity user --date D --override-gate --reason "..."``, then mark the
failed tasks as success.

``analyze_effects`` then measures every scene's goals as of the snapshot date (exposures frozen at the
first assignment, sufficient statistics, results, health; docs/effects.md) and replaces that date in the
four effect tables; it reads the export receipts of earlier runs for the reach (this run's exports may
still be delivering). ``maintain_tables`` then compacts small files and vacuums files removed longer ago than the
retention (settings ``maintenance.retention_days``, default 7 days) in every warehouse table.

Wiring only; the logic lives in the ``tagfactory`` package and ``jobs/``.

A run with logical date L builds the snapshot of the day that ended, D = L - 1 day (override
with the run parameter ``snapshot_date``). ``catchup=True`` makes the scheduler (or
``airflow backfill create``) fill missing days; each run replaces exactly its own ``dt``.

Environment read at parse time (all optional):
    TAGFACTORY_CONFIG          settings YAML handed to the jobs (warehouse, sources root, Spark conf)
    TAGFACTORY_TARGET          where the compiled manifest goes (default: <repo>/target)
    TAGFACTORY_PYSPARK_PYTHON  Python for the Spark driver/executors (default: this interpreter)
    TAGFACTORY_START_DATE      first logical date for catchup (default: 2026-11-01)
    TAGFACTORY_END_DATE        last logical date the scheduler creates runs for (default: none, open-ended)
    TAGFACTORY_RETRY_DELAY_SECONDS  wait before a failed task's retry (default: 300)
    TAGFACTORY_JARS            resolved jar sets (default: <repo>/.jars, from `make jars`): the jars of
                               its spark/ folder go to every spark-submit with --jars, with the settings
                               of spark/spark-conf.json (Delta Lake's extension and catalog); the driver
                               maps spark-cds/spark.jsa when jvm/cds.py built it (faster JVM start)
The Spark master comes from the Airflow connection ``spark_default``
(e.g. AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]", "extra": {"deploy-mode": "client"}}',
or host ``yarn`` / ``k8s://https://...`` on a cluster).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TypedDict, Unpack

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, Asset, Param

from tagfactory.lakehouse.jars import delta_session_conf

REPO = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("TAGFACTORY_TARGET", REPO / "target"))
PYTHON = os.environ.get("TAGFACTORY_PYSPARK_PYTHON", sys.executable)
CONFIG = os.environ.get("TAGFACTORY_CONFIG", "")
START = dt.datetime.fromisoformat(os.environ.get("TAGFACTORY_START_DATE", "2026-11-01")).replace(tzinfo=dt.UTC)
END = (dt.datetime.fromisoformat(os.environ["TAGFACTORY_END_DATE"]).replace(tzinfo=dt.UTC)
       if os.environ.get("TAGFACTORY_END_DATE") else None)
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("TAGFACTORY_RETRY_DELAY_SECONDS", "300")))
SNAPSHOT_DATE = "{{ params.snapshot_date or macros.ds_add(ds, -1) }}"
# one id for all steps of a DAG run (sanitised into a folder name by the job)
RUN_ID = "{{ run_id }}"
CONFIG_ARGS = ["--config", CONFIG] if CONFIG else []
# the parent of every job's OpenLineage runs: this task instance and its DAG run, as the OpenLineage provider's
# macros name them (when the provider has no transport its macros are absent: the same names, built here)
_OL = "macros.OpenLineageProviderPlugin"
LINEAGE_ARGS = [
    "--lineage-parent-id",
    f"{{{{ {_OL}.lineage_parent_id(task_instance) if {_OL} is defined else "
    "'default/' ~ dag.dag_id ~ '.' ~ task.task_id ~ '/' ~ run_id }}",
    "--lineage-root-parent-id",
    f"{{{{ {_OL}.lineage_root_parent_id(task_instance) if {_OL} is defined else "
    "'default/' ~ dag.dag_id ~ '/' ~ run_id }}",
]
# the resolved jars with their settings (jvm/spark/spark-conf.json) and, when jvm/cds.py built it, the
# driver's class-data sharing archive (spark.driver.extraJavaOptions); empty before `make jars`
SESSION_CONF = delta_session_conf(Path(os.environ.get("TAGFACTORY_JARS", REPO / ".jars")))
JARS = SESSION_CONF.pop("spark.jars", "")


class StepOptions(TypedDict, total=False):
    """Operator arguments a Spark step may set beyond the ones every step shares."""

    retries: int


def _manifest_exports() -> list[dict[str, object]]:
    """The exports of the compiled manifest (read as JSON at parse time; none before the first compile)."""
    try:
        manifest = json.loads((TARGET / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    exports = manifest.get("exports", [])
    return exports if isinstance(exports, list) else []


def compiled_exports() -> list[dict[str, object]]:
    """The exports that deliver: every compiled one that is not retired."""
    return [x for x in _manifest_exports() if x.get("lifecycle") != "retired"]


def retired_exports() -> list[str]:
    """The retired exports, whose outlets the ``clean_retired_exports`` task cleans after their retention."""
    return [str(x["name"]) for x in _manifest_exports() if x.get("lifecycle") == "retired"]


def export_due(manifest: str, export: str, snapshot_date: str) -> bool:
    """Whether ``export`` runs for ``snapshot_date`` (its schedule); False skips its tasks."""
    from tagfactory.exports.job import is_due

    return is_due(manifest, export, snapshot_date)


SPARK_CONF = {"spark.pyspark.python": PYTHON, "spark.pyspark.driver.python": PYTHON, **SESSION_CONF}

with DAG(
    dag_id="tag_factory_daily",
    description="Compile tag definitions and publish the daily profile snapshots to Delta",
    schedule="0 3 * * *",
    start_date=START,
    end_date=END,
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY, "owner": "data-platform"},
    params={"snapshot_date": Param(None, type=["null", "string"], format="date",
                                   description="build this date instead of the day before the logical date")},
    tags=["tagfactory"],
    doc_md=__doc__,
) as dag:
    compile_manifest = BashOperator(
        task_id="validate_and_compile",
        bash_command=shlex.join([PYTHON, "-m", "tagfactory.cli", "compile", "--definitions",
                                 str(REPO / "tag_definitions"), "--target", str(TARGET), *CONFIG_ARGS]),
        cwd=str(REPO),
        retries=0,  # invalid definitions do not fix themselves
    )

    def spark_step(task_id: str, step: str, **kwargs: Unpack[StepOptions]) -> SparkSubmitOperator:
        return SparkSubmitOperator(
            task_id=task_id,
            application=str(REPO / "jobs" / "build_profile.py"),
            application_args=["--manifest", str(TARGET / "manifest.json"), "--date", SNAPSHOT_DATE, "--step", step,
                              "--run-id", RUN_ID, *LINEAGE_ARGS, *CONFIG_ARGS],
            conn_id="spark_default",
            name=f"tagfactory-{step}",
            conf=SPARK_CONF,
            jars=JARS or None,
            **kwargs,
        )

    check_sources = spark_step("check_sources", "check-sources")
    build_profiles = spark_step("build_profiles", "stage")
    # a failed audit is a verdict on the data, not a transient error: do not retry it
    audit_profiles = spark_step("audit_profiles", "audit", retries=0)
    publish_profiles = spark_step("publish_profiles", "publish")
    def dated_job(task_id: str, script: str, name: str, **kwargs: Unpack[StepOptions]) -> SparkSubmitOperator:
        """A job of the snapshot date (jobs/<script> --manifest --date --run-id, lineage and config args)."""
        return SparkSubmitOperator(
            task_id=task_id,
            application=str(REPO / "jobs" / script),
            application_args=["--manifest", str(TARGET / "manifest.json"), "--date", SNAPSHOT_DATE, "--run-id",
                              RUN_ID, *LINEAGE_ARGS, *CONFIG_ARGS],
            conn_id="spark_default",
            name=name,
            conf=SPARK_CONF,
            jars=JARS or None,
            **kwargs,
        )

    # a failed guardrail is a verdict on the data: do not retry it
    materialize_audiences = dated_job("materialize_audiences", "build_audiences.py", "tagfactory-audiences", retries=0)
    analyze_effects = dated_job("analyze_effects", "analyze_effects.py", "tagfactory-effects")
    maintain_tables = SparkSubmitOperator(
        task_id="maintain_tables",
        application=str(REPO / "jobs" / "maintain_tables.py"),
        application_args=["--manifest", str(TARGET / "manifest.json"), *LINEAGE_ARGS, *CONFIG_ARGS],
        conn_id="spark_default",
        name="tagfactory-maintenance",
        conf=SPARK_CONF,
        jars=JARS or None,
    )
    (compile_manifest >> check_sources >> build_profiles >> audit_profiles >> publish_profiles >> materialize_audiences
     >> analyze_effects >> maintain_tables)

    def export_step(task_id: str, export: str, step: str, *extra: str, **kwargs: object) -> SparkSubmitOperator:
        return SparkSubmitOperator(
            task_id=task_id,
            application=str(REPO / "jobs" / "export.py"),
            application_args=["--manifest", str(TARGET / "manifest.json"), "--date", SNAPSHOT_DATE, "--export", export,
                              "--step", step, "--run-id", RUN_ID, *extra, *LINEAGE_ARGS, *CONFIG_ARGS],
            conn_id="spark_default",
            name=f"tagfactory-export-{step}",
            conf=SPARK_CONF,
            jars=JARS or None,
            **kwargs,  # type: ignore[arg-type]
        )

    # per export: due? >> select >> one task per destination >> verify (from the compiled manifest)
    for spec in compiled_exports():
        name = str(spec["name"])
        due = ShortCircuitOperator(
            task_id=f"export_{name}.due", python_callable=export_due,
            op_args=[str(TARGET / "manifest.json"), name, SNAPSHOT_DATE], ignore_downstream_trigger_rules=True)
        select = export_step(f"export_{name}.select", name, "select")
        verify = BashOperator(
            task_id=f"export_{name}.verify", retries=0, cwd=str(REPO),
            bash_command=shlex.join([PYTHON, str(REPO / "jobs" / "export.py"), "--manifest", str(TARGET / "manifest.json"),
                                     "--date", SNAPSHOT_DATE, "--export", name, "--step", "verify", *CONFIG_ARGS]))
        destinations = spec.get("destinations") or []
        assert isinstance(destinations, list)
        for dest in destinations:
            deliver = export_step(
                f"export_{name}.{dest['name']}", name, "deliver", "--destination", str(dest["name"]),
                outlets=[Asset(name=f"tagfactory.export.{name}.{dest['name']}",
                               uri=f"x-tagfactory://export/{name}/{dest['name']}")])
            select >> deliver >> verify
        materialize_audiences >> due >> select

    # retired exports deliver nothing; their drops, workbooks and Hive partitions go after the retention
    if retired := retired_exports():
        clean_retired = export_step("clean_retired_exports", retired[0], "clean",
                                    *(arg for name in retired[1:] for arg in ("--export", name)))
        materialize_audiences >> clean_retired
