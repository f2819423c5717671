"""cosim: SPICE-in-the-loop co-simulation of INT8 inference held in sky130 SRAM macros.

Data flows one way:
netlist -> testbench -> simulator run -> measurements -> lookup table -> memory model -> engine -> simulate -> report.

The user's verb is at the top: ``cosim.simulate(model, data, hardware=cosim.Hardware.load(), corner="tt/1.8/25")``
returns a ``SimulationResult``. Names load lazily so that ``import cosim`` (and ``cosim --help``) stay light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "simulate": "cosim.simulate", "Hardware": "cosim.simulate", "RunOptions": "cosim.simulate",
    "SimulationResult": "cosim.simulate", "parse_corner": "cosim.simulate",
    "load_model": "cosim.models.user", "LoadedModel": "cosim.models.user",
    "load_data": "cosim.data.user", "Preprocess": "cosim.data.user",
    "Corner": "cosim.types",
    "UnusableCorner": "cosim.errors", "InterpolationRefused": "cosim.errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'cosim' has no attribute {name!r}")
