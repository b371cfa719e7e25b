"""The catalog's model: the manifest read leniently, the lineage graph, definition snippets, PSI and
the warehouse read with delta-rs (missing tables are empty).

The helpers :func:`compiled`, :func:`write_tables` (the shipped definitions compiled, a tiny
warehouse written with delta-rs) and :func:`effect_rows` are shared with test_catalog_render.py and
tests/integration/test_catalog_browser.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tagfactory.catalog.lineage import build_graph
from tagfactory.catalog.model import Definitions, load_catalog, read_manifest_lenient
from tagfactory.catalog.warehouse import read_warehouse
from tagfactory.quality.psi_math import population_stability_index as psi
from tagfactory.settings import Settings, load_settings
from tests.unit.definitions import REPO

DEFS = REPO / "tag_definitions"
DAYS = [dt.date(2026, 11, 22), dt.date(2026, 11, 23), dt.date(2026, 11, 24)]


def compiled(target: Path) -> Path:
    """The shipped definitions compiled under ``target``; the manifest file."""
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    project, _ = load_project(DEFS)
    return write_manifest(build_manifest(project, DEFS), target)


def _write(uri: Path, kind: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from tagfactory.contracts.tables import table_spec
    from tagfactory.lakehouse.schemas import arrow_schema

    schema = arrow_schema(table_spec(kind, "user"))  # type: ignore[arg-type]
    write_deltalake(str(uri), pa.Table.from_pylist(rows, schema=schema), partition_by=["dt"])


# the home_popup scene's effect series written to effect_results_user: (goal, role, comparison,
# sequential, [(treatment users, converted, baseline users, converted) per day of DAYS; None: no users yet])
EFFECT_SERIES: list[tuple[str, str, str, bool, list[tuple[int, int, int, int] | None]]] = [
    ("orders_next_day", "primary", "vip_thanks:treatment_vs_holdout", False,
     [(400, 40, 40, 3), (900, 95, 80, 6), (1500, 160, 130, 10)]),
    ("order_conversion_7d", "primary", "winback:treatment_vs_control", True,
     [None, (600, 90, 70, 8), (1200, 200, 140, 14)]),
    ("refund_rate_7d", "guardrail", "winback:treatment_vs_control", False,
     [(300, 6, 40, 1), (600, 11, 70, 1), (1200, 22, 140, 3)]),
]
COST_PER_TOUCH = 0.05


def effect_rows() -> list[dict[str, Any]]:
    """Result rows of home_popup computed here from counts (two-proportion Wald, the always-valid
    interval of the sequential goal, incremental conversions and their cost), like the driver writes
    them; plus a slice row of the last day (the catalog shows totals only)."""
    from tagfactory.effects.estimates import difference_in_proportions
    from tagfactory.effects.impact import cost_per_incremental, incremental
    from tagfactory.effects.sequential import confidence_sequence
    from tagfactory.effects.suffstats import MeanStats

    rows: list[dict[str, Any]] = []
    for goal, role, comparison, sequential, days in EFFECT_SERIES:
        looks = []
        for day, counts in zip(DAYS, days, strict=True):
            row: dict[str, Any] = {"scene": "home_popup", "goal": goal, "role": role, "metric_type": "conversion",
                                   "comparison": comparison, "kind": comparison.split(":")[1],
                                   "branch": comparison.split(":")[0], "slice_tag": None,
                                   "slice_value": None, "alpha": 0.05, "correction": "bh", "dt": day}
            if counts is None:
                rows.append({**row, "status": "no_users", "n_treatment": 0, "n_baseline": 0, "significant": False})
                continue
            nt, ct, nb, cb = counts
            est = difference_in_proportions(MeanStats(nt, ct, ct), MeanStats(nb, cb, cb), metric=goal,
                                            comparison=comparison)
            inc = incremental(est)
            cost = COST_PER_TOUCH * nt * 2
            per = cost_per_incremental(cost, inc)
            row |= {"status": "ok", "method": "wald", "n_treatment": nt, "n_baseline": nb,
                    "mean_treatment": est.mean_treatment, "mean_baseline": est.mean_control, "effect": est.effect,
                    "se": est.se, "ci_low": est.ci_low, "ci_high": est.ci_high, "p_value": est.p_value,
                    "q_value": min(1.0, est.p_value * 2), "relative": est.relative, "rel_ci_low": est.rel_ci_low,
                    "rel_ci_high": est.rel_ci_high, "trusted": goal != "refund_rate_7d" or day != DAYS[-1],
                    "incremental": inc.value, "incremental_low": inc.ci_low, "incremental_high": inc.ci_high,
                    "touches": nt * 2, "reach": nt, "cost": cost, "currency": "CNY",
                    "cost_per_incremental": per.value, "cost_per_incremental_low": per.ci_low,
                    "cost_per_incremental_high": per.ci_high}
            row["significant"] = bool(row["q_value"] <= 0.05 and not row["ci_low"] <= 0 <= row["ci_high"])
            if sequential:
                looks.append(est)
                seq = confidence_sequence([x.effect for x in looks], [x.se for x in looks], tau2=0.001)[-1]
                row |= {"seq_ci_low": seq.ci_low, "seq_ci_high": seq.ci_high, "seq_p_value": seq.p_value,
                        "tau2": 0.001}
                row["significant"] = bool(row["q_value"] <= 0.05 and not seq.ci_low <= 0 <= seq.ci_high)
            rows.append(row)
    last = next(r for r in reversed(rows) if r["goal"] == "orders_next_day")
    rows.append({**last, "slice_tag": "value_tier", "slice_value": "high", "effect": 0.5})
    return rows


def write_tables(warehouse: Path) -> None:
    """A tiny warehouse: three snapshots of statistics for a few tags, a quality run, audience sizes, the
    effect results of home_popup."""
    stats, quality, sizes = [], [], []
    for i, day in enumerate(DAYS):
        rows = 1000 + 10 * i
        stats.append({"tag": "gmv_365d", "value_type": "double", "category": "consumption/spend", "rows": rows,
                      "non_null": rows - 5, "null_count": 5, "coverage": (rows - 5) / rows, "approx_distinct": 700 + i,
                      "min_value": "0.0", "max_value": "4999.0", "mean": 812.5 + i, "top_values": None,
                      "histogram": json.dumps({"edges": [10.0, 100.0, 500.0], "shares": {
                          "b0": 0.2, "b1": 0.3, "b2": 0.3, "b3": 0.2}}), "dt": day})
        stats.append({"tag": "gender", "value_type": "enum", "category": "basic/demographics", "rows": rows,
                      "non_null": rows, "null_count": 0, "coverage": 1.0, "approx_distinct": 3, "min_value": "female",
                      "max_value": "unknown", "mean": None, "histogram": None,
                      "top_values": json.dumps([["female", 480 + 5 * i], ["male", 470], ["unknown", 50 + 5 * i]]),
                      "dt": day})
        stats.append({"tag": "phone_masked", "value_type": "string", "category": "basic/contact", "rows": rows,
                      "non_null": rows, "null_count": 0, "coverage": 1.0, "approx_distinct": rows,
                      "min_value": "130****0001", "max_value": "199****9999", "mean": None, "histogram": None,
                      "top_values": json.dumps([["138****1234", 2]]), "dt": day})
        quality.append({"run_id": f"run-{i}", "dataset": "profile_user", "suite": "profile_user",
                        "expectation": "gmv_365d.drift", "expectation_type": "expect_column_psi_to_be_less_than",
                        "column": "gmv_365d", "severity": "warn", "success": True, "observed_value": str(0.01 * i),
                        "unexpected_count": None, "unexpected_percent": None, "element_count": rows,
                        "details": None, "recorded_at": dt.datetime(2026, 12, 1, 3, i, tzinfo=dt.UTC), "dt": day})
        quality.append({"run_id": f"run-{i}", "dataset": "source:orders", "suite": "source_orders",
                        "expectation": "orders.amount.mean_in_cny_range",
                        "expectation_type": "expect_column_mean_to_be_between", "column": "amount", "severity": "warn",
                        "success": i != 1, "observed_value": "321.5", "unexpected_count": None,
                        "unexpected_percent": None, "element_count": 5000, "details": None,
                        "recorded_at": dt.datetime(2026, 12, 1, 3, i, tzinfo=dt.UTC), "dt": day})
        sizes.append({"audience": "high_value_customers", "kind": "rule", "size": 150 + 3 * i,
                      "previous_dt": DAYS[i - 1] if i else None, "previous_size": 150 + 3 * (i - 1) if i else None,
                      "added": 7 if i else 150, "removed": 4 if i else 0, "change": 0.02 if i else None,
                      "list_unknown": None, "dt": day})
    _write(warehouse / "tag_stats_user", "tag_stats", stats)
    _write(warehouse / "quality_results", "quality_results", quality)
    _write(warehouse / "audience_stats_user", "audience_stats", sizes)
    _write(warehouse / "effect_results_user", "effect_results", effect_rows())


def settings_for(tmp: Path, warehouse: Path) -> Settings:
    return load_settings(None, {"definitions": str(DEFS), "target": str(tmp / "target"), "warehouse": str(warehouse),
                                "sources_root": str(tmp / "no-sources")})


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compiled(tmp_path_factory.mktemp("catalog-model") / "target")


@pytest.mark.parametrize("column_lineage", [True, False], ids=["compiler-lineage", "inferred-from-sql"])
def test_the_graph_joins_sources_tags_audiences_scenes_and_exports(manifest_file: Path, tmp_path: Path,
                                                                   column_lineage: bool) -> None:
    raw = json.loads(manifest_file.read_text(encoding="utf-8"))
    assert raw["column_lineage"]  # the compiler writes it
    if not column_lineage:  # a manifest of before the column lineage: edges inferred from the compiled SQL
        raw.pop("column_lineage")
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    manifest, lineage = read_manifest_lenient(tmp_path / "manifest.json")
    assert bool(lineage) == column_lineage
    g = build_graph(manifest, lineage)
    # gmv_365d sums orders.amount of completed orders: both columns are upstream
    assert {"column:orders.amount", "column:orders.status"} <= set(g.inputs("tag:gmv_365d", "column"))
    assert "source:orders" in g.walk("tag:gmv_365d", "up")
    down = g.walk("tag:value_tier", "down")
    assert "audience:high_value_customers" in down and "scene:home_popup" in down
    assert "export:crm_high_value_daily" in down
    # an export's source columns are upstream of it (phone hashed for the CRM)
    assert "column:users.phone" in g.inputs("export:crm_high_value_daily", "column")
    assert g.column_level == column_lineage


def test_column_lineage_of_the_manifest_is_used_when_present(manifest_file: Path, tmp_path: Path) -> None:
    raw = json.loads(manifest_file.read_text(encoding="utf-8"))
    raw["column_lineage"] = [{"node": "tag:gmv_365d", "column": "gmv_365d", "direct": [], "sources": [
        {"node": "source:orders", "column": "amount", "type": "DIRECT", "subtype": "AGGREGATION", "masking": False},
        {"node": "source:orders", "column": "status", "type": "INDIRECT", "subtype": "FILTER", "masking": False}]}]
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    manifest, lineage = read_manifest_lenient(tmp_path / "manifest.json")
    g = build_graph(manifest, lineage)
    assert g.column_level
    assert g.inputs("tag:gmv_365d", "column") == ["column:orders.amount", "column:orders.status"]
    assert g.edges[("column:orders.status", "tag:gmv_365d")] == "gmv_365d: INDIRECT/FILTER"


def test_definition_snippets_stop_at_the_next_item(tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "t.yaml").write_text("tags:\n  - name: a\n    kind: x\n\n    sql: |\n      SELECT 1\n"
                                              "  - name: b\n    kind: y\n", encoding="utf-8")
    defs = Definitions([tmp_path])
    assert defs.snippet("defs/t.yaml:2") == ("defs/t.yaml", 2, "- name: a\n  kind: x\n\n  sql: |\n    SELECT 1")
    assert defs.snippet("defs/t.yaml:7")[2] == "- name: b\n  kind: y"
    assert defs.snippet("missing.yaml:3") == ("missing.yaml", 3, None)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    base = {"a": 0.5, "b": 0.5}
    assert psi(base, base) == 0.0
    assert 0 < psi(base, {"a": 0.6, "b": 0.4}) < psi(base, {"a": 0.9, "b": 0.1})


def test_without_a_warehouse_every_table_is_empty(manifest_file: Path, tmp_path: Path) -> None:
    cat = load_catalog(manifest_file, lambda m: read_warehouse(settings_for(tmp_path, tmp_path / "none"), m))
    assert cat.warehouse.tables_read == [] and cat.warehouse.tag_stats == {}
    assert len(cat.tags) > 90 and "orders" in cat.sources


def test_the_warehouse_is_read_with_delta_rs(manifest_file: Path, tmp_path: Path) -> None:
    write_tables(tmp_path / "wh")
    cat = load_catalog(manifest_file, lambda m: read_warehouse(settings_for(tmp_path, tmp_path / "wh"), m, snapshots=2))
    assert sorted(cat.warehouse.tables_read) == ["audience_stats_user", "effect_results_user", "quality_results",
                                                 "tag_stats_user"]
    assert [r["dt"] for r in cat.warehouse.tag_stats["gmv_365d"]] == DAYS[1:]  # the last 2 snapshots
    entity, tag = cat.tags["gmv_365d"]
    points, how = cat.psi_series(entity, tag)
    assert how == "quality gate" and [v for _, v in points] == [0.01, 0.02]
    points, how = cat.psi_series(*cat.tags["gender"])
    assert how.startswith("top values") and points[0][1] is not None and points[0][1] > 0
    assert [r["expectation"] for r in cat.warehouse.quality_of("source:orders")] == ["orders.amount.mean_in_cny_range"]
    # the effect results: the total rows of every date (not cut to `snapshots`), oldest first, primary goals first
    effects = cat.warehouse.effect_results["home_popup"]
    assert len(effects) == sum(len(days) for *_, days in EFFECT_SERIES) and list(cat.warehouse.effect_results) == [
        "home_popup"]
    assert all(r["slice_tag"] is None for r in effects) and [r["dt"] for r in effects] == sorted(r["dt"] for r in effects)
    assert [(r["role"], r["goal"]) for r in effects if r["dt"] == DAYS[0]] == [
        ("primary", "order_conversion_7d"), ("primary", "orders_next_day"), ("guardrail", "refund_rate_7d")]
