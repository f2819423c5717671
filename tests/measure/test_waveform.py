"""Threshold crossings and transition times on sampled waveforms: exact on piecewise-linear signals, including a
crossing that falls between the two samples that straddle a window's bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosim.measure import crossing_s, last_crossing_s, transition_s

T = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
V = np.array([0.0, 0.0, 2.0, 2.0, 0.0, 0.0])  # rises through 1 at t=1.5, falls through 1 at t=3.5


def test_first_and_last_crossings_with_direction():
    assert crossing_s(T, V, 1.0, 0.0) == pytest.approx(1.5)
    assert crossing_s(T, V, 1.0, 0.0, rising=False) == pytest.approx(3.5)
    assert last_crossing_s(T, V, 1.0, 0.0, 5.0, rising=True) == pytest.approx(1.5)
    assert last_crossing_s(T, V, 1.0, 0.0, 5.0, rising=False) == pytest.approx(3.5)


def test_a_crossing_between_samples_that_straddle_a_bound_is_found_on_its_side():
    # window bounds inside the sample interval [1, 2] that holds the crossing at 1.5
    assert crossing_s(T, V, 1.0, 1.4, 5.0) == pytest.approx(1.5)
    assert math.isnan(crossing_s(T, V, 1.0, 1.6, 3.0))
    assert last_crossing_s(T, V, 1.0, 0.0, 1.6, rising=True) == pytest.approx(1.5)
    assert math.isnan(last_crossing_s(T, V, 1.0, 0.0, 1.4, rising=True))


def test_transition_is_ten_to_ninety_percent_of_the_edge_through_its_midpoint():
    vdd = 2.0  # 10 % = 0.2 at t=1.1, 90 % = 1.8 at t=1.9 on the rise; the reverse on the fall
    assert transition_s(T, V, vdd, 1.5, 5.0, rising=True) == pytest.approx(0.8)
    assert transition_s(T, V, vdd, 3.5, 5.0, rising=False) == pytest.approx(0.8)
    assert math.isnan(transition_s(T, V, vdd, 1.5, 1.8, rising=True))  # the edge does not complete in the window
