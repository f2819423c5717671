"""Timing arcs at one corner beyond the main table (what a Liberty model needs): clk->dout and dout's transition
over a grid of output loads x input slews (NLDM), the clock's insertion delay to the input flops, the input pins'
capacitance, and the input flop's setup and hold by bisection (as OpenRAM's characterizer does: the flop alone).

Definitions (docs/timing.md): clk->dout rise from the clock's falling edge, clk->dout fall from its rising edge
(plan.TIMED_FROM), each to the last 50 % crossing of dout toward the read value (a rise that gets there before the
sense amp's enable rises says so in its message); transitions 10-90 %; input slew is
the 10-90 % time of the stimulus ramp (0.8 x its 0-100 % length); a pin's capacitance is the charge its source
delivers over one transition / VDD; setup/hold are referred to the macro's clk pin by adding the insertion delay
(clk0 -> clk_buf, which clocks every input flop) to the flop's own figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from cosim.errors import CosimError
from cosim.characterize.plan import TIMED_FROM, MacroPlan
from cosim.characterize.point import PointRequest, _run, _spec
from cosim.measure import crossing_s, last_crossing_s, sample_v, transition_s
from cosim.sim import run
from cosim.testbench import Cycle, source_name

#: the NLDM grid: dout load (F) x input ramp (0-100 %, s), around the main table's point (5 fF, 50 ps). dout is the
#: sense amp's own output (no buffer): loads much above 20 fF slow its rise past a cycle
LOADS_F = (2.5e-15, 5e-15, 20e-15)
RAMPS_S = (50e-12, 200e-12, 800e-12)
NOMINAL = (5e-15, 50e-12)
#: the arcs' decks run at this multiple of the nominal period, so a slow arc is measured, not cut by the next edge
PERIOD_FACTOR = 1.5
RAMP_TO_SLEW = 0.8  #: 10-90 % time of a linear 0-100 % ramp
#: the input flop of OpenRAM's sky130 macros (din, addr; csb/web through dff_buf, the same flop) and its clock net
FLOP = "sky130_fd_bd_sram__openram_dff"
FLOP_CLOCK = "clk_buf0"
BISECTION_STEPS = 10  #: setup/hold resolution: 2 ns / 2^10 ~ 2 ps
FLOP_LOAD_F = 2e-15
PIN_CAP_PINS = ("clk0", "csb0", "web0", "addr0[0]", "din0[0]")
#: the sense amps' enable (a net of the macro's top level): a read's dout is valid only once it has risen
SENSE_ENABLE = "s_en0"
#: the arcs' time step. Before the sense amp fires, dout drifts toward mid-supply (the sense amp's PMOS inputs hold
#: its internal node near the output inverter's trip point) and s_en's edge then knocks it back for ~100 ps; a 45 ps
#: step (the decks' default, period / 200) smooths that dip away at some loads and not others, and the last 50 %
#: crossing jumps between the drift and the latched edge. At 10 ps every point gives the latched edge (within 1 ps
#: of a 5 ps step on sram_32x256)
ARC_STEP_S = 10e-12


@dataclass(frozen=True)
class ArcRow:
    """One figure of the timing table: ``quantity`` at (load, input slew) for dout arcs, or of ``pin``."""

    quantity: str  #: clk_to_dout_rise, clk_to_dout_fall, dout_rise_transition, dout_fall_transition,
    #: clock_insertion, pin_capacitance, setup_rise, setup_fall, hold_rise, hold_fall (the flop's own)
    value: float  #: s or F
    pin: str = ""
    load_f: float = math.nan
    input_slew_s: float = math.nan
    message: str = ""


def read_sequence(plan: MacroPlan):
    """Reads whose dout changes (0 -> 1 -> 0), then a write of the same value (web toggles) and a deselected cycle
    with a new address and data (addr and din toggle): every pin of PIN_CAP_PINS switches once alone."""
    a, b, ones = plan.address_a, plan.address_b, plan.data_mask
    cycles = (Cycle("read", a), Cycle("idle", a), Cycle("read", b), Cycle("idle", b), Cycle("read", a),
              Cycle("idle", a), Cycle("write", a, 0), Cycle("idle", a), Cycle("idle", a ^ 1, ones), Cycle("idle", a ^ 1, ones))
    return cycles, (2, 4), plan.stored(a, 0) + plan.stored(b, ones)


def arcs_spec(req: PointRequest, load_f: float, ramp_s: float):
    """The deck of one (load, input ramp) point: read_sequence at PERIOD_FACTOR x the nominal period, the flops'
    clock probed, and at the nominal point the input sources' currents saved (pin capacitances)."""
    cycles, _, init = read_sequence(req.plan)
    spec = _spec(req, (cycles, (), init), PERIOD_FACTOR * req.period_s, 0.0, req.options, step_s=ARC_STEP_S)
    nominal = (load_f, ramp_s) == NOMINAL
    return replace(spec, load_f=load_f, slew_s=ramp_s, last_cycle_fraction=1.0,
                   probes=(f"{req.plan.instance}.{FLOP_CLOCK}", f"{req.plan.instance}.{SENSE_ENABLE}"),
                   currents=tuple(source_name(req.plan.ports, p) for p in PIN_CAP_PINS) if nominal else ())


def _charge_c(t: np.ndarray, i: np.ndarray, t0: float, t1: float, vdd: float) -> float:
    inside = (t >= t0) & (t <= t1)
    return abs(float(np.trapezoid(i[inside], t[inside]))) / vdd


def dout_arcs(req: PointRequest, load_f: float, ramp_s: float, counters: dict, decks: dict) -> list[ArcRow]:
    """clk->dout rise/fall and their transitions at one (load, input ramp); at the nominal point also the insertion
    delay and the pin capacitances."""
    plan, vdd = req.plan, req.corner.vdd_v
    _, reads, _ = read_sequence(plan)
    caps = (load_f, ramp_s) == NOMINAL
    spec = arcs_spec(req, load_f, ramp_s)
    r, deck, spec = _run(req, spec, f"arcs_{load_f * 1e15:g}fF_{ramp_s * 1e12:g}ps", counters)
    decks.setdefault(f"arcs_{load_f * 1e15:g}fF_{ramp_s * 1e12:g}ps", deck)
    t, width = r.time_s, plan.macro.word_size
    slew = RAMP_TO_SLEW * ramp_s
    rows: list[ArcRow] = []
    for cycle, (value, rising) in zip(reads, ((plan.data_mask, True), (0, False))):
        t0 = spec.cycle_start_s(cycle)
        t1 = t0 + spec.period_s
        dout = plan.ports.dout[:width]
        wrong = [n for n in dout if (sample_v(t, r.v(n), t1) > vdd / 2) != rising]
        name = "rise" if rising else "fall"
        if wrong:
            rows.append(ArcRow(f"clk_to_dout_{name}", math.nan, load_f=load_f, input_slew_s=slew,
                               message=f"{wrong[0]} wrong at the next rising edge: read fails"))
            continue
        after_fall = TIMED_FROM["read_1" if rising else "read_0"] == "clk_fall"
        edge = t0 + (spec.period_s / 2 if after_fall else 0.0)
        times = [last_crossing_s(t, r.v(n), vdd / 2, t0, t1, rising) for n in dout]
        note = ""
        if after_fall:  # the data come from the sense amp: say where dout got there before it fired
            fired = crossing_s(t, r.v(f"{plan.instance}.{SENSE_ENABLE}"), 0.1 * vdd, edge, t1, rising=True)
            if not max(times) > fired:
                note = (f"dout past VDD/2 for good {max(times) - edge:.4g} s after the edge, before the sense amp "
                        f"fired ({fired - edge:.4g} s): its drift toward the data, which the sense amp then holds")
        slews = [transition_s(t, r.v(n), vdd, x, t1 + spec.period_s, rising) for n, x in zip(dout, times)]
        rows.append(ArcRow(f"clk_to_dout_{name}", max(times) - edge, load_f=load_f, input_slew_s=slew, message=note))
        rows.append(ArcRow(f"dout_{name}_transition", max(slews), load_f=load_f, input_slew_s=slew))
    if load_f != NOMINAL[0]:
        return rows
    # insertion delay: the read cycle's rising edge at clk0 to the flops' clock (it does not depend on dout's load)
    t_edge = spec.cycle_start_s(reads[0])
    t_buf = crossing_s(t, r.v(f"{plan.instance}.{FLOP_CLOCK}"), vdd / 2, t_edge - ramp_s, t_edge + spec.period_s / 2,
                       rising=True)
    rows.append(ArcRow("clock_insertion", t_buf - t_edge, pin=plan.ports.clk, input_slew_s=slew))
    if caps:
        rows += _pin_caps(spec, r, plan, vdd)
    return rows


def _pin_caps(spec, r, plan: MacroPlan, vdd: float) -> list[ArcRow]:
    """Each pin's first transition (inputs change at the falling edge before a cycle; the clock rises at a cycle's
    start): the charge its source delivers from the ramp's start to 300 ps after its end, / VDD."""
    t = r.time_s
    rows = []
    for pin in PIN_CAP_PINS:
        i = r.v(f"{source_name(plan.ports, pin)}#branch")
        if pin == plan.ports.clk:
            start = spec.cycle_start_s(0) - spec.slew_s / 2
        else:
            wave = _level_changes(spec, pin)
            if not wave:
                continue
            start = wave[0]
        rows.append(ArcRow("pin_capacitance", _charge_c(t, i, start, start + spec.slew_s + 300e-12, vdd), pin=pin,
                           input_slew_s=RAMP_TO_SLEW * spec.slew_s))
    return rows


def _level_changes(spec, pin: str) -> list[float]:
    """Times at which the stimulus of ``pin`` starts a transition within the measured cycles."""
    from cosim.testbench.sram import _levels

    seq = _levels(spec)[pin]
    out = []
    for k in range(spec.settle_cycles + 1, len(seq)):
        if seq[k] != seq[k - 1]:
            out.append(k * spec.period_s - spec.period_s / 2)
    return out


# ---------------------------------------------------------------- the input flop's setup and hold

_FLOP_DECK = """* cosim: {kind} of {flop} at {corner}, D {direction} {offset:+.4e} s from the tested clock edge
.include "{models}"
.temp {temp}
{flop_subckt}
v_supply vdd 0 {vdd}
v_clk clk 0 pwl({clock})
v_d d 0 pwl({data})
x_flop d q clk vdd 0 {flop}
c_q q 0 {load}
.save v(q) v(d) v(clk)
.tran {step:.4e} {stop:.6e}
.end
"""


def _pwl(levels: list[tuple[float, int]], vdd: float, ramp: float) -> str:
    """PWL of a signal that starts at levels[0][1] and ramps to each next level at its time (ramp centred there)."""
    points = [(0.0, levels[0][1])]
    for t, level in levels[1:]:
        points += [(t - ramp / 2, points[-1][1]), (t + ramp / 2, level)]
    return " ".join(f"{t:.6e} {v * vdd:.6g}" for t, v in points)


def _flop_passes(req: PointRequest, flop_subckt: str, kind: str, rising: bool, offset_s: float, counters: dict) -> bool:
    """One run of the flop alone (:func:`flop_deck`): does Q end at the value the tested edge should leave?"""
    counters["runs"] += 1
    stop = 1e-9 + 1.5 * req.period_s
    r = run(flop_deck(req, flop_subckt, kind, rising, offset_s), None, stop, req.backend, req.sim)
    expect = rising if kind == "setup" else not rising
    return (sample_v(r.time_s, r.v("q"), stop) > req.corner.vdd_v / 2) == expect


def flop_deck(req: PointRequest, flop_subckt: str, kind: str, rising: bool, offset_s: float) -> str:
    """The flop alone. Setup: the first clock edge captures D's old value, D switches ``offset_s`` before
    the second edge, which passes when Q takes the new value. Hold: the first edge captures the opposite value, D
    takes the value to capture half a period later and switches away ``offset_s`` after the second edge, which
    passes when Q keeps the value it captured."""
    vdd, period, ramp = req.corner.vdd_v, req.period_s, 50e-12
    edge1, edge2 = 1e-9, 1e-9 + period
    old = 0 if rising else 1  # D's value before its tested transition
    if kind == "setup":
        data = [(0.0, old), (edge2 - offset_s, 1 - old)]
    else:
        data = [(0.0, 1 - old), (edge1 + period / 2, old), (edge2 + offset_s, 1 - old)]
    clock = [(0.0, 0), (edge1, 1), (edge1 + period / 2, 0), (edge2, 1)]
    stop = edge2 + period / 2
    deck = _FLOP_DECK.format(
        kind=kind, flop=FLOP, corner=req.corner.name, direction="rises" if rising else "falls", offset=offset_s,
        models=req.model_deck_path, flop_subckt=flop_subckt, temp=req.corner.temp_c, vdd=vdd,
        clock=_pwl(clock, vdd, ramp), data=_pwl(data, vdd, ramp), load=FLOP_LOAD_F, step=period / 400, stop=stop)
    return deck


def flop_subckt(netlist_text: str) -> str:
    """The input flop's .subckt block, as the macro's netlist defines it."""
    m = re.search(rf"(?ims)^\.subckt\s+{FLOP}\b.*?^\.ends\b[^\n]*", netlist_text)
    if m is None:
        raise CosimError(f"the netlist has no {FLOP} subckt: setup/hold are measured on OpenRAM's input flop")
    return m.group(0)


def flop_constraint_s(req: PointRequest, subckt: str, kind: str, rising: bool, counters: dict) -> float:
    """Bisection of the smallest offset that passes (setup: D before the edge; hold: D after it; negative allowed)."""
    lo, hi = -1e-9, 1e-9  # lo fails, hi passes (checked)
    if not _flop_passes(req, subckt, kind, rising, hi, counters) or _flop_passes(req, subckt, kind, rising, lo, counters):
        return math.nan
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        if _flop_passes(req, subckt, kind, rising, mid, counters):
            hi = mid
        else:
            lo = mid
    return hi


def din_multiplicity(info: dict, bit: int = 0) -> int:
    """How many data bits din0[bit] stands for in a bit-folded netlist (cosim.characterize.bitfold: its slice's
    devices carry the others' multiplier, so its pin's charge is theirs too)."""
    folded = info.get("bits_folded", {}) or {}
    return 1 + sum(1 for rep in folded.values() if int(rep) == bit)


def characterize_arcs(req: PointRequest, netlist_text: str, netlist_info: dict) -> tuple[list[ArcRow], dict]:
    """Every figure of the timing table at ``req``'s corner; returns the rows and the run counters."""
    counters = {"runs": 0, "retries": 0}
    decks: dict[str, str] = {}
    rows: list[ArcRow] = []
    for load in LOADS_F:
        for ramp in RAMPS_S:
            rows += dout_arcs(req, load, ramp, counters, decks)
    n = din_multiplicity(netlist_info)
    rows = [replace(r, value=r.value / n, message=f"din0[0]'s slice stands for {n} bits: charge / {n}")
            if r.quantity == "pin_capacitance" and r.pin.startswith("din") and n > 1 else r for r in rows]
    subckt = flop_subckt(netlist_text)
    for kind in ("setup", "hold"):
        for rising in (True, False):
            rows.append(ArcRow(f"{kind}_{'rise' if rising else 'fall'}",
                               flop_constraint_s(req, subckt, kind, rising, counters), pin=FLOP,
                               input_slew_s=RAMP_TO_SLEW * 50e-12))
    return rows, counters
