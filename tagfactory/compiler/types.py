"""The value types of definitions and their Spark SQL types: the one mapping every module reads.

``SPARK_TYPES`` maps each column type (every tag value type, plus ``timestamp`` for source
columns) to its Spark SQL type name: the type tags are CAST to (:mod:`sqlbuild`), the types
sqlglot annotates snippets with (:mod:`typecheck`), the hint of a type error (:mod:`validate`)
and the ``spark_type`` of manifest columns (:mod:`assemble`).
"""

from __future__ import annotations

SPARK_TYPES: dict[str, str] = {
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "string": "STRING",
    "enum": "STRING",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "array<string>": "ARRAY<STRING>",
}

# the numeric value types (sum / avg columns, number literals in rule trees)
NUMERIC_TYPES = ("integer", "double")
