"""The quality gate's failure, importable without Great Expectations (the stage and publish steps raise it)."""

from __future__ import annotations

from tagfactory.errors import GateError


class QualityGateError(GateError, RuntimeError):
    """An ``error`` expectation failed: nothing was published."""
