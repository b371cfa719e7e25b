"""How a file drop's rows become CSV with Spark's CSV writer (docs/exports.md, "File drops").

* RFC 4180 quoting: a quote inside a value is doubled (Spark's default escape is ``\\``);
  leading and trailing blanks are kept (Spark's CSV writer trims them by default).
* Formula escaping (``escape_formulas``, OWASP "CSV Injection"): a string value whose *first*
  character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a
  spreadsheet shows it as text instead of evaluating it. Only string columns; characters after
  the first are untouched (``a-b`` stays ``a-b``; ``-2`` in a string column becomes ``'-2``).
* ``encoding: utf-8-sig``: Spark cannot write a byte-order mark, so U+FEFF is put in front of the
  first header field: every file then starts with the UTF-8 BOM ``EF BB BF``. It needs a header.
* Nested values (arrays, maps, structs) are written as JSON text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from tagfactory.compiler.export_models import CsvOptions

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def check_options(options: CsvOptions) -> None:
    """Refuse option combinations the writer cannot honour."""
    if options.encoding == "utf-8-sig" and not options.header:
        raise ExportError("CSV `encoding: utf-8-sig` needs `header: true`: the byte-order mark is "
                          "written in front of the header line (Spark cannot write one otherwise)")
    if options.delimiter == options.quote:
        raise ExportError("CSV `delimiter` and `quote` must differ")


def prepare(df: DataFrame, options: CsvOptions) -> DataFrame:
    """The rows as the CSV writer gets them: nested values as JSON, formulas escaped, BOM named."""
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
    if options.encoding == "utf-8-sig" and columns:
        columns[0] = columns[0].alias(BOM + df.schema.fields[0].name)
    return df.select(*columns)


def writer_options(options: CsvOptions) -> dict[str, str]:
    """Options of ``DataFrameWriter.csv`` for ``options``."""
    return {
        "sep": options.delimiter,
        "quote": options.quote,
        "escape": options.quote,  # RFC 4180: a quote in a value is doubled
        "header": str(options.header).lower(),
        "nullValue": options.null,
        "encoding": "UTF-8",
        "compression": "gzip" if options.compression == "gzip" else "none",
        "ignoreLeadingWhiteSpace": "false",
        "ignoreTrailingWhiteSpace": "false",
    }


def reader_options(options: CsvOptions) -> dict[str, str]:
    """Options of ``DataFrameReader.csv`` that read the written files back row by row."""
    return {
        "sep": options.delimiter,
        "quote": options.quote,
        "escape": options.quote,
        "header": str(options.header).lower(),
        "encoding": "UTF-8",
        "multiLine": "true",  # a quoted value may hold a line break
        "mode": "PERMISSIVE",
    }
