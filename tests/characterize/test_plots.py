"""Characterization plots: the PNGs are produced from a table; failed points are marked, not interpolated."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import click
from click.testing import CliRunner

from cosim.characterize.plots import _grid, _ok_value, plot_characterization
from tests.tablegen import restamp

def _table(tmp_path) -> Path:
    """A copy of the committed sram_8x16 table (tests edit it)."""
    from cosim.config import load_settings

    for suffix in (".csv", ".json"):
        shutil.copy(load_settings().characterization_dir / f"sram_8x16{suffix}", tmp_path)
    return tmp_path / "sram_8x16.csv"


def _is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pngs_from_table(tmp_path, settings):
    committed = settings.characterization_dir / "sram_8x16.csv"  # all corners, once the sweep's table is committed
    paths = plot_characterization(committed if committed.is_file() else _table(tmp_path), tmp_path / "png")
    assert [p.name for p in paths] == [
        "sram_8x16_access_vs_vdd.png", "sram_8x16_energy_vs_vdd.png",
        "sram_8x16_heatmap_read_energy.png", "sram_8x16_heatmap_min_cycle.png",
    ]  # fmt: skip
    assert all(_is_png(p) for p in paths)


def test_failed_points_are_marked_not_valued(tmp_path):
    table = _table(tmp_path)
    frame = pd.read_csv(table)
    frame.loc[frame.op.isin(["read_0", "min_cycle"]), "status"] = "failed"
    frame.to_csv(table, index=False)
    restamp(table)
    d = _ok_value(frame, "read_0", "access_time_s")
    assert d.failed.all() and d.value.isna().all()
    vals, failed = _grid(frame, ("read_1", "read_0"), "energy_j", 25.0, ["tt"], [1.8])
    assert failed[0, 0] and np.isnan(vals[0, 0])
    vals, failed = _grid(frame, ("read_1",), "energy_j", 25.0, ["tt"], [1.8])
    at = (frame.process == "tt") & (frame.vdd_v == 1.8) & (frame.temp_c == 25.0) & (frame.op == "read_1")
    assert not failed[0, 0] and vals[0, 0] == frame[at].energy_j.iloc[0]
    paths = plot_characterization(table, tmp_path / "png")
    assert all(_is_png(p) for p in paths)


def test_cli(tmp_path):
    from cosim.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", "characterization", "--macro", "sram_8x16", "--table", str(_table(tmp_path)),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == 4


def test_rows_that_passed_at_an_unusable_corner_are_not_values(settings):
    """A corner whose writes fail has no figures: a read row there that passed (it read what the failed write left)
    is marked failed in the line plots and the heatmaps, not drawn as a value. The committed sram_8x16 table with
    one corner's write marked failed (its reads still pass)."""
    from cosim.table import classify_corner

    frame = pd.read_csv(settings.characterization_dir / "sram_8x16.csv")
    p, v, t = "tt", 1.8, 25.0
    at = (frame.process == p) & (frame.vdd_v == v) & (frame.temp_c == t)
    assert (frame[at & frame.op.isin(["read_0", "read_1"])].status == "ok").all()
    frame.loc[at & (frame.op == "write_0to1"), ["status", "message"]] = ["failed", "stored 0x0, expected 0xff"]
    rows = frame[at]
    assert classify_corner({r.op: (r.status, "", r.cycle_time_s) for r in rows.itertuples()})[0] == "unusable: writes fail"
    op = "read_1"
    d = _ok_value(frame, op, "energy_j")
    here = d[(d.process == p) & (d.vdd_v == v) & (d.temp_c == t)]
    assert here.failed.all() and here.value.isna().all()
    vals, failed = _grid(frame, (op,), "energy_j", t, [p], [v])
    assert failed[0, 0] and np.isnan(vals[0, 0])
    # a passing corner's value is still drawn
    ok = d[~d.failed].iloc[0]
    assert ok.value == frame[(frame.op == op) & (frame.process == ok.process) & (frame.vdd_v == ok.vdd_v)
                             & (frame.temp_c == ok.temp_c)].energy_j.iloc[0]


def test_every_option_of_characterize_liberty_and_report_has_help():
    from cosim.characterize.cli import characterize, liberty, report

    for cmd in (characterize, liberty, *report.commands.values()):
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{cmd.name} {param.opts[0]} has no help"
