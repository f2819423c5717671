"""Co-simulation runs and their reports: the engine's reads and writes charged by the memory model from the
characterization tables, written out as report.json, per_image.csv and plots."""
