"""Clock gating in the ledger: a bank with no access in a cycle only leaks; clocked, it costs the table's idle cycle."""

from dataclasses import replace

import numpy as np
import pytest

from cosim.memory.accelerator import MemorySpec, load_accelerator
from cosim.memory.ledger import charge
from cosim.memory.system import build_system, charge_batch, initial_act_state
from cosim.table import CharacterizationTable
from cosim.types import Corner
from fakes import fake_network
from tests.tablegen import write_table


@pytest.fixture(scope="module")
def system_and_batch(tmp_path_factory):
    table = CharacterizationTable.load(write_table(tmp_path_factory.mktemp("t"), num_words=64, row_switch_errors=True))
    costs = table.access_costs(Corner("tt", 1.8, 25.0))
    acc = load_accelerator()
    acc = replace(acc, weights=MemorySpec("sram_test", 4), activations=MemorySpec("sram_test", 3))
    layers = fake_network(3)
    ms = build_system(layers, acc, costs, costs)
    _, cw, ca, _ = charge_batch(ms, layers, initial_act_state(ms), True)
    return ms, cw, ca


def _charge(ms, cw, ca, gating):
    acc = replace(ms.acc, clock_gating=gating)
    return charge(cw, ca, costs_w=ms.costs_w, costs_a=ms.costs_a, acc=acc, clock_s=ms.clock_s, macs=ms.macs,
                  word_bits_w=ms.plan.weight_word_bits, word_bits_a=ms.plan.act_word_bits)


def test_default_accelerator_gates_unused_banks():
    assert load_accelerator().clock_gating is True


def test_gated_banks_leak_clocked_banks_idle(system_and_batch):
    ms, cw, ca = system_and_batch
    gated, clocked = _charge(ms, cw, ca, True), _charge(ms, cw, ca, False)
    k = ms.costs_w  # both memories use the same table here
    unused = (4 * gated.cycles - cw.reads - cw.writes) + (3 * gated.cycles - ca.reads - ca.writes)
    holds = cw.holds + ca.holds
    assert unused.sum() > holds.sum() > 0  # some bank-cycles without an access, some hold cycles (hazard on)
    stall_leak = gated.stall_s * 7 * k.leakage_w
    np.testing.assert_allclose(clocked.energy["idle_j"][0], unused * k.idle_j, rtol=1e-12)
    np.testing.assert_allclose(clocked.energy["leakage_j"][0], stall_leak, rtol=1e-12)
    # gated: hold cycles stay clocked (the hazard needs a deselected cycle), the rest only leak for a clock period
    np.testing.assert_allclose(gated.energy["idle_j"][0], holds * k.idle_j, rtol=1e-12)
    np.testing.assert_allclose(gated.energy["leakage_j"][0],
                               (unused - holds) * ms.clock_s * k.leakage_w + stall_leak, rtol=1e-12)
    for c in ("sram_read_j", "sram_write_j", "offchip_j", "compute_j"):
        np.testing.assert_array_equal(gated.energy[c], clocked.energy[c])
    np.testing.assert_array_equal(gated.latency_s, clocked.latency_s)


def test_clock_gating_must_be_boolean(tmp_path):
    from cosim.errors import ConfigError
    from cosim.memory.accelerator import DEFAULT_ACCELERATOR

    p = tmp_path / "acc.toml"
    p.write_text(DEFAULT_ACCELERATOR.read_text().replace("clock_gating = true", 'clock_gating = "yes"'))
    with pytest.raises(ConfigError, match="clock_gating"):
        load_accelerator(p)
    p.write_text(DEFAULT_ACCELERATOR.read_text().replace("clock_gating = true", "clock_gating = false"))
    assert load_accelerator(p).clock_gating is False
