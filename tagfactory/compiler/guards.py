"""Checks on definitions as untrusted input that are not about SQL syntax (see docs/security.md).

* no string anywhere in a definition may contain ``${`` (Spark's variable substitution would
  replace it with an environment variable, a system property or a configuration value);
* names the compiled query gives a meaning of its own are reserved: a tag may not be named like
  its entity's key, the ``dt`` partition or ``snapshot_date``; a source or a CTE may not be named
  like a CTE the compiler writes, and a CTE may not shadow a source or another CTE;
* a source's ``path:`` stays inside ``sources_root`` (relative, no ``..``, no scheme) and an
  uploaded list stays inside the definitions folder after symlinks are resolved;
* literal values (defaults, rule results) are finite numbers that fit the tag's Spark type.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.expressions import SNAPSHOT_DATE
from tagfactory.compiler.parse import Located, report
from tagfactory.compiler.sqlpolicy import SUBSTITUTION

# CTEs and aliases of the fused query (compile.py) and of the audience job's profile view.
COMPILER_NAMES = frozenset({"population", "base", "profile"})
COMPILER_PREFIXES = ("agg_", "pit_", "sql_", "layer_")
PARTITION_COLUMN = "dt"
INT64 = (-(2**63), 2**63 - 1)
# fields whose text is SQL: checked (and located) by the snippet checks
_SNIPPET_FIELDS = frozenset({"expr", "filter", "when", "sql"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def no_substitution(item: Located[Any], what: str, sink: DiagnosticSink) -> None:
    """Report every string of a definition (keys included) that contains ``${``."""
    data = item.model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and SUBSTITUTION.search(key):
                    report(item, path + (key,), Code.E407, f"{what}: the name `{_short(key)}` contains `${{`",
                           "definitions may not contain `${`", sink, key=True)
                if key not in _SNIPPET_FIELDS or not isinstance(child, str):
                    stack.append((path + (key,), child))
        elif isinstance(value, list):
            stack.extend((path + (i,), child) for i, child in enumerate(value))
        elif isinstance(value, str) and SUBSTITUTION.search(value):
            report(item, path, Code.E407, f"{what}: `{_short(value)}` contains `${{`, which Spark's variable "
                   "substitution would replace (`${env:...}`, `${system:...}`, `${spark...}`)",
                   "definitions may not contain `${`; write the value itself", sink)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def reserved_source_name(name: str) -> bool:
    """True for names the compiled query uses for its own CTEs and aliases."""
    return name in COMPILER_NAMES or name.startswith(COMPILER_PREFIXES)


def check_source_name_and_path(source: Located[Any], sink: DiagnosticSink) -> None:
    """Reserved source names; ``path:`` must stay inside ``sources_root``."""
    spec = source.model
    if reserved_source_name(spec.name):
        report(source, ("name",), Code.E414, f"source `{spec.name}`: the name is reserved for the compiled query "
               f"(`{', '.join(sorted(COMPILER_NAMES))}` and names starting with "
               f"{', '.join(f'`{p}`' for p in COMPILER_PREFIXES)})", "rename the source", sink)
    problem = path_problem(spec.path)
    if problem:
        report(source, ("path",), Code.E413, f"source `{spec.name}`: path `{_short(spec.path)}` {problem}",
               "write a path relative to `sources_root`; absolute locations belong in the settings", sink)


def path_problem(path: str) -> str:
    """Why a source path from a definition is not a plain path inside ``sources_root`` ('' if it is)."""
    if any(ord(ch) < 32 for ch in path) or "\\" in path:
        return "contains a control character or a backslash"
    if path.startswith("/") or _SCHEME.match(path) or "://" in path:
        return "is absolute"
    parts = PurePosixPath(path).parts
    if ".." in parts or any(p in ("", ".") for p in path.split("/")):
        return "leaves `sources_root` or has empty or `.` segments"
    if any(ch in path for ch in "{}*?[]"):
        return "contains a glob pattern"
    return ""


def check_tag_name(tag: Located[Any], key: str | None, sink: DiagnosticSink) -> None:
    """A tag's column may not collide with the key, the partition column or the snapshot parameter."""
    name = tag.model.name
    if name in {k for k in (key, PARTITION_COLUMN, SNAPSHOT_DATE) if k}:
        report(tag, ("name",), Code.E414, f"tag `{name}`: the name is reserved (the profile table's "
               f"{'entity key' if name == key else 'partition column' if name == PARTITION_COLUMN else 'snapshot parameter'})",
               "rename the tag", sink)


def check_ctes(tree: exp.Expr, readable: set[str], label: str, item: Located[Any], fld: tuple[str | int, ...],
               sink: DiagnosticSink) -> bool:
    """CTEs may not shadow a readable table, a compiler name or each other; True when none does."""
    ok = True
    seen: set[str] = set()
    for cte in tree.find_all(exp.CTE):
        name = cte.alias_or_name
        why = ("a declared source" if name in readable else "another CTE" if name in seen
               else "a name of the compiled query" if reserved_source_name(name) else "")
        seen.add(name)
        if why:
            ok = False
            report(item, fld, Code.E410, f"{label}: the CTE `{name}` shadows {why}", "rename the CTE", sink)
    for table in tree.find_all(exp.Table):
        alias = table.alias
        if alias and alias != table.name and (alias in readable or alias in seen):
            ok = False
            report(item, fld, Code.E410, f"{label}: the alias `{alias}` of `{table.name}` shadows a source or CTE",
                   "choose another alias", sink)
    return ok


def value_problem(value: Any, value_type: str) -> str:
    """Why a literal value cannot be carried into Spark faithfully ('' when it can)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if isinstance(value, int) and value_type == "integer" and not INT64[0] <= value <= INT64[1]:
        return "does not fit a 64-bit integer (BIGINT)"
    if isinstance(value, int) and abs(value) >= 10**38:
        return "has more than 38 digits"
    if isinstance(value, str) and ("\x00" in value or len(value) > 10_000):
        return "contains a NUL character or is longer than 10,000 characters"
    return ""


def list_path(base: Path, root: Path | None, file: str) -> tuple[Path | None, str]:
    """Resolve an uploaded list's path; ``(None, why)`` when it is unsafe or leaves ``root``."""
    if "\x00" in file or any(ord(ch) < 32 for ch in file):
        return None, "the path contains a control character"
    if file.startswith("/") or _SCHEME.match(file) or "\\" in file:
        return None, "the path must be relative to the YAML file"
    try:
        resolved = (base / file).resolve(strict=False)
        inside = (root or base).resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, bad names
        return None, f"the path cannot be resolved ({type(exc).__name__})"
    if not resolved.is_relative_to(inside):
        return None, "the path leaves the definitions folder (after resolving `..` and symlinks)"
    return resolved, ""
