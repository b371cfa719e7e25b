"""`plan --preview` on small generated data, compared with an independent pandas computation.

The change under test widens `orders_30d` and `orders_90d` from completed orders to completed or
refunded ones (so the tags computed from `orders_90d` change too) and moves a `value_tier` threshold. The preview's statistics
and its "value differs for N rows" count must match what pandas computes from the raw sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from tests.integration.conftest import EDGE_DATE, REPO
from tests.oracle.pandas_oracle import ORACLE, Context, agg_count, load_sources

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def _widen_filter(text: str, tag: str) -> str:
    """Count refunded orders too in ``tag`` (the first filter after its name)."""
    start = text.index(f"- name: {tag}\n")
    old = "filter: \"status = 'completed'\""
    at = text.index(old, start)
    assert at < text.index("- name:", start + 1), f"{tag} has no completed-status filter"
    return text[:at] + "filter: \"status IN ('completed', 'refunded')\"" + text[at + len(old):]


def _head_definitions(tmp_path: Path) -> Path:
    root = tmp_path / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions", root)
    path = root / "tags" / "consumption.yaml"
    text = path.read_text(encoding="utf-8")
    for tag in ("orders_30d", "orders_90d"):
        text = _widen_filter(text, tag)
    assert 'when: "gmv_365d >= 500"' in text
    text = text.replace('when: "gmv_365d >= 500"', 'when: "gmv_365d >= 800"')
    path.write_text(text, encoding="utf-8")
    return root


def test_preview_matches_an_independent_computation(spark: SparkSession, demo_data: Path, tmp_path: Path) -> None:
    from tagfactory.compiler.diff import diff_projects
    from tagfactory.compiler.project import load_project
    from tagfactory.lakehouse.store import open_store
    from tagfactory.pipeline.preview import run_preview
    from tagfactory.settings import load_settings

    base, _ = load_project(REPO / "tag_definitions")
    head, _ = load_project(_head_definitions(tmp_path))
    diff = diff_projects(base, head)
    changed = {c.name for c in diff.tags}
    assert changed == {"orders_30d", "orders_90d", "value_tier"}
    settings = load_settings(overrides={"sources_root": str(demo_data), "warehouse": str(tmp_path / "wh")})
    preview = run_preview(spark, settings, base, head, diff, EDGE_DATE, str(demo_data),
                          tables=open_store(settings, spark))

    ctx = Context(load_sources(demo_data), EDGE_DATE)
    before = ORACLE["orders_30d"](ctx)
    after = agg_count(ctx, "orders", "30d", lambda f: f["status"].isin(["completed", "refunded"]))
    item = preview["tags"]["orders_30d"]
    assert preview["rows"] == len(ctx.index)
    assert item["compared"] == len(ctx.index)
    assert item["changed"] == int((before != after).sum()) > 0
    for side, expected in (("base", before), ("head", after)):
        stats = item[side]
        assert stats["coverage"] == pytest.approx(expected.notna().mean())
        assert stats["distinct"] == expected.nunique()
        assert stats["quantiles"]["max"] == expected.max()
        assert stats["quantiles"]["mean"] == pytest.approx(float(expected.mean()))

    gmv = ORACLE["gmv_365d"](ctx).astype("float64").fillna(0.0)

    def tier(medium: float) -> pd.Series:
        return pd.Series(
            ["vip" if g >= 10000 else "high" if g >= 3000 else "medium" if g >= medium else "low" if g > 0 else "none"
             for g in gmv], index=gmv.index)

    tiers_before, tiers_after = tier(500), tier(800)
    assert tiers_before.equals(ORACLE["value_tier"](ctx).astype(object))  # the oracle agrees with the rule
    item = preview["tags"]["value_tier"]
    assert item["changed"] == int((tiers_before != tiers_after).sum()) > 0
    for side, expected in (("base", tiers_before), ("head", tiers_after)):
        top = {t["value"]: t["count"] for t in item[side]["top"]}
        counts = expected.value_counts()
        assert top == {k: int(counts[k]) for k in top}
        assert item[side]["distinct"] == expected.nunique()

    # unchanged tags downstream of a changed one are previewed too
    downstream = [n for n, i in preview["tags"].items() if i["change"] == "downstream"]
    assert downstream == diff.affected == ["aov_90d", "coupon_usage_rate_90d", "coupon_sensitivity"]
    assert all(preview["tags"][n]["base"] and preview["tags"][n]["head"] for n in downstream)
    assert preview["tags"]["aov_90d"]["changed"] > 0
