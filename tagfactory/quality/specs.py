"""Expectation specs and the Great Expectations suites built from them.

An :class:`ExpectationSpec` is one expectation as our configuration states it. Each carries our
stable ``name`` and gate ``severity`` into the GX expectation's ``meta``; they also map onto GX's
own ``severity`` field (``error`` -> ``critical``, ``warn`` -> ``warning``). :func:`build_suite`
turns specs into a GX suite, :func:`spec_from_result` maps a GX result back to its spec, and the
suite copies here let a suite (or the configurations inside a result) enter a data context.

Importing this module registers the custom PSI expectation (:mod:`tagfactory.quality.psi`),
so :func:`build_suite` knows ``expect_column_psi_to_be_less_than``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from great_expectations.core import (
    ExpectationSuite,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.registry import get_expectation_impl
from great_expectations.util import convert_to_json_serializable

from tagfactory.quality import psi as _psi  # noqa: F401  (registers the PSI expectation)
from tagfactory.quality.gx_context import config_of

__all__ = [
    "ExpectationSpec",
    "Severity",
    "build_suite",
    "copy_suite",
    "expectations_by_name",
    "spec_from_result",
    "suite_from_result",
]

Severity = Literal["error", "warn"]

_GX_SEVERITY: dict[str, FailureSeverity] = {
    "error": FailureSeverity.CRITICAL,
    "warn": FailureSeverity.WARNING,
}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a quality gate, as our configuration states it.

    Attributes:
        type: snake_case GX expectation type, e.g. ``"expect_column_values_to_not_be_null"`` or
            the custom ``"expect_column_psi_to_be_less_than"``.
        kwargs: The expectation's arguments (``column``, ``min_value``, ``value_set``, ...),
            without ``meta`` or ``severity``.
        severity: What a failure means to our gate: ``"error"`` blocks the commit, ``"warn"``
            is reported only.
        name: Stable id we choose; it joins results to specs. Defaults to
            ``"<column or table>.<type without expect_ prefix>"``.
        meta: Extra JSON-serialisable metadata stored with the expectation.
        internal: Built by the project's own code (e.g. audience guardrails, whose
            ``row_condition`` names the audience's stats row), never from definitions: only such a
            spec may carry ``row_condition`` / ``condition_parser``.
    """

    type: str
    kwargs: dict[str, Any]
    severity: Severity = "error"
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    internal: bool = False

    def __post_init__(self) -> None:
        if self.severity not in _GX_SEVERITY:
            raise ValueError(f"severity must be 'error' or 'warn', not {self.severity!r}")
        if not self.type.startswith("expect_"):
            raise ValueError(f"not a GX expectation type: {self.type!r}")
        reserved = {"meta", "severity", "batch_id"} & set(self.kwargs)
        if reserved:
            raise ValueError(f"{sorted(reserved)} belong to the spec, not to kwargs")
        if not self.name:
            domain = self.kwargs.get("column") or "table"
            object.__setattr__(self, "name", f"{domain}.{self.type.removeprefix('expect_')}")

    @property
    def column(self) -> str | None:
        """The column the expectation is about, or ``None`` for table expectations."""
        column = self.kwargs.get("column")
        return str(column) if column is not None else None

    def expectation_meta(self) -> dict[str, Any]:
        """The ``meta`` dict stored on the GX expectation: our meta plus ``name`` and ``severity``."""
        return {**self.meta, "name": self.name, "severity": self.severity}


#: kwargs GX would run as code (``row_condition`` becomes a Spark filter); never passed on.
_CODE_KWARGS = frozenset({"row_condition", "condition_parser"})


def _no_conditions(spec: ExpectationSpec) -> dict[str, Any]:
    """The spec's kwargs, refusing the ones GX would execute (definitions are untrusted)."""
    found = sorted(_CODE_KWARGS & set(spec.kwargs))
    if found and not spec.internal:
        raise ValueError(
            f"expectation {spec.name!r}: {', '.join(found)} not allowed (conditions are code)"
        )
    return spec.kwargs


def build_suite(suite_name: str, specs: Iterable[ExpectationSpec]) -> ExpectationSuite:
    """Build a GX expectation suite from specs.

    Every expectation gets ``meta["name"]`` and ``meta["severity"]`` from its spec, and GX's own
    ``severity`` (``critical`` for ``error``, ``warning`` for ``warn``).

    Args:
        suite_name: Name of the suite (and of its Data Docs page).
        specs: The expectations, in the order results should be reported.

    Returns:
        A suite that belongs to no data context.

    Raises:
        ValueError: Two specs share a name, or two specs differ only in ``meta`` (a GX suite
            is a set and would silently drop the second one).
        great_expectations.exceptions.ExpectationNotFoundError: Unknown expectation type.
        pydantic.ValidationError: Invalid kwargs for the expectation type.
    """
    expectations: list[Any] = []
    seen_names: set[str] = set()
    for spec in specs:
        if spec.name in seen_names:
            raise ValueError(f"duplicate expectation name {spec.name!r} in suite {suite_name!r}")
        seen_names.add(spec.name)
        expectation_class = get_expectation_impl(spec.type)
        expectation = expectation_class(
            **_no_conditions(spec),
            meta=spec.expectation_meta(),
            severity=_GX_SEVERITY[spec.severity],
        )
        for other in expectations:
            if ExpectationSuite._expectations_are_equalish(expectation, other):
                raise ValueError(
                    f"expectation {spec.name!r} repeats {(other.meta or {}).get('name')!r} in suite "
                    f"{suite_name!r}; GX keeps only one of them"
                )
        expectations.append(expectation)
    return ExpectationSuite(name=suite_name, expectations=expectations)


def spec_from_result(result: ExpectationValidationResult) -> ExpectationSpec:
    """Rebuild the spec of one expectation result from its configuration and ``meta``.

    Args:
        result: A result of :func:`tagfactory.quality.gx_validate.validate_dataframe` or
            :func:`tagfactory.quality.gx_results.result_from_outcomes`.

    Returns:
        The spec. Results of expectations not built by :func:`build_suite` get severity
        ``error`` for GX ``critical`` and ``warn`` otherwise, and a derived name. GX leaves
        kwargs equal to the expectation's defaults (e.g. ``strict_min=False``) out of its
        configurations, so such kwargs are missing here too.
    """
    config = config_of(result)
    meta = dict(config.meta or {})
    name = str(meta.pop("name", ""))
    severity = meta.pop("severity", None) or _severity_from_gx(config)
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    return ExpectationSpec(config.type, kwargs, severity=severity, name=name, meta=meta)


def _severity_from_gx(config: ExpectationConfiguration) -> Severity:
    return "error" if config.severity == FailureSeverity.CRITICAL else "warn"


def expectations_by_name(suite: ExpectationSuite) -> dict[str, Any]:
    """The suite's expectations by spec name (``meta["name"]``), in suite order."""
    by_name: dict[str, Any] = {}
    for expectation in suite.expectations:
        name = (expectation.meta or {}).get("name")
        if name:
            by_name[name] = expectation
    return by_name


def copy_suite(suite: ExpectationSuite) -> ExpectationSuite:
    """A copy of ``suite`` that belongs to no context (a suite can be added to one context)."""
    configs = [_detached_config(e.configuration) for e in suite.expectations]
    return ExpectationSuite(
        name=suite.name,
        expectations=configs,
        suite_parameters=dict(suite.suite_parameters),
        meta=json.loads(json.dumps(convert_to_json_serializable(suite.meta))),
        notes=suite.notes,
    )


def suite_from_result(result: ExpectationSuiteValidationResult) -> ExpectationSuite:
    """The suite a result was validated against, rebuilt from its configurations (no batch_id)."""
    configs = [_detached_config(config_of(evr), drop_batch_id=True) for evr in result.results]
    return ExpectationSuite(name=result.suite_name, expectations=configs)


def _detached_config(
    config: ExpectationConfiguration, *, drop_batch_id: bool = False
) -> ExpectationConfiguration:
    """A copy of ``config`` without id (so a suite may take it), optionally without batch_id."""
    data = cast(dict[str, Any], config.to_json_dict())
    data["id"] = None
    if drop_batch_id:
        data["kwargs"] = {k: v for k, v in data["kwargs"].items() if k != "batch_id"}
    return ExpectationConfiguration(**data)
