"""Cross-definition checks: names, references, columns, types and SQL restrictions.

Runs after :mod:`parse` and before :mod:`resolve`. Every problem is collected; nothing raises.
The parsed snippets are returned so the compiler never parses the same text twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.expectations import kwargs_problems
from tagfactory.compiler.expressions import (
    SNAPSHOT_DATE,
    free_columns,
    parse_expression,
    parse_select,
    report_violations,
)
from tagfactory.compiler.guards import (
    check_ctes,
    check_source_name_and_path,
    check_tag_name,
    no_substitution,
    value_problem,
)
from tagfactory.compiler.models import (
    CATEGORIES,
    SECTION,
    AggregateTag,
    AttributeTag,
    DerivedTag,
    EntitySpec,
    RuleTag,
    SourceSpec,
    SqlTag,
    TagBase,
)
from tagfactory.compiler.parse import Located, ParsedDefinitions, report
from tagfactory.compiler.quality import GX_EXPECTATIONS, ExpectationDecl
from tagfactory.compiler.typecheck import (
    ACCEPTS,
    ColumnTypes,
    SqlColumnError,
    enum_comparisons,
    report_unknown_column,
    result_literals,
    sql_value_types,
    type_expression,
)
from tagfactory.compiler.types import NUMERIC_TYPES, SPARK_TYPES


@dataclass
class Checked:
    """Definitions that passed the checks, by name, with their parsed snippets."""

    entities: dict[str, Located[EntitySpec]] = field(default_factory=dict)
    sources: dict[str, Located[SourceSpec]] = field(default_factory=dict)
    tags: dict[str, Located[TagBase]] = field(default_factory=dict)
    # (tag name, field) -> parsed tree; field is "expr", "filter", "sql" or "rules.N"
    snippets: dict[tuple[str, str], exp.Expr] = field(default_factory=dict)
    # tag name -> other tags it references
    tag_refs: dict[str, list[str]] = field(default_factory=dict)
    # tag name -> sources it reads
    source_refs: dict[str, list[str]] = field(default_factory=dict)
    # tag name -> names it references that are not tags (reported as E202; `plan` explains removals)
    missing_refs: dict[str, list[str]] = field(default_factory=dict)
    # declared type and enum values of every tag (for typing rule and derived expressions)
    tag_types: ColumnTypes = field(default_factory=lambda: ColumnTypes({}))
    tag_enums: dict[str, list[str]] = field(default_factory=dict)
    # column types and enum values of every source (for typing attribute exprs and filters)
    source_types: dict[str, tuple[ColumnTypes, dict[str, list[str]]]] = field(default_factory=dict)


def check_definitions(parsed: ParsedDefinitions, sink: DiagnosticSink) -> Checked:
    """Check everything that spans fields or files; see the module docstring."""
    checked = Checked()
    checked.entities = unique_by_name(parsed, "entities", sink)
    checked.sources = unique_by_name(parsed, "sources", sink)
    checked.tags = unique_by_name(parsed, "tags", sink)
    checked.tag_types = ColumnTypes({n: t.model.type for n, t in checked.tags.items()})
    checked.tag_enums = {n: list(t.model.values) for n, t in checked.tags.items() if t.model.values}
    checked.source_types = {n: _source_types(s.model) for n, s in checked.sources.items()}
    for entity in checked.entities.values():
        no_substitution(entity, f"entity `{entity.model.name}`", sink)
        _check_entity(entity, checked, sink)
    for source in checked.sources.values():
        no_substitution(source, f"source `{source.model.name}`", sink)
        check_source_name_and_path(source, sink)
        _check_source(source, checked, sink)
    for tag in checked.tags.values():
        no_substitution(tag, f"tag `{tag.model.name}`", sink)
        _check_tag(tag, checked, sink)
    return checked


def unique_by_name(parsed: ParsedDefinitions, section: str, sink: DiagnosticSink) -> dict[str, Located[Any]]:
    """The definitions of a section by name; a repeated name is an E201 error naming both places."""
    what = SECTION[section].singular
    out: dict[str, Located[Any]] = {}
    for item in parsed.section(section):
        name = item.model.name
        if name in out:
            first = out[name]
            loc = item.loc("name")
            sink.error(item.file, loc.line, loc.col, Code.E201,
                       f"duplicate {what} name `{name}`: also defined at {first.file}:{first.loc('name').line}",
                       f"{what} names must be unique across all files; rename or remove one of them")
            continue
        out[name] = item
    return out


def _check_entity(entity: Located[EntitySpec], checked: Checked, sink: DiagnosticSink) -> None:
    spec = entity.model
    source = checked.sources.get(spec.dimension)
    if source is None:
        report(entity, ("dimension",), Code.E203, f"entity `{spec.name}`: unknown dimension source `{spec.dimension}`",
               did_you_mean(spec.dimension, checked.sources) or "declare the source under `sources:`", sink)
    elif spec.key not in source.model.columns:
        report(entity, ("key",), Code.E204, f"entity `{spec.name}`: key `{spec.key}` is not a column of `{spec.dimension}`",
               did_you_mean(spec.key, source.model.columns), sink)
    tag_names = [n for n, t in checked.tags.items() if t.model.entity == spec.name]
    _check_expectations(entity, f"entity `{spec.name}`", ("quality", "expectations"), spec.quality.expectations,
                        [spec.key, *tag_names], None, sink)


def _check_source(source: Located[SourceSpec], checked: Checked, sink: DiagnosticSink) -> None:
    spec = source.model
    columns = spec.column_specs()
    if spec.entity not in checked.entities:
        report(source, ("entity",), Code.E205, f"source `{spec.name}`: unknown entity `{spec.entity}`",
               did_you_mean(spec.entity, checked.entities) or "declare it under `entities:`", sink)
    for fld in ("entity_key", "time_column", "partition_column"):
        col = getattr(spec, fld)
        if col is not None and col not in columns:
            report(source, (fld,), Code.E204, f"source `{spec.name}`: `{fld}` `{col}` is not a declared column",
                   did_you_mean(col, columns) or f"add `{col}` under `columns:`", sink)
    if spec.kind in ("fact", "event") and spec.time_column is None:
        report(source, ("kind",), Code.E102, f"source `{spec.name}`: a {spec.kind} source needs `time_column`",
               "name the column holding the event time; windows and point-in-time cuts use it", sink)
    if spec.time_column in columns and columns[spec.time_column].type not in ("timestamp", "date"):
        report(source, ("time_column",), Code.E301,
               f"source `{spec.name}`: time column `{spec.time_column}` must be a timestamp or date, "
               f"not {columns[spec.time_column].type}", "", sink)
    _check_expectations(source, f"source `{spec.name}`", ("quality", "expectations"), spec.quality.expectations,
                        list(columns), None, sink)
    for name, col in columns.items():
        if (col.type == "enum") != bool(col.values):
            report(source, ("columns", name), Code.E103,
                   f"source `{spec.name}`: column `{name}`: " + ("an enum needs `values`" if col.type == "enum"
                                                               else "only enum columns take `values`"),
                 "write it as `{type: enum, values: [a, b]}`" if col.type == "enum" else "", sink)


def _check_tag(tag: Located[TagBase], checked: Checked, sink: DiagnosticSink) -> None:
    spec = tag.model
    root = spec.category.split("/")[0]
    if root not in CATEGORIES or any(not part for part in spec.category.split("/")):
        report(tag, ("category",), Code.E206, f"tag `{spec.name}`: category `{spec.category}` must start with one of "
               f"{', '.join(CATEGORIES)}", did_you_mean(root, CATEGORIES) or "e.g. `consumption/orders`", sink)
    if (spec.type == "enum") != bool(spec.values):
        report(tag, ("type",), Code.E103, f"tag `{spec.name}`: " + ("an enum tag needs `values`" if spec.type == "enum"
                                                                else "only enum tags take `values`"),
             "list the allowed values: `values: [a, b, c]`" if spec.type == "enum" else "remove `values`", sink)
    if spec.entity not in checked.entities:
        report(tag, ("entity",), Code.E205, f"tag `{spec.name}`: unknown entity `{spec.entity}`",
               did_you_mean(spec.entity, checked.entities), sink)
        return
    check_tag_name(tag, checked.entities[spec.entity].model.key, sink)
    if spec.default is not None:
        _check_value(tag, ("default",), spec.default, "default", sink)
    _check_tag_quality(tag, sink)
    checked.tag_refs[spec.name] = []
    checked.source_refs[spec.name] = []
    if isinstance(spec, AttributeTag):
        _check_attribute(tag, spec, checked, sink)
    elif isinstance(spec, AggregateTag):
        _check_aggregate(tag, spec, checked, sink)
    elif isinstance(spec, RuleTag):
        _check_rule(tag, spec, checked, sink)
    elif isinstance(spec, DerivedTag):
        tree = parse_expression(spec.expr, f"tag `{spec.name}`: expr", tag.loc("expr"), tag.file, sink)
        if tree is not None:
            checked.snippets[(spec.name, "expr")] = tree
            _tag_refs(tag, tree, ("expr",), checked, sink)
            _check_types(tag, tree, ("expr",), spec.expr, checked.tag_types, checked.tag_enums, sink)
    elif isinstance(spec, SqlTag):
        _check_sql(tag, spec, checked, sink)


def _check_expectations(item: Located[Any], what: str, fld: tuple[str | int, ...], decls: list[ExpectationDecl],
                        columns: list[str], own_column: str | None, sink: DiagnosticSink) -> None:
    """Expectation types must be Great Expectations types; named columns must exist."""
    for i, decl in enumerate(decls):
        if decl.type not in GX_EXPECTATIONS:
            report(item, (*fld, i, "type"), Code.E601, f"{what}: unknown expectation type `{decl.type}`",
                   did_you_mean(decl.type, GX_EXPECTATIONS)
                   or "use a Great Expectations core expectation, e.g. expect_column_values_to_not_be_null", sink)
        for key in ("column", "column_A", "column_B"):
            col = decl.kwargs.get(key)
            if col is not None and (not isinstance(col, str) or (col not in columns and col != own_column)):
                report(item, (*fld, i, "kwargs", key), Code.E602, f"{what}: expectation `{decl.type}` names unknown "
                       f"column `{col}`", did_you_mean(str(col), columns) or f"columns: {', '.join(columns)}", sink)
        for key in ("column_list",):
            for col in decl.kwargs.get(key) or []:
                if col not in columns and col != own_column:
                    report(item, (*fld, i, "kwargs", key), Code.E602, f"{what}: expectation `{decl.type}` names "
                           f"unknown column `{col}`", did_you_mean(str(col), columns), sink)
        mostly = decl.kwargs.get("mostly")
        if mostly is not None and (isinstance(mostly, bool) or not isinstance(mostly, int | float)
                                   or not 0 < mostly <= 1):
            report(item, (*fld, i, "kwargs", "mostly"), Code.E602, f"{what}: `mostly` must be a share in (0, 1], "
                   f"got {mostly!r}", "e.g. `mostly: 0.95` = at least 95% of the rows", sink)
            continue
        if decl.type not in GX_EXPECTATIONS:
            continue
        for bad_key, why in kwargs_problems(decl.type, decl.kwargs):
            where = (*fld, i, "kwargs", bad_key) if bad_key is not None else (*fld, i, "kwargs" if decl.kwargs else "type")
            report(item, where, Code.E604, f"{what}: expectation `{decl.type}`: {why}",
                   "declared expectations take typed arguments only; conditions belong in tags", sink)


def _check_tag_quality(tag: Located[TagBase], sink: DiagnosticSink) -> None:
    spec = tag.model
    quality = spec.quality
    if quality.range is not None:
        if spec.type not in NUMERIC_TYPES and spec.type != "date":
            report(tag, ("quality", "range"), Code.E603, f"tag `{spec.name}`: `range` needs a numeric tag, "
                   f"`{spec.name}` is {spec.type}", "use `expectations:` for other types", sink)
        elif quality.range.min is None and quality.range.max is None:
            report(tag, ("quality", "range"), Code.E603, f"tag `{spec.name}`: `range` needs `min`, `max` or both", "", sink)
        elif (quality.range.min is not None and quality.range.max is not None
              and quality.range.min > quality.range.max):
            report(tag, ("quality", "range"), Code.E603, f"tag `{spec.name}`: range min {quality.range.min} is above "
                   f"max {quality.range.max}", "swap them", sink)
    if quality.drift is not None and spec.type in ("string", "array<string>", "date"):
        report(tag, ("quality", "drift"), Code.E603, f"tag `{spec.name}`: drift is measured for numeric, boolean and "
               f"enum tags, not {spec.type}", "remove `drift` or use it on a categorical or numeric tag", sink)
    _check_expectations(tag, f"tag `{spec.name}`", ("quality", "expectations"), quality.expectations, [],
                        spec.name, sink)


def _dimension(tag: Located[TagBase], checked: Checked) -> SourceSpec | None:
    entity = checked.entities[tag.model.entity].model
    source = checked.sources.get(entity.dimension)
    return source.model if source else None


def _check_attribute(tag: Located[TagBase], spec: AttributeTag, checked: Checked, sink: DiagnosticSink) -> None:
    tree = parse_expression(spec.expr, f"tag `{spec.name}`: expr", tag.loc("expr"), tag.file, sink)
    dim = _dimension(tag, checked)
    if tree is None or dim is None:
        return
    checked.snippets[(spec.name, "expr")] = tree
    checked.source_refs[spec.name] = [dim.name]
    if _columns_in(tag, tree, ("expr",), dim, sink, extra=(SNAPSHOT_DATE,)):
        types, enums = checked.source_types[dim.name]
        _check_types(tag, tree, ("expr",), spec.expr, types, enums, sink)


def _columns_in(tag: Located[TagBase], tree: exp.Expr, fld: tuple[str | int, ...], source: SourceSpec,
                sink: DiagnosticSink, extra: tuple[str, ...] = ()) -> bool:
    """Report columns that ``source`` does not declare; True when all are known."""
    known = list(source.columns) + list(extra)
    ok = True
    for col in free_columns(tree):
        if col.table or col.name not in known:
            ok = False
            report(tag, fld, Code.E204, f"tag `{tag.model.name}`: unknown column `{col.sql(dialect='spark')}` "
                   f"in source `{source.name}`", did_you_mean(col.name, known) or f"columns: {', '.join(known)}", sink)
    return ok


def _source_types(source: SourceSpec) -> tuple[ColumnTypes, dict[str, list[str]]]:
    """Column types and enum values of a source."""
    specs = source.column_specs()
    return (ColumnTypes({n: c.type for n, c in specs.items()}),
            {n: list(c.values) for n, c in specs.items() if c.values})


def _check_types(tag: Located[TagBase], tree: exp.Expr, fld: tuple[str | int, ...], text: str,
                 types: ColumnTypes, enums: dict[str, list[str]], sink: DiagnosticSink,
                 *, boolean: bool = False) -> None:
    """Compare enum columns only with allowed values; no booleans and numbers mixed up (E306); the
    result must fit the declared type.

    ``text``: the snippet as written (to locate findings); ``boolean``: the snippet is a condition
    (``filter``, ``when``) rather than the tag's value.
    """
    spec = tag.model
    where = ".".join(str(f) if isinstance(f, str) else f"[{f}]" for f in fld).replace(".[", "[")
    for column, value in enum_comparisons(tree, enums):
        report(tag, fld, Code.E302, f"tag `{spec.name}`: {where} compares `{column}` with `{value}`, which is not one "
               f"of its allowed values {', '.join(enums[column])}",
               did_you_mean(value, enums[column]) or "the comparison can never be true; fix the value", sink)
    got, mixed = type_expression(tree, types, text=text, offset=len("SELECT "))
    if report_violations(mixed, f"tag `{spec.name}`: {where}", tag.loc(*fld), tag.file, sink):
        return  # the value's inferred type is meaningless (sqlglot types `boolean + 1` as a boolean)
    if boolean:
        if got not in ("boolean", "unknown"):
            report(tag, fld, Code.E301, f"tag `{spec.name}`: {where} must be a condition (boolean), but it gives a "
                   f"{got} value", "compare it, e.g. `x > 0` or `x IS NOT NULL`", sink)
        return
    if got != "unknown" and got not in ACCEPTS[spec.type]:
        report(tag, fld, Code.E301, f"tag `{spec.name}`: {where} gives a {got} value, but the tag is declared "
               f"`{spec.type}`", f"change `type`, or convert the value explicitly (e.g. CAST(... AS {SPARK_TYPES[spec.type]}))",
               sink)
    if spec.type == "enum" and spec.values:
        for literal in result_literals(tree):
            if literal.this not in spec.values:
                report(tag, fld, Code.E302, f"tag `{spec.name}`: {where} can return `{literal.this}`, which is not one of "
                       f"the allowed values {', '.join(spec.values)}",
                       did_you_mean(str(literal.this), spec.values) or "add it to `values` or fix it", sink)


def _check_aggregate(tag: Located[TagBase], spec: AggregateTag, checked: Checked, sink: DiagnosticSink) -> None:
    located = checked.sources.get(spec.source)
    if located is None:
        report(tag, ("source",), Code.E203, f"tag `{spec.name}`: unknown source `{spec.source}`",
               did_you_mean(spec.source, checked.sources) or f"declared sources: {', '.join(checked.sources)}", sink)
        return
    source = located.model
    checked.source_refs[spec.name] = [source.name]
    if source.kind == "dimension":
        report(tag, ("source",), Code.E304, f"tag `{spec.name}`: aggregates need a fact or event source; "
               f"`{source.name}` is a dimension", "use `kind: attribute` for dimension columns", sink)
        return
    if source.entity != spec.entity:
        report(tag, ("source",), Code.E304, f"tag `{spec.name}`: source `{source.name}` belongs to entity "
               f"`{source.entity}`, not `{spec.entity}`", "", sink)
    columns = source.column_specs()
    needs_column = spec.agg not in ("count", "days_since_last")
    if spec.column is None and needs_column:
        report(tag, ("agg",), Code.E102, f"tag `{spec.name}`: `agg: {spec.agg}` needs `column`",
               f"name the column of `{source.name}` to aggregate", sink)
    elif spec.column is not None and spec.agg == "days_since_last":
        report(tag, ("column",), Code.E103, f"tag `{spec.name}`: `days_since_last` takes no `column` "
               f"(it uses the source's time column `{source.time_column}`)", "remove `column`", sink)
    elif spec.column is not None and spec.column not in columns:
        report(tag, ("column",), Code.E204, f"tag `{spec.name}`: unknown column `{spec.column}` in source `{source.name}`",
               did_you_mean(spec.column, columns) or f"columns: {', '.join(columns)}", sink)
    else:
        col_type = columns[spec.column].type if spec.column else None
        _check_agg_types(tag, spec, col_type, sink)
    if spec.filter:
        tree = parse_expression(spec.filter, f"tag `{spec.name}`: filter", tag.loc("filter"), tag.file, sink)
        if tree is not None:
            checked.snippets[(spec.name, "filter")] = tree
            if _columns_in(tag, tree, ("filter",), source, sink):
                types, enums = checked.source_types[source.name]
                _check_types(tag, tree, ("filter",), spec.filter, types, enums, sink, boolean=True)


def _agg_result_types(agg: str, col_type: str | None) -> tuple[str, ...]:
    """Tag types an aggregate can produce from a column type."""
    if agg in ("count", "count_distinct", "days_since_last"):
        return ("integer",)
    if agg == "distinct_values":
        return ("array<string>",)
    if agg == "avg":
        return ("double",)
    if agg == "sum":
        return ("integer", "double") if col_type == "integer" else ("double",)
    if col_type in ("string", "enum"):
        return ("string", "enum")
    if col_type == "timestamp":
        return ("date",)
    if col_type == "integer":
        return ("integer", "double")
    return (col_type,) if col_type else ()


def _check_agg_types(tag: Located[TagBase], spec: AggregateTag, col_type: str | None, sink: DiagnosticSink) -> None:
    if spec.agg in ("sum", "avg") and col_type not in NUMERIC_TYPES:
        report(tag, ("column",), Code.E301, f"tag `{spec.name}`: `{spec.agg}` needs a numeric column; "
               f"`{spec.column}` is {col_type}", "use count, count_distinct, mode, first or last instead", sink)
        return
    if spec.agg == "distinct_values" and col_type not in ("string", "enum"):
        report(tag, ("column",), Code.E301, f"tag `{spec.name}`: `distinct_values` needs a string or enum column; "
               f"`{spec.column}` is {col_type}", "", sink)
        return
    if col_type in ("boolean", "array<string>") and spec.agg in ("min", "max", "mode"):
        report(tag, ("column",), Code.E301, f"tag `{spec.name}`: `{spec.agg}` is not defined for {col_type} columns", "", sink)
        return
    allowed = _agg_result_types(spec.agg, col_type)
    if spec.type not in allowed:
        report(tag, ("type",), Code.E301, f"tag `{spec.name}`: `{spec.agg}`"
               + (f" of a {col_type} column" if col_type else "") + f" gives {' or '.join(allowed)}, "
               f"but the tag is declared `{spec.type}`", f"declare `type: {allowed[0]}`", sink)


def _check_value(tag: Located[TagBase], fld: tuple[str | int, ...], value: Any, what: str, sink: DiagnosticSink) -> None:
    spec = tag.model
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "enum": isinstance(value, str),
        "date": isinstance(value, str),
        "array<string>": isinstance(value, list),
    }[spec.type]
    if not ok:
        report(tag, fld, Code.E301, f"tag `{spec.name}`: {what} {value!r} is not a {spec.type}",
               "quote strings; write numbers without quotes", sink)
    elif problem := next((value_problem(v, spec.type) for v in (value if isinstance(value, list) else [value])
                          if value_problem(v, spec.type)), ""):
        report(tag, fld, Code.E409, f"tag `{spec.name}`: {what} {problem}",
               "write a finite number that fits the tag's type", sink)
    elif spec.type == "enum" and spec.values and value not in spec.values:
        report(tag, fld, Code.E302, f"tag `{spec.name}`: {what} `{value}` is not one of the allowed values "
               f"{', '.join(spec.values)}", did_you_mean(str(value), spec.values) or "add it to `values` or fix it", sink)


def _check_rule(tag: Located[TagBase], spec: RuleTag, checked: Checked, sink: DiagnosticSink) -> None:
    for i, case in enumerate(spec.rules):
        where = f"tag `{spec.name}`: rules[{i}].when"
        tree = parse_expression(case.when, where, tag.loc("rules", i, "when"), tag.file, sink)
        if tree is not None:
            checked.snippets[(spec.name, f"rules.{i}")] = tree
            _tag_refs(tag, tree, ("rules", i, "when"), checked, sink)
            _check_types(tag, tree, ("rules", i, "when"), case.when, checked.tag_types, checked.tag_enums, sink,
                         boolean=True)
        _check_value(tag, ("rules", i, "then"), case.then, f"rules[{i}].then", sink)
    if spec.else_ is not None:
        _check_value(tag, ("else",), spec.else_, "else", sink)


def _tag_refs(tag: Located[TagBase], tree: exp.Expr, fld: tuple[str | int, ...], checked: Checked,
              sink: DiagnosticSink) -> None:
    refs = checked.tag_refs.setdefault(tag.model.name, [])
    for col in free_columns(tree):
        name = col.name
        if name == tag.model.name:
            report(tag, fld, Code.E501, f"tag `{name}` references itself", "a tag cannot depend on its own value", sink)
        elif name == SNAPSHOT_DATE:
            continue
        elif col.table or name not in checked.tags:
            checked.missing_refs.setdefault(tag.model.name, []).append(name)
            report(tag, fld, Code.E202, f"tag `{tag.model.name}`: unknown tag `{col.sql(dialect='spark')}`",
                   did_you_mean(name, checked.tags) or "rule and derived expressions may only reference tags", sink)
        elif checked.tags[name].model.entity != tag.model.entity:
            report(tag, fld, Code.E202, f"tag `{tag.model.name}`: `{name}` belongs to another entity", "", sink)
        elif name not in refs:
            refs.append(name)


def _check_sql(tag: Located[TagBase], spec: SqlTag, checked: Checked, sink: DiagnosticSink) -> None:
    where = f"tag `{spec.name}`: sql"
    tree = parse_select(spec.sql, where, tag.loc("sql"), tag.file, sink)
    if tree is None:
        return
    if not check_ctes(tree, set(checked.sources), where, tag, ("sql",), sink):
        return
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    sources: list[str] = []
    for table in tree.find_all(exp.Table):
        name = table.name
        if table.args.get("db") or table.args.get("catalog"):
            report(tag, ("sql",), Code.E403, f"{where} reads `{table.sql(dialect='spark')}`: only declared sources may be read, "
                   "without a database prefix", "refer to the source by its declared name", sink)
        elif name in cte_names:
            continue
        elif name not in checked.sources:
            report(tag, ("sql",), Code.E403, f"{where} reads `{name}`, which is not a declared source",
                   did_you_mean(name, checked.sources) or f"declared sources: {', '.join(checked.sources)}", sink)
        elif name not in sources:
            sources.append(name)
    checked.source_refs[spec.name] = sources
    selects = tree.named_selects if isinstance(tree, exp.Query) else []
    key = checked.entities[spec.entity].model.key
    if len(selects) != 2 or not all(selects):
        report(tag, ("sql",), Code.E405, f"{where} must return two named columns (`{key}`, value), "
               f"got {len(selects)}: {', '.join(s or '<unnamed>' for s in selects)}",
               f"write `SELECT {key}, <expression> AS value FROM ...`", sink)
    elif selects[0] != key:
        report(tag, ("sql",), Code.E405, f"{where}: the first column must be the entity key `{key}`, got `{selects[0]}`",
               f"select `{key}` first", sink)
    else:
        checked.snippets[(spec.name, "sql")] = tree
        _check_sql_columns(tag, spec, tree, [checked.sources[s].model for s in sources], sink)


def _check_sql_columns(tag: Located[TagBase], spec: SqlTag, tree: exp.Query, sources: list[SourceSpec],
                       sink: DiagnosticSink) -> None:
    """Resolve the columns of a sql tag against the declared schemas and type its value."""
    schema = {s.name: {n: c.type for n, c in s.column_specs().items()} for s in sources}
    try:
        got, mixed = sql_value_types(tree, schema, text=spec.sql)
    except SqlColumnError as exc:
        known = ", ".join(sorted({c for cols in schema.values() for c in cols}))
        report_unknown_column(exc, tag.file, tag.loc("sql"), schema, f"tag `{spec.name}`: sql",
                              f"columns of {', '.join(schema) or 'the sources'}: {known}", sink)
        return
    if report_violations(mixed, f"tag `{spec.name}`: sql", tag.loc("sql"), tag.file, sink):
        return
    if got != "unknown" and got not in ACCEPTS[spec.type]:
        report(tag, ("sql",), Code.E301, f"tag `{spec.name}`: sql returns a {got} value, but the tag is declared "
               f"`{spec.type}`", f"change `type`, or CAST the value AS {SPARK_TYPES[spec.type]}", sink)
