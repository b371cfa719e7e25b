"""The Excel workbook writer (tagfactory/exports/workbook.py): no Spark, staged Parquet made with pyarrow."""

from __future__ import annotations

import datetime as dt
import os
import time
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tagfactory.compiler.export_models import ExcelDestination
from tagfactory.errors import ExportError
from tagfactory.exports.contracts import ExportedColumn
from tagfactory.exports.workbook import (
    SHEET_ROWS,
    AboutFacts,
    check_max_rows,
    count_rows,
    open_staged,
    write_workbook_file,
)
from tagfactory.exports.workbook_summary import DayPoint, SummarySeries, TgiBar

D = dt.date(2026, 11, 24)


def about(columns: list[str]) -> AboutFacts:
    return AboutFacts(
        export="sales_vip", display_name="VIP customers for sales", description="d", purpose="calls",
        owner="sales-ops", consumer="sales (sales-ops, sales@example.com)", snapshot_date=D,
        content_id="c0ffee", manifest_digest="abc", source_versions={"audience_members_user": 7},
        rows_selected=0, rows_suppressed={"audience:test_and_risky": 3, "tag:marketing_opt_in is_false": 2},
        columns=tuple(ExportedColumn(c, "string", "hash:meta_cn_v1" if c == "phone_sha256" else None)
                      for c in columns),
        created_at=dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC))


def stage(folder: Path, table: pa.Table, files: int = 1) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, -(-table.num_rows // files))
    for i in range(files):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i:05d}.parquet")
    (folder / "_SUCCESS").write_text("")
    return str(folder)


def series() -> SummarySeries:
    days = [D - dt.timedelta(days=i) for i in range(5)]
    return SummarySeries(
        audiences=("high_value_customers",),
        days=tuple(DayPoint(d, "high_value_customers", 100 + i, 5 + i, 3) for i, d in enumerate(days)),
        tgi=(TgiBar("high_value_customers", "city_tier", "tier1", 180.0, 0.5, 0.28),
             TgiBar("high_value_customers", "city_tier", "tier3", 40.0, 0.1, 0.25)))


def sample() -> pa.Table:
    return pa.table({
        "user_id": pa.array(["12345678901234567", "=SUM(A1)", "+8613800138000", "0012"]),
        "phone_sha256": pa.array(["a" * 64, "0" * 63 + "1", "1e5", "http://example.com"]),
        "orders_90d": pa.array([3, None, 2**60, -1], pa.int64()),
        "last_order": pa.array([D, None, dt.date(2026, 1, 2), D], pa.date32()),
        "score": pa.array([0.5, 1.25, None, 2.0]),
        "opt_in": pa.array([True, False, None, True]),
    })


def written(tmp_path: Path, table: pa.Table, summary: SummarySeries | None = None, **kw: object):
    staged = open_staged(stage(tmp_path / "staged", table), table.column_names)
    out = tmp_path / "out" / "book.xlsx"
    out.parent.mkdir(exist_ok=True)
    result = write_workbook_file(str(out), staged, about(table.column_names), summary, **kw)  # type: ignore[arg-type]
    return out, result


def test_values_stay_what_they_are(tmp_path: Path) -> None:
    out, result = written(tmp_path, sample(), series())
    assert result.rows == {"members": 4}
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["About", "Summary", "members"]
    ws = book["members"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("user_id", "phone_sha256", "orders_90d", "last_order", "score", "opt_in")
    assert rows[1][0] == "12345678901234567" and ws["A2"].data_type == "s"  # a 17-digit id stays exact text
    assert rows[2][0] == "=SUM(A1)" and ws["A3"].data_type == "s"  # never a formula
    assert rows[3][0] == "+8613800138000" and rows[4][0] == "0012"  # phone, leading zeros: text
    assert [r[1] for r in rows[1:]] == ["a" * 64, "0" * 63 + "1", "1e5", "http://example.com"]
    assert all(ws.cell(r, 2).data_type == "s" for r in range(2, 6)) and not ws._hyperlinks
    assert rows[1][2] == 3 and rows[3][2] == str(2**60) and rows[2][2] is None  # past 2**53: exact, as text
    assert ws["D2"].is_date and ws["D2"].value.date() == D and ws["D2"].number_format == "yyyy-mm-dd"
    assert rows[1][4] == 0.5 and rows[1][5] is True
    assert ws["A1"].font.b and ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:F5"
    assert ws.column_dimensions["A"].width >= len("12345678901234567")
    with zipfile.ZipFile(out) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 3  # size line, entered/exited columns, one TGI bar chart
        xml = "".join(z.read(n).decode() for n in charts)
    assert "<c:lineChart>" in xml and "<c:barChart>" in xml and "Summary!$K$" in xml
    assert "Profile of high_value_customers: TGI" in xml


def test_about_has_the_facts_and_counts(tmp_path: Path) -> None:
    out, _ = written(tmp_path, sample(), None)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["About", "members"]
    facts = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True) if r[0]}
    assert facts["Export"] == "sales_vip" and facts["Content id"] == "c0ffee" and facts["Owner"] == "sales-ops"
    assert facts["Snapshot date"].date() == D
    assert facts["  audience_members_user"] == 7
    assert facts["  suppressed: audience:test_and_risky"] == 3 and facts["  suppressed in all"] == 5
    assert facts["  delivered"] == 4 and facts["  sheet members"] == 4
    assert facts["phone_sha256"] == "string"
    pii = {r[0]: r[2] for r in book["About"].iter_rows(values_only=True) if r[0]}
    assert pii["phone_sha256"] == "SHA-256 under hashing profile meta_cn_v1" and pii["user_id"] == "not PII"


def test_sheets_split_and_the_read_back_counts_them(tmp_path: Path) -> None:
    table = pa.table({"user_id": pa.array([str(i) for i in range(25)])})
    out, result = written(tmp_path, table, None, sheet="vip", sheet_rows=10)
    assert result.rows == {"vip": 10, "vip_2": 10, "vip_3": 5}
    assert count_rows(str(out)) == {"About": count_rows(str(out))["About"], "vip": 11, "vip_2": 11, "vip_3": 6}
    book = openpyxl.load_workbook(out)
    assert [c.value for c in book["vip_3"]["A"]] == ["user_id", "20", "21", "22", "23", "24"]
    assert book["vip_2"]["A1"].font.b and book["vip_2"].freeze_panes == "A2"


def test_a_null_first_cell_still_makes_a_row(tmp_path: Path) -> None:
    table = pa.table({"a": pa.array([None, "x", None], pa.string()), "b": pa.array([None, None, None], pa.int64())})
    out, result = written(tmp_path, table, None)
    assert result.rows == {"members": 3} and count_rows(str(out))["members"] == 4


def test_no_rows_gives_a_header(tmp_path: Path) -> None:
    out, result = written(tmp_path, pa.table({"user_id": pa.array([], pa.string())}), series())
    assert result.rows == {"members": 0}
    assert [r for r in openpyxl.load_workbook(out)["members"].iter_rows(values_only=True)] == [("user_id",)]


def test_a_failure_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    rows = tmp_path / "xlsxwriter_rows"  # where xlsxwriter keeps each sheet's rows in constant memory
    rows.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(rows))
    table = pa.table({"user_id": pa.array(["ok", "x" * 40_000])})
    with pytest.raises(ExportError, match=r"members!A3 \(a string over 32,767 characters\)"):
        written(tmp_path, table, series())
    assert os.listdir(tmp_path / "out") == [] and os.listdir(rows) == []


def test_max_rows_refuses_and_suggests_a_file_drop(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"1,000,001 rows .* `sales_xlsx` .*max_rows: 1,000,000.*file drop"):
        check_max_rows("sales_vip", "sales_xlsx", 1_000_001, 1_000_000)
    check_max_rows("sales_vip", "sales_xlsx", 1_000_000, 1_000_000)
    table = pa.table({"user_id": pa.array([str(i) for i in range(5)])})
    with pytest.raises(ExportError, match="file drop"):
        written(tmp_path, table, None, max_rows=4)
    assert os.listdir(tmp_path / "out") == []


def test_the_destination_model() -> None:
    dest = ExcelDestination.model_validate({"kind": "excel", "name": "x", "path": "sales/vip"})
    assert (dest.file_name, dest.max_rows, dest.sheet, dest.summary) == ("{export}_{dt:%Y%m%d}.xlsx", 1_000_000,
                                                                        "members", True)
    for bad in ({"file_name": "{part}.xlsx"}, {"file_name": "x.csv"}, {"file_name": "a/b.xlsx"}, {"sheet": "About"},
                {"sheet": "a" * 30}, {"max_rows": 0}):
        with pytest.raises(ValueError):
            ExcelDestination.model_validate({"kind": "excel", "name": "x", "path": "p", **bad})


@pytest.mark.slow
def test_past_one_sheet_two_data_sheets(tmp_path: Path) -> None:
    rows = SHEET_ROWS + 1 + 10  # 1,048,576 + 10 data rows
    table = pa.table({"k": pa.array(range(rows), pa.int32())})
    started = time.perf_counter()
    out, result = written(tmp_path, table, None)
    counted = count_rows(str(out))
    assert result.rows == {"members": SHEET_ROWS, "members_2": 11}
    assert counted["members"] == SHEET_ROWS + 1 and counted["members_2"] == 12
    with zipfile.ZipFile(out) as z:
        about_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert f"<v>{rows}</v>" in about_xml and f"<v>{SHEET_ROWS}</v>" in about_xml and "<v>11</v>" in about_xml
    print(f"\n{rows:,} rows written and counted back in {time.perf_counter() - started:.1f} s")
