"""Export definitions: checks with YAML locations, and what the manifest carries of each export.

An export reads the published audience, scene and profile tables of one entity (and the entity's
dimension source for contact columns) and delivers chosen columns to destinations. Checked here,
each with its file and line (docs/exports.md lists the codes):

* names: unique exports, columns and destinations; Hive tables written by one export only;
* references: audiences and scenes of the export's entity (did-you-mean), not drafts; tags of the
  entity; columns of its dimension source; builtin fields valid for the kind of rows;
* PII: every column whose tag or source column is marked ``pii`` states its treatment, ``keep``
  only with a written approval; hashing profiles exist; a tag computed from a pii source column
  (column lineage, :mod:`.collineage`) is pii too, and the error names the path (E807);
* destinations: file-drop paths stay inside ``exports_root``; CSV cannot hold arrays; a BOM needs
  a header row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagfactory.compiler.codes import Code
from tagfactory.compiler.collineage import format_path
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.export_models import (
    BUILTIN_FIELDS,
    ExcelDestination,
    ExportColumn,
    ExportSpec,
    FilesDestination,
    Hash,
    HiveDestination,
    KafkaDestination,
    Keep,
)
from tagfactory.compiler.guards import path_problem
from tagfactory.compiler.hash_profiles import PROFILES
from tagfactory.compiler.manifest import Export
from tagfactory.compiler.manifest import ExportColumn as ManifestExportColumn
from tagfactory.compiler.parse import Located, report
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.types import SPARK_TYPES

#: builtin ``from:`` fields each kind of rows has (``key`` and ``dt`` always)
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "members": ("key", "dt", "audience"),
    "changes": ("key", "dt", "audience", "change"),
    "scenes": ("key", "dt", "scene", "branch", "group", "variant", "payload"),
    "tag_slice": ("key", "dt", "audience"),
}
_BUILTIN_TYPES = {"dt": "date"}


@dataclass(frozen=True)
class ResolvedColumn:
    """A delivered column after its ``from`` is resolved."""

    name: str
    origin: str  # "builtin", "tag" or "source"
    ref: str  # builtin field, tag name, or "<source>.<column>"
    type: str  # Spark SQL type delivered (treated PII is a string)
    source_type: str  # Spark SQL type read
    treatment: str | None  # "mask", "hash:<profile>", "keep"; None: delivered as read
    pii: bool
    normalize: str | None = None  # hashing: "email", "phone" or "other"
    description: str = ""


@dataclass(frozen=True)
class CheckedExport:
    """An export whose references resolved; ``columns`` omits dropped ones."""

    spec: ExportSpec
    definition: str  # file:line
    columns: tuple[ResolvedColumn, ...]
    tags: tuple[str, ...]
    source_columns: tuple[str, ...]
    hash_profiles: tuple[str, ...]
    suppression_tags: tuple[str, ...]


def check_exports(items: Sequence[Located[ExportSpec]], project: Project, sink: DiagnosticSink
                  ) -> list[CheckedExport]:
    """Check every export; returns those without errors, in definition order."""
    checked: list[CheckedExport] = []
    seen: dict[str, Located[ExportSpec]] = {}
    hive_tables: dict[tuple[str, str], str] = {}
    for item in items:
        spec = item.model
        first = seen.get(spec.name)
        if first is not None:
            report(item, ("name",), Code.E201, f"export `{spec.name}` is defined twice "
                   f"(first at {first.file}:{first.loc('name').line})", "rename one of them", sink)
            continue
        seen[spec.name] = item
        before = len(sink.errors)
        result = _ExportCheck(item, project, sink).run()
        for i, dest in enumerate(spec.destinations):
            if isinstance(dest, HiveDestination):
                where = (dest.database, dest.table)
                if where in hive_tables and hive_tables[where] != spec.name:
                    report(item, ("destinations", i, "table"), Code.E806, f"export `{spec.name}`: Hive table "
                           f"`{dest.database}.{dest.table}` is already written by export `{hive_tables[where]}`",
                           "one export per Hive table: choose another table name", sink)
                hive_tables.setdefault(where, spec.name)
        if result is not None and len(sink.errors) == before:
            checked.append(result)
    return checked


class _ExportCheck:
    """The checks of one export."""

    def __init__(self, item: Located[ExportSpec], project: Project, sink: DiagnosticSink) -> None:
        self.item, self.project, self.sink = item, project, sink
        self.spec = item.model
        self.ok = True

    def error(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "") -> None:
        self.ok = False
        report(self.item, path, code, f"export `{self.spec.name}`: {message}", hint, self.sink)

    def warn(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "") -> None:
        report(self.item, path, code, f"export `{self.spec.name}`: {message}", hint, self.sink, warning=True)

    def run(self) -> CheckedExport | None:
        spec = self.spec
        entity = self.project.entities.get(spec.entity)
        if entity is None:
            self.error(("entity",), Code.E205, f"unknown entity `{spec.entity}`",
                       did_you_mean(spec.entity, self.project.entities))
            return None
        self._what()
        columns = self._columns(entity.model.dimension)
        suppression_tags = self._suppression()
        self._destinations(columns)
        if spec.lifecycle == "deprecated":
            self.warn(("lifecycle",), Code.W807, "is deprecated and still delivers",
                      f"tell {spec.consumer.team} ({spec.consumer.contact}) and retire it")
        if not self.ok:
            return None
        delivered = tuple(c for c in columns if c is not None)
        return CheckedExport(
            spec=spec, definition=f"{self.item.file}:{self.item.loc().line}", columns=delivered,
            tags=tuple(dict.fromkeys(c.ref for c in delivered if c.origin == "tag")),
            source_columns=tuple(dict.fromkeys(c.ref for c in delivered if c.origin == "source")),
            hash_profiles=tuple(sorted({c.treatment.split(":", 1)[1] for c in delivered
                                        if c.treatment and c.treatment.startswith("hash:")})),
            suppression_tags=suppression_tags)

    # -- what --------------------------------------------------------------------------------
    def _what(self) -> None:
        what = self.spec.what
        for field, names in (("audiences", what.audiences or []), ("scenes", what.scenes or [])):
            for i, name in enumerate(names):
                self._reference(field, name, ("what", field, i))

    def _reference(self, field: str, name: str, path: tuple[str | int, ...]) -> None:
        known = self.project.audiences
        table = (known.audiences if field == "audiences" else known.scenes) if known else {}
        found = table.get(name)
        if found is None:
            self.error(path, Code.E801, f"unknown {field[:-1]} `{name}`",
                       did_you_mean(name, table) or f"declare it under `{field}:`")
        elif found.model.entity != self.spec.entity:
            self.error(path, Code.E801, f"{field[:-1]} `{name}` is of entity `{found.model.entity}`, "
                       f"the export of `{self.spec.entity}`")
        elif not found.model.built and self.spec.built:
            self.error(path, Code.E502, f"{field[:-1]} `{name}` is a draft and is not built",
                       f"activate `{name}` or retire the export")
        elif found.model.lifecycle == "deprecated" and self.spec.lifecycle == "active":
            self.warn(path, Code.W807, f"{field[:-1]} `{name}` is deprecated", "move the export to its successor")

    # -- columns -----------------------------------------------------------------------------
    def _columns(self, dimension: str) -> list[ResolvedColumn | None]:
        out: list[ResolvedColumn | None] = []
        names: dict[str, int] = {}
        for i, column in enumerate(self.spec.columns):
            if column.name in names:
                self.error(("columns", i, "name"), Code.E201, f"column `{column.name}` is listed twice "
                           f"(also column {names[column.name] + 1})", "column names must be unique")
            names.setdefault(column.name, i)
            out.append(self._column(column, i, dimension))
        if self.ok and not any(c is not None and c.ref == "key" for c in out):
            self.error(("columns",), Code.E802, "delivers no entity key", "add `- {name: <key>, from: key}`")
        return out

    def _column(self, column: ExportColumn, i: int, dimension: str) -> ResolvedColumn | None:
        path = ("columns", i, "from")
        ref = column.from_
        allowed = KIND_FIELDS[self.spec.what.kind]
        if ref in BUILTIN_FIELDS:
            if ref not in allowed:
                self.error(path, Code.E802, f"column `{column.name}`: `{ref}` is not a field of "
                           f"`{self.spec.what.kind}` rows", "fields: " + ", ".join(allowed) + ", tag.<tag>, "
                           f"{dimension}.<column>")
                return None
            read = "string" if ref not in _BUILTIN_TYPES else _BUILTIN_TYPES[ref]
            return self._treated(column, i, "builtin", ref, read, pii=False)
        if ref.startswith("tag."):
            name = ref[4:]
            tag = self.project.tags.get(name)
            if tag is None or tag.model.entity != self.spec.entity:
                candidates = [t for t, v in self.project.tags.items() if v.model.entity == self.spec.entity]
                self.error(path, Code.E802, f"column `{column.name}`: unknown tag `{name}`",
                           did_you_mean(name, candidates))
                return None
            if not tag.model.built:
                self.error(path, Code.E502, f"column `{column.name}`: tag `{name}` is a draft and is not built",
                           f"activate `{name}` or remove the column")
                return None
            if tag.model.lifecycle == "deprecated" and self.spec.lifecycle == "active":
                self.warn(path, Code.W807, f"column `{column.name}`: tag `{name}` is deprecated")
            lineage = self.project.pii_by_lineage.get(name)
            return self._treated(column, i, "tag", name, _spark_type(tag.model.type),
                                 pii=tag.model.pii or lineage is not None, lineage=lineage)
        source_name, dot, col = ref.partition(".")
        if not dot:
            self.error(path, Code.E802, f"column `{column.name}`: cannot read `{ref}`",
                       did_you_mean(ref, allowed) or f"use one of {', '.join(allowed)}, tag.<tag> or "
                       f"{dimension}.<column>")
            return None
        if source_name != dimension:
            self.error(path, Code.E802, f"column `{column.name}`: `{ref}` is not a column of the entity's "
                       f"dimension source `{dimension}`", f"exports read per-key columns: tag.<tag> or "
                       f"{dimension}.<column>; for facts and events define a tag")
            return None
        source = self.project.sources[dimension].model
        specs = source.column_specs()
        if col not in specs:
            self.error(path, Code.E802, f"column `{column.name}`: unknown column `{col}` of source `{dimension}`",
                       did_you_mean(col, specs))
            return None
        spec = specs[col]
        return self._treated(column, i, "source", ref, _spark_type(spec.type), pii=spec.pii)

    def _treated(self, column: ExportColumn, i: int, origin: str, ref: str, read: str, *, pii: bool,
                 lineage: list[str] | None = None) -> ResolvedColumn | None:
        treatment = column.pii
        path = ("columns", i, "pii")
        if treatment is None:
            if pii and lineage is not None:
                self.error(("columns", i, "from"), Code.E807, f"column `{column.name}`: PII by lineage: "
                           f"{format_path(lineage)}; it states no treatment",
                           "add `pii: drop`, `pii: mask`, `pii: {hash: <profile>}` or, with a written approval, "
                           "`pii: {keep: true, approval: \"who approved, when, why\"}`; or, when the tag is "
                           "not personal data, say why at the tag: `pii: false` with `pii_reason: \"...\"`")
                return None
            if pii:
                self.error(("columns", i, "from"), Code.E803, f"column `{column.name}` reads `{column.from_}`, "
                           "which is marked pii, and states no treatment",
                           "add `pii: drop`, `pii: mask`, `pii: {hash: <profile>}` or, with a written approval, "
                           "`pii: {keep: true, approval: \"who approved, when, why\"}`")
                return None
            return ResolvedColumn(column.name, origin, ref, read, read, None, False, description=column.description)
        if treatment == "drop":
            return None
        if isinstance(treatment, Keep):
            if not pii:
                self.warn(path, Code.W805, f"column `{column.name}` is not pii: `keep` has no effect")
            return ResolvedColumn(column.name, origin, ref, read, read, "keep" if pii else None, pii,
                                  description=column.description)
        if read != "string":
            self.error(path, Code.E804, f"column `{column.name}`: `{'mask' if treatment == 'mask' else 'hash'}` "
                       f"needs a string, `{column.from_}` is {read}", "treat string columns; drop the others")
            return None
        if treatment == "mask":
            return ResolvedColumn(column.name, origin, ref, "string", read, "mask", pii,
                                  normalize=_kind_of(column.name, ref), description=column.description)
        assert isinstance(treatment, Hash)
        if treatment.hash not in PROFILES:
            self.error(path + ("hash",), Code.E804, f"column `{column.name}`: unknown hashing profile "
                       f"`{treatment.hash}`", did_you_mean(treatment.hash, PROFILES)
                       or "profiles: " + ", ".join(PROFILES) + " (docs/hashing-profiles.md)")
            return None
        normalize = treatment.normalize or _kind_of(column.name, ref)
        return ResolvedColumn(column.name, origin, ref, "string", read, f"hash:{treatment.hash}", pii,
                              normalize=normalize, description=column.description)

    # -- suppression -------------------------------------------------------------------------
    def _suppression(self) -> tuple[str, ...]:
        for i, name in enumerate(self.spec.suppression.audiences):
            self._reference("audiences", name, ("suppression", "audiences", i))
        tags: list[str] = []
        for i, cond in enumerate(self.spec.suppression.tags):
            tag = self.project.tags.get(cond.tag)
            if tag is None or tag.model.entity != self.spec.entity or not tag.model.built:
                candidates = [t for t, v in self.project.tags.items() if v.model.entity == self.spec.entity]
                self.error(("suppression", "tags", i, "tag"), Code.E802, f"suppression: unknown tag `{cond.tag}`",
                           did_you_mean(cond.tag, candidates))
                continue
            needs_value = cond.op in ("=", "!=", "in", "not_in")
            if needs_value != (cond.value is not None) or (cond.op in ("in", "not_in")) != isinstance(cond.value, list):
                example = "[a, b]" if cond.op in ("in", "not_in") else "a value" if needs_value else "no value"
                self.error(("suppression", "tags", i, "op"), Code.E805, f"suppression on `{cond.tag}`: "
                           f"`{cond.op}` takes {example}", "")
            if cond.op in ("is_true", "is_false") and tag.model.type != "boolean":
                self.error(("suppression", "tags", i, "op"), Code.E805, f"suppression on `{cond.tag}`: "
                           f"`{cond.op}` needs a boolean tag, `{cond.tag}` is {tag.model.type}", "")
            tags.append(cond.tag)
        return tuple(dict.fromkeys(tags))

    # -- destinations ------------------------------------------------------------------------
    def _destinations(self, columns: list[ResolvedColumn | None]) -> None:
        names: dict[str, int] = {}
        for i, dest in enumerate(self.spec.destinations):
            if dest.name in names:
                self.error(("destinations", i, "name"), Code.E201, f"destination `{dest.name}` is listed twice",
                           "destination names must be unique within an export")
            names.setdefault(dest.name, i)
            if isinstance(dest, FilesDestination | ExcelDestination):
                problem = path_problem(dest.path)
                if problem:
                    self.error(("destinations", i, "path"), Code.E413, f"destination `{dest.name}`: path "
                               f"`{dest.path}` {problem.replace('sources_root', 'exports_root')}",
                               "name a folder relative to `exports_root` (set in the settings)")
                if isinstance(dest, FilesDestination) and dest.format == "csv":
                    arrays = [c.name for c in columns if c is not None and c.type.startswith("array")]
                    if arrays:
                        self.error(("destinations", i, "format"), Code.E806, f"destination `{dest.name}`: CSV "
                                   f"cannot hold the array column(s) {', '.join(arrays)}",
                                   "use `format: parquet`, or deliver a string tag instead")
                    if dest.csv.encoding == "utf-8-sig" and not dest.csv.header:
                        self.error(("destinations", i, "csv", "encoding"), Code.E806, f"destination `{dest.name}`: "
                                   "a byte-order mark (utf-8-sig) is written before the header row",
                                   "set `header: true` or `encoding: utf-8`")
            if isinstance(dest, KafkaDestination):
                self._kafka_fields(i, dest.name)

    def _kafka_fields(self, i: int, name: str) -> None:
        """A Kafka message type needs the builtin fields that say what happened (docs/exports.md)."""
        needed = {"changes": ("audience", "change"), "scenes": ("scene",)}.get(self.spec.what.kind, ())
        delivered = {c.from_ for c in self.spec.columns}
        missing = [f for f in needed if f not in delivered]
        if missing:
            self.error(("destinations", i), Code.E806, f"destination `{name}`: Kafka messages of "
                       f"`{self.spec.what.kind}` rows need the column(s) " + ", ".join(f"`from: {f}`" for f in missing),
                       "deliver them (they become the message's `" + "`, `".join(missing) + "`)")


def _spark_type(value_type: str) -> str:
    """The Spark SQL type (lower case, as the table registry writes it) of a tag or column type."""
    return SPARK_TYPES[value_type].lower()


def _kind_of(name: str, ref: str) -> str:
    """What a treated value is, for normalization: ``email``, ``phone`` or ``other``."""
    text = f"{name} {ref}".lower()
    if "email" in text or "mail" in text:
        return "email"
    if "phone" in text or "mobile" in text or "msisdn" in text:
        return "phone"
    return "other"


def manifest_export(checked: CheckedExport) -> Export:
    """The manifest node of a checked export, sealed with its digest."""
    spec = checked.spec
    tags = list(dict.fromkeys([*checked.tags, *checked.suppression_tags]))
    export = Export(
        name=spec.name, display_name=spec.display_name, description=spec.description, owner=spec.owner,
        consumer=spec.consumer, purpose=spec.purpose, lifecycle=spec.lifecycle, entity=spec.entity,
        definition=checked.definition, what=spec.what,
        columns=[ManifestExportColumn(name=c.name, origin=c.origin, ref=c.ref, type=c.type,  # type: ignore[arg-type]
                                      source_type=c.source_type, pii=c.pii, treatment=c.treatment,
                                      normalize=c.normalize, description=c.description)  # type: ignore[arg-type]
                 for c in checked.columns],
        suppression=spec.suppression, schedule=spec.schedule, destinations=spec.destinations,
        retention=spec.retention, tags=tags, hash_profiles=list(checked.hash_profiles))
    return export.model_copy(update={"digest": export.computed_digest()})
