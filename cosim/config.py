"""The one place that reads settings from the environment.

Every setting has a default that works in a checkout with `../shared` beside it; nothing else in cosim reads
os.environ, so worker processes see exactly what they are handed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: the checkout (where pyproject.toml lives); cosim is installed editable from it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    return PROJECT_ROOT.parent / "shared"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`; pass explicitly to whatever needs them."""

    pdk_root: Path | None  #: open_pdks root ($PDK_ROOT): sky130A/libs.tech/ngspice and sky130A/libs.ref/...
    data_dir: Path  #: datasets root ($COSIM_DATA_DIR): holds mnist/, cifar10-jpeg/, ...
    cache_dir: Path  #: scratch: PDK views, simulation point cache, run directories ($COSIM_CACHE_DIR)
    netlists_dir: Path  #: generated SRAM netlists ($COSIM_NETLISTS_DIR; default: the checkout's netlists/)
    configs_dir: Path  #: OpenRAM configs (committed)
    characterization_dir: Path  #: lookup tables ($COSIM_CHARACTERIZATION_DIR; default: the checkout's)
    #: wall-clock limit of one ngspice run ($COSIM_SIM_TIMEOUT_S); None scales it from the deck (cosim.sim)
    sim_timeout_s: float | None = None

    @property
    def sram_cell_lib(self) -> Path | None:
        """The sky130_fd_bd_sram bitcell library in open_pdks layout, if PDK_ROOT has one."""
        if self.pdk_root is None:
            return None
        path = self.pdk_root / "sky130A" / "libs.ref" / "sky130_fd_bd_sram"
        return path if path.is_dir() else None


def _dir(env, name: str, default: Path) -> Path:
    """A folder from the environment, else the checkout's: an installed wheel points these at a copy of the
    committed tables and netlists."""
    value = env.get(name)
    return Path(value).expanduser().resolve() if value else default


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    pdk = env.get("PDK_ROOT")
    if pdk:
        pdk_root: Path | None = Path(pdk).expanduser().resolve()
    elif (_shared_dir() / "pdk" / "sky130A").is_dir():
        pdk_root = (_shared_dir() / "pdk").resolve()
    else:
        pdk_root = None
    data = env.get("COSIM_DATA_DIR")
    data_dir = Path(data).expanduser().resolve() if data else (_shared_dir() / "data").resolve()
    cache = env.get("COSIM_CACHE_DIR")
    cache_dir = Path(cache).expanduser().resolve() if cache else PROJECT_ROOT / ".cache"
    timeout = env.get("COSIM_SIM_TIMEOUT_S")
    try:
        sim_timeout_s = float(timeout) if timeout else None
        if sim_timeout_s is not None and not sim_timeout_s > 0:
            raise ValueError
    except ValueError:
        from cosim.errors import ConfigError

        raise ConfigError(f"COSIM_SIM_TIMEOUT_S={timeout!r}: give seconds > 0, or unset it to scale the limit per deck") from None
    return Settings(
        pdk_root=pdk_root,
        data_dir=data_dir,
        cache_dir=cache_dir,
        netlists_dir=_dir(env, "COSIM_NETLISTS_DIR", PROJECT_ROOT / "netlists"),
        configs_dir=PROJECT_ROOT / "openram_configs",
        characterization_dir=_dir(env, "COSIM_CHARACTERIZATION_DIR", PROJECT_ROOT / "characterization"),
        sim_timeout_s=sim_timeout_s,
    )
