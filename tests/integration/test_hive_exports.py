"""The Hive destination and the lakehouse tables in the metastore (tagfactory/exports/hive.py, catalog_tables.py).

A Spark session on the test metastore (``hive_metastore``) publishes small staged Parquet copies
as ``dt`` partitions of external tables; what analysts see is read back through the Spark Thrift
server (``hive_thrift_server``, a second Spark process that knows the tables only from the
metastore) with Hive's beeline client. Every SQL statement Spark runs in this module is recorded:
none may be ``MSCK``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.compiler.export_models import HiveDestination
from tagfactory.errors import ExportError
from tagfactory.exports import hive
from tagfactory.exports.contracts import ExportedColumn, Selection
from tests.servers.hive import beeline

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.hive import ThriftServer

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
D1 = dt.date(2026, 11, 23)
D2 = dt.date(2026, 11, 24)
COLUMNS = "user_id STRING, audience STRING, email_sha256 STRING"


@pytest.fixture(autouse=True)
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every metastore write of tagfactory.exports.hive, and every SQL text Spark runs: never MSCK."""
    from pyspark.sql import SparkSession as Session

    writes: list[str] = []
    every: list[str] = []
    write = hive.metastore_write
    run = Session.sql

    def record_write(spark: Any, statement: str, call: Any = None) -> None:
        writes.append(statement)
        write(spark, statement, call)

    def record_sql(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        every.append(text)
        return run(self, text, *args, **kwargs)

    monkeypatch.setattr(hive, "metastore_write", record_write)
    monkeypatch.setattr(Session, "sql", record_sql)
    yield writes
    assert not [s for s in writes + every if "MSCK" in s.upper()]


def stage(spark: SparkSession, root: Path, rows: list[tuple[Any, ...]], date: dt.date = D1,
          columns: str = COLUMNS, export: str = "crm_members") -> Selection:
    """A staged Parquet copy of ``rows`` as the selection step leaves it, and its Selection."""
    content_id = hashlib.sha256(repr((columns, sorted(rows, key=repr))).encode()).hexdigest()[:32]
    uri = root / "_exports" / export / f"dt={date.isoformat()}" / f"content={content_id}"
    if not uri.exists():
        spark.createDataFrame(rows, columns).coalesce(1).write.parquet(str(uri))
    names = [c.strip().split(" ")[0] for c in columns.split(",")]
    cols = tuple(ExportedColumn(n, "string", "hash:crm" if n == "email_sha256" else None) for n in names)
    return Selection(export=export, entity="user", snapshot_date=date, content_id=content_id, staged_uri=str(uri),
                     columns=cols, source_versions={"audience_members_user": 3}, manifest_digest="test",
                     rows_selected=len(rows), rows_suppressed={})


def rows(n: int, start: int = 0) -> list[tuple[str, str, str]]:
    return [(f"u{i}", "vip", hashlib.sha256(f"u{i}@example.com".encode()).hexdigest()) for i in range(start, start + n)]


def dest(table: str) -> HiveDestination:
    return HiveDestination(kind="hive", name=f"hive_{table}", database="crm", table=table)


def content_folders(root: Path, table: str, date: dt.date) -> list[str]:
    folder = root / "crm" / table / f"dt={date.isoformat()}"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(("_", ".")))


def test_publish_republish_and_replace_a_date(hive_spark: SparkSession, hive_thrift_server: ThriftServer,
                                              tmp_path: Path, statements: list[str]) -> None:
    root = tmp_path / "hive"
    first = stage(hive_spark, tmp_path, rows(3))
    delivery = hive.deliver_hive(hive_spark, first, dest("members"), str(root),
                                 properties={"tagfactory.owner": "crm-team"})
    assert (delivery.status, delivery.rows_delivered, delivery.kind) == ("delivered", 3, "hive")
    assert delivery.location.endswith(f"/crm/members/dt={D1}/content={first.content_id}")
    assert [s.split(" (")[0].split(" `")[0] for s in statements] == [
        "CREATE DATABASE IF NOT EXISTS", "CREATE EXTERNAL TABLE IF NOT EXISTS", "ALTER TABLE"]
    assert "ADD IF NOT EXISTS PARTITION (`dt`='2026-11-23') LOCATION" in statements[-1]
    assert content_folders(root, "members", D1) == [f"content={first.content_id}"]

    statements.clear()
    again = hive.deliver_hive(hive_spark, first, dest("members"), str(root))
    assert (again.status, again.rows_delivered) == ("unchanged", 3)
    assert statements == []  # no metastore write
    assert content_folders(root, "members", D1) == [f"content={first.content_id}"]

    second = stage(hive_spark, tmp_path, rows(5, start=10))
    replaced = hive.deliver_hive(hive_spark, second, dest("members"), str(root))
    assert (replaced.status, replaced.rows_delivered) == ("delivered", 5)
    assert replaced.detail["supersedes"] == first.content_id
    assert len(statements) == 1 and "PARTITION (`dt`='2026-11-23') SET LOCATION" in statements[0]
    # the old folder stays until retention removes it
    assert content_folders(root, "members", D1) == sorted([f"content={first.content_id}",
                                                            f"content={second.content_id}"])
    location = hive.HiveCatalog(hive_spark, "crm", "members").partition_location(D1.isoformat())
    assert location is not None and location.endswith(f"content={second.content_id}")

    answers = beeline(hive_thrift_server.jdbc_url,
                      "SELECT count(*) FROM crm.members WHERE dt = '2026-11-23';"
                      " SELECT min(user_id) FROM crm.members WHERE dt = '2026-11-23';"
                      " SHOW TBLPROPERTIES crm.members ('tagfactory.owner')")
    assert answers[:2] == [["5"], ["u10"]]
    assert answers[2][-1] == "crm-team"


def test_a_new_column_is_added_and_older_partitions_read_it_as_null(
        hive_spark: SparkSession, hive_thrift_server: ThriftServer, tmp_path: Path, statements: list[str]) -> None:
    root = tmp_path / "hive"
    hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, rows(3)), dest("scored"), str(root))
    wider = [(*r, 7) for r in rows(4)]
    statements.clear()
    delivery = hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, wider, D2, COLUMNS + ", score BIGINT"),
                                 dest("scored"), str(root))
    assert (delivery.status, delivery.rows_delivered) == ("delivered", 4)
    assert statements[0] == "ALTER TABLE `crm`.`scored` ADD COLUMNS (`score` bigint)"
    answers = beeline(hive_thrift_server.jdbc_url,
                      "SELECT dt, count(*), count(score), sum(score) FROM crm.scored GROUP BY dt ORDER BY dt")
    assert answers[1] == ["2026-11-24", "4", "4", "28"]
    assert answers[0][:3] == ["2026-11-23", "3", "0"] and answers[0][3] in ("", "NULL")  # sum of nulls


def test_a_retyped_or_removed_column_is_refused_with_how_to_migrate(
        hive_spark: SparkSession, tmp_path: Path, statements: list[str]) -> None:
    root = tmp_path / "hive"
    hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, rows(3)), dest("typed"), str(root))
    statements.clear()
    retyped = stage(hive_spark, tmp_path, [(f"u{i}", i, "x") for i in range(3)], D2,
                    "user_id STRING, audience INT, email_sha256 STRING")
    with pytest.raises(ExportError, match="column audience is string in the table but int") as err:
        hive.deliver_hive(hive_spark, retyped, dest("typed"), str(root))
    assert "new `table:` name" in str(err.value) and "DROP TABLE crm.typed" in str(err.value)
    assert "backfill" in str(err.value)
    narrower = stage(hive_spark, tmp_path, [(f"u{i}", "vip") for i in range(3)], D2, "user_id STRING, audience STRING")
    with pytest.raises(ExportError, match="column email_sha256 is in the table but no longer delivered"):
        hive.deliver_hive(hive_spark, narrower, dest("typed"), str(root))
    assert statements == []
    assert hive.HiveCatalog(hive_spark, "crm", "typed").partition_location(D2.isoformat()) is None
    assert not (root / "crm" / "typed" / f"dt={D2}").exists()


def test_a_table_of_another_export_is_not_touched(hive_spark: SparkSession, tmp_path: Path) -> None:
    root = tmp_path / "hive"
    hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, rows(2)), dest("owned"), str(root))
    other = stage(hive_spark, tmp_path, rows(2), D2, export="other_export")
    with pytest.raises(ExportError, match="not export other_export's table"):
        hive.deliver_hive(hive_spark, other, dest("owned"), str(root))


def test_retention_drops_expired_dates_with_their_superseded_content(
        hive_spark: SparkSession, tmp_path: Path, statements: list[str]) -> None:
    root = tmp_path / "hive"
    old, middle = D1 - dt.timedelta(days=2), D1 - dt.timedelta(days=1)
    for date in (old, middle, D1):
        hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, rows(2), date), dest("kept"), str(root))
    hive.deliver_hive(hive_spark, stage(hive_spark, tmp_path, rows(3), old), dest("kept"), str(root))  # supersedes
    assert len(content_folders(root, "kept", old)) == 2
    statements.clear()
    removed = hive.remove_expired(hive_spark, dest("kept"), str(root), 1, D1)
    assert removed == [f"dt={old}"] and not (root / "crm" / "kept" / f"dt={old}").exists()
    assert statements == [f"ALTER TABLE `crm`.`kept` DROP IF EXISTS PARTITION (`dt`='{old}')"]
    catalog = hive.HiveCatalog(hive_spark, "crm", "kept")
    assert catalog.partition_location(old.isoformat()) is None
    assert [catalog.count(d.isoformat()) for d in (old, middle, D1)] == [0, 2, 2]
    assert hive.remove_expired(hive_spark, dest("kept"), str(root), 1, D1) == []  # idempotent


def test_a_session_without_the_hive_catalog_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="hive.metastore_uri"):
        hive.deliver_hive(spark, stage(spark, tmp_path, rows(1)), dest("nowhere"), str(tmp_path / "hive"))


def test_the_module_never_issues_msck() -> None:
    """Besides the recorded statements: no code string of the module spells MSCK (docstrings may)."""
    import ast

    tree = ast.parse(Path(hive.__file__).read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    strings = [n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]
    assert strings and not [s for s in strings if "msck" in s.lower()]


def test_lakehouse_tables_are_registered_and_queryable(
        hive_spark: SparkSession, hive_thrift_server: ThriftServer, tmp_path: Path) -> None:
    from deltalake import DeltaTable

    from tagfactory.exports.catalog_tables import lakehouse_tables, register_lakehouse_tables
    from tagfactory.lakehouse.schemas import struct_type
    from tagfactory.lakehouse.store import store_for
    from tagfactory.settings import load_settings
    from tests.integration.conftest import compile_to

    manifest = compile_to(REPO / "tag_definitions", tmp_path / "target")
    settings = load_settings(overrides={"warehouse": str(tmp_path / "warehouse"), "target": str(tmp_path / "target")})
    specs = {s.name: s for s in lakehouse_tables(manifest)}
    entity = manifest.entities[0]
    written = [entity.profile_table, "quality_results"]
    store = store_for("deltars", hive_spark)
    for n, name in enumerate(written):
        schema = struct_type(specs[name], storage=True)
        values = [tuple(i if f.name == entity.key and f.dataType.simpleString() != "string" else f"k{i}"
                        if f.name in (entity.key, "run_id") else D1 if f.name == "dt" else None for f in schema.fields)
                  for i in range(3 + n)]
        store.publish(hive_spark.createDataFrame(values, schema), settings.table_uri(name))

    outcomes = register_lakehouse_tables(hive_spark, manifest, settings)
    assert set(outcomes) == set(specs) and "export_receipts" in outcomes
    assert {k: v for k, v in outcomes.items() if v != "missing"} == {n: "registered" for n in written}
    assert set(register_lakehouse_tables(hive_spark, manifest, settings).values()) == {"unchanged", "missing"}

    expected = [[str(DeltaTable(settings.table_uri(name)).to_pyarrow_table().num_rows)] for name in written]
    answers = beeline(hive_thrift_server.jdbc_url,
                      "; ".join(f"SELECT count(*) FROM tagfactory.{name}" for name in written))
    assert answers == expected == [["3"], ["4"]]
    assert hive_spark.table(f"tagfactory.{entity.profile_table}").count() == 3


def test_hive_settings() -> None:
    from tagfactory.lakehouse.spark import hive_session_conf
    from tagfactory.settings import load_settings

    settings = load_settings(overrides={"warehouse": "/w"})
    assert settings.hive.metastore_uri is None and settings.hive.database == "tagfactory"
    assert Path(settings.hive.location_root).is_absolute()
    assert hive_session_conf("thrift://127.0.0.1:9083") == {
        "spark.sql.catalogImplementation": "hive", "spark.hadoop.hive.metastore.uris": "thrift://127.0.0.1:9083"}
