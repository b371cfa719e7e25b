"""File drops (tagfactory/exports/files.py) with the shared Spark session: crash safety, re-runs,
reconciliation, CSV details, splitting, retention, HDFS and a real SIGKILL."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.compiler.export_models import FilesDestination
from tagfactory.errors import ExportError
from tagfactory.exports.contracts import ExportedColumn, Selection
from tagfactory.exports.files import FLAT_STEPS, RUN_STEPS, deliver_files, remove_expired

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.hdfs import HdfsCluster

pytestmark = [pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]
D = dt.date(2026, 11, 24)
COLUMNS = (ExportedColumn("key", "string"), ExportedColumn("email", "string", pii="hash:email_v1"),
           ExportedColumn("note", "string"), ExportedColumn("score", "int"))
ROWS = [(f"u{i:02d}", f"h{i:02d}", f"note {i}", i) for i in range(10)]


class Crash(BaseException):
    """A simulated crash: not an Exception, so nothing in the delivery catches it."""


def make_selection(spark: SparkSession, base: Path, rows: list[tuple[Any, ...]] = ROWS, *,
                   cid: str = "c1", date: dt.date = D, columns: tuple[ExportedColumn, ...] = COLUMNS,
                   schema: str = "key STRING, email STRING, note STRING, score INT") -> Selection:
    staged = base / f"staged-{cid}-{date}"
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("overwrite").parquet(str(staged))
    return Selection(export="members_daily", entity="user", snapshot_date=date, content_id=cid,
                     staged_uri=str(staged), columns=columns, source_versions={"profile": 7},
                     manifest_digest="d" * 64, rows_selected=len(rows) + 2,
                     rows_suppressed={"opt_out": 2}, hash_profiles=("email_v1",), lineage_run_id="lr-1")


def files_dest(**kw: Any) -> FilesDestination:
    return FilesDestination.model_validate({"kind": "files", "name": "drop", "path": "crm/daily", **kw})


def latest(root: Path, folder: str = "") -> str | None:
    path = root / folder / "_LATEST" if folder else root / "_LATEST"
    return path.read_text().strip() if path.exists() else None


def check_complete(folder: Path) -> dict[str, Any]:
    """A complete drop: _SUCCESS names the manifest's SHA-256; every file matches the manifest."""
    body = (folder / "_manifest.json").read_bytes()
    marker = json.loads((folder / "_SUCCESS").read_text())
    manifest = json.loads(body)
    assert marker == {"manifest_sha256": hashlib.sha256(body).hexdigest(),
                      "rows": manifest["rows"]["delivered"], "files": len(manifest["files"])}
    data = sorted(p.name for p in folder.iterdir() if not p.name.startswith(("_", ".")))
    assert data == sorted(f["name"] for f in manifest["files"])
    for f in manifest["files"]:
        raw = (folder / f["name"]).read_bytes()
        assert (len(raw), hashlib.sha256(raw).hexdigest()) == (f["bytes"], f["sha256"])
    return manifest


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return list(csv.reader(io.StringIO(raw.decode(encoding), newline="")))


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drops")


@pytest.fixture(scope="module")
def with_a(spark: SparkSession, base: Path) -> Path:
    """A root holding one complete run of content c1 for D (copied by the tests that change it)."""
    root = base / "with_a"
    deliver_files(spark, make_selection(spark, base), files_dest(), str(root))
    return root


def test_delivers_a_complete_run_with_its_manifest(spark: SparkSession, with_a: Path) -> None:
    run = with_a / "dt=2026-11-24" / "run=c1"
    manifest = check_complete(run)
    assert latest(with_a) == "dt=2026-11-24/run=c1" and latest(with_a, "dt=2026-11-24") == "run=c1"
    assert manifest["files"][0]["name"] == "members_daily_20261124_00000.csv"
    assert {k: manifest[k] for k in ("export", "snapshot_date", "content_id", "supersedes", "source_versions",
                                     "manifest_digest", "lineage_run_id", "format", "layout")} == {
        "export": "members_daily", "snapshot_date": "2026-11-24", "content_id": "c1", "supersedes": None,
        "source_versions": {"profile": 7}, "manifest_digest": "d" * 64, "lineage_run_id": "lr-1",
        "format": "csv", "layout": "run"}
    assert manifest["rows"] == {"selected": 12, "suppressed": {"opt_out": 2}, "delivered": 10}
    assert manifest["schema"][1] == {"name": "email", "type": "string", "pii": "hash:email_v1", "description": ""}
    assert manifest["csv"]["delimiter"] == "," and manifest["created_at"].startswith("20")
    rows = read_csv(run / manifest["files"][0]["name"])
    assert rows[0] == ["key", "email", "note", "score"] and rows[1:] == [[*map(str, r)] for r in ROWS]


@pytest.mark.parametrize("step", RUN_STEPS)
def test_a_crash_at_any_step_publishes_nothing_and_the_rerun_one_drop(
        spark: SparkSession, base: Path, with_a: Path, step: str) -> None:
    root = base / f"crash-{step}"
    shutil.copytree(with_a, root)
    new = make_selection(spark, base, ROWS[:7], cid="c2")

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        deliver_files(spark, new, files_dest(), str(root), hooks=crash)
    day = root / "dt=2026-11-24"
    assert latest(root) == "dt=2026-11-24/run=c1" and latest(root, "dt=2026-11-24") == "run=c1"
    for run in day.glob("run=*"):
        if (run / "_SUCCESS").exists():
            check_complete(run)  # only whole drops are ever marked
    assert (day / "run=c2" / "_SUCCESS").exists() == (step == "update_latest")

    again = deliver_files(spark, new, files_dest(), str(root))
    assert again.status == "delivered" and again.rows_delivered == 7
    assert sorted(p.name for p in day.iterdir() if not p.name.startswith(".")) == ["_LATEST", "run=c1", "run=c2"]
    assert check_complete(day / "run=c2")["supersedes"] == "c1"
    check_complete(day / "run=c1")
    assert latest(root) == "dt=2026-11-24/run=c2" and latest(root, "dt=2026-11-24") == "run=c2"
    assert not [p for p in root.rglob("_tmp*")]


@pytest.mark.parametrize("step", FLAT_STEPS)
def test_flat_layout_crash_leaves_no_success_on_a_mix(spark: SparkSession, base: Path, step: str) -> None:
    root = base / f"flat-{step}"
    dest = files_dest(layout="flat", file_name="members_{part}.csv", max_rows_per_file=4)
    deliver_files(spark, make_selection(spark, base), dest, str(root))
    check_complete(root)
    new = make_selection(spark, base, ROWS[:3], cid="c2")

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        deliver_files(spark, new, dest, str(root), hooks=crash)
    if (root / "_SUCCESS").exists():
        assert check_complete(root)["content_id"] == "c1"
    assert deliver_files(spark, new, dest, str(root)).status == "delivered"
    manifest = check_complete(root)
    assert (manifest["content_id"], manifest["supersedes"]) == ("c2", "c1")
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith((".", "_"))) == ["members_0.csv"]
    assert deliver_files(spark, new, dest, str(root)).status == "unchanged"


def test_rerun_of_the_same_content_rewrites_nothing(spark: SparkSession, base: Path, with_a: Path) -> None:
    before = tree(with_a)
    again = deliver_files(spark, make_selection(spark, base), files_dest(), str(with_a))
    assert again.status == "unchanged" and again.rows_delivered == 10 and len(again.files) == 1
    assert tree(with_a) == before


def test_new_content_supersedes_and_retention_keeps_the_latest(
        spark: SparkSession, base: Path, with_a: Path) -> None:
    root = base / "supersede"
    shutil.copytree(with_a, root)
    second = deliver_files(spark, make_selection(spark, base, ROWS[:4], cid="c2"), files_dest(), str(root))
    assert second.detail["supersedes"] == "c1" and latest(root) == "dt=2026-11-24/run=c2"
    assert check_complete(root / "dt=2026-11-24" / "run=c1")["content_id"] == "c1"  # kept until retention
    # a backfill of an earlier date does not move the root pointer
    deliver_files(spark, make_selection(spark, base, cid="c0", date=D - dt.timedelta(days=40)),
                  files_dest(), str(root))
    assert latest(root) == "dt=2026-11-24/run=c2" and latest(root, "dt=2026-10-15") == "run=c0"
    assert remove_expired(spark, str(root), 30, D + dt.timedelta(days=31)) == ["dt=2026-10-15"]
    assert sorted(p.name for p in root.glob("dt=*")) == ["dt=2026-11-24"]  # _LATEST's date stays


def test_planted_row_loss_fails_reconciliation_and_publishes_nothing(spark: SparkSession, base: Path) -> None:
    root = base / "loss"

    def lose_a_line(step: str) -> None:
        if step == "verify":
            (data,) = [p for p in root.rglob("*.csv")]
            data.write_text("".join(data.read_text().splitlines(keepends=True)[:-1]))
            (data.parent / f".{data.name}.crc").unlink()  # else Hadoop's local checksum catches it first

    with pytest.raises(ExportError, match="reconciliation failed.*9 rows read back.*10 expected"):
        deliver_files(spark, make_selection(spark, base), files_dest(), str(root), hooks=lose_a_line)
    assert not list(root.rglob("_SUCCESS")) and not list(root.rglob("run=*")) and latest(root) is None
    assert not list(root.rglob("_tmp*"))

    def lose_a_file(step: str) -> None:
        if step == "verify":
            next(root.rglob("*.parquet")).unlink()

    with pytest.raises(ExportError, match="reconciliation failed"):
        deliver_files(spark, make_selection(spark, base), files_dest(format="parquet", max_rows_per_file=5),
                      str(root), hooks=lose_a_file)
    assert not list(root.rglob("_SUCCESS")) and latest(root) is None


def test_csv_formulas_are_escaped_and_text_kept(spark: SparkSession, base: Path) -> None:
    values = ["=1+1", "+x", "-2", "@SUM(A1)", "\tx", "\rx", "a-b", " spaced ", 'say "hi", ok', "two\nlines", None, ""]
    rows = [(f"u{i}", v, v, i) for i, v in enumerate(values)]
    selection = make_selection(spark, base, rows, cid="inj")
    escaped = deliver_files(spark, selection, files_dest(), str(base / "inj"))
    plain = deliver_files(spark, selection, files_dest(csv={"escape_formulas": False}), str(base / "inj-off"))
    got = read_csv(base / "inj" / "dt=2026-11-24" / "run=inj" / escaped.files[0].name)[1:]
    raw = read_csv(base / "inj-off" / "dt=2026-11-24" / "run=inj" / plain.files[0].name)[1:]
    want = ["'=1+1", "'+x", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "a-b", " spaced ", 'say "hi", ok', "two\nlines", "", ""]
    assert [r[1] for r in got] == want and [r[2] for r in got] == want
    assert [r[1] for r in raw] == [v or "" for v in values]
    assert escaped.rows_delivered == plain.rows_delivered == len(values)  # multi-line values counted once


def test_bom_only_for_utf8_sig_and_only_with_a_header(spark: SparkSession, base: Path) -> None:
    selection = make_selection(spark, base, cid="bom")
    sig = deliver_files(spark, selection, files_dest(csv={"encoding": "utf-8-sig"}, max_rows_per_file=6),
                        str(base / "bom"))
    plain = deliver_files(spark, selection, files_dest(), str(base / "nobom"))
    for f in sig.files:
        path = base / "bom" / "dt=2026-11-24" / "run=bom" / f.name
        assert path.read_bytes().startswith(b"\xef\xbb\xbfkey,")
        assert read_csv(path, "utf-8-sig")[0] == ["key", "email", "note", "score"]
    assert (base / "nobom" / "dt=2026-11-24" / "run=bom" / plain.files[0].name).read_bytes().startswith(b"key,")
    with pytest.raises(ExportError, match="utf-8-sig.*needs `header: true`"):
        deliver_files(spark, selection, files_dest(csv={"encoding": "utf-8-sig", "header": False}),
                      str(base / "bom-nohead"))


def test_gzip_with_options_reads_back_with_python(spark: SparkSession, base: Path) -> None:
    rows = [("u1", "a;b", None, 1), ("u2", "x'y", "n", 2)]
    dest = files_dest(csv={"compression": "gzip", "delimiter": ";", "quote": "'", "null": "NULL",
                           "header": False})
    got = deliver_files(spark, make_selection(spark, base, rows, cid="gz"), dest, str(base / "gz"))
    (f,) = got.files
    assert f.name == "members_daily_20261124_00000.csv.gz"
    raw = gzip.decompress((base / "gz" / "dt=2026-11-24" / "run=gz" / f.name).read_bytes()).decode()
    assert list(csv.reader(io.StringIO(raw), delimiter=";", quotechar="'")) == [
        ["u1", "a;b", "NULL", "1"], ["u2", "x'y", "n", "2"]]


def test_max_rows_per_file_splits_in_order_with_checksums(spark: SparkSession, base: Path) -> None:
    dest = files_dest(max_rows_per_file=3, file_name="{export}-{content_id}-{dt}-{part:03d}.{ext}")
    got = deliver_files(spark, make_selection(spark, base, cid="split"), dest, str(base / "split"))
    run = base / "split" / "dt=2026-11-24" / "run=split"
    assert [f.name for f in got.files] == [f"members_daily-split-2026-11-24-{i:03d}.csv" for i in range(4)]
    assert [f.rows for f in got.files] == [3, 3, 3, 1]
    body: list[list[str]] = []
    for f in got.files:
        raw = (run / f.name).read_bytes()
        assert (f.sha256, f.bytes) == (hashlib.sha256(raw).hexdigest(), len(raw))
        part = read_csv(run / f.name)
        assert part[0] == ["key", "email", "note", "score"] and len(part) - 1 == f.rows
        body += part[1:]
    assert body == [[*map(str, r)] for r in ROWS]  # the staged order, part after part


def test_a_gzip_file_assembled_from_parallel_parts_reads_back_everywhere(spark: SparkSession, base: Path) -> None:
    """One 1-file drop written by several Spark tasks: a multi-member gzip file every reader reads whole."""
    rows = [(f"u{i:03d}", f"h{i:03d}", f"note {i}", i) for i in range(200)]
    selection = make_selection(spark, base, rows, cid="members")
    staged = Path(selection.staged_uri)
    spark.createDataFrame(rows, "key STRING, email STRING, note STRING, score INT").repartition(4).sortWithinPartitions(
        "key").write.mode("overwrite").parquet(str(staged))
    order = [r["key"] for r in spark.read.parquet(str(staged)).collect()]  # the staged order, part after part
    got = deliver_files(spark, selection, files_dest(csv={"compression": "gzip"}), str(base / "members"))
    (f,) = got.files
    path = base / "members" / "dt=2026-11-24" / "run=members" / f.name
    raw = path.read_bytes()
    assert raw.count(b"\x1f\x8b\x08") >= 3  # the header's member and the parts' members
    python = read_csv(path)
    assert python[0] == ["key", "email", "note", "score"] and [r[0] for r in python[1:]] == order
    zcat = subprocess.run(["gzip", "-dc", str(path)], check=True, capture_output=True).stdout.decode()
    assert zcat == gzip.decompress(raw).decode() and len(zcat.splitlines()) == 201
    back = spark.read.option("header", True).csv(str(path))
    assert back.count() == 200 == f.rows and sorted(r["key"] for r in back.collect()) == sorted(order)


def test_parquet_rows_from_footers(spark: SparkSession, base: Path) -> None:
    import pyarrow.parquet as pq

    got = deliver_files(spark, make_selection(spark, base, cid="pq"), files_dest(format="parquet", max_rows_per_file=4),
                        str(base / "pq"))
    run = base / "pq" / "dt=2026-11-24" / "run=pq"
    assert [f.rows for f in got.files] == [4, 4, 2] and got.files[0].name.endswith("_00000.parquet")
    table = pq.read_table([str(run / f.name) for f in got.files])
    assert sorted(table.column("key").to_pylist()) == [r[0] for r in ROWS]
    check_complete(run)


@pytest.mark.slow
def test_drop_on_hdfs(spark: SparkSession, base: Path, hdfs_cluster: HdfsCluster) -> None:
    root = hdfs_cluster.url("/deliveries/crm/daily")
    selection = make_selection(spark, base, cid="h1")
    got = deliver_files(spark, selection, files_dest(max_rows_per_file=4), root)
    assert got.status == "delivered" and [f.rows for f in got.files] == [4, 4, 2]
    assert got.location == f"{root}/dt=2026-11-24/run=h1"
    assert deliver_files(spark, selection, files_dest(max_rows_per_file=4), root).status == "unchanged"
    second = deliver_files(spark, make_selection(spark, base, ROWS[:2], cid="h2"), files_dest(), root)
    assert second.detail["supersedes"] == "h1"

    from tagfactory.exports.hadoopfs import DropFs

    fs = DropFs(spark, root)
    assert fs.scheme == "hdfs" and fs.read_text(f"{root}/_LATEST") == "dt=2026-11-24/run=h2\n"
    run = f"{root}/dt=2026-11-24/run=h1"
    manifest = json.loads(fs.read_bytes(f"{run}/_manifest.json"))
    assert json.loads(fs.read_bytes(f"{run}/_SUCCESS"))["rows"] == 10
    for f in manifest["files"]:
        raw = fs.read_bytes(f"{run}/{f['name']}")
        assert hashlib.sha256(raw).hexdigest() == f["sha256"] == fs.sha256(f"{run}/{f['name']}")
    back = spark.read.option("header", True).csv(run)  # _manifest.json and _SUCCESS are hidden to Spark
    assert back.count() == 10 and sorted(r.key for r in back.collect()) == [r[0] for r in ROWS]
    assert not [e for e in fs.list(f"{root}/dt=2026-11-24") if e.name.startswith("_tmp")]


CHILD = textwrap.dedent("""
    import datetime as dt, json, sys, time
    from tagfactory.compiler.export_models import FilesDestination
    from tagfactory.exports.contracts import ExportedColumn, Selection
    from tagfactory.exports.files import deliver_files
    from tagfactory.lakehouse.spark import build_spark_session

    args = json.loads(sys.argv[1])
    spark = build_spark_session("kill-test", master="local[1]", conf={"spark.ui.enabled": "false"})
    sel = args["selection"]
    sel = Selection(**{**sel, "snapshot_date": dt.date.fromisoformat(sel["snapshot_date"]),
                       "columns": tuple(ExportedColumn(**c) for c in sel["columns"])})

    def hook(step):
        print("STEP", step, flush=True)
        if step == args["step"]:
            time.sleep(600)  # killed here

    deliver_files(spark, sel, FilesDestination.model_validate(args["dest"]), args["root"], hooks=hook)
""")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_mid_delivery_then_rerun(spark: SparkSession, base: Path, with_a: Path) -> None:
    root = base / "killed"
    shutil.copytree(with_a, root)
    new = make_selection(spark, base, ROWS[:5], cid="k2")
    plain = {**new.__dict__, "snapshot_date": new.snapshot_date.isoformat(),
             "columns": [c.__dict__ for c in new.columns]}
    args = {"selection": plain, "dest": {"kind": "files", "name": "drop", "path": "crm/daily"},
            "root": str(root), "step": "write_success"}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "STEP write_success":
                break
        else:
            pytest.fail("the child delivery ended before the kill point")
        os.killpg(child.pid, signal.SIGKILL)  # the child and its JVM, mid-delivery
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    day = root / "dt=2026-11-24"
    assert (day / "run=k2").is_dir() and not (day / "run=k2" / "_SUCCESS").exists()
    assert latest(root) == "dt=2026-11-24/run=c1"
    assert deliver_files(spark, new, files_dest(), str(root)).status == "delivered"
    assert check_complete(day / "run=k2")["rows"]["delivered"] == 5
    assert latest(root) == "dt=2026-11-24/run=k2"
    assert sorted(p.name for p in day.iterdir() if not p.name.startswith(".")) == ["_LATEST", "run=c1", "run=k2"]
