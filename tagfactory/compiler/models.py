"""As-written models of the definition files (what a data engineer types in YAML).

Every model forbids unknown fields. Cross-file meaning (references, types, dependencies) is not
checked here but in :mod:`tagfactory.compiler.validate` and :mod:`tagfactory.compiler.resolve`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import GenericAlias
from typing import Annotated, Any, Literal

from pydantic import Field, create_model, field_validator

from tagfactory.compiler.base import Name, Scalar, Strict
from tagfactory.compiler.export_models import ExportSpec
from tagfactory.compiler.goal_models import ComparisonSpec, GoalSpec
from tagfactory.compiler.quality import EntityQuality, SourceQuality, TagQuality

VALUE_TYPES = ("boolean", "integer", "double", "string", "date", "enum", "array<string>")
COLUMN_TYPES = VALUE_TYPES + ("timestamp",)
CATEGORIES = ("basic", "behavior", "consumption", "marketing", "service", "risk")
AGGREGATIONS = (
    "count", "count_distinct", "sum", "avg", "min", "max",
    "first", "last", "mode", "distinct_values", "days_since_last",
)
WINDOW_RE = re.compile(r"^(?:all|([1-9][0-9]{0,3})d)$")
MAX_WINDOW_DAYS = 3650

ValueType = Literal["boolean", "integer", "double", "string", "date", "enum", "array<string>"]
ColumnType = Literal["boolean", "integer", "double", "string", "date", "enum", "array<string>", "timestamp"]


class ColumnSpec(Strict):
    """A declared source column."""

    type: ColumnType
    values: list[str] | None = None
    pii: bool = False
    description: str = ""


class EntitySpec(Strict):
    """An entity: the grain of a profile table."""

    name: Name
    key: Name
    key_type: Literal["string", "integer"] = "string"
    dimension: Name
    description: str = ""
    quality: EntityQuality = Field(default_factory=EntityQuality)


class SourceSpec(Strict):
    """A declared source dataset with its schema."""

    name: Name
    kind: Literal["dimension", "fact", "event"]
    entity: Name
    entity_key: Name
    time_column: Name | None = None
    partition_column: Name | None = None
    path: str = Field(min_length=1)
    format: Literal["parquet", "delta"] = "parquet"
    description: str = ""
    columns: dict[Name, ColumnSpec | ColumnType] = Field(min_length=1)
    quality: SourceQuality = Field(default_factory=SourceQuality)

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Columns with the short form (``amount: double``) expanded."""
        return {
            name: spec if isinstance(spec, ColumnSpec) else ColumnSpec(type=spec)
            for name, spec in self.columns.items()
        }


class TagBase(Strict):
    """Fields every tag has."""

    name: Name
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    category: str = Field(min_length=1)
    type: ValueType
    values: list[str] | None = None
    lifecycle: Literal["draft", "active", "deprecated"] = "active"
    # computed from a pii source column (column lineage), a tag is pii unless it says `pii: false`
    # with a `pii_reason` (checked in compiler/collineage.py)
    pii: bool = False
    pii_reason: str | None = Field(default=None, min_length=10)
    entity: Name = "user"
    default: Scalar | list[str] | None = None
    quality: TagQuality = Field(default_factory=TagQuality)

    @property
    def built(self) -> bool:
        """Draft tags are validated but not computed."""
        return self.lifecycle != "draft"


class AttributeTag(TagBase):
    """An expression over the entity's dimension source."""

    kind: Literal["attribute"]
    expr: str = Field(min_length=1)


class AggregateTag(TagBase):
    """A windowed aggregate over a fact or event source."""

    kind: Literal["aggregate"]
    source: Name
    agg: Literal[
        "count", "count_distinct", "sum", "avg", "min", "max",
        "first", "last", "mode", "distinct_values", "days_since_last",
    ]
    column: Name | None = None
    window: str
    filter: str | None = None

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        match = WINDOW_RE.match(value)
        if not match or (match.group(1) and int(match.group(1)) > MAX_WINDOW_DAYS):
            raise ValueError(
                f"window must be `Nd` with 1 <= N <= {MAX_WINDOW_DAYS} (e.g. 7d, 30d, 90d, 365d) or `all`"
            )
        return value

    @property
    def window_days(self) -> int | None:
        """Length of the window in days, or None for ``all``."""
        return None if self.window == "all" else int(self.window[:-1])


class RuleCase(Strict):
    """One ordered condition of a rule tag."""

    when: str = Field(min_length=1)
    then: Scalar


class RuleTag(TagBase):
    """Ordered conditions over other tags yielding a label."""

    kind: Literal["rule"]
    rules: list[RuleCase] = Field(min_length=1)
    else_: Scalar | None = Field(default=None, alias="else")


class DerivedTag(TagBase):
    """An expression over other tags."""

    kind: Literal["derived"]
    expr: str = Field(min_length=1)


class SqlTag(TagBase):
    """A restricted SELECT returning (entity key, value)."""

    kind: Literal["sql"]
    sql: str = Field(min_length=1)


Tag = Annotated[
    AttributeTag | AggregateTag | RuleTag | DerivedTag | SqlTag,
    Field(discriminator="kind"),
]
TAG_KINDS = ("attribute", "aggregate", "rule", "derived", "sql")


class ListSpec(Strict):
    """An uploaded list of identifiers (CSV, TXT or XLSX), see docs/audiences.md."""

    file: str = Field(min_length=1)
    column: str | int | None = None
    sheet: str | None = None
    header: Literal["auto"] | bool = "auto"
    max_rows: int = Field(1_000_000, ge=1, le=100_000_000)


class Guardrails(Strict):
    """Bounds an audience must keep to be published."""

    min_size: int | None = Field(None, ge=0)
    max_size: int | None = Field(None, ge=1)
    max_change: float | None = Field(None, gt=0)
    severity: Literal["error", "warn"] = "error"


class Described(Strict):
    """Fields every audience and scene has."""

    name: Name
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    entity: Name = "user"
    lifecycle: Literal["draft", "active", "deprecated"] = "active"

    @property
    def built(self) -> bool:
        """Drafts are validated but not materialized."""
        return self.lifecycle != "draft"


class AudienceSpec(Described):
    """A named set of entity keys: a rule tree over tags, an uploaded list or a SQL query."""

    # the rule tree is checked node by node (with YAML locations) in compiler/audience/rules.py
    rule: dict[str, Any] | None = None
    list_: ListSpec | None = Field(default=None, alias="list")
    sql: str | None = Field(default=None, min_length=1)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    profile_tags: list[Name] | None = None

    @property
    def kind(self) -> str:
        """``rule``, ``list`` or ``sql`` (the first one given)."""
        return "rule" if self.rule is not None else "list" if self.list_ is not None else "sql"


PayloadValue = str | int | float | bool


class Variant(Strict):
    """One arm of a branch's A/B split."""

    name: Name
    weight: float = Field(1.0, gt=0)
    payload: dict[str, PayloadValue] = Field(default_factory=dict)


class Branch(Strict):
    """One audience of a scene, with what its users get."""

    name: Name
    audience: Name
    payload: dict[str, PayloadValue] | None = None
    control: float = Field(0.0, ge=0, lt=1)
    variants: list[Variant] | None = Field(default=None, min_length=1)


class SceneSpec(Described):
    """A touchpoint serving several audiences by priority, with splits and a holdout."""

    salt: str | None = Field(default=None, min_length=1, max_length=200)
    holdout: float = Field(0.0, ge=0, lt=1)
    branches: list[Branch] = Field(min_length=1)
    # effect analysis (docs/effects.md): the goals measured and the comparisons made; without
    # `comparisons`, every comparison the scene's splits allow (compiler/goal_plan.py)
    goals: list[Name] = Field(default_factory=list)
    comparisons: list[ComparisonSpec] | None = Field(default=None, min_length=1)


@dataclass(frozen=True)
class Section:
    """A top-level key of a definitions file: a list of definitions of one model."""

    key: str  # the YAML key, e.g. ``tags``
    singular: str  # how messages name one definition of it, e.g. ``tag``
    model: Any  # the model of one definition (a class, or ``Tag``: the union of the tag kinds)


# The top-level sections of a definitions file, in the order they are parsed. Every place that
# lists the sections reads this: adding one is a line here plus its model (and its typed list in
# parse.ParsedDefinitions, which a unit test checks).
SECTIONS: tuple[Section, ...] = (
    Section("entities", "entity", EntitySpec),
    Section("sources", "source", SourceSpec),
    Section("tags", "tag", Tag),
    Section("audiences", "audience", AudienceSpec),
    Section("scenes", "scene", SceneSpec),
    Section("exports", "export", ExportSpec),
    Section("goals", "goal", GoalSpec),
)
SECTION: dict[str, Section] = {s.key: s for s in SECTIONS}
TOP_LEVEL_KEYS = tuple(SECTION)

# The top level of one YAML file: each section a list of its model (built from SECTIONS).
_SECTION_FIELDS: dict[str, Any] = {s.key: (GenericAlias(list, (s.model,)), Field(default_factory=list))
                                   for s in SECTIONS}
DefinitionFile: type[Strict] = create_model("DefinitionFile", __base__=Strict,
                                            __doc__="The top level of one YAML file.", **_SECTION_FIELDS)


def tag_fields(kind: str) -> list[str]:
    """Field names a tag of ``kind`` accepts (for did-you-mean hints)."""
    model: dict[str, type[TagBase]] = {
        "attribute": AttributeTag, "aggregate": AggregateTag, "rule": RuleTag,
        "derived": DerivedTag, "sql": SqlTag,
    }
    cls = model.get(kind, TagBase)
    return [f.alias or n for n, f in cls.model_fields.items()]

