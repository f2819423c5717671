"""Local-mismatch Monte Carlo of a macro's columns: per-bit read and write failures and the margins behind them.

A sample is one ngspice run of the macro's main sequence (cosim.characterize.plan.main_sequence) at the table's clock
for the corner, with the per-instance mismatch deck of cosim.pdk.mismatch and its own seed. The netlist is the
storage-folded, row-folded one *without* bit folding: every bit's accessed cells, precharge, sense amp and write
driver are instances of their own with their own draws (a folded instance shares one draw). The folded cells of each
column keep the bit-line load; a ``mult=N`` cell's sigma is the single cell's over sqrt(N), so the N cells' summed
leakage varies by sqrt(N) sigma, as N independent cells' would. One sample thus gives word_size independent columns.

What is simulated (:class:`McSetup`, corner, period, seed) is kept apart from how it is run (SimOptions, jobs). The
statistics (:func:`clopper_pearson`, :func:`tail_estimate`) are pure. docs/monte-carlo.md explains the margins and
the tail fit.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cosim.files import write_atomic
from cosim.characterize.bitfold import flatten, folded_netlist, write_folded
from cosim.characterize.plan import MacroPlan, main_sequence, make_plan, settle_cycles
from cosim.characterize.point import TRAILING_CYCLE_FRACTION
from cosim.characterize.rowfold import ACCESS_DEVICE, fold_rows
from cosim.characterize.startup import StartFlop, flop_state, instances, is_sense_amp, precharged_nets, start_flop
from cosim.characterize.trim import storage_nodes, trim_netlist
from cosim.errors import CornerError, NetlistError
from cosim.measure import crossing_s, last_crossing_s, sample_v
from cosim.netlist import MacroNetlist
from cosim.pdk.mismatch import build_mismatch_deck, sample_seed, seed_line, write_mismatch_deck
from cosim.pdk.reduce import device_sizes
from cosim.pdk.sky130 import ModelLibrary
from cosim.sim import SimOptions, SimResult, run
from cosim.table import QUANTITIES, CharacterizationTable
from cosim.testbench import TestbenchSpec, render_deck, stop_time_s
from cosim.types import Corner

#: bump when what a sample's waveforms are turned into changes (the cache key holds it)
MC_MEASUREMENT_VERSION = 3
#: the four per-bit operations of the main sequence, each failing on its own
OPS = ("write_1to0", "write_0to1", "read_0", "read_1")


@dataclass(frozen=True)
class ColumnNets:
    """The nets of one data bit's column that a sample measures (ngspice node names below the testbench)."""

    bit: int
    q_a: str  #: the storage node of the bit's cell in word A (written 1 -> 0, read 0)
    q_b: str  #: ... in word B (written 0 -> 1, read 1)
    wl_a: str  #: word lines of the two accessed rows
    wl_b: str
    bl: str  #: the sense amp's inputs (after the column mux) and its enable
    br: str
    sae: str


@dataclass(frozen=True)
class McNetlist:
    path: Path
    sha256: str
    storage_cells: tuple[str, ...]
    columns: tuple[ColumnNets, ...]
    devices: int
    source_path: Path  #: the macro's own (hierarchical) netlist
    start_flop: StartFlop  #: the chip-select flop, started deselected (cosim.characterize.startup)
    precharged: tuple[str, ...]  #: bit-line nets started at VDD, as a precharge leaves them (ditto)


def mc_netlist(macro_netlist: MacroNetlist, plan: MacroPlan, cache_dir: Path) -> McNetlist:
    """The netlist a sample simulates (module doc), written under the cache by content, and its measured nets."""
    trimmed = trim_netlist(macro_netlist.netlist, plan)
    cells = storage_nodes(trimmed, plan)
    devices = flatten(trimmed)
    flat, cells = folded_netlist(trimmed, plan, devices, set(), lambda i: 1, [], cells)
    rows = fold_rows(flat, plan, cells)
    head = (f"* MONTE CARLO netlist by cosim.characterize.montecarlo: storage array and rows folded, bit slices not "
            f"({rows.devices_before} -> {rows.devices_after} devices)\n")  # fmt: skip
    path = write_folded(rows.netlist, head, cache_dir, "mc")
    prefix = plan.instance.lower()
    # access devices: drain/source on a cell's q (q_bar) give its bit line and word line
    access = {}
    for d in devices:
        if d.ref.lower() == ACCESS_DEVICE:
            for inner, outer in ((d.nodes[0], d.nodes[2]), (d.nodes[2], d.nodes[0])):
                access[inner] = (outer, d.nodes[1])
    # each data bit's sense amp is the one that drives its dout port (instance order need not be bit order)
    amps = {ports["dout"].lower(): ports for _, ports, _ in instances(trimmed, is_sense_amp)}
    width = plan.macro.word_size
    columns = []
    for b in range(width):
        qa, qb = (plan.q_node(a, b)[len(prefix) + 1 :] for a in (plan.address_a, plan.address_b))
        if qa not in access or qb not in access:
            raise NetlistError(f"{macro_netlist.sp_path}: no access transistor on {qa} or {qb}")
        amp = amps.get(plan.ports.dout[b].lower())
        if amp is None:
            raise NetlistError(f"{macro_netlist.sp_path}: no sense amplifier (a subckt with ports BL, BR, EN, DOUT) "
                               f"drives {plan.ports.dout[b]}")  # fmt: skip
        columns.append(ColumnNets(b, f"{prefix}.{qa}", f"{prefix}.{qb}", f"{prefix}.{access[qa][1]}",
                                  f"{prefix}.{access[qb][1]}", f"{prefix}.{amp['bl']}", f"{prefix}.{amp['br']}",
                                  f"{prefix}.{amp['en']}"))  # fmt: skip
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    precharged = precharged_nets(trimmed)
    if not precharged:
        raise NetlistError(f"{macro_netlist.sp_path}: no precharge cell (a subckt with ports BL, BR, EN_BAR)")
    return McNetlist(path, sha, rows.storage_cells, tuple(columns), rows.devices_after, macro_netlist.sp_path,
                     start_flop(trimmed, plan.ports.csb, macro_netlist.sp_path),
                     tuple(f"{prefix}.{n}" for n in precharged))  # fmt: skip


@dataclass(frozen=True)
class McSetup:
    """What every sample of a macro at one process shares: the netlist, its measured nets, the mismatch deck."""

    plan: MacroPlan
    netlist: McNetlist
    process: str
    model_deck_path: Path
    model_deck_sha256: str
    cache_dir: Path  #: where the lone start-up flop's state is kept (by its deck's content)


def mc_setup(macro_netlist: MacroNetlist, models: ModelLibrary, process: str, cache_dir: Path) -> McSetup:
    """Fold the netlist (:func:`mc_netlist`) and build the process's per-instance mismatch deck for it."""
    plan = make_plan(macro_netlist.macro)
    net = mc_netlist(macro_netlist, plan, cache_dir)
    text = net.path.read_text()
    deck = build_mismatch_deck(models, process, set(macro_netlist.macro.devices), device_sizes(text), text)
    return McSetup(plan, net, process, write_mismatch_deck(deck, cache_dir), deck.sha256, cache_dir)


def table_period_s(table: CharacterizationTable, corner: Corner) -> float:
    """The clock the macro's table ran ``corner`` at: its main deck's period, or the read retry's where reads needed
    a slower clock (the largest period of the corner's rows). Raises CornerError when the table lacks the corner."""
    if corner not in table.corners():
        raise CornerError(f"{table.path.name} has no corner {corner.name}: characterize it first (cosim characterize "
                          f"--vdd {corner.vdd_v:g} --temp {corner.temp_c:g} --process {corner.process})")  # fmt: skip
    at = (table.processes.index(corner.process), table.vdds.index(corner.vdd_v), table.temps.index(corner.temp_c))
    return float(np.nanmax(table.data[at][:, QUANTITIES.index("period_s")]))


@dataclass(frozen=True)
class SampleRequest:
    """One sample: what is simulated (setup, corner, period, seed, the state it starts in) and how (sim, run_dir).
    Made by :func:`sample_requests`, which finds the start once per corner."""

    setup: McSetup
    corner: Corner
    period_s: float
    seed: int
    sim: SimOptions = SimOptions()
    run_dir: Path | None = None
    #: (flat node, fraction of VDD) besides the words: the chip-select flop deselected, the bit lines precharged
    start: tuple[tuple[str, float], ...] = field(kw_only=True)


def start_state(setup: McSetup, corner: Corner, sim: SimOptions = SimOptions()) -> tuple[tuple[str, float], ...]:
    """The state every sample at ``corner`` starts in besides its words (cosim.characterize.startup): the lone
    chip-select flop's run (cached by its deck) and the precharged bit lines, as (flat node, fraction of VDD)."""
    net, plan, vdd = setup.netlist, setup.plan, corner.vdd_v
    flop = flop_state(net.start_flop, net.source_path, setup.model_deck_path, corner, plan.ports.power,
                      plan.ports.ground, setup.cache_dir, sim)  # fmt: skip
    return (tuple((f"{plan.instance.lower()}.{node}", volts / vdd) for node, volts in flop)
            + tuple((node, 1.0) for node in net.precharged))  # fmt: skip


def sample_requests(setup: McSetup, corner: Corner, period_s: float, seeds, sim: SimOptions = SimOptions()
                    ) -> list[SampleRequest]:  # fmt: skip
    """One request per seed, all starting from the corner's :func:`start_state`."""
    start = start_state(setup, corner, sim)
    return [SampleRequest(setup, corner, period_s, seed, sim, start=start) for seed in seeds]


@dataclass(frozen=True)
class BitResult:
    """One bit's operation in one sample: did it fail, and its margin (positive: passes by that much).

    Margins: a write's is the time from the cell's latch passing its balance point to its word line falling (s;
    NaN: a failed write, whose margin is only known to be below 0); a read's is the bit-line differential toward the stored
    value at sense-amp enable (V). ``disturb_v``: a read's headroom against read disturb, VDD/2 minus the peak of the
    cell's low node during the read."""

    op: str
    bit: int
    failed: bool
    margin: float
    disturb_v: float = math.nan
    flipped: bool = False  #: a read that left the cell holding the other value (read disturb)
    wrong_data: bool = False  #: a read whose dout was wrong at the next rising edge


@dataclass(frozen=True)
class SampleResult:
    index: int
    seed: int
    key: str
    bits: tuple[BitResult, ...]
    wall_s: float

    def to_json(self) -> str:
        return json.dumps({"version": MC_MEASUREMENT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> "SampleResult":
        d = json.loads(text)
        if d.pop("version") != MC_MEASUREMENT_VERSION:
            raise ValueError("another measurement version")
        d["bits"] = tuple(BitResult(**b) for b in d["bits"])
        return cls(**d)


def _spec(req: SampleRequest) -> TestbenchSpec:
    plan, net = req.setup.plan, req.setup.netlist
    cycles, _, init = main_sequence(plan)
    vdd = req.corner.vdd_v
    set_nodes = {node for node, _ in init}
    init = init + tuple(pair for cell in net.storage_cells if f"{cell}.q" not in set_nodes
                        for pair in ((f"{cell}.q", 0.0), (f"{cell}.q_bar", 1.0)))  # fmt: skip
    init = init + req.start
    probes = tuple(dict.fromkeys(n for c in net.columns for n in (c.q_a, c.q_a + "_bar", c.q_b, c.q_b + "_bar",
                                                                   c.wl_a, c.wl_b, c.bl, c.br, c.sae)))  # fmt: skip
    return TestbenchSpec(ports=plan.ports, netlist_path=net.path, model_deck_path=req.setup.model_deck_path,
                         corner=req.corner, cycles=cycles, period_s=req.period_s,
                         settle_cycles=settle_cycles(req.period_s),
                         initial_conditions=tuple((node, value * vdd) for node, value in init), probes=probes,
                         last_cycle_fraction=TRAILING_CYCLE_FRACTION)  # fmt: skip


def sample_deck(req: SampleRequest) -> str:
    """The sample's deck: the testbench with the seed line ahead of the includes (ngspice draws while parsing)."""
    deck = render_deck(_spec(req))
    at = deck.index(".include")
    return deck[:at] + seed_line(req.seed) + "\n" + deck[at:]


def sample_key(req: SampleRequest) -> str:
    """What determines a sample: its deck (paths replaced by their contents' hashes, seed included), the
    measurement version."""
    deck = sample_deck(req)
    for path, sha in ((req.setup.netlist.path, req.setup.netlist.sha256),
                      (req.setup.model_deck_path, req.setup.model_deck_sha256)):  # fmt: skip
        deck = deck.replace(str(path), f"<sha256:{sha}>")
    return hashlib.sha256(f"{MC_MEASUREMENT_VERSION}\n{deck}".encode()).hexdigest()[:20]


#: where a read's cell is judged: after its word line fell (a few gates after the next rising edge) and before the
#: next access's word line rises (after the next falling edge)
_SETTLED = 0.45


def _write(req: SampleRequest, spec: TestbenchSpec, r: SimResult, op: str, cycle: int, node: str, wl: str,
           bit: int, to: int) -> BitResult:  # fmt: skip
    """A write of ``to`` into a cell holding the other value. It fails when the cell holds the old value at the end
    of the hold cycle after it (its latch has decided). Margin: word-line fall minus the last time the cell's
    differential (q - q_bar toward ``to``) crossed 0, the latch's balance point; NaN when the write failed."""
    t, vdd, period = r.time_s, req.corner.vdd_v, spec.period_s
    t0 = spec.cycle_start_s(cycle)
    end = t0 + 2 * period - min(0.02 * period, 50e-12)
    diff = (r.v(node) - r.v(node + "_bar")) * (1 if to else -1)
    failed = sample_v(t, diff, end) < 0
    wl_on = crossing_s(t, r.v(wl), vdd / 2, t0, end, rising=True)
    wl_off = crossing_s(t, r.v(wl), vdd / 2, wl_on, end, rising=False) if math.isfinite(wl_on) else math.nan
    flip = last_crossing_s(t, diff, 0.0, t0, end, rising=True)
    return BitResult(op, bit, failed=bool(failed), margin=math.nan if failed else wl_off - flip)


def _read(req: SampleRequest, spec: TestbenchSpec, r: SimResult, op: str, cycle: int, col: ColumnNets,
          node: str) -> BitResult:  # fmt: skip
    """A read, judged against what the cell holds when it starts (a failed write is the write's failure, not the
    read's): wrong data at the next rising edge (as point.py judges a read), or the cell left holding the other
    value (read disturb). Margin: the bit-line differential toward the held value at the sense amp's enable."""
    t, vdd, period = r.time_s, req.corner.vdd_v, spec.period_s
    t0 = spec.cycle_start_s(cycle)
    t1 = t0 + period
    value = int(sample_v(t, r.v(node), t0) > vdd / 2)
    dout = sample_v(t, r.v(req.setup.plan.ports.dout[col.bit]), t1) > vdd / 2
    settled = t1 + _SETTLED * period
    flipped = (sample_v(t, r.v(node), settled) > vdd / 2) != bool(value)
    sae = crossing_s(t, r.v(col.sae), vdd / 2, t0 + period / 2, t1 + period / 2, rising=True)
    diff = sample_v(t, r.v(col.bl), sae) - sample_v(t, r.v(col.br), sae) if math.isfinite(sae) else math.nan
    low = node if value == 0 else node + "_bar"
    inside = (t >= t0) & (t <= settled)
    disturb = vdd / 2 - float(np.max(r.v(low)[inside]))
    wrong = dout != bool(value)
    return BitResult(op, col.bit, failed=wrong or flipped, margin=diff if value else -diff, disturb_v=disturb,
                     flipped=flipped, wrong_data=wrong)  # fmt: skip


def measure_sample(req: SampleRequest, spec: TestbenchSpec, r: SimResult) -> tuple[BitResult, ...]:
    """Every bit's writes (1 -> 0 in word A, 0 -> 1 in word B) and reads (1 from B, 0 from A) of the main
    sequence (cycle indices as cosim.characterize.plan.main_sequence lays them out)."""
    _, measured, _ = main_sequence(req.setup.plan)
    at = {m.op: m.cycle for m in measured}
    out = []
    for c in req.setup.netlist.columns:
        out.append(_write(req, spec, r, "write_1to0", at["write_1to0"], c.q_a, c.wl_a, c.bit, 0))
        out.append(_write(req, spec, r, "write_0to1", at["write_0to1"], c.q_b, c.wl_b, c.bit, 1))
        out.append(_read(req, spec, r, "read_0", at["read_0"], c, c.q_a))
        out.append(_read(req, spec, r, "read_1", at["read_1"], c, c.q_b))
    return tuple(out)


def run_sample(req: SampleRequest, index: int, cache_dir: Path | None = None) -> SampleResult:
    """Simulate and measure one sample; with ``cache_dir``, take it from there when its key is (module doc). A
    simulator fault or non-convergence raises cosim.sim.SimError: it is never a sample."""
    key = sample_key(req)
    cached = cache_dir / f"{key}.json" if cache_dir is not None else None
    if cached is not None and cached.exists():
        try:
            return SampleResult.from_json(cached.read_text())
        except (ValueError, KeyError, TypeError):
            pass  # unreadable or another version: simulate it again
    start = time.perf_counter()
    spec = _spec(req)
    r = run(sample_deck(req), req.run_dir, stop_time_s(spec), "batch", req.sim)
    result = SampleResult(index, req.seed, key, measure_sample(req, spec, r), time.perf_counter() - start)
    if cached is not None:
        write_atomic(cached, result.to_json())
    return result


def _worker(req: SampleRequest, index: int, cache_dir: Path | None):
    from cosim.sim import SimError

    try:
        return run_sample(req, index, cache_dir)
    except SimError as exc:  # a fault is reported, never counted as a sample
        return f"sample {index} (seed {req.seed}): {str(exc).splitlines()[0][:300]}"


@dataclass(frozen=True)
class MonteCarloRun:
    corner: Corner
    period_s: float
    run_seed: int
    samples: tuple[SampleResult, ...]
    faults: tuple[str, ...] = ()  #: samples the simulator did not complete (not counted)
    wall_s: float = 0.0

    def bits(self, op: str) -> tuple[BitResult, ...]:
        return tuple(b for s in self.samples for b in s.bits if b.op == op)

    def margins(self, op: str) -> np.ndarray:
        """Per sample, per bit margins of ``op`` (rows: samples): what :func:`tail_estimate` fits."""
        return np.array([[b.margin for b in s.bits if b.op == op] for s in self.samples], dtype=float)


def run_monte_carlo(setup: McSetup, corner: Corner, period_s: float, samples: int, run_seed: int = 1, *,
                    jobs: int = 2, sim: SimOptions = SimOptions(), cache_dir: Path | None = None) -> MonteCarloRun:  # fmt: skip
    """``samples`` samples (seeds :func:`cosim.pdk.mismatch.sample_seed` of ``run_seed``) in ``jobs`` processes, each
    cached under ``cache_dir`` by its key. Samples whose simulator faulted are listed in ``faults``, not counted."""
    from joblib import Parallel, delayed

    if corner.process != setup.process:
        raise CornerError(f"the Monte Carlo setup is for process {setup.process}, not {corner.process}")
    start = time.perf_counter()
    reqs = sample_requests(setup, corner, period_s, [sample_seed(run_seed, i) for i in range(samples)], sim)
    out = Parallel(n_jobs=jobs)(delayed(_worker)(r, i, cache_dir) for i, r in enumerate(reqs))
    done = tuple(r for r in out if isinstance(r, SampleResult))
    return MonteCarloRun(corner, period_s, run_seed, done, tuple(r for r in out if isinstance(r, str)),
                         time.perf_counter() - start)


@dataclass(frozen=True)
class Rate:
    """A failure rate with its confidence interval."""

    failures: int
    trials: int
    low: float
    high: float
    confidence: float

    @property
    def rate(self) -> float:
        return self.failures / self.trials if self.trials else math.nan


def clopper_pearson(failures: int, trials: int, confidence: float = 0.95) -> Rate:
    """The exact (Clopper-Pearson) interval of a binomial rate: conservative at any count, including 0."""
    from scipy.stats import beta

    a = 1 - confidence
    low = float(beta.ppf(a / 2, failures, trials - failures + 1)) if failures > 0 else 0.0
    high = float(beta.ppf(1 - a / 2, failures + 1, trials - failures)) if failures < trials else 1.0
    return Rate(failures, trials, low, high, confidence)


@dataclass(frozen=True)
class TailEstimate:
    """P(margin < 0) from a normal fitted to the margins, with a bootstrap interval (docs/monte-carlo.md)."""

    probability: float
    low: float
    high: float
    confidence: float
    mean: float
    sigma: float
    n: int  #: margins fitted
    censored: int  #: of them, failures with no margin (known only to be below 0)

    @property
    def z(self) -> float:
        return self.mean / self.sigma if self.sigma > 0 else math.inf


def _fit_normal(values: np.ndarray, censored: int) -> tuple[float, float]:
    """Maximum-likelihood normal of ``values`` plus ``censored`` observations known only to lie below 0."""
    from scipy.optimize import minimize
    from scipy.stats import norm

    if censored == 0:
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    # fit in standardized units (margins are ns or V): m + s z
    m = float(np.mean(values)) if len(values) else 0.0
    s = float(np.std(values)) if len(values) > 1 and np.std(values) > 0 else max(abs(m), 1.0)
    z, cut = (values - m) / s, -m / s

    def nll(p):
        mu, sd = p[0], math.exp(p[1])
        return -(norm.logpdf(z, mu, sd).sum() + censored * norm.logcdf((cut - mu) / sd))

    res = minimize(nll, [-0.5, 0.3], method="Nelder-Mead", options={"maxiter": 4000})
    return m + s * float(res.x[0]), s * math.exp(float(res.x[1]))


def tail_estimate(margins: np.ndarray, confidence: float = 0.95, resamples: int = 400, seed: int = 0,
                  observed: np.ndarray | None = None) -> TailEstimate:  # fmt: skip
    """P(margin < 0) = Phi(-mean / sigma) of a normal fitted to ``margins`` (rows: samples, columns: bits; NaN: a
    failure with no margin, left-censored at 0). ``observed`` (same shape; default all): False marks a bit with no
    trial at all, left out of the fit. The interval is a percentile bootstrap that resamples whole samples
    (rows): the bits of one sample share the periphery's draws (word-line drivers, timing), so they are not
    independent."""
    from scipy.stats import norm

    margins = np.atleast_2d(np.asarray(margins, dtype=float))
    seen = np.ones(margins.shape, bool) if observed is None else np.atleast_2d(np.asarray(observed, dtype=bool))

    def fit(rows: np.ndarray, keep: np.ndarray) -> tuple[float, float, float]:
        flat = rows[keep]
        values = flat[np.isfinite(flat)]
        mu, sd = _fit_normal(values, int(np.sum(~np.isfinite(flat))))
        return float(norm.cdf(-mu / sd)) if sd > 0 else float(mu < 0), mu, sd

    p, mu, sd = fit(margins, seen)
    rng = np.random.default_rng(seed)
    picks = (rng.integers(0, len(margins), len(margins)) for _ in range(resamples))
    boot = np.array([fit(margins[i], seen[i])[0] for i in picks])
    a = 1 - confidence
    low, high = (float(x) for x in np.quantile(boot, [a / 2, 1 - a / 2]))
    n_censored = int(np.sum(~np.isfinite(margins) & seen))
    return TailEstimate(p, min(low, p), max(high, p), confidence, mu, sd, int(seen.sum()), n_censored)


@dataclass(frozen=True)
class OpSummary:
    op: str
    plain: Rate  #: plain Monte Carlo: failures / bits
    tail: TailEstimate  #: from the margins
    detail: dict = field(default_factory=dict)  #: reads: wrong data and read-disturb counts apart


def summarize(mc: MonteCarloRun, confidence: float = 0.95) -> tuple[OpSummary, ...]:
    """Per op: plain-MC failures with a Clopper-Pearson interval, and the margin's tail estimate."""
    out = []
    for op in OPS:
        bits = mc.bits(op)
        detail = {}
        if op.startswith("read"):
            detail = {"wrong_data": sum(b.wrong_data for b in bits), "read_disturb": sum(b.flipped for b in bits)}
        out.append(OpSummary(op, clopper_pearson(sum(b.failed for b in bits), len(bits), confidence),
                             tail_estimate(mc.margins(op), confidence), detail))  # fmt: skip
    return tuple(out)
