"""Every committed macro netlist: it parses, agrees with its .json, holds the sky130 devices, round-trips, and its
bitcell array is where and what the description says."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cosim.config import load_settings
from cosim.errors import NetlistError
from cosim.netlist import find_bitcell_array, instance_counts, load_macro, load_macro_json, parse_text
from cosim.netlist.macro import port_buses

NETLISTS = sorted(load_settings().netlists_dir.glob("sram_*.sp"))
CONFIGS = sorted(load_settings().configs_dir.glob("sram_*.py"))
SKY130_FETS = {"sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8", "sky130_fd_pr__special_nfet_pass",
               "sky130_fd_pr__special_nfet_latch", "sky130_fd_pr__special_pfet_pass"}


def test_every_config_has_a_committed_netlist() -> None:
    assert {c.stem for c in CONFIGS} == {n.stem for n in NETLISTS}
    assert {"sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512"} <= {n.stem for n in NETLISTS}


@pytest.fixture(scope="module", params=NETLISTS, ids=[p.stem for p in NETLISTS])
def macro(request):
    return load_macro(request.param)


def test_macro_matches_its_name_and_organisation(macro) -> None:
    m = macro.macro
    words, size = (int(x) for x in re.fullmatch(r"sram_(\d+)x(\d+)", m.name).groups()[::-1])
    assert (m.word_size, m.words) == (size, words)
    assert m.rows == m.words // m.words_per_row + m.spare_rows
    assert m.columns == m.word_size * m.words_per_row + m.spare_columns
    assert m.bus_width("din0") == m.bus_width("dout0") == m.word_size + m.spare_columns
    assert 2 ** m.address_bits >= m.rows * m.words_per_row
    assert m.power == ("vccd1",) and m.ground == ("vssd1",)
    assert {"clk0", "csb0", "web0"} <= set(m.ports)
    assert dict(m.port_directions)["clk0"] == "INPUT" and dict(m.port_directions)["dout0[0]"] == "OUTPUT"


def test_netlist_agrees_with_json(macro) -> None:
    n, m = macro.netlist, macro.macro
    assert n.top == m.name and n.ports == m.ports
    assert dict(port_buses(n.ports)) == dict(m.buses)
    assert SKY130_FETS <= set(n.device_models()) == set(m.devices)


def test_netlist_is_self_contained(macro) -> None:
    text = macro.sp_path.read_text()
    assert not re.search(r"^\s*\.(include|inc|lib)\b", text, re.I | re.M)
    assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text and ".cache" not in text
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)  # no dates


def test_bitcell_array(macro) -> None:
    m = macro.macro
    array = macro.bitcell_array
    assert array.path == ("Xbank0", "Xbitcell_array", "Xreplica_bitcell_array", "Xbitcell_array")
    assert (array.rows, array.cols) == (m.rows, m.columns)
    assert {(c.row, c.col) for c in array.cells} == {(r, c) for r in range(m.rows) for c in range(m.columns)}
    assert {c.model for c in array.cells} == {"sky130_fd_bd_sram__sram_sp_cell_opt1", "sky130_fd_bd_sram__sram_sp_cell_opt1a"}
    cell = array.cell(1, 2)
    assert cell.name == "Xrow_1_col_2_bitcell"
    assert array.ngspice_node(1, 2, "Q") == (
        "x0.xbank0.xbitcell_array.xreplica_bitcell_array.xbitcell_array.xrow_1_col_2_bitcell.q"
    )
    with pytest.raises(NetlistError, match="no bitcell at row"):
        array.cell(m.rows, 0)
    # row r is word line wl_0_r, column c is bit lines bl_0_c / br_0_c (what characterization relies on)
    sub = macro.netlist.subckt(array.subckt)
    card = next(e for e in sub.elements if e.name == cell.name)
    assert card.nodes[0] == "bl_0_2" and card.nodes[1] == "br_0_2" and card.nodes[-1] == "wl_0_1"
    # storage cells, one per bit, across the whole flattened macro
    counts = instance_counts(macro.netlist)
    assert counts["sky130_fd_bd_sram__sram_sp_cell_opt1"] + counts["sky130_fd_bd_sram__sram_sp_cell_opt1a"] == m.rows * m.columns


def test_round_trip(macro) -> None:
    again = parse_text(macro.netlist.to_spice(), top=macro.macro.name)
    assert again == macro.netlist


def test_sp_edited_by_hand_is_detected(tmp_path: Path) -> None:
    src = NETLISTS[0]
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(src.with_suffix(".json"), tmp_path / src.with_suffix(".json").name)
    load_macro(tmp_path / src.name)  # the copies are fine
    with (tmp_path / src.name).open("a") as f:
        f.write("* an extra comment\n")
    with pytest.raises(NetlistError, match="sha256 .* differs from the .json"):
        load_macro(tmp_path / src.name)


def test_json_port_list_must_match(tmp_path: Path) -> None:
    src = NETLISTS[0]
    shutil.copy(src, tmp_path / src.name)
    d = json.loads(src.with_suffix(".json").read_text())
    d["ports"] = list(reversed(d["ports"]))
    (tmp_path / src.with_suffix(".json").name).write_text(json.dumps(d))
    with pytest.raises(NetlistError, match="ports differ"):
        load_macro(tmp_path / src.name)


def test_json_missing_or_bad(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match="no macro description"):
        load_macro_json(tmp_path / "x.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(NetlistError, match="not valid JSON"):
        load_macro_json(tmp_path / "x.json")
    (tmp_path / "x.json").write_text(json.dumps({"schema": "cosim.macro/1", "name": "x"}))
    with pytest.raises(NetlistError, match="missing or bad field"):
        load_macro_json(tmp_path / "x.json")


def test_find_bitcell_array_refuses_netlists_without_one() -> None:
    n = parse_text(".subckt top a\nXrow_0_col_0_bitcell a dummy_cell\n.ends\n.subckt dummy_cell a\n.ends\n")
    with pytest.raises(NetlistError, match="expected one subckt holding"):
        find_bitcell_array(n)
