"""Uploaded identifier lists (``list:`` audiences) at compile time: read, check and normalize them.

An audience may be an uploaded list of entity keys: a ``.csv``, ``.txt`` (one identifier per
line) or ``.xlsx`` file (see ``docs/audiences.md``, "Uploaded lists"). :func:`read_id_list`
reads such a file into a :class:`ListReadResult`: the well-formed identifiers, trimmed,
normalized and de-duplicated in first-seen order, with counts of what was skipped and the
malformed values located by their row in the file.

Whatever the content of the file, reading it raises nothing but :class:`ListFileError` (with a
message naming the file and a hint on how to fix it); a caller turns it into a diagnostic.

The compiler stores the normalized list with :func:`write_id_list` (one identifier per line,
written atomically); the materialization reads it back with
:func:`tagfactory.audiences.lists.read_normalized`.

Modules: :mod:`.model` (result and error types), :mod:`.read` (the two entry points, options and
file checks), :mod:`.rows` (text and workbook rows), :mod:`.values` (normalizing and collecting).
"""

from tagfactory.compiler.lists.model import (
    KEY_TYPES,
    MAX_ISSUES,
    SUPPORTED_EXTENSIONS,
    ListFileError,
    ListIssue,
    ListReadResult,
)
from tagfactory.compiler.lists.read import read_id_list, write_id_list

__all__ = [
    "KEY_TYPES",
    "MAX_ISSUES",
    "SUPPORTED_EXTENSIONS",
    "ListFileError",
    "ListIssue",
    "ListReadResult",
    "read_id_list",
    "write_id_list",
]
