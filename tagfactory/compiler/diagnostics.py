"""Diagnostics: every user-facing problem is a located message, collected and raised once.

Modelled on sqlglot's error handling: errors carry file, line and column; all of them are
collected, then raised together ("... and N more").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from tagfactory.compiler.codes import Code, Severity
from tagfactory.errors import CompileError

__all__ = ["CODES", "Code", "DefinitionError", "Diagnostic", "DiagnosticSink", "Severity",
           "did_you_mean", "escape"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in the definitions, located in a file.

    Attributes:
        file: Path of the YAML file, as given to the loader.
        line: 1-based line (0 when unknown).
        col: 1-based column (0 when unknown).
        code: Stable short code, e.g. ``Code.E201`` (a ``str``); see :class:`Code`.
        message: What is wrong.
        hint: How to fix it (may be empty).
        severity: Error or warning.
    """

    file: str
    line: int
    col: int
    code: Code
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", Code(str(self.code)))  # type: ignore[call-arg]  # unknown: ValueError
        # messages quote definition text: escape what a terminal or a CI log would interpret
        for name in ("file", "message", "hint"):
            object.__setattr__(self, name, escape(getattr(self, name)))

    def format(self) -> str:
        """Render as ``path:line:col: error[CODE]: message`` plus an indented hint line."""
        text = f"{self.file}:{self.line}:{self.col}: {self.severity.value}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping of this diagnostic."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


_CONTROL = {i: f"\\x{i:02x}" for i in (*range(32), 127)}
_CONTROL.update({0x85: "\\x85", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape(text: str) -> str:
    """``text`` with control characters and line breaks escaped (``\\x0a``): one line, nothing to interpret."""
    return text.translate(_CONTROL) if isinstance(text, str) else text


# Codes are stable: tests, CI annotations and docs refer to them (the enum is in codes.py).
CODES: dict[str, str] = {code.value: code.meaning for code in Code}


@dataclass
class DiagnosticSink:
    """Collects diagnostics while a pass runs."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, file: str, line: int, col: int, code: Code, message: str, hint: str = "") -> None:
        """Record an error."""
        self.items.append(Diagnostic(file, line, col, code, message, hint, Severity.ERROR))

    def warning(self, file: str, line: int, col: int, code: Code, message: str, hint: str = "") -> None:
        """Record a warning."""
        self.items.append(Diagnostic(file, line, col, code, message, hint, Severity.WARNING))

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the errors."""
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Only the warnings."""
        return [d for d in self.items if d.severity is Severity.WARNING]


class DefinitionError(CompileError):
    """Raised when definitions are invalid; carries every error found, sorted by location."""

    def __init__(self, diagnostics: Iterable[Diagnostic], max_shown: int = 20) -> None:
        self.diagnostics = sorted(diagnostics)
        shown = [d.format() for d in self.diagnostics[:max_shown]]
        rest = len(self.diagnostics) - max_shown
        if rest > 0:
            shown.append(f"... and {rest} more")
        super().__init__("\n".join(shown) if shown else "invalid definitions")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a hint like "did you mean `orders_30d`?" or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else ""
