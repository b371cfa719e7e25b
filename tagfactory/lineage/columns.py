"""The OpenLineage ``columnLineage`` dataset facet, from column lineage given as plain data.

The compiler writes column lineage into the manifest (``column_lineage``: one entry per output
column with its ``direct`` inputs and the ``sources`` behind them). A job passes the entries of
the dataset it writes and a resolver that names the dataset of each input node; this module
imports nothing of tagfactory, so an entry is anything with ``column`` and ``direct`` /
``sources`` (attributes or mapping keys), each input having ``node``, ``column``, ``type``,
``subtype`` and ``masking``.

Example (the profile build: every tag column from the source columns it is computed from)::

    def dataset_of(node: str) -> tuple[str, str] | None:
        kind, _, name = node.partition(":")
        return (namespace, source_paths[name]) if kind == "source" else None

    facet = column_lineage_facet(entries, dataset_of, use="sources")
    profile = dataset_for_uri(profile_uri, facets={"columnLineage": facet})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from openlineage.client.facet_v2 import column_lineage_dataset

from .events import DEFAULT_PRODUCER

FACET_NAME = "columnLineage"
"""The key of the facet in a dataset's ``facets``."""

Resolver = Callable[[str], "tuple[str, str] | None"]
"""``node`` (``source:orders``, ``tag:orders_30d``, ``audience:vip`` ...) -> ``(namespace, name)``
of the dataset that holds it in this job, or None when it is not an input of the job."""

_WORDS = {
    "AGGREGATION": "aggregated", "TRANSFORMATION": "computed from", "IDENTITY": "copied as is",
    "FILTER": "filters the rows", "GROUP_BY": "groups the rows", "CONDITIONAL": "decides the value (a condition)",
    "JOIN": "joins the rows", "SORT": "orders the rows", "WINDOW": "partitions or orders a window",
}


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def describe(kind: str, subtype: str, masking: bool) -> str:
    """A short description of one transformation (``aggregated``, ``filters the rows (masked)``)."""
    text = _WORDS.get(subtype, subtype.lower())
    return f"{text} (masked)" if masking else text


def column_lineage_facet(
    columns: Iterable[Any],
    resolve: Resolver,
    *,
    use: Literal["direct", "sources"] = "sources",
    field_name: Callable[[str, str], str] | None = None,
    producer: str = DEFAULT_PRODUCER,
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """The ``columnLineage`` facet of a dataset whose columns are ``columns``.

    Args:
        columns: Column lineage entries of the dataset's columns (see the module docstring);
            entries of the same output column (e.g. the key of several audiences written to one
            table) are merged.
        resolve: Names the dataset of each input node; inputs it returns None for are left out.
        use: ``sources``: the source columns behind each column (what a job reading sources
            writes); ``direct``: the immediate inputs (a job reading the profile table).
        field_name: ``(node, column) ->`` the input field name (default: the column).
        producer: The facet's ``_producer``.
    """
    fields: dict[str, dict[tuple[str, str, str], list[column_lineage_dataset.Transformation]]] = {}
    for entry in columns:
        output = str(_get(entry, "column"))
        inputs = fields.setdefault(output, {})
        for item in _get(entry, use, []) or []:
            node, column = str(_get(item, "node")), str(_get(item, "column"))
            dataset = resolve(node)
            if dataset is None:
                continue
            name = field_name(node, column) if field_name else column
            kind, subtype, masking = str(_get(item, "type")), str(_get(item, "subtype")), bool(_get(item, "masking", False))
            transformation = column_lineage_dataset.Transformation(
                type=kind, subtype=subtype, description=describe(kind, subtype, masking), masking=masking)
            found = inputs.setdefault((dataset[0], dataset[1], name), [])
            if transformation not in found:
                found.append(transformation)
    return column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            output: column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(namespace=ns, name=name, field=fld, transformations=ts)
                for (ns, name, fld), ts in sorted(inputs.items())])
            for output, inputs in sorted(fields.items())
        },
        producer=producer,
    )
