"""Kafka messages of an export: types, keys, JSON values, stable event ids, headers (docs/exports.md).

The staged Parquet copy of a selection is turned into one message per row **in Spark** (``to_json``
for the value, ``sha2`` for the event id): no row is serialized in Python. A message is

* **key**: the entity key (UTF-8), so that all messages of one user land in one partition, in order;
* **value**: JSON ``{"schema_version": 1, "message_type", "event_id", "export", "entity",
  "snapshot_date", "key", [audience, change, scene, branch, group, variant], "data": {columns}}``
  described by ``tagfactory/exports/schemas/<message type>.schema.json``;
* **headers**: ``export``, ``content_id``, ``snapshot_date``, ``source_table_version`` (JSON of the
  Delta versions read), ``message_type``.

The **event id** is the SHA-256 of export, date, message type and the delivered row (as JSON): the
same row of the same date has the same id on every re-run (and under a new content id), so a
consumer can drop duplicates by it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagfactory.compiler.manifest import Export
    from tagfactory.exports.contracts import Selection

SCHEMA_VERSION = 1
CONTROL_TYPE = "export_completed"
#: message type of each kind of rows (``changes``: per row, from its ``change``)
KIND_TYPES = {"members": ("audience_member",), "changes": ("audience_entered", "audience_exited"),
              "scenes": ("scene_assignment",), "tag_slice": ("tag_slice",)}
MESSAGE_TYPES = ("audience_entered", "audience_exited", "audience_member", "scene_assignment", "tag_slice",
                 CONTROL_TYPE)
#: builtin fields that are also top-level fields of the value when delivered
ENVELOPE_FIELDS = ("audience", "change", "scene", "branch", "group", "variant")
#: columns of the message frame
FRAME_COLUMNS = ("key", "value", "message_type")


def message_schema(message_type: str) -> dict[str, Any]:
    """The JSON Schema of one message type (a file of the package)."""
    text = resources.files("tagfactory.exports").joinpath(f"schemas/{message_type}.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def headers(selection: Selection, message_type: str) -> list[tuple[str, str | bytes | None]]:
    """The headers of every message of ``message_type`` in this selection's run."""
    return [("export", selection.export.encode()), ("content_id", selection.content_id.encode()),
            ("snapshot_date", selection.snapshot_date.isoformat().encode()),
            ("source_table_version", json.dumps(selection.source_versions, sort_keys=True).encode()),
            ("message_type", message_type.encode())]


def build_messages(spark: SparkSession, selection: Selection, export: Export) -> DataFrame:
    """The staged rows as messages: ``key``, ``value`` (JSON text) and ``message_type`` (strings)."""
    from pyspark.sql import functions as F

    rows = spark.read.parquet(selection.staged_uri)
    key_col = next(c.name for c in export.columns if c.origin == "builtin" and c.ref == "key")
    fields = {c.ref: c.name for c in export.columns if c.origin == "builtin" and c.ref in ENVELOPE_FIELDS}
    names = [c.name for c in export.columns]
    if export.what.kind == "changes":
        mtype = F.concat(F.lit("audience_"), F.col(f"`{fields['change']}`").cast("string"))
    else:
        mtype = F.lit(KIND_TYPES[export.what.kind][0])
    options = {"ignoreNullFields": "false"}
    data = F.to_json(F.struct(*(F.col(f"`{n}`") for n in names)), options)
    frame = rows.select(F.col(f"`{key_col}`").cast("string").alias("key"), mtype.alias("message_type"),
                        data.alias("_data"), *(F.col(f"`{n}`").alias(f"_env_{f}") for f, n in fields.items()))
    event_id = F.sha2(F.concat_ws("\u001f", F.lit(selection.export), F.lit(selection.snapshot_date.isoformat()),
                                  F.col("message_type"), F.col("_data")), 256)
    envelope = F.to_json(F.struct(
        F.lit(SCHEMA_VERSION).alias("schema_version"), F.col("message_type"), event_id.alias("event_id"),
        F.lit(selection.export).alias("export"), F.lit(selection.entity).alias("entity"),
        F.lit(selection.snapshot_date.isoformat()).alias("snapshot_date"), F.col("key"),
        *(F.col(f"_env_{f}").alias(f) for f in fields)), options)
    # the envelope's closing brace gives way to the row's data (serialized once, above)
    value = F.concat(F.expr("substring(_envelope, 1, length(_envelope) - 1)"), F.lit(',"data":'), F.col("_data"),
                     F.lit("}"))
    return frame.withColumn("_envelope", envelope).select("key", value.alias("value"), "message_type")


def control_value(selection: Selection, destination: str, count: int, partitions: dict[int, int]) -> str:
    """The value of the end-of-export control message (the last message of the run's transaction)."""
    return json.dumps({
        "schema_version": SCHEMA_VERSION, "message_type": CONTROL_TYPE,
        "event_id": control_event_id(selection, destination), "export": selection.export,
        "entity": selection.entity, "destination": destination, "snapshot_date": selection.snapshot_date.isoformat(),
        "content_id": selection.content_id, "supersedes": selection.supersedes, "count": count,
        "partitions": {str(p): n for p, n in sorted(partitions.items())},
        "source_versions": selection.source_versions, "manifest_digest": selection.manifest_digest,
    }, sort_keys=True)


def control_event_id(selection: Selection, destination: str) -> str:
    """The control message's event id: one per export, destination, date and content."""
    body = "\u001f".join((selection.export, destination, selection.snapshot_date.isoformat(), selection.content_id))
    return hashlib.sha256(body.encode()).hexdigest()
