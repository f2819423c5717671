"""The timing table (cosim.characterize.arcs): its committed values are today's keys and physics, a re-run keeps
them, the input flop's setup/hold re-simulated now give the committed numbers, and a tampered table is refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from cosim.characterize import arcs, sweep
from cosim.characterize.arcs_table import arcs_key, read_timing, timing_path
from cosim.errors import TableIntegrityError
from cosim.netlist import load_macro
from cosim.types import Corner

#: the macros whose timing table is committed (`make characterize-arcs` adds the others)
MACROS = ("sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512")
NOMINAL_CORNER = Corner("tt", 1.8, 25.0)


@pytest.fixture(scope="module")
def setup_8x16(settings):
    return sweep.sweep_setup(load_macro(settings.netlists_dir / "sram_8x16.sp"), settings, ["tt"])


@pytest.mark.parametrize("macro", MACROS)
def test_committed_timing_tables_are_complete_and_physical(settings, macro):
    frame, prov = read_timing(timing_path(settings.characterization_dir, macro))
    here = frame[(frame.process == "tt") & (frame.vdd_v == 1.8) & (frame.temp_c == 25.0)]
    for quantity in ("clk_to_dout_rise", "clk_to_dout_fall", "dout_rise_transition", "dout_fall_transition"):
        grid = here[here.quantity == quantity].pivot_table(index="input_slew_s", columns="load_f", values="value")
        assert grid.shape == (len(arcs.RAMPS_S), len(arcs.LOADS_F)) and not grid.isna().any().any(), (macro, quantity)
        assert (grid.to_numpy() > 0).all() and (grid.to_numpy() < 10e-9).all()
        if quantity.startswith("clk_to_dout"):  # more load, not faster (to within half the decks' time step: the
            # latched edge of the 1 KB and 2 KB macros moves ~1 ps from 2.5 to 5 fF)
            assert (np.diff(grid.to_numpy(), axis=1) > -arcs.ARC_STEP_S / 2).all(), (macro, quantity)
            assert (grid.to_numpy()[:, -1] > grid.to_numpy()[:, 0]).all(), (macro, quantity)
    caps = here[here.quantity == "pin_capacitance"].set_index("pin").value
    assert set(caps.index) == set(arcs.PIN_CAP_PINS) and ((caps > 0.1e-15) & (caps < 100e-15)).all()
    c = {q: here[here.quantity == q].value.iloc[0] for q in ("setup_rise", "setup_fall", "hold_rise", "hold_fall")}
    assert c["setup_rise"] + c["hold_rise"] > 0 and c["setup_fall"] + c["hold_fall"] > 0  # a positive aperture
    assert prov["definitions"] == "docs/timing.md" and prov["ngspice_version"]


def test_the_committed_key_is_todays_and_a_rerun_keeps_the_corner(settings, setup_8x16, tmp_path):
    src = timing_path(settings.characterization_dir, "sram_8x16")
    frame, _ = read_timing(src)
    assert set(frame.key) == {arcs_key(setup_8x16, NOMINAL_CORNER)}, (
        f"{src}: simulated by other decks or ARCS_VERSION than today's: run `make characterize-arcs`")
    (tmp_path / "timing").mkdir()
    for suffix in (".csv", ".json"):
        shutil.copy(src.with_suffix(suffix), tmp_path / "timing" / f"sram_8x16{suffix}")
    from cosim.cli import cli

    result = CliRunner().invoke(cli, ["characterize-arcs", "--macro", "sram_8x16", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "0 corner(s) simulated, 1 kept" in result.output
    assert (tmp_path / "timing" / "sram_8x16.csv").read_bytes() == src.read_bytes()


@pytest.mark.spice
def test_the_flop_bisection_gives_the_committed_setup_and_hold(settings, setup_8x16):
    frame, _ = read_timing(timing_path(settings.characterization_dir, "sram_8x16"))
    req = setup_8x16.request(NOMINAL_CORNER)
    subckt = arcs.flop_subckt(setup_8x16.macro_netlist.sp_path.read_text())
    counters = {"runs": 0}
    for kind in ("setup", "hold"):
        got = arcs.flop_constraint_s(req, subckt, kind, True, counters)
        want = frame[frame.quantity == f"{kind}_rise"].value.iloc[0]
        assert got == pytest.approx(want, rel=1e-5), kind
    assert counters["runs"] == 2 * (2 + arcs.BISECTION_STEPS)


def test_a_tampered_timing_table_is_refused_with_one_line(settings, tmp_path):
    src = timing_path(settings.characterization_dir, "sram_8x16")
    for suffix in (".csv", ".json"):
        shutil.copy(src.with_suffix(suffix), tmp_path / f"t{suffix}")
    text = (tmp_path / "t.csv").read_text().splitlines()
    text[1] = text[1].replace("e-10", "e-11", 1)
    (tmp_path / "t.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(TableIntegrityError) as info:
        read_timing(tmp_path / "t.csv")
    assert "\n" not in str(info.value) and "t.csv" in str(info.value) and "sha256" in str(info.value)
