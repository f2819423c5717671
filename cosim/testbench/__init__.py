"""Pure: (macro, cycles, corner, model deck) -> SPICE deck text. No files are read or written here."""

from cosim.testbench.sram import Cycle, SramPorts, TestbenchSpec, render_deck, source_name, stop_time_s

__all__ = ["Cycle", "SramPorts", "TestbenchSpec", "render_deck", "source_name", "stop_time_s"]
