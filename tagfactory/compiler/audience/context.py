"""The state of checking one audience: where it is written, what it reads, whether it is valid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.models import AudienceSpec
from tagfactory.compiler.parse import Located, report

if TYPE_CHECKING:
    from tagfactory.compiler.audience.model import AudienceSet
    from tagfactory.compiler.resolve import Project


class AudienceContext:
    """One audience being checked: every part (rule tree, list, SQL) reports through :meth:`error`
    and records the tags and audiences it reads."""

    def __init__(self, item: Located[AudienceSpec], project: Project, known: AudienceSet, sink: DiagnosticSink,
                 root: Path | None = None):
        self.root = root
        self.item = item
        self.spec = item.model
        self.project = project
        self.known = known
        self.sink = sink
        self.ok = True
        self.tags: list[str] = []
        self.refs: list[str] = []

    def error(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "", *, key: bool = False) -> None:
        """Report an error of this audience (and mark it invalid)."""
        self.ok = False
        report(self.item, path, code, f"audience `{self.spec.name}`: {message}", hint, self.sink, key=key)
