"""Run a SPICE deck in ngspice (through PySpice's shared-library binding) and return typed waveforms."""

from cosim.sim.ngspice import SimError, SimResult, ngspice_version, run_deck

__all__ = ["SimError", "SimResult", "ngspice_version", "run_deck"]
