"""OpenRAM netlist generation: the cache PDK view and tech folder, normalisation, and a real regeneration of the
tiny macro compared byte for byte with the committed one."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from cosim.config import load_settings
from cosim.errors import ConfigError, NetlistError, PdkError
from cosim.openram.gds import add_labels, labels
from cosim.openram.generate import fix_undriven_bus_bits, generate, list_configs, normalise, run_openram
from cosim.openram.setup import ADAPTED_CELLS, DERIVED_CELLS, build_pdk_view, build_tech_dir, openram_package_dir, prepare

SETTINGS = load_settings()
HAVE_CELLS = SETTINGS.sram_cell_lib is not None
HAVE_OPENRAM = importlib.util.find_spec("openram") is not None
needs_cells = pytest.mark.skipif(not HAVE_CELLS, reason="no sky130_fd_bd_sram under PDK_ROOT (../shared/pdk)")
needs_openram = pytest.mark.skipif(not HAVE_OPENRAM, reason="openram is not installed (pip install -e '.[openram]')")


def settings_in(tmp_path: Path):
    return replace(SETTINGS, cache_dir=tmp_path / "cache")


@needs_cells
def test_pdk_view_links_cells_and_models_and_has_placeholders(tmp_path: Path) -> None:
    view = build_pdk_view(SETTINGS, tmp_path / "pdk")
    ref = view / "sky130A" / "libs.ref" / "sky130_fd_bd_sram"
    assert ref.is_symlink() and ref.resolve() == SETTINGS.sram_cell_lib.resolve()
    assert (view / "sky130A" / "libs.tech" / "ngspice" / "sky130.lib.spice").is_file()
    assert "placeholder" in (view / "sky130A/libs.tech/magic/sky130A.magicrc").read_text()
    assert "placeholder" in (view / "sky130A/libs.tech/netgen/setup.tcl").read_text()
    build_pdk_view(SETTINGS, tmp_path / "pdk")  # rebuilding over an existing view works


@needs_cells
@needs_openram
def test_tech_dir_is_a_completed_copy(tmp_path: Path) -> None:
    root = build_tech_dir(SETTINGS, tmp_path / "tech", openram_package_dir())
    sky = root / "sky130"
    assert (sky / "tech" / "tech.py").is_file() and (sky / "custom").is_dir()
    # base netlists replace the plain ones, as OpenRAM's Makefile does
    dff = sky / "sp_lib" / "sky130_fd_bd_sram__openram_dff.sp"
    assert dff.resolve().name == "sky130_fd_bd_sram__openram_dff.base.spice"
    assert (sky / "gds_lib" / "sky130_fd_bd_sram__sram_sp_cell_opt1.gds").is_file()
    for cell, sibling in DERIVED_CELLS.items():
        text = (sky / "sp_lib" / f"{cell}.sp").read_text()
        assert f".subckt {cell} " in text and "derived by cosim" in text
    for cell, ports in ADAPTED_CELLS.items():
        text = (sky / "sp_lib" / f"{cell}.sp").read_text()
        assert f".subckt {cell} {' '.join(ports)}\n.ends" in text
        gds = (sky / "gds_lib" / f"{cell}.gds").read_bytes()
        assert set(ports) <= set(labels(gds, cell))
    # site-packages is untouched
    assert not (openram_package_dir() / "technology" / "sky130" / "sp_lib").exists()


def test_missing_cell_library_is_a_clear_error(tmp_path: Path) -> None:
    bad = replace(SETTINGS, pdk_root=tmp_path / "nopdk")
    with pytest.raises(PdkError, match="bitcell library is missing"):
        build_pdk_view(bad, tmp_path / "pdk")


def test_gds_labels_round_trip() -> None:
    if not HAVE_CELLS:
        pytest.skip("no sky130_fd_bd_sram under PDK_ROOT")
    cell = "sky130_fd_bd_sram__sram_sp_colend"
    data = (SETTINGS.sram_cell_lib / "gds" / f"{cell}.gds").read_bytes()
    before = labels(data, cell)
    after = add_labels(data, cell, ["bl", "gate"])
    assert labels(after, cell) == [*before, "bl", "gate"]
    assert len(after) > len(data)
    with pytest.raises(PdkError, match="no structure named nosuch"):
        add_labels(data, "nosuch", ["x"])


RAW = """\
.SUBCKT top
+ a spare_wen0 vdd
* INPUT : a
Xflop
+ spare_wen0[0] q vdd
+ flop
.ENDS top
"""


def test_fix_undriven_bus_bits_renames_the_orphan_net() -> None:
    lines, fixes = fix_undriven_bus_bits(RAW.splitlines(), "top")
    assert "+ spare_wen0 q vdd" in lines and len(fixes) == 1 and "spare_wen0[0]" in fixes[0]
    # a real bus (bits 0 and 1) is left alone
    bus = RAW.replace("spare_wen0[0] q", "spare_wen0[0] spare_wen0[1]")
    assert fix_undriven_bus_bits(bus.splitlines(), "top")[1] == []


def test_normalise_refuses_includes_and_local_paths() -> None:
    text, _ = normalise(RAW + "   \n", "top", ["hdr"], ["/nowhere"])
    assert text.startswith("* hdr\n") and not any(l != l.rstrip() for l in text.splitlines())
    with pytest.raises(NetlistError, match="must be self-contained"):
        normalise(".include /x/cell.sp\n" + RAW, "top", [], [])
    with pytest.raises(NetlistError, match="local path /home/me"):
        normalise(RAW + "* /home/me/x\n", "top", [], ["/home/me"])


def test_list_configs() -> None:
    all_configs = list_configs(SETTINGS.configs_dir)
    assert [p.stem for p in all_configs] == sorted(["sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512"])
    assert [p.stem for p in list_configs(SETTINGS.configs_dir, ["sram_8x16.py"])] == ["sram_8x16"]
    with pytest.raises(ConfigError, match="unknown OpenRAM config 'sram_1x1'"):
        list_configs(SETTINGS.configs_dir, ["sram_1x1"])


def test_configs_are_netlist_only_one_rw_port() -> None:
    for path in list_configs(SETTINGS.configs_dir):
        ns: dict = {}
        exec(compile(path.read_text(), str(path), "exec"), ns)  # configs are plain assignments
        assert ns["output_name"] == path.stem
        assert f"sram_{ns['word_size']}x{ns['num_words']}" == path.stem
        assert (ns["num_rw_ports"], ns["num_r_ports"], ns["num_w_ports"]) == (1, 0, 0)
        assert ns["netlist_only"] is True and ns["check_lvsdrc"] is False and ns["use_conda"] is False


@needs_cells
@needs_openram
def test_openram_failure_names_config_and_log(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    config = tmp_path / "sram_bad.py"
    # an odd column count OpenRAM's sky130 arrays reject
    config.write_text(
        (SETTINGS.configs_dir / "sram_8x16.py").read_text().replace("num_spare_cols = 1", "num_spare_cols = 0")
        .replace('"sram_8x16"', '"sram_bad"')
    )
    with pytest.raises(NetlistError, match=r"OpenRAM failed on .*sram_bad\.py .*see .*openram\.log") as info:
        run_openram(config, prepare(settings), tmp_path / "run", timeout_s=300)
    assert "\n" not in str(info.value)
    assert "divisible" in (tmp_path / "run" / "openram.log").read_text()


@needs_cells
@needs_openram
def test_regenerating_the_tiny_macro_reproduces_the_committed_files(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    config = SETTINGS.configs_dir / "sram_8x16.py"
    out = tmp_path / "netlists"
    g = generate(config, out, settings)
    committed = SETTINGS.netlists_dir / "sram_8x16.sp"
    assert g.sp_path.read_bytes() == committed.read_bytes()
    assert json.loads(g.json_path.read_text()) == json.loads(committed.with_suffix(".json").read_text())
    assert g.json_path.read_bytes() == committed.with_suffix(".json").read_bytes()
    # the caller's environment is left alone: PDK_ROOT/OPENRAM_TECH were set for the subprocess only
    assert os.environ.get("OPENRAM_TECH") is None or "cache" not in os.environ["OPENRAM_TECH"]


@needs_cells
@needs_openram
def test_cli_generates_into_out_and_reports_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cosim.cli import cli, main

    monkeypatch.setenv("COSIM_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["netlists", "--config", "sram_8x16", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "sram_8x16:" in result.output
    assert (tmp_path / "out" / "sram_8x16.sp").read_bytes() == (SETTINGS.netlists_dir / "sram_8x16.sp").read_bytes()

    monkeypatch.setattr("sys.argv", ["cosim", "netlists", "--config", "sram_1x1", "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
