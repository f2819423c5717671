"""Pure functions of sampled waveforms (numpy arrays of the transient's time axis and a vector)."""

from __future__ import annotations

import math

import numpy as np


def sample_v(time_s: np.ndarray, v: np.ndarray, at_s: float) -> float:
    """The waveform at `at_s`, linearly interpolated."""
    return float(np.interp(at_s, time_s, v))


def _crossings(time_s: np.ndarray, v: np.ndarray, level: float, after_s: float, before_s: float,
               rising: bool | None) -> np.ndarray:
    """Times in (after_s, before_s) at which `v` crosses `level` (linear interpolation between samples). The samples
    just outside the window count, so a crossing between the last sample before a bound and the first after it is
    found on the side of the bound where it lies."""
    lo = max(0, int(np.searchsorted(time_s, after_s, side="left")) - 1)
    hi = min(len(time_s), int(np.searchsorted(time_s, before_s, side="right")) + 1)
    if hi - lo < 2:
        return np.empty(0)
    t, x = time_s[lo:hi], v[lo:hi] - level
    above = x > 0
    change = np.nonzero(above[1:] != above[:-1])[0]
    if rising is not None:
        change = change[above[change + 1] == rising]
    times = t[change] - x[change] * (t[change + 1] - t[change]) / (x[change + 1] - x[change])
    return times[(times > after_s) & (times < before_s)]


def crossing_s(
    time_s: np.ndarray, v: np.ndarray, level: float, after_s: float, before_s: float = math.inf, rising: bool | None = None
) -> float:
    """First time in (after_s, before_s) at which `v` crosses `level` (rising, falling or either); NaN if none."""
    times = _crossings(time_s, v, level, after_s, before_s, rising)
    return float(times[0]) if len(times) else math.nan


def last_crossing_s(time_s: np.ndarray, v: np.ndarray, level: float, after_s: float, before_s: float,
                    rising: bool) -> float:
    """Last time in (after_s, before_s) at which `v` crosses `level` in the given direction; NaN if none. A signal
    that ends the window on the far side of `level` has stayed there since this time."""
    times = _crossings(time_s, v, level, after_s, before_s, rising)
    return float(times[-1]) if len(times) else math.nan


def transition_s(time_s: np.ndarray, v: np.ndarray, vdd_v: float, mid_s: float, before_s: float, rising: bool,
                 low: float = 0.1, high: float = 0.9) -> float:
    """10-90 % transition time of the edge whose 50 % crossing is at `mid_s` (Liberty's slew thresholds): from the
    last crossing of the starting threshold before it to the first crossing of the ending one after it (before
    `before_s`); NaN if the edge does not complete."""
    start, end = (low, high) if rising else (high, low)
    t_start = last_crossing_s(time_s, v, start * vdd_v, -math.inf, mid_s, rising)
    t_end = crossing_s(time_s, v, end * vdd_v, mid_s, before_s, rising)
    return t_end - t_start


def _window(time_s: np.ndarray, y: np.ndarray, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    inside = (time_s > t0) & (time_s < t1)
    t = np.concatenate(([t0], time_s[inside], [t1]))
    return t, np.interp(t, time_s, y)


def energy_j(time_s: np.ndarray, supply_current_a: np.ndarray, vdd_v: float, t0_s: float, t1_s: float) -> float:
    """Energy the supply delivers in [t0, t1]. ngspice reports a source's current flowing into its + terminal,
    so a supply delivering power has negative current: E = -V * integral(i dt)."""
    t, i = _window(time_s, supply_current_a, t0_s, t1_s)
    return float(-vdd_v * np.trapezoid(i, t))


def mean_power_w(time_s: np.ndarray, supply_current_a: np.ndarray, vdd_v: float, t0_s: float, t1_s: float) -> float:
    return energy_j(time_s, supply_current_a, vdd_v, t0_s, t1_s) / (t1_s - t0_s)


def level_bits(voltages: np.ndarray, vdd_v: float) -> np.ndarray:
    """Logic values of sampled voltages: 1 above VDD/2, else 0."""
    return (np.asarray(voltages) > vdd_v / 2).astype(np.int64)
