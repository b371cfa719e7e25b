"""The manifest nodes other manifest modules build on: the frozen base model and declared sources.

Kept apart from :mod:`tagfactory.compiler.manifest` (which re-exports every name) so that the goal
models (:mod:`tagfactory.compiler.goal_manifest`) can embed a :class:`Source` without an import cycle.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tagfactory.compiler.quality import SourceQuality


class Frozen(BaseModel):
    """Manifest nodes: unknown fields are errors, nothing is mutated after compilation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Frozen):
    """A column of a compiled table: its tag-language type and the Spark SQL type it is written as."""

    name: str
    type: str
    spark_type: str


class SourceColumn(Column):
    """A declared source column."""

    pii: bool = False
    values: list[str] | None = None


class Source(Frozen):
    """A declared source: where and how a job reads it."""

    name: str
    kind: Literal["dimension", "fact", "event"]
    path: str
    format: str
    entity_key: str
    time_column: str | None = None
    partition_column: str | None = None
    columns: list[SourceColumn]
    quality: SourceQuality = SourceQuality()

    def column_types(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every declared column (what lineage datasets list)."""
        return [(c.name, c.type) for c in self.columns]
