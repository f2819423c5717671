"""Pure measurements on waveforms: threshold crossings, transition times, supply energy over a window, logic levels."""

from cosim.measure.waveform import crossing_s, energy_j, last_crossing_s, level_bits, mean_power_w, sample_v, transition_s

__all__ = ["crossing_s", "energy_j", "last_crossing_s", "level_bits", "mean_power_w", "sample_v", "transition_s"]
