"""Action counts x table costs -> energy and latency per image and layer (Accelergy-style arithmetic).

Energy of one image in one layer, per memory (weights, activations), from AccessCosts at the run's clock period:
  sram_read_j  = reads * read_base_j + ones_read * read_per_one_j
  sram_write_j = writes * write_same_j + flips_0to1 * write_per_0to1_j + flips_1to0 * write_per_1to0_j
  idle_j       = holds * idle_j                                       (deselected cycles the row-switch hazard needs)
  leakage_j    = (banks * cycles - reads - writes - holds) * clock_s * leakage_w + stall_s * banks * leakage_w
                 (a bank not accessed in a cycle has its clock gated, and so has every bank while waiting on
                 off-chip memory: it only leaks)
  With clock_gating = false in the accelerator file, a bank not accessed is clocked and charged the table's idle
  cycle instead: idle_j = (banks * cycles - reads - writes) * idle_j; leakage_j = stall_s * banks * leakage_w.
  offchip_j    = bytes moved * offchip energy per byte                (NOT SPICE-derived, literature)
  compute_j    = macs * energy per MAC                                (NOT SPICE-derived, literature)
Latency of a layer: cycles * clock_s + stall_s with
  cycles = max(ceil((weight accesses + holds) / weight banks), ceil((activation accesses + holds) / activation banks),
               ceil(macs / MACs per cycle))
  holds  = accesses that change row on their bank, where the table's row_switch rows show the hazard (counting.py)
  (memories and MAC array work in parallel; banks are word-interleaved) and
  stall_s = off-chip bytes / off-chip bandwidth (transfers are not overlapped with compute: conservative).
The per-cycle energies of the table already hold that cycle's leakage, so leakage is charged separately only for
gated (unclocked) bank-cycles and stalled time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.errors import ConfigError
from cosim.memory.accelerator import Accelerator
from cosim.memory.counting import MemoryCounts
from cosim.table import AccessCosts

COMPONENTS = ("sram_read_j", "sram_write_j", "idle_j", "leakage_j", "offchip_j", "compute_j")


def clock_period(acc: Accelerator, costs_w: AccessCosts, costs_a: AccessCosts) -> float:
    """The run's clock period: the tables' min_cycle (slowest macro; raised to read_cycle where reads pass only at
    that slower period), or the fixed frequency if the tables allow it."""
    tmin = max(costs_w.min_cycle_s, costs_a.min_cycle_s)
    if acc.clock_mode == "min_cycle":
        return tmin
    period = 1.0 / float(acc.frequency_hz)
    if period < tmin:
        slow = any(c.status is not None and c.status.slower_clock for c in (costs_w, costs_a))
        raise ConfigError(
            f"{acc.path}: clock {acc.frequency_hz:g} Hz (period {period:.3e} s) is faster than the table's minimum cycle "
            f"{tmin:.3e} s at {costs_w.corner.name}" + (" (its read_cycle: reads fail at a faster clock)" if slow else "")
            + f": lower frequency_hz to <= {1.0 / tmin:.4g} Hz or use mode = \"min_cycle\""
        )
    return period


@dataclass(frozen=True)
class Charged:
    """Per image x layer energies [N, L] by component, and per-layer cycle/latency figures [L] (same every image)."""

    energy: dict  #: component -> [N, L] joules
    cycles: np.ndarray  #: [L]
    stall_s: np.ndarray  #: [L]
    latency_s: np.ndarray  #: [L]
    offchip_bytes: np.ndarray  #: [L] per image
    sram_reads: np.ndarray  #: [L] per image (both memories)
    sram_writes: np.ndarray  #: [L]
    holds: np.ndarray  #: [L] per image, both memories

    @property
    def energy_per_image_j(self) -> np.ndarray:
        return sum(self.energy[c] for c in COMPONENTS).sum(axis=1)


def charge(cw: MemoryCounts, ca: MemoryCounts, *, costs_w: AccessCosts, costs_a: AccessCosts, acc: Accelerator,
           clock_s: float, macs: np.ndarray, word_bits_w: int, word_bits_a: int) -> Charged:
    bw, ba = acc.weights.banks, acc.activations.banks
    acc_w = cw.reads + cw.writes
    acc_a = ca.reads + ca.writes
    macs = np.asarray(macs, np.int64)
    # hold cycles (row-switch hazard) occupy their bank like an access but are charged as idle cycles below
    cycles = np.maximum.reduce([-(-(acc_w + cw.holds) // bw), -(-(acc_a + ca.holds) // ba), -(-macs // acc.macs_per_cycle)])
    off_bytes = ((cw.offchip_read_words + cw.offchip_write_words) * word_bits_w // 8
                 + (ca.offchip_read_words + ca.offchip_write_words) * word_bits_a // 8)
    stall = off_bytes / acc.offchip_bandwidth_bytes_per_s
    latency = cycles * clock_s + stall

    def mem(c: MemoryCounts, k: AccessCosts, banks: int, accesses: np.ndarray):
        read = c.reads * k.read_base_j + c.read_ones * k.read_per_one_j
        write = c.writes * k.write_same_j + c.flips_0to1 * k.write_per_0to1_j + c.flips_1to0 * k.write_per_1to0_j
        unused = banks * cycles - accesses  # bank-cycles with no read or write, hold cycles included
        if acc.clock_gating:
            idle = c.holds * k.idle_j
            leak = (unused - c.holds) * clock_s * k.leakage_w + stall * banks * k.leakage_w
        else:
            idle = unused * k.idle_j
            leak = stall * banks * k.leakage_w
        return read, write, idle, leak

    rw, ww, iw, lw = mem(cw, costs_w, bw, acc_w)
    ra, wa, ia, la = mem(ca, costs_a, ba, acc_a)
    N = ca.read_ones.shape[0]
    ones = np.ones((N, 1))
    energy = {
        "sram_read_j": rw + ra,
        "sram_write_j": ww + wa,
        "idle_j": ones * (iw + ia),
        "leakage_j": ones * (lw + la),
        "offchip_j": ones * (off_bytes * acc.offchip_energy_per_byte_j),
        "compute_j": ones * (macs * acc.compute_energy_per_mac_j),
    }
    energy = {k: np.broadcast_to(v, (N, len(cycles))).astype(np.float64) for k, v in energy.items()}
    return Charged(energy, cycles, stall, latency, off_bytes, cw.reads + ca.reads, cw.writes + ca.writes,
                   cw.holds + ca.holds)
