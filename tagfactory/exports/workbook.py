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

EXCEL_ROWS = 1_048_576
SHEET_ROWS = EXCEL_ROWS - 1  # data rows of one sheet (the header takes one)
WORKBOOK_OPTIONS: dict[str, Any] = {"constant_memory": True, "strings_to_formulas": False,
                                    "strings_to_urls": False, "strings_to_numbers": False}
BATCH_ROWS = 65_536
EXACT_INTEGERS = 2**53  # larger integers are written as text: Excel holds numbers as doubles
WIDTH_SAMPLE, MAX_WIDTH, DATE_WIDTH = 2_000, 60, 11
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
TGI_CHARTS, TGI_BARS = 4, 30  # TGI charts (one per audience) and bars per chart at most
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
class DayPoint:
    """One audience on one published date: its size and the keys that entered and exited."""

    day: dt.date
    audience: str
    size: int
    entered: int
    exited: int


@dataclass(frozen=True)
class TgiBar:
    """One value of a profiled tag in an audience: its TGI and the two shares it comes from."""

    audience: str
    tag: str
    value: str
    tgi: float | None
    share_in_audience: float | None
    share_in_population: float | None


@dataclass(frozen=True)
class SummarySeries:
    """What the Summary sheet charts (read from the lakehouse tables at the snapshot date)."""

    audiences: tuple[str, ...]
    days: tuple[DayPoint, ...] = ()
    tgi: tuple[TgiBar, ...] = ()


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
                _SummarySheet(self, self.book.add_worksheet("Summary"), self.summary).write()
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
            _check(ws.set_column(col, col, width), name, "set the width of column", f.name)
            _check(ws.write_string(0, col, f.name, self.bold), name, "write the header", f.name)
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
        _check(ws.autofilter(0, 0, max(last_row, 1), self.last_col), ws.name, "filter", "the rows")

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
        _check(ws.set_column(0, 0, 28), "About", "set the width of column", "A")
        _check(ws.set_column(1, 3, 44), "About", "set the width of columns", "B:D")
        row = 0
        for label, value in lines:
            if label:
                _check(ws.write_string(row, 0, label, bold if not label.startswith(" ") else None),
                       "About", "write", label)
            if value is not None:
                _check(self._fact(ws, row, 1, value), "About", "write", label)
            row += 1
        row += 1
        for col, head in enumerate(("Column", "Type", "PII treatment", "Description")):
            _check(ws.write_string(row, col, head, bold), "About", "write", head)
        for c in a.columns:
            row += 1
            for col, text in enumerate((c.name, c.type, pii_text(c.pii), c.description)):
                _check(ws.write_string(row, col, text), "About", "write", c.name)

    def _fact(self, ws: Any, row: int, col: int, value: Any) -> int:
        if isinstance(value, dt.datetime):
            return int(ws.write_datetime(row, col, value, self.datetime))
        if isinstance(value, dt.date):
            return int(ws.write_datetime(row, col, value, self.date))
        if isinstance(value, int):
            return int(ws.write_number(row, col, value))
        return int(ws.write_string(row, col, str(value)))


class _SummarySheet:
    """The Summary sheet: the charts on the left, the numbers they draw on the right (column J on)."""

    DATA_COL = 9

    def __init__(self, writer: _Writer, ws: Any, series: SummarySeries) -> None:
        self.w, self.ws, self.s = writer, ws, series
        self.row = 2
        self.chart_row = 2

    def write(self) -> None:
        ws, w, s = self.ws, self.w, self.s
        _check(ws.write_string(0, 0, f"{w.about.display_name}: {w.about.snapshot_date}", w.bold),
               "Summary", "write", "the title")
        _check(ws.set_column(self.DATA_COL, self.DATA_COL + 8, 14), "Summary", "set the width of", "the data")
        days = sorted({p.day for p in s.days})
        if not s.audiences or not days:
            _check(ws.write_string(2, 0, "No audience sizes were published up to this date."),
                   "Summary", "write", "the note")
            return
        by = {(p.day, p.audience): p for p in s.days}
        sizes = self._table("Audience size", ["date", *s.audiences], [
            [d, *[(by[(d, a)].size if (d, a) in by else None) for a in s.audiences]] for d in days])
        self._chart("line", f"Audience size, last {len(days)} published days", sizes, len(s.audiences),
                    "members", dates=True)
        heads = [f"{a} {m}" for a in s.audiences for m in ("entered", "exited")]
        moves = self._table("Entered / exited", ["date", *heads], [
            [d, *[(getattr(by[(d, a)], m) if (d, a) in by else None) for a in s.audiences
                  for m in ("entered", "exited")]] for d in days])
        self._chart("column", "Entered and exited per day", moves, len(heads), "keys", dates=True)
        for audience in s.audiences[:TGI_CHARTS]:
            bars = sorted((b for b in s.tgi if b.audience == audience and b.tgi is not None),
                          key=lambda b: (b.tag, -(b.tgi or 0.0)))[:TGI_BARS]
            if not bars:
                continue
            tgi = self._table(f"Profile of {audience} (TGI, 100 = as in the population)",
                              ["tag: value", "TGI", "share in audience", "share in population"],
                              [[f"{b.tag}: {b.value}", b.tgi, b.share_in_audience, b.share_in_population]
                               for b in bars], percent_from=2)
            self._chart("bar", f"Profile of {audience}: TGI", tgi, 1, "TGI", height=max(300, 22 * len(bars)))

    def _table(self, title: str, heads: list[str], rows: list[list[Any]],
               percent_from: int | None = None) -> tuple[int, int, int]:
        """Write a titled table at the current row; returns (header row, first col, rows)."""
        ws, w, c0 = self.ws, self.w, self.DATA_COL
        _check(ws.write_string(self.row, c0, title, w.bold), "Summary", "write", title)
        head_row = self.row + 1
        for i, h in enumerate(heads):
            _check(ws.write_string(head_row, c0 + i, h, w.bold), "Summary", "write", h)
        for r, values in enumerate(rows, start=head_row + 1):
            for i, v in enumerate(values):
                if v is None:
                    continue
                if isinstance(v, dt.date):
                    code = ws.write_datetime(r, c0 + i, v, w.date)
                elif isinstance(v, str):
                    code = ws.write_string(r, c0 + i, v)
                else:
                    fmt = w.percent if percent_from is not None and i >= percent_from else None
                    code = ws.write_number(r, c0 + i, v, fmt)
                _check(code, "Summary", "write", title)
        self.row = head_row + len(rows) + 2
        return head_row, c0, len(rows)

    def _chart(self, kind: str, title: str, table: tuple[int, int, int], series: int, y_name: str, *,
               dates: bool = False, height: int = 300) -> None:
        head_row, c0, n = table
        chart: Any = self.w.book.add_chart({"type": kind})
        for i in range(1, 1 + series):
            chart.add_series({"name": ["Summary", head_row, c0 + i],
                              "categories": ["Summary", head_row + 1, c0, head_row + n, c0],
                              "values": ["Summary", head_row + 1, c0 + i, head_row + n, c0 + i]})
        chart.set_title({"name": title})
        chart.set_y_axis({"name": y_name})
        if dates:
            chart.set_x_axis({"date_axis": True, "num_format": "mm-dd"})
        chart.set_size({"width": 620, "height": height})
        if kind == "bar":
            chart.set_legend({"none": True})
        _check(self.ws.insert_chart(self.chart_row, 0, chart), "Summary", "insert", title)
        self.chart_row += max(16, height // 20 + 2)


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


def _check(code: int | None, sheet: str, action: str, what: str) -> None:
    if code:
        raise ExportError(f"xlsxwriter refused to {action} {what} on sheet {sheet} (code {code})")


def _fail(ws: Any, row: int, col: int, value: Any) -> None:
    from xlsxwriter.utility import xl_rowcol_to_cell

    why = "a string over 32,767 characters" if isinstance(value, str) and len(value) > 32_767 else \
        "outside the sheet" if row >= EXCEL_ROWS else "refused"
    raise ExportError(f"xlsxwriter did not write cell {ws.name}!{xl_rowcol_to_cell(row, col)} ({why}); "
                      "the workbook was not delivered")
