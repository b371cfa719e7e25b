"""Reading an uploaded list file (:func:`read_id_list`) and writing its normalized identifiers (:func:`write_id_list`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tagfactory.compiler.lists.model import (
    KEY_TYPES,
    SUPPORTED_EXTENSIONS,
    Cell,
    ListFileError,
    ListReadResult,
    Source,
    brief,
    display_value,
    megabytes,
)
from tagfactory.compiler.lists.rows import (
    XLSX_MAX_UNCOMPRESSED,
    check_xlsx_size,
    text_rows,
    xlsx_rows,
)
from tagfactory.compiler.lists.values import collect


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
            f"{display} is {megabytes(size)}, more than the {megabytes(max_bytes)} a list may be",
            hint="split the list into several files, or keep only the identifier column",
        )
    source = Source(kind)
    rows: Iterator[tuple[int, Sequence[Cell]]]
    if kind == "xlsx":
        check_xlsx_size(file, display, min(max_bytes, XLSX_MAX_UNCOMPRESSED))
        rows = xlsx_rows(file, display, sheet, source)
    else:
        rows = text_rows(_read_bytes(file, display, max_bytes), display, source)
    return collect(
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
        raise ListFileError(f"{display_value(display)}: the path contains a NUL character",
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
        raise ListFileError(f"cannot read {display}: {brief(exc)}",
                            hint="check that the file exists and is readable") from exc


def _read_bytes(file: Path, display: str, max_bytes: int) -> bytes:
    try:
        with open(file, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ListFileError(f"cannot read {display}: {brief(exc)}",
                            hint="check that the file exists and is readable") from exc
    if len(data) > max_bytes:
        raise ListFileError(f"{display} is more than the {megabytes(max_bytes)} a list may be",
                            hint="split the list into several files, or keep only the identifier column")
    return data
