"""Load YAML while remembering where every key and value was written.

The loader composes PyYAML's node tree (which carries marks) and converts it to plain Python
objects plus a table of locations keyed by the path of each value, e.g.
``("tags", 3, "window")``. Later passes report errors by path and get ``file:line:col`` back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tagfactory.compiler.codes import Code
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
    # where the file is on disk (None for text parsed from memory or a git ref); files named in
    # definitions (uploaded lists) are relative to its folder
    path: Path | None = None

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


# libyaml's parser (when PyYAML has it) composes the same nodes with the same marks, ~3x faster;
# any YAML error is reported by re-parsing with the pure-Python loader, whose messages the
# diagnostics (and the invalid corpus) use.
_FastLoader: type[Any] | None = (
    type("_FastLoader", (yaml.CSafeLoader,), {}) if getattr(yaml, "__with_libyaml__", False) else None)


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    """(loader, root node) of ``text``; raises what the pure-Python loader raises on bad input."""
    if _FastLoader is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        fast = _FastLoader(text)
        try:
            return fast, fast.get_single_node()
        except yaml.YAMLError:
            fast.dispose()
    loader = _Loader(text)  # the reader rejects control characters here
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def _mark(node: yaml.Node, lines: list[str]) -> Loc:
    style = getattr(node, "style", None) or ""
    indent = 0
    if style in ("|", ">"):
        nxt = lines[node.start_mark.line + 1] if node.start_mark.line + 1 < len(lines) else ""
        indent = len(nxt) - len(nxt.lstrip(" "))
    return Loc(node.start_mark.line + 1, node.start_mark.column + 1, style, indent)


# Aliases re-use a node; each use is converted again (it has its own path). A few aliases are
# fine, but nested ones expand exponentially ("billion laughs"): cap the re-visited nodes.
MAX_ALIAS_EXPANSION = 100_000
# "\ud800" in double quotes gives half of a UTF-16 pair: not a character, cannot be printed.
_SURROGATE = re.compile("[\ud800-\udfff]")


class _BadValue(Exception):
    """A scalar that YAML parsed but that cannot become a definition value."""

    def __init__(self, node: yaml.Node, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.node, self.reason, self.hint = node, reason, hint


@dataclass
class _Walk:
    """State of one conversion: nodes seen (to count alias expansion) and being converted."""

    seen: set[int] = field(default_factory=set)
    active: set[int] = field(default_factory=set)
    revisits: int = 0
    lines: list[str] = field(default_factory=list)  # the text's lines (block-scalar indentation)


def _scalar(node: yaml.Node, loader: _Loader) -> Any:
    """Construct a scalar (or a key), turning unreadable values into a located problem."""
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, MemoryError, RecursionError):
        raise
    except Exception as exc:  # PyYAML's constructors fail on odd input (2026-13-45, a bare `!!int`)
        shown = f" {node.value[:40]!r}" if isinstance(node, yaml.ScalarNode) else ""
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _BadValue(node, f"cannot read{shown} as {tag}" + (f": {exc}" if isinstance(exc, ValueError) else ""),
                        "quote the value if it is text") from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            str(value)
        except ValueError:  # 0x + thousands of digits: Python refuses to print it
            raise _BadValue(node, "integer has too many digits", "quote it if it is text") from None
    if isinstance(value, str) and _SURROGATE.search(value):
        raise _BadValue(node, "string contains a lone surrogate escape (\\uD800-\\uDFFF), which is not a character",
                        "write characters outside the BMP as one escape, e.g. \\U0001F600")
    return value


def _convert(node: yaml.Node, path: PathKey, doc: LocatedDocument, sink: DiagnosticSink, loader: _Loader,
             walk: _Walk) -> Any:
    if id(node) in walk.active:
        raise _BadValue(node, "an alias refers to a collection that contains it", "YAML aliases must not be recursive")
    if id(node) in walk.seen:
        walk.revisits += 1
        if walk.revisits > MAX_ALIAS_EXPANSION:
            raise _BadValue(node, f"aliases expand to more than {MAX_ALIAS_EXPANSION} values",
                            "write the values out instead of nesting aliases")
    walk.seen.add(id(node))
    doc.values[path] = _mark(node, walk.lines)
    if isinstance(node, yaml.MappingNode):
        walk.active.add(id(node))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            if not isinstance(key, str | int | bool | float) or key is None:
                sink.error(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                           Code.E003, "mapping keys must be plain names", "write the key as a plain word")
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = doc.keys[path + (key,)]
                sink.error(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                           Code.E004, f"duplicate key `{key}` (first written at line {first.line})",
                           "YAML keeps only the last one; remove or rename one of them")
            doc.keys[path + (key,)] = _mark(key_node, walk.lines)
            result[key] = _convert(value_node, path + (key,), doc, sink, loader, walk)
        walk.active.discard(id(node))
        return result
    if isinstance(node, yaml.SequenceNode):
        walk.active.add(id(node))
        items = [_convert(item, path + (i,), doc, sink, loader, walk) for i, item in enumerate(node.value)]
        walk.active.discard(id(node))
        return items
    return _scalar(node, loader)


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
        sink.error(shown, 0, 0, Code.E001, f"cannot read file: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError as exc:
        sink.error(shown, 1, 1, Code.E001, f"file is not UTF-8 text (byte {exc.start})",
                   "save the file as UTF-8; definitions must be text")
        return None
    if "\x00" in text:
        sink.error(shown, 1, 1, Code.E001, "file is not text (contains NUL bytes)")
        return None
    doc = load_yaml_text(text, shown, sink)
    if doc is not None:
        doc.path = Path(path).resolve()
    return doc


def load_yaml_text(text: str, file: str, sink: DiagnosticSink) -> LocatedDocument | None:
    """Parse YAML text; see :func:`load_yaml`."""
    doc = LocatedDocument(file=file, data=None)
    loader: Any = None
    try:
        loader, node = _compose(text)
        if node is None:
            doc.data = {}
            return doc
        walk = _Walk()
        walk.lines = text.split("\n")
        doc.data = _convert(node, (), doc, sink, loader, walk)
    except _BadValue as exc:
        mark = exc.node.start_mark
        sink.error(file, mark.line + 1, mark.column + 1, Code.E002, f"YAML value cannot be read: {exc.reason}", exc.hint)
        return None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        sink.error(file, line, col, Code.E002, f"YAML syntax error: character #x{exc.character:04x} is not allowed in YAML",
                   "remove control characters; inside double quotes write them as escapes, e.g. \\t")
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        sink.error(file, line, col, Code.E002, f"YAML syntax error: {problem}",
                   "check indentation, quotes and colons around this position")
        return None
    except yaml.YAMLError as exc:
        sink.error(file, 1, 1, Code.E002, f"YAML error: {exc}")
        return None
    except (ValueError, TypeError, RecursionError) as exc:
        sink.error(file, 1, 1, Code.E002, f"YAML value cannot be read: {exc}")
        return None
    finally:
        if loader is not None:
            loader.dispose()
    return doc
