"""ngspice: setup -> run -> parse, in a run directory, with a typed result (VlsirTools' simulator pattern).

ngspice keeps global state (one circuit, its plots, its options), so every run is its own `ngspice -b` process;
sweeps hand points to worker processes (joblib/loky or Dask workers), which each start these runs.
"""

from __future__ import annotations

import hashlib
import re
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
    """ngspice failed or did not converge. Carries the run directory and what ngspice printed."""

    def __init__(self, message: str, run_dir: Path | None = None, stdout: str = "", stderr: str = "") -> None:
        where = f" (deck and log in {run_dir})" if run_dir else ""
        super().__init__(message + where)
        self.run_dir = run_dir
        self.stdout = stdout
        self.stderr = stderr

    @property
    def nonconvergence(self) -> bool:
        return bool(_FAILURE.search(self.stderr) or _FAILURE.search(self.stdout))


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


def run_deck(
    deck: str,
    run_dir: Path | None = None,
    expect_stop_s: float | None = None,
    timeout_s: float | None = None,
    executable: str = "ngspice",
    threads: int = 1,
) -> SimResult:
    """Run `deck` (a complete netlist with its analysis line) in a fresh ngspice process; return its waveforms.

    Each run is its own `ngspice -b` process: ngspice keeps global state, so a process per run is the cleanest
    isolation, it can be killed on a timeout, and it costs less CPU than PySpice's shared-library binding (measured
    on a 256 B macro deck, ngspice 39: 10 s of CPU as a batch process, 36 s through libngspice). The deck, ngspice's
    log and the raw waveforms stay in `run_dir` (a temporary folder when None, removed after a successful run).
    `expect_stop_s`: the transient's stop time; a run that ends earlier did not converge. `threads`: OpenMP threads
    of ngspice's device evaluation (Debian's ngspice uses 2 unless told; written to the run's `.spiceinit`). One
    per run when runs go in parallel: a sram_16x128 deck took 49 s of CPU on one thread, 69 s (37 s wall) on two.
    """
    sha = hashlib.sha256(deck.encode()).hexdigest()
    tmp = None
    if run_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="cosim-run-")
        work = Path(tmp.name)
    else:
        work = run_dir
        work.mkdir(parents=True, exist_ok=True)
    try:
        (work / "deck.sp").write_text(deck)
        (work / ".spiceinit").write_text(f"set num_threads={max(1, int(threads))}\n")
        raw = work / "result.raw"
        raw.unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            # cwd: ngspice drops its BSIM parameter-check log (b3v32check.log) in the working directory
            proc = subprocess.run([executable, "-b", "-r", raw.name, "deck.sp"], cwd=work, capture_output=True,
                                  text=True, errors="replace", timeout=timeout_s)  # fmt: skip
        except FileNotFoundError:
            raise SimError(f"no '{executable}' on PATH: install ngspice (make setup, or apt-get install ngspice)") from None
        except subprocess.TimeoutExpired as exc:
            raise SimError(f"ngspice ran past its {timeout_s:.0f} s limit", run_dir,
                           _text(exc.stdout), _text(exc.stderr)) from None  # fmt: skip
        wall = time.perf_counter() - start
        stdout, stderr = proc.stdout, proc.stderr
        (work / "ngspice.log").write_text(stdout + "\n---- stderr ----\n" + stderr)
        failure = None
        vectors: dict[str, np.ndarray] = {}
        if not raw.exists() or raw.stat().st_size == 0:
            failure = "ngspice wrote no result"
        else:
            try:
                vectors = parse_raw(raw.read_bytes())
            except (ValueError, KeyError) as exc:
                failure = f"unreadable ngspice result: {exc}"
        time_s = vectors.pop("time", None)
        if failure is None and (time_s is None or len(time_s) < 2):
            failure = "transient result has no time axis"
        elif failure is None and expect_stop_s is not None and time_s[-1] < expect_stop_s * (1 - 1e-6):
            failure = f"transient stopped at {time_s[-1]:.4g} s of {expect_stop_s:.4g} s (no convergence)"
        if failure is None and (m := _FAILURE.search(stderr) or _FAILURE.search(stdout)):
            failure = "ngspice reported non-convergence: " + m.group(0)
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
            raise SimError(failure, run_dir, stdout, stderr)
        raw.unlink(missing_ok=True)  # waveforms are returned; the raw file is large and derived
        return SimResult(time_s, vectors, stdout, stderr, wall, sha, run_dir)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _text(x) -> str:
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else x
