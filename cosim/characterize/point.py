"""One corner of one macro: build decks, run ngspice (in this process), measure. Runs inside a sweep worker.

Everything a point needs arrives in a frozen :class:`PointRequest`, so the same call works in a loky worker, a Dask
worker or the main process; the result is plain data (rows of the tidy table plus provenance).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cosim.characterize.plan import (
    TIMED_FROM,
    MacroPlan,
    Measured,
    main_sequence,
    min_cycle_sequence,
    row_switch_sequence,
    settle_cycles,
)
from cosim.characterize.records import MeasurementRow
from cosim.measure import energy_j, last_crossing_s, level_bits, mean_power_w, sample_v, transition_s
from cosim.sim import NonConvergence, SimOptions, SimResult, run
from cosim.testbench import Cycle, TestbenchSpec, render_deck, stop_time_s
from cosim.types import Corner

#: solver settings of the retry after a failed run (ngspice's gear integration damps the ringing that makes the
#: default trapezoidal method shrink its time step; OpenRAM's own characterizer always uses it)
CONSERVATIVE_OPTIONS = ("method=gear", "reltol=1e-3", "gmin=1e-12", "itl4=100")
#: Leakage deck: a read, a deselected cycle, then the clock stops (low, as a clock gate leaves it) for LEAK_S;
#: leakage is the mean supply power over the last half, and the message gives the drift (the quarter before vs the
#: window). Why a read first: OpenRAM precharges only in selected cycles, so without an access the bit lines keep the
#: transient's 0 V start, and the sense amps and dout sit at mid-rail drawing crowbar current. Why so long: after the
#: clock stops, OpenRAM's bit lines and replica bit line float and drift on leakage for microseconds, and the control
#: logic's delay chain can flip: a property of the macro in standby, recorded with its drift, not hidden
#: (docs/testbench-and-measurements.md). Nothing switches, so the step may be long: gear integration, because
#: trapezoidal integration rings with long steps.
LEAK_S = 8192e-9
LEAK_STEP_S = 8e-9
LEAK_OPTIONS = ("method=gear",)
MIN_CYCLE_STEPS = 4  #: bisection steps of the minimum-cycle search (resolution: 7/8 of the bracket / 2^4)
#: the search doubles the nominal period until write-then-read passes: up to 2^2 x at the foundry's supplies
#: (>= 1.6 V), up to 2^6 x below them, where the sense amp fires tens of ns after the falling edge (0.9 V: ~20 ns)
MIN_CYCLE_DOUBLINGS = 2
LOW_VDD_DOUBLINGS = 6
LOW_VDD_V = 1.6


def min_cycle_doublings(corner: Corner) -> int:
    return MIN_CYCLE_DOUBLINGS if corner.vdd_v >= LOW_VDD_V else LOW_VDD_DOUBLINGS
#: how much of a trailing cycle that nothing measures is simulated: it is there for the edge a read is sampled at
#: and for the end of dout's transition (its slew). ngspice's time steps do not depend on the stop time (the step
#: limit is period / STEPS_PER_PERIOD either way), so the waveforms up to then are the same as with the whole cycle.
TRAILING_CYCLE_FRACTION = 0.1


@dataclass(frozen=True)
class PointRequest:
    plan: MacroPlan
    corner: Corner
    netlist_path: Path  #: the (possibly trimmed) netlist simulated
    model_deck_path: Path
    period_s: float  #: nominal clock period of the main deck
    run_dir: Path | None = None  #: where decks and logs of this point go (kept on failure)
    options: tuple[str, ...] = ()
    search_min_cycle: bool = True
    check_row_switch: bool = True
    backend: str = "batch"  #: simulator backend (cosim.sim.BACKENDS)
    #: how each deck is run: ngspice OpenMP threads (sweeps run points in parallel: one each), time limit
    sim: SimOptions = SimOptions()
    #: every storage cell instance of the simulated array (cosim.characterize.trim.storage_nodes): a cell no sequence
    #: sets starts holding 0, so no latch starts at q = q_bar and resolves during the run (it would add its own
    #: current to energies and leakage) and a folded netlist's cells match the full array's state for state
    storage_cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class PointResult:
    rows: tuple[MeasurementRow, ...]  #: one per op
    decks: dict[str, str] = field(default_factory=dict)  #: deck name -> sha256
    wall_s: float = 0.0
    runs: int = 0
    retries: int = 0


def _spec(req: PointRequest, sequence, period_s: float, leak_s: float, options: tuple[str, ...],
          step_s: float = 0.0) -> TestbenchSpec:  # fmt: skip
    cycles, measured, init = sequence
    last_measured = max((m.cycle for m in measured), default=-1)
    trailing = leak_s == 0 and last_measured < len(cycles) - 1
    probes = tuple(dict.fromkeys(n for m in measured if m.op.startswith("write") for n in req.plan.word_nodes(m.address)))
    vdd = req.corner.vdd_v
    set_nodes = {node for node, _ in init}
    init = init + tuple(
        pair for cell in req.storage_cells if f"{cell}.q" not in set_nodes for pair in ((f"{cell}.q", 0.0), (f"{cell}.q_bar", 1.0))
    )
    return TestbenchSpec(
        ports=req.plan.ports,
        netlist_path=req.netlist_path,
        model_deck_path=req.model_deck_path,
        corner=req.corner,
        cycles=cycles,
        period_s=period_s,
        settle_cycles=settle_cycles(period_s),
        leak_s=leak_s,
        initial_conditions=tuple((node, value * vdd) for node, value in init),
        probes=probes,
        options=options,
        step_s=step_s,
        last_cycle_fraction=TRAILING_CYCLE_FRACTION if trailing else 1.0,
    )


def _run(req: PointRequest, spec: TestbenchSpec, name: str, counters: dict) -> tuple[SimResult, str, TestbenchSpec]:
    """Run a deck; if its transient does not converge, once more with conservative solver options. Returns the
    result, the deck and the spec that ran (rows measured from a retried spec say so: :func:`_check_cycle`).
    A simulator fault (:class:`cosim.sim.SimFault`) is never retried: it is raised, and the corner is not simulated."""
    deck = render_deck(spec)
    run_dir = req.run_dir / name if req.run_dir else None
    counters["runs"] += 1
    try:
        return run(deck, run_dir, stop_time_s(spec), req.backend, req.sim), deck, spec
    except NonConvergence:
        counters["retries"] += 1
        spec = replace(spec, options=tuple(dict.fromkeys(spec.options + CONSERVATIVE_OPTIONS)))
        deck = render_deck(spec)
        return run(deck, run_dir / "retry" if run_dir else None, stop_time_s(spec), req.backend, req.sim), deck, spec


def _word(values: list[float], vdd: float) -> int:
    return int(sum(int(b) << i for i, b in enumerate(level_bits(np.array(values), vdd))))


def _edge_s(spec: TestbenchSpec, cycle: int, edge: str) -> float:
    """Midpoint of the rising edge that starts ``cycle`` or of the falling edge half a period later."""
    return spec.cycle_start_s(cycle) + (spec.period_s / 2 if edge == "clk_fall" else 0.0)


def _check_cycle(req: PointRequest, spec: TestbenchSpec, r: SimResult, m: Measured) -> MeasurementRow:
    """Measurements of one cycle of a run, as a table row (op, status, numbers). Times are taken from the clock
    edge of TIMED_FROM[op] to the last 50 % crossing toward the right value (all bits: the latest), so a value that
    glitches back counts from when it last settled; reads also give the 10-90 % transition time of that edge."""
    vdd, period = req.corner.vdd_v, spec.period_s
    t0 = spec.cycle_start_s(m.cycle)
    t1 = t0 + period
    t = r.time_s
    i_supply = r.v("v_supply#branch")
    width = req.plan.macro.word_size
    row: dict = {"op": m.op, "status": "ok", "period_s": period, "energy_j": energy_j(t, i_supply, vdd, t0, t1)}
    row["solver_options"] = _retried_with(spec, req.options)
    edge = TIMED_FROM.get(m.op)
    late = t1 - min(0.02 * period, 50e-12)  # stored values: just before the next rising edge
    # a read passes when dout holds the right word at the next rising edge, where the reading logic captures it (the
    # sense amp is reset only after that edge)
    valid = t1
    if m.op.startswith("read") or m.op == "row_switch":
        dout = req.plan.ports.dout[:width]
        got = _word([sample_v(t, r.v(n), valid) for n in dout], vdd)
        errors = bin((got ^ m.expect) & req.plan.data_mask).count("1")
        row.update(bits_checked=width, bit_errors=errors)
        if edge and not errors:
            rising = [bool((m.expect >> i) & 1) for i in range(width)]
            times = [last_crossing_s(t, r.v(n), vdd / 2, t0, valid, up) for n, up in zip(dout, rising)]
            if all(math.isfinite(x) for x in times):
                row.update(access_time_s=max(times) - _edge_s(spec, m.cycle, edge), timed_from=edge)
                slews = [transition_s(t, r.v(n), vdd, x, stop_time_s(spec), up) for n, x, up in zip(dout, times, rising)]
                if all(math.isfinite(x) for x in slews):
                    row["slew_s"] = max(slews)
        if errors:
            row.update(status="failed", message=f"read {got:#x}, expected {m.expect:#x}")
    elif m.op.startswith("write"):
        nodes = req.plan.word_nodes(m.address)
        stored = _word([sample_v(t, r.v(n), late) for n in nodes], vdd)
        errors = bin((stored ^ m.expect) & req.plan.data_mask).count("1")
        row.update(bits_checked=width, bit_errors=errors)
        if m.flips and edge and not errors:
            times = [last_crossing_s(t, r.v(n), vdd / 2, t0, late, bool((m.expect >> i) & 1)) for i, n in enumerate(nodes)]
            if all(math.isfinite(x) for x in times):
                row.update(access_time_s=max(times) - _edge_s(spec, m.cycle, edge), timed_from=edge)
        if errors:
            row.update(status="failed", message=f"stored {stored:#x}, expected {m.expect:#x}")
    return MeasurementRow.from_dict(row)  # a time no crossing gave (NaN) is left unset


#: OpenRAM's min-period rule (characterizer/delay.py try_period): a period passes when the read's clk -> dout delay
#: stays within this fraction of its value at a long period. A read whose data are right at the next edge but whose
#: delay moved has not completed in its cycle: at sram_32x256 tt/1.8 V/25 C near 4.4 ns dout reaches 1 through the
#: sense amp's inputs while the sense enable fires only after the next rising edge.
MIN_CYCLE_DELAY_TOLERANCE = 0.05


def _read_rise_delay_s(req: PointRequest, spec: TestbenchSpec, r: SimResult, m: Measured) -> float:
    """clk0 falling edge -> the last of the read's 1 bits settling at 1 (last 50 % crossing), NaN if one has none."""
    t0 = spec.cycle_start_s(m.cycle)
    ones = [n for i, n in enumerate(req.plan.ports.dout[: req.plan.macro.word_size]) if (m.expect >> i) & 1]
    times = [last_crossing_s(r.time_s, r.v(n), req.corner.vdd_v / 2, t0, t0 + spec.period_s, True) for n in ones]
    return max(times) - (t0 + spec.period_s / 2) if times and all(math.isfinite(x) for x in times) else math.nan


def _passes(req: PointRequest, period_s: float, counters: dict, decks: dict, reference_s: float | None = None
            ) -> tuple[bool, float]:
    """Write-then-read at ``period_s``: (passes, the read's clk -> dout rise delay). It passes when both rows are
    right (the read's word at the next rising edge) and, given ``reference_s`` (the delay at a long period), the
    delay is within MIN_CYCLE_DELAY_TOLERANCE of it."""
    seq = min_cycle_sequence(req.plan)
    spec = _spec(req, seq, period_s, 0.0, req.options)
    r, deck, spec = _run(req, spec, f"min_cycle_{period_s * 1e12:.0f}ps", counters)
    decks.setdefault("min_cycle", _sha(deck))
    if not all(_check_cycle(req, spec, r, m).ok for m in seq[1]):
        return False, math.nan
    delay = _read_rise_delay_s(req, spec, r, seq[1][1])
    if reference_s is None:
        return math.isfinite(delay), delay
    return abs(delay - reference_s) <= MIN_CYCLE_DELAY_TOLERANCE * reference_s, delay


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def search_min_cycle_s(req: PointRequest, counters: dict, decks: dict) -> tuple[float, str]:
    """Bisect the shortest period at which write-then-read returns the right data with the read's delay within
    MIN_CYCLE_DELAY_TOLERANCE of its value at the first passing period (as OpenRAM's characterizer)."""
    hi = req.period_s
    tries = 0
    while not (found := _passes(req, hi, counters, decks))[0]:
        hi *= 2
        tries += 1
        if tries > min_cycle_doublings(req.corner):
            return math.nan, f"no passing period up to {hi / 2:.3g} s"
    reference = found[1]
    lo = hi / 8
    for _ in range(MIN_CYCLE_STEPS):
        mid = (lo + hi) / 2
        if _passes(req, mid, counters, decks, reference)[0]:
            hi = mid
        else:
            lo = mid
    return hi, (f"bisection: passes at {hi:.4g} s, fails at {lo:.4g} s (data right at the next edge, clk fall -> "
                f"dout within {MIN_CYCLE_DELAY_TOLERANCE:.0%} of its {reference * 1e9:.3g} ns at {req.period_s * 2 ** tries:.3g} s)")


def characterize_point(req: PointRequest) -> PointResult:
    """All measurements of one macro at one corner. A failed row is a completed simulation whose waveforms show
    wrong data; a deck that did not complete raises its :class:`cosim.sim.SimError` (no rows: the corner is not
    simulated)."""
    start = time.perf_counter()
    counters = {"runs": 0, "retries": 0}
    decks: dict[str, str] = {}
    rows: list[MeasurementRow] = []

    min_cycle = math.nan
    if req.search_min_cycle:
        min_cycle, how = search_min_cycle_s(req, counters, decks)
        status = "ok" if math.isfinite(min_cycle) else "failed"
        rows.append(MeasurementRow.from_dict({"op": "min_cycle", "status": status, "cycle_time_s": min_cycle,
                                              "message": how}))
    # energies at the nominal period, or slower where this corner needs it
    period = req.period_s if not math.isfinite(min_cycle) else max(req.period_s, 1.25 * min_cycle)
    seq = main_sequence(req.plan)
    spec = _spec(req, seq, period, 0.0, req.options)
    r, deck, spec = _run(req, spec, "main", counters)
    decks["main"] = _sha(deck)
    rows.extend(_check_cycle(req, spec, r, m) for m in seq[1])
    rows.append(measure_leakage(req, period, counters, decks))
    if req.check_row_switch:
        seq = row_switch_sequence(req.plan)
        spec = _spec(req, seq, period, 0.0, req.options)
        r, deck, spec = _run(req, spec, "row_switch", counters)
        decks["row_switch"] = _sha(deck)
        rows.extend(_check_cycle(req, spec, r, m) for m in seq[1])
    return PointResult(
        rows=tuple(rows),
        decks=decks,
        wall_s=time.perf_counter() - start,
        runs=counters["runs"],
        retries=counters["retries"],
    )


def leakage_sequence(plan: MacroPlan):
    """A read (so bit lines, sense amps and dout are in the state an access leaves them in, not at the transient's
    zero start: OpenRAM precharges only in selected cycles), a deselected cycle, then the clock stops (the array
    holds the main deck's initial words)."""
    _, _, init = main_sequence(plan)
    return (Cycle("read", plan.address_a), Cycle("idle", plan.address_a)), (), init


def _leakage_spec(req: PointRequest, period_s: float) -> TestbenchSpec:
    return _spec(req, leakage_sequence(req.plan), period_s, LEAK_S, tuple(dict.fromkeys(req.options + LEAK_OPTIONS)),
                 step_s=LEAK_STEP_S)


def key_decks(req: PointRequest) -> dict[str, str]:
    """The decks a point renders before any result is known, each at the nominal period (what its key hashes:
    cosim.characterize.keys). The periods a point then runs at follow from these decks' results."""
    decks = {"main": render_deck(_spec(req, main_sequence(req.plan), req.period_s, 0.0, req.options)),
             "leakage": render_deck(_leakage_spec(req, req.period_s))}
    if req.search_min_cycle:
        decks["min_cycle"] = render_deck(_spec(req, min_cycle_sequence(req.plan), req.period_s, 0.0, req.options))
    if req.check_row_switch:
        decks["row_switch"] = render_deck(_spec(req, row_switch_sequence(req.plan), req.period_s, 0.0, req.options))
    return decks


def _retried_with(ran: TestbenchSpec, asked: tuple[str, ...]) -> str | None:
    """The solver options a deck ran with beyond those it was rendered with (the non-convergence retry's), or None."""
    return " ".join(o for o in ran.options if o not in asked) or None


def measure_leakage(req: PointRequest, period_s: float, counters: dict, decks: dict) -> MeasurementRow:
    """The leakage row: mean supply power over the last half of LEAK_S with the clock stopped; the message gives
    the settling (the mean over the quarter before, relative)."""
    spec = asked = _leakage_spec(req, period_s)
    r, deck, spec = _run(req, spec, "leakage", counters)
    decks["leakage"] = _sha(deck)
    t_end, i, vdd = stop_time_s(spec), r.v("v_supply#branch"), req.corner.vdd_v
    leak = mean_power_w(r.time_s, i, vdd, t_end - LEAK_S / 2, t_end)
    before = mean_power_w(r.time_s, i, vdd, t_end - 3 * LEAK_S / 4, t_end - LEAK_S / 2)
    drift = (before - leak) / abs(leak) if leak else math.nan
    return MeasurementRow(op="leakage", leakage_w=leak, solver_options=_retried_with(spec, asked.options), message=f"clock stopped {LEAK_S * 1e9:.0f} ns; mean of the last "
                          f"half, {drift * 100:+.1f} % in the quarter before")


