"""Effect analysis (issue 19): did a scene work? Driver-side statistics on additive sufficient
statistics per cell (scene x arm x slice); Spark only aggregates them. See README.md here."""

from tagfactory.effects.cuped import cuped
from tagfactory.effects.estimates import (
    Estimate,
    difference_in_means,
    difference_in_proportions,
    ratio_difference,
)
from tagfactory.effects.impact import Interval, cost_per_incremental, cost_per_reached, incremental
from tagfactory.effects.multiple import adjust, bh, holm
from tagfactory.effects.sequential import SequentialLook, confidence_sequence, tau2_for
from tagfactory.effects.srm import SrmResult, mark_untrusted, srm_check, srm_checks
from tagfactory.effects.suffstats import CellKey, CovariateStats, MeanStats, RatioStats, total

__all__ = [
    "CellKey", "CovariateStats", "Estimate", "Interval", "MeanStats", "RatioStats", "SequentialLook",
    "SrmResult", "adjust", "bh", "confidence_sequence", "cost_per_incremental", "cost_per_reached",
    "cuped", "difference_in_means", "difference_in_proportions", "holm", "incremental",
    "mark_untrusted", "ratio_difference", "srm_check", "srm_checks", "tau2_for", "total",
]
