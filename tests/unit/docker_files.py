"""Readers of the files under docker/ for the static tests (no Docker engine, no network).

- Dockerfile instructions (continuation lines joined, comments dropped) and what each COPY puts where;
- Compose variable interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``) with defaults;
- Java main classes inside jar files;
- the argument parsers of ``jobs/*.py`` (parsed, never run).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from tests.unit.definitions import REPO

DOCKER = REPO / "docker"
DOCKERFILES = {"job": DOCKER / "job" / "Dockerfile", "airflow": DOCKER / "airflow" / "Dockerfile"}
COMPOSE = DOCKER / "compose.yaml"
K8S = DOCKER / "k8s"
FIXTURES = REPO / "tests" / "fixtures" / "docker"
#: images this repository builds (their commands must exist in the repository)
OUR_IMAGES = {"tagfactory-job:0.1.0": "job", "tagfactory-airflow:0.1.0": "airflow"}


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined (parser directives and comments dropped)."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are removed by the parser
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = text.partition(" ")
        result.append(Instruction(start, keyword.upper(), args.strip()))
    assert not pending, f"{path}: the last instruction ends with a continuation"
    return result


def stages(path: Path) -> list[list[Instruction]]:
    """Instructions grouped by build stage (each list starts with its FROM)."""
    groups: list[list[Instruction]] = []
    for ins in instructions(path):
        if ins.keyword == "FROM":
            groups.append([])
        assert groups, f"{path}:{ins.line}: {ins.keyword} before the first FROM"
        groups[-1].append(ins)
    return groups


def copy_sources(ins: Instruction) -> tuple[list[str], str, str | None]:
    """``COPY [--from=X] [--chmod=...] SRC... DEST`` -> (sources, destination, stage or None)."""
    words = ins.args.split()
    stage = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            stage = flag.split("=", 1)[1]
    return words[:-1], words[-1], stage


def image_paths(kind: str) -> dict[str, Path]:
    """Container path -> repository path of everything the final stage of ``kind`` COPYs from the context."""
    mapping: dict[str, Path] = {}
    for ins in stages(DOCKERFILES[kind])[-1]:
        if ins.keyword != "COPY":
            continue
        sources, dest, stage = copy_sources(ins)
        if stage is None:
            for source in sources:
                src = REPO / source.rstrip("/")
                # a file into a folder keeps its name; a folder's contents go into the destination
                target = dest + src.name if dest.endswith("/") and src.is_file() else dest.rstrip("/")
                mapping[target] = src
    return mapping


def in_image(kind: str, container_path: str) -> Path | None:
    """The repository file an image holds at ``container_path`` (None: not copied from the repository)."""
    for dest, source in sorted(image_paths(kind).items(), key=lambda item: -len(item[0])):
        if container_path == dest:
            return source
        if container_path.startswith(dest + "/"):
            return source / container_path[len(dest) + 1:]
    return None


_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


def interpolate(text: str, env: Mapping[str, str] | None = None) -> str:
    """Compose interpolation: variables from ``env`` (default: none set), defaults applied, ``$$`` -> ``$``."""
    env = env or {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        value = env.get(name)
        op, arg = match.group("op"), match.group("arg") or ""
        if op in (":-", "-"):
            return value if value else arg
        if op in (":?", "?"):
            return value or f"<{name}>"  # required: a placeholder stands for the user's value
        return value or ""

    return _VAR.sub(replace, text)


def variables(text: str) -> Iterator[str]:
    """Names of the variables ``text`` refers to (``${NAME...}`` or ``$NAME``)."""
    for match in _VAR.finditer(text):
        if match.group(0) != "$$":
            yield match.group("name") or match.group("bare")


def jar_classes(folder: Path) -> set[str]:
    """Every class name (``a.b.C``) inside the jars of ``folder``."""
    names: set[str] = set()
    for jar in folder.glob("*.jar"):
        with zipfile.ZipFile(jar) as archive:
            names.update(n[:-6].replace("/", ".") for n in archive.namelist() if n.endswith(".class"))
    return names


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


def parse_job_args(job: Path, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with the parser of ``jobs/<job>.py``'s main(); stops right after parsing.

    Raises:
        SystemExit: argparse refused ``argv`` (code 2), as spark-submit would see it fail.
    """
    module = load_module(job, f"_docker_static_{job.stem}")
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        raise _Parsed(original(self, args, namespace))

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop):
        try:
            module.main(argv)
        except _Parsed as parsed:
            return parsed.namespace
    raise AssertionError(f"{job}: main() returned without parsing its arguments")
