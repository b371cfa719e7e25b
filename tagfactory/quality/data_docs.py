"""Great Expectations Data Docs: suites and results stored in a file-based GX project."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from tagfactory.quality import psi as _psi  # noqa: F401  (registers the PSI expectation)
from tagfactory.quality.gx_context import batch_id_of, quiet
from tagfactory.quality.specs import suite_from_result

__all__ = ["write_data_docs"]

_DOCS_SITE = "local_site"


def write_data_docs(results: Sequence[ExpectationSuiteValidationResult], root: Path) -> Path:
    """Store suites and results in a file-based GX project and (re)build its Data Docs.

    The GX project lives in ``root / "gx"`` (created on first use). Each result's suite is
    rebuilt from the configurations inside the result and stored (replacing a stored suite of
    the same name), then the result is stored under ``validations/<suite>/<run_name>/<run_time>/
    <batch_id>.json`` (``/`` in the batch id becomes ``__``). Stores persist, so results
    accumulate across calls: the index lists every result ever stored there. Storing the same
    suite, run name, run time and batch again replaces that result.

    Only local paths are supported here. For ``s3a://``/``gs://``/``abfss://`` targets, GX can
    keep its stores and the Data Docs site in object storage itself: configure
    ``TupleS3StoreBackend`` (or the GCS/Azure backends) for ``expectations_store``,
    ``validation_results_store`` and the site's ``store_backend`` in ``great_expectations.yml``
    (needs ``boto3`` etc.). GX has no HDFS backend: for ``hdfs://`` render into a local
    folder and copy ``root/gx`` to HDFS afterwards (``hdfs dfs -put -f`` or Hadoop's
    FileSystem API through Spark's JVM); to accumulate, copy the stored ``gx`` folder back
    before calling this function.

    Rendering a result of :class:`tagfactory.quality.psi.ExpectColumnPsiToBeLessThan` needs
    that module imported, which calling this function guarantees.

    Args:
        results: Suite validation results from
            :func:`tagfactory.quality.gx_validate.validate_dataframe` or
            :func:`tagfactory.quality.gx_results.result_from_outcomes`.
        root: Local folder that holds (or will hold) the ``gx`` project.

    Returns:
        Path of the Data Docs ``index.html``.
    """
    root = Path(root)
    if "://" in str(root):
        raise ValueError(f"write_data_docs needs a local path, got {root}")
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    quiet(context)
    identifiers: list[ValidationResultIdentifier] = []
    for result in results:
        suite = suite_from_result(result)
        context.suites.add_or_update(suite)
        suite_id = ExpectationSuiteIdentifier(name=suite.name)
        run_id = result.meta.get("run_id")
        if not isinstance(run_id, RunIdentifier):
            run_id = RunIdentifier(**run_id) if isinstance(run_id, dict) else RunIdentifier()
        result_id = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id,
            run_id=run_id,
            batch_identifier=_store_key_part(result.batch_id or batch_id_of(result) or "batch"),
        )
        context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=result_id,
            expectation_suite_identifier=suite_id,
        )
        identifiers.append(result_id)
    context.build_data_docs(site_names=[_DOCS_SITE])
    index = Path(context.root_directory) / "uncommitted" / "data_docs" / _DOCS_SITE / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GX did not write {index}")
    return index


def _store_key_part(value: str) -> str:
    """GX's filesystem store keys must not contain path separators."""
    return value.replace("/", "__").replace("\\", "__")
