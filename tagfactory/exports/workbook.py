"""The Excel workbook of an export (``kind: excel``): staged Parquet in Arrow batches -> xlsxwriter.

No Spark here: the staged rows are read with ``pyarrow.dataset`` batch by batch and written with
xlsxwriter in constant-memory mode (each row goes to a temporary file as soon as the next one
starts), with the safe options: a string is always written as a string (never a formula, a
hyperlink or a number), so ids, phones and hashes stay text and ``=SUM(A1)`` stays ``=SUM(A1)``.

Sheets, in this order: ``About`` (what the workbook is; written last, when the row counts are
known), ``Summary`` (native charts: audience sizes over the last published days, entered/exited
per day, audience profile TGI bars; optional) and the data sheets ``members``, ``members_2`` ...
split at Excel's 1,048,576 rows (header included). Every xlsxwriter call that answers with a
status is checked: xlsxwriter returns -1/-2 instead of raising (a row past the limit, a string
over 32,767 characters) and the cell would silently be missing.

See docs/exports.md, "Excel workbooks".
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from tagfactory.errors import ExportError
from tagfactory.exports.contracts import ExportedColumn
from tagfactory.exports.workbook_summary import SummarySeries, SummarySheet, check

EXCEL_ROWS = 1_048_576
SHEET_ROWS = EXCEL_ROWS - 1  # data rows of one sheet (the header takes one)
WORKBOOK_OPTIONS: dict[str, Any] = {"constant_memory": True, "strings_to_formulas": False,
                                    "strings_to_urls": False, "strings_to_numbers": False}
BATCH_ROWS = 65_536
EXACT_INTEGERS = 2**53  # larger integers are written as text: Excel holds numbers as doubles
WIDTH_SAMPLE, MAX_WIDTH, DATE_WIDTH = 2_000, 60, 11
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
_ROW = b"<row "


@dataclass(frozen=True)
class AboutFacts:
    """What the About sheet says (besides the row counts, which the writer counts)."""

    export: str
    display_name: str
    description: str
    purpose: str
    owner: str
    consumer: str
    snapshot_date: dt.date
    content_id: str
    manifest_digest: str
    source_versions: dict[str, int]
    rows_selected: int
    rows_suppressed: dict[str, int]
    columns: tuple[ExportedColumn, ...]
    created_at: dt.datetime
    supersedes: str | None = None


@dataclass(frozen=True)
class StagedRows:
    """The staged selection: its schema and its record batches (read lazily)."""

    schema: pa.Schema
    batches: Callable[[], Iterator[pa.RecordBatch]]


@dataclass
class WrittenWorkbook:
    """What was written: data rows per sheet (counted from xlsxwriter's answers)."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def open_staged(uri: str, columns: list[str], batch_rows: int = BATCH_ROWS) -> StagedRows:
    """The staged Parquet at ``uri`` (a local path, ``file://`` or any URI pyarrow reads).

    Files starting with ``_`` or ``.`` (Spark's ``_SUCCESS``, Hadoop's ``.crc``) are skipped.
    """
    import pyarrow.dataset as ds
    from pyarrow import fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))
        dataset = ds.dataset(path, filesystem=filesystem, format="parquet")
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ExportError(f"cannot read the staged selection {uri}: {exc}; was the selection step run?") from exc
    missing = sorted(set(columns) - set(dataset.schema.names))
    if missing:
        raise ExportError(f"the staged selection {uri} lacks columns {missing}")
    schema = pa.schema([dataset.schema.field(c) for c in columns])
    return StagedRows(schema, lambda: dataset.to_batches(columns=columns, batch_size=batch_rows))


def check_max_rows(export: str, destination: str, rows: int, max_rows: int) -> None:
    """Refuse a selection larger than the destination's ``max_rows`` (a workbook is for people)."""
    if rows > max_rows:
        raise ExportError(
            f"export {export}: {rows:,} rows are more than the Excel destination `{destination}` takes "
            f"(max_rows: {max_rows:,}); deliver them as a file drop instead (`kind: files`, CSV or "
            f"Parquet), narrow the export's audiences, or raise `max_rows` (a sheet holds "
            f"{SHEET_ROWS:,} rows, larger workbooks are split into several sheets)")


def write_workbook_file(path: str, staged: StagedRows, about: AboutFacts, summary: SummarySeries | None, *,
                        sheet: str = "members", sheet_rows: int = SHEET_ROWS, max_rows: int | None = None,
                        destination: str = "excel") -> WrittenWorkbook:
    """Write the workbook to a temporary name next to ``path``, then rename it to ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    folder, name = os.path.split(os.path.abspath(path))
    temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        written = _Writer(temp, staged, about, summary, sheet, sheet_rows, max_rows, destination).run()
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return written


class _Writer:
    """One workbook: About, Summary, the data sheets; About's cells last."""

    def __init__(self, path: str, staged: StagedRows, about: AboutFacts, summary: SummarySeries | None,
                 sheet: str, sheet_rows: int, max_rows: int | None, destination: str) -> None:
        if not 1 <= sheet_rows <= SHEET_ROWS:
            raise ExportError(f"a sheet holds 1 to {SHEET_ROWS:,} data rows, not {sheet_rows:,}")
        self.staged, self.about, self.summary = staged, about, summary
        self.base, self.sheet_rows, self.max_rows, self.destination = sheet, sheet_rows, max_rows, destination
        self.last_col = max(len(staged.schema) - 1, 0)
        self.book = xlsxwriter.Workbook(path, WORKBOOK_OPTIONS)
        self.bold = self.book.add_format({"bold": True})
        self.date = self.book.add_format({"num_format": DATE_FORMAT})
        self.datetime = self.book.add_format({"num_format": DATETIME_FORMAT})
        self.percent = self.book.add_format({"num_format": "0.0%"})
        self.blank = self.book.add_format({})
        self.written = WrittenWorkbook()

    def run(self) -> WrittenWorkbook:
        try:
            about = self.book.add_worksheet("About")
            if self.summary is not None:
                title = f"{self.about.display_name}: {self.about.snapshot_date}"
                SummarySheet(self.book, self.book.add_worksheet("Summary"), self.summary, title,
                             (self.bold, self.date, self.percent)).write()
            self._data()
            self._about(about)
            self.book.set_properties({"title": f"{self.about.display_name} ({self.about.snapshot_date})",
                                      "author": self.about.owner, "company": "Lakehouse Tag Factory",
                                      "comments": f"export {self.about.export}, content {self.about.content_id}"})
        except ExportError:
            self._abandon()
            raise
        except Exception as exc:  # xlsxwriter raises for a few misuses (bad sheet names, types)
            self._abandon()
            raise ExportError(f"export {self.about.export}: cannot write the workbook: {exc}") from exc
        try:
            self.book.close()
        except Exception as exc:  # FileCreateError, disk full
            raise ExportError(f"export {self.about.export}: cannot save the workbook: {exc}") from exc
        return self.written

    def _abandon(self) -> None:
        """Close and remove the worksheets' temporary row files (constant memory) without saving."""
        for ws in self.book.worksheets():
            if ws.constant_memory:
                ws._opt_close()
                if os.path.exists(ws.row_data_filename):
                    os.remove(ws.row_data_filename)
        self.book.fileclosed = True  # nothing to save: stop xlsxwriter's close-on-exit warning

    # -- data sheets -------------------------------------------------------------------------
    def _data(self) -> None:
        schema = self.staged.schema
        kinds = [_kind(f.type) for f in schema]
        ws: Any = None
        row = 0
        widths: list[float] | None = None
        for batch in self.staged.batches():
            if widths is None:
                widths = _widths(schema, kinds, batch)
            if self.max_rows is not None and self.written.total + batch.num_rows > self.max_rows:
                check_max_rows(self.about.export, self.destination, self.written.total + batch.num_rows,
                               self.max_rows)
            offset = 0
            while offset < batch.num_rows:
                if ws is None or row > self.sheet_rows:
                    ws = self._sheet(schema, widths)
                    row = 1
                take = min(batch.num_rows - offset, self.sheet_rows - row + 1)
                part = batch.slice(offset, take)
                self._rows(ws, row, part, kinds)
                self.written.rows[ws.name] += take
                row += take
                offset += take
        if ws is None:  # no rows: a sheet with the header only
            self._sheet(schema, widths or _widths(schema, kinds, None))

    def _sheet(self, schema: pa.Schema, widths: list[float]) -> Any:
        count = len(self.written.rows)
        name = self.base if count == 0 else f"{self.base}_{count + 1}"
        ws = self.book.add_worksheet(name)
        self.written.rows[name] = 0
        for col, (f, width) in enumerate(zip(schema, widths, strict=True)):
            check(ws.set_column(col, col, width), name, "set the width of column", f.name)
            check(ws.write_string(0, col, f.name, self.bold), name, "write the header", f.name)
        ws.freeze_panes(1, 0)  # answers nothing
        self._limit(ws, 1)
        return ws

    def _rows(self, ws: Any, first: int, batch: pa.RecordBatch, kinds: list[str]) -> None:
        """Write ``batch`` from sheet row ``first`` on, one writer per column, every answer checked."""
        writers = [self._cell_writer(ws, kind, batch.column(i)) for i, kind in enumerate(kinds)]
        columns = [_values(batch.column(i), kind) for i, kind in enumerate(kinds)]
        blank, fmt_blank = ws.write_blank, self.blank
        row = first
        for values in zip(*columns, strict=True):
            col = 0
            for (write, fmt), value in zip(writers, values, strict=True):
                if value is None:
                    # a null first cell still gets an (empty, formatted) cell, so no data row is ever
                    # missing from the sheet's XML (the read-back counts <row> elements)
                    if col == 0 and blank(row, 0, None, fmt_blank):
                        _fail(ws, row, col, value)
                elif write(row, col, value, fmt):
                    _fail(ws, row, col, value)
                col += 1
            row += 1
        self._limit(ws, row - 1)

    def _limit(self, ws: Any, last_row: int) -> None:
        # shrink the autofilter to the rows written (the range is written when the book is saved)
        check(ws.autofilter(0, 0, max(last_row, 1), self.last_col), ws.name, "filter", "the rows")

    def _cell_writer(self, ws: Any, kind: str, column: pa.Array) -> tuple[Callable[..., int], Any]:
        if kind == "int":
            big = len(column) > 0 and column.null_count < len(column) and \
                max(abs(pc.min(column).as_py()), abs(pc.max(column).as_py())) >= EXACT_INTEGERS
            return (self._exact_integer(ws) if big else ws.write_number), None
        if kind == "float":
            return ws.write_number, None
        if kind == "bool":
            return ws.write_boolean, None
        if kind == "date":
            return ws.write_datetime, self.date
        if kind == "datetime":
            return ws.write_datetime, self.datetime
        return ws.write_string, None  # strings, and decimals and nested values as text

    @staticmethod
    def _exact_integer(ws: Any) -> Callable[..., int]:
        number, string = ws.write_number, ws.write_string

        def write(row: int, col: int, value: int, fmt: Any) -> int:
            return int(number(row, col, value, fmt) if -EXACT_INTEGERS < value < EXACT_INTEGERS
                       else string(row, col, str(value), fmt))
        return write

    # -- About -------------------------------------------------------------------------------
    def _about(self, ws: Any) -> None:
        a, bold = self.about, self.bold
        lines: list[tuple[str, Any]] = [
            ("Export", a.export), ("Name", a.display_name), ("Description", a.description),
            ("Purpose", a.purpose), ("Owner", a.owner), ("Consumer", a.consumer),
            ("Snapshot date", a.snapshot_date), ("Content id", a.content_id),
            ("Supersedes", a.supersedes or ""), ("Manifest digest", a.manifest_digest),
            ("Created (UTC)", a.created_at.astimezone(dt.UTC).replace(tzinfo=None)),
            ("", None), ("Source versions", None)]
        lines += [(f"  {table}", version) for table, version in sorted(a.source_versions.items())]
        lines += [("", None), ("Rows", None), ("  selected", a.rows_selected)]
        lines += [(f"  suppressed: {reason}", n) for reason, n in sorted(a.rows_suppressed.items())]
        lines += [("  suppressed in all", sum(a.rows_suppressed.values())), ("  delivered", self.written.total)]
        lines += [(f"  sheet {name}", n) for name, n in self.written.rows.items()]
        check(ws.set_column(0, 0, 28), "About", "set the width of column", "A")
        check(ws.set_column(1, 3, 44), "About", "set the width of columns", "B:D")
        row = 0
        for label, value in lines:
            if label:
                check(ws.write_string(row, 0, label, bold if not label.startswith(" ") else None),
                       "About", "write", label)
            if value is not None:
                check(self._fact(ws, row, 1, value), "About", "write", label)
            row += 1
        row += 1
        for col, head in enumerate(("Column", "Type", "PII treatment", "Description")):
            check(ws.write_string(row, col, head, bold), "About", "write", head)
        for c in a.columns:
            row += 1
            for col, text in enumerate((c.name, c.type, pii_text(c.pii), c.description)):
                check(ws.write_string(row, col, text), "About", "write", c.name)

    def _fact(self, ws: Any, row: int, col: int, value: Any) -> int:
        if isinstance(value, dt.datetime):
            return int(ws.write_datetime(row, col, value, self.datetime))
        if isinstance(value, dt.date):
            return int(ws.write_datetime(row, col, value, self.date))
        if isinstance(value, int):
            return int(ws.write_number(row, col, value))
        return int(ws.write_string(row, col, str(value)))


def pii_text(pii: str | None) -> str:
    """How a delivered column's PII was treated, in words."""
    if pii is None:
        return "not PII"
    if pii == "mask":
        return "masked (all but the last 4 characters)"
    if pii == "keep":
        return "kept as it is (approved)"
    if pii.startswith("hash:"):
        return f"SHA-256 under hashing profile {pii[5:]}"
    return pii


def count_rows(path: str) -> dict[str, int]:
    """Rows of every sheet of a workbook (``<row>`` elements, streamed from the zip; header included)."""
    try:
        with zipfile.ZipFile(path) as z:
            book = z.read("xl/workbook.xml").decode("utf-8")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
            targets = dict(re.findall(r'<Relationship Id="([^"]+)"[^>]*?Target="([^"]+)"', rels))
            out: dict[str, int] = {}
            for name, rid in re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="([^"]+)"', book):
                out[_unescape(name)] = _count_in(z, "xl/" + targets[rid].lstrip("/").removeprefix("xl/"))
            return out
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ExportError(f"cannot read the workbook {path} back: {exc}") from exc


def _count_in(z: zipfile.ZipFile, member: str) -> int:
    count, tail = 0, b""
    with z.open(member) as stream:
        while chunk := stream.read(1 << 22):
            data = tail + chunk
            count += data.count(_ROW)
            tail = data[-(len(_ROW) - 1):]
    return count


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_integer(type_):
        return "int"
    if pa.types.is_floating(type_):
        return "float"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_date(type_):
        return "date"
    if pa.types.is_timestamp(type_):
        return "datetime"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    return "text"  # decimals, lists, structs, binary: written as text


def _values(column: pa.Array, kind: str) -> list[Any]:
    """The column as Python values, ready for its writer."""
    if kind == "datetime" and column.type.tz is not None:  # type: ignore[attr-defined]
        column = column.cast(pa.timestamp(column.type.unit))  # type: ignore[attr-defined]  # UTC wall time
    values = column.to_pylist()
    if kind == "text":
        return [None if v is None else v if isinstance(v, str) else
                json.dumps(v, default=str, ensure_ascii=False) if isinstance(v, list | dict) else str(v)
                for v in values]
    return values


def _widths(schema: pa.Schema, kinds: list[str], batch: pa.RecordBatch | None) -> list[float]:
    """Column widths from the header and the first rows (xlsxwriter cannot autofit in constant memory)."""
    out = []
    for i, (f, kind) in enumerate(zip(schema, kinds, strict=True)):
        width = len(f.name) + 3  # the filter button
        if kind == "date":
            width = max(width, DATE_WIDTH)
        elif kind == "datetime":
            width = max(width, DATE_WIDTH + 9)
        elif batch is not None and batch.num_rows:
            sample = _values(batch.column(i).slice(0, WIDTH_SAMPLE), kind)
            width = max([width, *(len(str(v)) + 1 for v in sample if v is not None)])
        out.append(float(min(width, MAX_WIDTH)))
    return out


def _fail(ws: Any, row: int, col: int, value: Any) -> None:
    from xlsxwriter.utility import xl_rowcol_to_cell

    why = "a string over 32,767 characters" if isinstance(value, str) and len(value) > 32_767 else \
        "outside the sheet" if row >= EXCEL_ROWS else "refused"
    raise ExportError(f"xlsxwriter did not write cell {ws.name}!{xl_rowcol_to_cell(row, col)} ({why}); "
                      "the workbook was not delivered")
