"""SPICE netlist reader/writer (:mod:`.spice`) and the generated SRAM macros (:mod:`.macro`)."""

from cosim.netlist.macro import (
    Bitcell,
    BitcellArray,
    Macro,
    MacroNetlist,
    find_bitcell_array,
    load_macro,
    load_macro_json,
)
from cosim.netlist.spice import Element, Netlist, Placement, Subckt, instance_counts, parse_text, read_netlist, walk

__all__ = [
    "Bitcell",
    "BitcellArray",
    "Element",
    "Macro",
    "MacroNetlist",
    "Netlist",
    "Placement",
    "Subckt",
    "find_bitcell_array",
    "instance_counts",
    "load_macro",
    "load_macro_json",
    "parse_text",
    "read_netlist",
    "walk",
]
