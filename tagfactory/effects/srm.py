"""Sample-ratio mismatch: do the users per arm match the configured split?

A Pearson chi-square goodness-of-fit test of the observed users per arm against the split's
expectation (Kohavi, Tang & Xu 2020, ch. 21; Fabijan et al. 2019). A p-value below the threshold
(0.001 by default: the check runs on every scene and branch every day, so it must rarely fire by
chance) means the assignment or the logging is broken, and every estimate of that scene and branch is
marked untrusted — its numbers are biased in an unknown direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from scipy import stats

from tagfactory.effects.estimates import Estimate

DEFAULT_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """The check of one scene and branch."""

    scene: str
    branch: str
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    df: int
    p_value: float
    threshold: float

    @property
    def trusted(self) -> bool:
        return not self.p_value < self.threshold


def srm_check(observed: Mapping[str, int], split: Mapping[str, float], *, scene: str = "", branch: str = "",
              threshold: float = DEFAULT_THRESHOLD) -> SrmResult:
    """Chi-square of ``observed`` users per arm against ``split`` (weights per arm, any scale: 90/10 or
    0.9/0.1). An arm of the split without users counts 0; users in an arm of share 0 fail the check
    outright; an arm with users outside the split is an error (a configuration without that arm)."""
    unknown = sorted(set(observed) - set(split))
    if unknown:
        raise ValueError(f"arms {unknown} have users but no share in the split {dict(split)}")
    weights = {arm: float(w) for arm, w in split.items() if w > 0}
    total_weight = sum(weights.values())
    if total_weight <= 0:
        raise ValueError(f"the split {dict(split)} has no positive share")
    counts = {arm: int(observed.get(arm, 0)) for arm in weights}
    n = sum(counts.values())
    expected = {arm: n * w / total_weight for arm, w in weights.items()}
    stray = {arm: int(c) for arm, c in observed.items() if arm not in weights and c > 0}
    if stray:  # users in an arm whose share is 0: no chance explains that
        counts.update(stray)
        expected.update(dict.fromkeys(stray, 0.0))
        return SrmResult(scene, branch, counts, expected, float("inf"), len(counts) - 1, 0.0, threshold)
    if n == 0 or len(weights) < 2:
        return SrmResult(scene, branch, counts, expected, 0.0, max(len(weights) - 1, 0), 1.0, threshold)
    chi2 = sum((counts[a] - expected[a]) ** 2 / expected[a] for a in weights)
    df = len(weights) - 1
    return SrmResult(scene, branch, counts, expected, chi2, df, float(stats.chi2.sf(chi2, df)), threshold)


def srm_checks(observed: Mapping[tuple[str, str], Mapping[str, int]],
               splits: Mapping[tuple[str, str], Mapping[str, float]], *,
               threshold: float = DEFAULT_THRESHOLD) -> list[SrmResult]:
    """One check per (scene, branch) key of ``observed``, each against its split."""
    out = []
    for (scene, branch), counts in sorted(observed.items()):
        if (scene, branch) not in splits:
            raise ValueError(f"scene {scene!r} branch {branch!r} has no configured split")
        out.append(srm_check(counts, splits[scene, branch], scene=scene, branch=branch, threshold=threshold))
    return out


def mark_untrusted(estimates: Iterable[Estimate], results: Iterable[SrmResult]) -> list[Estimate]:
    """The estimates with ``trusted=False`` where a check failed: an estimate of one branch when that
    branch's check failed, an estimate over the whole scene (``branch=""``) when any branch's did."""
    failed = {(r.scene, r.branch) for r in results if not r.trusted}
    scenes = {scene for scene, _ in failed}
    return [replace(e, trusted=False) if (e.scene, e.branch) in failed or (not e.branch and e.scene in scenes)
            else e for e in estimates]
