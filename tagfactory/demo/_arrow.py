"""Compact numpy rows and their conversion to Arrow.

Generators keep rows as ``dict[str, np.ndarray]`` of small integer codes (user index, enum
index, item number, ...) so that tens of millions of rows fit in memory. Strings are only built
here, one output partition at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from tagfactory.demo._schema import Column, SourceLayout

Rows = dict[str, np.ndarray]
Lookups = Mapping[str, pa.Array]

#: Sentinel for a null ``date`` value (days since the epoch, int32).
NULL_DATE = np.iinfo(np.int32).min


def concat_rows(parts: Sequence[Rows]) -> Rows:
    """Concatenate row dicts that have the same keys.

    Args:
        parts: Row dicts; empty ones (zero rows) are fine.

    Returns:
        One row dict; each column keeps the dtype of the first part.
    """
    keys = list(parts[0])
    return {k: np.concatenate([p[k] for p in parts]).astype(parts[0][k].dtype, copy=False) for k in keys}


def take_rows(rows: Rows, index: np.ndarray) -> Rows:
    """Select rows by position (or boolean mask)."""
    return {k: v[index] for k, v in rows.items()}


def row_count(rows: Rows) -> int:
    """Number of rows of a row dict."""
    return len(next(iter(rows.values()))) if rows else 0


#: The four ASCII digits of 0..9999 packed into one little-endian uint32 each.
_DIGITS4 = np.frombuffer(
    "".join(f"{k:04d}" for k in range(10_000)).encode("ascii"), dtype="<u4"
).astype(np.uint32)


def fixed_width_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Render integers as ``prefix`` + zero-padded decimal digits, without Python strings.

    Digits are produced four at a time through a lookup table of packed uint32 words, then
    the ``len(prefix) + width`` bytes of every row are cut out of the word grid.

    Args:
        prefix: ASCII prefix, e.g. ``"u"``.
        numbers: Integers; negative values become nulls.
        width: Minimum number of digits; widened if a number needs more.

    Returns:
        A ``pa.string()`` array.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    valid = numbers >= 0
    rest = np.where(valid, numbers, 0)
    width = max(width, len(str(int(rest.max()) if n else 0)))
    head = prefix.encode("ascii")
    digit_words = -(-width // 4)
    words = digit_words + -(-len(head) // 4)
    grid = np.empty((n, words), dtype="<u4")
    for column in range(words - 1, words - digit_words - 1, -1):
        grid[:, column] = _DIGITS4[rest % 10_000]
        rest //= 10_000
    raw = grid.view(np.uint8).reshape(n, 4 * words)
    size = len(head) + width
    start = 4 * words - size
    raw[:, start: start + len(head)] = np.frombuffer(head, dtype=np.uint8)
    data = np.ascontiguousarray(raw[:, start:])
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, n - int(valid.sum())
    )


def encode_column(column: Column, values: np.ndarray, lookups: Lookups) -> pa.Array:
    """Convert one compact numpy column to its Arrow output type.

    Args:
        column: The column definition.
        values: Compact values (codes, numbers, microseconds, ...).
        lookups: String tables for ``lookup`` columns.

    Returns:
        The Arrow array, of type ``column.arrow_type``.
    """
    kind = column.kind
    if kind == "lookup":
        codes = values.astype(np.int64, copy=False)
        null = codes < 0
        return lookups[column.table].take(pa.array(codes, mask=null if null.any() else None))
    if kind in ("id", "rowid"):
        return fixed_width_strings(column.prefix, values, column.width)
    if kind == "timestamp":
        return pa.array(values.astype(np.int64, copy=False), type=column.arrow_type)
    if kind == "date":
        null = values == NULL_DATE
        return pa.array(values.astype(np.int32, copy=False), type=pa.date32(), mask=null)
    if kind == "integer":
        ints = values.astype(np.int64, copy=False)
        null = ints < 0
        return pa.array(ints, type=pa.int64(), mask=null if null.any() else None)
    if kind == "double":
        return pa.array(values.astype(np.float64, copy=False), type=pa.float64())
    if kind == "boolean":
        return pa.array(values.astype(np.bool_, copy=False), type=pa.bool_())
    raise ValueError(f"unknown column kind {kind!r}")


def build_table(
    layout: SourceLayout, rows: Rows, index: np.ndarray, lookups: Lookups, first_rowid: int = 0
) -> pa.Table:
    """Build the Arrow table of the selected rows of a source.

    Args:
        layout: The source layout (column order and encodings).
        rows: All rows of the source in compact form.
        index: Positions of the rows to output, in output order.
        lookups: String tables for ``lookup`` columns.
        first_rowid: Number given to the first row by ``rowid`` columns.

    Returns:
        A table with exactly ``layout.arrow_schema()``.
    """
    arrays = []
    for column in layout.columns:
        if column.kind == "rowid":
            values = np.arange(first_rowid, first_rowid + len(index), dtype=np.int64)
        else:
            values = rows[column.name][index]
        arrays.append(encode_column(column, values, lookups))
    return pa.Table.from_arrays(arrays, schema=layout.arrow_schema())
