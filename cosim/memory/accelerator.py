"""The accelerator around the SRAM macros, read from a small TOML file (default: ``default_accelerator.toml``).

Only the SRAM figures come from characterization tables; the off-chip memory and the MAC energy are literature
parameters whose source string travels into every report beside the numbers they produce.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cosim.errors import ConfigError

DEFAULT_ACCELERATOR = Path(__file__).with_name("default_accelerator.toml")


@dataclass(frozen=True)
class MemorySpec:
    macro: str
    banks: int


@dataclass(frozen=True)
class Accelerator:
    path: Path
    weights: MemorySpec
    activations: MemorySpec
    clock_mode: str  #: "min_cycle" or "fixed"
    frequency_hz: float | None
    #: banks not accessed in a cycle have their clock gated (charged leakage); False: clocked (charged idle energy)
    clock_gating: bool
    macs_per_cycle: int
    offchip_energy_per_byte_j: float
    offchip_energy_source: str
    offchip_bandwidth_bytes_per_s: float
    offchip_bandwidth_source: str
    compute_energy_per_mac_j: float
    compute_energy_source: str

    def with_macro(self, macro: str) -> "Accelerator":
        """The same accelerator with both memories built from ``macro`` (the CLI's --macro)."""
        from dataclasses import replace

        return replace(self, weights=MemorySpec(macro, self.weights.banks),
                       activations=MemorySpec(macro, self.activations.banks))

    def with_banks(self, weights: int, activations: int) -> "Accelerator":
        """The same accelerator with other bank counts (the CLI's --banks)."""
        from dataclasses import replace

        if weights < 1 or activations < 1:
            raise ConfigError(f"banks must be at least 1 (got weights {weights}, activations {activations})")
        return replace(self, weights=MemorySpec(self.weights.macro, weights),
                       activations=MemorySpec(self.activations.macro, activations))

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "weights": {"macro": self.weights.macro, "banks": self.weights.banks},
            "activations": {"macro": self.activations.macro, "banks": self.activations.banks},
            "clock": {"mode": self.clock_mode, "frequency_hz": self.frequency_hz,
                      "clock_gating": self.clock_gating},
            "mac_array": {"macs_per_cycle": self.macs_per_cycle},
            "offchip": {"energy_per_byte_j": self.offchip_energy_per_byte_j, "energy_source": self.offchip_energy_source,
                        "bandwidth_bytes_per_s": self.offchip_bandwidth_bytes_per_s,
                        "bandwidth_source": self.offchip_bandwidth_source},
            "compute": {"energy_per_mac_j": self.compute_energy_per_mac_j, "energy_source": self.compute_energy_source},
        }


def _get(d: dict, path: Path, section: str, key: str, kind: type, *, positive: bool = True, default=None):
    sec = d.get(section)
    if not isinstance(sec, dict):
        raise ConfigError(f"{path}: missing section [{section}]: add it (see {DEFAULT_ACCELERATOR.name})")
    if key not in sec:
        if default is not None:
            return default
        raise ConfigError(f"{path}: [{section}] needs {key}: add it (see {DEFAULT_ACCELERATOR.name})")
    val = sec[key]
    try:
        val = kind(val)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: [{section}] {key} = {val!r} is not a {kind.__name__}: fix the value") from None
    if kind in (int, float) and (not math.isfinite(val) or (val <= 0 if positive else val < 0)):
        raise ConfigError(f"{path}: [{section}] {key} = {val!r} must be {'> 0' if positive else '>= 0'}: fix the value")
    return val


def load_accelerator(path: str | Path | None = None) -> Accelerator:
    p = Path(path) if path is not None else DEFAULT_ACCELERATOR
    if not p.is_file():
        raise ConfigError(f"accelerator file {p} not found: pass an existing TOML file (see {DEFAULT_ACCELERATOR})")
    try:
        d = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}): fix the file") from None
    mode = _get(d, p, "clock", "mode", str, default="min_cycle")
    freq = d.get("clock", {}).get("frequency_hz")
    if mode not in ("min_cycle", "fixed"):
        raise ConfigError(f"{p}: [clock] mode = {mode!r}: use \"min_cycle\" or \"fixed\"")
    if mode == "fixed":
        freq = _get(d, p, "clock", "frequency_hz", float)
    else:
        freq = None
    gating = d.get("clock", {}).get("clock_gating", True)
    if not isinstance(gating, bool):
        raise ConfigError(f"{p}: [clock] clock_gating = {gating!r}: use true or false")
    return Accelerator(
        path=p,
        weights=MemorySpec(_get(d, p, "weights", "macro", str), _get(d, p, "weights", "banks", int)),
        activations=MemorySpec(_get(d, p, "activations", "macro", str), _get(d, p, "activations", "banks", int)),
        clock_mode=mode,
        frequency_hz=freq,
        clock_gating=gating,
        macs_per_cycle=_get(d, p, "mac_array", "macs_per_cycle", int),
        offchip_energy_per_byte_j=_get(d, p, "offchip", "energy_per_byte_j", float, positive=False),
        offchip_energy_source=_get(d, p, "offchip", "energy_source", str),
        offchip_bandwidth_bytes_per_s=_get(d, p, "offchip", "bandwidth_bytes_per_s", float),
        offchip_bandwidth_source=_get(d, p, "offchip", "bandwidth_source", str),
        compute_energy_per_mac_j=_get(d, p, "compute", "energy_per_mac_j", float, positive=False),
        compute_energy_source=_get(d, p, "compute", "energy_source", str),
    )
