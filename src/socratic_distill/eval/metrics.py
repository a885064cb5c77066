"""Accuracy with a confidence interval, and a paired test between two methods, as pure functions.

The Wilson score interval, not the normal approximation: on test sets of a few hundred problems
and accuracies near 0 or 1 (a small student on GSM8K), the normal interval leaves [0, 1] and
collapses to a point at 0/n, while Wilson's stays inside and keeps a width.

Two methods solved on the same problems are compared on the problems where they disagree
(McNemar's test, exact): two intervals that overlap can still hide a sure difference, and two
that barely miss can hide none, since both methods meet the same hard problems.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion `correct / total`.

    With `total == 0` nothing is known, so the interval is the whole of [0, 1].
    """
    if not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total, got correct={correct}, total={total}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if total == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half_width = z / denominator * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # At 0/n and n/n the exact bound is 0 or 1; floating point would leave a 1e-17 residue.
    low = 0.0 if correct == 0 else max(0.0, centre - half_width)
    high = 1.0 if correct == total else min(1.0, centre + half_width)
    return low, high


def accuracy_with_ci(
    correct: int, total: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(accuracy, low, high) with the Wilson score interval at `confidence`.

    `total == 0` gives (0.0, 0.0, 1.0): no problem was answered correctly, and the interval says
    that nothing is known. We avoid NaN so that reports and JSON stay plain numbers.
    """
    low, high = wilson_interval(correct, total, confidence)
    return (correct / total if total else 0.0), low, high


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: how likely a split of the discordant problems at least
    this uneven is when neither method is better (each of them a fair coin)."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"need counts >= 0, got {only_a} and {only_b}")
    discordant = only_a + only_b
    tail = sum(math.comb(discordant, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**discordant)
