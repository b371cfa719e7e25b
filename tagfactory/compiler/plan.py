"""The plan artifact: what jobs and DAGs read instead of raw YAML.

``target/plan.json`` describes, per entity, the tables to write, the sources to read (with
their declared schemas) and the compiled SQL; ``target/compiled/<entity>/profile.sql`` and
``target/compiled/<entity>/tags/<tag>.sql`` hold the SQL for humans and diffs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tagfactory import __version__
from tagfactory.compiler.compile import CompiledEntity, compile_project
from tagfactory.compiler.models import AggregateTag, SourceSpec, TagBase
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.sqlbuild import SPARK_TYPES
from tagfactory.contracts.tables import AUDIENCE_KINDS, table_name

PLAN_FORMAT = 1


def profile_table(entity: str) -> str:
    """Name of the wide profile table of an entity (the table registry, tagfactory.contracts.tables)."""
    return table_name("profile", entity)


def stats_table(entity: str) -> str:
    """Name of the per-tag statistics table of an entity (the table registry)."""
    return table_name("tag_stats", entity)


def build_plan(project: Project, definitions_root: str | Path) -> dict[str, Any]:
    """Compile the project into the plan document (a JSON-ready dict)."""
    compiled = compile_project(project)
    entities = [_entity_plan(project, c) for c in compiled.values()]
    digest = plan_digest({"format": PLAN_FORMAT, "entities": entities})
    return {
        "format": PLAN_FORMAT,
        "tagfactory_version": __version__,
        "definitions": str(definitions_root),
        "digest": digest,
        "entities": entities,
    }


def plan_digest(plan: dict[str, Any]) -> str:
    """SHA-256 of what a plan makes jobs do: its format and entities (list identifiers excluded:
    they live in ``target/lists/``, and the plan holds their count and SHA-256)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "_ids"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    body = {"format": plan.get("format"), "entities": strip(plan.get("entities"))}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def audience_tables(entity: str) -> dict[str, str]:
    """Names of the audience and scene tables of an entity (the table registry; see docs/audiences.md)."""
    return {kind: table_name(kind, entity) for kind in AUDIENCE_KINDS}


def _entity_plan(project: Project, compiled: CompiledEntity) -> dict[str, Any]:
    return {
        "name": compiled.entity,
        "key": compiled.key,
        "key_type": compiled.key_type,
        "profile_table": profile_table(compiled.entity),
        "stats_table": stats_table(compiled.entity),
        "population_source": project.entities[compiled.entity].model.dimension,
        "quality": project.entities[compiled.entity].model.quality.model_dump(mode="json"),
        "sql_file": f"compiled/{compiled.entity}/profile.sql",
        "sql": compiled.sql,
        "parameters": ["snapshot_date"],
        "columns": [{"name": n, "type": t, "spark_type": SPARK_TYPES[t]} for n, t in compiled.columns],
        "sources": [source_plan(project.sources[s].model) for s in compiled.sources],
        "tags": [_tag_plan(project, project.tags[n].model, compiled) for n, _ in compiled.columns
                 if n in project.tags],
        "audience_tables": audience_tables(compiled.entity),
        "audiences": _audience_plans(project, compiled.entity),
        "scenes": _scene_plans(project, compiled.entity),
    }


def _audience_plans(project: Project, entity: str) -> list[dict[str, Any]]:
    """Built audiences of an entity, references first, with resolved conditions."""
    from tagfactory.compiler.audiences import resolve_condition

    known = project.audiences
    if known is None:
        return []
    built = {t.model.name: t.model.type for t in project.tags.values() if t.model.entity == entity and t.model.built}
    default_profile = [n for n, t in built.items() if t in ("enum", "boolean")]
    out = []
    for name in known.order:
        item = known.audiences[name]
        spec = item.model
        if spec.entity != entity:
            continue
        c = known.compiled[name]
        entry: dict[str, Any] = {
            "name": name, "display_name": spec.display_name, "description": spec.description,
            "owner": spec.owner, "kind": c.kind, "lifecycle": spec.lifecycle,
            "definition": f"{item.file}:{item.loc('name').line}",
            "tags": c.tags, "refs": c.refs, "sources": c.sources,
            "condition": resolve_condition(known.compiled, name) if c.kind == "rule" else None,
            "sql": c.sql,
            "list": None,
            "guardrails": spec.guardrails.model_dump(mode="json"),
            "profile_tags": list(spec.profile_tags) if spec.profile_tags is not None else default_profile,
        }
        if c.kind == "list":
            ids = c.list_ids
            entry["list"] = {"file": f"lists/{name}.txt", "source": spec.list_.file if spec.list_ else "",
                             "ids": len(ids), "sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                             "_ids": ids,  # written to target/lists/ by write_plan, not to plan.json
                             **{k: v for k, v in c.list_options.items() if k in ("duplicates", "malformed")}}
        out.append(entry)
    return out


def _scene_plans(project: Project, entity: str) -> list[dict[str, Any]]:
    known = project.audiences
    if known is None:
        return []
    out = []
    for name, item in known.scenes.items():
        spec = item.model
        if spec.entity != entity or not spec.built:
            continue
        out.append({
            "name": name, "display_name": spec.display_name, "description": spec.description, "owner": spec.owner,
            "definition": f"{item.file}:{item.loc('name').line}",
            "salt": spec.salt or name, "holdout": spec.holdout,
            "branches": [{"name": b.name, "audience": b.audience, "payload": b.payload, "control": b.control,
                          "variants": [v.model_dump(mode="json") for v in b.variants] if b.variants else None}
                         for b in spec.branches],
        })
    return out


def source_plan(source: SourceSpec) -> dict[str, Any]:
    """The plan entry of a declared source: where and how the job reads it."""
    return {
        "name": source.name,
        "kind": source.kind,
        "path": source.path,
        "format": source.format,
        "entity_key": source.entity_key,
        "time_column": source.time_column,
        "partition_column": source.partition_column,
        "columns": [{"name": n, "type": c.type, "spark_type": SPARK_TYPES[c.type], "pii": c.pii, "values": c.values}
                    for n, c in source.column_specs().items()],
        "quality": source.quality.model_dump(mode="json"),
    }


def _tag_plan(project: Project, tag: TagBase, compiled: CompiledEntity) -> dict[str, Any]:
    reads = list(project.source_refs.get(tag.name, []))
    return {
        "name": tag.name,
        "display_name": tag.display_name,
        "description": tag.description,
        "owner": tag.owner,
        "category": tag.category,
        "kind": getattr(tag, "kind", ""),
        "type": tag.type,
        "values": tag.values,
        "lifecycle": tag.lifecycle,
        "pii": tag.pii,
        "window": tag.window if isinstance(tag, AggregateTag) else None,
        "depends_on": project.tag_refs.get(tag.name, []),
        "sources": reads,
        "layer": project.layer.get(tag.name, 0),
        "sql": compiled.tag_sql[tag.name],
        "definition": f"{project.tags[tag.name].file}:{project.tags[tag.name].loc('name').line}",
        "quality": tag.quality.model_dump(mode="json"),
    }


def write_plan(plan: dict[str, Any], target: str | Path) -> Path:
    """Write ``plan.json`` and the compiled SQL files under ``target``; return the plan path.

    Each file is written to a temporary name and renamed into place, so a reader never sees a
    half-written file; ``plan.json`` is written last.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for entity in plan["entities"]:
        folder = target / "compiled" / entity["name"]
        tags_dir = folder / "tags"
        tags_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / "profile.sql", entity["sql"] + "\n")
        wanted = {f"{t['name']}.sql" for t in entity["tags"]}
        for tag in entity["tags"]:
            _atomic_write(tags_dir / f"{tag['name']}.sql", tag["sql"] + "\n")
        for stale in tags_dir.glob("*.sql"):
            if stale.name not in wanted:
                stale.unlink()
    from tagfactory.audiences.lists import write_id_list

    lists = target / "lists"
    for entity in plan["entities"]:
        for audience in entity.get("audiences", []):
            if audience["list"] is not None:
                lists.mkdir(parents=True, exist_ok=True)
                ids = audience["list"].pop("_ids", None)
                if ids is None:
                    raise ValueError(f"audience {audience['name']}: the plan holds no list identifiers to write")
                write_id_list(ids, target / audience["list"]["file"])
    path = target / "plan.json"
    _atomic_write(path, json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
    return path


class PlanDigestError(ValueError):
    """A plan's contents do not match its digest: it was edited (or damaged) after compilation."""


def read_plan(path: str | Path) -> dict[str, Any]:
    """Read a plan written by :func:`write_plan`, checking its format version and digest.

    Raises:
        FileNotFoundError: there is no plan at ``path``.
        ValueError: the plan has another format version, or is not a JSON object.
        PlanDigestError: its contents do not match its ``digest`` (jobs refuse such a plan).
    """
    plan_path = Path(path)
    if not plan_path.exists():
        raise FileNotFoundError(f"no plan at {plan_path}: run `tagfactory compile` first")
    plan: dict[str, Any] = json.loads(plan_path.read_text(encoding="utf-8"))
    if not isinstance(plan, dict):
        raise ValueError(f"{plan_path} is not a plan (not a JSON object): run `tagfactory compile` again")
    if plan.get("format") != PLAN_FORMAT:
        raise ValueError(f"{plan_path} has plan format {plan.get('format')}, this tagfactory reads "
                         f"{PLAN_FORMAT}: run `tagfactory compile` again")
    if plan.get("digest") != plan_digest(plan):
        raise PlanDigestError(f"{plan_path}: its contents do not match its digest (edited after "
                              "`tagfactory compile`?); refusing to run it: run `tagfactory compile` again")
    return plan


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
