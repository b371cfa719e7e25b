"""GX plumbing shared by the bridge modules (internal): data source name, quiet contexts,
run identifiers, and reading the configuration and batch id back out of results."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig

if TYPE_CHECKING:
    from great_expectations.core import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

#: Name of the GX data source of every validation and synthesized result.
DATASOURCE = "tagfactory"


def quiet(context: AbstractDataContext) -> None:
    """No tqdm progress bars (they garble job logs); no analytics."""
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.config.analytics_enabled = False


def run_identifier(run_name: str, run_time: _dt.datetime | None) -> RunIdentifier:
    """GX's run id; ``run_time`` defaults to now (UTC)."""
    return RunIdentifier(run_name=run_name, run_time=run_time or _dt.datetime.now(_dt.UTC))


def config_of(result: ExpectationValidationResult) -> ExpectationConfiguration:
    """The configuration of the expectation a result is about."""
    if result.expectation_config is None:
        raise ValueError("expectation result without expectation_config")
    return result.expectation_config


def batch_id_of(result: ExpectationSuiteValidationResult) -> str | None:
    """The first ``batch_id`` found in the results' configurations (GX puts it there)."""
    for evr in result.results:
        batch_id = config_of(evr).kwargs.get("batch_id")
        if batch_id:
            return str(batch_id)
    return None
