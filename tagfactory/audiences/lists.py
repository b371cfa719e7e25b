"""Uploaded identifier lists at run time: read back the normalized list the compiler wrote.

Reading the uploaded files themselves (.csv / .txt / .xlsx, BOM, duplicates, malformed ids) is
compile-time work and lives in :mod:`tagfactory.compiler.lists`; the compiler writes each list
with :func:`tagfactory.compiler.lists.write_id_list` (one identifier per line) and the
materialization reads it here with :func:`read_normalized`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tagfactory.compiler.lists.model import ListFileError, brief, display_value

__all__ = ["ListFileError", "read_normalized"]


def read_normalized(path: str | Path) -> list[str]:
    """Read back a list written by :func:`tagfactory.compiler.lists.write_id_list`.

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
        raise ListFileError(f"cannot read the normalized list {display}: {brief(exc)}",
                            hint="compile the audience definitions again") from exc
    if not text:
        return []
    ids = text.split("\n")
    if ids[-1] == "":
        ids.pop()
    for number, ident in enumerate(ids, start=1):
        if not ident or ident != ident.strip() or "\r" in ident:
            raise ListFileError(f"{display}: row {number} is not a normalized identifier: "
                                f"`{display_value(ident)}`",
                                hint="compile the audience definitions again", line=number)
    return ids
