"""Goals and scene comparisons (issue 19, point 1): parsing, checks with located errors, the
compiled analysis plan in the manifest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.diagnostics import Diagnostic
from tagfactory.compiler.goal_impact import goal_changes, goal_removal_errors
from tagfactory.compiler.goal_manifest import SceneAnalysis
from tagfactory.compiler.manifest import read_manifest, write_manifest
from tagfactory.compiler.project import Analysis, analyze, check_project, load_project
from tagfactory.compiler.sqlpolicy import check_compiled
from tests.unit.definitions import REPO, definitions_with

TAGS = """
tags:
  - {name: tier, display_name: T, description: d, owner: o, category: consumption, type: enum,
     values: [high, low], kind: rule, rules: [{when: "true", then: high}]}
  - {name: spend_30d, display_name: S, description: d, owner: o, category: consumption, type: double,
     kind: aggregate, source: orders, agg: sum, column: amount, window: 30d}
  - {name: draft_spend, display_name: S, description: d, owner: o, category: consumption, type: double,
     kind: aggregate, source: orders, agg: sum, column: amount, window: 30d, lifecycle: draft}
  - {name: phone_prefix, display_name: P, description: d, owner: o, category: basic, type: string,
     kind: attribute, expr: "substr(phone, 1, 3)"}
audiences:
  - {name: a1, display_name: A, description: d, owner: o, rule: {tag: tier, op: '=', value: high}}
  - {name: a2, display_name: A, description: d, owner: o, rule: {tag: tier, op: '=', value: low}}
"""

GOAL = """
  - name: {name}
    description: A goal.
    owner: test
    source: orders
    where: "status = 'completed'"
    window: {{length: 7d}}
    metric: {metric}
"""

SCENE = """
scenes:
  - name: s1
    display_name: S
    description: A scene.
    owner: test
    holdout: 0.05
    goals: [g1]
    branches:
      - {name: b1, audience: a1, control: 0.1,
         variants: [{name: v1}, {name: v2}, {name: v3}]}
      - {name: b2, audience: a2}
"""


def _goal(name: str = "g1", metric: str = "{type: conversion}", extra: str = "") -> str:
    return GOAL.format(name=name, metric=metric) + textwrap.indent(textwrap.dedent(extra), "    ")


def _check(tmp_path: Path, text: str) -> tuple[object, list[Diagnostic]]:
    tmp_path = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    tmp_path.mkdir()
    file = tmp_path / "defs.yaml"
    file.write_text(text, encoding="utf-8")
    return check_project(definitions_with(tmp_path, file))


def _errors(tmp_path: Path, text: str) -> list[str]:
    _, diagnostics = _check(tmp_path, text)
    return [f"{d.code}:{d.line}: {d.message} | {d.hint}" for d in diagnostics if d.severity.value == "error"]


def _line(text: str, marker: str) -> int:
    """1-based line of the ``n``-th occurrence of ``marker`` (``"- name: g1#2"``: the second)."""
    marker, _, nth = marker.partition("#")
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    return hits[int(nth or 1) - 1]


def _assert_error(text: str, errors: list[str], expected: str) -> None:
    """``expected`` is ``CODE@marker~ message prefix``; the error's line is the marker's line."""
    head, _, message = expected.partition("~ ")
    code, _, marker = head.partition("@")
    want = f"{code}:{_line(text, marker)}: {message}" if message else f"{code}:{_line(text, marker)}:"
    assert any(e.startswith(want) for e in errors), (want, errors)


def _analysis(tmp_path: Path, text: str, scene: str = "s1") -> SceneAnalysis:
    file = tmp_path / "defs.yaml"
    file.write_text(text, encoding="utf-8")
    root = definitions_with(tmp_path, file)
    project, _ = load_project(root)
    manifest = build_manifest(project, root)
    found = next(s for s in manifest.entity("user").scenes if s.name == scene)
    assert found.analysis is not None
    return found.analysis


# --- the demo -----------------------------------------------------------------------------------

def test_demo_scenes_compile_their_goals_and_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    project, _ = load_project("tag_definitions")
    manifest = build_manifest(project, "tag_definitions")
    scenes = {s.name: s for s in manifest.entity("user").scenes}
    popup = scenes["home_popup"].analysis
    assert popup is not None
    assert [c.name for c in popup.comparisons] == [
        "vip_thanks:treatment_vs_holdout", "birthday:treatment_vs_holdout", "winback:treatment_vs_holdout",
        "winback:treatment_vs_control", "winback:coupon_30_vs_coupon_20"]
    goals = {g.name: g for g in popup.goals}
    assert [g.role for g in popup.goals] == ["primary"] * 4 + ["guardrail"] * 2
    next_day = goals["orders_next_day"]  # the demo's known truth (tagfactory/demo/_effect.py)
    assert (next_day.window.delay_days, next_day.window.length_days, next_day.window.last_offset) == (1, 1, 1)
    assert next_day.metric.type == "conversion" and next_day.where_sql == "`status` = 'completed'"
    assert goals["refund_rate_7d"].guardrail_of == ["order_conversion_7d"]
    revenue = goals["revenue_7d"]
    assert revenue.metric.type == "mean" and revenue.metric.value_sql == "`amount`"
    assert revenue.metric.cap_percentile == 99
    assert revenue.covariate is not None and revenue.covariate.tag == "gmv_30d"
    assert [s.tag for s in revenue.slices] == ["value_tier"]
    assert revenue.source.name == "orders" and revenue.source.time_column == "order_ts"
    assert revenue.window.length_days == 7 and revenue.window.delay_days == 0 and revenue.window.last_offset == 6
    assert revenue.where_sql == "`status` = 'completed'"
    ratio = goals["revenue_per_order_7d"].metric
    assert (ratio.numerator_sql, ratio.denominator_sql) == ("`amount`", "1")
    conversion = goals["order_conversion_7d"]
    assert conversion.sequential is not None and conversion.cost is not None
    assert conversion.cost.currency == "CNY"
    assert goals["complaint_rate_7d"].source.name == "service_tickets"
    push = scenes["push_campaign"].analysis
    assert push is not None and [g.name for g in push.goals if g.role == "primary"] == [
        "orders_next_day", "order_conversion_7d", "revenue_7d"]
    assert {c.kind for c in push.comparisons} == {"treatment_vs_control", "treatment_vs_holdout"}


def test_the_plan_survives_the_manifest_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    project, _ = load_project("tag_definitions")
    manifest = build_manifest(project, "tag_definitions")
    back = read_manifest(write_manifest(manifest, tmp_path / "target"))
    assert back.entity("user").scenes == manifest.entity("user").scenes


# --- compiled plan ------------------------------------------------------------------------------

def test_defaults_and_every_possible_comparison(tmp_path: Path) -> None:
    text = TAGS + "goals:" + _goal() + SCENE
    plan = _analysis(tmp_path, text)
    goal = plan.goals[0]
    assert (goal.alpha, goal.correction, goal.sequential, goal.include_in_progress) == (0.05, "bh", None, False)
    assert goal.window.anchor == "first_assignment" and goal.window.delay_days == 0
    assert goal.display_name == "g1" and goal.definition.endswith(f"defs.yaml:{_line(text, '- name: g1')}")
    assert [c.name for c in plan.comparisons] == [
        "b1:treatment_vs_control", "b1:treatment_vs_holdout", "b2:treatment_vs_holdout",
        "b1:v2_vs_v1", "b1:v3_vs_v1"]
    pair = plan.comparisons[-1]
    assert pair.treatment.variant == "v3" and pair.baseline.variant == "v1" and pair.baseline.group == "treatment"
    control = plan.comparisons[0]
    assert (control.treatment.group, control.treatment.variant, control.baseline.group) == ("treatment", None,
                                                                                            "control")


def test_written_comparisons_settings_and_events_query(tmp_path: Path) -> None:
    goal = _goal(metric="{type: mean, value: \"amount - discount_amount\", cap_percentile: 99.5}", extra="""
        window: {delay: 1d, length: 14d}
        covariate: {tag: spend_30d}
        slices: [{tag: tier, top: 3}]
        sequential: {tau2: 2.5, horizon_days: 28}
        correction: holm
        include_in_progress: true
    """).replace("    window: {length: 7d}\n", "", 1)
    scene = SCENE.replace("    branches:", "    comparisons:\n      - {kind: variant_vs_variant, baseline: v2}\n"
                          "      - {kind: treatment_vs_control, branches: [b1]}\n    branches:")
    plan = _analysis(tmp_path, TAGS + "goals:" + goal + scene)
    assert [c.name for c in plan.comparisons] == ["b1:v1_vs_v2", "b1:v3_vs_v2", "b1:treatment_vs_control"]
    g = plan.goals[0]
    assert (g.window.delay_days, g.window.length_days, g.window.last_offset) == (1, 14, 14)
    assert g.sequential is not None and (g.sequential.tau2, g.sequential.horizon_days) == (2.5, 28)
    assert g.correction == "holm" and g.include_in_progress
    assert g.covariate is not None and (g.covariate.tag, g.covariate.type) == ("spend_30d", "double")
    assert [(s.tag, s.top, s.type) for s in g.slices] == [("tier", 3, "enum")]
    assert g.metric.value_sql == "`amount` - `discount_amount`"
    sql = g.events_sql
    assert "CAST(`amount` - `discount_amount` AS DOUBLE) AS `value`" in sql
    assert "`order_ts` AS `event_time`" in sql and "`user_id` AS `user_id`" in sql
    assert "`dt` <= :snapshot_date" in sql and "`status` = 'completed'" in sql
    import sqlglot
    check_compiled(sqlglot.parse_one(sql.replace(":snapshot_date", "DATE'2026-01-01'"), read="spark"),
                   {"orders"}, "test")


def test_guardrails_join_the_plan_once(tmp_path: Path) -> None:
    goals = ("goals:" + _goal("g1", extra="guardrails: [g3]") + _goal("g2", extra="guardrails: [g3, g1]")
             + _goal("g3"))
    plan = _analysis(tmp_path, TAGS + goals + SCENE.replace("goals: [g1]", "goals: [g1, g2]"))
    assert [(g.name, g.role, g.guardrail_of) for g in plan.goals] == [
        ("g1", "primary", []), ("g2", "primary", []), ("g3", "guardrail", ["g1", "g2"])]


# --- located errors -----------------------------------------------------------------------------

@pytest.mark.parametrize(("metric", "extra", "expected"), [
    ("{type: mean}", "", "E902@metric~ goal `g1`: a `mean` metric needs `value`"),
    ("{type: count, value: amount}", "", "E902@metric~ goal `g1`: a `count` metric takes no value expression"),
    ("{type: ratio, value: amount, numerator: amount, denominator: '1'}", "",
     "E902@metric~ goal `g1`: a `ratio` metric takes `numerator` and `denominator`, not `value`"),
    ("{type: conversion, cap_percentile: 99}", "", "E902@metric~ goal `g1`: `cap_percentile` caps per-user values"),
    ("{type: mean, value: 'amount > 0'}", "", "E903@metric~ goal `g1`: metric.value gives a boolean value"),
    ("{type: mean, value: 'sum(amount)'}", "", "E411@metric"),
    ("{type: conversion}", "covariate: {tag: draft_spend}", "E907@covariate~ goal `g1`: covariate: tag `draft_spend` "
     "is a draft"),
    ("{type: conversion}", "covariate: {tag: spend_3d}", "E202@covariate~ goal `g1`: covariate: unknown tag `spend_3d` "
     "| did you mean `spend_30d`?"),
    ("{type: conversion}", "slices: [{tag: phone_prefix}]", "E905@slices~ goal `g1`: slice `phone_prefix`: the tag "
     "is pii by lineage"),
    ("{type: conversion}", "slices: [{tag: spend_30d}]", "E907@slices~ goal `g1`: slice `spend_30d`: a double tag"),
    ("{type: conversion}", "slices: [{tag: tier, top: 0}]", "E904@slices~ goal `g1`: slice `tier`: `top` 0"),
    ("{type: conversion}", "alpha: 0", "E904@alpha~ goal `g1`: `alpha` 0 must be in (0, 0.5)"),
    ("{type: conversion}", "sequential: {tau2: -1}", "E904@sequential~ goal `g1`: `sequential.tau2` -1 must be > 0"),
    ("{type: conversion}", "cost: {per_touch: -0.1}", "E904@cost~ goal `g1`: `cost.per_touch` -0.1"),
    ("{type: conversion}", "cost: {per_touch: 1, currency: yuan}", "E103@cost~ goal `g1`: `cost.currency` `yuan`"),
    ("{type: conversion}", "guardrails: [g1]", "E901@guardrails~ goal `g1`: a goal cannot be its own guardrail"),
    ("{type: conversion}", "entity: shop", "E205@entity~ goal `g1`: unknown entity `shop`"),
])
def test_goal_errors_are_located(tmp_path: Path, metric: str, extra: str, expected: str) -> None:
    text = TAGS + "goals:" + _goal(metric=metric, extra=extra)
    _assert_error(text, _errors(tmp_path, text), expected)


def test_where_is_untrusted_sql(tmp_path: Path) -> None:
    for where, code in [("status = 'complete'", "E302"), ("amount", "E301"), ("reflect('java.lang.Runtime', 'x')",
                                                                            "E404"),
                        ("${env:HOME} = 'x'", "E407"), ("status IN (SELECT 1)", "E402"), ("o.amount > 0", "E204"),
                        ("(amount > 10) + 1 > 1", "E306"), ("NOT amount", "E306")]:
        text = TAGS + "goals:" + _goal().replace("status = 'completed'", where.replace('"', '\\"'))
        _assert_error(text, _errors(tmp_path, text), f"{code}@where:")
    for where, code in [("status = 'completed'; DROP TABLE orders", "E401")]:
        text = TAGS + "goals:" + _goal().replace("status = 'completed'", where)
        _assert_error(text, _errors(tmp_path, text), f"{code}@where:")
    for metric, code in [("{type: mean, value: \"java_method('java.lang.System', 'exit', 0)\"}", "E404"),
                         ("{type: ratio, numerator: amount, denominator: \"size(array_repeat('x', 2000000000))\"}",
                          "E409"), ("{type: mean, value: \"(amount > 100) * amount\"}", "E306")]:
        text = TAGS + "goals:" + _goal(metric=metric)
        _assert_error(text, _errors(tmp_path, text), f"{code}@metric:")


def test_a_goal_window_must_be_days(tmp_path: Path) -> None:
    text = TAGS + "goals:" + _goal().replace("{length: 7d}", "{length: 0d, delay: -1d}")
    errors = _errors(tmp_path, text)
    _assert_error(text, errors, "E303@window: {~ goal `g1`: window length `0d`")
    _assert_error(text, errors, "E303@window: {~ goal `g1`: window delay `-1d`")


def test_unknown_goal_fields_get_a_hint(tmp_path: Path) -> None:
    text = TAGS + "goals:" + _goal(metric="{type: mean, valu: amount}")
    _assert_error(text, _errors(tmp_path, text), "E101@metric~ unknown field `valu` in goal `g1` | did you mean `value`?")
    text = TAGS + "goals:" + _goal(extra="correction: fdr")
    _assert_error(text, _errors(tmp_path, text), "E103@correction")


def test_duplicate_goal_names(tmp_path: Path) -> None:
    text = TAGS + "goals:" + _goal() + _goal()
    _assert_error(text, _errors(tmp_path, text), "E201@- name: g1#2~ duplicate goal name `g1`")


@pytest.mark.parametrize(("change", "expected"), [
    (("goals: [g1]", "goals: [g2]"), "E901@goals: [g2]~ scene `s1`: unknown goal `g2`"),
    (("goals: [g1]", "goals: [g1, g1]"), "E201@goals: [g1, g1]~ scene `s1`: goal `g1` listed twice"),
    (("    branches:", "    comparisons: [{kind: variant_vs_variant, branches: [b2]}]\n    branches:"),
     "E906@comparisons~ scene `s1`: variant_vs_variant: branch `b2` has no variants"),
    (("    branches:", "    comparisons: [{kind: treatment_vs_control, branches: [b2]}]\n    branches:"),
     "E906@comparisons~ scene `s1`: treatment_vs_control: branch `b2` has no control group"),
    (("    branches:", "    comparisons: [{kind: treatment_vs_control, branches: [b3]}]\n    branches:"),
     "E906@comparisons~ scene `s1`: treatment_vs_control: unknown branch `b3`"),
    (("    branches:", "    comparisons: [{kind: variant_vs_variant, baseline: v9}]\n    branches:"),
     "E906@comparisons~ scene `s1`: variant_vs_variant: `v9` is not a variant of branch `b1`"),
    (("    branches:", "    comparisons: [{kind: treatment_vs_holdout, baseline: v1}]\n    branches:"),
     "E906@comparisons~ scene `s1`: `baseline` names a variant"),
    (("    holdout: 0.05", "    holdout: 0.0\n    comparisons: [{kind: treatment_vs_holdout}]"),
     "E906@comparisons~ scene `s1`: treatment_vs_holdout, but the scene has no holdout"),
    (("    goals: [g1]", "    comparisons: [{kind: treatment_vs_holdout}]"),
     "E906@comparisons~ scene `s1`: `comparisons` without `goals`"),
    (("{name: b1, audience: a1, control: 0.1,", "{name: b1, audience: a1,"),
     None),  # still comparable: the holdout
])
def test_scene_errors_are_located(tmp_path: Path, change: tuple[str, str], expected: str | None) -> None:
    text = TAGS + "goals:" + _goal() + SCENE.replace(*change)
    errors = _errors(tmp_path, text)
    if expected is None:
        assert errors == []
    else:
        _assert_error(text, errors, expected)


def test_a_scene_with_goals_needs_something_to_compare(tmp_path: Path) -> None:
    scene = (SCENE.replace("holdout: 0.05", "holdout: 0.0")
             .replace("{name: b1, audience: a1, control: 0.1,\n         variants: [{name: v1}, {name: v2}, {name: v3}]}",
                      "{name: b1, audience: a1}"))
    errors = _errors(tmp_path, TAGS + "goals:" + _goal() + scene)
    assert any(e.startswith("E906:") and "nothing to compare" in e for e in errors), errors


def test_a_scene_naming_an_invalid_goal_is_not_told_it_is_unknown(tmp_path: Path) -> None:
    errors = _errors(tmp_path, TAGS + "goals:" + _goal(metric="{type: mean}") + SCENE)
    assert [e[:4] for e in errors] == ["E902"], errors


def test_a_goal_of_another_source_entity_or_a_dimension(tmp_path: Path) -> None:
    text = TAGS + "goals:" + _goal().replace("source: orders", "source: users").replace(
        "    where: \"status = 'completed'\"\n", "")
    _assert_error(text, _errors(tmp_path, text), "E907@source: users~ goal `g1`: `users` is a dimension source")


# --- plan impact --------------------------------------------------------------------------------

def _project(tmp_path: Path, text: str) -> Analysis:
    tmp_path = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    tmp_path.mkdir()
    file = tmp_path / "defs.yaml"
    file.write_text(text, encoding="utf-8")
    return analyze(definitions_with(tmp_path, file))


def test_plan_lists_changed_and_affected_goals(tmp_path: Path) -> None:
    goals = "goals:" + _goal("g1", extra="slices: [{tag: tier}]") + _goal("g2") + _goal("g3")
    base = _project(tmp_path, TAGS + goals).project
    changed = (TAGS.replace('when: "true"', 'when: "1 = 1"') + goals.replace(_goal("g3"), _goal("g4"))
               .replace("A goal.", "Reworded.", 1).replace("status = 'completed'", "status = 'refunded'", 2))
    head = _project(tmp_path, changed).project
    assert base is not None and head is not None
    changes = goal_changes(base, head, {"tier"}, set())
    assert changes == {"g1": ("modified", "definition changed"), "g2": ("modified", "definition changed"),
                       "g4": ("added", "conversion of `orders`"), "g3": ("removed", "")}
    only_tier = goal_changes(base, _project(tmp_path, TAGS + goals.replace("A goal.", "Reworded.")).project,
                             {"tier"}, {"orders"})
    assert only_tier == {"g1": ("affected", "reads source `orders`, which changed"),
                         "g2": ("affected", "reads source `orders`, which changed"),
                         "g3": ("affected", "reads source `orders`, which changed")}
    assert goal_changes(base, base, {"tier"}, set()) == {"g1": ("affected", "reads `tier`")}


def test_removing_a_tag_or_column_a_goal_reads_is_breaking(tmp_path: Path) -> None:
    goals = "goals:" + _goal("g1", metric="{type: mean, value: amount}", extra="covariate: {tag: spend_30d}")
    base = _project(tmp_path, TAGS + goals).project
    assert base is not None
    without_tag = TAGS.replace("  - {name: spend_30d", "  - {name: spend_31d")
    head = _project(tmp_path, without_tag + goals)
    assert head.project is None
    errors = [d.message for d in goal_removal_errors(base, head.resolved)]
    assert errors == ["goal `g1` still uses tag `spend_30d`, but this change removes it"]
    clicks = textwrap.dedent("""
        sources:
          - name: clicks
            kind: event
            entity: user
            entity_key: user_id
            time_column: ts
            path: clicks
            columns: {user_id: string, ts: timestamp, price: double}
    """)
    on_clicks = goals.replace("source: orders", "source: clicks").replace("value: amount", "value: price").replace(
        "    where: \"status = 'completed'\"\n", "")
    base = _project(tmp_path, TAGS + clicks + on_clicks).project
    assert base is not None
    head = _project(tmp_path, TAGS + clicks.replace(", price: double", "") + on_clicks)
    assert head.project is None
    errors = [d.message for d in goal_removal_errors(base, head.resolved)]
    assert errors == ["goal `g1` still reads `clicks.price`, but this change removes the column"]
