"""Run a SPICE deck in ngspice and return typed waveforms.

Backends: "batch" (default: one `ngspice -b` process per run) and "pyspice" (PySpice's binding of libngspice).
"""

from __future__ import annotations

from pathlib import Path

from cosim.sim.ngspice import SimError, SimResult, ngspice_version, parse_raw, run_deck

BACKENDS = ("batch", "pyspice")


def run(deck: str, run_dir: Path | None = None, expect_stop_s: float | None = None, backend: str = "batch",
        threads: int = 1) -> SimResult:  # fmt: skip
    """Run `deck` with the chosen backend (see the module docstring); `threads`: ngspice's OpenMP threads (batch)."""
    if backend == "batch":
        return run_deck(deck, run_dir, expect_stop_s, threads=threads)
    if backend == "pyspice":
        from cosim.sim.pyspice_shared import run_deck_shared

        return run_deck_shared(deck, run_dir, expect_stop_s)
    raise ValueError(f"unknown simulator backend {backend!r}: use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "SimError", "SimResult", "ngspice_version", "parse_raw", "run", "run_deck"]
