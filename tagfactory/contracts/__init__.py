"""Contracts shared by the compiler and the jobs: what the warehouse's tables are called and hold.

This package imports only pydantic and the standard library, so the compiler can list the table
specs in its compiled artifact without Spark or delta-rs; the runtime renders them
(:mod:`tagfactory.lakehouse.schemas`).
"""

from tagfactory.contracts.tables import (
    Column,
    TableSpec,
    entity_tables,
    project_tables,
    table_name,
    table_spec,
)

__all__ = ["Column", "TableSpec", "entity_tables", "project_tables", "table_name", "table_spec"]
