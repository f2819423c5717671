"""Local-mismatch Monte Carlo of the tiny macro's columns (cosim.characterize.montecarlo): the statistics on known
distributions, the sample deck, and a real Monte Carlo at two supplies."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cosim.table import CharacterizationTable
from cosim.characterize.montecarlo import (OPS, clopper_pearson, mc_setup, run_monte_carlo, sample_deck, sample_key,
                                           sample_requests, summarize, table_period_s, tail_estimate)  # fmt: skip
from cosim.characterize.startup import instances, is_sense_amp
from cosim.characterize.trim import trim_netlist
from cosim.errors import CornerError
from cosim.netlist import load_macro
from cosim.types import Corner

MACRO = "sram_8x16"
RUN_SEED = 11
#: the low supply: the committed table stops at 1.6 V, and below ~1.0 V the macro's own min-cycle search finds no
#: period (its sense enable comes ~20 ns after the clock falls at 0.9 V). At this clock the write of a 1 is the op
#: that mismatch decides (its write time spreads over several ns), while every read of a 1 is late at the edge
#: (a systematic timing failure, the same in every bit: docs/monte-carlo.md)
LOW = Corner("tt", 0.9, 25)
LOW_PERIOD_S = 30e-9
HIGH = Corner("tt", 1.8, 25)
SAMPLES = 8


@pytest.fixture(scope="module")
def setup(settings, models):
    return mc_setup(load_macro(settings.netlists_dir / f"{MACRO}.sp"), models, "tt", settings.cache_dir)


def test_clopper_pearson_is_exact():
    zero = clopper_pearson(0, 64)
    assert zero.low == 0.0 and zero.high == pytest.approx(1 - 0.025 ** (1 / 64))
    assert clopper_pearson(64, 64).high == 1.0
    some = clopper_pearson(5, 100)
    assert some.low < 0.05 < some.high
    # its coverage: at least the nominal level for a rate where normal approximations undercover
    rng = np.random.default_rng(1)
    k = rng.binomial(64, 0.02, size=2000)
    covered = [(r := clopper_pearson(int(x), 64)).low <= 0.02 <= r.high for x in k]
    assert np.mean(covered) >= 0.95


def test_tail_estimate_brackets_a_known_normal_tail():
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    truth = norm.cdf(-2.5)
    hits = 0
    for _ in range(40):
        est = tail_estimate(rng.normal(2.5, 1.0, size=(16, 8)), resamples=200)
        hits += est.low <= truth <= est.high
        assert est.censored == 0 and est.n == 128
    assert hits >= 32  # ~95 % nominal; a percentile bootstrap of 16 clusters covers somewhat less


def test_tail_estimate_uses_censored_failures():
    # the same draws with those below 0 known only to be failures: the censored fit recovers the normal
    rng = np.random.default_rng(5)
    x = rng.normal(1.0, 1.0, size=(64, 8))
    censored = np.where(x < 0, np.nan, x)
    full, cens = tail_estimate(x, resamples=100), tail_estimate(censored, resamples=100)
    assert cens.censored == int(np.sum(x < 0)) > 0
    assert cens.mean == pytest.approx(full.mean, abs=0.05) and cens.sigma == pytest.approx(full.sigma, abs=0.05)
    naive = tail_estimate(x[x >= 0].reshape(1, -1), resamples=10)
    assert naive.probability < cens.probability / 3  # dropping the failures would hide the tail


@pytest.mark.spice
def test_sample_deck_is_seeded_and_keyed(setup, settings):
    assert table_period_s(CharacterizationTable.load(settings.characterization_dir / f"{MACRO}.csv"), HIGH) == pytest.approx(4e-9)
    with pytest.raises(CornerError, match="no corner"):  # a supply between the table's
        table_period_s(CharacterizationTable.load(settings.characterization_dir / f"{MACRO}.csv"), Corner("tt", 1.7, 25.0))
    a, b = sample_requests(setup, HIGH, 4e-9, (5, 6))
    deck = sample_deck(a)
    assert deck.index(".option seed=5") < deck.index(".include")
    assert str(setup.model_deck_path) in deck and "_mm" in setup.model_deck_path.name
    assert sample_key(a) != sample_key(b) and sample_key(a) == sample_key(sample_requests(setup, HIGH, 4e-9, (5,))[0])
    # the chip-select flop starts deselected (cs low, cs_bar high), its inner nodes set by its own lone run
    flop = setup.netlist.start_flop
    assert flop.path == "xcontrol0.xctrl_dffs.xdff_r0_c0" and dict(flop.ports)["D"] == "csb0"
    ic = dict(re.findall(r"v\((x_sram\.xcontrol0\.[^)]+)\)=(\S+)", deck))
    assert float(ic["x_sram.xcontrol0.cs"]) < 0.1 and float(ic["x_sram.xcontrol0.cs_bar"]) > 0.9 * HIGH.vdd_v
    assert sum(k.startswith(f"x_sram.{flop.path}.") for k in ic) >= 10
    # every bit line, sense-amp input and the sense amp's isolated inner pair start precharged, replica column included
    ic_all = dict(re.findall(r"v\(([^)]+)\)=(\S+)", deck))
    pre = setup.netlist.precharged
    assert "x_sram.rbl_bl0" in pre and {n for c in setup.netlist.columns for n in (c.bl, c.br)} < set(pre)
    amps = instances(trim_netlist(load_macro(settings.netlists_dir / f"{MACRO}.sp").netlist, setup.plan), is_sense_amp)
    assert len(amps) > 8 and {f"x_sram.{path}.{n}" for path, _, _ in amps for n in ("dint", "dint_bar")} <= set(pre)
    assert all(float(ic_all[n]) == pytest.approx(HIGH.vdd_v) for n in pre)
    # every bit's column is its own: distinct cells, bit lines; sense amps share one enable
    cols = setup.netlist.columns
    assert len(cols) == 8 and len({c.bl for c in cols}) == 8 and len({c.q_a for c in cols}) == 8
    text = setup.netlist.path.read_text().lower()
    for c in cols:  # no measured cell is folded (a mult'd cell would share one draw)
        cell = c.q_a.split(".", 1)[1].rsplit(".", 1)[0]
        assert any(line.startswith(cell + ".") and "mult" not in line for line in text.splitlines())


@pytest.mark.spice
@pytest.mark.slow
def test_failures_rise_as_the_supply_falls_and_the_tail_fit_brackets_them(setup, settings):
    high = run_monte_carlo(setup, HIGH, table_period_s(CharacterizationTable.load(settings.characterization_dir / f"{MACRO}.csv"), HIGH),
                           SAMPLES, RUN_SEED, jobs=2)  # fmt: skip
    low = run_monte_carlo(setup, LOW, LOW_PERIOD_S, SAMPLES, RUN_SEED, jobs=2)
    assert not high.faults and not low.faults
    hi, lo = ({s.op: s for s in summarize(mc)} for mc in (high, low))
    for mc, table in ((high, hi), (low, lo)):  # shown with -s
        print(f"\n{mc.corner.name} at {mc.period_s * 1e9:g} ns, {mc.wall_s / len(mc.samples):.1f} s/sample (wall, "
              f"2 jobs)")
        for op, s in table.items():
            print(f"  {op:10s} plain {s.plain.failures}/{s.plain.trials} [{s.plain.low:.3g}, {s.plain.high:.3g}]  "
                  f"tail {s.tail.probability:.3g} [{s.tail.low:.3g}, {s.tail.high:.3g}]  margin mean {s.tail.mean:.4g} "
                  f"sigma {s.tail.sigma:.4g} censored {s.tail.censored} {s.detail}")
    for op in OPS:
        assert hi[op].plain.trials == lo[op].plain.trials == SAMPLES * 8
        assert hi[op].plain.failures == 0, (op, hi[op])
        assert hi[op].tail.high < 1e-3, (op, hi[op].tail)  # margins many sigma from failing
    assert sum(lo[op].plain.failures for op in OPS) > 0
    # the write of a 1 is where mismatch decides: some bits fail, not all, and fewer at the higher supply
    w = lo["write_0to1"]
    assert 0 < w.plain.failures < w.plain.trials
    assert w.plain.rate > hi["write_0to1"].plain.rate
    assert w.tail.probability > hi["write_0to1"].tail.probability
    # where plain MC sees failures, the two estimates agree (their 95 % intervals overlap); where it sees enough to
    # fix a rate (the write of a 1), the tail's interval holds that rate
    for op in ("write_1to0", "write_0to1"):
        s = lo[op]
        if s.plain.failures:
            assert s.tail.low <= s.plain.high and s.plain.low <= s.tail.high, (op, s.plain, s.tail)
    assert w.tail.low <= w.plain.rate <= w.tail.high, (w.plain, w.tail)
    # a failed write has no margin, every other write has one: the fit censors exactly the failures
    for op in ("write_1to0", "write_0to1"):
        assert lo[op].tail.censored == lo[op].plain.failures == int(np.isnan(low.margins(op)).sum())
    # every read of a cell holding 1 is late at the edge at this clock, in every bit: timing, not mismatch. The read
    # of word B (written 1) and of word A in the bits whose write of 0 failed (they still hold 1)
    assert lo["read_1"].detail["wrong_data"] == w.plain.trials - w.plain.failures
    assert lo["read_0"].detail["wrong_data"] == lo["read_0"].plain.failures == lo["write_1to0"].plain.failures
    assert lo["read_1"].detail["read_disturb"] == lo["read_0"].detail["read_disturb"] == 0
    assert np.nanmin(low.margins("read_0")) > 0.5 * LOW.vdd_v
