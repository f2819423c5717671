"""Shared value types. Units are in the names (_s, _j, _w, _v, _c)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cosim.errors import CornerError

#: process corners of the sky130 model library (nmos/pmos speed: t typical, f fast, s slow)
PROCESSES: tuple[str, ...] = ("tt", "ff", "ss", "sf", "fs")
#: the sky130 1.8 V devices are characterized by the foundry from 1.6 V to 1.95 V; we allow a margin for
#: low-voltage studies (bit errors) but refuse supplies where the 1.8 V models are meaningless.
VDD_RANGE_V = (0.9, 2.0)
#: the model cards are fitted over -40..125 C (automotive range); outside it they are extrapolations.
TEMP_RANGE_C = (-55.0, 150.0)


@dataclass(frozen=True, order=True)
class Corner:
    """A PVT point: process corner, supply voltage, junction temperature."""

    process: str
    vdd_v: float
    temp_c: float

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise CornerError(
                f"unknown process corner {self.process!r}: use one of {', '.join(PROCESSES)}"
            )
        lo, hi = VDD_RANGE_V
        if not lo <= float(self.vdd_v) <= hi:
            raise CornerError(f"supply {self.vdd_v} V outside {lo}..{hi} V: choose a supply inside that range")
        lo, hi = TEMP_RANGE_C
        if not lo <= float(self.temp_c) <= hi:
            raise CornerError(f"temperature {self.temp_c} C outside {lo}..{hi} C: choose one inside that range")
        object.__setattr__(self, "vdd_v", float(self.vdd_v))
        object.__setattr__(self, "temp_c", float(self.temp_c))

    @classmethod
    def parse(cls, text: str) -> "Corner":
        """'tt/1.8/25' (process/vdd/temperature)."""
        parts = str(text).split("/")
        if len(parts) != 3:
            raise CornerError(f"corner {text!r}: write process/vdd/temp, e.g. tt/1.8/25")
        try:
            return cls(parts[0], float(parts[1]), float(parts[2]))
        except ValueError:
            raise CornerError(f"corner {text!r}: vdd and temp must be numbers, e.g. tt/1.8/25") from None

    @property
    def name(self) -> str:
        """Unique to 1 uV and 1 mK (supply in millivolts): names key run directories and table corners."""
        return f"{self.process}_{round(self.vdd_v * 1000, 3):g}mV_{round(self.temp_c, 3):g}C"


class Op(str, enum.Enum):
    """Memory operations a table charges."""

    READ = "read"
    WRITE = "write"
    IDLE = "idle"  # deselected cycle with the clock running
