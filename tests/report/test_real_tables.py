"""Integration on the committed characterization tables (characterization/<macro>.csv from `make characterize`).

Skipped, with the reason, while a table is not committed yet; they run as soon as it is."""


import numpy as np
import pytest

from cosim.config import load_settings
from cosim.table import CharacterizationTable, table_path
from cosim.types import Corner

SETTINGS = load_settings()


def _table(macro: str) -> CharacterizationTable:
    path = table_path(SETTINGS.characterization_dir, macro)
    if not path.is_file():
        pytest.skip(f"{path} is not committed yet (make characterize)")
    return CharacterizationTable.load(path)


def _corner(table: CharacterizationTable) -> Corner:
    """tt / 1.8 V / 25 C if characterized, else the table's first ok grid point."""
    for p, v, t in [("tt", 1.8, 25.0)] + [(p, v, t) for p in table.processes for v in table.vdds for t in table.temps]:
        if p in table.processes and v in table.vdds and t in table.temps:
            try:
                table.access_costs(Corner(p, v, t))
                return Corner(p, v, t)
            except Exception:  # a failed corner: try the next
                continue
    pytest.skip(f"{table.path} has no corner whose rows are all ok")


@pytest.mark.parametrize("macro", ["sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512"])
def test_table_loads_and_costs_are_physical(macro):
    table = _table(macro)
    c = table.access_costs(_corner(table))
    assert c.word_size > 0 and c.num_words > 0
    assert c.read_base_j > 0 and c.write_same_j > 0 and c.idle_j > 0 and c.leakage_w > 0
    # a read passes when dout is right at the next rising edge: a 1 launched by the falling edge half a period in
    assert 0 < c.period_s / 2 + c.clk_fall_to_dout_rise_s <= c.period_s and 0 < c.min_cycle_s
    assert 0 < c.clk_rise_to_dout_fall_s < c.period_s
    for rows in c.sources.values():
        for r in rows:
            assert r.macro == macro and r.point_key


def _layers_and_costs(macro, n=2):
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained, run

    table = _table(macro)
    costs = table.access_costs(_corner(table))
    q = quantize_trained("lenet5", SETTINGS)
    data = load_dataset("mnist", "test", SETTINGS).subset(n)
    return run(q, data.images, record=True).layers, costs


def test_lenet5_trace_equals_vectorised_on_real_table():
    from cosim.memory.accelerator import load_accelerator
    from cosim.memory.system import build_system, charge_batch, initial_act_state
    from cosim.memory.trace import trace

    layers, costs = _layers_and_costs("sram_16x128" if table_path(SETTINGS.characterization_dir, "sram_16x128").is_file()
                                      else "sram_8x16")
    acc = load_accelerator().with_macro(costs.macro)
    ms = build_system(layers, acc, costs, costs)
    ch, cw, ca, _ = charge_batch(ms, layers, initial_act_state(ms), True)
    tr = trace(ms, layers)
    per_image = [a for a in tr if a.image >= 0]
    assert len([a for a in per_image if a.op == "read"]) == 2 * int(cw.reads.sum() + ca.reads.sum())
    assert len([a for a in per_image if a.op == "write"]) == 2 * int(cw.writes.sum() + ca.writes.sum())
    assert sum(a.flips_0to1 for a in per_image) == int(cw.flips_0to1.sum() + ca.flips_0to1.sum())
    assert sum(a.ones for a in per_image if a.op == "read") == int(cw.read_ones.sum() + ca.read_ones.sum())
    e = (ch.energy["sram_read_j"] + ch.energy["sram_write_j"]).sum(axis=1)
    np.testing.assert_allclose(e, [sum(a.energy_j for a in per_image if a.image == i) for i in range(2)], rtol=1e-12)


def test_lenet5_mnist_subset_on_real_table(tmp_path):
    from cosim.simulate import InferSpec, run_inference
    from cosim.report.report import write_outputs

    macro = "sram_16x128" if table_path(SETTINGS.characterization_dir, "sram_16x128").is_file() else "sram_8x16"
    table = _table(macro)
    corner = _corner(table)
    res = run_inference(InferSpec(model="lenet5", macro=macro, corner=corner, limit=500), SETTINGS)
    rep = write_outputs(res, tmp_path, plots=False)
    assert rep["n_images"] == 500 and rep["dataset"] == "mnist"
    if rep["bit_errors"]["bit_error_rate"] == 0:
        assert rep["accuracy"] > 0.95
    assert rep["sram_read_j"] > 0 and rep["latency_per_inference_s"] > 0
    keys = set(table.provenance.get("points", {}))
    if keys:  # every table row cited exists in the provenance
        for src in rep["sources"].values():
            for r in src.get("rows", []):
                assert r["point_key"] in keys


def test_default_run_holds_the_model_on_chip_with_sram_the_main_term(tmp_path):
    """`make infer`'s run (the default model, accelerator and corner) on the committed tables."""
    from cosim.simulate import InferSpec, run_inference
    from cosim.report.report import summary, write_outputs

    res = run_inference(InferSpec(), SETTINGS)  # the full 449 test images, as make infer (the preload amortizes)
    rep = write_outputs(res, tmp_path, plots=False)
    mem = rep["memory"]
    assert mem["on_chip"] and mem["clock_gating"]
    assert mem["sram_energy_share"] > 0.5 and mem["offchip_energy_share"] < 0.1
    assert rep["idle_j"] == 0.0 or rep["hold_cycles_per_inference"] > 0  # gated banks leak, they are not clocked
    assert "model on chip" in summary(rep)
