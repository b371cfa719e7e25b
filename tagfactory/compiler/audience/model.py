"""What a compiled audience is, and how a condition refers to other audiences.

A rule audience compiles to one boolean condition over the profile snapshot's columns; a
reference to a list or SQL audience reads the per-key array column ``_ext`` (the external
memberships the job joins in), a reference to another rule audience is marked
(``meta["audience_ref"]``) so that :mod:`.references` can inline it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from tagfactory.compiler.models import AudienceSpec, SceneSpec
from tagfactory.compiler.parse import Located

EXT_COLUMN = "_ext"
# meta key of a reference node (`include: X` / `exclude: X`): the name of the audience it references
AUDIENCE_REF = "audience_ref"


@dataclass


class CompiledAudience:
    """What the job needs to materialize one audience."""

    name: str
    kind: str
    entity: str
    condition: str | None = None  # rule audiences: Spark SQL boolean over profile columns + _ext
    sql: str | None = None  # sql audiences: the query (sources cut to the snapshot's point in time)
    list_file: str | None = None  # list audiences: the list file, absolute
    list_options: dict[str, Any] = field(default_factory=dict)
    list_ids: list[str] = field(default_factory=list, repr=False)  # list audiences: normalized identifiers
    refs: list[str] = field(default_factory=list)  # audiences referenced (include / exclude)
    tags: list[str] = field(default_factory=list)  # tags read
    sources: list[str] = field(default_factory=list)  # sources read (sql audiences)
    tree: exp.Expr | None = field(default=None, repr=False, compare=False)  # rule audiences: the condition
    query: exp.Query | None = field(default=None, repr=False, compare=False)  # sql audiences: the checked query


@dataclass


class AudienceSet:
    """Checked audiences and scenes of a definitions folder."""

    audiences: dict[str, Located[AudienceSpec]] = field(default_factory=dict)
    scenes: dict[str, Located[SceneSpec]] = field(default_factory=dict)
    compiled: dict[str, CompiledAudience] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # built audiences, references first

    def downstream_of_tags(self, tags: set[str]) -> list[str]:
        """Audiences reading any of ``tags``, directly or through referenced audiences."""
        hit: set[str] = set()
        for name in self.order:
            c = self.compiled[name]
            if set(c.tags) & tags or set(c.refs) & hit:
                hit.add(name)
        return [n for n in self.order if n in hit]

    def scenes_using(self, audiences: set[str]) -> list[str]:
        """Scenes with a branch on any of ``audiences``."""
        return [n for n, s in self.scenes.items() if any(b.audience in audiences for b in s.model.branches)]


def ext_lookup(name: str) -> exp.Expr:
    """Membership of a list or SQL audience: ``COALESCE(ARRAY_CONTAINS(_ext, '<name>'), FALSE)``."""
    member = exp.func("array_contains", exp.column(EXT_COLUMN), exp.Literal.string(name))
    return exp.func("coalesce", member, exp.false())
