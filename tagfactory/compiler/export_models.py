"""As-written models of export definitions (``tag_definitions/exports/*.yaml``, section ``exports``).

An export says what leaves the lakehouse, for whom, how often and where to (docs/exports.md):

* **what**: members of audiences, their entered/exited changes, scene assignments, or a tag
  slice (chosen tag columns for an audience's members);
* **columns**: each delivered column names where it comes from (``from:``) and, when that source
  is marked ``pii``, a treatment (``drop``, ``mask``, ``hash: <profile>``, or ``keep`` with a
  written ``approval``);
* **suppression**: audiences (test accounts ...) and tag conditions (opt-outs) whose keys never
  leave;
* **schedule**: every DAG run, weekly on a weekday, or the day fields of a cron expression;
* **destinations**: file drops (``files``), Hive tables (``hive``), Excel workbooks (``excel``)
  and Kafka topics (``kafka``); locations inside the roots of the settings, never absolute in a
  definition.

Every model forbids unknown fields; cross-file meaning (audiences, tags and source columns that
exist, PII rules) is checked by :mod:`tagfactory.compiler.exports`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from tagfactory.compiler.base import Name, Scalar, Strict

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ChangeKind = Literal["entered", "exited"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("entered", "exited")
WHAT_KINDS = ("members", "changes", "scenes", "tag_slice")
#: ``from:`` values that are not a tag or a source column (see :class:`ExportColumn`).
BUILTIN_FIELDS = ("key", "dt", "audience", "change", "scene", "branch", "variant", "group", "payload")
FILE_NAME_FIELDS = ("export", "dt", "part", "ext", "content_id")
WORKBOOK_NAME_FIELDS = ("export", "dt", "content_id")
#: data rows of one Excel sheet: 1,048,576 rows (Excel's limit) minus the header row
EXCEL_SHEET_ROWS = 1_048_575
_CRON_FIELD = re.compile(r"^(\*|[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2}(-[0-9]{1,2})?)*)(/[0-9]{1,2})?$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^{}]*)?\}")


class Consumer(Strict):
    """Who consumes an export: the receiving system, the team that owns it, a contact."""

    system: str = Field(min_length=1)
    team: str = Field(min_length=1)
    contact: str = Field(min_length=1)


class What(Strict):
    """The rows an export delivers (one of four kinds)."""

    kind: Literal["members", "changes", "scenes", "tag_slice"]
    audiences: list[Name] | None = Field(default=None, min_length=1)
    scenes: list[Name] | None = Field(default=None, min_length=1)
    changes: list[ChangeKind] = Field(default_factory=lambda: list(CHANGE_KINDS), min_length=1)

    @model_validator(mode="after")
    def _needs(self) -> What:
        if self.kind == "scenes":
            if not self.scenes:
                raise ValueError("kind `scenes` needs `scenes: [<scene>, ...]`")
            if self.audiences:
                raise ValueError("kind `scenes` takes `scenes`, not `audiences`")
        else:
            if not self.audiences:
                raise ValueError(f"kind `{self.kind}` needs `audiences: [<audience>, ...]`")
            if self.scenes:
                raise ValueError(f"kind `{self.kind}` takes `audiences`, not `scenes`")
        return self


class Keep(Strict):
    """PII delivered as it is: only with a written approval (who approved, when, why)."""

    keep: Literal[True] = True
    approval: str = Field(min_length=10)


class Hash(Strict):
    """PII replaced by its SHA-256 under a named hashing profile (docs/hashing-profiles.md)."""

    hash: Name
    normalize: Literal["email", "phone", "other"] | None = Field(
        default=None, description="how the value is normalized before hashing; default from the column name")


def _treatment_kind(value: object) -> str | None:
    """Which treatment a ``pii:`` value is, so that errors name only that one's fields."""
    if isinstance(value, str):
        return "named_treatment"
    if isinstance(value, dict):
        return "keep_treatment" if "keep" in value or "approval" in value else "hash_treatment"
    if isinstance(value, Hash):
        return "hash_treatment"
    if isinstance(value, Keep):
        return "keep_treatment"
    return None


#: tag names of the ``pii`` union (not fields: the parser leaves them out of error locations)
UNION_TAGS = ("named_treatment", "hash_treatment", "keep_treatment")
PiiTreatment = Annotated[
    Annotated[Literal["drop", "mask"], Tag("named_treatment")] | Annotated[Hash, Tag("hash_treatment")]
    | Annotated[Keep, Tag("keep_treatment")],
    Discriminator(_treatment_kind, custom_error_type="pii_treatment",
                  custom_error_message="`pii` must be `drop`, `mask`, `{hash: <profile>}` or "
                                       "`{keep: true, approval: \"...\"}`"),
]


class ExportColumn(Strict):
    """One delivered column.

    ``from`` is ``key``, ``dt``, a builtin field of the selection (``audience``, ``change``,
    ``scene``, ``branch``, ``variant``, ``group``, ``payload``), ``tag.<tag>`` or
    ``<source>.<column>`` (a column of the entity's dimension source).
    """

    name: Name
    from_: str = Field(alias="from", min_length=1)
    pii: PiiTreatment | None = None
    description: str = ""


class TagCondition(Strict):
    """A suppression condition on a tag of the profile (same operators as audience rules)."""

    tag: Name
    op: Literal["=", "!=", "in", "not_in", "is_null", "is_not_null", "is_true", "is_false"]
    value: Scalar | list[Scalar] | None = None


class Suppression(Strict):
    """Keys that never leave: members of these audiences, or profiles matching a condition."""

    audiences: list[Name] = Field(default_factory=list)
    tags: list[TagCondition] = Field(default_factory=list)


class Schedule(Strict):
    """When an export runs: every DAG run (``daily``), weekly on a weekday, or cron day fields."""

    every: Literal["run", "week"] = "run"
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if self.every == "week" and self.weekday is None:
            raise ValueError("`every: week` needs `weekday: monday|...|sunday`")
        if self.every == "run" and self.weekday is not None:
            raise ValueError("`weekday` goes with `every: week`")
        if self.cron is not None:
            if self.every != "run" or self.weekday is not None:
                raise ValueError("give either `cron` or `every`/`weekday`, not both")
            fields = self.cron.split()
            if len(fields) != 3 or not all(_CRON_FIELD.match(f) for f in fields):
                raise ValueError("`cron` takes the three day fields of a cron expression: "
                                 "'<day of month> <month> <day of week>', e.g. '* * 1-5' or '1,15 * *'")
            for value, (low, high) in zip(fields, _CRON_RANGES, strict=True):
                for number in re.findall(r"[0-9]+", value.split("/")[0]):
                    if not low <= int(number) <= high:
                        raise ValueError(f"`cron`: {number} is outside {low}-{high} in `{value}`")
        return self

    def due(self, day: dt.date) -> bool:
        """True when the export runs for snapshot date ``day``."""
        if self.cron is not None:
            dom, month, dow = self.cron.split()
            # cron counts Sunday as 0 (and 7); Python's isoweekday is 1 (Monday) ... 7 (Sunday)
            weekday = day.isoweekday() % 7
            return (_cron_match(dom, day.day, 1, 31) and _cron_match(month, day.month, 1, 12)
                    and (_cron_match(dow, weekday, 0, 7) or (weekday == 0 and _cron_match(dow, 7, 0, 7))))
        if self.every == "week":
            return WEEKDAYS[day.weekday()] == self.weekday
        return True


_CRON_RANGES = ((1, 31), (1, 12), (0, 7))


def _cron_match(field: str, value: int, low: int, high: int) -> bool:
    """Whether one cron field (``*``, ``a``, ``a-b``, lists, ``/step``) matches ``value``."""
    base, _, step_text = field.partition("/")
    step = int(step_text) if step_text else 1
    for part in base.split(","):
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-"))
        else:
            start = end = int(part)
            if step_text:
                end = high
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


class CsvOptions(Strict):
    """How a CSV file drop is written."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    header: bool = True
    encoding: Literal["utf-8", "utf-8-sig"] = "utf-8"
    null: str = ""
    compression: Literal["none", "gzip"] = "none"
    escape_formulas: bool = True

    @field_validator("delimiter", "quote")
    @classmethod
    def _printable(cls, value: str) -> str:
        if value in ("\n", "\r") or (not value.isprintable() and value != "\t"):
            raise ValueError("must be one printable character (or a tab)")
        return value


def _check_placeholders(template: str, allowed: tuple[str, ...]) -> None:
    """Refuse a ``{placeholder}`` of a file name template that is not in ``allowed``."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(allowed))
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; allowed: " + ", ".join("{" + f + "}" for f in allowed))


class FilesDestination(Strict):
    """A file drop on a Hadoop file system under ``settings.exports_root``."""

    kind: Literal["files"]
    name: Name
    path: str = Field(min_length=1)
    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    max_rows_per_file: int = Field(1_000_000, ge=1, le=100_000_000)
    file_name: str = "{export}_{dt:%Y%m%d}_{part:05d}.{ext}"
    layout: Literal["run", "flat"] = "run"

    @field_validator("file_name")
    @classmethod
    def _template(cls, value: str) -> str:
        _check_placeholders(value, FILE_NAME_FIELDS)
        if "{part" not in value:
            raise ValueError("the file name needs `{part}` (a drop may be split into several files)")
        if "/" in value or "\\" in value or value.startswith("."):
            raise ValueError("a file name is one name: no `/`, `\\` or leading `.`")
        return value


class HiveDestination(Strict):
    """An external Parquet table partitioned by ``dt`` in the Hive metastore."""

    kind: Literal["hive"]
    name: Name
    database: Name
    table: Name


class ExcelDestination(Strict):
    """One Excel workbook per export and date under ``settings.exports_root`` (docs/exports.md)."""

    kind: Literal["excel"]
    name: Name
    path: str = Field(min_length=1)
    file_name: str = "{export}_{dt:%Y%m%d}.xlsx"
    max_rows: int = Field(1_000_000, ge=1, le=10 * EXCEL_SHEET_ROWS,
                          description="larger selections are refused: deliver them as a file drop")
    sheet: str = Field("members", pattern=r"^[A-Za-z][A-Za-z0-9_ ]{0,24}$")
    summary: bool = True

    @field_validator("file_name")
    @classmethod
    def _workbook_name(cls, value: str) -> str:
        _check_placeholders(value, WORKBOOK_NAME_FIELDS)
        if not value.endswith(".xlsx") or "/" in value or "\\" in value or value.startswith((".", "_")):
            raise ValueError("a workbook name is one name ending in `.xlsx`: no `/`, `\\`, leading `.` or `_`")
        return value

    @field_validator("sheet")
    @classmethod
    def _sheet_name(cls, value: str) -> str:
        if value.lower() in ("about", "summary"):
            raise ValueError("`About` and `Summary` are the workbook's own sheets: choose another name")
        return value


class KafkaDestination(Strict):
    """A Kafka topic: one JSON message per row, keyed by the entity key, one transaction per date.

    The cluster (bootstrap servers, security) comes from the settings (``kafka:``), never from here.
    The message type follows ``what.kind`` (docs/exports.md "Kafka topics").
    """

    kind: Literal["kafka"]
    name: Name
    topic: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$")
    partitions: int = Field(6, ge=1, le=10_000)
    retention_hours: int = Field(168, ge=1, le=87_600, description="retention.ms of the topic, in hours")


Destination = Annotated[FilesDestination | HiveDestination | ExcelDestination | KafkaDestination,
                        Field(discriminator="kind")]
DESTINATION_KINDS = ("files", "hive", "excel", "kafka")


class Retention(Strict):
    """How long delivered runs stay (file drops and Hive partitions older than this are removed)."""

    days: int = Field(30, ge=1, le=3650)


class ExportSpec(Strict):
    """One export: what, for whom, when and where."""

    name: Name
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    consumer: Consumer
    purpose: str = Field(min_length=1)
    lifecycle: Literal["active", "deprecated", "retired"] = "active"
    entity: Name = "user"
    what: What
    columns: list[ExportColumn] = Field(min_length=1)
    suppression: Suppression = Field(default_factory=Suppression)
    schedule: Schedule = Field(default_factory=Schedule)
    destinations: list[Destination] = Field(min_length=1)
    retention: Retention = Field(default_factory=Retention)

    @property
    def built(self) -> bool:
        """Retired exports are validated but deliver nothing."""
        return self.lifecycle != "retired"
