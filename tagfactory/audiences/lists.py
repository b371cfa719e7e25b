"""Uploaded identifier lists (``list:`` audiences): read, check and normalize them.

An audience may be an uploaded list of entity keys: a ``.csv``, ``.txt`` (one identifier per
line) or ``.xlsx`` file (see ``docs/audiences.md``, "Uploaded lists"). :func:`read_id_list`
reads such a file into a :class:`ListReadResult`: the well-formed identifiers, trimmed,
normalized and de-duplicated in first-seen order, with counts of what was skipped and the
malformed values located by their row in the file.

Whatever the content of the file, reading it raises nothing but :class:`ListFileError` (with a
message naming the file and a hint on how to fix it); a caller turns it into a diagnostic.

The compiler stores the normalized list with :func:`write_id_list` (one identifier per line,
written atomically) and the materialization reads it back with :func:`read_normalized`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import os
import re
import uuid
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.errors import SourceError

__all__ = [
    "KEY_TYPES",
    "MAX_ISSUES",
    "SUPPORTED_EXTENSIONS",
    "ListFileError",
    "ListIssue",
    "ListReadResult",
    "read_id_list",
    "read_normalized",
    "write_id_list",
]

SUPPORTED_EXTENSIONS = (".csv", ".txt", ".xlsx")
KEY_TYPES = ("string", "integer")
#: How many malformed values :attr:`ListReadResult.malformed` keeps (all are counted).
MAX_ISSUES = 100
#: Characters of a CSV file given to :class:`csv.Sniffer`. Its quote-guessing regular
#: expressions are quadratic in the sample (64 KB of crafted text takes ~30 s, 8 KB ~0.4 s),
#: and a few hundred lines are plenty to tell the delimiter.
SNIFF_CHARS = 8 * 1024
DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

_INT64_MAX = 2**63 - 1
#: Larger floats are not all exactly representable: Excel has already lost digits.
_FLOAT_EXACT_MAX = 2**53
_DIGITS_RE = re.compile(r"[0-9]+")
_SCIENTIFIC_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+")
_STRING_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
_STRING_ID_CHAR_RE = re.compile(r"[A-Za-z0-9_.:@-]")
#: Invisible characters removed anywhere in a value: zero-width space / non-joiner / joiner,
#: word joiner, soft hyphen and byte-order marks (pasted from web pages or other files).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\u00ad\ufeff"), None)

#: Bounds of an .xlsx workbook, checked before openpyxl parses it: the sum of the uncompressed
#: sizes of its parts (the zip directory's sizes, which :mod:`zipfile` enforces while reading),
#: and, while streaming the sheet, its rows (blank ones included) and cells.
XLSX_MAX_UNCOMPRESSED = 128 * 1024 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's own limit
XLSX_MAX_CELLS = 20_000_000
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
_DISPLAY_CHARS = 80

_Cell = Any  # str for text files; str, int, float, bool, datetime or None for .xlsx


class ListFileError(SourceError, ValueError):
    """The list file cannot be used. ``line`` is a 1-based row of the list file when one is to blame, else None.

    ``str(error)`` is the message alone; ``hint`` says how to fix it (callers show it apart).
    """

    def __init__(self, message: str, hint: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.hint, self.line))


@dataclass(frozen=True)
class ListIssue:
    """A malformed value of a list file, skipped."""

    line: int
    """1-based row number in the file (for .xlsx: the sheet row number)."""
    value: str
    """The raw value as read (non-printable characters escaped, truncated to 80 characters)."""
    reason: str
    """Why it was skipped, e.g. "not a well-formed identifier", "not digits"."""


@dataclass
class ListReadResult:
    """What :func:`read_id_list` read from a list file."""

    ids: list[str]
    """Trimmed, normalized, de-duplicated identifiers, in first-seen order."""
    header: str | None
    """The header cell of the chosen column when a header row was used, else None."""
    column: str
    """Human description of the column used, e.g. "`user_id` (column 2)" or "column 1"."""
    rows: int = 0
    """Non-blank data rows seen (after the header): ``len(ids) + duplicates + malformed_count``."""
    blank: int = 0
    """Blank rows and blank cells (of the chosen column) skipped."""
    duplicates: int = 0
    """Values dropped as duplicates (after normalization)."""
    malformed: list[ListIssue] = field(default_factory=list)
    """The first :data:`MAX_ISSUES` malformed values."""
    malformed_count: int = 0
    """All malformed values."""


@dataclass
class _Source:
    """What the row reader found out about the file, for messages."""

    kind: str  # "csv" | "txt" | "xlsx"
    delimiter: str | None = None
    sheet: str | None = None

    def where(self, display: str) -> str:
        return f"sheet `{self.sheet}` of {display}" if self.sheet is not None else display


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def read_id_list(
    path: str | Path,
    *,
    column: str | int | None = None,
    sheet: str | None = None,
    header: str | bool = "auto",
    key_type: str = "string",
    key_name: str | None = None,
    max_rows: int = 1_000_000,
    max_bytes: int = 256 * 1024 * 1024,
    root: str | Path | None = None,
) -> ListReadResult:
    """Read the identifiers of an uploaded list file (``.csv``, ``.txt`` or ``.xlsx``).

    Args:
        path: The list file; messages name it as given.
        column: Header name (matched case-insensitively, trimmed), 1-based column number, or
            None for the first column.
        sheet: ``.xlsx`` only: the sheet name (default: the first worksheet).
        header: ``True`` (the first non-blank row is a header), ``False`` (no header) or
            ``"auto"``: the first non-blank row is a header when its value in the chosen column
            is not a well-formed identifier or equals ``key_name`` (case-insensitively).
        key_type: The entity's key type, ``"string"`` or ``"integer"``.
        key_name: The entity's key name (for header detection).
        max_rows: Refuse a list with more distinct identifiers than this.
        max_bytes: Refuse a bigger file (for .xlsx: bigger once uncompressed, up to
            :data:`XLSX_MAX_UNCOMPRESSED`).
        root: When given, the file must lie inside this folder once symlinks are resolved.

    Returns:
        The identifiers and what was skipped (blank, duplicate and malformed values).

    Raises:
        ListFileError: The file is missing, unreadable, too big, of an unsupported kind, not
            UTF-8, a corrupt workbook, has no such column or sheet, no identifier at all, or
            more than ``max_rows`` of them.
        ValueError: ``key_type`` is not one of :data:`KEY_TYPES` (a programming error).
    """
    display = os.fspath(path)
    if key_type not in KEY_TYPES:
        raise ValueError(f"key_type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")
    header_mode = _header_mode(header, display)
    _check_options(display, column=column, header_mode=header_mode, max_rows=max_rows)
    file = _contained(path, root, display)
    kind = _kind(file, display)
    if sheet is not None and kind != "xlsx":
        raise ListFileError(
            f"{display}: `sheet: {sheet}` is only for .xlsx files",
            hint="remove `sheet:` for a .csv or .txt list",
        )
    if kind == "txt" and isinstance(column, int) and column > 1:
        raise ListFileError(
            f"{display} has one identifier per line: there is no column {column}",
            hint="use `column: 1` (or no `column:`), or save the list as .csv",
        )
    size = _file_size(file, display)
    if size > max_bytes:
        raise ListFileError(
            f"{display} is {_megabytes(size)}, more than the {_megabytes(max_bytes)} a list may be",
            hint="split the list into several files, or keep only the identifier column",
        )
    source = _Source(kind)
    rows: Iterator[tuple[int, Sequence[_Cell]]]
    if kind == "xlsx":
        _check_xlsx_size(file, display, min(max_bytes, XLSX_MAX_UNCOMPRESSED))
        rows = _xlsx_rows(file, display, sheet, source)
    else:
        rows = _text_rows(_read_bytes(file, display, max_bytes), display, source)
    return _collect(
        rows,
        display=display,
        source=source,
        column=column,
        header_mode=header_mode,
        key_type=key_type,
        key_name=key_name,
        max_rows=max_rows,
    )


def write_id_list(ids: Iterable[str], path: str | Path) -> None:
    """Write normalized identifiers, one per line (UTF-8, ``\\n``), atomically.

    The list is written to a temporary file in the same folder (created if needed), then moved
    over ``path`` with :func:`os.replace`, so readers see the old or the new list, never half
    of one.

    Raises:
        ValueError: An identifier is empty, has surrounding whitespace or a line break (it would
            not read back as itself).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as out:
            for ident in ids:
                if not ident or ident != ident.strip() or "\n" in ident or "\r" in ident:
                    raise ValueError(f"not a normalized identifier: {ident!r}")
                out.write(ident)
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_normalized(path: str | Path) -> list[str]:
    """Read back a list written by :func:`write_id_list`.

    Raises:
        ListFileError: The file is missing, unreadable, not UTF-8 or not a normalized list.
    """
    display = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ListFileError(f"normalized list not found: {display}",
                            hint="compile the audience definitions again") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(f"cannot read the normalized list {display}: {_brief(exc)}",
                            hint="compile the audience definitions again") from exc
    if not text:
        return []
    ids = text.split("\n")
    if ids[-1] == "":
        ids.pop()
    for number, ident in enumerate(ids, start=1):
        if not ident or ident != ident.strip() or "\r" in ident:
            raise ListFileError(f"{display}: row {number} is not a normalized identifier: "
                                f"`{_display(ident)}`",
                                hint="compile the audience definitions again", line=number)
    return ids


# --------------------------------------------------------------------------------------------
# Options and files
# --------------------------------------------------------------------------------------------

def _header_mode(header: str | bool, display: str) -> str:
    """``"auto"``, ``"true"`` or ``"false"``."""
    if isinstance(header, bool):
        return "true" if header else "false"
    if isinstance(header, str) and header.strip().lower() in ("auto", "true", "false"):
        return header.strip().lower()
    raise ListFileError(f"{display}: `header: {header}` is not one of auto, true, false",
                        hint="write `header: auto` (the default), `header: true` or `header: false`")


def _check_options(display: str, *, column: str | int | None, header_mode: str,
                   max_rows: int) -> None:
    if isinstance(column, bool) or not (column is None or isinstance(column, str | int)):
        raise ListFileError(f"{display}: `column: {column}` is neither a header name nor a column number",
                            hint="write the header name of the identifier column, or its 1-based number")
    if isinstance(column, int) and column < 1:
        raise ListFileError(f"{display}: `column: {column}` is not a column number",
                            hint="columns are numbered from 1 (the first column)")
    if isinstance(column, str) and not column.strip():
        raise ListFileError(f"{display}: `column:` is empty",
                            hint="write the header name of the identifier column, or its 1-based number")
    if isinstance(column, str) and header_mode == "false":
        raise ListFileError(f"{display}: `column: {column}` names a header column, but `header: false`",
                            hint="set `header: true` (or auto), or give the column by its number")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ListFileError(f"{display}: `max_rows: {max_rows}` is not a positive number",
                            hint="write e.g. `max_rows: 1000000` (the default)")


def _contained(path: str | Path, root: str | Path | None, display: str) -> Path:
    """``path`` as a Path; with ``root``, resolved and checked to stay inside it."""
    text = os.fspath(path)
    if "\x00" in text:
        raise ListFileError(f"{_display(display)}: the path contains a NUL character",
                            hint="name the list file without control characters")
    file = Path(text)
    if root is None:
        return file
    try:
        resolved = file.resolve(strict=False)
        inside = Path(root).resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise ListFileError(f"{display}: the path cannot be resolved ({type(exc).__name__}: a symlink loop?)",
                            hint="commit the list file itself, not a link") from exc
    if not resolved.is_relative_to(inside):
        raise ListFileError(f"{display} leaves {inside.name}/ (after resolving `..` and symlinks)",
                            hint="keep uploaded lists inside the definitions folder")
    return resolved


def _check_xlsx_size(file: Path, display: str, limit: int) -> None:
    """Refuse a workbook whose parts add up to more than ``limit`` bytes uncompressed (a zip bomb)."""
    try:
        with zipfile.ZipFile(file) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: the workbook reader reports it
    if total > limit:
        raise ListFileError(f"{display} expands to {_megabytes(total)} uncompressed, more than the "
                            f"{_megabytes(limit)} a list workbook may be",
                            hint="keep only the identifier column, or save the list as CSV")


def _kind(file: Path, display: str) -> str:
    suffix = file.suffix.lower()
    if suffix in SUPPORTED_EXTENSIONS:
        return suffix[1:]
    if suffix == ".xls":
        raise ListFileError(f"{display} is an old Excel .xls workbook, which is not read",
                            hint="open it in Excel and save it as .xlsx (Excel Workbook) or CSV UTF-8")
    kind = f"`{suffix}` files" if suffix else "files without an extension"
    raise ListFileError(f"{display}: {kind} are not read; a list must be .csv, .txt or .xlsx",
                        hint="save the list as .csv (UTF-8), .txt (one identifier per line) or .xlsx")


def _file_size(file: Path, display: str) -> int:
    try:
        if file.is_dir():
            raise ListFileError(f"{display} is a folder, not a list file",
                                hint="`file:` must name a .csv, .txt or .xlsx file")
        return file.stat().st_size
    except FileNotFoundError as exc:
        raise ListFileError(f"list file not found: {display}",
                            hint="check the file name and folder (`file:` is relative to the "
                                 "YAML file's folder)") from exc
    except OSError as exc:
        raise ListFileError(f"cannot read {display}: {_brief(exc)}",
                            hint="check that the file exists and is readable") from exc


def _read_bytes(file: Path, display: str, max_bytes: int) -> bytes:
    try:
        with open(file, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ListFileError(f"cannot read {display}: {_brief(exc)}",
                            hint="check that the file exists and is readable") from exc
    if len(data) > max_bytes:
        raise ListFileError(f"{display} is more than the {_megabytes(max_bytes)} a list may be",
                            hint="split the list into several files, or keep only the identifier column")
    return data


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _brief(exc: BaseException) -> str:
    """A one-line description of an exception, for messages."""
    text = " ".join(str(exc).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Reading rows
# --------------------------------------------------------------------------------------------

def _text_rows(data: bytes, display: str, source: _Source) -> Iterator[tuple[int, Sequence[_Cell]]]:
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


def _txt_rows(text: str) -> Iterator[tuple[int, Sequence[_Cell]]]:
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


def _csv_rows(text: str, delimiter: str, display: str) -> Iterator[tuple[int, Sequence[_Cell]]]:
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


def _xlsx_rows(file: Path, display: str, sheet: str | None,
               source: _Source) -> Iterator[tuple[int, Sequence[_Cell]]]:
    """The rows of one worksheet as ``(sheet row number, values)``; any failure is a ListFileError."""
    try:
        handle = open(file, "rb")  # closed in the finally below
    except OSError as exc:
        raise ListFileError(f"cannot read {display}: {_brief(exc)}",
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
            raise ListFileError(f"{display} is not a readable .xlsx workbook ({_brief(exc)})",
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
                    f"{source.where(display)} cannot be read after row {number} ({_brief(exc)})",
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


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def _clean_text(text: str) -> str:
    """Remove invisible characters anywhere and whitespace (incl. no-break spaces) at both ends."""
    return text.translate(_INVISIBLE).strip()


def _cell_text(value: _Cell) -> str:
    """A cell as trimmed text (header names, messages)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return _clean_text(value if isinstance(value, str) else str(value))


def _display(value: _Cell) -> str:
    """The raw value, non-printable characters escaped, at most 80 characters."""
    raw = value if isinstance(value, str) else str(value)
    raw = raw[: _DISPLAY_CHARS * 2]
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in raw)
    return text if len(text) <= _DISPLAY_CHARS else text[: _DISPLAY_CHARS - 3] + "..."


def _normalize(value: _Cell, key_type: str) -> tuple[str | None, str | None]:
    """``(identifier, None)``, ``(None, reason)`` when malformed, or ``(None, None)`` when blank."""
    if isinstance(value, str):  # text files: every cell
        text = _clean_text(value)
        return _check(text, key_type) if text else (None, None)
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "a TRUE/FALSE cell, not an identifier"
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return None, "a date/time cell, not an identifier (format the column as text)"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None, "not a whole number"
        if abs(value) > _FLOAT_EXACT_MAX:
            return None, ("a number too large for Excel to store exactly "
                          "(format the column as text and enter the identifiers again)")
        text = str(int(value))
    else:
        text = _clean_text(str(value))
        if not text:
            return None, None
    return _check(text, key_type)


def _check(text: str, key_type: str) -> tuple[str | None, str | None]:
    """Check a trimmed value against the key type; integers lose their leading zeros."""
    if key_type == "integer":
        if not _DIGITS_RE.fullmatch(text):
            if _SCIENTIFIC_RE.fullmatch(text):
                return None, "not digits (Excel scientific notation? format the column as text)"
            return None, "not digits"
        number = int(text)
        if number > _INT64_MAX:
            return None, "out of range for a 64-bit integer key"
        return str(number), None
    if _STRING_ID_RE.fullmatch(text):
        return text, None
    if len(text) > 128:
        return None, "not a well-formed identifier (longer than 128 characters)"
    if not _STRING_ID_CHAR_RE.fullmatch(text[0]) or text[0] in "_.:@-":
        return None, "not a well-formed identifier (must start with a letter or digit)"
    bad = next(ch for ch in text if not _STRING_ID_CHAR_RE.fullmatch(ch))
    return None, f"not a well-formed identifier (contains {bad!r})"


# --------------------------------------------------------------------------------------------
# Collecting identifiers
# --------------------------------------------------------------------------------------------

@dataclass
class _Tally:
    ids: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    rows: int = 0
    blank: int = 0
    duplicates: int = 0
    malformed: list[ListIssue] = field(default_factory=list)
    malformed_count: int = 0
    widest: int = 0  # columns of the widest non-blank row
    nonblank_rows: int = 0  # incl. the header row

    def bad(self, line: int, value: _Cell, reason: str) -> None:
        self.rows += 1
        self.malformed_count += 1
        if len(self.malformed) < MAX_ISSUES:
            self.malformed.append(ListIssue(line, _display(value), reason))


def _collect(
    rows: Iterator[tuple[int, Sequence[_Cell]]],
    *,
    display: str,
    source: _Source,
    column: str | int | None,
    header_mode: str,
    key_type: str,
    key_name: str | None,
    max_rows: int,
) -> ListReadResult:
    tally = _Tally()
    index = column - 1 if isinstance(column, int) else 0  # by name: set from the header row
    header_pending = header_mode != "false"
    header: str | None = None
    header_line: int | None = None
    text_file = source.kind != "xlsx"
    for line, cells in rows:
        width = _width(cells, text_file)
        if width == 0:
            tally.blank += 1
            continue
        tally.nonblank_rows += 1
        tally.widest = max(tally.widest, width)
        if header_pending:
            header_pending = False
            if isinstance(column, str):
                index = _find_column(cells, column, display, source, line)
                header, header_line = _cell_text(cells[index]), line
                continue
            value = cells[index] if index < len(cells) else None
            if header_mode == "true" or _looks_like_header(value, key_type, key_name):
                header, header_line = _cell_text(value), line
                continue
        if index >= len(cells):
            if text_file:
                noun = "column" if len(cells) == 1 else "columns"
                tally.bad(line, (source.delimiter or ",").join(map(str, cells)),
                          f"row has only {len(cells)} {noun}")
            else:  # a worksheet row simply ends at its last value: the cell is blank
                tally.blank += 1
            continue
        ident, reason = _normalize(cells[index], key_type)
        if reason is not None:
            tally.bad(line, cells[index], reason)
        elif ident is None:
            tally.blank += 1
        elif ident in tally.seen:
            tally.rows += 1
            tally.duplicates += 1
        else:
            tally.rows += 1
            tally.seen.add(ident)
            tally.ids.append(ident)
            if len(tally.ids) > max_rows:
                raise ListFileError(
                    f"{source.where(display)} has more than {max_rows:,} identifiers "
                    f"(reading stopped at row {line})",
                    hint="split the list into several audiences, or raise `max_rows` if the "
                         "list is meant to be this big",
                )
    column_desc = f"`{header}` (column {index + 1})" if header else f"column {index + 1}"
    if not tally.ids:
        raise _no_identifiers(display, source, tally, index, column_desc, header, header_line,
                              key_type)
    return ListReadResult(
        ids=tally.ids,
        header=header,
        column=column_desc,
        rows=tally.rows,
        blank=tally.blank,
        duplicates=tally.duplicates,
        malformed=tally.malformed,
        malformed_count=tally.malformed_count,
    )


def _width(cells: Sequence[_Cell], text_file: bool) -> int:
    """0 for a blank row; else its columns (a worksheet row: up to its last non-blank cell)."""
    if text_file:
        return len(cells) if any(_cell_text(cell) for cell in cells) else 0
    last = 0
    for position, cell in enumerate(cells, start=1):
        if cell is not None and _cell_text(cell):
            last = position
    return last


def _looks_like_header(value: _Cell, key_type: str, key_name: str | None) -> bool:
    """``header: auto``: a blank or malformed value, or the key name, is a header."""
    text = _cell_text(value)
    if not text:
        return True
    if key_name and text.casefold() == key_name.strip().casefold():
        return True
    ident, _reason = _normalize(value, key_type)
    return ident is None


def _find_column(cells: Sequence[_Cell], column: str, display: str, source: _Source,
                 line: int) -> int:
    names = [_cell_text(cell) for cell in cells]
    wanted = column.strip().casefold()
    for position, name in enumerate(names):
        if name.casefold() == wanted:
            return position
    shown = [name for name in names if name]
    listed = ", ".join(f"`{name}`" for name in shown[:20]) + (", ..." if len(shown) > 20 else "")
    hint = did_you_mean(column.strip(), shown)
    if not hint and column.strip().isdigit():
        hint = f"to give the column by its number, write `column: {column.strip()}` without quotes"
    if not hint and source.kind == "csv" and len(names) == 1 and source.delimiter:
        hint = (f"the header row has one column with the {_DELIMITER_NAMES[source.delimiter]} "
                "delimiter; use , ; tab or | between columns")
    raise ListFileError(
        f"{source.where(display)}: no column `{column}` in the header row (row {line}); "
        f"the header is {listed}",
        hint=hint or "set `column:` to one of the header names, or to a column number",
        line=line,
    )


def _no_identifiers(display: str, source: _Source, tally: _Tally, index: int, column_desc: str,
                    header: str | None, header_line: int | None, key_type: str) -> ListFileError:
    where = source.where(display)
    if tally.nonblank_rows == 0:
        state = "is empty" if tally.blank == 0 else "has only blank rows"
        return ListFileError(f"no identifiers in {display}: {where} {state}",
                             hint="put one identifier per row in the first column (or set `column:`)")
    if index > 0 and tally.widest <= index:
        if source.kind == "csv":
            delimiter = _DELIMITER_NAMES.get(source.delimiter or ",", "comma")
            return ListFileError(
                f"{display} has no column {index + 1}: its rows have at most {tally.widest} "
                f"column(s) (the delimiter was detected as {delimiter})",
                hint="check `column:`, and that columns are separated by , ; tab or |",
            )
        return ListFileError(
            f"{where} has no column {index + 1}: its last used column is {tally.widest}",
            hint="check `column:` and `sheet:`",
        )
    if header is not None and tally.rows == 0 and tally.nonblank_rows == 1:
        return ListFileError(
            f"no identifiers in {display}: there is only a header row (row {header_line})",
            hint="add the identifiers below the header, or set `header: false` if "
                 f"`{header}` is an identifier",
        )
    if tally.malformed_count:
        first = tally.malformed[0]
        kind = ("digits only" if key_type == "integer"
                else "letters, digits and _ . : @ - (starting with a letter or digit)")
        return ListFileError(
            f"no identifiers in {display}: all {tally.malformed_count:,} value(s) of "
            f"{column_desc} are malformed (row {first.line}: `{first.value}`: {first.reason})",
            hint=f"identifiers of {key_type} keys are {kind}; check `column:` (and `sheet:`)",
        )
    return ListFileError(f"no identifiers in {display}: {column_desc} is blank in every row",
                         hint="check `column:` (and `sheet:`)")
