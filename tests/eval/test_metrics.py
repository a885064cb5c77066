"""Wilson score interval: known values, bounds and edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socratic_distill.eval.metrics import accuracy_with_ci, mcnemar_exact


@pytest.mark.parametrize(
    ("correct", "total", "confidence", "expected"),
    [
        (50, 100, 0.95, (0.5, 0.4038, 0.5962)),
        (0, 10, 0.95, (0.0, 0.0, 0.2775)),  # upper bound z^2 / (n + z^2)
        (10, 10, 0.95, (1.0, 0.7225, 1.0)),
        (807, 1319, 0.95, (0.6118, 0.5852, 0.6378)),
        (1, 1, 0.99, (1.0, 0.1310, 1.0)),
    ],
)
def test_known_values(
    correct: int, total: int, confidence: float, expected: tuple[float, float, float]
) -> None:
    assert accuracy_with_ci(correct, total, confidence) == pytest.approx(expected, abs=1e-4)


def test_extremes_are_exact() -> None:
    assert accuracy_with_ci(0, 1319)[:2] == (0.0, 0.0)
    assert accuracy_with_ci(1319, 1319)[0::2] == (1.0, 1.0)


def test_no_problems_means_nothing_known() -> None:
    assert accuracy_with_ci(0, 0) == (0.0, 0.0, 1.0)


def test_higher_confidence_is_wider() -> None:
    _, low90, high90 = accuracy_with_ci(30, 50, 0.90)
    _, low99, high99 = accuracy_with_ci(30, 50, 0.99)
    assert low99 < low90 < 0.6 < high90 < high99


@pytest.mark.parametrize(
    ("correct", "total", "confidence"), [(-1, 10, 0.95), (11, 10, 0.95), (5, 10, 1.0), (5, 10, 0)]
)
def test_rejects_impossible_input(correct: int, total: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        accuracy_with_ci(correct, total, confidence)


@given(st.integers(min_value=1, max_value=100_000).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))))
def test_interval_holds_the_accuracy_inside_unit_range(pair: tuple[int, int]) -> None:
    correct, total = pair
    accuracy, low, high = accuracy_with_ci(correct, total)
    assert 0.0 <= low <= accuracy <= high <= 1.0
    assert low < high


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [(10, 0, 2 / 2**10), (0, 10, 2 / 2**10), (5, 5, 1.0), (0, 0, 1.0), (23, 14, 0.1877),
     (1, 0, 1.0)],
)
def test_mcnemar_exact_known_values(only_a: int, only_b: int, expected: float) -> None:
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, abs=1e-4)


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_symmetric_and_a_probability(only_a: int, only_b: int) -> None:
    p = mcnemar_exact(only_a, only_b)
    assert p == mcnemar_exact(only_b, only_a)
    assert 0 < p <= 1
