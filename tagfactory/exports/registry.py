"""The service registry: every export with its owner, consumer, outlets, deliveries and consumption.

``tagfactory exports`` prints it (docs/exports.md, "Registry and consumption"). The entries are
built by :func:`build` from plain inputs (compiled exports, receipt rows, consumption records, an
"as of" date), so simulated days are easy to test; :func:`collect` gathers those inputs without
Spark (receipts and the consumption log with delta-rs, acks with pyarrow's file systems, Kafka
consumer groups with the admin client) and records what it observed.

An export is **idle** when nobody consumed it for ``exports.idle_after_days`` (settings): its last
consumption at any measurable outlet (a drop or workbook acknowledged, a Kafka group caught up) is
that many days before the "as of" date, or it was never consumed and its first delivery is. Hive
tables are not measurable; an export whose outlets all are is never idle (``idle: null``), nor is a
retired or never delivered one.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ConfigError, ExportError
from tagfactory.exports import consumption
from tagfactory.exports.consumption import Consumed

if TYPE_CHECKING:
    from tagfactory.compiler.export_models import Destination, ExportSpec
    from tagfactory.compiler.manifest import Export
    from tagfactory.settings import Settings

    AnyExport = Export | ExportSpec

HOW = {"files": "acknowledgement (_ACK)", "excel": "acknowledgement (_ACK)", "kafka": "consumer-group offsets",
       "hive": "not measurable (no audit log)"}
OK_STATUS = ("delivered", "unchanged")


@dataclass
class Outlet:
    """One destination of an export and how it is consumed."""

    name: str
    kind: str
    where: str
    measurable: bool
    how: str
    last_consumed: dt.datetime | None = None
    consumed_by: str | None = None
    note: str = ""


@dataclass
class Entry:
    """One export of the registry."""

    name: str
    display_name: str
    owner: str
    consumer: dict[str, str]
    schedule: str
    lifecycle: str
    outlets: list[Outlet]
    last_delivery: dict[str, Any] | None
    idle: bool | None
    idle_since: dt.date | None = None
    idle_days: int | None = None
    consumers: list[str] = field(default_factory=list)

    @property
    def last_consumed(self) -> dt.datetime | None:
        """The newest consumption at any outlet."""
        return max((o.last_consumed for o in self.outlets if o.last_consumed), default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``tagfactory exports --format json``)."""
        def iso(value: dt.date | dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"name": self.name, "display_name": self.display_name, "owner": self.owner,
                "consumer": self.consumer, "schedule": self.schedule, "lifecycle": self.lifecycle,
                "destinations": [{"name": o.name, "kind": o.kind, "where": o.where, "measurable": o.measurable,
                                  "how": o.how, "last_consumed": iso(o.last_consumed), "consumed_by": o.consumed_by,
                                  "note": o.note or None} for o in self.outlets],
                "last_delivery": self.last_delivery, "last_consumed": iso(self.last_consumed),
                "idle": self.idle, "idle_since": iso(self.idle_since), "idle_days": self.idle_days}


def schedule_text(export: AnyExport) -> str:
    """``daily``, ``weekly on <weekday>`` or ``cron <fields>``."""
    s = export.schedule
    return f"cron {s.cron}" if s.cron else f"weekly on {s.weekday}" if s.every == "week" else "daily"


def where(settings: Settings, dest: Destination) -> str:
    """Where an outlet is: the drop folder, ``database.table`` or the topic."""
    if dest.kind == "hive":
        return f"{dest.database}.{dest.table}"
    if dest.kind == "kafka":
        return f"topic {dest.topic}"
    return settings.export_uri(dest.path)


def build(exports: Sequence[AnyExport], receipt_rows: Sequence[dict[str, Any]], records: Sequence[Consumed],
          as_of: dt.date, idle_after_days: int, locate: Callable[[Destination], str] = lambda d: d.name,
          notes: dict[tuple[str, str], str] | None = None) -> list[Entry]:
    """The registry as of the end of ``as_of``: receipts of dates up to it, consumption up to it."""
    notes = notes or {}
    entries = []
    for x in exports:
        mine = [r for r in receipt_rows if r["export"] == x.name and _day(r["dt"]) <= as_of]
        mine.sort(key=lambda r: (_day(r["dt"]), r.get("finished_at") or dt.datetime.min), reverse=True)
        last = ({"dt": _day(mine[0]["dt"]).isoformat(), "rows": mine[0]["rows_delivered"],
                 "status": mine[0]["status"], "destination": mine[0]["destination"]} if mine else None)
        delivered = [_day(r["dt"]) for r in mine if r["status"] in OK_STATUS]
        outlets = []
        for d in x.destinations:
            used = [c for c in records if c.export == x.name and c.destination == d.name
                    and c.consumed_at.date() <= as_of]
            newest = max(used, key=lambda c: c.consumed_at, default=None)
            outlets.append(Outlet(d.name, d.kind, locate(d), d.kind != "hive", HOW[d.kind],
                                  newest.consumed_at if newest else None, newest.consumer if newest else None,
                                  notes.get((x.name, d.name), "")))
        entry = Entry(x.name, x.display_name, x.owner, x.consumer.model_dump(), schedule_text(x), x.lifecycle,
                      outlets, last, None,
                      consumers=sorted({c.consumer for c in records if c.export == x.name
                                        and c.consumed_at.date() <= as_of}))
        if x.lifecycle != "retired" and delivered and any(o.measurable for o in outlets):
            consumed = entry.last_consumed
            since = consumed.date() if consumed else min(delivered)
            entry.idle_days = (as_of - since).days
            entry.idle = entry.idle_days >= idle_after_days
            entry.idle_since = since if entry.idle else None
        entries.append(entry)
    return entries


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else \
        dt.date.fromisoformat(str(value)[:10])


def collect(settings: Settings, exports: Sequence[AnyExport], as_of: dt.date | None = None, *,
            observe: bool = True, say: Callable[[str], None] | None = None) -> list[Entry]:
    """The registry of ``exports`` from the warehouse, the drops and the Kafka cluster (no Spark).

    ``observe``: ask the Kafka cluster for its consumer groups and record what was seen (and the
    acks found) in ``export_consumption``; only when ``as_of`` is today or later (a past "as of"
    only reads). Outlets that cannot be read get a note instead of failing the listing.
    """
    from tagfactory.exports import receipts

    say = say or _stderr
    today = consumption.utc_now().date()
    as_of = as_of or today
    observe = observe and as_of >= today
    rows = receipts.receipts(settings)
    logged = consumption.read_log(settings)
    notes: dict[tuple[str, str], str] = {}
    found: list[Consumed] = []
    now = consumption.utc_now().replace(microsecond=0)
    for x in exports:
        for d in x.destinations:
            try:
                if d.kind in ("files", "excel"):
                    found += consumption.read_acks(x.name, d, settings.export_uri(d.path))
                elif d.kind == "kafka" and observe:
                    say(f"reading the consumer groups of topic {d.topic} ({x.name})")
                    states = consumption.group_states(settings.kafka.client_config(), d.topic)
                    found += consumption.kafka_observations(x.name, d, states, logged + found, now)
            except (ExportError, ConfigError) as exc:
                notes[(x.name, d.name)] = f"not read: {exc}"
    if observe:
        written = consumption.append_log(settings, found, now)
        if written:
            say(f"recorded {written} new consumption observations in {consumption.CONSUMPTION_TABLE}")
    return build(exports, rows, logged + found, as_of, settings.exports.idle_after_days,
                 lambda d: where(settings, d), notes)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def render_table(entries: Sequence[Entry], as_of: dt.date) -> str:
    """The registry for people: one block per export, one line per outlet."""
    if not entries:
        return "no exports in the manifest\n"
    out = [f"exports as of {as_of} ({sum(e.idle is True for e in entries)} idle)", ""]
    for e in entries:
        c = e.consumer
        last = e.last_delivery
        delivered = f"{last['dt']} {last['rows']:,} rows {last['status']}" if last else "never"
        flag = (f"IDLE since {e.idle_since} ({e.idle_days} days)" if e.idle else "not idle" if e.idle is False
                else "idle: not measurable" if e.lifecycle != "retired" and last else "")
        out.append(f"{e.name}  [{e.lifecycle}, {e.schedule}]  owner {e.owner}  consumer {c['system']} "
                   f"({c['team']}, {c['contact']})")
        out.append(f"    last delivery: {delivered}" + (f"   {flag}" if flag else ""))
        for o in e.outlets:
            used = (f"consumed {o.last_consumed:%Y-%m-%d %H:%M} by {o.consumed_by}" if o.last_consumed
                    else "never consumed" if o.measurable else "consumption not measurable")
            out.append(f"    -> {o.kind:<5} {o.name}: {o.where}; {used} [{o.how}]" + (f"; {o.note}" if o.note else ""))
        out.append("")
    return "\n".join(out)


def render_json(entries: Sequence[Entry], as_of: dt.date) -> str:
    """The registry as JSON."""
    return json.dumps({"as_of": as_of.isoformat(), "exports": [e.to_dict() for e in entries]}, indent=2) + "\n"


def listing(config: str | None, manifest_file: str | None, as_of: dt.date | None, fmt: str) -> str:
    """``tagfactory exports``: the registry of the compiled manifest's exports, rendered."""
    from tagfactory.pipeline.runtime import load_manifest
    from tagfactory.settings import load_settings

    settings = load_settings(config)
    manifest = load_manifest(settings, manifest_file)
    day = as_of or consumption.utc_now().date()
    entries = collect(settings, manifest.exports, day)
    return render_json(entries, day) if fmt == "json" else render_table(entries, day)


def ack_command(export_name: str, snapshot_date: dt.date, destination: str | None, by: str | None,
                rows_loaded: int | None, manifest_file: str | None, config: str | None, master: str | None) -> int:
    """``tagfactory exports ack``: write ``_ACK`` beside the drop's ``_SUCCESS`` and record it."""
    import os

    from tagfactory.pipeline.runtime import load_manifest, start_spark
    from tagfactory.progress import step
    from tagfactory.settings import load_settings

    settings = load_settings(config)
    export = load_manifest(settings, manifest_file).export(export_name)
    drops = [d for d in export.destinations if d.kind in ("files", "excel")]
    chosen = [d for d in drops if d.name == destination] if destination else drops
    if not chosen or (len(chosen) > 1 and not destination):
        others = ", ".join(f"{d.name} ({d.kind})" for d in export.destinations)
        raise ConfigError(f"export {export_name}: " + (
            f"no drop or workbook named {destination}" if destination else
            "several drops and workbooks: name one with --destination" if chosen else
            "no drop or workbook to acknowledge (Kafka is measured from consumer-group offsets, Hive not at all)")
            + f"; its destinations: {others}")
    dest = chosen[0]
    if dest.kind not in ("files", "excel"):  # narrowed for mypy
        raise ConfigError(f"{dest.name} is not a drop or workbook")
    who = by or os.environ.get("USER") or "unknown"
    from pyspark.sql import SparkSession

    shared = SparkSession.getActiveSession()  # a caller's session (a notebook, a test) is not ours to stop
    spark = shared or start_spark(settings, master or "local[1]", "tagfactory-exports-ack")
    try:
        with step(f"acknowledging {export_name} -> {dest.name} of {snapshot_date} for {who}") as s:
            uri, record = consumption.acknowledge(spark, settings, export_name, dest, snapshot_date, who, rows_loaded)
            s.detail = uri
    finally:
        if shared is None:
            spark.stop()
    consumption.append_log(settings, [record])
    return 0


# --------------------------------------------------------------------- the daily quality result


def idle_rows(entries: Sequence[Entry], snapshot_date: dt.date, run_id: str, idle_after_days: int,
              now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One ``quality_results`` row (severity warn, failed) per idle export."""
    recorded = now or consumption.utc_now()
    return [{"run_id": run_id, "dataset": f"export:{e.name}", "suite": "export_consumption",
             "expectation": "consumed_within_days", "expectation_type": "export_idle", "column": None,
             "severity": "warn", "success": False,
             "observed_value": json.dumps({"idle_since": str(e.idle_since), "days": e.idle_days,
                                           "last_consumed": str(e.last_consumed) if e.last_consumed else None}),
             "unexpected_count": None, "unexpected_percent": None, "element_count": None,
             "details": json.dumps({"idle_after_days": idle_after_days, "consumer": e.consumer,
                                    "hint": "nobody consumed this export: ask its consumer, then consider "
                                            "`lifecycle: retired`"}),
             "recorded_at": recorded, "dt": snapshot_date} for e in entries if e.idle]


def warn_idle(settings: Settings, exports: Sequence[AnyExport], snapshot_date: dt.date, run_id: str,
              as_of: dt.date | None = None) -> list[Entry]:
    """The export job's verify step: observe consumption, write a warn row per idle export; never fails.

    The rows go to ``quality_results`` with delta-rs (the verify step has no Spark session).
    """
    import pyarrow as pa
    from deltalake import write_deltalake

    from tagfactory.contracts.tables import RESULTS_TABLE, table_spec
    from tagfactory.lakehouse.paths import TableLocation
    from tagfactory.lakehouse.schemas import arrow_schema
    from tagfactory.progress import log

    try:
        entries = collect(settings, exports, as_of, say=log)
        idle = [e for e in entries if e.idle]
        rows = idle_rows(idle, snapshot_date, run_id, settings.exports.idle_after_days)
        if rows:
            write_deltalake(TableLocation.parse(settings.table_uri(RESULTS_TABLE)).delta_uri,
                            pa.Table.from_pylist(rows, schema=arrow_schema(table_spec("quality_results"))),
                            mode="append", partition_by=["dt"])
    except Exception as exc:  # a warning must not fail a delivery that reconciled
        log(f"WARNING: the idle check of the exports failed: {exc}")
        return []
    for e in idle:
        log(f"WARNING: export {e.name} is idle: nobody consumed it since {e.idle_since} ({e.idle_days} days); "
            f"ask {e.consumer['contact']}, then consider `lifecycle: retired`")
    return entries


def idle_for_plan(settings: Settings, exports: Sequence[AnyExport]) -> dict[str, str]:
    """``tagfactory plan``: export -> "idle since D" for the changed exports nobody consumes (reads only)."""
    try:
        entries = collect(settings, exports, observe=False, say=lambda _m: None)
    except Exception:  # noqa: BLE001 - a plan never fails because the warehouse is out of reach
        return {}
    return {e.name: f"idle since {e.idle_since} ({e.idle_days} days without consumption): consider retiring it"
            for e in entries if e.idle}
