"""Generate sky130 SRAM macro netlists with OpenRAM (netlist_only), offline, from openram_configs/.

:mod:`.setup` prepares the PDK view and technology folder OpenRAM needs (in the cache), :mod:`.generate` runs it
per config in a subprocess and writes netlists/<name>.sp + .json, :mod:`.cli` is ``cosim netlists``.
"""
