"""cosim: SPICE-in-the-loop co-simulation of INT8 inference held in sky130 SRAM macros.

Data flows one way:
netlist -> testbench -> simulator run -> measurements -> lookup table -> memory model -> engine -> report.
"""

__version__ = "0.1.0"
