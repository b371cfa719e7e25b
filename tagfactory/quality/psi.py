"""The custom expectation ``expect_column_psi_to_be_less_than`` and the PSI it computes.

:class:`ExpectColumnPsiToBeLessThan` is the population stability index of a binned column
against a reference distribution. Importing this module registers it with Great Expectations;
any process that builds, loads or renders suites or results holding it (for example to rebuild
Data Docs) must import this module first (:mod:`tagfactory.quality.specs` and
:mod:`tagfactory.quality.data_docs` do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.core import ExpectationValidationResult
from great_expectations.expectations.expectation import ColumnAggregateExpectation
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.render import (
    LegacyDiagnosticRendererType,
    LegacyRendererType,
    RenderedStringTemplateContent,
)
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import (
    RendererConfiguration,
    RendererValueType,
)
from great_expectations.validator.metric_configuration import MetricConfiguration

if TYPE_CHECKING:
    from great_expectations.execution_engine import ExecutionEngine
    from great_expectations.validator.validator import ValidationDependencies

__all__ = [
    "PSI_EPSILON",
    "PSI_OTHER_BIN",
    "PSI_TYPE",
    "ExpectColumnPsiToBeLessThan",
    "population_stability_index",
    "shares",
]

from tagfactory.quality.psi_math import (  # noqa: E402 - the GX-free math, re-exported here
    PSI_EPSILON,
    PSI_OTHER_BIN,
    PSI_TYPE,
    population_stability_index,
    shares,
)


class ExpectColumnPsiToBeLessThan(ColumnAggregateExpectation):
    """Expect the population stability index of a binned column to be below a threshold.

    The column holds bin labels (categories, or numeric values already mapped to bin labels);
    ``reference`` gives each bin's share in the reference data. Non-null values that are no key
    of ``reference`` count in the bin ``"__other__"``. Values are compared as strings
    (``str(value)``), so reference keys are strings.

    GX can evaluate it itself on pandas and Spark (it reads GX's ``column.value_counts``
    metric), and :func:`tagfactory.quality.gx_results.result_from_outcomes` accepts a PSI
    computed elsewhere: the result's ``observed_value`` is the PSI;
    ``details.observed_distribution`` may hold the observed shares.

    Args:
        column: The binned column.
        reference: Bin -> share (or count) of the reference distribution.
        threshold: The PSI must be strictly below this value.
    """

    reference: dict[str, float] = pydantic.Field(
        description="Bin -> share of the reference distribution."
    )
    # Required on purpose: GX drops kwargs equal to a field's default from configurations.
    threshold: float = pydantic.Field(
        description="The PSI must be strictly smaller than this value (0.1-0.25 is common)."
    )

    library_metadata: ClassVar[dict[str, Any]] = {
        "maturity": "experimental",
        "tags": ["distribution", "drift", "tagfactory"],
        "contributors": ["tagfactory"],
        "requirements": [],
        "has_full_test_suite": False,
        "manually_reviewed_code": False,
    }
    metric_dependencies = ("column.value_counts",)
    success_keys = ("reference", "threshold")
    args_keys = ("column", "reference", "threshold")

    @pydantic.validator("reference")
    def _reference_not_empty(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or sum(value.values()) <= 0 or min(value.values()) < 0:
            raise ValueError("reference must map bins to non-negative shares with a positive sum")
        return value

    def get_validation_dependencies(
        self,
        execution_engine: ExecutionEngine | None = None,
        runtime_configuration: dict | None = None,
    ) -> ValidationDependencies:
        """Ask GX for the column's value counts (sorted by value, no collation)."""
        dependencies = super().get_validation_dependencies(
            execution_engine=execution_engine, runtime_configuration=runtime_configuration
        )
        counts = dependencies.get_metric_configuration("column.value_counts")
        assert counts is not None
        dependencies.set_metric_configuration(
            "column.value_counts",
            MetricConfiguration(
                metric_name="column.value_counts",
                metric_domain_kwargs=counts.metric_domain_kwargs,
                metric_value_kwargs={"sort": "value", "collate": None},
            ),
        )
        return dependencies

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: ExecutionEngine | None = None,
    ) -> dict[str, Any]:
        counts = metrics["column.value_counts"]
        reference = self.reference
        observed: dict[str, float] = {}
        for value, count in counts.items():
            key = str(value) if str(value) in reference else PSI_OTHER_BIN
            observed[key] = observed.get(key, 0.0) + float(count)
        total = sum(observed.values())
        if total == 0:
            return {"success": False, "result": {"observed_value": None, "element_count": 0}}
        psi = population_stability_index(observed, reference)
        return {
            "success": psi < self.threshold,
            "result": {
                "observed_value": psi,
                "details": {"observed_distribution": shares(observed)},
            },
        }

    @classmethod
    def _prescriptive_template(
        cls, renderer_configuration: RendererConfiguration
    ) -> RendererConfiguration:
        renderer_configuration.add_param(name="column", param_type=RendererValueType.STRING)
        renderer_configuration.add_param(name="threshold", param_type=RendererValueType.NUMBER)
        template = "population stability index against a reference distribution must be less than $threshold."
        if renderer_configuration.include_column_name:
            template = f"$column {template}"
        renderer_configuration.template_str = template
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: ExpectationConfiguration | None = None,
        result: ExpectationValidationResult | None = None,
        runtime_configuration: dict | None = None,
    ) -> list[RenderedStringTemplateContent]:
        # The Data Docs dispatcher calls this with configuration only, result only, or both.
        if configuration is None and result is not None:
            configuration = result.expectation_config
        kwargs = configuration.kwargs if configuration is not None else {}
        runtime_configuration = runtime_configuration or {}
        include_column_name = runtime_configuration.get("include_column_name") is not False
        reference = kwargs.get("reference") or {}
        params = {
            "column": kwargs.get("column"),
            "threshold": kwargs.get("threshold"),
            "bins": len(reference),
            "reference": ", ".join(f"{k}: {v:g}" for k, v in sorted(reference.items())),
        }
        template = (
            "population stability index against the reference distribution ($bins bins: "
            "$reference) must be less than $threshold."
        )
        if include_column_name:
            template = f"$column {template}"
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": template,
                    "params": params,
                    "styling": runtime_configuration.get("styling"),
                },
            )
        ]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls,
        configuration: ExpectationConfiguration | None = None,
        result: ExpectationValidationResult | None = None,
        runtime_configuration: dict | None = None,
    ) -> str:
        value = (result.result or {}).get("observed_value") if result is not None else None
        if value is None:
            return "--"
        return f"PSI {float(value):.4f}"
