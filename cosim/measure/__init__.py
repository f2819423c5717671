"""Pure measurements on waveforms: threshold crossings, supply energy over a window, logic levels."""

from cosim.measure.waveform import crossing_s, energy_j, level_bits, mean_power_w, sample_v

__all__ = ["crossing_s", "energy_j", "level_bits", "mean_power_w", "sample_v"]
