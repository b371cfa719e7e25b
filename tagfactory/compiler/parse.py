"""Parse definition files into located, as-written models.

This is the ``load`` step of the data walk: YAML with line marks -> pydantic models, every
schema error turned into a ``file:line:col`` diagnostic with a did-you-mean hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.export_models import (
    DESTINATION_KINDS,
    UNION_TAGS,
    Consumer,
    CsvOptions,
    ExcelDestination,
    ExportColumn,
    ExportSpec,
    FilesDestination,
    HiveDestination,
    KafkaDestination,
    Retention,
    Schedule,
    Suppression,
    TagCondition,
    What,
)
from tagfactory.compiler.goal_models import (
    ComparisonSpec,
    Cost,
    Covariate,
    GoalSpec,
    GoalWindow,
    Metric,
    Sequential,
    Slice,
)
from tagfactory.compiler.models import (
    SECTION,
    SECTIONS,
    TAG_KINDS,
    TOP_LEVEL_KEYS,
    AudienceSpec,
    Branch,
    ColumnSpec,
    DefinitionFile,
    EntitySpec,
    Guardrails,
    ListSpec,
    SceneSpec,
    SourceSpec,
    TagBase,
    Variant,
    tag_fields,
)
from tagfactory.compiler.yamlload import Loc, LocatedDocument, PathKey, load_yaml

T = TypeVar("T")


@dataclass(frozen=True)
class Located(Generic[T]):
    """A model plus where it was written."""

    model: T
    doc: LocatedDocument
    path: PathKey

    @property
    def file(self) -> str:
        """Display path of the file."""
        return self.doc.file

    def loc(self, *sub: str | int, key: bool = False) -> Loc:
        """Location of a field of this definition (or of the definition itself)."""
        return self.doc.loc(self.path + tuple(sub), key=key)


@dataclass
class ParsedDefinitions:
    """Everything read from a definitions folder, as written: one list per section of
    :data:`models.SECTIONS`, named by its key."""

    entities: list[Located[EntitySpec]] = field(default_factory=list)
    sources: list[Located[SourceSpec]] = field(default_factory=list)
    tags: list[Located[TagBase]] = field(default_factory=list)
    audiences: list[Located[AudienceSpec]] = field(default_factory=list)
    scenes: list[Located[SceneSpec]] = field(default_factory=list)
    exports: list[Located[ExportSpec]] = field(default_factory=list)
    goals: list[Located[GoalSpec]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # the definitions folder: uploaded lists must stay inside it (see guards.list_path)
    root: Path | None = None

    def section(self, key: str) -> list[Located[Any]]:
        """The definitions of the section ``key`` (a key of :data:`models.SECTION`)."""
        items: list[Located[Any]] = getattr(self, SECTION[key].key)
        return items


def discover_files(root: str | Path) -> list[Path]:
    """All ``*.yaml`` / ``*.yml`` files under ``root`` (or ``root`` itself), sorted."""
    base = Path(root)
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _display(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root.parent if root and root.is_dir() else Path.cwd()))
    except ValueError:
        return str(path)


def parse_definitions(root: str | Path, sink: DiagnosticSink, *, display_root: Path | None = None) -> ParsedDefinitions:
    """Read and schema-check every definition file under ``root``.

    Args:
        root: A folder of YAML files (or one file).
        sink: Collects diagnostics; parsing continues past errors.
        display_root: Paths in messages are shown relative to this folder's parent.

    Returns:
        The definitions that passed the schema check (invalid ones are left out).
    """
    root_path = Path(root)
    shown_root = display_root or (root_path if root_path.is_dir() else None)
    parsed = ParsedDefinitions()
    if not root_path.exists():
        sink.error(str(root), 0, 0, Code.E001, f"no such file or folder: {root}",
                   "pass the folder that holds the tag definitions, e.g. tag_definitions/")
        return parsed
    parsed.root = (root_path if root_path.is_dir() else root_path.parent).resolve()
    for file in discover_files(root_path):
        try:
            outside = not file.resolve().is_relative_to(parsed.root)
        except (OSError, RuntimeError):
            outside = True
        if outside:
            sink.error(_display(file, shown_root), 0, 0, Code.E413, "the file is a symlink that leaves the "
                       "definitions folder (or cannot be resolved); it is not read",
                       "commit the file itself, not a link to it")
            continue
        doc = load_yaml(file, sink, _display(file, shown_root))
        if doc is None:
            continue
        parsed.files.append(doc.file)
        parse_document(doc, sink, parsed)
    return parsed


def parse_document(doc: LocatedDocument, sink: DiagnosticSink, into: ParsedDefinitions) -> None:
    """Schema-check one loaded document, appending its valid definitions to ``into``."""
    data = doc.data
    if data is None or data == {}:
        return
    if not isinstance(data, dict):
        loc = doc.loc(())
        sink.error(doc.file, loc.line, loc.col, Code.E003,
                   f"a definitions file must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}; got {kind_of(data)}",
                   "start the file with `tags:` (or `sources:` / `entities:`) followed by a list")
        return
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            loc = doc.loc((key,), key=True)
            sink.error(doc.file, loc.line, loc.col, Code.E101, f"unknown top-level key `{key}`",
                       did_you_mean(str(key), TOP_LEVEL_KEYS) or f"allowed: {', '.join(TOP_LEVEL_KEYS)}")
    for spec in SECTIONS:
        section = spec.key
        items = data.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            loc = doc.loc((section,))
            sink.error(doc.file, loc.line, loc.col, Code.E003, f"`{section}` must be a list, got {kind_of(items)}",
                       f"write each {spec.singular} as a list item starting with `- name: ...`")
            continue
        for index, item in enumerate(items):
            _parse_item(doc, sink, into, section, index, item)


def _parse_item(doc: LocatedDocument, sink: DiagnosticSink, into: ParsedDefinitions,
                section: str, index: int, item: Any) -> None:
    path: PathKey = (section, index)
    if not isinstance(item, dict):
        loc = doc.loc(path)
        sink.error(doc.file, loc.line, loc.col, Code.E003, f"each entry of `{section}` must be a mapping, got {kind_of(item)}",
                   "write fields as `name: value` under the list item")
        return
    try:
        wrapper = DefinitionFile.model_validate({section: [item]})
    except ValidationError as exc:
        _report(doc, sink, path, item, section, exc)
        return
    into.section(section).append(Located(getattr(wrapper, section)[0], doc, path))


def _report(doc: LocatedDocument, sink: DiagnosticSink, path: PathKey, item: dict[str, Any],
            section: str, exc: ValidationError) -> None:
    """Translate pydantic errors into located diagnostics."""
    seen: set[tuple[PathKey, str]] = set()
    for err in exc.errors():
        # loc is (section, 0, [discriminator], field, ...): drop the wrapper list index and
        # the parts that do not exist in the data (discriminator values, union branch names).
        rel = _data_path(item, tuple(err["loc"])[2:])
        full = path + rel
        kind = err["type"]
        field = str(rel[-1]) if rel else ""
        if rel and isinstance(rel[-1], int):
            field = _label(rel)
        if (full, kind) in seen:
            continue
        seen.add((full, kind))
        code, message, hint = _describe(err, field, item, section, rel)
        if kind == "union_tag_invalid" and "kind" in item:
            full = path + ("kind",)  # point at the bad `kind:` value, not at the tag
        loc = doc.loc(full, key=(kind == "extra_forbidden"))
        sink.error(doc.file, loc.line, loc.col, code, message, hint)


def _data_path(item: Any, loc: tuple[Any, ...]) -> PathKey:
    out: list[str | int] = []
    cur = item
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
        elif part == "else_" and isinstance(cur, dict) and "else" in cur:
            out.append("else")
            cur = cur["else"]
        elif isinstance(part, str) and isinstance(cur, dict) and part not in cur and _is_field_name(part):
            # a missing field: report it on its parent mapping
            out.append(part)
            break
    return tuple(out)


def _label(rel: PathKey) -> str:
    """``("rules", 0, "then")`` -> ``rules[0].then``."""
    text = ""
    for part in rel:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_field_name(part: str) -> bool:
    return (part.isidentifier() and part not in TAG_KINDS and part not in DESTINATION_KINDS and part not in UNION_TAGS
            and part not in ("str", "int", "float", "bool", "list[str]"))


def _describe(err: Any, field: str, item: dict[str, Any], section: str, rel: PathKey) -> tuple[Code, str, str]:
    kind = err["type"]
    what = SECTION[section].singular
    name = item.get("name") if isinstance(item.get("name"), str) else None
    owner = f"{what} `{name}`" if name else what
    if kind == "extra_forbidden":
        allowed = _allowed_fields(section, item, rel)
        hint = did_you_mean(field, allowed) or f"allowed fields: {', '.join(sorted(allowed))}"
        return Code.E101, f"unknown field `{field}` in {owner}", hint
    if kind == "missing":
        return Code.E102, f"missing required field `{field}` in {owner}", f"add `{field}: ...`"
    if kind == "union_tag_not_found" or (kind == "union_tag_invalid"):
        given = item.get("kind")
        hint = did_you_mean(str(given), TAG_KINDS) if given else ""
        return (Code.E102 if given is None else Code.E103,
                f"{owner}: `kind` must be one of {', '.join(TAG_KINDS)}" + (f", got `{given}`" if given is not None else " (missing)"),
                hint or f"add `kind: aggregate` (or {', '.join(k for k in TAG_KINDS if k != 'aggregate')})")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        given = err.get("input")
        choices = [c.strip().strip("'") for c in str(expected).replace(" or ", ", ").split(",")]
        hint = did_you_mean(str(given), choices) if isinstance(given, str) else ""
        return Code.E103, f"{owner}: `{field}` must be one of {expected}, got {given!r}", hint
    if kind == "string_pattern_mismatch":
        return (Code.E103, f"{owner}: `{field}` {err.get('input')!r} is not a valid name",
                "names are snake_case: lower-case letters, digits and _, starting with a letter, at most 63 characters")
    if kind == "value_error":
        return Code.E303 if field == "window" else Code.E103, f"{owner}: `{field}`: {err['ctx']['error']}", ""
    given = err.get("input")
    return (Code.E103, f"{owner}: `{field or what}` {err['msg'].lower()} (got {kind_of(given)} {given!r})"[:300],
            "quote the value if YAML turned it into another type (e.g. 'yes', '1.0', '2026-01-01')")


def _allowed_fields(section: str, item: dict[str, Any], rel: PathKey) -> list[str]:
    if section == "tags":
        if len(rel) >= 3 and rel[0] == "rules":
            return ["when", "then"]
        return tag_fields(str(item.get("kind", "")))
    if section == "sources":
        if len(rel) >= 3 and rel[0] == "columns":
            return list(ColumnSpec.model_fields)
        return list(SourceSpec.model_fields)
    if section == "audiences":
        nested = {"list": ListSpec, "guardrails": Guardrails}
        model = nested.get(str(rel[0])) if len(rel) >= 2 else None
        return _field_names(model or AudienceSpec)
    if section == "scenes":
        if len(rel) >= 5 and rel[0] == "branches" and rel[2] == "variants":
            return _field_names(Variant)
        if len(rel) >= 3 and rel[0] == "comparisons":
            return _field_names(ComparisonSpec)
        return _field_names(Branch if len(rel) >= 3 and rel[0] == "branches" else SceneSpec)
    if section == "goals":
        return _field_names(_goal_model(rel))
    if section == "exports":
        return _field_names(_export_model(item, rel))
    return _field_names(SECTION[section].model)


def _export_model(item: dict[str, Any], rel: PathKey) -> type[Any]:
    """The model of the mapping at ``rel`` inside an export (for the allowed-fields hint)."""
    if len(rel) >= 3 and rel[0] == "destinations" and isinstance(rel[1], int):
        dests = item.get("destinations")
        dest = dests[rel[1]] if isinstance(dests, list) and rel[1] < len(dests) else {}
        if len(rel) >= 4 and rel[2] == "csv":
            return CsvOptions
        kind = dest.get("kind") if isinstance(dest, dict) else None
        kinds: dict[Any, type[Any]] = {"hive": HiveDestination, "excel": ExcelDestination, "kafka": KafkaDestination}
        return kinds.get(kind, FilesDestination)
    if len(rel) >= 3 and rel[0] == "columns":
        return ExportColumn
    if len(rel) >= 4 and rel[0] == "suppression" and rel[1] == "tags":
        return TagCondition
    nested = {"what": What, "consumer": Consumer, "suppression": Suppression, "schedule": Schedule,
              "retention": Retention}
    return nested.get(str(rel[0]), ExportSpec) if len(rel) >= 2 else ExportSpec


def _goal_model(rel: PathKey) -> type[Any]:
    """The model of the mapping at ``rel`` inside a goal (for the allowed-fields hint)."""
    if len(rel) >= 3 and rel[0] == "slices":
        return Slice
    nested = {"window": GoalWindow, "metric": Metric, "covariate": Covariate, "cost": Cost,
              "sequential": Sequential}
    return nested.get(str(rel[0]), GoalSpec) if len(rel) >= 2 else GoalSpec


def _field_names(model: type[Any]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def kind_of(value: Any) -> str:
    """How an error message names the YAML kind of ``value`` ("a mapping", "a list", ...)."""
    return {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "nothing"}.get(type(value), type(value).__name__)


def report(item: Located[Any], path: tuple[str | int, ...], code: Code, message: str, hint: str,
           sink: DiagnosticSink, *, key: bool = False, warning: bool = False) -> None:
    """Report a problem at ``path`` inside ``item`` (its key with ``key=True``, else its value)."""
    loc = item.loc(*path, key=key)
    (sink.warning if warning else sink.error)(item.file, loc.line, loc.col, code, message, hint)
