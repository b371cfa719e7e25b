"""Rows of a list file: UTF-8 text (.txt one value per line, .csv with a sniffed delimiter) or an .xlsx sheet.

Every failure is a :class:`ListFileError`; workbooks are bounded before and while openpyxl reads them.
"""

from __future__ import annotations

import codecs
import csv
import io
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.lists.model import Cell, ListFileError, Source, brief, megabytes

#: Characters of a CSV file given to :class:`csv.Sniffer`. Its quote-guessing regular
#: expressions are quadratic in the sample (64 KB of crafted text takes ~30 s, 8 KB ~0.4 s),
#: and a few hundred lines are plenty to tell the delimiter.
SNIFF_CHARS = 8 * 1024
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: Bounds of an .xlsx workbook, checked before openpyxl parses it: the sum of the uncompressed
#: sizes of its parts (the zip directory's sizes, which :mod:`zipfile` enforces while reading),
#: and, while streaming the sheet, its rows (blank ones included) and cells.
XLSX_MAX_UNCOMPRESSED = 128 * 1024 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's own limit
XLSX_MAX_CELLS = 20_000_000
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx


def check_xlsx_size(file: Path, display: str, limit: int) -> None:
    """Refuse a workbook whose parts add up to more than ``limit`` bytes uncompressed (a zip bomb)."""
    try:
        with zipfile.ZipFile(file) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: the workbook reader reports it
    if total > limit:
        raise ListFileError(f"{display} expands to {megabytes(total)} uncompressed, more than the "
                            f"{megabytes(limit)} a list workbook may be",
                            hint="keep only the identifier column, or save the list as CSV")


def text_rows(data: bytes, display: str, source: Source) -> Iterator[tuple[int, Sequence[Cell]]]:
    """Decode a .csv / .txt file; return its rows as ``(1-based line, cells)``."""
    if data.startswith(_ZIP_MAGIC):
        raise ListFileError(f"{display} is not text: it looks like an Excel .xlsx workbook",
                            hint="rename it to .xlsx, or save it from Excel as CSV UTF-8")
    if data.startswith(_OLE_MAGIC):
        raise ListFileError(f"{display} is not text: it looks like an old Excel .xls workbook",
                            hint="save it from Excel as CSV UTF-8 or .xlsx")
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        line = body.count(b"\n", 0, exc.start) + 1
        raise ListFileError(
            f"{display} is not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset} "
            f"(row {line}) cannot be decoded",
            hint="save the file as UTF-8 (in Excel: Save As > \"CSV UTF-8\"); other encodings "
                 "such as GBK or Latin-1 are not read",
            line=line,
        ) from exc
    if source.kind == "txt":
        return _txt_rows(text)
    source.delimiter = _sniff_delimiter(text)
    return _csv_rows(text, source.delimiter, display)


def _txt_rows(text: str) -> Iterator[tuple[int, Sequence[Cell]]]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        yield number, (line.rstrip("\r\n"),)


def _sniff_delimiter(text: str) -> str:
    """The delimiter among :data:`DELIMITERS` that :class:`csv.Sniffer` sees, else a comma."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except Exception:  # csv.Error "Could not determine delimiter", or a Sniffer quirk
        return ","
    return delimiter if delimiter in DELIMITERS else ","


def _csv_rows(text: str, delimiter: str, display: str) -> Iterator[tuple[int, Sequence[Cell]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ListFileError(f"{display}: row {start} cannot be read as CSV: {exc}",
                                hint="check the quotes on that row (a quoted value must end "
                                     "with a quote), or save the file again from Excel as CSV UTF-8",
                                line=start) from exc
        yield start, row
        start = reader.line_num + 1  # a quoted value may span lines: rows start after the last


def xlsx_rows(file: Path, display: str, sheet: str | None,
               source: Source) -> Iterator[tuple[int, Sequence[Cell]]]:
    """The rows of one worksheet as ``(sheet row number, values)``; any failure is a ListFileError."""
    try:
        handle = open(file, "rb")  # closed in the finally below
    except OSError as exc:
        raise ListFileError(f"cannot read {display}: {brief(exc)}",
                            hint="check that the file exists and is readable") from exc
    workbook: Any = None
    try:
        head = handle.read(len(_OLE_MAGIC))
        handle.seek(0)
        if head == _OLE_MAGIC:
            raise ListFileError(
                f"{display} is not an .xlsx workbook: it is an old .xls workbook or a "
                "password-protected one",
                hint="open it in Excel, remove any password and save it as .xlsx (Excel Workbook)",
            )
        try:
            import openpyxl

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no default style", unsupported extensions, ...
                workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            worksheet = _pick_sheet(workbook, sheet, display)
            source.sheet = str(worksheet.title)
            worksheet.reset_dimensions()  # stored dimensions may be wrong: read every row
            rows = worksheet.iter_rows(values_only=True)
        except ListFileError:
            raise
        except Exception as exc:
            raise ListFileError(f"{display} is not a readable .xlsx workbook ({brief(exc)})",
                                hint="open it in Excel and save it again as .xlsx (Excel Workbook)") from exc
        number = 0
        cells = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                raise ListFileError(
                    f"{source.where(display)} cannot be read after row {number} ({brief(exc)})",
                    hint="open it in Excel and save it again as .xlsx (Excel Workbook)",
                    line=number + 1,
                ) from exc
            number += 1
            cells += len(row)
            if number > XLSX_MAX_ROWS or cells > XLSX_MAX_CELLS:
                raise ListFileError(
                    f"{source.where(display)} has more than {XLSX_MAX_ROWS:,} rows or {XLSX_MAX_CELLS:,} cells "
                    f"(blank ones included; reading stopped at row {number})",
                    hint="delete the unused rows and columns, or save the list as CSV",
                    line=number)
            yield number, row
    finally:
        _close_quietly(workbook, handle)


def _pick_sheet(workbook: Any, sheet: str | None, display: str) -> Any:
    names = [str(name) for name in workbook.sheetnames]
    if sheet is None:
        if not workbook.worksheets:
            raise ListFileError(f"{display} has no worksheet", hint="put the list on a worksheet")
        return workbook.worksheets[0]
    wanted = sheet.strip()
    found = next((name for name in names if name == wanted), None)
    if found is None:
        found = next((name for name in names if name.casefold() == wanted.casefold()), None)
    if found is None:
        listed = ", ".join(f"`{name}`" for name in names[:20]) + (", ..." if len(names) > 20 else "")
        suggestion = did_you_mean(wanted, names)
        raise ListFileError(f"{display} has no sheet `{sheet}`; its sheets are {listed}",
                            hint=suggestion or "set `sheet:` to one of them, or remove it for the first sheet")
    worksheet = workbook[found]
    if not hasattr(worksheet, "iter_rows"):
        raise ListFileError(f"sheet `{found}` of {display} is a chart, not a worksheet",
                            hint="set `sheet:` to the worksheet that holds the list")
    return worksheet


def _close_quietly(workbook: Any, handle: IO[bytes]) -> None:
    if workbook is not None:
        try:
            workbook.close()
        except Exception:  # a corrupt archive may fail to close: nothing to do
            pass
    handle.close()
