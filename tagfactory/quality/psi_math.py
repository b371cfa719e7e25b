"""The population stability index and its constants, without Great Expectations.

:mod:`tagfactory.quality.psi` (the GX expectation) re-exports these; code that must not load GX
(the catalog) imports them from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: The expectation type of :class:`ExpectColumnPsiToBeLessThan`.
PSI_TYPE = "expect_column_psi_to_be_less_than"
#: Floor applied to empty bins (either side) so that PSI stays finite.
PSI_EPSILON = 1e-4
#: Observed values that are no key of the reference distribution are pooled under this bin.
PSI_OTHER_BIN = "__other__"


def shares(distribution: Mapping[str, float]) -> dict[str, float]:
    """Bin -> share of the total (keys as strings); empty when the total is not positive."""
    total = float(sum(distribution.values()))
    if total <= 0:
        return {}
    return {str(k): float(v) / total for k, v in distribution.items()}


def population_stability_index(
    observed: Mapping[str, float], reference: Mapping[str, float], *, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index of an observed against a reference distribution.

    ``PSI = sum((o - r) * ln(o / r))`` over the union of bins, with both sides normalised to
    shares and empty bins floored at ``epsilon``.

    Args:
        observed: Bin -> count or share of the data being checked.
        reference: Bin -> count or share of the reference (e.g. last accepted snapshot).
        epsilon: Floor for empty bins.

    Returns:
        The PSI (0 for identical distributions; > 0.25 is commonly read as a major shift).
    """
    observed_shares = shares(observed)
    reference_shares = shares(reference)
    psi = 0.0
    for key in set(observed_shares) | set(reference_shares):
        o = max(observed_shares.get(key, 0.0), epsilon)
        r = max(reference_shares.get(key, 0.0), epsilon)
        psi += (o - r) * math.log(o / r)
    return psi
