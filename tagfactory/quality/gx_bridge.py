"""Bridge between the tag factory's quality gate and Great Expectations (GX) 1.24: a facade.

Great Expectations is the suite format, the result format and the report (Data Docs) of the
quality gate. This module only re-exports the public names of the modules that implement it,
one concern each, so existing imports keep working; new code may import from those modules:

* :mod:`tagfactory.quality.specs` -- :class:`ExpectationSpec` (our ``name`` and gate
  ``severity`` in each expectation's ``meta``, mapped onto GX's own ``severity``: ``error`` ->
  ``critical``, ``warn`` -> ``warning``), :data:`Severity`, :func:`build_suite`,
  :func:`spec_from_result`;
* :mod:`tagfactory.quality.gx_validate` -- :func:`validate_dataframe`: real GX validation on a
  pandas or Spark DataFrame;
* :mod:`tagfactory.quality.gx_results` -- :func:`result_from_outcomes`: GX result objects built
  from outcomes computed elsewhere (e.g. one fused Spark ``agg``,
  :mod:`tagfactory.quality.metrics`), rendering in Data Docs like results of a real GX run;
* :mod:`tagfactory.quality.data_docs` -- :func:`write_data_docs`: the file-based GX project and
  its Data Docs;
* :mod:`tagfactory.quality.result_rows` -- :func:`rows_from_result`: one row per expectation;
* :mod:`tagfactory.quality.psi` -- the custom expectation :class:`ExpectColumnPsiToBeLessThan`
  (``expect_column_psi_to_be_less_than``), :func:`population_stability_index`,
  :data:`PSI_EPSILON`, :data:`PSI_OTHER_BIN`. Importing it (this facade, ``specs`` and
  ``data_docs`` do) registers the expectation with GX;
* :mod:`tagfactory.quality.gx_context` -- internal plumbing those modules share.

GX keeps its own semantics: a suite result succeeds only when every expectation succeeded; the
gate decides what a failed ``warn`` expectation means.

Typical use::

    specs = [ExpectationSpec("expect_column_values_to_not_be_null", {"column": "user_id"},
                             name="user_id.not_null")]
    suite = build_suite("profiles.daily", specs)
    result = validate_dataframe(df, suite, engine="spark", run_name="2024-05-01")
    index = write_data_docs([result], Path("target/quality"))
    rows = rows_from_result(result, run_id="...", dt="2024-05-01", dataset="profiles")
"""

from __future__ import annotations

from tagfactory.quality.data_docs import write_data_docs
from tagfactory.quality.gx_results import result_from_outcomes
from tagfactory.quality.gx_validate import Engine, ResultFormatName, validate_dataframe
from tagfactory.quality.psi import (
    PSI_EPSILON,
    PSI_OTHER_BIN,
    ExpectColumnPsiToBeLessThan,
    population_stability_index,
)
from tagfactory.quality.result_rows import rows_from_result
from tagfactory.quality.specs import ExpectationSpec, Severity, build_suite, spec_from_result

__all__ = [
    "PSI_EPSILON",
    "PSI_OTHER_BIN",
    "Engine",
    "ExpectColumnPsiToBeLessThan",
    "ExpectationSpec",
    "ResultFormatName",
    "Severity",
    "build_suite",
    "population_stability_index",
    "result_from_outcomes",
    "rows_from_result",
    "spec_from_result",
    "validate_dataframe",
    "write_data_docs",
]
