"""ngspice: setup -> run -> parse, in a run directory, with a typed result (VlsirTools' simulator pattern).

ngspice keeps global state (one circuit, its plots, its options), so every run is its own `ngspice -b` process;
sweeps hand points to worker processes (joblib/loky or Dask workers), which each start these runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cosim.errors import CosimError

#: ngspice messages that mean the transient did not converge (the run "succeeds" but stops early)
_FAILURE = re.compile(
    r"timestep too small|singular matrix|simulation\(s\) aborted|no convergence|gmin stepping failed|"
    r"source stepping failed|iteration limit reached|run simulation\(s\) aborted",
    re.IGNORECASE,
)
_ERROR = re.compile(r"^\s*error\b|could not find a valid|unknown subckt|unknown model|can't find model", re.I)


class SimError(CosimError):
    """ngspice did not produce a usable result. Carries the run directory and what ngspice printed.

    Two kinds, because they are handled differently: a :class:`SimFault` (the simulator crashed, was killed, hung or
    wrote nothing readable) says nothing about the circuit and is never stored as a result; a
    :class:`NonConvergence` (ngspice ran but its transient stopped early) may be retried with other solver options.
    """

    def __init__(self, message: str, run_dir: Path | None = None, stdout: str = "", stderr: str = "") -> None:
        where = f" (deck and log in {run_dir})" if run_dir else ""
        super().__init__(message + where)
        self.run_dir = run_dir
        self.stdout = stdout
        self.stderr = stderr

    @property
    def nonconvergence(self) -> bool:
        return isinstance(self, NonConvergence)


class SimFault(SimError):
    """The simulator did not complete: non-zero exit, a signal, a timeout, no or unreadable output, an error line."""


class NonConvergence(SimError):
    """ngspice ran to its end but its transient stopped early or it reported non-convergence."""


@dataclass(frozen=True)
class SimOptions:
    """How a deck is run (not what is simulated): the executable, OpenMP threads, and the wall-clock limit.

    ``timeout_s`` None scales the limit from the deck's size (:func:`deck_timeout_s`)."""

    executable: str = "ngspice"
    threads: int = 1
    timeout_s: float | None = None


#: wall-clock limit: a floor, plus this many seconds per (device x time step of the .tran line). ngspice needs
#: ~5e-6 s per device and step on these decks, so the limit is ~20x what a healthy run takes.
TIMEOUT_FLOOR_S = 120.0
TIMEOUT_S_PER_DEVICE_STEP = 1e-4
_TRAN = re.compile(r"^\s*\.tran\s+(\S+)\s+(\S+)", re.I | re.M)
_INCLUDE = re.compile(r'^\s*\.include\s+"?([^"\s]+)"?', re.I | re.M)
_SCALE = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "meg": 1e6, "g": 1e9}


def _spice_number(text: str) -> float:
    m = re.fullmatch(r"([-+0-9.eE]+?)(meg|[fpnumkg])?[a-z]*", text.strip().lower())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _SCALE.get(m.group(2) or "", 1.0)


def deck_timeout_s(deck: str) -> float:
    """The wall-clock limit of a deck: scaled from its transient's steps (stop / step) and its device count (the
    element lines of the deck and of the files it includes)."""
    devices = sum(1 for line in deck.splitlines() if line[:1].lower() in "mrcdqjx")
    for path in _INCLUDE.findall(deck):
        try:
            with open(path, errors="replace") as f:
                devices += sum(1 for line in f if line[:1].lower() in "mx")
        except OSError:
            pass  # ngspice will report the missing file itself
    steps = 1000.0
    if m := _TRAN.search(deck):
        try:
            steps = max(1.0, _spice_number(m.group(2)) / _spice_number(m.group(1)))
        except (ValueError, ZeroDivisionError):
            pass
    return TIMEOUT_FLOOR_S + TIMEOUT_S_PER_DEVICE_STEP * devices * steps


@dataclass(frozen=True)
class SimResult:
    """Waveforms of one transient run. Vector names are lower case as ngspice reports them (v(x) -> 'x')."""

    time_s: np.ndarray
    vectors: dict[str, np.ndarray] = field(repr=False)
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    wall_s: float
    deck_sha256: str
    run_dir: Path | None

    def v(self, node: str) -> np.ndarray:
        key = node.lower()
        if key not in self.vectors:
            raise KeyError(f"no vector {node!r} in the result; saved: {', '.join(sorted(self.vectors)[:20])} ...")
        return self.vectors[key]


def ngspice_version(executable: str = "ngspice") -> str:
    """The ngspice version (e.g. 'ngspice-39'), from `ngspice -v`."""
    try:
        out = subprocess.run([executable, "-v"], capture_output=True, text=True, timeout=30).stdout
    except FileNotFoundError:
        raise SimError(f"no '{executable}' on PATH: install ngspice (make setup, or apt-get install ngspice)") from None
    m = re.search(r"ngspice-\d+(?:\.\d+)?", out)
    return m.group(0) if m else out.strip()[:60]


def parse_raw(data: bytes) -> dict[str, np.ndarray]:
    """Vectors of an ngspice binary raw file (real data). Names as ngspice writes them, lower case.

    PySpice's RawFile reads the stream of ngspice's server mode (with its own preamble), not a raw file, so this
    reads the documented raw layout: an ASCII header (Flags, No. Variables, No. Points, Variables) then float64s.
    """
    marker = data.find(b"Binary:\n")
    if marker < 0:
        raise ValueError("not an ngspice binary raw file (no 'Binary:' line)")
    header = data[:marker].decode("ascii", "replace").splitlines()
    fields = {}
    names: list[str] = []
    in_vars = False
    for line in header:
        if in_vars and line.startswith("\t"):
            names.append(line.split("\t")[2].strip().lower())
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
            in_vars = key.strip() == "Variables"
    if fields.get("Flags", "real") != "real":
        raise ValueError(f"raw file flags {fields.get('Flags')!r}: only real (transient) data is read")
    n_vars, n_points = int(fields["No. Variables"]), int(fields["No. Points"])
    values = np.frombuffer(data, dtype="<f8", count=n_vars * n_points, offset=marker + len(b"Binary:\n"))
    table = values.reshape(n_points, n_vars)
    return {_vector_name(name): table[:, i].copy() for i, name in enumerate(names)}


def _vector_name(name: str) -> str:
    """'v(x)' -> 'x', 'i(vsrc)' -> 'vsrc#branch' (the names ngspice's plots use)."""
    if name.startswith("v(") and name.endswith(")"):
        return name[2:-1]
    if name.startswith("i(") and name.endswith(")"):
        return name[2:-1] + "#branch"
    return name


def run_deck(deck: str, run_dir: Path | None = None, expect_stop_s: float | None = None,
             options: SimOptions = SimOptions()) -> SimResult:
    """Run `deck` (a complete netlist with its analysis line) in a fresh ngspice process; return its waveforms.

    Each run is its own `ngspice -b` process in its own process group: ngspice keeps global state, so a process per
    run isolates runs, and on a timeout the whole group is killed. The deck, ngspice's log and the raw waveforms stay
    in `run_dir` (a temporary folder when None, removed after a successful run, kept after a failure).
    `expect_stop_s`: the transient's stop time; a run that ends earlier did not converge.
    Raises :class:`SimFault` or :class:`NonConvergence`; never returns a partial result.
    """
    sha = hashlib.sha256(deck.encode()).hexdigest()
    timeout_s = options.timeout_s if options.timeout_s is not None else deck_timeout_s(deck)
    tmp = None
    if run_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="cosim-run-")
        work = Path(tmp.name)
    else:
        work = run_dir
        work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "deck.sp").write_text(deck)
        (work / ".spiceinit").write_text(f"set num_threads={max(1, int(options.threads))}\n")
        raw = work / "result.raw"
        raw.unlink(missing_ok=True)
        start = time.perf_counter()
        failure, kind = None, SimFault
        # cwd: ngspice drops its BSIM parameter-check log (b3v32check.log) in the working directory
        try:
            proc = subprocess.Popen([options.executable, "-b", "-r", raw.name, "deck.sp"], cwd=work,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                    start_new_session=True)
        except FileNotFoundError:
            raise SimFault(f"no '{options.executable}' on PATH: install ngspice (make setup, or apt-get install "
                           "ngspice)") from None
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            stdout, stderr = proc.communicate()
            failure = f"ngspice ran past its {timeout_s:.0f} s limit and was killed"
        wall = time.perf_counter() - start
        (work / "ngspice.log").write_text(stdout + "\n---- stderr ----\n" + stderr)
        vectors: dict[str, np.ndarray] = {}
        time_s = None
        if failure is None and proc.returncode < 0:
            failure = f"ngspice was killed by signal {_signal_name(-proc.returncode)}"
        if failure is None and (m := _FAILURE.search(stderr) or _FAILURE.search(stdout)):
            failure, kind = "ngspice reported non-convergence: " + m.group(0), NonConvergence
        if failure is None and proc.returncode != 0:
            failure = f"ngspice exited with status {proc.returncode}"
        if failure is None:
            if not raw.exists() or raw.stat().st_size == 0:
                failure = "ngspice wrote no result"
            else:
                try:
                    vectors = parse_raw(raw.read_bytes())
                except (ValueError, KeyError, IndexError) as exc:
                    failure = f"unreadable ngspice result: {exc}"
            time_s = vectors.pop("time", None)
        if failure is None and (time_s is None or len(time_s) < 2 or not np.all(np.isfinite(time_s))):
            failure = "transient result has no time axis"
        elif failure is None and expect_stop_s is not None and time_s[-1] < expect_stop_s * (1 - 1e-6):
            failure = f"transient stopped at {time_s[-1]:.4g} s of {expect_stop_s:.4g} s (no convergence)"
            kind = NonConvergence
        if failure is None and _ERROR.search(stderr):
            line = next(l for l in stderr.splitlines() if _ERROR.search(l))
            failure = f"ngspice error: {line.strip()}"
        if failure is not None:
            if tmp is not None:  # keep what failed for inspection
                kept = Path(tempfile.mkdtemp(prefix="cosim-failed-"))
                for f in work.iterdir():
                    if f.is_file():
                        (kept / f.name).write_bytes(f.read_bytes())
                run_dir = kept
            raise kind(failure, run_dir, stdout, stderr)
        raw.unlink(missing_ok=True)  # waveforms are returned; the raw file is large and derived
        return SimResult(time_s, vectors, stdout, stderr, wall, sha, run_dir)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _text(x) -> str:
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else x
