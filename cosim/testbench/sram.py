"""Testbench for an OpenRAM single-port (1rw) SRAM macro.

Protocol (OpenRAM's): inputs are captured by flops at the rising clock edge; csb0 low selects, web0 low writes.
The stimulus changes inputs at the falling edge before each cycle, half a period of setup. Cycle k starts at the
rising edge `t_start_s + k * period_s`; the deck starts with `settle_cycles` deselected cycles (the transient starts
from initial conditions, `uic`, because a DC operating point of a whole macro is out of reach) and ends with the
clock stopped for `leak_s` to read leakage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from cosim.types import Corner

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("cosim.testbench", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


#: default maximum time step: period / STEPS_PER_PERIOD. Coarser steps run faster but move access times and
#: energies by about a percent or more (bench/characterize.py compares them).
STEPS_PER_PERIOD = 200


@dataclass(frozen=True)
class SramPorts:
    """Port names of the macro's top subckt, in order, with the buses it has."""

    top: str  #: top subckt name
    order: tuple[str, ...]  #: all ports in `.subckt` order
    din: tuple[str, ...]
    dout: tuple[str, ...]
    addr: tuple[str, ...]  #: addr[0] is the least significant bit
    csb: str
    web: str
    clk: str
    power: str
    ground: str
    tie_low: tuple[str, ...] = ()  #: other inputs held at 0 (spare_wen: spare columns are not used)


@dataclass(frozen=True)
class Cycle:
    """One clock cycle: `op` in read/write/idle; `data` is the word written (din), all bits."""

    op: str
    address: int = 0
    data: int = 0


@dataclass(frozen=True)
class TestbenchSpec:
    ports: SramPorts
    netlist_path: Path
    model_deck_path: Path
    corner: Corner
    cycles: tuple[Cycle, ...]
    period_s: float
    slew_s: float = 50e-12
    load_f: float = 5e-15  #: capacitance on each dout pin
    settle_cycles: int = 2
    leak_s: float = 0.0  #: clock stopped, deselected, at the end
    initial_conditions: tuple[tuple[str, float], ...] = ()  #: (node, volts) for `.ic`
    probes: tuple[str, ...] = ()  #: internal nodes to save besides the ports
    currents: tuple[str, ...] = ()  #: voltage sources whose current is saved besides the supply's (pin capacitance)
    options: tuple[str, ...] = ()  #: `.options` words (solver settings)
    step_s: float = field(default=0.0)  #: max time step; 0 lets ngspice choose
    #: how much of the last cycle is simulated (without leak_s): a trailing cycle that nothing measures is there only
    #: for its rising edge (a read's data are sampled just after it), so a tenth of it does
    last_cycle_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.last_cycle_fraction <= 1.0:
            raise ValueError(f"last_cycle_fraction must be in (0, 1], got {self.last_cycle_fraction}")

    @property
    def t_start_s(self) -> float:
        return self.settle_cycles * self.period_s

    def cycle_start_s(self, k: int) -> float:
        return self.t_start_s + k * self.period_s


def stop_time_s(spec: TestbenchSpec) -> float:
    return spec.t_start_s + (len(spec.cycles) - 1 + spec.last_cycle_fraction) * spec.period_s + spec.leak_s


def _pwl(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{t:.6e} {v:.6g}" for t, v in points)


def _levels(spec: TestbenchSpec) -> dict[str, list[int]]:
    """Logic level of every input for each cycle slot (settle cycles first, deselected)."""
    p = spec.ports
    n_settle = spec.settle_cycles
    levels: dict[str, list[int]] = {name: [] for name in (*p.din, *p.addr, p.csb, p.web)}
    for k in range(n_settle + len(spec.cycles)):
        cycle = spec.cycles[k - n_settle] if k >= n_settle else Cycle("idle")
        selected = cycle.op in ("read", "write")
        levels[p.csb].append(0 if selected else 1)
        levels[p.web].append(0 if cycle.op == "write" else 1)
        for i, name in enumerate(p.addr):
            levels[name].append((cycle.address >> i) & 1)
        for i, name in enumerate(p.din):
            levels[name].append((cycle.data >> i) & 1)
    if spec.leak_s > 0:  # deselected while the clock is stopped
        for name, seq in levels.items():
            seq.append(1 if name in (p.csb, p.web) else seq[-1])
    return levels


def _input_waveform(seq: list[int], spec: TestbenchSpec) -> str:
    """PWL of a flop input: value k is applied at the falling edge before rising edge k (half a period setup)."""
    vdd, period, slew = spec.corner.vdd_v, spec.period_s, spec.slew_s
    points = [(0.0, seq[0] * vdd)]
    for k in range(1, len(seq)):
        if seq[k] != seq[k - 1]:
            t = k * period - period / 2
            points.append((t, seq[k - 1] * vdd))
            points.append((t + slew, seq[k] * vdd))
    return _pwl(points)


def _clock_waveform(spec: TestbenchSpec) -> str:
    """Square clock, rising edges at k * period (edge midpoints), stopped low after the last cycle."""
    vdd, period, slew = spec.corner.vdd_v, spec.period_s, spec.slew_s
    n = spec.settle_cycles + len(spec.cycles)
    points = [(0.0, 0.0)]
    for k in range(1, n):
        t = k * period
        points += [(t - slew / 2, 0.0), (t + slew / 2, vdd), (t + period / 2 - slew / 2, vdd), (t + period / 2 + slew / 2, 0.0)]
    return _pwl(points)


def render_deck(spec: TestbenchSpec) -> str:
    """The complete deck text for `spec`."""
    p = spec.ports
    levels = _levels(spec)
    sources = [(f"v_{_safe(name)}", name, _input_waveform(seq, spec)) for name, seq in levels.items()]
    stop = stop_time_s(spec)
    saved = [*p.dout, p.clk, *spec.probes]
    return _ENV.get_template("sram_rw.sp.j2").render(
        spec=spec,
        ports=p,
        sources=sources,
        clock=_clock_waveform(spec),
        saved=saved,
        stop_s=stop,
        step_s=spec.step_s or spec.period_s / STEPS_PER_PERIOD,
    )


def source_name(ports: SramPorts, pin: str) -> str:
    """The name of the voltage source that drives input ``pin`` in a rendered deck."""
    return "v_clk" if pin == ports.clk else f"v_{_safe(pin)}"


def _safe(name: str) -> str:
    return name.replace("[", "_").replace("]", "")
