"""Local-mismatch Monte Carlo (cosim.pdk.mismatch): ngspice draws every instance's parameters on its own, one
seed repeats a sample and another changes it, mismatch off gives no spread, and the threshold spread of the
bitcell's devices is the one the library's own mismatch parameters give (Pelgrom: sigma = A_Vt / sqrt(W L))."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from cosim.errors import ConfigError, PdkError
from cosim.pdk.mismatch import (SEED_MAX, MismatchDeck, build_mismatch_deck, instance_mismatch, sample_seed,
                                seed_line, write_mismatch_deck)  # fmt: skip
from cosim.pdk.reduce import ALIAS_SUBCKTS, build_reduced_deck, device_sizes, write_reduced_deck
from cosim.pdk.sky130 import ModelLibrary
from cosim.sim import run_deck
from tests.pdk.circuits import CELL_DEVICES, vth_bench, vth_cc

N = 200  #: instances per device: a sample standard deviation to ~5 % (1 / sqrt(2 (N - 1)))
SEED = 20240601
#: two-sided probability of a false failure per comparison of a sample sigma with its expectation
ALPHA = 1e-3


def _mismatch_deck(models, n: int = N) -> MismatchDeck:
    bench = vth_bench("", n)
    return build_mismatch_deck(models, "tt", {d for d, *_ in CELL_DEVICES}, device_sizes(bench), bench)


def _vth(model_line: str, n: int, extra: str = ""):
    return vth_cc(run_deck(vth_bench(model_line, n, extra)), n)


def _sigma_interval(n: int) -> tuple[float, float]:
    """Bounds of sample sigma / true sigma for n normal draws: (n - 1) s^2 / sigma^2 is chi-square(n - 1)."""
    from scipy.stats import chi2

    return (math.sqrt(chi2.ppf(ALPHA / 2, n - 1) / (n - 1)), math.sqrt(chi2.ppf(1 - ALPHA / 2, n - 1) / (n - 1)))


def _shift(text: str, device: str, param: str, delta: float) -> str:
    """`text` with `delta` added to `param` in every card of `device`'s subckt (a known, deterministic offset)."""
    target = ALIAS_SUBCKTS[device][0] if device in ALIAS_SUBCKTS else device
    out, inside, done = [], False, 0
    for line in text.splitlines():
        low = line.lstrip().lower()
        if low.startswith(".subckt") and low.split()[1] == target:
            inside = True
        elif low.startswith(".ends"):
            inside = False
        elif inside:
            line, k = re.subn(rf"(\b{param}\s*=\s*\{{)", rf"\g<1>({delta:.9e})+", line, flags=re.IGNORECASE)
            done += k
        out.append(line)
    assert done, f"no {param} in {target}"
    return "\n".join(out) + "\n"


def test_seed_line_refuses_what_ngspice_skips():
    # ngspice 39 skips `.option seed=` outside 1..2**31-1 with a warning and draws from its process id instead
    assert seed_line(1) == ".option seed=1"
    assert seed_line(SEED_MAX) == f".option seed={SEED_MAX}"
    for bad in (0, -3, SEED_MAX + 1, 2**32 - 1, True, 1.5):
        with pytest.raises(ConfigError, match="outside 1.."):
            seed_line(bad)
    seeds = [sample_seed(7, i) for i in range(1000)]
    assert seeds == [sample_seed(7, i) for i in range(1000)]
    assert len(set(seeds + [sample_seed(8, i) for i in range(1000)])) == 2000
    assert all(1 <= s <= SEED_MAX for s in seeds)


def test_pelgrom_figures_are_the_library_parameters(models):
    """sigma vth0 of each cell device is its `<device>__vth0_slope` (read here from the library's mismatch file, apart
    from the module) over sqrt(L W), L and W in um; the cards are kept inside their device subckts."""
    deck = _mismatch_deck(models)
    assert re.search(r"^\.param mc_mm_switch=1\s*$", deck.text, re.M)
    assert "hoisted out of device subckts" not in deck.text
    cells = models.models_dir.parent / "cells"
    for device, length, width, _ in CELL_DEVICES:
        target = ALIAS_SUBCKTS[device][0] if device in ALIAS_SUBCKTS else device
        short = target.split("__")[1]
        text = (cells / short / f"{target}__mismatch.corner.spice").read_text()
        slope = float(re.search(rf"{target}__vth0_slope\s*=\s*(\S+)", text).group(1))
        im = instance_mismatch(deck, device, length, width)
        assert im.sigma_vth0_v == pytest.approx(slope / math.sqrt(length * width), rel=1e-12)
        assert 0.025 < im.sigma_vth0_v < 0.045  # the issue's 30-39 mV by hand arithmetic
        assert im.term("tox").sigma > 0  # oxide thickness is drawn as well, on its own


def test_library_without_mismatch_section_is_refused(tmp_path: Path):
    models = tmp_path / "models"
    (models / "corners").mkdir(parents=True)
    (models / "corners" / "tt.spice").write_text("* nothing\n")
    lib = models / "sky130.lib.spice"
    lib.write_text('.lib tt\n.param mc_mm_switch=0\n.include "corners/tt.spice"\n.endl tt\n')
    with pytest.raises(PdkError, match=r"no local-mismatch section '\.lib tt_mm'") as info:
        build_mismatch_deck(ModelLibrary(lib, "test"), "tt", {"sky130_fd_pr__nfet_01v8"})
    assert "\n" not in str(info.value)


@pytest.mark.spice
def test_one_seed_repeats_another_differs(models, settings):
    path = write_mismatch_deck(_mismatch_deck(models, 8), settings.cache_dir)
    include = f'.include "{path}"'
    a, again, b = (np.concatenate(_vth(include, 8, seed_line(s))) for s in (1, 1, 2))
    assert np.array_equal(a, again)  # bit for bit: the seed fixes every draw
    assert np.all(a != b)  # every instance drew again
    assert np.std(a) > 0.01 and np.std(b) > 0.01  # per instance: instances of one device differ
    # without a seed ngspice draws from its process id: two runs differ
    assert not np.array_equal(np.concatenate(_vth(include, 8)), np.concatenate(_vth(include, 8)))


@pytest.mark.spice
def test_mismatch_off_gives_no_spread(models, settings):
    """The reduced (hoisted) deck and the per-instance deck with mc_mm_switch=0 give every instance the same
    threshold, and the same one: the per-instance form is the same model until mismatch is switched on."""
    n = 20
    reduced = write_reduced_deck(build_reduced_deck(models, "tt", {d for d, *_ in CELL_DEVICES}), settings.cache_dir)
    per_instance = write_mismatch_deck(_mismatch_deck(models, n), settings.cache_dir)
    hoisted = _vth(f'.include "{reduced}"', n)
    off = _vth(f'.include "{per_instance}"', n, ".param mc_mm_switch=0")
    for h, o in zip(hoisted, off):
        assert np.ptp(h) == 0.0 and np.ptp(o) == 0.0
        assert abs(h[0] - o[0]) < 1e-6


@pytest.mark.spice
def test_vth_spread_matches_pelgrom(models, settings, tmp_path: Path):
    """N instances per cell device, one seed: the spread of the constant-current threshold (|Id| = 100 nA W/L at
    |Vds| = 50 mV) against the one the model's mismatch parameters predict, within the chi-square interval of an
    N-sample sigma. The prediction: each parameter's sigma (vth0: A_Vt / sqrt(W L); tox: tox * slope / sqrt(W L))
    times the threshold's sensitivity to it, measured on the same bench with that parameter shifted by +-1 sigma
    (vth0 moves this threshold by 0.93-1.0 V/V), added in quadrature (independent draws)."""
    deck = _mismatch_deck(models)
    path = write_mismatch_deck(deck, settings.cache_dir)
    terms = {d: instance_mismatch(deck, d, length, width) for d, length, width, _ in CELL_DEVICES}
    params = sorted({t.param for im in terms.values() for t in im.terms if t.sigma > 0})
    assert params == ["tox", "vth0"]  # the cell devices' cards vary these two (voff, nfactor slopes are 0)

    # sensitivities, on the nominal per-instance deck (one instance per device, mismatch off)
    sensitivity: dict[tuple[str, str], float] = {}
    for param in params:
        ends = []
        for sign in (1, -1):
            text = deck.text
            for device, *_ in CELL_DEVICES:
                text = _shift(text, device, param, sign * terms[device].term(param).sigma)
            shifted = tmp_path / f"{param}_{'plus' if sign > 0 else 'minus'}.spice"
            shifted.write_text(text)
            ends.append(_vth(f'.include "{shifted}"', 1, ".param mc_mm_switch=0"))
        for k, (device, *_) in enumerate(CELL_DEVICES):
            sensitivity[device, param] = float(ends[0][k][0] - ends[1][k][0]) / (2 * terms[device].term(param).sigma)

    low, high = _sigma_interval(N)
    tox_off = ".param " + " ".join(f"{im.term('tox').slope_param}=0" for im in terms.values())
    vth0_only = _vth(f'.include "{path}"', N, seed_line(SEED) + "\n" + tox_off)
    full = _vth(f'.include "{path}"', N, seed_line(SEED))
    report = [f"sample sigma / expected must lie in [{low:.3f}, {high:.3f}] (N={N}, alpha={ALPHA})"]
    for k, (device, length, width, _) in enumerate(CELL_DEVICES):
        im = terms[device]
        expect_vth0 = abs(sensitivity[device, "vth0"]) * im.sigma_vth0_v
        expect_full = math.sqrt(sum((sensitivity[device, p] * im.term(p).sigma) ** 2 for p in params))
        got_vth0, got_full = float(np.std(vth0_only[k], ddof=1)), float(np.std(full[k], ddof=1))
        report.append(f"{device} W/L={width}/{length}: Pelgrom sigma vth0 {im.sigma_vth0_v * 1e3:.1f} mV, "
                      f"dVth/dvth0 {sensitivity[device, 'vth0']:.3f}, dVth/dtox {sensitivity[device, 'tox']:.3g} V/m; "
                      f"vth0 only {got_vth0 * 1e3:.1f} mV (expected {expect_vth0 * 1e3:.1f}), "
                      f"vth0+tox {got_full * 1e3:.1f} mV (expected {expect_full * 1e3:.1f})")  # fmt: skip
        assert low < got_vth0 / expect_vth0 < high, report
        assert low < got_full / expect_full < high, report
    print("\n".join(report))
