"""Exports end to end on the built demo warehouse: one selection per export and date, suppression
counted by reason, PII hashed in Spark, file drops with receipts that reconcile, re-runs that
deliver nothing, new content that supersedes, backfills as published, planted row loss caught.

Expected values come from an independent computation (pandas over the Delta tables read by
delta-rs, hashlib for the hashes), never from the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from deltalake import DeltaTable

from tagfactory.compiler.manifest import Export, Manifest
from tests.integration.conftest import DATES, Built, Materialized, copy_warehouse

pytestmark = pytest.mark.spark

DAY, EARLIER = DATES
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+", re.IGNORECASE)
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{6,}$")


@dataclasses.dataclass
class World:
    spark: Any
    settings: Any
    tables: Any
    manifest: Manifest
    data: Path

    def export(self, name: str) -> Export:
        return self.manifest.export(name)

    def table(self, name: str, date: dt.date) -> pd.DataFrame:
        frame = DeltaTable(str(Path(self.settings.warehouse) / name)).to_pandas()
        return frame[frame["dt"] == date]


@pytest.fixture(scope="module")
def world(spark: Any, built: Built, materialized: Materialized, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A copy of the built warehouse with the audiences of both dates published."""
    base = tmp_path_factory.mktemp("exports")
    settings, tables = copy_warehouse(spark, built, materialized.warehouse, base)
    return World(spark, settings, tables, built.manifest, built.data)


def _expected_crm(world: World, date: dt.date) -> tuple[pd.DataFrame, dict[str, int]]:
    """The CRM export's rows and suppression counts, computed with pandas."""
    export = world.export("crm_high_value_daily")
    members = world.table("audience_members_user", date)
    rows = members[members["audience"].isin(export.what.audiences or [])][["audience", "user_id"]].drop_duplicates()
    suppressed_keys = set(members[members["audience"] == "test_and_risky"]["user_id"])
    profile = world.table("profile_user", date).set_index("user_id")
    opted_out = set(profile.index[profile["marketing_opt_in"].eq(False).fillna(False).astype(bool)])
    reason = rows["user_id"].map(lambda k: "audience:test_and_risky" if k in suppressed_keys
                                 else "tag:marketing_opt_in is_false" if k in opted_out else None)
    counts = reason.dropna().value_counts().to_dict()
    return rows[reason.isna()], {str(k): int(v) for k, v in counts.items()}


def _local(uri: str) -> Path:
    """A local path from a ``file:`` URI (what deliveries report as their location)."""
    return Path(re.sub(r"^file:(//)?", "", uri))


def _files_only(export: Export) -> Export:
    return export.model_copy(update={"destinations": [d for d in export.destinations if d.kind == "files"]})


def test_selection_counts_and_suppression_match_an_independent_computation(world: World) -> None:
    from tagfactory.exports.select import select

    selection = select(world.spark, world.tables, world.settings, world.manifest,
                       world.export("crm_high_value_daily"), DAY)
    expected, suppressed = _expected_crm(world, DAY)
    assert selection.rows_suppressed == suppressed
    assert selection.rows_selected == len(expected) + sum(suppressed.values())
    assert selection.rows_expected == len(expected) > 0
    staged = pd.read_parquet(selection.staged_uri)
    assert sorted(zip(staged["audience"], staged["user_id"], strict=True)) == \
        sorted(zip(expected["audience"], expected["user_id"], strict=True))
    assert set(selection.source_versions) == {"audience_members_user", "profile_user"}


def test_a_crash_between_staging_and_the_move_leaves_nothing_to_ship(world: World,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tagfactory.exports import select as selecting

    export = world.export("crm_high_value_daily").model_copy(update={"name": "crm_crash_probe"})
    export = export.model_copy(update={"digest": export.computed_digest()})  # a staging folder of its own
    date_dir = Path(world.settings.warehouse) / "_exports" / export.name / f"dt={DAY.isoformat()}"
    targets: list[str] = []

    def crash(spark: Any, temp: str, uri: str) -> None:
        targets.append(uri)
        raise RuntimeError("killed after staging, before the move")

    monkeypatch.setattr(selecting, "_move", crash)
    with pytest.raises(RuntimeError, match="before the move"):
        selecting.select(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    assert not list(date_dir.glob("content=*"))
    assert [p.name for p in date_dir.iterdir() if p.name.startswith("_tmp.")]  # hidden: no reader picks it up
    monkeypatch.undo()
    selection = selecting.select(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    assert selection.staged_uri == targets[0]  # the same content id as the crashed run
    assert sorted(p.name for p in date_dir.iterdir() if not p.name.startswith(".")) == \
        [f"content={selection.content_id}"]  # the crashed run's hidden copy is gone
    expected, suppressed = _expected_crm(world, DAY)
    assert selection.rows_suppressed == suppressed
    assert selection.rows_selected == len(expected) + sum(suppressed.values())
    staged = pd.read_parquet(selection.staged_uri)
    assert list(staged.columns) == [c.name for c in export.columns]
    assert sorted(zip(staged["audience"], staged["user_id"], strict=True)) == \
        sorted(zip(expected["audience"], expected["user_id"], strict=True))
    again = selecting.select(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    assert again.content_id == selection.content_id
    assert sorted(p.name for p in date_dir.iterdir() if not p.name.startswith(".")) == \
        [f"content={selection.content_id}"]  # the re-run's copy was dropped, the first one kept


def test_hashed_columns_hold_reference_hashes_and_nothing_that_looks_like_pii(world: World) -> None:
    import hashlib

    from tagfactory.exports.select import select

    selection = select(world.spark, world.tables, world.settings, world.manifest,
                       world.export("crm_high_value_daily"), DAY)
    staged = pd.read_parquet(selection.staged_uri)
    users = pd.read_parquet(world.data / "users").set_index("user_id")
    for column in ("phone_sha256", "email_sha256"):
        values = staged[column].dropna()
        assert len(values) > 0
        assert values.str.fullmatch(r"[0-9a-f]{64}").all()
        assert not values.str.contains(EMAIL).any() and not values.str.match(PHONE).any()
    raw = set(users["email"].dropna()) | set(users["phone"].dropna())
    assert not (set(staged["email_sha256"].dropna()) | set(staged["phone_sha256"].dropna())) & raw
    # independent reference of meta_cn_v1 (docs/hashing-profiles.md): e-mail trimmed + lowercased
    for key, got in zip(staged["user_id"], staged["email_sha256"], strict=True):
        email = users.loc[key, "email"]
        if isinstance(email, str) and email.strip():
            assert got == hashlib.sha256(email.strip().lower().encode()).hexdigest()
    assert selection.hash_profiles == ("meta_cn_v1",)


def test_file_drop_reconciles_and_a_rerun_delivers_nothing(world: World) -> None:
    from tagfactory.exports import receipts
    from tagfactory.exports.job import deliver, select_and_hand_off, verify

    export = _files_only(world.export("crm_high_value_daily"))
    first = select_and_hand_off(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    [delivery] = deliver(world.spark, world.tables, world.settings, export, first, "run1")
    assert delivery.status == "delivered" and delivery.rows_delivered == first.rows_expected
    drop = _local(delivery.location)
    manifest = json.loads((drop / "_manifest.json").read_text())
    assert manifest["content_id"] == first.content_id
    assert manifest["rows"]["delivered"] == first.rows_expected
    assert (drop / "_SUCCESS").read_text().strip()
    again = select_and_hand_off(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    assert again.content_id == first.content_id
    [second] = deliver(world.spark, world.tables, world.settings, export, again, "run2")
    assert second.status == "unchanged"
    runs = sorted(p.name for p in drop.parent.iterdir() if p.name.startswith("run="))
    assert runs == [f"run={first.content_id}"]
    rows = receipts.receipts(world.settings, export.name, DAY)
    assert [r["status"] for r in rows[:2]] == ["unchanged", "delivered"]
    assert all(r["rows_delivered"] == r["rows_expected"] == first.rows_expected for r in rows[:2])
    summary = verify(world.settings, [export], DAY)
    assert summary[0]["rows"] == first.rows_expected and summary[0]["status"] == "unchanged"


def test_new_content_is_a_new_drop_that_records_what_it_supersedes(world: World) -> None:
    from tagfactory.exports.job import deliver, select_and_hand_off

    export = _files_only(world.export("crm_high_value_daily"))
    before = select_and_hand_off(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    deliver(world.spark, world.tables, world.settings, export, before, "run3")
    changed = export.model_copy(update={"columns": [c for c in export.columns if c.name != "member_level"]})
    changed = changed.model_copy(update={"digest": changed.computed_digest()})
    after = select_and_hand_off(world.spark, world.tables, world.settings, world.manifest, changed, DAY)
    assert after.content_id != before.content_id and after.supersedes == before.content_id
    [delivery] = deliver(world.spark, world.tables, world.settings, changed, after, "run4")
    manifest = json.loads((_local(delivery.location) / "_manifest.json").read_text())
    assert manifest["supersedes"] == before.content_id
    latest = (Path(world.settings.export_uri("crm/high_value")) / "_LATEST").read_text().strip()
    assert latest.endswith(f"run={after.content_id}")


def test_a_backfill_exports_the_date_as_it_was_published(world: World) -> None:
    from tagfactory.exports.select import select

    selection = select(world.spark, world.tables, world.settings, world.manifest,
                       world.export("crm_high_value_daily"), EARLIER)
    expected, suppressed = _expected_crm(world, EARLIER)
    staged = pd.read_parquet(selection.staged_uri)
    assert sorted(staged["user_id"]) == sorted(expected["user_id"])
    assert selection.rows_suppressed == suppressed
    history = world.tables.history(world.settings.table_uri("audience_members_user"))
    earlier_commit = next(h for h in history if h.get("snapshot_date") == EARLIER.isoformat())
    assert selection.source_versions["audience_members_user"] == earlier_commit["version"]


def test_a_row_lost_between_staging_and_delivery_fails_reconciliation(world: World) -> None:
    from tagfactory.exports import receipts
    from tagfactory.exports.job import deliver, select_and_hand_off

    export = _files_only(world.export("popup_assignments")).model_copy(update={"name": "popup_row_loss_probe"})
    export = export.model_copy(update={"digest": export.computed_digest()})  # its own staged copy to damage
    selection = select_and_hand_off(world.spark, world.tables, world.settings, world.manifest, export, DAY)
    staged = sorted(Path(selection.staged_uri).glob("part-*.parquet"))
    assert staged and selection.rows_expected > 0
    lost = pd.read_parquet(staged[0])
    lost.iloc[1:].to_parquet(staged[0])  # one row goes missing between staging and delivery
    staged[0].with_name(f".{staged[0].name}.crc").unlink(missing_ok=True)  # Hadoop's local checksum
    from tagfactory.errors import ExportError

    with pytest.raises(ExportError, match="reconciliation failed"):
        deliver(world.spark, world.tables, world.settings, export, selection, "run5")
    latest = receipts.receipts(world.settings, export.name, DAY)[0]
    assert latest["status"] == "failed" and latest["error"]
    drop = Path(world.settings.export_uri("popup/assignments")) / f"dt={DAY.isoformat()}"
    assert not any((p / "_SUCCESS").exists() for p in drop.glob("run=*")) if drop.exists() else True


def test_hive_export_through_the_job_reads_back_through_the_thrift_server(
        world: World, hive_spark: Any, hive_thrift_server: Any, tmp_path: Path) -> None:
    from tagfactory.exports.catalog_tables import register_lakehouse_tables
    from tagfactory.exports.job import deliver, select_and_hand_off
    from tests.servers.hive import beeline

    settings = world.settings.model_copy(deep=True)
    settings.hive.metastore_uri = hive_spark.conf.get("spark.hadoop.hive.metastore.uris")
    settings.hive.location_root = str(tmp_path / "hive")
    export = world.export("analyst_audiences")
    selection = select_and_hand_off(hive_spark, world.tables, settings, world.manifest, export, DAY)
    members = world.table("audience_members_user", DAY)
    expected = members[members["audience"].isin(export.what.audiences or [])][["audience", "user_id"]]
    assert selection.rows_expected == len(expected.drop_duplicates())
    [delivery] = deliver(hive_spark, world.tables, settings, export, selection, "hive1")
    assert delivery.rows_delivered == selection.rows_expected
    [[count]] = beeline(hive_thrift_server.jdbc_url, "SELECT count(*) FROM tagfactory_exports.audience_members "
                        f"WHERE dt = '{DAY.isoformat()}'")
    assert int(count) == selection.rows_expected
    # its own database: the metastore is shared by the whole test session
    register_lakehouse_tables(hive_spark, world.manifest, settings, database="tagfactory_e2e")
    [[profiles]] = beeline(hive_thrift_server.jdbc_url,
                           f"SELECT count(*) FROM tagfactory_e2e.profile_user WHERE dt = DATE'{DAY}'")
    assert int(profiles) == len(world.table("profile_user", DAY))


def test_the_shipped_kafka_exports_deliver_what_pandas_expects(world: World, kafka_broker: Any) -> None:
    """The demo's Kafka exports (scene assignments and audience changes for the pop-up service) on a
    real broker: a read_committed consumer sees per type exactly the rows pandas selects, once."""
    from tagfactory.exports.job import deliver, select_and_hand_off
    from tagfactory.settings import KafkaSettings
    from tests.servers.kafka_readback import read_topic

    settings = world.settings.model_copy(update={"kafka": KafkaSettings(bootstrap_servers=kafka_broker.bootstrap)})
    changes = world.export("popup_audience_changes")
    frame = world.table("audience_changes_user", DAY)
    frame = frame[frame["audience"].isin(changes.what.audiences or []) & frame["change"].isin(changes.what.changes)]
    members = world.table("audience_members_user", DAY)
    frame = frame[~frame["user_id"].isin(set(members[members["audience"] == "test_and_risky"]["user_id"]))]
    assignments = world.export("popup_assignments")
    scenes = world.table("scene_assignments_user", DAY)
    expected = {
        "popup.audience-changes": {f"audience_{c}": n for c, n in frame["change"].value_counts().items()},
        "popup.scene-assignments": {"scene_assignment": int((scenes["scene"].isin(assignments.what.scenes or [])).sum())},
    }
    for export, topic in ((changes, "popup.audience-changes"), (assignments, "popup.scene-assignments")):
        selection = select_and_hand_off(world.spark, world.tables, settings, world.manifest, export, DAY)
        [delivery] = deliver(world.spark, world.tables, settings, export, selection, f"kafka-{export.name}",
                             only=["kafka"])
        assert delivery.status == "delivered" and delivery.rows_delivered == sum(expected[topic].values()) > 0
        summary = read_topic(kafka_broker.bootstrap, topic, group="popup-service-test")
        got = {kind: n for (date, kind), n in summary.messages.items() if kind != "export_completed"}
        assert got == expected[topic]
        assert summary.messages[(DAY.isoformat(), "export_completed")] == 1
        assert summary.controlled[DAY.isoformat()] == len(summary.event_ids) == sum(got.values())
        assert set(summary.examples) == {*got, "export_completed"}  # the demo prints one message per type
        for kind, example in summary.examples.items():
            assert example["headers"]["message_type"] == kind and example["headers"]["export"] == export.name
        [again] = deliver(world.spark, world.tables, settings, export, selection, f"kafka-{export.name}-2",
                          only=["kafka"])
        assert again.status == "unchanged"
