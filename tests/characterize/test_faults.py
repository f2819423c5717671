"""Faults are not results: a simulator that exits non-zero, is killed, hangs, writes garbage or never converges
leaves no table row and no cache entry, and `cosim characterize` exits non-zero naming the corner. Hostile netlists
are refused before anything runs. Two sweeps into one folder at once lose no corner.

The fault tests put a stand-in `ngspice` first on PATH and run the real command in a subprocess (its exit status and
stderr are what a user sees)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKES = {
    "exit1": "echo 'fake ngspice: giving up' >&2; exit 1",
    "killed": "kill -9 $$",
    "garbage": 'printf "Title: x\\nNo. Variables: 2\\nNo. Points: 999\\nBinary:\\n\\x01\\x02" > "$3"; exit 0',
    "nonconvergence": "echo 'doAnalyses: TRAN:  Timestep too small; time = 1e-10' >&2; exit 1",
    # a child that outlives a plain kill of ngspice: the process group must go
    "hang": 'sleep 600 & echo $! > "$FAKE_DIR/child.pid"; wait',
}


def _fake_ngspice(directory: Path, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "ngspice"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        if [ "$1" = "-v" ]; then echo "******  ngspice-39 : fake for tests"; exit 0; fi
        echo "$@" >> "$FAKE_DIR/calls.txt"
        {body}
        """))
    script.chmod(0o755)


def _characterize(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COSIM_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "cosim.cli", "characterize", "--macro", "sram_8x16", "--process", "tt",
                           "--vdd", "1.8", "--temp", "25", "--jobs", "1", "--out", str(tmp_path / "out"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("fault", sorted(FAKES))
def test_a_simulator_fault_leaves_no_row_no_cache_entry_and_fails_the_command(tmp_path, fault):
    fake = tmp_path / "bin"
    _fake_ngspice(fake, FAKES[fault])
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "FAKE_DIR": str(fake), "COSIM_SIM_TIMEOUT_S": "3"}
    done = _characterize(tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cosim: error: 1 corner(s) not simulated") and "sram_8x16 tt_1800mV_25C" in last
    assert not (tmp_path / "out" / "sram_8x16.csv").exists()
    assert not list((tmp_path / "cache" / "points").rglob("*.json"))
    calls = (fake / "calls.txt").read_text().splitlines()
    # a fault is never retried with other solver options; a non-converging deck is, once
    assert len(calls) == (2 if fault == "nonconvergence" else 1), calls
    if fault == "hang":
        child = int((fake / "child.pid").read_text())
        time.sleep(0.2)
        assert not _alive(child), "the hung simulator's child outlived its timeout"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that this sandbox's init may never be counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


HOSTILE = {
    "star_hash": lambda text, marker: text.replace("\n", f"\n*# shell touch {marker}\n", 1),
    "control_after_end": lambda text, marker: text + f".end\n.control\nshell touch {marker}\n.endc\n",
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_hostile_netlists_are_refused_before_anything_runs(tmp_path, settings, hostile):
    netlists, marker = tmp_path / "netlists", tmp_path / "MARKER"
    netlists.mkdir()
    shutil.copy(settings.netlists_dir / "sram_8x16.json", netlists)
    sp = netlists / "sram_8x16.sp"
    sp.write_text(HOSTILE[hostile]((settings.netlists_dir / "sram_8x16.sp").read_text(), marker))
    done = _characterize(tmp_path, "--trim", "no", env={"COSIM_NETLISTS_DIR": str(netlists)})
    assert done.returncode == 2 and not marker.exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"cosim: error: {sp}:") and ("control command" in line or "follows .end" in line)
    assert not (tmp_path / "out" / "sram_8x16.csv").exists()


@pytest.mark.parametrize("args, complaint", [
    (("--jobs", "0"), "Invalid value for '--jobs'"),
    (("--vdd", "1.8,abc"), "'abc' is not a number"),
    (("--vdd", ""), "give at least one value"),
    (("--vdd", "1.8,1.8000001"), "share the name"),
])  # fmt: skip
def test_bad_sweep_options_are_one_line_usage_errors(tmp_path, args, complaint):
    env = {"COSIM_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "cosim.cli", "characterize", "--macro", "sram_8x16", *args],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and complaint in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def _sweep_in_child(settings, grid_vdds, process, out, cache):
    """One sweep in its own process, with a quick stand-in for the ngspice point (the bookkeeping is under test)."""
    import cosim.characterize.sweep as sweep
    from tests.characterize.test_committed import _FakePoint

    fake = _FakePoint()

    def slow_point(req):
        time.sleep(0.3)  # the two sweeps' table writes interleave
        return fake(req)

    sweep.characterize_point = slow_point
    sweep.sweep_macro(settings.netlists_dir / "sram_8x16.sp", replace(settings, cache_dir=cache),
                      sweep.Grid((process,), grid_vdds, (25.0,)), out_dir=out, jobs=1, progress=False)


def test_two_sweeps_into_one_folder_at_once_lose_no_corner(settings, tmp_path):
    from cosim.characterize.committed import read_committed
    from cosim.types import Corner

    out, ctx = tmp_path / "out", multiprocessing.get_context("fork")
    vdds = (1.6, 1.7, 1.8, 1.9)
    sweeps = [ctx.Process(target=_sweep_in_child, args=(settings, vdds, p, out, tmp_path / "cache"))
              for p in ("tt", "ff")]  # one cache shared, as two sweeps on one machine would
    for s in sweeps:
        s.start()
    for s in sweeps:
        s.join(120)
        assert s.exitcode == 0
    table = read_committed(out / "sram_8x16.csv")  # integrity-checked: csv and json from one writer
    assert set(table.corners) == {Corner(p, v, 25.0) for p in ("tt", "ff") for v in vdds}
    assert len(pd.read_csv(out / "sram_8x16.csv")) == 8 * 9  # 9 rows a corner


def test_an_unreadable_point_cache_file_is_missing_and_named(tmp_path):
    from cosim.characterize.records import MeasurementRow, PointRecord
    from cosim.characterize.sweep import _cache, _load
    from cosim.types import Corner

    good = _cache(PointRecord("k", Corner("tt", 1.8, 25.0), (MeasurementRow("idle", energy_j=1e-13),)),
                  tmp_path / "k.json")
    assert _load(tmp_path / "k.json") == good and _load(tmp_path / "none.json") is None
    text = (tmp_path / "k.json").read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    from cosim.characterize.records import SCHEMA_VERSION

    (tmp_path / "old.json").write_text(text.replace(f'"schema": {SCHEMA_VERSION}', f'"schema": {SCHEMA_VERSION - 1}'))
    for name in ("cut.json", "old.json"):
        with pytest.warns(UserWarning, match=f"{name}: unreadable point cache file"):
            assert _load(tmp_path / name) is None
