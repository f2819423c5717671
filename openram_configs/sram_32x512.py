"""sram_32x512: sky130, one read/write port, 32-bit words x 512 words, netlist only (cosim: make netlists)."""

word_size = 32  # bits
num_words = 512
# one read/write port: the macro the inference engine reads weights from and writes activations to
num_rw_ports = 1
num_r_ports = 0
num_w_ports = 0
# no byte write mask: whole-word writes only, so the macro has no wmask pins
write_size = None
# OpenRAM's sky130 arrays need even row and column counts including the replica row/column
# (array_row_multiple = array_col_multiple = 2): rows + 1 replica + spare rows, columns + 1 replica + spare
# columns. One spare row and one spare column (as OpenRAM's own sky130 examples use) make both even. The spare
# column is one more data bit (din0/dout0 are word_size+1 wide) written only when spare_wen0 is high; the spare row
# is one more row the row decoder reaches (address bits = ceil(log2(rows)) + log2(words_per_row)).
num_spare_rows = 1
num_spare_cols = 1
num_banks = 1
# words per row (column-mux ratio): OpenRAM's own choice for this size, fixed here so an OpenRAM update cannot
# silently reorganise the array. Column c of the array holds data bit c // words_per_row.
words_per_row = 4

tech_name = "sky130"
nominal_corner_only = True
# SPICE netlist only: no layout, so no DRC/LVS, no magic/netgen, and seconds instead of hours
netlist_only = True
check_lvsdrc = False
# never start a simulator: OpenRAM's own characterization is not used (cosim characterizes with ngspice)
analytical_delay = True
spice_name = ""
route_supplies = False
perimeter_pins = False
uniquify = False
# OpenRAM would otherwise try to download and install miniconda (with its tools) on first use
use_conda = False

output_name = "sram_32x512"
output_path = "."
