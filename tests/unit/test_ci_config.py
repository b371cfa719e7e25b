"""The pull-request workflow, the pre-commit hooks and the light compiler install stay true.

GitHub Actions and pre-commit cannot run here; these tests check what can be checked locally:
the files parse, `.ci/run` lints and typechecks before the README's test command, every `tagfactory`
command they run is a valid invocation of this CLI, the
compiler-only requirements match setup.cfg, and validate/plan really run without the heavy
dependencies (Spark, Airflow, Delta) importable.
"""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tagfactory.cli import build_parser, main
from tests.unit.definitions import REPO

WORKFLOW = REPO / ".github" / "workflows" / "tag-definitions.yml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
REQUIREMENTS = REPO / ".ci" / "requirements-compiler.txt"
CI_RUN = REPO / ".ci" / "run"
README = REPO / "README.md"
MAKEFILE = REPO / "Makefile"


def _tagfactory_commands(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("tagfactory "):
            out.append(shlex.split(line)[1:])
    return out


def test_workflow_runs_validate_and_plan_with_valid_arguments() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = workflow["jobs"]["validate-and-plan"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    commands = _tagfactory_commands(runs)
    assert [c[0] for c in commands] == ["validate", "plan"]
    parser = build_parser()
    for command in commands:
        parser.parse_args(command)  # exits (SystemExit) on an unknown option
    assert "--format" in commands[1] and "markdown" in commands[1]
    assert any(step.get("uses", "").startswith("actions/github-script") for step in steps)
    assert workflow["permissions"]["pull-requests"] == "write"
    assert any(step.get("with", {}).get("fetch-depth") == 0 for step in steps)


def _script_commands(text: str) -> list[str]:
    """The command lines of a shell script (no comments, no blank lines, no shell options)."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#") and not line.startswith("set ")
            and not line.startswith("cd ")]


def _make_target(name: str) -> tuple[list[str], list[str]]:
    """Prerequisites and recipe lines of one Makefile target."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
    prerequisites = lines[start].split(":", 1)[1].split()
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return prerequisites, recipe


def test_ci_run_lints_and_typechecks_before_the_readme_test_command() -> None:
    readme = README.read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    test_command = next(line.split("#")[0].strip() for line in block.splitlines() if line.startswith("make test"))
    assert test_command == "make test"
    assert _script_commands(CI_RUN.read_text(encoding="utf-8")) == ["make lint", "make typecheck", test_command]
    # both install what they need: the venv stamp installs the dev extras, which carry ruff and mypy
    for target, tool in (("lint", "ruff check ."), ("typecheck", "mypy")):
        prerequisites, recipe = _make_target(target)
        assert "$(STAMP)" in prerequisites, f"make {target} must depend on the venv stamp"
        assert recipe == [f"$(BIN)/{tool}"]
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    dev = cfg["options.extras_require"]["dev"]
    assert "ruff" in dev and "mypy" in dev
    assert "-e '.[dev]'" in "\n".join(_make_target("$(STAMP)")[1])


def test_pre_commit_hooks_are_valid_commands() -> None:
    config = yaml.safe_load(PRE_COMMIT.read_text(encoding="utf-8"))
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    entries = [shlex.split(h["entry"]) for h in hooks if h["entry"].startswith("tagfactory")]
    assert {e[1] for e in entries} == {"validate", "plan"}
    for entry in entries:
        build_parser().parse_args(entry[1:])


def test_compiler_requirements_match_setup_cfg() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    pins = {line.split("=")[0].split(">")[0].split("<")[0].strip().lower(): line.strip()
            for line in cfg["options"]["install_requires"].splitlines() if line.strip() and not line.strip().startswith("#")}
    wanted = [line.strip() for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert wanted
    for requirement in wanted:
        name = requirement.split("=")[0].split(">")[0].split("<")[0].strip().lower()
        assert pins.get(name) == requirement, f"{requirement} differs from setup.cfg's {pins.get(name)}"


def test_validate_and_plan_run_without_heavy_dependencies(tmp_path: Path) -> None:
    """What the light CI install gives: only sqlglot, pydantic, PyYAML and openpyxl besides the stdlib."""
    script = f"""
import sys, importlib.abc
BLOCKED = ('pyspark', 'py4j', 'airflow', 'deltalake', 'great_expectations', 'pyarrow', 'pandas', 'openlineage')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
from tagfactory.cli import main
assert main(['validate', {str(REPO / 'tag_definitions')!r}]) == 0
assert main(['plan', {str(REPO / 'tag_definitions')!r}, '--base', 'HEAD', '--format', 'markdown']) == 0
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Tag plan" in done.stdout


def test_github_annotations(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "defs"
    bad.mkdir()
    (bad / "bad.yaml").write_text("tags:\n  - name: x\n    kind: nope\n", encoding="utf-8")
    assert main(["validate", str(bad), "--format", "github"]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines and all(line.startswith("::error file=") for line in lines)
    assert ",line=3,col=11,title=E103::tag `x`: `kind` must be one of" in lines[0]
