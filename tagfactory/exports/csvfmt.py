"""How a file drop's rows become CSV with Spark's CSV writer (docs/exports.md, "File drops").

* RFC 4180 quoting: a quote inside a value is doubled (Spark's default escape is ``\\``);
  leading and trailing blanks are kept (Spark's CSV writer trims them by default).
* Formula escaping (``escape_formulas``, OWASP "CSV Injection"): a string value whose *first*
  character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a
  spreadsheet shows it as text instead of evaluating it. Only string columns; characters after
  the first are untouched (``a-b`` stays ``a-b``; ``-2`` in a string column becomes ``'-2``).
* ``encoding: utf-8-sig``: the header line (written by the drop, see :func:`head_bytes`) starts
  with the UTF-8 byte-order mark ``EF BB BF``. It needs a header.
* Spark writes the parts in parallel, without a header; a data file is the header followed by
  its parts' bytes in order (gzip: one member after the other, RFC 1952 section 2.2).
* Nested values (arrays, maps, structs) are written as JSON text.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from tagfactory.compiler.export_models import CsvOptions

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def check_options(options: CsvOptions) -> None:
    """Refuse option combinations the writer cannot honour."""
    if options.encoding == "utf-8-sig" and not options.header:
        raise ExportError("CSV `encoding: utf-8-sig` needs `header: true`: the byte-order mark is "
                          "written in front of the header line")
    if options.delimiter == options.quote:
        raise ExportError("CSV `delimiter` and `quote` must differ")


def prepare(df: DataFrame, options: CsvOptions) -> DataFrame:
    """The rows as the CSV writer gets them: nested values as JSON, formulas escaped."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StringType, StructType

    columns: list[Any] = []
    for field in df.schema.fields:
        column = F.col(f"`{field.name}`")
        if isinstance(field.dataType, ArrayType | MapType | StructType):
            column = F.to_json(column)
        elif isinstance(field.dataType, StringType) and options.escape_formulas:
            column = F.when(F.substring(column, 1, 1).isin(*FORMULA_STARTS),
                            F.concat(F.lit("'"), column)).otherwise(column)
        columns.append(column.alias(field.name))
    return df.select(*columns)


def header_line(names: list[str], options: CsvOptions) -> bytes:
    """The header line a drop's files start with (the parts are written without one), UTF-8.

    A name is quoted like Spark quotes a value: when it holds the delimiter, the quote or a line
    break (the quote doubled inside).
    """
    if not options.header:
        return b""
    fields = []
    for name in names:
        if any(ch in name for ch in (options.delimiter, options.quote, "\n", "\r")):
            name = options.quote + name.replace(options.quote, options.quote * 2) + options.quote
        fields.append(name)
    bom = BOM if options.encoding == "utf-8-sig" else ""
    return (bom + options.delimiter.join(fields) + "\n").encode("utf-8")


def head_bytes(names: list[str], options: CsvOptions, *, empty: bool = False) -> bytes:
    """What a data file starts with before its parts: the header line, gzip-compressed for ``gzip``.

    A gzip file may hold several members one after the other (RFC 1952, section 2.2): the header
    member is followed by the parts' members as Spark wrote them. A file without rows (``empty``)
    and without a header is one empty gzip member, so that it is still valid gzip.
    """
    line = header_line(names, options)
    if options.compression != "gzip" or not (line or empty):
        return line
    return gzip.compress(line, mtime=0)


def line_breaks(df: DataFrame) -> Column:
    """1 for a row whose string value holds a line break (then rows are not lines), else 0."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    broken = F.lit(False)
    for field in df.schema.fields:
        if isinstance(field.dataType, StringType):
            column = F.col(f"`{field.name}`")
            broken = broken | F.coalesce(column.contains("\n") | column.contains("\r"), F.lit(False))
    return F.when(broken, 1).otherwise(0)


def writer_options(options: CsvOptions) -> dict[str, str]:
    """Options of ``DataFrameWriter.csv`` for ``options`` (no header: see :func:`head_bytes`)."""
    return {
        "sep": options.delimiter,
        "quote": options.quote,
        "escape": options.quote,  # RFC 4180: a quote in a value is doubled
        "header": "false",
        "nullValue": options.null,
        "encoding": "UTF-8",
        "compression": "gzip" if options.compression == "gzip" else "none",
        "ignoreLeadingWhiteSpace": "false",
        "ignoreTrailingWhiteSpace": "false",
    }


def reader_options(options: CsvOptions) -> dict[str, str]:
    """Options of ``DataFrameReader.csv`` that read the written parts (no header) back row by row."""
    return {
        "sep": options.delimiter,
        "quote": options.quote,
        "escape": options.quote,
        "header": "false",
        "encoding": "UTF-8",
        "multiLine": "true",  # a quoted value may hold a line break
        "mode": "PERMISSIVE",
    }
