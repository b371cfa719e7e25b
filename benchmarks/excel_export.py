"""Benchmark: the Excel export's writer against raw xlsxwriter writing the same cells.

Synthesizes a staged selection (``--rows``, default 1,000,000; five columns: a 17-digit id and a
SHA-256 hex as strings, an integer, a double, a date) as Parquet (two files), then alternates
``--repeat`` times (default 3) between

* ``raw``: the Parquet read with ``pyarrow.dataset`` in batches of 65,536 rows, each column
  ``to_pylist()``, and xlsxwriter in constant-memory mode with the same safe options writing
  every cell with ``write_string`` / ``write_number`` / ``write_datetime`` (a header row, one
  sheet), return values unchecked, no About or Summary sheet;
* ``ours``: :func:`tagfactory.exports.workbook.write_workbook_file` on the same Parquet (every
  return value checked, header bold, frozen and filtered, widths from the data, About sheet,
  temporary name and rename, no Summary charts),

and prints the best seconds of each, cells per second and the ratio raw / ours (our speed as a
share of raw xlsxwriter's; target >= 0.80), plus the workbook size and the time to count its
rows back from the sheet XML (the delivery's read-back). Asserts nothing. No Spark. Usage:

    python benchmarks/excel_export.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def stage(folder: Path, rows: int) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [str(10_000_000_000_000_000 + i * 7919) for i in range(rows)]
    hashes = [f"{(i * 2654435761) % (1 << 64):016x}" * 4 for i in range(rows)]
    day = dt.date(2026, 11, 24)
    table = pa.table({
        "user_id": pa.array(ids), "phone_sha256": pa.array(hashes),
        "orders_90d": pa.array([i % 37 for i in range(rows)], pa.int64()),
        "score": pa.array([(i % 1000) / 7 for i in range(rows)], pa.float64()),
        "first_order_date": pa.array([day - dt.timedelta(days=i % 900) for i in range(rows)], pa.date32()),
    })
    folder.mkdir(parents=True)
    half = rows // 2
    pq.write_table(table.slice(0, half), folder / "part-00000.parquet")
    pq.write_table(table.slice(half), folder / "part-00001.parquet")
    return table.column_names


def raw(staged: str, columns: list[str], out: str) -> int:
    """Raw xlsxwriter, constant memory, the same cells; returns the cells written."""
    import pyarrow.dataset as ds
    import xlsxwriter

    from tagfactory.exports.workbook import WORKBOOK_OPTIONS

    book = xlsxwriter.Workbook(out, WORKBOOK_OPTIONS)
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    ws = book.add_worksheet("members")
    for c, name in enumerate(columns):
        ws.write_string(0, c, name)
    string, number, date = ws.write_string, ws.write_number, ws.write_datetime
    row, cells = 1, 0
    for batch in ds.dataset(staged, format="parquet").to_batches(columns=columns, batch_size=65_536):
        ids, hashes, orders, scores, days = (batch.column(i).to_pylist() for i in range(5))
        for a, b, c, d, e in zip(ids, hashes, orders, scores, days, strict=True):
            string(row, 0, a)
            string(row, 1, b)
            number(row, 2, c)
            number(row, 3, d)
            date(row, 4, e, date_format)
            row += 1
        cells += 5 * batch.num_rows
    book.close()
    return cells


def ours(staged: str, columns: list[str], out: str) -> int:
    from tagfactory.exports.contracts import ExportedColumn
    from tagfactory.exports.workbook import AboutFacts, open_staged, write_workbook_file

    about = AboutFacts(export="bench", display_name="Benchmark", description="d", purpose="p", owner="o",
                       consumer="c", snapshot_date=dt.date(2026, 11, 24), content_id="x", manifest_digest="y",
                       source_versions={"audience_members_user": 1}, rows_selected=0, rows_suppressed={},
                       columns=tuple(ExportedColumn(c, "string") for c in columns),
                       created_at=dt.datetime.now(dt.UTC))
    written = write_workbook_file(out, open_staged(staged, columns), about, None, max_rows=10_000_000)
    return written.total * len(columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from tagfactory.exports.workbook import count_rows

    with tempfile.TemporaryDirectory(prefix="bench-excel-") as tmp:
        staged = Path(tmp) / "staged"
        started = time.perf_counter()
        columns = stage(staged, args.rows)
        print(f"staged {args.rows:,} rows x {len(columns)} columns in {time.perf_counter() - started:.1f} s")
        best: dict[str, float] = {}
        cells: dict[str, int] = {}
        for i in range(args.repeat):
            for name, fn in (("raw", raw), ("ours", ours)):
                out = os.path.join(tmp, f"{name}.xlsx")
                started = time.perf_counter()
                cells[name] = fn(str(staged), columns, out)
                took = time.perf_counter() - started
                best[name] = min(best.get(name, took), took)
                print(f"  run {i + 1} {name:4}: {took:6.2f} s")
        out = os.path.join(tmp, "ours.xlsx")
        started = time.perf_counter()
        counted = count_rows(out)
        count_s = time.perf_counter() - started
        for name in ("raw", "ours"):
            print(f"{name:4}: best {best[name]:.2f} s, {cells[name]:,} cells, {cells[name] / best[name]:,.0f} cells/s")
        print(f"ratio raw/ours (our speed as a share of raw xlsxwriter): {best['raw'] / best['ours']:.2f} "
              "(target >= 0.80)")
        print(f"workbook {os.path.getsize(out) / 1e6:.1f} MB; rows counted back from the sheet XML "
              f"({counted}) in {count_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
