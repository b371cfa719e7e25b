"""Load YAML while remembering where every key and value was written.

The loader composes PyYAML's node tree (which carries marks) and converts it to plain Python
objects plus a table of locations keyed by the path of each value, e.g.
``("tags", 3, "window")``. Later passes report errors by path and get ``file:line:col`` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tagfactory.compiler.diagnostics import DiagnosticSink

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Loc:
    """1-based position of a key or value; ``style`` is the scalar style ('|', '>', '"', "'", or '')."""

    line: int
    col: int
    style: str = ""
    indent: int = 0  # for block scalars ('|', '>'): indentation of the content lines


@dataclass
class LocatedDocument:
    """A parsed YAML file: its data and the locations of its keys and values."""

    file: str
    data: Any
    values: dict[PathKey, Loc] = field(default_factory=dict)
    keys: dict[PathKey, Loc] = field(default_factory=dict)

    def loc(self, path: PathKey, *, key: bool = False) -> Loc:
        """Location of the value (or key) at ``path``, falling back to the nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.keys:
                return self.keys[probe]
            probe = probe[:-1]
        return self.values.get((), Loc(1, 1))


class _Loader(yaml.SafeLoader):
    """SafeLoader: no Python object tags, ever."""


def _mark(node: yaml.Node) -> Loc:
    style = getattr(node, "style", None) or ""
    indent = 0
    if style in ("|", ">"):
        buffer = node.start_mark.buffer or ""
        lines = buffer.split("\n")
        nxt = lines[node.start_mark.line + 1] if node.start_mark.line + 1 < len(lines) else ""
        indent = len(nxt) - len(nxt.lstrip(" "))
    return Loc(node.start_mark.line + 1, node.start_mark.column + 1, style, indent)


def _convert(node: yaml.Node, path: PathKey, doc: LocatedDocument, sink: DiagnosticSink, loader: _Loader) -> Any:
    doc.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | bool | float) or key is None:
                sink.error(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                           "E003", "mapping keys must be plain names", "write the key as a plain word")
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = doc.keys[path + (key,)]
                sink.error(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                           "E004", f"duplicate key `{key}` (first written at line {first.line})",
                           "YAML keeps only the last one; remove or rename one of them")
            doc.keys[path + (key,)] = _mark(key_node)
            result[key] = _convert(value_node, path + (key,), doc, sink, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, sink, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: str | Path, sink: DiagnosticSink, display_path: str | None = None) -> LocatedDocument | None:
    """Parse one YAML file; problems go to ``sink``.

    Args:
        path: File to read.
        sink: Where diagnostics are collected.
        display_path: Path to print in messages (defaults to ``path``).

    Returns:
        The located document, or None when the file cannot be read or parsed.
    """
    shown = display_path or str(path)
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        sink.error(shown, 0, 0, "E001", f"cannot read file: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError as exc:
        sink.error(shown, 1, 1, "E001", f"file is not UTF-8 text (byte {exc.start})",
                   "save the file as UTF-8; definitions must be text")
        return None
    if "\x00" in text:
        sink.error(shown, 1, 1, "E001", "file is not text (contains NUL bytes)")
        return None
    return load_yaml_text(text, shown, sink)


def load_yaml_text(text: str, file: str, sink: DiagnosticSink) -> LocatedDocument | None:
    """Parse YAML text; see :func:`load_yaml`."""
    loader = _Loader(text)
    doc = LocatedDocument(file=file, data=None)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.data = {}
            return doc
        doc.data = _convert(node, (), doc, sink, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        sink.error(file, line, col, "E002", f"YAML syntax error: {problem}",
                   "check indentation, quotes and colons around this position")
        return None
    except yaml.YAMLError as exc:
        sink.error(file, 1, 1, "E002", f"YAML error: {exc}")
        return None
    except (ValueError, TypeError, RecursionError) as exc:
        sink.error(file, 1, 1, "E002", f"YAML value cannot be read: {exc}")
        return None
    finally:
        loader.dispose()
    return doc
