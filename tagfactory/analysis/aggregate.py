"""The Spark side of effect analysis: exposures, per-user goal values, additive sufficient statistics.

What is computed is the contract of ``tagfactory/compiler/goal_manifest.py`` (module docstring) and
``tagfactory/effects/README.md``; in short, for an as-of date ``D``:

* **exposures** (:func:`exposures`): per scene and key the FIRST assignment date (``dt <= D``) with
  the branch, group and variant of that first row (frozen: later membership may be caused by the
  treatment);
* **per-user values** (:func:`goal_users`): the goal's compiled ``events_sql`` (the manifest's, never
  the YAML) joined to the exposures on the key, counting events whose day is in
  ``[first + delay, first + delay + length - 1]`` (events before the anchor never count); a user
  without an event has 0 and counts (intention to treat); only users whose window matured by ``D``
  unless ``include_in_progress`` (then the window is cut at ``D``); capped at the percentile of the
  scene's counted users; the CUPED covariate and the slice values from the profile of
  ``first - 1`` (missing: the tag's default, else 0 / ``"(other)"``); for goals with a cost, the
  treatment touches inside the window (on delivered dates when the scene has export receipts);
* **sufficient statistics** (:func:`cell_stats`): plain sums per (branch, group, variant, slice) so
  that cells add up (the total is the cell with ``slice_tag`` null).

Everything here is lazy Spark; the job collects the (small) statistics once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tagfactory.compiler.goal_manifest import GoalPlan, TagInput

OTHER = "(other)"
ARM = ["branch", "group", "variant"]


def exposures(assignments: DataFrame, key: str, as_of: dt.date) -> DataFrame:
    """One row per (scene, key): ``first_date``, the frozen ``branch``/``group``/``variant`` of the first
    assignment and ``days_assigned`` (the key's assignment dates up to ``as_of``)."""
    first = F.min(F.struct(F.col("dt"), F.col("branch"), F.col("group"), F.col("variant")))
    return (assignments.where(F.col("dt") <= F.lit(as_of))
            .groupBy("scene", F.col(key).cast("string").alias(key))
            .agg(first.alias("_f"), F.countDistinct("dt").alias("days_assigned"))
            .select("scene", key, F.col("_f.dt").alias("first_date"), "_f.branch", "_f.group", "_f.variant",
                    "days_assigned"))


def branch_health(assignments: DataFrame, exposed: DataFrame, key: str, as_of: dt.date) -> DataFrame:
    """Per (scene, frozen branch): ``group_changes`` (users with more than one group/variant within one
    branch: must be 0, the hash is stable) and ``users_in_several_branches``."""
    rows = assignments.where(F.col("dt") <= F.lit(as_of)).withColumn(key, F.col(key).cast("string"))
    arms = F.concat_ws("/", F.coalesce(F.col("group"), F.lit("")), F.coalesce(F.col("variant"), F.lit("")))
    changed = (rows.groupBy("scene", key, "branch").agg(F.countDistinct(arms).alias("_arms"))
               .where(F.col("_arms") > 1).select("scene", key).distinct().withColumn("_changed", F.lit(1)))
    several = (rows.groupBy("scene", key).agg(F.countDistinct("branch").alias("_branches"))
               .where(F.col("_branches") > 1).select("scene", key).withColumn("_several", F.lit(1)))
    return (exposed.select("scene", key, "branch").join(changed, ["scene", key], "left")
            .join(several, ["scene", key], "left").groupBy("scene", "branch")
            .agg(F.count(F.col("_changed")).alias("group_changes"),
                 F.count(F.col("_several")).alias("users_in_several_branches")))


def _profile_value(tag: TagInput, *, numeric: bool) -> Column:
    """The tag's value from the joined profile row, its default (else 0 / "(other)") when missing."""
    value = F.col(f"_p.{tag.tag}")
    if numeric:
        fallback = float(tag.default) if isinstance(tag.default, int | float) and not isinstance(tag.default, bool) else 0.0
        return F.coalesce(value.cast("double"), F.lit(fallback))
    fallback_text = None if tag.default is None else str(tag.default).lower() if isinstance(tag.default, bool) \
        else str(tag.default)
    return F.coalesce(value.cast("string"), F.lit(fallback_text).cast("string"))


def goal_users(exposed: DataFrame, events: DataFrame, profile: DataFrame | None, goal: GoalPlan, key: str,
               as_of: dt.date) -> tuple[DataFrame, DataFrame]:
    """The scene's users (``exposed``: its exposures) for one goal, as ``(counted, exposed_inputs)``.

    ``counted``: one row per user whose window matured (every user with ``include_in_progress``, the
    window cut at ``as_of``): ``branch, group, variant, first_date, _end``, ``y`` (or ``a, b`` for a
    ratio), ``x`` (covariate), ``s_<tag>`` (raw slice values). ``exposed_inputs``: every exposed user
    with the ``s_<tag>`` columns (the slices' top values are counted over them). ``events`` are the
    rows of the goal's ``events_sql`` as of ``as_of``."""
    window = goal.window
    users = (exposed.withColumn("_start", F.date_add("first_date", window.delay_days))
             .withColumn("_end", F.date_add("first_date", window.last_offset)))
    inputs = [t for t in [goal.covariate, *goal.slices] if t is not None]
    if inputs and profile is not None:
        wanted = list(dict.fromkeys(t.tag for t in inputs))
        prof = profile.select(F.col(key).cast("string").alias(key), F.col("dt").alias("_pdt"),
                              F.struct(*wanted).alias("_p"))
        users = users.withColumn("_pdt", F.date_sub("first_date", 1)).join(prof, [key, "_pdt"], "left")
    if goal.covariate is not None:
        users = users.withColumn("x", _profile_value(goal.covariate, numeric=True) if profile is not None
                                 else F.lit(0.0))
    for s in goal.slices:
        users = users.withColumn(f"s_{s.tag}", _profile_value(s, numeric=False) if profile is not None
                                 else F.lit(None).cast("string"))
    if goal.include_in_progress:
        counted = users.withColumn("_end", F.least(F.col("_end"), F.lit(as_of)))
    else:
        counted = users.where(F.col("_end") <= F.lit(as_of))
    ev = events.select(F.col(key).cast("string").alias(key), F.to_date("event_time").alias("_day"),
                       "value", "numerator", "denominator")
    hits = (counted.select(key, "_start", "_end").join(ev, key)
            .where((F.col("_day") >= F.col("_start")) & (F.col("_day") <= F.col("_end")))
            .groupBy(key).agg(F.count("*").alias("_events"), F.sum("value").alias("_value"),
                              F.sum("numerator").alias("_num"), F.sum("denominator").alias("_den")))
    out = counted.join(hits, key, "left")
    metric = goal.metric.type
    if metric == "ratio":
        out = out.withColumn("a", F.coalesce("_num", F.lit(0.0))).withColumn("b", F.coalesce("_den", F.lit(0.0)))
    else:
        y = {"conversion": F.when(F.col("_events") > 0, 1.0).otherwise(0.0),
             "mean": F.coalesce(F.col("_value"), F.lit(0.0)),
             "count": F.coalesce(F.col("_events"), F.lit(0)).cast("double")}[metric]
        out = out.withColumn("y", y)
    return out, users


def with_touches(counted: DataFrame, assignments: DataFrame, scene: str, key: str,
                 delivered: Sequence[dt.date] | None) -> DataFrame:
    """``counted`` with ``touches``: the user's treatment assignment dates inside ``[first_date, _end]``
    (only dates in ``delivered`` when the scene has export receipts; every date otherwise)."""
    rows = (assignments.where((F.col("scene") == scene) & (F.col("group") == "treatment"))
            .select(F.col(key).cast("string").alias(key), F.col("dt").alias("_adt")))
    if delivered is not None:
        rows = rows.where(F.col("_adt").isin(list(delivered)))
    days = (counted.select(key, "first_date", "_end").join(rows, key)
            .where((F.col("_adt") >= F.col("first_date")) & (F.col("_adt") <= F.col("_end")))
            .groupBy(key).agg(F.countDistinct("_adt").alias("_touches")))
    return (counted.join(days, key, "left")
            .withColumn("touches", F.coalesce(F.col("_touches"), F.lit(0)).cast("bigint")).drop("_touches"))


def capped(users: DataFrame, goal: GoalPlan) -> DataFrame:
    """``y`` capped at the goal's percentile of ``y`` over every counted user of the scene (all arms
    together, so both sides of a comparison share the cap); ``cap`` holds the cap (null: none)."""
    p = goal.metric.cap_percentile
    if p is None or goal.metric.type not in ("mean", "count"):
        return users.withColumn("cap", F.lit(None).cast("double"))
    cap = users.agg(F.percentile(F.col("y"), F.lit(p / 100.0)).alias("cap"))
    return users.crossJoin(F.broadcast(cap)).withColumn("y", F.least(F.col("y"), F.col("cap")))


def sliced(users: DataFrame, exposed: DataFrame, goal: GoalPlan) -> DataFrame:
    """``users`` with one row per cell they fall in: the total (``slice_tag`` null) and, per slice tag,
    its value when among the tag's ``top`` most frequent values over the scene's exposed users
    (``exposed``, ties by value), else ``(other)`` (nulls too)."""
    cells = [F.struct(F.lit(None).cast("string").alias("slice_tag"), F.lit(None).cast("string").alias("slice_value"))]
    for s in goal.slices:
        col = f"s_{s.tag}"
        counts = exposed.where(F.col(col).isNotNull()).groupBy(col).count()
        rank = F.row_number().over(Window.orderBy(F.desc("count"), F.asc(col)))
        top = counts.withColumn("_rank", rank).where(F.col("_rank") <= s.top).select(
            F.col(col).alias(f"_top_{s.tag}"), F.lit(True).alias(f"_keep_{s.tag}"))
        users = users.join(F.broadcast(top), users[col] == top[f"_top_{s.tag}"], "left")
        value = F.when(F.col(f"_keep_{s.tag}"), F.col(col)).otherwise(F.lit(OTHER))
        cells.append(F.struct(F.lit(s.tag).alias("slice_tag"), value.alias("slice_value")))
    return users.withColumn("_cell", F.explode(F.array(*cells))).select("*", "_cell.slice_tag", "_cell.slice_value")


def cell_stats(users: DataFrame, goal: GoalPlan, scene: str) -> DataFrame:
    """The additive sufficient statistics per (branch, group, variant, slice_tag, slice_value)."""
    null = F.lit(None).cast("double")
    ratio = goal.metric.type == "ratio"
    has_x = goal.covariate is not None and not ratio

    def total(expr: Column, on: bool = True) -> Column:
        return F.sum(expr).cast("double") if on else F.max(null)

    y, x, a, b = (F.col(c) if c in users.columns else null for c in ("y", "x", "a", "b"))
    return (users.groupBy(*ARM, "slice_tag", "slice_value").agg(
        F.count("*").alias("n"),
        total(y, not ratio).alias("sum_y"), total(y * y, not ratio).alias("sum_y_sq"),
        total(x, has_x).alias("sum_x"), total(x * x, has_x).alias("sum_x_sq"), total(x * y, has_x).alias("sum_xy"),
        total(a, ratio).alias("sum_num"), total(b, ratio).alias("sum_den"), total(a * a, ratio).alias("sum_num_sq"),
        total(b * b, ratio).alias("sum_den_sq"), total(a * b, ratio).alias("sum_num_den"),
        F.max("cap").alias("cap"), F.sum("touches").cast("bigint").alias("touches"),  # null without a cost
        F.count(F.when(F.col("touches") > 0, True)).alias("reached"))
        .select(F.lit(scene).alias("scene"), F.lit(goal.name).alias("goal"), F.lit(goal.metric.type).alias("metric_type"),
                *ARM, "slice_tag", "slice_value", "n", "sum_y", "sum_y_sq", "sum_x", "sum_x_sq", "sum_xy", "sum_num",
                "sum_den", "sum_num_sq", "sum_den_sq", "sum_num_den", "cap", "touches", "reached"))


def goal_stats(exposed: DataFrame, events: DataFrame, profile: DataFrame | None, goal: GoalPlan, scene: str,
               key: str, as_of: dt.date, assignments: DataFrame, delivered: Sequence[dt.date] | None) -> DataFrame:
    """The statistics rows of one scene's goal (lazy): the steps above in order."""
    counted, inputs = goal_users(exposed, events, profile, goal, key, as_of)
    if goal.cost is not None:  # touches only matter for the cost
        counted = with_touches(counted, assignments, scene, key, delivered)
    else:
        counted = counted.withColumn("touches", F.lit(None).cast("bigint"))
    return cell_stats(sliced(capped(counted, goal), inputs, goal), goal, scene)
