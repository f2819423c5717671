"""Pure: what to simulate for one macro at one corner (cycle sequences, cells to probe, initial conditions).

OpenRAM's 1rw macros turn the word line on in the clock-low half of a cycle and off a few gates after the next
rising edge; the row address flops switch at that same edge. SPICE shows (sram_8x16, tt, 1.8 V, 25 C) the newly
addressed word line rising ~100 ps before the previous word line enable falls: a full-height glitch that, right
after a write or a read (bit lines at full swing), overwrites the newly addressed row. So every sequence here
changes the address only after a deselected cycle that holds the previous address (`hold` cycles), and the hazard
itself is measured as its own operation (`row_switch`), never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log2

from cosim.netlist import Macro
from cosim.testbench import Cycle, SramPorts

#: nominal clock period per macro size (s): long enough at every default corner (checked by the min-cycle search);
#: energies are measured at this period and the period is stored with them.
def nominal_period_s(macro: Macro) -> float:
    bits = macro.words * macro.word_size
    return 4e-9 if bits <= 256 else 5e-9 if bits <= 2048 else 6e-9 if bits <= 8192 else 8e-9


@dataclass(frozen=True)
class MacroPlan:
    macro: Macro
    ports: SramPorts
    instance: str  #: testbench instance name of the macro

    @property
    def data_mask(self) -> int:
        """Bits of din/dout that are the word (spare columns are not written: spare_wen is held low)."""
        return (1 << self.macro.word_size) - 1

    @property
    def address_a(self) -> int:
        return self.macro.words - 1  # last word: farthest row and last column-mux input

    @property
    def address_b(self) -> int:
        return 0

    def cell(self, address: int, bit: int) -> tuple[int, int]:
        """(row, column) of bit `bit` of word `address` (OpenRAM: low address bits select the column mux input)."""
        wpr = self.macro.words_per_row
        col_bits = int(log2(wpr)) if wpr > 1 else 0
        row = address >> col_bits
        col = bit * wpr + (address & (wpr - 1))
        return row, col

    def q_node(self, address: int, bit: int) -> str:
        row, col = self.cell(address, bit)
        path = ".".join(p.lower() for p in (self.instance, *self.macro.bitcell_array_path))
        return f"{path}.xrow_{row}_col_{col}_bitcell.q"

    def word_nodes(self, address: int) -> tuple[str, ...]:
        return tuple(self.q_node(address, b) for b in range(self.macro.word_size))

    def stored(self, address: int, value: int) -> tuple[tuple[str, float], ...]:
        """Initial conditions storing `value` at `address`: (node, 0/1) for both storage nodes of each cell, so the
        latch starts in a definite state rather than resolving from q = q_bar."""
        out = []
        for b, node in enumerate(self.word_nodes(address)):
            bit = (value >> b) & 1
            out += [(node, float(bit)), (node + "_bar", float(1 - bit))]
        return tuple(out)

    def kept_rows(self) -> frozenset[int]:
        """Rows the plans access (what a folded netlist keeps cell by cell)."""
        return frozenset(self.cell(a, 0)[0] for a in (self.address_a, self.address_b))


def make_plan(macro: Macro, instance: str = "x_sram") -> MacroPlan:
    def bus(name: str) -> tuple[str, ...]:
        return tuple(f"{name}[{i}]" for i in range(macro.bus_width(name)))

    ports = SramPorts(
        top=macro.name,
        order=macro.ports,
        din=bus("din0"),
        dout=bus("dout0"),
        addr=bus("addr0"),
        csb="csb0",
        web="web0",
        clk="clk0",
        power=macro.power[0],
        ground=macro.ground[0],
        tie_low=tuple(p for p in macro.ports if p.startswith("spare_wen")),
    )
    return MacroPlan(macro=macro, ports=ports, instance=instance)


#: The clock edge each timed op is measured from: the edge that launches what is timed (Liberty's timing_type).
#: OpenRAM's sky130 1rw macros turn the word line on and fire the sense amp after the FALLING edge, so a written cell
#: flips and a read's 1 reaches dout after it; the sense amp is reset after the RISING edge, which pulls every dout
#: low whatever the data, so a read's 0 (dout falling from the previous read's 1) is valid from then
#: (docs/timing.md).
TIMED_FROM = {"read_1": "clk_fall", "read_0": "clk_rise", "row_switch": "clk_rise", "write_0to1": "clk_fall",
              "write_1to0": "clk_fall"}


@dataclass(frozen=True)
class Measured:
    """What one cycle of a sequence measures: table op name, the cycle index, the expected word (reads/writes)."""

    op: str
    cycle: int
    address: int
    expect: int | None = None
    flips: bool = False  #: a write whose stored bits all change (its write time is measured)


def main_sequence(plan: MacroPlan) -> tuple[tuple[Cycle, ...], tuple[Measured, ...], tuple[tuple[str, float], ...]]:
    """Cycles, measured operations and initial stored values (node, 0/1) of the main deck.

    A holds all ones and B all zeros initially (initial conditions), so the two first writes flip every bit.
    """
    a, b, ones = plan.address_a, plan.address_b, plan.data_mask
    cycles = (
        Cycle("write", a, 0),  # 0: every bit 1 -> 0
        Cycle("idle", a),  # 1: hold
        Cycle("write", b, ones),  # 2: every bit 0 -> 1
        Cycle("idle", b),  # 3
        Cycle("read", a),  # 4: sets dout to zeros, so the next read's outputs all rise (timed reads change dout)
        Cycle("idle", a),  # 5
        Cycle("read", b),  # 6: read_1 (all outputs rise)
        Cycle("idle", b),  # 7
        Cycle("read", a),  # 8: read_0 (all outputs fall)
        Cycle("write", a, 0),  # 9: same value again
        Cycle("idle", a),  # 10: deselected cycle, clock running
    )
    measured = (
        Measured("write_1to0", 0, a, 0, flips=True),
        Measured("write_0to1", 2, b, ones, flips=True),
        Measured("read_1", 6, b, ones),
        Measured("read_0", 8, a, 0),
        Measured("write_same", 9, a, 0),
        Measured("idle", 10, a),
    )
    return cycles, measured, plan.stored(a, ones) + plan.stored(b, 0)


def min_cycle_sequence(plan: MacroPlan) -> tuple[tuple[Cycle, ...], tuple[Measured, ...], tuple[tuple[str, float], ...]]:
    """Write a word of ones over zeros, then read it back at once (same address: no hold needed). Every bit flips and
    every dout bit rises in the read (the sense amp's reset leaves dout low): the slowest write and the slowest
    read, as the main deck's write_0to1 and read_1."""
    a, ones = plan.address_a, plan.data_mask
    cycles = (Cycle("write", a, ones), Cycle("read", a), Cycle("idle", a))
    measured = (Measured("write", 0, a, ones, flips=True), Measured("read", 1, a, ones))
    return cycles, measured, plan.stored(a, 0)


def row_switch_sequence(plan: MacroPlan) -> tuple[tuple[Cycle, ...], tuple[Measured, ...], tuple[tuple[str, float], ...]]:
    """Back-to-back accesses to different rows with no hold cycle: write B, then read A at once."""
    a, b, ones = plan.address_a, plan.address_b, plan.data_mask
    cycles = (Cycle("write", b, ones), Cycle("read", a), Cycle("idle", a))
    measured = (Measured("row_switch", 1, a, 0),)
    return cycles, measured, plan.stored(a, 0) + plan.stored(b, 0)


def settle_cycles(period_s: float) -> int:
    """Deselected cycles before the first access: the transient starts from initial conditions (uic) and the
    periphery needs ~2 ns to reach its operating point."""
    return max(2, ceil(3e-9 / period_s))
