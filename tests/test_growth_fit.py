"""The power-law fit of benchmarks/growth.py on exact power laws."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from growth import fit_power_law


@pytest.mark.parametrize(
    ("a", "b"), [(3.0, 1.0), (0.002, 2.0), (5.0, 0.5), (1.0, 0.0), (7.0, -1.0)]
)
def test_fit_recovers_an_exact_power_law(a, b):
    sizes = [1e4, 1e5, 1e6]
    fit_a, fit_b = fit_power_law(sizes, [a * n**b for n in sizes])
    assert fit_b == pytest.approx(b, abs=1e-9)
    assert fit_a == pytest.approx(a, rel=1e-9)


def test_two_sizes_are_enough_and_order_does_not_matter():
    assert fit_power_law([8000, 2000], [4.0 * 8000**1.5, 4.0 * 2000**1.5])[1] == pytest.approx(1.5)


def test_a_noisy_law_gives_the_least_squares_slope():
    # log-values 0, 1+e, 2 at log-sizes 0, 1, 2 (base 10): the fitted slope stays 1.
    assert fit_power_law([1, 10, 100], [1.0, 10 * 1.3, 100.0])[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("sizes", "values"),
    [([1e4], [1.0]), ([1e4, 1e4], [1.0, 2.0]), ([1e4, 1e5], [1.0, 0.0]), ([1e4, 1e5], [1.0, -1.0])],
)
def test_fit_refuses_what_has_no_power_law(sizes, values):
    with pytest.raises(ValueError):
        fit_power_law(sizes, values)
