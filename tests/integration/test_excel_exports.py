"""The Excel destination end to end on the built demo warehouse: the demo export `sales_vip_workbook`
selected and delivered through the job, the workbook read back with openpyxl, the Summary series
read from the published tables at the pinned date (never later), a re-run that writes nothing.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from deltalake import DeltaTable

from tests.integration.conftest import DATES, Built, Materialized, copy_warehouse

pytestmark = pytest.mark.spark

DAY, EARLIER = DATES


@pytest.fixture(scope="module")
def world(spark: Any, built: Built, materialized: Materialized, tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("excel")
    settings, tables = copy_warehouse(spark, built, materialized.warehouse, base)
    return spark, settings, tables, built.manifest


def test_the_summary_series_stop_at_the_snapshot_date(world: Any) -> None:
    from tagfactory.exports.excel_summary import read_summary

    spark, settings, tables, manifest = world
    export = manifest.export("sales_vip_workbook")
    stats = DeltaTable(str(Path(settings.warehouse) / "audience_stats_user")).to_pandas()
    stats = stats[stats["audience"] == "high_value_customers"]
    now = read_summary(tables, settings, export, DAY)
    assert {p.day for p in now.days} == {EARLIER, DAY}
    assert {p.day: p.size for p in now.days} == dict(zip(stats["dt"], stats["size"], strict=True))
    before = read_summary(tables, settings, export, EARLIER)
    assert {p.day for p in before.days} == {EARLIER}  # no future dates
    assert now.tgi and all(b.audience == "high_value_customers" for b in now.tgi)


def test_the_workbook_through_the_job_reconciles_and_a_rerun_writes_nothing(world: Any) -> None:
    from tagfactory.exports import receipts
    from tagfactory.exports.job import deliver, select_and_hand_off

    spark, settings, tables, manifest = world
    export = manifest.export("sales_vip_workbook")
    selection = select_and_hand_off(spark, tables, settings, manifest, export, DAY)
    assert selection.rows_expected > 0
    [delivery] = deliver(spark, tables, settings, export, selection, "xl1")
    assert delivery.status == "delivered" and delivery.rows_delivered == selection.rows_expected
    path = Path(settings.export_uri("sales/vip")) / f"dt={DAY.isoformat()}" / f"sales_vip_workbook_{DAY:%Y%m%d}.xlsx"
    assert delivery.location.endswith(path.name) and path.exists()
    assert [f.name for f in delivery.files] == [path.name] and delivery.files[0].bytes == path.stat().st_size
    assert not [p for p in path.parent.iterdir() if p.name.startswith("_tmp.")]
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["About", "Summary", "vip_customers"]
    rows = list(book["vip_customers"].iter_rows(values_only=True))
    assert rows[0] == tuple(c.name for c in export.columns) and len(rows) - 1 == selection.rows_expected
    assert all(isinstance(r[0], str) for r in rows[1:])  # ids stay text
    assert all(r[1] is None or (isinstance(r[1], str) and "*" in r[1]) for r in rows[1:])  # masked phones
    assert any(isinstance(r[6], dt.datetime) for r in rows[1:])  # first_order_date: date cells
    facts = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True) if r[0]}
    assert facts["Content id"] == selection.content_id and facts["  delivered"] == selection.rows_expected
    with zipfile.ZipFile(path) as z:
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == 3
    latest = receipts.receipts(settings, export.name, DAY)[0]
    assert latest["status"] == "delivered" and latest["rows_delivered"] == selection.rows_expected
    [again] = deliver(spark, tables, settings, export, selection, "xl2")
    assert again.status == "unchanged" and again.files == delivery.files
