"""PVT characterization of SRAM macros: testbench plans per macro, one corner per worker, tables with provenance."""
