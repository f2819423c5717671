"""The same run as :func:`cosim.sim.ngspice.run_deck`, through PySpice's binding of the ngspice shared library.

Kept as an alternative backend (``PointRequest.backend="pyspice"``): same deck, same typed result, tested to give
the same waveforms. Not the default: a batch process costs less CPU, can be killed on a timeout, and libngspice's
global state allows one circuit per process at a time.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import numpy as np

from cosim.sim.ngspice import _ERROR, _FAILURE, NonConvergence, SimFault, SimResult

# PySpice 1.5 targets ngspice 34 and logs "Unsupported Ngspice version 39" on every start: the shared-library API
# it uses is unchanged between them (we check results, not versions), so that warning is noise. PySpice also logs,
# at error level, every stderr line of ngspice that is not a 'Warning:' (ngspice 39 prints its notes there).
logging.getLogger("PySpice").setLevel(logging.CRITICAL)


def _shared():
    """This process's ngspice (PySpice caches one instance per process)."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    class _Capturing(NgSpiceShared):
        def __init__(self, *args, **kwargs):
            self.out_lines: list[str] = []
            self.err_lines: list[str] = []
            super().__init__(*args, **kwargs)

        def send_char(self, message, ngspice_id):  # called by ngspice for every line it prints
            if message.startswith("stderr "):
                self.err_lines.append(message[7:])
            else:
                self.out_lines.append(message[7:] if message.startswith("stdout ") else message)
            return 0

    return _Capturing.new_instance(send_data=False)


def shared_ngspice_version() -> str:
    """The version string of the ngspice library PySpice loads (e.g. 'ngspice-39.3')."""
    ng = _shared()
    ng.out_lines.clear()
    ng.exec_command("version -s")
    text = " ".join(ng.out_lines)
    m = re.search(r"ngspice-\d+(?:\.\d+)?", text)
    return m.group(0) if m else text.strip()[:60]


def run_deck_shared(deck: str, run_dir: Path | None = None, expect_stop_s: float | None = None) -> SimResult:
    """Run `deck` (a complete netlist with its analysis line) and return the last transient plot.

    When `run_dir` is given the deck and ngspice's output are written there (kept for failed runs, for debugging).
    `expect_stop_s`: the transient's stop time; a run that ends earlier did not converge.
    """
    sha = hashlib.sha256(deck.encode()).hexdigest()
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "deck.sp").write_text(deck)
    ng = _shared()
    ng.out_lines.clear()
    ng.err_lines.clear()
    start = time.perf_counter()
    failure = None
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    try:
        ng.load_circuit(deck)
    except Exception as exc:  # NgSpiceCircuitError: the deck did not parse
        failure = f"ngspice could not load the deck: {exc}"
    if failure is None:
        try:
            ng.run()
        except NgSpiceCommandError:
            # PySpice 1.5 flags any non-'Warning:' stderr line as an error, and ngspice 39 writes notes there;
            # whether the run worked is decided below from the result and ngspice's messages.
            pass
    wall = time.perf_counter() - start
    stdout, stderr = "\n".join(ng.out_lines), "\n".join(ng.err_lines)
    if run_dir is not None:
        (run_dir / "ngspice.log").write_text(stdout + "\n---- stderr ----\n" + stderr)
    try:
        if failure is None:
            plot_name = ng.last_plot
            if not plot_name.startswith("tran"):
                failure = "ngspice produced no transient result"
            else:
                plot = ng.plot(None, plot_name)
                vectors = {}
                for name, vec in plot.items():
                    data = np.asarray(vec._data if hasattr(vec, "_data") else vec)
                    vectors[name.lower()] = np.real(data).astype(float)
                time_s = vectors.pop("time", None)
                if time_s is None or len(time_s) < 2:
                    failure = "transient result has no time axis"
                elif expect_stop_s is not None and time_s[-1] < expect_stop_s * (1 - 1e-6):
                    failure = f"transient stopped at {time_s[-1]:.4g} s of {expect_stop_s:.4g} s (no convergence)"
        if failure is None and _FAILURE.search(stderr):
            failure = "ngspice reported non-convergence: " + _FAILURE.search(stderr).group(0)
        if failure is None and _ERROR.search(stderr):
            line = next(l for l in stderr.splitlines() if _ERROR.search(l))
            failure = f"ngspice error: {line.strip()}"
    finally:
        # clear the circuit and its plots: the next run in this process starts from nothing
        try:
            ng.exec_command("destroy all")
            ng.remove_circuit()
        except Exception:
            pass
    if failure is not None:
        kind = NonConvergence if "convergence" in failure else SimFault
        raise kind(failure, run_dir, stdout, stderr)
    return SimResult(time_s, vectors, stdout, stderr, wall, sha, run_dir)
