"""Column lineage of the effect-analysis tables, from the scenes' analysis plans and the checked goals.

The effect job (:mod:`tagfactory.analysis.job`) reads the scene assignments, the goals' sources and
the profile and writes ``effect_exposures_<e>``, ``effect_stats_<e>``, ``effect_results_<e>`` and
``effect_health_<e>`` (:mod:`tagfactory.contracts.effect_tables`). Their nodes are
``effect:<table>`` (``effect:effect_stats_user``); every column of every table gets an entry, the
union over the entity's analysed scenes and their goals (primary and guardrail), with the job's
inputs as its immediate inputs (``scene:<s>`` columns, ``source:<s>`` columns, ``tag:<t>``):

* rows: the exposures are one row per scene and key (the scene's key INDIRECT/GROUP_BY); the
  statistics and results are cells of the frozen branch, group and variant (INDIRECT/GROUP_BY;
  in a result the two compared arms, INDIRECT/FILTER) and of the slice tags (INDIRECT/GROUP_BY);
* values: ``branch`` / ``group`` / ``variant`` / the key from the scene's columns DIRECT/IDENTITY,
  ``slice_value`` from the slice tag DIRECT/TRANSFORMATION (top values, the rest ``(other)``);
* a goal's per-user value (``sum_y`` ..., the estimates): the ``value`` / ``numerator`` /
  ``denominator`` columns DIRECT/AGGREGATION, the ``where`` columns INDIRECT/FILTER, the source's
  time and partition columns INDIRECT/FILTER (the window and the point-in-time cut), the source's
  entity key and the scene's key INDIRECT/JOIN (events joined to the exposures); ratio goals split
  into ``sum_num`` (numerator) and ``sum_den`` (denominator);
* the CUPED covariate (``sum_x`` ..., and every estimate of a goal with one): the tag DIRECT/AGGREGATION;
* cost (``touches``, ``reached``, ``cost`` ...): the scene's ``group`` INDIRECT/FILTER (treatment
  assignment days);
* health (sample-ratio mismatch, group changes, users in several branches) and ``trusted``: the
  scene's ``group`` and ``variant`` counted per ``branch`` (INDIRECT/GROUP_BY; the changes
  INDIRECT/FILTER);
* names and settings (``scene``, ``goal``, ``metric_type``, ``comparison``, ``alpha``, ``dt`` ...):
  no input (an entry with none, like an export's ``dt``).

The transitive resolution (:class:`~tagfactory.compiler.collineage.Resolver`) then takes every
input through the scene's audiences and the tags down to source columns, as for the other nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tagfactory.compiler.sqllineage import Edge, expression_inputs, hop, unique
from tagfactory.contracts.tables import EFFECT_KINDS, table_name

if TYPE_CHECKING:
    from tagfactory.compiler.goal_manifest import SceneAnalysis
    from tagfactory.compiler.goals import CheckedGoal
    from tagfactory.compiler.resolve import Project

Key = tuple[str, str]
ARM = ("branch", "group", "variant")

#: effect_stats columns by what they are computed from (the other columns: names, no input)
_STATS_Y = ("sum_y", "sum_y_sq")
_STATS_X = ("sum_x", "sum_x_sq")
_STATS_NUM = ("sum_num", "sum_num_sq")
_STATS_DEN = ("sum_den", "sum_den_sq")
_COST = ("touches", "reached")
#: effect_results columns computed from the goal's value (and its covariate)
_ESTIMATES = ("mean_treatment", "mean_baseline", "effect", "se", "ci_low", "ci_high", "p_value", "q_value",
              "relative", "rel_ci_low", "rel_ci_high", "seq_ci_low", "seq_ci_high", "seq_p_value", "tau2",
              "significant", "incremental", "incremental_low", "incremental_high")
_RESULT_COST = ("touches", "reach", "cost", "cost_per_reached")
_RESULT_COST_VALUE = ("cost_per_incremental", "cost_per_incremental_low", "cost_per_incremental_high")
_SRM = ("srm_chi2", "srm_df", "srm_p_value", "srm_passed")


def effect_node(table: str) -> str:
    return f"effect:{table}"


def _e(node: str, column: str, kind: str = "DIRECT", subtype: str = "IDENTITY") -> Edge:
    return Edge(node, column, kind, subtype)


def _as(kind: str, subtype: str, edges: Iterable[Edge]) -> list[Edge]:
    return [hop(kind, subtype).through(e) for e in edges]


def effect_inputs(project: Project, keys: dict[str, str]) -> dict[Key, list[Edge]]:
    """The immediate inputs of every effect-table column of the entities with analysed scenes."""
    known = project.audiences
    goals = project.goals
    if known is None or goals is None:
        return {}
    by_entity: dict[str, list[tuple[str, SceneAnalysis]]] = {}
    for name, item in known.scenes.items():
        analysis = project.analyses.get(name)
        if item.model.built and item.model.entity in keys and analysis is not None and analysis.goals:
            by_entity.setdefault(item.model.entity, []).append((name, analysis))
    graph: dict[Key, list[Edge]] = {}
    for entity, scenes in sorted(by_entity.items()):
        columns: dict[Key, list[Edge]] = {}
        for scene, analysis in scenes:
            checked = [goals.checked[g.name] for g in analysis.goals if g.name in goals.checked]
            _Scene(entity, scene, keys[entity], columns).add(checked)
        graph.update({k: unique(v) for k, v in columns.items()})
    return graph


class _Scene:
    """Adds the inputs one analysed scene gives the columns of its entity's effect tables."""

    def __init__(self, entity: str, scene: str, key: str, out: dict[Key, list[Edge]]) -> None:
        from tagfactory.contracts.effect_tables import effect_table_spec

        self.key, self.out = key, out
        self.node = f"scene:{scene}"
        self.tables: dict[str, str] = {}
        for kind in EFFECT_KINDS:  # every column has an entry, inputs or not
            table = self.tables[kind] = table_name(kind, entity)
            for column in effect_table_spec(kind, table, key=key).column_names:
                out.setdefault((effect_node(table), column), [])

    def put(self, kind: str, columns: Iterable[str], edges: Iterable[Edge]) -> None:
        chosen = list(edges)
        for column in columns:
            self.out[(effect_node(self.tables[kind]), column)].extend(chosen)

    def col(self, column: str, kind: str = "DIRECT", subtype: str = "IDENTITY") -> Edge:
        return _e(self.node, column, kind, subtype)

    def add(self, goals: list[CheckedGoal]) -> None:
        key, col, put = self.key, self.col, self.put
        arms = [col(c) for c in ARM]
        # exposures: one row per scene and key, the branch, group and variant of the first assignment
        put("effect_exposures", [key], [col(key)])
        for c in ARM:
            put("effect_exposures", [c], [col(c)])
        put("effect_exposures", ["scene", key, "first_date", *ARM, "days_assigned"],
            [col(key, "INDIRECT", "GROUP_BY")])
        # health: per scene and branch
        by_branch = [col("branch", "INDIRECT", "GROUP_BY")]
        split = [col("group", "INDIRECT", "GROUP_BY"), col("variant", "INDIRECT", "GROUP_BY")]
        put("effect_health", ["branch"], [col("branch")])
        put("effect_health", ["users", "observed", "expected", *_SRM, "group_changes", "users_in_several_branches"],
            by_branch)
        put("effect_health", ["observed", *_SRM], split)
        put("effect_health", ["group_changes"], [col("group", "INDIRECT", "FILTER"), col("variant", "INDIRECT", "FILTER")])
        put("effect_health", ["users_in_several_branches"], [col("branch", "INDIRECT", "FILTER")])
        for goal in goals:
            self._goal(goal, arms)

    def _goal(self, goal: CheckedGoal, arms: list[Edge]) -> None:
        col, put = self.col, self.put
        metric = goal.spec.metric
        y, num, den = _values(goal, self.node, self.key)
        covariate = [_e(f"tag:{goal.covariate.name}", goal.covariate.name, "DIRECT", "AGGREGATION")] \
            if goal.covariate is not None else []
        slices = [_e(f"tag:{t.name}", t.name) for t, _ in goal.slices]
        cost = [col("group", "INDIRECT", "FILTER")] if goal.spec.cost is not None else []
        # statistics: the cells of the frozen arm and the slice; a column only where the goal fills it
        filled = ["n", *ARM, "slice_value"]
        if metric.type == "ratio":
            filled += [*_STATS_NUM, *_STATS_DEN, "sum_num_den"]
            put("effect_stats", [*_STATS_NUM, "sum_num_den"], num)
            put("effect_stats", [*_STATS_DEN, "sum_num_den"], den)
        else:
            capped = ["cap"] if metric.cap_percentile is not None else []
            with_x = ["sum_xy"] if covariate else []
            filled += [*_STATS_Y, *capped]
            put("effect_stats", [*_STATS_Y, *capped, *with_x], y)
        if covariate:
            filled += [*_STATS_X, "sum_xy"]
            put("effect_stats", [*_STATS_X, "sum_xy"], covariate)
        if cost:
            filled += list(_COST)
            put("effect_stats", _COST, cost)
        put("effect_stats", filled, [*_as("INDIRECT", "GROUP_BY", arms), *_as("INDIRECT", "GROUP_BY", slices)])
        for c in ARM:
            put("effect_stats", [c], [col(c)])
        put("effect_stats", ["slice_value"], _as("DIRECT", "TRANSFORMATION", slices))
        # results: the two compared arms of a branch, per slice
        filled = ["branch", "slice_value", "status", "n_treatment", "n_baseline", *_ESTIMATES, "trusted"]
        value = [*y, *covariate]
        put("effect_results", _ESTIMATES, value)
        if covariate:
            filled += ["theta", "variance_reduction"]
            put("effect_results", ["theta", "variance_reduction"], value)
        if cost:
            filled += [*_RESULT_COST, *_RESULT_COST_VALUE]
            put("effect_results", [*_RESULT_COST, *_RESULT_COST_VALUE], cost)
            put("effect_results", _RESULT_COST_VALUE, y)
        put("effect_results", filled, [*_as("INDIRECT", "FILTER", arms), *_as("INDIRECT", "GROUP_BY", slices)])
        put("effect_results", ["branch"], [col("branch")])
        put("effect_results", ["slice_value"], _as("DIRECT", "TRANSFORMATION", slices))
        put("effect_results", ["trusted"], [col("group", "INDIRECT", "GROUP_BY"), col("variant", "INDIRECT", "GROUP_BY")])


def _values(goal: CheckedGoal, scene: str, key: str) -> tuple[list[Edge], list[Edge], list[Edge]]:
    """The inputs of a goal's per-user value ``y`` (every value column), of a ratio's numerator and
    of its denominator: the value columns aggregated, the events' rows (``where``, window, cut, join)."""
    source = goal.source
    node = f"source:{source.name}"

    def resolve(column: str) -> Edge | None:
        return _e(node, column) if column in source.columns else None

    rows = [*_as("INDIRECT", "FILTER", expression_inputs(goal.where, resolve) if goal.where is not None else []),
            *(_e(node, c, "INDIRECT", "FILTER") for c in (source.time_column, source.partition_column) if c),
            _e(node, source.entity_key, "INDIRECT", "JOIN"), _e(scene, key, "INDIRECT", "JOIN")]
    parts = {name: _as("DIRECT", "AGGREGATION", expression_inputs(tree, resolve)) for name, tree in goal.values.items()}
    num, den = parts.get("numerator", []), parts.get("denominator", [])
    y = [*parts.get("value", []), *num, *den]
    return [*y, *rows], [*num, *rows], [*den, *rows]
