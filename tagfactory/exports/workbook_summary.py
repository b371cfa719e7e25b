"""The Summary sheet of an export's Excel workbook: native charts and the numbers they draw.

Typed inputs (:class:`SummarySeries`, read from the lakehouse tables by
:mod:`tagfactory.exports.excel_summary`); written by :mod:`tagfactory.exports.workbook` through
:class:`SummarySheet` in constant-memory mode, so the numbers are written row by row, top to
bottom (column J on), and the charts (line: sizes; columns: entered/exited; bars: TGI) refer to
them. See docs/exports.md, "Excel workbooks".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tagfactory.errors import ExportError

TGI_CHARTS, TGI_BARS = 4, 30  # TGI charts (one per audience) and bars per chart at most


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


class SummarySheet:
    """The Summary sheet: the charts on the left, the numbers they draw on the right (column J on)."""

    DATA_COL = 9

    def __init__(self, book: Any, ws: Any, series: SummarySeries, title: str, formats: tuple[Any, Any, Any]) -> None:
        self.book, self.ws, self.s, self.title = book, ws, series, title
        self.bold, self.date, self.percent = formats
        self.row = 2
        self.chart_row = 2

    def write(self) -> None:
        ws, s = self.ws, self.s
        check(ws.write_string(0, 0, self.title, self.bold),
               "Summary", "write", "the title")
        check(ws.set_column(self.DATA_COL, self.DATA_COL + 8, 14), "Summary", "set the width of", "the data")
        days = sorted({p.day for p in s.days})
        if not s.audiences or not days:
            check(ws.write_string(2, 0, "No audience sizes were published up to this date."),
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
        ws, c0 = self.ws, self.DATA_COL
        check(ws.write_string(self.row, c0, title, self.bold), "Summary", "write", title)
        head_row = self.row + 1
        for i, h in enumerate(heads):
            check(ws.write_string(head_row, c0 + i, h, self.bold), "Summary", "write", h)
        for r, values in enumerate(rows, start=head_row + 1):
            for i, v in enumerate(values):
                if v is None:
                    continue
                if isinstance(v, dt.date):
                    code = ws.write_datetime(r, c0 + i, v, self.date)
                elif isinstance(v, str):
                    code = ws.write_string(r, c0 + i, v)
                else:
                    fmt = self.percent if percent_from is not None and i >= percent_from else None
                    code = ws.write_number(r, c0 + i, v, fmt)
                check(code, "Summary", "write", title)
        self.row = head_row + len(rows) + 2
        return head_row, c0, len(rows)

    def _chart(self, kind: str, title: str, table: tuple[int, int, int], series: int, y_name: str, *,
               dates: bool = False, height: int = 300) -> None:
        head_row, c0, n = table
        chart: Any = self.book.add_chart({"type": kind})
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
        check(self.ws.insert_chart(self.chart_row, 0, chart), "Summary", "insert", title)
        self.chart_row += max(16, height // 20 + 2)


def check(code: int | None, sheet: str, action: str, what: str) -> None:
    """Raise when xlsxwriter answered a call with a non-zero status (it does not raise itself)."""
    if code:
        raise ExportError(f"xlsxwriter refused to {action} {what} on sheet {sheet} (code {code})")
