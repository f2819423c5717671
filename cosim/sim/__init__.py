"""Run a SPICE deck in ngspice and return typed waveforms.

Backends: "batch" (default: one `ngspice -b` process per run) and "pyspice" (PySpice's binding of libngspice).
"""

from __future__ import annotations

from pathlib import Path

from cosim.sim.ngspice import (NonConvergence, SimError, SimFault, SimOptions, SimResult, deck_timeout_s,
                               ngspice_version, parse_raw, run_deck)

BACKENDS = ("batch", "pyspice")


def run(deck: str, run_dir: Path | None = None, expect_stop_s: float | None = None, backend: str = "batch",
        options: SimOptions = SimOptions()) -> SimResult:  # fmt: skip
    """Run `deck` with the chosen backend (see the module docstring) under ``options`` (threads, time limit)."""
    if backend == "batch":
        return run_deck(deck, run_dir, expect_stop_s, options)
    if backend == "pyspice":
        from cosim.sim.pyspice_shared import run_deck_shared

        return run_deck_shared(deck, run_dir, expect_stop_s)
    raise ValueError(f"unknown simulator backend {backend!r}: use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "NonConvergence", "SimError", "SimFault", "SimOptions", "SimResult", "deck_timeout_s",
           "ngspice_version", "parse_raw", "run", "run_deck"]
