"""Validate OpenLineage events against the vendored OpenLineage JSON schemas, offline.

The spec (``OpenLineage.json``) and every facet schema are vendored under
``tests/fixtures/openlineage/`` (see its README for the source and version) and loaded into one
``referencing.Registry``, so the facets' ``$ref``s to the spec resolve without network access.

An event is checked twice:

1. the whole event against ``#/$defs/RunEvent`` of the spec (required fields, UUID run id,
   date-times, every facet a ``BaseFacet`` with ``_producer`` and ``_schemaURL``);
2. every facet whose ``_schemaURL`` names an OpenLineage facet schema against that schema's
   definition (the file is looked up by name, so a facet version the client stamps that differs
   from the vendored file's version still finds its schema). A facet of ours (a ``tagfactory_``
   name with a producer-relative schema URL) is only checked as a ``BaseFacet`` in step 1.

Use :func:`validate_event` for one event (a dict) and :func:`validate_events_file` for a JSON-lines
file of events (what the file transport writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "fixtures" / "openlineage"
FACET_SCHEMA_HOST = "openlineage.io"


@cache
def _schemas() -> tuple[Registry, dict[str, Any], dict[str, dict[str, Any]]]:
    spec = json.loads((SCHEMAS / "OpenLineage.json").read_text(encoding="utf-8"))
    facets = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((SCHEMAS / "facets").glob("*.json"))}
    resources = [(spec["$id"], Resource.from_contents(spec))]
    resources += [(doc["$id"], Resource.from_contents(doc)) for doc in facets.values()]
    return Registry().with_resources(resources), spec, facets


def _validator(schema_ref: str) -> Draft202012Validator:
    registry, _, _ = _schemas()
    return Draft202012Validator({"$ref": schema_ref}, registry=registry, format_checker=FormatChecker())


@cache
def _event_validator() -> Draft202012Validator:
    _, spec, _ = _schemas()
    return _validator(f"{spec['$id']}#/$defs/RunEvent")


@cache
def _facet_validator(file_name: str, definition: str) -> Draft202012Validator | None:
    _, _, facets = _schemas()
    doc = facets.get(file_name)
    if doc is None or definition not in doc.get("$defs", {}):
        return None
    return _validator(f"{doc['$id']}#/$defs/{definition}")


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, facet name, facet) of every facet in the event."""
    for name, facet in (event.get("run", {}).get("facets") or {}).items():
        yield "run.facets", name, facet
    for name, facet in (event.get("job", {}).get("facets") or {}).items():
        yield "job.facets", name, facet
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, ds in enumerate(event.get(side) or []):
            label = f"{side}[{i}] {ds.get('namespace')}:{ds.get('name')}"
            for key in ("facets", extra):
                for name, facet in (ds.get(key) or {}).items():
                    yield f"{label} {key}", name, facet


def _facet_schema(url: str) -> tuple[str, str] | None:
    """(file name, $defs name) of an OpenLineage facet schema URL; None for other URLs."""
    parts = urlsplit(url)
    if parts.netloc != FACET_SCHEMA_HOST or "/spec/facets/" not in parts.path:
        return None
    definition = parts.fragment.rsplit("/", 1)[-1] if parts.fragment else Path(parts.path).stem
    return Path(parts.path).name, definition


def validate_event(event: Mapping[str, Any]) -> list[str]:
    """Every schema error of one OpenLineage run event (a JSON dict); empty when it is valid."""
    job = f"{(event.get('job') or {}).get('name')} {event.get('eventType')}"
    errors = [f"{job}: {'/'.join(map(str, e.absolute_path)) or '<event>'}: {e.message}"
              for e in _event_validator().iter_errors(event)]
    for where, name, facet in _facets(event):
        if not isinstance(facet, Mapping):
            continue  # step 1 reported it
        url = str(facet.get("_schemaURL", ""))
        found = _facet_schema(url)
        if found is None:
            if not name.startswith("tagfactory_"):
                errors.append(f"{job}: {where} {name}: schema URL {url!r} is not an OpenLineage facet schema "
                              "and the facet is not one of ours (tagfactory_*)")
            continue
        validator = _facet_validator(*found)
        if validator is None:
            errors.append(f"{job}: {where} {name}: no vendored schema {found[0]}#/$defs/{found[1]}")
            continue
        errors += [f"{job}: {where} {name}: {'/'.join(map(str, e.absolute_path)) or '<facet>'}: {e.message}"
                   for e in validator.iter_errors(facet)]
    return errors


def validate_events_file(path: str | Path) -> list[str]:
    """Every schema error of every event in a JSON-lines events file (``line N: ...``); empty when valid."""
    errors: list[str] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            errors.append(f"line {number}: not JSON: {exc}")
            continue
        errors += [f"line {number}: {e}" for e in validate_event(event)]
    return errors
