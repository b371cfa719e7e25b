"""Typed hand-offs between the export selection and the destinations (docs/exports.md).

The selection step stages one Parquet copy per export and date and describes it as a
:class:`Selection`; every destination ships exactly that copy and answers with a
:class:`Delivery`, from which the receipt row (table ``export_receipts``) is made. Only the
standard library is imported here, so the compiler, the DAG and the tests can read these types
without Spark.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["delivered", "unchanged", "failed"]


@dataclass(frozen=True)
class ExportedColumn:
    """A delivered column: its name, Spark SQL type and PII treatment (``None``: not PII)."""

    name: str
    type: str
    pii: str | None = None  # "drop" never appears (dropped columns are not delivered), "mask", "hash:<profile>", "keep"
    description: str = ""


@dataclass(frozen=True)
class Selection:
    """One export's staged rows for one snapshot date, and where they came from."""

    export: str
    entity: str
    snapshot_date: dt.date
    content_id: str
    staged_uri: str
    columns: tuple[ExportedColumn, ...]
    source_versions: dict[str, int]
    manifest_digest: str
    rows_selected: int
    rows_suppressed: dict[str, int]
    hash_profiles: tuple[str, ...] = ()
    supersedes: str | None = None
    lineage_run_id: str | None = None

    @property
    def rows_expected(self) -> int:
        """Rows every destination must deliver: the selected rows minus the suppressed ones."""
        return self.rows_selected - sum(self.rows_suppressed.values())


@dataclass(frozen=True)
class DeliveredFile:
    """One delivered file: its name inside the drop, rows, bytes and SHA-256 (lowercase hex)."""

    name: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Delivery:
    """What one destination did with a :class:`Selection`."""

    destination: str
    kind: str
    location: str
    status: Status
    rows_delivered: int
    started: dt.datetime
    finished: dt.datetime
    files: tuple[DeliveredFile, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        """Bytes of all delivered files."""
        return sum(f.bytes for f in self.files)


def selection_to_json(selection: Selection) -> str:
    """The selection as JSON (the hand-off file from the select task to the destination tasks)."""
    data = asdict(selection)
    data["snapshot_date"] = selection.snapshot_date.isoformat()
    return json.dumps(data, sort_keys=True, indent=1)


def selection_from_json(text: str) -> Selection:
    """Read :func:`selection_to_json`'s output back."""
    data = json.loads(text)
    data["snapshot_date"] = dt.date.fromisoformat(data["snapshot_date"])
    data["columns"] = tuple(ExportedColumn(**c) for c in data["columns"])
    data["hash_profiles"] = tuple(data["hash_profiles"])
    return Selection(**data)
