"""The types of uploaded-list reading: the result, the malformed values, the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagfactory.errors import SourceError

SUPPORTED_EXTENSIONS = (".csv", ".txt", ".xlsx")
KEY_TYPES = ("string", "integer")
#: How many malformed values :attr:`ListReadResult.malformed` keeps (all are counted).
MAX_ISSUES = 100
_DISPLAY_CHARS = 80

Cell = Any  # str for text files; str, int, float, bool, datetime or None for .xlsx


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
class Source:
    """What the row reader found out about the file, for messages."""

    kind: str  # "csv" | "txt" | "xlsx"
    delimiter: str | None = None
    sheet: str | None = None

    def where(self, display: str) -> str:
        return f"sheet `{self.sheet}` of {display}" if self.sheet is not None else display


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def brief(exc: BaseException) -> str:
    """A one-line description of an exception, for messages."""
    text = " ".join(str(exc).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def display_value(value: Cell) -> str:
    """The raw value, non-printable characters escaped, at most 80 characters."""
    raw = value if isinstance(value, str) else str(value)
    raw = raw[: _DISPLAY_CHARS * 2]
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in raw)
    return text if len(text) <= _DISPLAY_CHARS else text[: _DISPLAY_CHARS - 3] + "..."
