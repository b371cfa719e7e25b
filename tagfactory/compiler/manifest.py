"""The manifest: the typed, versioned artifact `tagfactory compile` writes and every job reads.

``target/manifest.json`` describes, per entity, the tables to write, the sources to read (with
their declared schemas), the compiled SQL, the tags with their quality declarations, the
audiences and the scenes. It is a tree of pydantic models (this module), checked on read: its
format version must be :data:`MANIFEST_FORMAT` and its contents must match its digest. The JSON
schema is published as ``docs/manifest.schema.json`` (``tagfactory manifest-schema``).

Not to be confused with ``tagfactory plan``: that is the pull-request report of what a change to
the definitions does (see :mod:`tagfactory.compiler.report`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError

from tagfactory.compiler.export_models import (
    Consumer,
    Destination,
    Retention,
    Schedule,
    Suppression,
    What,
)
from tagfactory.compiler.goal_manifest import SceneAnalysis
from tagfactory.compiler.manifest_base import Column, Frozen, Source
from tagfactory.compiler.manifest_base import SourceColumn as SourceColumn  # re-exported
from tagfactory.compiler.models import Guardrails, PayloadValue, Variant
from tagfactory.compiler.quality import EntityQuality, TagQuality
from tagfactory.contracts.tables import TableSpec
from tagfactory.errors import ManifestError

MANIFEST_FORMAT = 2
AudienceKind = Literal["rule", "list", "sql"]
MANIFEST_FILE = "manifest.json"


class Tag(Frozen):
    """A built tag: one column of its entity's profile table."""

    name: str
    display_name: str
    description: str
    owner: str
    category: str
    kind: str
    type: str
    values: list[str] | None = None
    lifecycle: str
    pii: bool = Field(default=False, description="declared pii, or computed from a pii source column "
                      "(column lineage) without a `pii_reason`")
    pii_reason: str | None = Field(default=None, description="why the tag is not pii although lineage "
                                   "reaches a pii source column")
    window: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    layer: int = 0
    sql: str
    definition: str
    quality: TagQuality = TagQuality()


class UploadedList(Frozen):
    """The normalized identifiers of a list audience, stored beside the manifest."""

    file: str
    source: str
    ids: int
    sha256: str
    duplicates: int = 0
    malformed: int = 0

    @staticmethod
    def digest_of(ids: list[str]) -> str:
        """SHA-256 of normalized identifiers as the manifest records them (one per line)."""
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()


class Audience(Frozen):
    """A built audience (rule, uploaded list or SQL)."""

    name: str
    display_name: str
    description: str
    owner: str
    kind: AudienceKind
    lifecycle: str
    definition: str
    tags: list[str] = Field(default_factory=list)
    refs: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    condition: str | None = None
    sql: str | None = None
    uploaded: UploadedList | None = None
    guardrails: Guardrails = Guardrails()
    profile_tags: list[str] = Field(default_factory=list)


class Branch(Frozen):
    """One audience of a scene, with what its members get."""

    name: str
    audience: str
    payload: dict[str, PayloadValue] | None = None
    control: float = 0.0
    variants: list[Variant] | None = None


class Scene(Frozen):
    """A built scene: audiences by priority, splits and a holdout."""

    name: str
    display_name: str
    description: str
    owner: str
    definition: str
    salt: str
    holdout: float = 0.0
    branches: list[Branch]
    analysis: SceneAnalysis | None = Field(default=None, description=(
        "effect analysis: the scene's goals and comparisons (docs/effects.md); None without goals"))


class Entity(Frozen):
    """Everything the jobs of one entity do."""

    name: str
    key: str
    key_type: str
    profile_table: str
    stats_table: str
    population_source: str
    quality: EntityQuality = EntityQuality()
    sql_file: str
    sql: str
    parameters: list[str] = Field(default_factory=lambda: ["snapshot_date"])
    columns: list[Column]
    sources: list[Source]
    tags: list[Tag]
    audience_tables: dict[str, str]
    tables: list[TableSpec] = Field(default_factory=list, description="the tables this entity's jobs write "
                                    "(the table registry; the profile with its tag columns)")
    audiences: list[Audience] = Field(default_factory=list)
    # the one-pass query of every audience over the `audience_input` view (`:snapshot_date` a
    # parameter, like `sql`); None without audiences. See compiler/audience_pass.py
    audiences_sql: str | None = None
    scenes: list[Scene] = Field(default_factory=list)

    def column_types(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every profile column (what lineage datasets list)."""
        return [(c.name, c.type) for c in self.columns]

    def tag(self, name: str) -> Tag:
        """The built tag called ``name``."""
        for tag in self.tags:
            if tag.name == name:
                return tag
        raise KeyError(name)


class ExportColumn(Frozen):
    """A delivered column of an export: where it is read, its type, its PII treatment."""

    name: str
    origin: Literal["builtin", "tag", "source"]
    ref: str = Field(description="builtin field (key, dt, audience ...), tag name, or <source>.<column>")
    type: str = Field(description="Spark SQL type delivered (a treated value is a string)")
    source_type: str = Field(description="Spark SQL type read")
    pii: bool = False
    treatment: str | None = Field(default=None, description="mask, hash:<profile> or keep; None: not treated")
    normalize: Literal["email", "phone", "other"] | None = None
    description: str = ""


class Export(Frozen):
    """A compiled export: what leaves the lakehouse, for whom, when and where (docs/exports.md)."""

    name: str
    display_name: str
    description: str
    owner: str
    consumer: Consumer
    purpose: str
    lifecycle: Literal["active", "deprecated", "retired"]
    entity: str
    definition: str = Field(description="file:line of the definition")
    what: What
    columns: list[ExportColumn]
    suppression: Suppression
    schedule: Schedule
    destinations: list[Destination]
    retention: Retention
    tags: list[str] = Field(default_factory=list, description="profile tags read (columns and suppression)")
    hash_profiles: list[str] = Field(default_factory=list)
    digest: str = Field(default="", description="SHA-256 of the compiled export (part of every content id)")

    def computed_digest(self) -> str:
        """SHA-256 of this export's compiled definition (without its own digest)."""
        body = self.model_dump(mode="json", exclude={"digest", "definition"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


LINEAGE_TYPES = ("DIRECT", "INDIRECT")
#: OpenLineage transformation subtypes the compiler records
LINEAGE_SUBTYPES = ("AGGREGATION", "TRANSFORMATION", "IDENTITY", "FILTER", "GROUP_BY", "CONDITIONAL", "JOIN",
                    "SORT", "WINDOW")


class LineageInput(Frozen):
    """One input column of a column, with how it is used (an OpenLineage transformation)."""

    node: str = Field(description='"source:<name>" | "tag:<name>" | "audience:<name>" | "scene:<name>" | '
                                  '"export:<name>" | "effect:<table>" (an effect-analysis table)')
    column: str = Field(description="the column in that node (a source column; a tag's own column is the tag name)")
    type: Literal["DIRECT", "INDIRECT"]
    subtype: str = Field(description="AGGREGATION | TRANSFORMATION | IDENTITY | FILTER | GROUP_BY | CONDITIONAL | "
                                     "JOIN | SORT | WINDOW")
    masking: bool = False


class ColumnLineage(Frozen):
    """Where one output column comes from: its immediate inputs, and the source columns behind them."""

    node: str = Field(description='the output object, e.g. "tag:orders_30d", "audience:high_value", '
                                  '"export:crm_daily", "effect:effect_stats_user"')
    column: str = Field(description="the output column")
    direct: list[LineageInput] = Field(default_factory=list, description="immediate inputs")
    sources: list[LineageInput] = Field(default_factory=list, description=(
        "resolved transitively to source columns (DIRECT only if every hop is DIRECT, the subtype of the "
        "outermost INDIRECT hop, else the strongest DIRECT one; masking if any hop masks)"))


class Manifest(Frozen):
    """The compiled project: what jobs and DAGs read instead of raw YAML."""

    format: Literal[2] = 2
    tagfactory_version: str
    definitions: str
    digest: str = ""
    entities: list[Entity]
    tables: list[TableSpec] = Field(default_factory=list, description="project-wide tables (quality results, "
                                    "export receipts)")
    exports: list[Export] = Field(default_factory=list)
    column_lineage: list[ColumnLineage] = Field(default_factory=list, description=(
        "column lineage of every tag, audience, scene and export column, computed by the compiler "
        "(sorted by node and column)"))

    # normalized list identifiers by audience, carried from compilation to `write_manifest`
    # (they go to target/lists/, the manifest holds their count and SHA-256)
    _list_ids: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def computed_digest(self) -> str:
        """SHA-256 of what the manifest makes jobs do: its format and entities."""
        body = {"format": self.format, "entities": [e.model_dump(mode="json") for e in self.entities],
                "tables": [t.model_dump(mode="json") for t in self.tables],
                "exports": [x.model_dump(mode="json") for x in self.exports],
                "column_lineage": [c.model_dump(mode="json") for c in self.column_lineage]}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def sealed(self, list_ids: dict[str, list[str]] | None = None) -> Manifest:
        """A copy with its digest computed (and the list identifiers to write beside it)."""
        out = self.model_copy(update={"digest": self.computed_digest()})
        out._list_ids = dict(list_ids or {})
        return out

    def entity(self, name: str) -> Entity:
        """The entity called ``name``."""
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise KeyError(name)

    def export(self, name: str) -> Export:
        """The export called ``name``."""
        for export in self.exports:
            if export.name == name:
                return export
        known = ", ".join(x.name for x in self.exports) or "none"
        raise ManifestError(f"unknown export `{name}`; the manifest has: {known}")

    def choose(self, names: list[str] | None) -> list[Entity]:
        """The entities named in ``names`` (all when None); an unknown name is an error."""
        chosen = [e for e in self.entities if not names or e.name in names]
        if names and len(chosen) != len(set(names)):
            known = ", ".join(e.name for e in self.entities)
            raise ManifestError(f"unknown entity in {names}; the manifest has: {known}")
        return chosen


def json_schema() -> dict[str, Any]:
    """The JSON schema of the manifest (published as docs/manifest.schema.json)."""
    schema = Manifest.model_json_schema()
    schema["$id"] = f"https://lakehouse-tag-factory.dev/schemas/manifest-{MANIFEST_FORMAT}.json"
    return schema


def write_manifest(manifest: Manifest, target: str | Path) -> Path:
    """Write ``manifest.json``, the compiled SQL files and the uploaded lists under ``target``.

    Each file is written to a temporary name and renamed into place, so a reader never sees a
    half-written file; ``manifest.json`` is written last. Writing the same manifest twice writes
    the same files.
    """
    from tagfactory.compiler.lists import write_id_list

    if manifest.digest != manifest.computed_digest():
        raise ManifestError("the manifest is not sealed (its digest does not match): call Manifest.sealed()")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for entity in manifest.entities:
        folder = target / "compiled" / entity.name
        tags_dir = folder / "tags"
        tags_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "profile.sql", entity.sql + "\n")
        if entity.audiences_sql is not None:
            atomic_write(folder / "audiences.sql", entity.audiences_sql + "\n")
        elif (folder / "audiences.sql").exists():
            (folder / "audiences.sql").unlink()
        wanted = {f"{t.name}.sql" for t in entity.tags}
        for tag in entity.tags:
            atomic_write(tags_dir / f"{tag.name}.sql", tag.sql + "\n")
        for stale in tags_dir.glob("*.sql"):
            if stale.name not in wanted:
                stale.unlink()
        for audience in entity.audiences:
            if audience.uploaded is None:
                continue
            ids = manifest._list_ids.get(audience.name)
            if ids is None:
                if (target / audience.uploaded.file).exists():
                    continue  # a manifest read back from disk: its lists are already there
                raise ManifestError(f"audience {audience.name}: the manifest holds no list identifiers to write")
            (target / audience.uploaded.file).parent.mkdir(parents=True, exist_ok=True)
            write_id_list(ids, target / audience.uploaded.file)
    path = target / MANIFEST_FILE
    atomic_write(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def manifest_path(target: str | Path) -> Path:
    """Where `tagfactory compile` writes the manifest under ``target``."""
    return Path(target) / MANIFEST_FILE


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest written by :func:`write_manifest`, checking its format version and digest.

    Raises:
        ManifestError: there is no manifest at ``path``, it has another format version, it is not a
            manifest, or its contents do not match its digest (jobs refuse such a manifest).
    """
    file = Path(path)
    if not file.exists():
        raise ManifestError(f"no manifest at {file}: run `tagfactory compile` first")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{file} is not JSON ({exc}): run `tagfactory compile` again") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{file} is not a manifest (not a JSON object): run `tagfactory compile` again")
    if raw.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{file} has manifest format {raw.get('format')}, this tagfactory reads "
                            f"{MANIFEST_FORMAT}: run `tagfactory compile` again")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{file}: {where}: {first['msg']} ({exc.error_count()} problems): "
                            "run `tagfactory compile` again") from None
    if manifest.digest != manifest.computed_digest():
        raise ManifestDigestError(f"{file}: its contents do not match its digest (edited after "
                                  "`tagfactory compile`?); refusing to run it: run `tagfactory compile` again")
    return manifest


class ManifestDigestError(ManifestError):
    """A manifest's contents do not match its digest: it was edited (or damaged) after compilation."""


class DigestMismatchError(ManifestError):
    """A staged run was staged from another manifest than the one a step was given."""


def check_run_digest(recorded: str | None, manifest_digest: str, what: str) -> None:
    """Refuse to audit or publish ``what`` when it was staged from another manifest."""
    if recorded != manifest_digest:
        raise DigestMismatchError(
            f"{what} was staged from manifest {(recorded or 'unknown')[:12]}, not the current one "
            f"({manifest_digest[:12]}): the definitions changed between its steps; stage it again "
            "(re-run the stage step, or the whole build) with the current manifest")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
