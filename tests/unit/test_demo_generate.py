"""Fast tests of the demo data generator (small scale, no Spark)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tagfactory.demo import generate as gen
from tagfactory.demo.generate import EDGE_USERS, SOURCES, generate_demo_data, main

REPO = Path(__file__).resolve().parents[2]
END = dt.date(2026, 11, 24)
DAYS = 60
FIRST = END - dt.timedelta(days=DAYS - 1)
EDGE = END - dt.timedelta(days=1)
SMALL = {"n_users": 2_000, "end_date": END, "days": DAYS, "progress": None}

ARROW_TYPES = {
    "string": pa.string(), "enum": pa.string(), "integer": pa.int64(), "double": pa.float64(),
    "boolean": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC"),
}
DAY = pd.Timedelta(days=1)
LAST_INSTANT = DAY - pd.Timedelta(microseconds=1)


def _declared_sources() -> dict[str, dict]:
    sources = {}
    for path in sorted((REPO / "tag_definitions" / "sources").glob("*.yaml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources", []):
            sources[source["name"]] = source
    return sources


DECLARED = _declared_sources()


def _column_spec(spec: str | dict) -> dict:
    return spec if isinstance(spec, dict) else {"type": spec}


def _files(root: Path, source: str) -> list[Path]:
    return sorted((root / source).rglob("*.parquet"))


def _read(root: Path, source: str) -> pd.DataFrame:
    """All rows of a source, with ``dt`` (a date) taken from the folder name when partitioned."""
    frames = []
    for path in _files(root, source):
        frame = pq.read_table(path).to_pandas()
        if path.parent.name.startswith("dt="):
            frame["dt"] = dt.date.fromisoformat(path.parent.name[3:])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _at(day: dt.date, days: int = 0, offset: pd.Timedelta | None = None) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + days * DAY + (offset if offset is not None else pd.Timedelta(0))


BOUNDARY = [_at(EDGE, d, o) for d, o in (
    (-30, pd.Timedelta(0)), (-29, pd.Timedelta(0)), (-14, pd.Timedelta(0)), (-13, pd.Timedelta(0)),
    (-7, LAST_INSTANT), (-6, pd.Timedelta(0)), (0, LAST_INSTANT), (1, pd.Timedelta(0)),
)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo_data(root, seed=7, **SMALL)


@pytest.fixture(scope="module")
def frames(demo: tuple[Path, dict[str, int]]) -> dict[str, pd.DataFrame]:
    return {name: _read(demo[0], name) for name in SOURCES}


def test_layout_and_counts(demo: tuple[Path, dict[str, int]]) -> None:
    root, counts = demo
    assert set(counts) == set(DECLARED) == set(SOURCES)
    assert sorted(p.name for p in root.iterdir()) == sorted(SOURCES)  # no staging leftovers
    assert [p.relative_to(root).as_posix() for p in _files(root, "users")] == ["users/part-00000.parquet"]
    for name in SOURCES:
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in _files(root, name))
        assert rows == counts[name] > 0, name
        if name != "users":
            folders = {p.parent.name for p in _files(root, name)}
            assert all(re.fullmatch(r"dt=\d{4}-\d{2}-\d{2}", f) for f in folders), name
    assert 900 <= counts["orders"] and counts["events"] > 40 * 2_000 * DAYS / 400


@pytest.mark.parametrize("source", sorted(DECLARED))
def test_schema_matches_yaml(demo: tuple[Path, dict[str, int]], source: str) -> None:
    declared = DECLARED[source]
    columns = {name: _column_spec(spec) for name, spec in declared["columns"].items()}
    partition = declared.get("partition_column")
    expected = pa.schema([
        pa.field(name, ARROW_TYPES[spec["type"]]) for name, spec in columns.items() if name != partition
    ])
    files = _files(demo[0], source)
    for path in files:
        assert pq.read_schema(path).remove_metadata().equals(expected), path
    table = pa.concat_tables(pq.read_table(p) for p in files)
    for name, spec in columns.items():
        if spec["type"] == "enum":
            values = set(table[name].drop_null().unique().to_pylist())
            assert values <= set(spec["values"]), (source, name, values - set(spec["values"]))


def test_same_seed_same_data_other_seed_differs(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    root, counts = demo
    again = tmp_path / "again"
    assert generate_demo_data(again, seed=7, **SMALL) == counts
    for name in SOURCES:
        ours, theirs = _files(root, name), _files(again, name)
        assert [p.relative_to(root) for p in ours] == [p.relative_to(again) for p in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert pq.read_table(a).equals(pq.read_table(b)), a
    other = tmp_path / "other"
    generate_demo_data(other, seed=8, **SMALL)
    for name in ("users", "orders", "events"):
        assert not _read(root, name).equals(_read(other, name)), name


def test_dt_is_the_utc_date_of_the_time_column(frames: dict[str, pd.DataFrame]) -> None:
    for name in SOURCES:
        if name == "users":
            continue
        frame = frames[name]
        times = frame[DECLARED[name]["time_column"]]
        assert (times.dt.tz_convert("UTC").dt.date == frame["dt"]).all(), name
        assert frame["dt"].min() >= FIRST and frame["dt"].max() <= END, name
    registered = frames["users"]["registered_at"]
    assert registered.max() < _at(END, 1)
    assert registered.min() >= _at(END, -3 * 365)
    assert (registered >= _at(END)).sum() >= 3  # a few users register on the last day


def test_activity_only_after_registration(frames: dict[str, pd.DataFrame]) -> None:
    users = frames["users"].set_index("user_id")["registered_at"]
    for name in SOURCES:
        if name == "users":
            continue
        frame = frames[name]
        registered = frame["user_id"].map(users)
        orphans = registered.isna()
        if name in ("orders", "order_items", "events"):
            assert 0 < orphans.mean() < 0.01, name
            assert not frame.loc[orphans, "user_id"].str.startswith("e").any()
        else:
            assert not orphans.any(), name
        time = frame[DECLARED[name]["time_column"]]
        assert (time[~orphans] >= registered[~orphans]).all(), name


def test_realistic_shapes(frames: dict[str, pd.DataFrame]) -> None:
    users, orders, items, events = (frames[n] for n in ("users", "orders", "order_items", "events"))
    touches, tickets = frames["marketing_touches"], frames["service_tickets"]
    regular = users[users.user_id.str.startswith("u")]
    assert regular.user_id.str.fullmatch(r"u\d{7}").all()
    assert regular.phone.str.fullmatch(r"1[358]\d{9}").all()
    assert 0.03 < regular.birthday.isna().mean() < 0.1 and 0.01 < regular.city.isna().mean() < 0.06
    assert (users.city.isna() == users.city_tier.isna()).all()
    tier = users.dropna(subset=["city"]).groupby("city").city_tier.nunique()
    assert (tier == 1).all()
    assert set(users.loc[users.city.isin(["上海", "北京", "广州", "深圳"]), "city_tier"]) == {"tier1"}
    per_order = items.groupby("order_id").size()
    assert (orders.set_index("order_id").item_count == per_order.reindex(orders.order_id).values).all()
    assert orders.amount.between(20, 5000).all() and (orders.discount_amount >= 0).all()
    assert 0.8 < (orders.status == "completed").mean() < 0.92
    assert 0.6 < orders.coupon_id.isna().mean() < 0.8
    assert (events.item_id.isna() == events.category.isna()).all()
    assert (~touches.clicked | touches.opened).all()
    assert tickets.satisfaction.dropna().between(1, 5).all()
    active = set(orders.user_id) | set(events.user_id)
    assert 0.05 < 1 - regular.user_id.isin(active).mean() < 0.3  # users without activity
    browsers = set(events.user_id) - set(orders.user_id)
    assert len(browsers) > 0.1 * len(regular)


def test_planted_edge_users(frames: dict[str, pd.DataFrame]) -> None:
    users = frames["users"].set_index("user_id")
    assert set(EDGE_USERS) <= set(users.index)
    orders, events, touches = frames["orders"], frames["events"], frames["marketing_touches"]

    def rows(source: str, user: str) -> pd.DataFrame:
        return frames[source][frames[source].user_id == user]

    assert all(rows(s, "e0000001").empty for s in SOURCES if s != "users")
    e2 = rows("orders", "e0000002").sort_values("order_ts")
    assert e2.order_ts.tolist() == BOUNDARY and e2.amount.tolist() == [101.0 + k for k in range(8)]
    assert (e2.status == "completed").all()
    e3 = rows("events", "e0000003")
    assert sorted(e3.event_ts) == BOUNDARY and (e3.event_type == "page_view").all()
    assert sorted(rows("marketing_touches", "e0000004").touch_ts) == BOUNDARY
    e5 = rows("orders", "e0000005")
    assert e5.order_ts.nunique() == 1 and sorted(e5.amount) == [88.0, 288.0]
    assert pd.isna(users.loc["e0000006", "birthday"]) and pd.isna(users.loc["e0000006", "city"])
    birthday = users.loc["e0000007", "birthday"]
    assert (birthday.month, birthday.day) == (EDGE.month, EDGE.day)
    assert users.loc["e0000008", "registered_at"] == _at(EDGE)
    assert users.loc["e0000009", "registered_at"] == _at(EDGE, 1)
    assert set(rows("orders", "e0000010").status) == {"cancelled"}
    assert "refunded" in set(rows("orders", "e0000011").status)
    for user in EDGE_USERS:  # only hand-placed rows: nothing before registration, nothing random
        assert (users.loc[user, "registered_at"] == _at(EDGE, -200, pd.Timedelta(hours=9.5))
                or user in ("e0000008", "e0000009"))
    assert len(orders[orders.user_id.str.startswith("e")]) == 15
    assert len(events[events.user_id.str.startswith("e")]) == 10
    assert len(touches[touches.user_id.str.startswith("e")]) == 8


def test_rerun_into_same_folder_replaces(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = generate_demo_data(out, seed=7, **SMALL)
    (out / "unrelated").mkdir()
    stale = out / "events" / "dt=1999-01-01"
    stale.mkdir()
    assert generate_demo_data(out, seed=7, **SMALL) == first
    assert not stale.exists() and (out / "unrelated").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([*SOURCES, "unrelated"])
    orders = _read(out, "orders")
    assert len(orders) == first["orders"] and orders.order_id.is_unique
    for name in SOURCES:
        assert len(_files(out, name)) == len(_files(demo[0], name))


def test_failed_run_keeps_previous_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "demo"
    small = {**SMALL, "n_users": 300, "days": 40}
    generate_demo_data(out, seed=1, **small)
    before = _read(out, "orders")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "generate_touches", boom)
    with pytest.raises(RuntimeError):
        generate_demo_data(out, seed=2, **small)
    assert _read(out, "orders").equals(before)
    assert sorted(p.name for p in out.iterdir()) == sorted(SOURCES)


@pytest.mark.parametrize("kwargs", [
    {"days": 31}, {"n_users": 0}, {"edge_date": END}, {"edge_date": END - dt.timedelta(days=DAYS - 30)},
])
def test_invalid_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path, **{**SMALL, **kwargs})
    assert not any(tmp_path.iterdir())


def test_edge_date_parameter(tmp_path: Path) -> None:
    edge = END - dt.timedelta(days=10)
    generate_demo_data(tmp_path, n_users=200, end_date=END, days=45, edge_date=edge, progress=None)
    orders = _read(tmp_path, "orders")
    assert orders[orders.user_id == "e0000002"].order_ts.max() == _at(edge, 1)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--users", "200", "--days", "40", "--end-date", "2026-01-31",
                 "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}:" in out for name in SOURCES) and "done:" in out
    assert _read(tmp_path, "events").dt.max() == dt.date(2026, 1, 31)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--end-date", "yesterday"])
    assert np.all(_read(tmp_path, "users").user_id.str.len() == 8)
