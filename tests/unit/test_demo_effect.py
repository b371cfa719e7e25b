"""The demo's known effect (tagfactory/demo/_effect.py): the hash matches the compiled scene, and
only the planted days of orders and order lines differ from a generation without it (no Spark)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.project import load_project
from tagfactory.demo import _effect
from tagfactory.demo import generate as gen

REPO = Path(__file__).resolve().parents[2]
END = dt.date(2026, 11, 24)
SMALL = {"n_users": 400, "end_date": END, "days": 45, "seed": 5, "progress": None}


def test_the_planted_scene_is_the_compiled_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    project, _ = load_project("tag_definitions")
    scene = next(s for s in build_manifest(project, "tag_definitions").entity("user").scenes
                 if s.name == _effect.PLANTED.scene)
    assert (scene.salt, scene.holdout) == (_effect.PLANTED.salt, _effect.PLANTED.holdout)
    assert {b.name: b.control for b in scene.branches if b.control > 0} == _effect.PLANTED.controls
    assert scene.analysis is not None and "orders_next_day" in [g.name for g in scene.analysis.goals]


def test_unit_is_the_first_15_hex_digits_of_sha256_over_16_pow_15() -> None:
    import hashlib

    digest = hashlib.sha256(b"salt:holdout:u0000001").hexdigest()
    assert _effect.unit("salt", "holdout", "u0000001") == int(digest[:15], 16) / 16**15
    share = _effect.boosted([f"u{i:07d}" for i in range(1, 4001)]).mean()
    assert abs(share - 0.95 * 0.9) < 0.03  # not in the 5% holdout, not in winback's 10% control


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_only_the_planted_days_of_orders_and_lines_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_effect = tmp_path / "with"
    gen.generate_demo_data(with_effect, **SMALL)  # type: ignore[arg-type]
    real = gen.effect_orders

    def none(*args: object, **kwargs: object) -> dict[str, np.ndarray]:
        rows = real(*args, **kwargs)  # type: ignore[arg-type]
        return {k: v[:0] for k, v in rows.items()}

    monkeypatch.setattr(gen, "effect_orders", none)
    without = tmp_path / "without"
    gen.generate_demo_data(without, **SMALL)  # type: ignore[arg-type]
    a, b = _files(with_effect), _files(without)
    days = [d.isoformat() for d in _effect.plant_days(END - dt.timedelta(days=1))]
    differ = sorted(name for name in a if a[name] != b.get(name))
    assert set(a) == set(b)
    assert differ == sorted(f"{src}/dt={d}/part-00000.parquet" for src in ("order_items", "orders") for d in days)
    for day in days:
        planted = pq.read_table(with_effect / "orders" / f"dt={day}").to_pandas()
        plain = pq.read_table(without / "orders" / f"dt={day}").to_pandas()
        kept = planted[planted.order_id.isin(set(plain.order_id))].reset_index(drop=True)
        assert kept.equals(plain.reset_index(drop=True))
        extra = planted[~planted.order_id.isin(set(plain.order_id))]
        assert len(extra) > 0 and (extra.status == "completed").all()
        assert _effect.boosted(list(extra.user_id)).all()
