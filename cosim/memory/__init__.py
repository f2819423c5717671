"""The memory model: accelerator description, mapping of a network onto SRAM macros, vectorised access counting
charged from characterization tables, trace mode, and bit-error injection on reads."""
