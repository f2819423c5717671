"""The committed sram_8x16 tables below the foundry's supplies, through the engine: the Monte Carlo table's cell
failures at 0.9 V become a chip's weak cells and cost accuracy; at 1.0 V, where no sample failed and the tails are
negligible, no cell is weak. sram_16x128 at 1.6 V: the sense amps' failures become weak sense amps."""

import numpy as np
import pytest

from cosim.montecarlo_table import BerTable
from cosim.simulate import InferSpec, run_inference
from cosim.types import Corner

#: the digits model on chip in sram_8x16 banks (38.6 KB of weights and biases, 3 KB of activations)
SPEC = InferSpec(model="digits", macro="sram_8x16", banks=(2500, 200), limit=300, batch_size=100)


@pytest.fixture(scope="module")
def runs():
    return {v: run_inference(InferSpec(**{**SPEC.__dict__, "corner": Corner("tt", v, 25.0)}))
            for v in (0.9, 1.0)}


def test_weak_cells_follow_the_monte_carlo_rates(runs):
    low, ok = runs[0.9], runs[1.0]
    assert ok.bits_flipped == 0 and ok.extra["faults"]["memories"]["weights"]["weak_cells_read_0_holding_1"] == 0
    assert ok.bits_read == low.bits_read > 0  # counted alike with or without a weak cell under a read
    w = low.extra["faults"]["memories"]["weights"]
    assert "sram_8x16.csv at tt_900mV_25C" in w["source"] and w["one_reads_zero"] > 0.01
    for key, rate in (("weak_cells_read_0_holding_1", w["one_reads_zero"]),
                      ("weak_cells_read_1_holding_0", w["zero_reads_one"])):
        expected = w["cells"] * rate
        assert abs(w[key] - expected) < 5 * np.sqrt(expected)
    assert low.bits_flipped > 0
    assert (low.predictions == low.labels).mean() < (ok.predictions == ok.labels).mean()


def test_a_chip_is_the_same_at_every_run_and_another_chip_differs(runs):
    low = runs[0.9]
    again = run_inference(InferSpec(**{**SPEC.__dict__, "corner": Corner("tt", 0.9, 25.0)}))
    assert again.bits_flipped == low.bits_flipped and np.array_equal(again.predictions, low.predictions)
    other = run_inference(InferSpec(**{**SPEC.__dict__, "corner": Corner("tt", 0.9, 25.0), "chip": 1}))
    assert other.bits_flipped != low.bits_flipped


def test_sense_amp_failures_become_weak_sense_amps_not_weak_cells(settings):
    """sram_16x128 at tt 1.6 V: a third of the Monte Carlo's reads of 0 failed with the bit lines right (the sense
    amps'); a chip gets that share of its sense amps weak for reads of 0, and (nearly) no weak cell."""
    spec = InferSpec(model="digits", macro="sram_16x128", banks=(200, 16), limit=300, batch_size=100)
    low = run_inference(InferSpec(**{**spec.__dict__, "corner": Corner("tt", 1.6, 25.0)}))
    ok = run_inference(InferSpec(**{**spec.__dict__, "corner": Corner("tt", 1.8, 25.0)}))
    row = BerTable.for_macro(settings.characterization_dir, "sram_16x128").row(Corner("tt", 1.6, 25.0), "read_0")
    assert row.sense_failures > 0.2 * row.bits  # what the test is about: the table's read-0 failures at 1.6 V
    w = low.extra["faults"]["memories"]["weights"]
    assert w["sense_amps"] == 200 * 16 and w["sense_zero_reads_one"] == pytest.approx(row.sense_failures / row.bits)
    assert w["weak_sense_amps_read_0_holding_1"] == 0
    expected = w["sense_amps"] * w["sense_zero_reads_one"]
    assert abs(w["weak_sense_amps_read_1_holding_0"] - expected) < 5 * np.sqrt(expected)
    assert w["weak_cells_read_0_holding_1"] + w["weak_cells_read_1_holding_0"] <= 2  # per-cell rates ~1e-8
    assert low.bits_flipped > 0 and ok.bits_flipped == 0
    assert (low.predictions == low.labels).mean() < (ok.predictions == ok.labels).mean()
