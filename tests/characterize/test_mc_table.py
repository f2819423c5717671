"""The bit-error table (`cosim characterize --monte-carlo`, cosim.characterize.mc_table): written from real samples,
kept byte for byte by a rerun that simulates nothing, refused in one line when damaged or asked for a corner the
macro's table lacks, never holding a corner the simulator faulted on; its loader and its plot."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.characterize.mc_table import (OPS, check_mc_rows, op_rows, read_mc_table, requested_corners,
                                         table_text)  # fmt: skip
from cosim.characterize.montecarlo import BitResult, SampleResult
from cosim.errors import CornerError, TableIntegrityError, TableRangeError
from cosim.montecarlo_table import BerTable
from cosim.types import Corner

ROOT = Path(__file__).resolve().parents[2]
MACRO = "sram_8x16"
CORNER = ("--process", "tt", "--vdd", "1.8", "--temp", "25")


def _cosim(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosim.cli", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def _mc(out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return _cosim("characterize", "--monte-carlo", "--macro", MACRO, "--samples", "2", "--jobs", "2", "--out",
                  str(out), *args, env=env)  # fmt: skip


def _refusing_ngspice(directory: Path, flop_too: bool = False) -> dict:
    """An `ngspice` first on PATH that answers -v as the real one (the sample cache is per version) and records and
    fails any simulation: every sample, and the lone start-up flop's run only with ``flop_too``."""
    real = shutil.which("ngspice")
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "ngspice"
    passes = "" if flop_too else f'if grep -q "lone start-up flop" "${{@: -1}}"; then exec {real} "$@"; fi'
    script.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        if [ "$1" = "-v" ]; then exec {real} -v; fi
        {passes}
        echo "$@" >> "{directory}/calls.txt"
        echo 'fake ngspice: giving up' >&2; exit 1
        """))
    script.chmod(0o755)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """2 samples at tt/1.8 V/25 C, cached in the project's sample cache (simulated once per checkout)."""
    out = tmp_path_factory.mktemp("mc")
    done = _mc(out, *CORNER)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / "montecarlo" / f"{MACRO}.csv"


@pytest.mark.spice
def test_the_command_writes_the_table(table, settings):
    t = BerTable.load(table)
    assert t.macro == MACRO and t.corners() == (Corner("tt", 1.8, 25),)
    rows = t.at(Corner("tt", 1.8, 25))
    assert tuple(rows) == tuple(OPS)
    for op, r in rows.items():
        assert (r.samples, r.bits, r.excluded) == (2, 16, 0), r
        assert r.period_s == pytest.approx(4e-9)  # the committed table's clock at the corner
        assert r.failures == 0 and r.rate == 0 and r.rate_lo == 0
        assert r.rate_hi == pytest.approx(1 - 0.025 ** (1 / 16), rel=1e-5)  # Clopper-Pearson at 0 of 16
        assert r.status == "ok" and r.margin_sigma > 0 and r.tail_hi < 1e-3
        assert r.margin_unit == ("s" if op.startswith("write") else "V")
    # writes finish ~1.5 ns before the word line falls; reads see most of the swing at sense enable
    assert 0.5e-9 < rows["write_0to1"].margin_mean < 4e-9 and rows["read_0"].margin_mean > 0.5 * 1.8
    prov = t.provenance
    (info,) = prov["corners"].values()
    assert len(info["sample_keys"]) == len(set(info["sample_keys"])) == 2 and info["run_seed"] == 1
    assert len(info["mismatch_deck_sha256"]) == 64 and "_mm_" in info["mismatch_deck"]
    assert prov["ngspice_version"].startswith("ngspice") and prov["mc_measurement_version"] >= 1
    assert prov["netlist_sha256"] == hashlib.sha256((settings.netlists_dir / f"{MACRO}.sp").read_bytes()).hexdigest()
    with pytest.raises(TableRangeError, match="tt_1600mV_25C"):
        t.at(Corner("tt", 1.6, 25))


@pytest.mark.spice
def test_a_rerun_simulates_nothing_and_leaves_the_bytes(table, tmp_path):
    before = {p: p.read_bytes() for p in (table, table.with_suffix(".json"))}
    env = _refusing_ngspice(tmp_path / "bin")
    done = _mc(table.parent.parent, *CORNER, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 samples simulated now" in done.stdout and "(unchanged)" in done.stdout
    assert not (tmp_path / "bin" / "calls.txt").exists()
    assert {p: p.read_bytes() for p in before} == before


def test_a_corner_outside_the_table_is_refused_in_one_line(tmp_path):
    done = _mc(tmp_path, "--process", "tt", "--vdd", "1.7", "--temp", "25")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("cosim: error:") and "no corner tt_1700mV_25C" in line and "characterize it first" in line
    assert not (tmp_path / "montecarlo").exists()


@pytest.mark.spice
def test_a_damaged_table_is_refused_in_one_line(table, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(table.parent.parent, out)
    csv = out / "montecarlo" / table.name
    csv.write_text(csv.read_text().replace(",0,0,", ",1,0,", 1))
    with pytest.raises(TableIntegrityError, match="sha256"):
        BerTable.load(csv)
    done = _mc(out, *CORNER, env=_refusing_ngspice(tmp_path / "bin"))
    assert done.returncode == 2 and not (tmp_path / "bin" / "calls.txt").exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"cosim: error: {csv}: its sha256") and "--monte-carlo" in line
    csv.with_suffix(".json").unlink()
    with pytest.raises(TableIntegrityError, match="sram_8x16.json is missing"):
        BerTable.load(csv)


@pytest.mark.spice
def test_impossible_rows_are_refused_even_with_a_matching_hash(table, tmp_path):
    _, frame, _ = read_mc_table(table)
    check_mc_rows(frame, table)
    for column, value, complaint in (("failures", 17, "failures outside"), ("rate", 0.5, "not failures / bits"),
                                     ("op", "hold", "unknown op")):  # fmt: skip
        bad = frame.astype({column: object})
        bad.loc[0, column] = value
        with pytest.raises(TableIntegrityError, match=complaint):
            check_mc_rows(bad, table)


def test_a_simulator_fault_is_not_a_result(tmp_path):
    env = {**_refusing_ngspice(tmp_path / "bin"), "COSIM_CACHE_DIR": str(tmp_path / "cache")}
    done = _mc(tmp_path / "out", *CORNER, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cosim: error: 1 corner(s) not simulated") and "sram_8x16 tt_1800mV_25C" in last
    assert len((tmp_path / "bin" / "calls.txt").read_text().splitlines()) == 2  # each sample tried once
    assert not (tmp_path / "out" / "montecarlo" / f"{MACRO}.csv").exists()
    assert not list((tmp_path / "cache").rglob("montecarlo/**/*.json"))
    # the start-up flop's run faulting stops the command before any sample, in one line, and leaves no state
    env = {**_refusing_ngspice(tmp_path / "bin2", flop_too=True), "COSIM_CACHE_DIR": str(tmp_path / "cache2")}
    done = _mc(tmp_path / "out2", *CORNER, env=env)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "the lone chip-select flop's run" in last and "tt_1800mV_25C" in last
    assert not list((tmp_path / "cache2").rglob("startup/*.json"))


@pytest.mark.spice
def test_the_plot_is_written(table, tmp_path):
    done = _cosim("report", "monte-carlo", "--macro", MACRO, "--table", str(table), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    png = tmp_path / f"{MACRO}_ber_vs_vdd.png"
    first, *supplies = done.stdout.strip().splitlines()
    assert first == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert supplies and all("worst failure rate per bit" in line for line in supplies)
    assert png.stat().st_size > 20_000


def test_requested_corners_are_the_tables():
    held = [Corner("tt", v, 25) for v in (1.6, 1.8)] + [Corner("ff", 1.8, 25)]
    assert requested_corners(held) == sorted(held, key=lambda c: (c.process != "tt", c.vdd_v))
    assert requested_corners(held, vdds=(1.8,)) == [Corner("tt", 1.8, 25), Corner("ff", 1.8, 25)]
    with pytest.raises(CornerError, match="no corner ff_1600mV_25C"):
        requested_corners(held, vdds=(1.6,))


def _sample(i: int, write_margin: float, wrong: bool = False, held: bool = False, disturbed: bool = False
            ) -> SampleResult:
    bits = []
    for b in range(4):
        fail = b == 0 and write_margin < 0
        # held: bit 3's cell already held 1 when its write began (no flip to time: a pass without a margin)
        margin = np.nan if fail or (held and b == 3) else write_margin + 0.1e-9 * b
        # disturbed: bit 1's read of 0 flips the cell and reads wrong although its bit lines were right
        upset = disturbed and b == 1
        bits += [BitResult("write_0to1", b, fail, margin),
                 BitResult("write_1to0", b, False, 1e-9 + 0.1e-9 * b),
                 BitResult("read_0", b, upset, 1.0 + 0.01 * b, disturb_v=0.5 + 0.01 * b, flipped=upset,
                           wrong_data=upset),
                 BitResult("read_1", b, wrong, 1.0 + 0.01 * b, disturb_v=0.5 - 0.01 * b, wrong_data=wrong)]
    return SampleResult(i, 100 + i, f"k{i}", tuple(bits), 1.0)


def test_rows_count_failures_by_direction_and_kind():
    samples = (_sample(0, -1.0, wrong=True), _sample(1, 1e-9, disturbed=True), _sample(2, 2e-9, held=True))
    rows = {r["op"]: r for r in op_rows(MACRO, Corner("tt", 1.6, 25), 5e-9, samples, "key")}
    w = rows["write_0to1"]
    # the failed write (no margin) is a censored failure; the held bit is no trial at all
    assert (w["failures"], w["bits"], w["excluded"], w["censored"], w["samples"]) == (1, 11, 1, 1, 3)
    assert w["rate"] == pytest.approx(1 / 11) and w["rate_lo"] < w["rate"] < w["rate_hi"] and w["status"] == "ok"
    assert "1 bits not judged" in w["message"]
    assert rows["write_1to0"]["failures"] == 0
    # a read that returns wrong data with the bit lines right at sense enable: the sense amp's failure
    r1 = rows["read_1"]
    assert (r1["failures"], r1["sense_failures"]) == (4, 4) and "the sense amp read wrong" in r1["message"]
    assert rows["read_disturb_1"]["failures"] == 0
    # ... unless the read flipped the cell: then the cell failed (wrong data and read disturb, not the sense amp's)
    r0, d0 = rows["read_0"], rows["read_disturb_0"]
    assert (r0["failures"], r0["sense_failures"], d0["failures"], d0["sense_failures"]) == (1, 0, 1, 0)
    frame = pd.read_csv(io.StringIO(table_text(list(rows.values()))))
    check_mc_rows(frame, Path("x.csv"), word_size=4)
    with pytest.raises(TableIntegrityError, match="bits \\+ excluded"):
        check_mc_rows(frame, Path("x.csv"), word_size=8)


@pytest.mark.spice
@pytest.mark.slow
def test_a_cold_run_simulates_resumes_from_its_samples_and_grows(tmp_path):
    env = {"COSIM_CACHE_DIR": str(tmp_path / "cache")}
    done = _mc(tmp_path / "a", *CORNER, env=env)
    assert done.returncode == 0 and "2 samples simulated now, 0 from the sample cache" in done.stdout, done.stderr
    # the table lost (an interrupted run), the samples kept: the same table, nothing simulated
    refusing = {**env, **_refusing_ngspice(tmp_path / "bin")}
    done = _mc(tmp_path / "b", *CORNER, env=refusing)
    assert done.returncode == 0 and "0 samples simulated now, 2 from the sample cache" in done.stdout, done.stderr
    a, b = (p / "montecarlo" / f"{MACRO}.csv" for p in (tmp_path / "a", tmp_path / "b"))
    assert a.read_bytes() == b.read_bytes()
    # another corner: the finished one is kept as it was, the new one added
    done = _mc(tmp_path / "a", "--process", "tt", "--vdd", "1.6,1.8", "--temp", "25", env=env)
    assert done.returncode == 0 and "1 kept as they were; 2 samples simulated now" in done.stdout, done.stderr
    grown = BerTable.load(a)
    assert grown.corners() == (Corner("tt", 1.6, 25), Corner("tt", 1.8, 25))
    assert a.read_text().splitlines()[-len(OPS):] == b.read_text().splitlines()[1:]  # 1.8 V: the same bytes
