"""Values of a list file: trimmed, checked against the key type, normalized and de-duplicated."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.lists.model import (
    MAX_ISSUES,
    Cell,
    ListFileError,
    ListIssue,
    ListReadResult,
    Source,
    display_value,
)
from tagfactory.compiler.lists.rows import DELIMITER_NAMES

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


def _clean_text(text: str) -> str:
    """Remove invisible characters anywhere and whitespace (incl. no-break spaces) at both ends."""
    return text.translate(_INVISIBLE).strip()


def _cell_text(value: Cell) -> str:
    """A cell as trimmed text (header names, messages)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return _clean_text(value if isinstance(value, str) else str(value))


def _normalize(value: Cell, key_type: str) -> tuple[str | None, str | None]:
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

    def bad(self, line: int, value: Cell, reason: str) -> None:
        self.rows += 1
        self.malformed_count += 1
        if len(self.malformed) < MAX_ISSUES:
            self.malformed.append(ListIssue(line, display_value(value), reason))


def collect(
    rows: Iterator[tuple[int, Sequence[Cell]]],
    *,
    display: str,
    source: Source,
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


def _width(cells: Sequence[Cell], text_file: bool) -> int:
    """0 for a blank row; else its columns (a worksheet row: up to its last non-blank cell)."""
    if text_file:
        return len(cells) if any(_cell_text(cell) for cell in cells) else 0
    last = 0
    for position, cell in enumerate(cells, start=1):
        if cell is not None and _cell_text(cell):
            last = position
    return last


def _looks_like_header(value: Cell, key_type: str, key_name: str | None) -> bool:
    """``header: auto``: a blank or malformed value, or the key name, is a header."""
    text = _cell_text(value)
    if not text:
        return True
    if key_name and text.casefold() == key_name.strip().casefold():
        return True
    ident, _reason = _normalize(value, key_type)
    return ident is None


def _find_column(cells: Sequence[Cell], column: str, display: str, source: Source,
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
        hint = (f"the header row has one column with the {DELIMITER_NAMES[source.delimiter]} "
                "delimiter; use , ; tab or | between columns")
    raise ListFileError(
        f"{source.where(display)}: no column `{column}` in the header row (row {line}); "
        f"the header is {listed}",
        hint=hint or "set `column:` to one of the header names, or to a column number",
        line=line,
    )


def _no_identifiers(display: str, source: Source, tally: _Tally, index: int, column_desc: str,
                    header: str | None, header_line: int | None, key_type: str) -> ListFileError:
    where = source.where(display)
    if tally.nonblank_rows == 0:
        state = "is empty" if tally.blank == 0 else "has only blank rows"
        return ListFileError(f"no identifiers in {display}: {where} {state}",
                             hint="put one identifier per row in the first column (or set `column:`)")
    if index > 0 and tally.widest <= index:
        if source.kind == "csv":
            delimiter = DELIMITER_NAMES.get(source.delimiter or ",", "comma")
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
