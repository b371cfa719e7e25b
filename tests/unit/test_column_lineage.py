"""Column lineage computed by the compiler: each tag kind, audiences, scenes, exports, the
transitive resolution, masking, PII by lineage and the ``tagfactory lineage`` command.

The definitions are ``tests/fixtures/lineage/lineage.yaml`` over the repository's sources; every
expectation below is written by hand from that file (not produced by the code under test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagfactory.cli import main
from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.manifest import ColumnLineage, Manifest, read_manifest, write_manifest
from tagfactory.compiler.project import check_project
from tagfactory.compiler.sqllineage import Edge, combine
from tests.unit.definitions import REPO, definitions_with

FIXTURE = REPO / "tests" / "fixtures" / "lineage" / "lineage.yaml"
DIR, IND = "DIRECT", "INDIRECT"


def _set(*rows: tuple[str, str, str, str] | tuple[str, str, str, str, bool]) -> set[tuple[str, str, str, str, bool]]:
    return {(*r, False) if len(r) == 4 else r for r in rows}  # type: ignore[misc]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    root = definitions_with(tmp_path_factory.mktemp("lineage"), FIXTURE)
    project, diagnostics = check_project(root)
    assert project is not None, [d.format() for d in diagnostics]
    return build_manifest(project, root)


def _entry(manifest: Manifest, node: str, column: str) -> ColumnLineage:
    found = [c for c in manifest.column_lineage if c.node == node and c.column == column]
    assert found, f"no lineage for {node}.{column}"
    return found[0]


def _direct(manifest: Manifest, node: str, column: str) -> set[tuple[str, str, str, str, bool]]:
    return {(i.node, i.column, i.type, i.subtype, i.masking) for i in _entry(manifest, node, column).direct}


def _sources(manifest: Manifest, node: str, column: str) -> set[tuple[str, str, str, str, bool]]:
    return {(i.node, i.column, i.type, i.subtype, i.masking) for i in _entry(manifest, node, column).sources}


# the point-in-time cut of orders (window and snapshot): its time and partition columns
ORDERS_CUT = [("source:orders", "order_ts", IND, "FILTER"), ("source:orders", "dt", IND, "FILTER")]
ORDERS_KEY = ("source:orders", "user_id", IND, "GROUP_BY")


def test_aggregate_value_filter_key_and_window(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:gmv_30d", "gmv_30d") == _set(
        ("source:orders", "amount", DIR, "AGGREGATION"),
        ("source:orders", "status", IND, "FILTER"), ("source:orders", "channel", IND, "FILTER"),
        ORDERS_KEY, *ORDERS_CUT)


def test_count_without_column_has_no_direct_input(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:orders_7d", "orders_7d") == _set(ORDERS_KEY, *ORDERS_CUT)


def test_last_sorts_by_time_and_days_since_last_aggregates_it(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:last_channel", "last_channel") == _set(
        ("source:orders", "channel", DIR, "AGGREGATION"), ("source:orders", "order_ts", IND, "SORT"),
        ORDERS_KEY, *ORDERS_CUT)
    assert _direct(manifest, "tag:days_since_order", "days_since_order") == _set(
        ("source:orders", "order_ts", DIR, "AGGREGATION"), ORDERS_KEY, *ORDERS_CUT)


def test_attribute_identity_and_transformation(manifest: Manifest) -> None:
    population = ("source:users", "registered_at", IND, "FILTER")
    assert _direct(manifest, "tag:city_name", "city_name") == _set(("source:users", "city", DIR, "IDENTITY"), population)
    assert _direct(manifest, "tag:email_domain", "email_domain") == _set(
        ("source:users", "email", DIR, "TRANSFORMATION"), population)


def test_derived_transformation_and_condition(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:avg_order_value", "avg_order_value") == _set(
        ("tag:gmv_30d", "gmv_30d", DIR, "TRANSFORMATION"), ("tag:orders_7d", "orders_7d", DIR, "TRANSFORMATION"),
        ("tag:orders_7d", "orders_7d", IND, "CONDITIONAL"))


def test_rule_reads_its_conditions(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:value_band", "value_band") == _set(("tag:gmv_30d", "gmv_30d", IND, "CONDITIONAL"))


def test_sql_tag_query_clauses(manifest: Manifest) -> None:
    assert _direct(manifest, "tag:coupon_orders", "coupon_orders") == _set(
        ("source:orders", "order_id", DIR, "AGGREGATION"), ("source:orders", "coupon_id", IND, "FILTER"),
        ORDERS_KEY, *ORDERS_CUT)


def test_transitive_resolution_combines_hops(manifest: Manifest) -> None:
    # value_band <- gmv_30d (INDIRECT CONDITIONAL): every source column behind gmv_30d is a condition
    assert _sources(manifest, "tag:value_band", "value_band") == _set(
        ("source:orders", "amount", IND, "CONDITIONAL"), ("source:orders", "status", IND, "CONDITIONAL"),
        ("source:orders", "channel", IND, "CONDITIONAL"), ("source:orders", "user_id", IND, "CONDITIONAL"),
        ("source:orders", "order_ts", IND, "CONDITIONAL"), ("source:orders", "dt", IND, "CONDITIONAL"))
    # avg_order_value <- gmv_30d (DIRECT TRANSFORMATION) <- amount (DIRECT AGGREGATION): DIRECT AGGREGATION
    avg = _sources(manifest, "tag:avg_order_value", "avg_order_value")
    assert ("source:orders", "amount", DIR, "AGGREGATION", False) in avg
    assert ("source:orders", "status", IND, "FILTER", False) in avg
    assert not any(row[2] == DIR and row[1] != "amount" for row in avg)
    # a derived tag over a derived tag over an attribute
    assert _sources(manifest, "tag:mail_host", "mail_host") == _set(
        ("source:users", "email", DIR, "TRANSFORMATION"), ("source:users", "registered_at", IND, "FILTER"))


def test_combine_rules() -> None:
    agg = Edge("tag:a", "a", DIR, "AGGREGATION")
    assert combine(Edge("x", "y", DIR, "IDENTITY"), agg) == Edge("tag:a", "a", DIR, "AGGREGATION")
    assert combine(Edge("x", "y", IND, "FILTER"), Edge("s", "c", IND, "GROUP_BY")) == Edge("s", "c", IND, "FILTER")
    assert combine(Edge("x", "y", DIR, "TRANSFORMATION", True), Edge("s", "c", IND, "SORT")) == \
        Edge("s", "c", IND, "SORT", True)


def test_audiences(manifest: Manifest) -> None:
    key = ("source:users", "user_id", DIR, "IDENTITY")
    assert _direct(manifest, "audience:big", "user_id") == _set(key, ("tag:gmv_30d", "gmv_30d", IND, "FILTER"))
    assert _direct(manifest, "audience:big_high", "user_id") == _set(
        key, ("audience:big", "user_id", IND, "FILTER"), ("tag:value_band", "value_band", IND, "FILTER"))
    assert _direct(manifest, "audience:sql_buyers", "user_id") == _set(key, ("tag:orders_7d", "orders_7d", IND, "FILTER"))
    assert ("source:orders", "amount", IND, "FILTER", False) in _sources(manifest, "audience:big_high", "user_id")


def test_scene(manifest: Manifest) -> None:
    assert _direct(manifest, "scene:popup", "user_id") == _set(
        ("audience:big_high", "user_id", DIR, "IDENTITY"), ("audience:sql_buyers", "user_id", DIR, "IDENTITY"))
    assert _direct(manifest, "scene:popup", "branch") == _set(
        ("audience:big_high", "user_id", IND, "CONDITIONAL"), ("audience:sql_buyers", "user_id", IND, "CONDITIONAL"))


def test_export_columns_and_masking(manifest: Manifest) -> None:
    rows = [("audience:big", "user_id", IND, "FILTER"), ("audience:sql_buyers", "user_id", IND, "FILTER")]
    assert _direct(manifest, "export:crm", "user_id") == _set(("audience:big", "user_id", DIR, "IDENTITY"), rows[1])
    assert _direct(manifest, "export:crm", "gmv") == _set(("tag:gmv_30d", "gmv_30d", DIR, "IDENTITY"), *rows)
    assert _direct(manifest, "export:crm", "email_hash") == _set(
        ("source:users", "email", DIR, "TRANSFORMATION", True), *rows)
    # masking follows the path down to the source column
    host = _sources(manifest, "export:crm", "host")
    assert ("source:users", "email", DIR, "TRANSFORMATION", True) in host
    assert ("source:users", "registered_at", IND, "FILTER", True) in host  # through the masked tag too
    assert ("source:orders", "amount", IND, "FILTER", False) in host  # the selected rows: not through the mask
    assert ("source:users", "email", DIR, "TRANSFORMATION", False) not in host


def test_lineage_is_sorted_and_in_the_digest(manifest: Manifest, tmp_path: Path) -> None:
    keys = [(c.node, c.column) for c in manifest.column_lineage]
    assert keys == sorted(keys)
    for entry in manifest.column_lineage:
        assert entry.direct == sorted(entry.direct, key=lambda i: (i.node, i.column, i.type, i.subtype, i.masking))
    read = read_manifest(write_manifest(manifest, tmp_path))
    assert read.column_lineage == manifest.column_lineage
    tampered = manifest.model_copy(update={"column_lineage": manifest.column_lineage[1:]})
    assert tampered.computed_digest() != manifest.digest


def test_pii_follows_lineage(manifest: Manifest) -> None:
    tags = {t.name: t for t in manifest.entity("user").tags}
    assert tags["email_domain"].pii  # computed from users.email (pii)
    assert tags["mail_host"].pii  # through email_domain
    assert not tags["email_tld"].pii and tags["email_tld"].pii_reason
    assert not tags["gmv_30d"].pii


def _case(tmp_path: Path, text: str) -> list[str]:
    extra = tmp_path / "case.yaml"
    extra.write_text(text, encoding="utf-8")
    project, diagnostics = check_project(definitions_with(tmp_path, extra))
    assert project is None
    return [d.format() for d in diagnostics]


TAG = """
  - name: {name}
    display_name: X
    description: A test tag.
    owner: test
    category: basic
    kind: {kind}
    type: string
"""


def test_pii_false_without_reason_is_an_error(tmp_path: Path) -> None:
    text = "tags:" + TAG.format(name="domain", kind="attribute") + "    pii: false\n    expr: \"upper(email)\"\n"
    got = _case(tmp_path, text)
    assert any("error[E305]: tag `domain` says `pii: false`, but it is computed from a pii source column: "
               "tag:domain <- source:users.email (pii)" in g for g in got), got


def test_pii_reason_without_pii_false_is_an_error(tmp_path: Path) -> None:
    text = "tags:" + TAG.format(name="domain", kind="attribute") + "    pii_reason: because it is coarse\n" \
        "    expr: \"upper(city)\"\n"
    got = _case(tmp_path, text)
    assert any("error[E305]: tag `domain`: `pii_reason` explains `pii: false`" in g for g in got), got


def test_export_of_a_tag_pii_by_lineage_needs_a_treatment(tmp_path: Path) -> None:
    text = ("tags:" + TAG.format(name="domain", kind="attribute") + "    expr: \"upper(email)\"\n"
            + TAG.format(name="host", kind="derived") + "    expr: \"lower(domain)\"\n" + """
audiences:
  - {name: all_users, display_name: All, description: Everyone., owner: test, rule: {tag: domain, op: is_not_null}}
exports:
  - name: crm_daily
    display_name: CRM
    description: A test export.
    owner: test
    consumer: {system: crm, team: crm-ops, contact: crm@example.com}
    purpose: Testing.
    what: {kind: members, audiences: [all_users]}
    columns:
      - {name: user_id, from: key}
      - {name: host, from: tag.host}
    destinations:
      - {kind: files, name: drop, path: crm, format: csv}
""")
    got = _case(tmp_path, text)
    assert any("error[E807]: export `crm_daily`: column `host`: PII by lineage: tag:host <- tag:domain <- "
               "source:users.email (pii); it states no treatment" in g for g in got), got


# --- the command -------------------------------------------------------------------------------

def _cli(tmp_path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    root = tmp_path / "tag_definitions"
    if not root.exists():
        definitions_with(tmp_path, FIXTURE)
    code = main(["lineage", *args, "--definitions", str(root), "--target", str(tmp_path / "target")])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_upstream_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(tmp_path, "value_band", "--upstream", capsys=capsys)
    assert code == 0
    assert "compiled" in err  # no manifest yet: compiled first
    lines = out.splitlines()
    assert lines[0] == "tag:value_band  upstream"
    assert lines[1] == "└── tag:gmv_30d  [INDIRECT CONDITIONAL]"
    assert lines[2] == "    ├── source:orders.amount  [DIRECT AGGREGATION]"
    assert "    source:orders.amount  INDIRECT CONDITIONAL" in lines
    code, out, err = _cli(tmp_path, "crm.host", "--upstream", capsys=capsys)
    assert code == 0 and "compiled" not in err  # the manifest is fresh now
    assert out.splitlines()[0] == "export:crm.host  upstream"
    assert out.splitlines()[1] == "├── tag:mail_host  (pii) [DIRECT TRANSFORMATION, masking]"
    assert "    source:users.email  DIRECT TRANSFORMATION, masking" in out.splitlines()


def test_cli_downstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(tmp_path, "gmv_30d", "--downstream", capsys=capsys)
    assert code == 0
    last = out.splitlines()[-1]
    assert last == ("  read by 13: audience:big.user_id, audience:big_high.user_id, export:crm.email_hash, "
                    "export:crm.gmv, export:crm.host, export:crm.user_id, scene:popup.branch, scene:popup.group, "
                    "scene:popup.payload, scene:popup.user_id, scene:popup.variant, "
                    "tag:avg_order_value, tag:value_band")
    code, out, _ = _cli(tmp_path, "users.email", "--downstream", "--format", "json", capsys=capsys)
    data = json.loads(out)
    assert data[0]["target"] == "source:users.email"
    assert "export:crm.email_hash" in data[0]["downstream"]["reached"]
    assert "tag:mail_host" in data[0]["downstream"]["reached"]


def test_cli_unknown_name_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(tmp_path, "gmv_3d", capsys=capsys)
    assert code == 1
    assert "unknown tag, audience, scene, export, effect table or source `gmv_3d`: did you mean `gmv_30d`?" in err
    code, _, err = _cli(tmp_path, "crm.hots", capsys=capsys)
    assert code == 1 and "export:crm has no column `hots`: did you mean `host`?" in err


def test_cli_recompiles_a_stale_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(tmp_path, "gmv_30d", "--upstream", capsys=capsys)
    manifest = tmp_path / "target" / "manifest.json"
    old = manifest.stat().st_mtime
    case = tmp_path / "tag_definitions" / FIXTURE.name
    case.write_text(case.read_text(encoding="utf-8").replace("window: 30d", "window: 60d"), encoding="utf-8")
    import os
    os.utime(case, (old + 10, old + 10))
    _, _, err = _cli(tmp_path, "gmv_30d", "--upstream", capsys=capsys)
    assert "compiled" in err


def test_query_scopes_clauses_and_resolution() -> None:
    import sqlglot

    from tagfactory.compiler.sqllineage import query_columns

    schema = {"orders": {"user_id": "string", "amount": "double", "status": "string", "channel": "string",
                         "order_ts": "timestamp"},
              "users": {"user_id": "string", "city": "string", "email": "string"}}

    def table(name: str, column: str) -> Edge:
        return Edge(f"source:{name}", column, DIR, "IDENTITY")

    def rows(sql: str, *outputs: str | int) -> list[set[tuple[str, str, str, str]]]:
        tree = sqlglot.parse_one(sql, read="spark")
        return [{(e.node, e.column, e.type, e.subtype) for e in edges}
                for edges in query_columns(tree, list(outputs), schema, table)]  # type: ignore[arg-type]

    (value,) = rows("""WITH t AS (SELECT user_id, amount FROM orders WHERE status = 'done')
        SELECT o.user_id, sum(amount) AS value FROM t o JOIN users u ON u.user_id = o.user_id
        WHERE city = 'x' AND o.user_id IN (SELECT user_id FROM users WHERE email IS NOT NULL)
        GROUP BY o.user_id""", "value")
    assert value == {
        ("source:orders", "amount", DIR, "AGGREGATION"),  # through the CTE, unqualified
        ("source:orders", "status", IND, "FILTER"),  # the CTE's rows
        ("source:users", "user_id", IND, "JOIN"), ("source:orders", "user_id", IND, "JOIN"),
        ("source:users", "city", IND, "FILTER"),  # unqualified: the joined table that has it
        ("source:orders", "user_id", IND, "FILTER"), ("source:orders", "user_id", IND, "GROUP_BY"),
        ("source:users", "user_id", IND, "FILTER"), ("source:users", "email", IND, "FILTER"),  # the subquery
    }
    (value,) = rows("SELECT user_id, row_number() OVER (PARTITION BY channel ORDER BY order_ts) AS value "
                    "FROM orders", 1)
    assert value == {("source:orders", "channel", IND, "WINDOW"), ("source:orders", "order_ts", IND, "WINDOW")}
    key, case = rows("SELECT user_id, CASE WHEN amount > 0 THEN upper(channel) END AS value FROM orders "
                     "UNION ALL SELECT user_id, city AS value FROM users ORDER BY value", 0, 1)
    assert key == {("source:orders", "user_id", DIR, "IDENTITY"), ("source:users", "user_id", DIR, "IDENTITY")}
    assert case == {("source:orders", "amount", IND, "CONDITIONAL"), ("source:orders", "channel", DIR, "TRANSFORMATION"),
                    ("source:users", "city", DIR, "IDENTITY")}


# --- the effect-analysis tables, from a shipped goal ---------------------------------------------
# tag_definitions/audiences/goals.yaml, revenue_per_order_7d (a goal of scene home_popup only):
#   source: orders, where: "status = 'completed'", metric: {type: ratio, numerator: amount, denominator: "1"}
# orders (sources/commerce.yaml): entity_key user_id, time_column order_ts, partition_column dt.
# Its statistics are cells of home_popup's frozen branch, group and variant (no slices); the
# events are the completed orders (status), in the window and the cut (order_ts, dt), joined on the key.

POPUP_CELL = [("scene:home_popup", c, IND, "GROUP_BY") for c in ("branch", "group", "variant")]
COMPLETED_ORDERS = [("source:orders", "status", IND, "FILTER"), ("source:orders", "order_ts", IND, "FILTER"),
                    ("source:orders", "dt", IND, "FILTER"), ("source:orders", "user_id", IND, "JOIN"),
                    ("scene:home_popup", "user_id", IND, "JOIN")]


def test_the_shipped_goal_is_what_the_effect_expectations_assume() -> None:
    import yaml

    goals = yaml.safe_load((REPO / "tag_definitions" / "audiences" / "goals.yaml").read_text(encoding="utf-8"))
    goal = next(g for g in goals["goals"] if g["name"] == "revenue_per_order_7d")
    assert (goal["source"], goal["where"], goal["metric"]) == (
        "orders", "status = 'completed'", {"type": "ratio", "numerator": "amount", "denominator": "1"})
    assert "covariate" not in goal and "slices" not in goal and "cost" not in goal
    scenes = yaml.safe_load((REPO / "tag_definitions" / "audiences" / "scenes.yaml").read_text(encoding="utf-8"))
    assert [s["name"] for s in scenes["scenes"] if "revenue_per_order_7d" in s.get("goals", [])] == ["home_popup"]


def test_effect_stats_of_a_ratio_goal(lineage_manifest: Manifest) -> None:
    # the numerator aggregated; the denominator "1" reads no column: only the events' rows
    assert _direct(lineage_manifest, "effect:effect_stats_user", "sum_num") == _set(
        ("source:orders", "amount", DIR, "AGGREGATION"), *COMPLETED_ORDERS, *POPUP_CELL)
    assert _direct(lineage_manifest, "effect:effect_stats_user", "sum_den") == _set(*COMPLETED_ORDERS, *POPUP_CELL)
    # the scene's columns resolve through its branches' audiences down to source columns
    sources = _sources(lineage_manifest, "effect:effect_stats_user", "sum_num")
    assert ("source:orders", "amount", DIR, "AGGREGATION", False) in sources
    assert not any(r[2] == DIR and r[:2] != ("source:orders", "amount") for r in sources)
    assert ("source:users", "user_id", IND, "GROUP_BY", False) in sources  # the audiences' key, as a cell


def test_effect_covariate_slices_and_exposures(lineage_manifest: Manifest) -> None:
    # revenue_7d (both scenes) is the only goal with a covariate: gmv_30d, sliced by value_tier
    cells = [(f"scene:{s}", c, IND, "GROUP_BY") for s in ("home_popup", "push_campaign")
             for c in ("branch", "group", "variant")]
    assert _direct(lineage_manifest, "effect:effect_stats_user", "sum_x") == _set(
        ("tag:gmv_30d", "gmv_30d", DIR, "AGGREGATION"), ("tag:value_tier", "value_tier", IND, "GROUP_BY"), *cells)
    # transitively: the covariate's own source columns (gmv_30d sums orders.amount)
    assert ("source:orders", "amount", DIR, "AGGREGATION", False) in _sources(
        lineage_manifest, "effect:effect_stats_user", "sum_x")
    # results: the slice's value, per slice, of the two compared arms (value_tier slices goals of both scenes)
    compared = [(s, c, IND, "FILTER") for s, c, _, _ in cells]
    assert _direct(lineage_manifest, "effect:effect_results_user", "slice_value") == _set(
        ("tag:value_tier", "value_tier", DIR, "TRANSFORMATION"), ("tag:value_tier", "value_tier", IND, "GROUP_BY"),
        *compared)
    assert _direct(lineage_manifest, "effect:effect_exposures_user", "variant") == _set(
        ("scene:home_popup", "variant", DIR, "IDENTITY"), ("scene:push_campaign", "variant", DIR, "IDENTITY"),
        ("scene:home_popup", "user_id", IND, "GROUP_BY"), ("scene:push_campaign", "user_id", IND, "GROUP_BY"))
    # every column of the four tables has an entry (names and dt: none of their own inputs)
    from tagfactory.contracts.effect_tables import effect_table_spec

    for kind in ("effect_exposures", "effect_stats", "effect_results", "effect_health"):
        table = f"{kind}_user"
        columns = {c.column for c in lineage_manifest.column_lineage if c.node == f"effect:{table}"}
        assert columns == set(effect_table_spec(kind, table).column_names), kind  # type: ignore[arg-type]
    assert _direct(lineage_manifest, "effect:effect_results_user", "dt") == set()


def test_lineage_query_reaches_the_effect_tables(lineage_manifest: Manifest) -> None:
    from tagfactory.compiler.lineage_query import query, render_text

    down = query(lineage_manifest, "orders.amount", up=False)[0]["downstream"]["reached"]
    assert {"effect:effect_stats_user.sum_num", "effect:effect_stats_user.sum_y",
            "effect:effect_results_user.effect", "tag:gmv_30d"} <= set(down)
    up = render_text(query(lineage_manifest, "effect_stats_user.sum_num", down=False))
    assert up.splitlines()[0] == "effect:effect_stats_user.sum_num  upstream"
    assert "├── source:orders.amount  [DIRECT AGGREGATION]" in up.splitlines()
