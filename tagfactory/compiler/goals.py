"""Check goal definitions (section ``goals``) with YAML locations; see docs/effects.md.

A goal reads a declared fact or event source of its entity; its ``where`` and value expressions
are Spark SQL snippets under the same policy as tag filters (untrusted input: the function
allow-list, the node allow-list, sizes, no ``${``), over the source's declared columns only, and
are typed: ``where`` must be a condition, values must be numeric (E903). The metric fields must
fit the metric type (E902), windows are ``Nd`` (E303), statistical settings in range (E904); the
CUPED covariate is a built numeric tag of the entity, slices built non-pii tags of a type with few
values (E905, E907). Runs after the tags' column lineage, which marks tags pii by lineage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.expressions import free_columns, parse_expression, report_violations
from tagfactory.compiler.goal_models import (
    CURRENCY_RE,
    MAX_GOAL_DAYS,
    MAX_SLICE_TOP,
    GoalSpec,
    Sequential,
    days,
)
from tagfactory.compiler.guards import no_substitution
from tagfactory.compiler.models import SourceSpec, TagBase
from tagfactory.compiler.parse import Located, ParsedDefinitions, report
from tagfactory.compiler.typecheck import ColumnTypes, enum_comparisons, type_expression
from tagfactory.compiler.types import NUMERIC_TYPES
from tagfactory.compiler.validate import unique_by_name

if TYPE_CHECKING:
    from tagfactory.compiler.resolve import Project

#: tag types a result can be sliced by (a handful of values each); doubles, dates and arrays cannot
SLICE_TYPES = ("enum", "boolean", "string", "integer")
#: which snippet fields each metric type needs (the others must be absent)
METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "conversion": (), "count": (), "mean": ("value",), "ratio": ("numerator", "denominator"),
}
_SNIPPETS = ("value", "numerator", "denominator")
_MEANING = {
    "conversion": "1 when the user has any qualifying event in the window",
    "count": "the number of qualifying events",
    "mean": "the sum of `value` over the user's events",
    "ratio": "sum of `numerator` over sum of `denominator`",
}


@dataclass(frozen=True)
class CheckedGoal:
    """A goal whose references resolved, with its parsed snippets."""

    item: Located[GoalSpec]
    source: SourceSpec
    delay_days: int
    length_days: int
    where: exp.Expr | None = None
    values: dict[str, exp.Expr] = field(default_factory=dict)  # "value", "numerator", "denominator"
    covariate: TagBase | None = None
    slices: tuple[tuple[TagBase, int], ...] = ()

    @property
    def spec(self) -> GoalSpec:
        """The goal as written."""
        return self.item.model


@dataclass
class GoalSet:
    """Every goal by name (valid or not: a scene naming an invalid goal is not told it is unknown)
    and the valid ones, checked."""

    goals: dict[str, Located[GoalSpec]] = field(default_factory=dict)
    checked: dict[str, CheckedGoal] = field(default_factory=dict)

    def reading_tags(self, tags: set[str]) -> list[str]:
        """Goals whose covariate or slices read any of ``tags``."""
        return [n for n, g in self.checked.items()
                if (g.covariate is not None and g.covariate.name in tags) or any(t.name in tags for t, _ in g.slices)]

    def reading_sources(self, sources: set[str]) -> list[str]:
        """Goals reading any of ``sources``."""
        return [n for n, g in self.checked.items() if g.source.name in sources]


def check_goals(parsed: ParsedDefinitions, project: Project, sink: DiagnosticSink) -> GoalSet:
    """Check every goal against the project's sources and tags."""
    result = GoalSet(goals=unique_by_name(parsed, "goals", sink))
    for name, item in result.goals.items():
        before = len(sink.errors)
        no_substitution(item, f"goal `{name}`", sink)
        if len(sink.errors) > before:
            continue
        checked = _GoalCheck(item, project, result, sink).run()
        if checked is not None and len(sink.errors) == before:
            result.checked[name] = checked
    return result


class _GoalCheck:
    """The state of checking one goal: where problems are reported."""

    def __init__(self, item: Located[GoalSpec], project: Project, goals: GoalSet, sink: DiagnosticSink) -> None:
        self.item, self.project, self.goals, self.sink = item, project, goals, sink
        self.spec = item.model
        self.what = f"goal `{self.spec.name}`"

    def error(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "") -> None:
        report(self.item, path, code, f"{self.what}: {message}", hint, self.sink)

    def run(self) -> CheckedGoal | None:
        spec = self.spec
        if spec.entity not in self.project.entities:
            self.error(("entity",), Code.E205, f"unknown entity `{spec.entity}`",
                       did_you_mean(spec.entity, self.project.entities))
            return None
        source = self._source()
        window = self._window()
        self._metric_shape()
        self._settings()
        self._guardrails()
        covariate = self._covariate()
        slices = self._slices()
        if source is None or window is None:
            return None
        where = self._snippet(("where",), spec.where, source, boolean=True) if spec.where else None
        values = {}
        for name in METRIC_FIELDS[spec.metric.type]:
            text = getattr(spec.metric, name)
            tree = self._snippet(("metric", name), text, source, boolean=False) if text else None
            if tree is not None:
                values[name] = tree
        return CheckedGoal(self.item, source, window[0], window[1], where, values, covariate, tuple(slices))

    # --- source and window ----------------------------------------------------------------

    def _source(self) -> SourceSpec | None:
        spec = self.spec
        located = self.project.sources.get(spec.source)
        if located is None:
            self.error(("source",), Code.E203, f"unknown source `{spec.source}`",
                       did_you_mean(spec.source, self.project.sources)
                       or f"declared sources: {', '.join(self.project.sources)}")
            return None
        source = located.model
        if source.kind == "dimension":
            self.error(("source",), Code.E907, f"`{source.name}` is a dimension source; a goal counts events",
                       "name a fact or event source (orders, events ...): rows with a time column")
            return None
        if source.entity != spec.entity:
            self.error(("source",), Code.E907, f"source `{source.name}` belongs to entity `{source.entity}`, "
                       f"the goal to `{spec.entity}`", f"set `entity: {source.entity}` or read a source of `{spec.entity}`")
            return None
        return source

    def _window(self) -> tuple[int, int] | None:
        window = self.spec.window
        delay, length = days(window.delay), days(window.length)
        ok = True
        if length is None or not 1 <= length <= MAX_GOAL_DAYS:
            self.error(("window", "length"), Code.E303, f"window length `{window.length}` must be `Nd` with "
                       f"1 <= N <= {MAX_GOAL_DAYS}", "e.g. `length: 7d` = the anchor day and the six days after it")
            ok = False
        if delay is None or not 0 <= delay <= MAX_GOAL_DAYS:
            self.error(("window", "delay"), Code.E303, f"window delay `{window.delay}` must be `Nd` with "
                       f"0 <= N <= {MAX_GOAL_DAYS}", "e.g. `delay: 1d` starts counting the day after the anchor")
            ok = False
        return (delay, length) if ok and delay is not None and length is not None else None

    # --- metric and settings --------------------------------------------------------------

    def _metric_shape(self) -> None:
        metric = self.spec.metric
        needed = METRIC_FIELDS[metric.type]
        for name in _SNIPPETS:
            given = getattr(metric, name) is not None
            if given and name not in needed:
                takes = f"takes {' and '.join(f'`{n}`' for n in needed)}" if needed else "takes no value expression"
                self.error(("metric", name), Code.E902, f"a `{metric.type}` metric {takes}, not `{name}` "
                           f"(it is {_MEANING[metric.type]})",
                           _metric_hint(metric.type, name))
            elif not given and name in needed:
                self.error(("metric",), Code.E902, f"a `{metric.type}` metric needs `{name}` "
                           f"({_MEANING[metric.type]})", _needs_hint(name))
        if metric.cap_percentile is not None:
            if metric.type not in ("mean", "count"):
                self.error(("metric", "cap_percentile"), Code.E902, f"`cap_percentile` caps per-user values of a "
                           f"`mean` or `count` metric, not of a `{metric.type}`", "remove `cap_percentile`")
            elif not 50 < metric.cap_percentile <= 100:
                self.error(("metric", "cap_percentile"), Code.E904, f"`cap_percentile` {metric.cap_percentile:g} "
                           "must be in (50, 100]", "e.g. `cap_percentile: 99` caps each user at the 99th percentile")

    def _settings(self) -> None:
        spec = self.spec
        if not 0 < spec.alpha < 0.5:
            self.error(("alpha",), Code.E904, f"`alpha` {spec.alpha:g} must be in (0, 0.5): it is the false-positive "
                       "rate of each interval", "the usual value is 0.05 (95% intervals)")
        if spec.cost is not None and not (math.isfinite(spec.cost.per_touch) and spec.cost.per_touch >= 0):
            self.error(("cost", "per_touch"), Code.E904, f"`cost.per_touch` {spec.cost.per_touch:g} must be a "
                       "finite amount >= 0", "the cost of one delivered touch, e.g. 0.05")
        if spec.cost is not None and not CURRENCY_RE.match(spec.cost.currency):
            self.error(("cost", "currency"), Code.E103, f"`cost.currency` `{spec.cost.currency}` must be an ISO 4217 "
                       "code: three capital letters", "e.g. `currency: CNY`")
        seq = spec.sequential
        if isinstance(seq, Sequential):
            if seq.tau2 is not None and not (math.isfinite(seq.tau2) and seq.tau2 > 0):
                self.error(("sequential", "tau2"), Code.E904, f"`sequential.tau2` {seq.tau2:g} must be > 0",
                           "omit it: the default makes the interval narrowest at `horizon_days`")
            if seq.horizon_days is not None and not 1 <= seq.horizon_days <= MAX_GOAL_DAYS:
                self.error(("sequential", "horizon_days"), Code.E904, f"`sequential.horizon_days` "
                           f"{seq.horizon_days} must be in 1..{MAX_GOAL_DAYS}", "the planned last look, e.g. 30")

    def _guardrails(self) -> None:
        for i, name in enumerate(self.spec.guardrails):
            if name == self.spec.name:
                self.error(("guardrails", i), Code.E901, "a goal cannot be its own guardrail",
                           "list other goals that must not get worse (refunds, complaints ...)")
            elif name not in self.goals.goals:
                self.error(("guardrails", i), Code.E901, f"unknown guardrail goal `{name}`",
                           did_you_mean(name, self.goals.goals) or "declare it under `goals:`")

    # --- tags -----------------------------------------------------------------------------

    def _tag(self, path: tuple[str | int, ...], name: str, role: str) -> TagBase | None:
        located = self.project.tags.get(name)
        if located is None:
            self.error(path, Code.E202, f"{role}: unknown tag `{name}`",
                       did_you_mean(name, self.project.tags) or "name a tag of the goal's entity")
            return None
        tag = located.model
        if tag.entity != self.spec.entity:
            self.error(path, Code.E907, f"{role}: tag `{name}` belongs to entity `{tag.entity}`, the goal to "
                       f"`{self.spec.entity}`")
            return None
        if not tag.built:
            self.error(path, Code.E907, f"{role}: tag `{name}` is a draft and is not built",
                       f"activate `{name}`: the profile table must hold it on the day before the first assignment")
            return None
        return tag

    def _covariate(self) -> TagBase | None:
        if self.spec.covariate is None:
            return None
        tag = self._tag(("covariate", "tag"), self.spec.covariate.tag, "covariate")
        if tag is not None and tag.type not in NUMERIC_TYPES:
            self.error(("covariate", "tag"), Code.E903, f"covariate: tag `{tag.name}` is {tag.type}; CUPED needs a "
                       "numeric tag", "use an integer or double tag measured before the scene (e.g. gmv_30d)")
            return None
        return tag

    def _slices(self) -> list[tuple[TagBase, int]]:
        out: list[tuple[TagBase, int]] = []
        seen: set[str] = set()
        for i, sl in enumerate(self.spec.slices):
            path: tuple[str | int, ...] = ("slices", i, "tag")
            if not 1 <= sl.top <= MAX_SLICE_TOP:
                self.error(("slices", i, "top"), Code.E904, f"slice `{sl.tag}`: `top` {sl.top} must be in "
                           f"1..{MAX_SLICE_TOP}", "the most frequent values kept; the rest is `(other)`")
            if sl.tag in seen:
                self.error(path, Code.E201, f"slice by `{sl.tag}` listed twice", "remove one of them")
                continue
            seen.add(sl.tag)
            tag = self._tag(path, sl.tag, f"slice `{sl.tag}`")
            if tag is None:
                continue
            if tag.pii or tag.name in self.project.pii_by_lineage:
                why = "declared pii" if tag.pii else "pii by lineage (computed from a pii source column)"
                self.error(path, Code.E905, f"slice `{sl.tag}`: the tag is {why}; results are never broken down "
                           "by personal data", "slice by a coarse, non-personal tag (a tier, a segment, a channel)")
            elif tag.type not in SLICE_TYPES:
                self.error(path, Code.E907, f"slice `{sl.tag}`: a {tag.type} tag cannot be sliced by",
                           f"slice by a tag of type {', '.join(SLICE_TYPES)} (e.g. a rule tag bucketing it)")
            else:
                out.append((tag, sl.top))
        return out

    # --- snippets -------------------------------------------------------------------------

    def _snippet(self, path: tuple[str | int, ...], text: str, source: SourceSpec, *, boolean: bool) -> exp.Expr | None:
        label = ".".join(str(p) for p in path)
        where = f"{self.what}: {label}"
        tree = parse_expression(text, where, self.item.loc(*path), self.item.file, self.sink)
        if tree is None:
            return None
        specs = source.column_specs()
        bad = [c for c in free_columns(tree) if c.table or c.name not in specs]
        for column in bad:
            self.error(path, Code.E204, f"{label}: unknown column `{column.sql(dialect='spark')}` in source "
                       f"`{source.name}`", did_you_mean(column.name, specs) or f"columns: {', '.join(specs)}")
        if bad:
            return None
        enums = {n: list(c.values) for n, c in specs.items() if c.values}
        for column_name, value in enum_comparisons(tree, enums):
            self.error(path, Code.E302, f"{label} compares `{column_name}` with `{value}`, which is not one of its "
                       f"allowed values {', '.join(enums[column_name])}",
                       did_you_mean(value, enums[column_name]) or "the comparison can never be true; fix the value")
        got, mixed = type_expression(tree, ColumnTypes({n: c.type for n, c in specs.items()}), text=text,
                                     offset=len("SELECT "))
        if report_violations(mixed, where, self.item.loc(*path), self.item.file, self.sink):
            return None
        if boolean and got not in ("boolean", "unknown"):
            self.error(path, Code.E301, f"{label} must be a condition (boolean), but it gives a {got} value",
                       "compare it, e.g. `status = 'completed'`")
            return None
        if not boolean and got not in ("numeric", "unknown"):
            self.error(path, Code.E903, f"{label} gives a {got} value; a metric value must be numeric",
                       "use a numeric column or expression, e.g. `amount` or `IF(is_complaint, 1, 0)`")
            return None
        return tree


def _metric_hint(metric_type: str, name: str) -> str:
    if metric_type == "conversion":
        return "remove it, or use `type: mean` to average a value per user"
    if metric_type == "count":
        return "remove it (a count counts the qualifying events), or use `type: mean` to sum a value"
    if metric_type == "mean":
        return "write the value as `value:`; use `type: ratio` for `numerator` / `denominator`"
    return f"a ratio is `numerator` / `denominator`; remove `{name}`"


def _needs_hint(name: str) -> str:
    if name == "denominator":
        return 'add `denominator: "1"` to divide by the number of events (revenue per order)'
    if name == "numerator":
        return "add `numerator: amount` (the per-event value summed above the line)"
    return "add `value: amount` (the per-event value summed per user)"
