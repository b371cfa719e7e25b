"""The allowed import graph of the ``tagfactory`` package.

Statically (every ``import`` in every module, top-level and function-local alike):

* the compiler (``tagfactory.compiler.*``) imports no runtime package (pipeline, lakehouse,
  audiences, quality, lineage, demo) and no heavy dependency: it is what the light CI install
  runs and what the DAG's compile task imports;
* the shared contracts (``tagfactory.contracts``, ``tagfactory.errors``, once they exist) import
  only the standard library and pydantic.

Dynamically (a fresh interpreter per command): the commands documented as "no Spark" (``validate``,
``plan``, ``compile``; ``tagfactory --help``) load no Spark, Py4J, Delta, delta-rs, Great
Expectations or Airflow module, for ``--help`` and for a real run on ``tag_definitions/``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.definitions import REPO

PACKAGE = REPO / "tagfactory"
DEFS = REPO / "tag_definitions"

RUNTIME = ("tagfactory.pipeline", "tagfactory.lakehouse", "tagfactory.audiences", "tagfactory.quality",
           "tagfactory.lineage", "tagfactory.demo", "tagfactory.exports", "quality", "lineage", "exports")  # symlinks
HEAVY = ("pyspark", "py4j", "delta", "deltalake", "great_expectations", "airflow", "pyarrow", "pandas",
         "openlineage")
NO_SPARK = ("pyspark", "py4j", "delta", "deltalake", "great_expectations", "airflow")

# (importing module, imported module) pairs the compiler may still have; each one is a known violation
# to remove (the test fails once one is gone, so the list only shrinks). Empty since uploaded-list
# parsing moved from tagfactory.audiences.lists into tagfactory.compiler.lists; it held
# ("tagfactory.compiler.audiences", "tagfactory.audiences.lists") and
# ("tagfactory.compiler.plan" (now compiler.manifest), "tagfactory.audiences.lists").
# TODO(issue 15): uploaded-list parsing moves into the compiler (done: keep this list empty)
COMPILER_ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports, anywhere in its code; ``from a import b`` gives ``a.b``
    when that is a module of the package, else ``a``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{alias.name}" for alias in node.names} & set(MODULES)
            out.update(subs or {target})
    return out


GRAPH: dict[str, set[str]] = {m: _imports(m, p) for m, p in MODULES.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_graph_sees_every_module_and_function_local_imports() -> None:
    assert "tagfactory.cli" in GRAPH and "tagfactory.compiler.manifest" in GRAPH
    assert len(MODULES) > 40
    # cli imports its command modules inside functions: they must be in the graph
    assert "tagfactory.pipeline.job" in GRAPH["tagfactory.cli"]
    assert "tagfactory.compiler.gitref" in GRAPH["tagfactory.cli"]


def test_the_compiler_imports_no_runtime_package_and_no_heavy_dependency() -> None:
    found = {(m, i) for m, imports in GRAPH.items() if _within(m, ("tagfactory.compiler",))
             for i in imports if _within(i, RUNTIME + HEAVY)}
    assert found - COMPILER_ALLOWED == set(), "the compiler must stay free of runtime code"
    stale = COMPILER_ALLOWED - found
    assert not stale, f"fixed: remove {sorted(stale)} from COMPILER_ALLOWED"


@pytest.mark.parametrize("contract", ["tagfactory.contracts", "tagfactory.errors"])
def test_contracts_import_only_stdlib_and_pydantic(contract: str) -> None:
    own = [m for m in GRAPH if _within(m, (contract,))]
    if not own:
        pytest.skip(f"{contract} does not exist (yet)")
    allowed_first_party = ("tagfactory.contracts", "tagfactory.errors")
    bad = {(m, i) for m in own for i in GRAPH[m]
           if i.split(".")[0] not in sys.stdlib_module_names and i.split(".")[0] != "pydantic"
           and not _within(i, allowed_first_party) and i != "__future__"}
    assert not bad, f"{contract} may import only the standard library and pydantic: {sorted(bad)}"


_PROBE = """
import json, sys
from tagfactory.cli import main
code = 0
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:  # --help
    code = exc.code or 0
loaded = sorted(m for m in sys.modules if m.split('.')[0] in json.loads(sys.argv[2]))
print(json.dumps({"code": code, "loaded": loaded}))
"""


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["validate", "--help"],
    ["plan", "--help"],
    ["compile", "--help"],
    ["manifest-schema"],
    ["validate", str(DEFS)],
    ["plan", str(DEFS), "--base", "HEAD", "--format", "markdown"],
    ["compile", "--definitions", str(DEFS), "--target", "{tmp}/target"],
], ids=lambda argv: " ".join(a if not a.startswith("/") else Path(a).name for a in argv))
def test_no_spark_commands_load_no_spark(argv: list[str], tmp_path: Path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(NO_SPARK)],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stdout[-3000:]
    assert result["loaded"] == [], f"`tagfactory {' '.join(argv)}` loaded {result['loaded'][:10]}"


@pytest.mark.parametrize("module", ["tagfactory.pipeline.job", "tagfactory.analysis.job"])
def test_spark_steps_without_a_gate_do_not_load_great_expectations(module: str) -> None:
    """Great Expectations costs ~5 s of imports: only the steps that validate load it (the audit of
    ``tagfactory.quality.gate``, the audience guardrails); staging, publishing and the effect analysis do not."""
    if module not in MODULES:
        pytest.skip(f"{module} does not exist")
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", f"{module} loads Great Expectations"
