"""Fault maps and per-access flips (cosim.memory.faults): rates from a Monte Carlo table, cells at the plan's
addresses, persistence per chip, direction by stored value."""

import math

import numpy as np
import pytest
import torch

from cosim.characterize.mc_table import OPS, table_text, write_mc_table
from cosim.errors import TableIntegrityError
from cosim.memory.faults import (CellFailureRates, FaultMap, FaultMapHook, PerAccessHook, WeakColumns,
                                 cell_failure_rates, code_masks, draw_fault_map, read_bases, read_through)
from cosim.memory.mapping import LayerShape, build_plan
from cosim.report.report import clopper_pearson
from cosim.types import Corner


def _rates(r1, r0):
    return CellFailureRates(r1, r0, "test")


def _map_with(words, word_bits, weak_zero=(), weak_one=()):
    """A fault map with the given (word, bit) cells weak."""
    rz, ro = np.zeros(words, np.uint64), np.zeros(words, np.uint64)
    for w, b in weak_zero:
        rz[w] |= np.uint64(1 << b)
    for w, b in weak_one:
        ro[w] |= np.uint64(1 << b)
    none = np.zeros(1, np.uint64)
    return FaultMap(words, word_bits, 1, rz, ro, none, none)


def test_code_masks_follow_the_packing_and_wrap():
    # 8-bit codes, 4 per 32-bit word, little-endian in the word (cosim.memory.packing): code j is bits
    # [8 (j % 4), 8 (j % 4) + 8) of word base + j // 4, modulo the memory's words
    fmap = _map_with(4, 32, weak_zero=[(3, 9), (0, 31)], weak_one=[(1, 0)])
    rz, ro = code_masks(fmap, 3, 8, 8)  # codes 0-3 in word 3, codes 4-7 wrap to word 0
    assert rz.tolist() == [0, 1 << 1, 0, 0, 0, 0, 0, 1 << 7] and not ro.any()
    rz, ro = code_masks(fmap, 1, 4, 8)
    assert ro.tolist() == [1, 0, 0, 0] and not rz.any()
    # a 16-bit code spans two 8-bit words, low part first
    fmap = _map_with(8, 8, weak_zero=[(2, 3), (3, 1)])
    rz, _ = code_masks(fmap, 0, 4, 16)
    assert rz.tolist() == [0, (1 << 3) | (1 << 9), 0, 0]


def test_a_chip_keeps_its_weak_cells_and_gains_more_as_rates_rise():
    low = draw_fault_map(4096, 32, 4, _rates(1e-3, 2e-4), 7)
    high = draw_fault_map(4096, 32, 4, _rates(1e-2, 2e-3), 7)
    assert np.all((low.reads_zero & ~high.reads_zero) == 0) and np.all((low.reads_one & ~high.reads_one) == 0)
    other = draw_fault_map(4096, 32, 4, _rates(1e-2, 2e-3), 8)
    assert not np.array_equal(other.reads_zero, high.reads_zero)
    cells = 4096 * 32
    for weak, rate in zip(high.weak_cells, (1e-2, 2e-3)):
        assert abs(weak - cells * rate) < 5 * math.sqrt(cells * rate)


def test_a_weak_sense_amp_fails_its_bit_in_every_word_of_its_bank():
    cells = _rates(1e-3, 1e-3)
    amps = CellFailureRates(1e-3, 1e-3, "test", sense_one_reads_zero=0.0, sense_zero_reads_one=0.25)
    words, bits, banks = 64, 8, 4
    base = draw_fault_map(words, bits, banks, cells, 11)
    fmap = draw_fault_map(words, bits, banks, amps, 11)
    # the chip keeps its weak cells whatever its sense amps; weak sense amps only add reads of 1
    assert fmap.weak_cells == base.weak_cells and np.array_equal(fmap.reads_zero, base.reads_zero)
    extra = fmap.reads_one & ~base.reads_one
    per_bank = [np.bitwise_or.reduce(fmap.reads_one[b::banks] & ~base.reads_one[b::banks]) for b in range(banks)]
    weak_amps = sum(bin(int(m)).count("1") for m in per_bank)
    assert fmap.weak_sense_amps == (0, weak_amps) and 0 < weak_amps < banks * bits
    for w in range(words):  # a weak sense amp's bit reads 1 in every word of its bank
        amp = per_bank[w % banks]
        assert int(fmap.reads_one[w]) & int(amp) == int(amp)
        assert int(extra[w]) & ~int(amp) == 0


def test_a_weak_cell_reads_wrong_only_while_it_holds_the_value_it_fails_on():
    # one code, one cell weak to 0 at its bit 2 and one weak to 1 at its bit 5
    weak = WeakColumns.of(np.array([0, 1 << 2]), np.array([0, 1 << 5]))
    hook = FaultMapHook({}, {("L", 0): weak}, {"L": 1}, {("L", "input"): 8})
    x = torch.tensor([[9, 0b00000100], [9, 0b00000000], [9, 0b00100100], [9, 0b11111111]], dtype=torch.uint8)
    y = hook("L", "input", x)
    assert y[:, 1].tolist() == [0b00100000, 0b00100000, 0b00100000, 0b11111011] and (y[:, 0] == 9).all()
    assert hook.bits_flipped == 5
    # signed weights: the stored two's-complement pattern is what the cells hold
    w = torch.tensor([-1, 2], dtype=torch.int8)
    read, flips = read_through(w, 8, np.array([1 << 7, 0]), np.array([0, 1 << 0]))
    assert read.tolist() == [127, 3] and flips == 2
    # 4-bit codes in int8: only their 4 bits are cells
    read, flips = read_through(torch.tensor([-8, 7], dtype=torch.int8), 4, np.array([0b1000, 0]), np.array([0, 0b1000]))
    assert read.tolist() == [0, -1] and flips == 2


def test_per_access_flips_by_the_value_each_bit_holds():
    hook = PerAccessHook(_rates(0.3, 0.0), _rates(0.3, 0.0), 1, {("L", "input"): 8})
    zeros = hook("L", "input", torch.zeros(20000, dtype=torch.uint8))
    assert int(zeros.sum()) == 0 and hook.bits_flipped == 0
    ones = hook("L", "input", torch.full((20000,), 255, dtype=torch.uint8))
    flipped = int(np.bitwise_count(255 - ones.numpy()).sum())
    n = 20000 * 8
    assert flipped == hook.bits_flipped and abs(flipped - 0.3 * n) < 5 * math.sqrt(n * 0.3 * 0.7)


def test_read_bases_are_where_the_plan_reads():
    layers = [LayerShape("a", 100, 8, 10, 32, 64, 8, 32, 8, 1000), LayerShape("b", 50, 8, 5, 32, 32, 8, 10, 8, 500)]
    plan = build_plan(layers, weight_word_bits=32, weight_capacity_words=512, act_word_bits=32,
                      act_capacity_words=64)
    bases = read_bases(plan)
    # weights resident from word 0: layer a's 25 + 10 words, then b's
    assert bases[(0, "weight")] == 0 and bases[(1, "weight")] == 35
    # a's input is loaded at 0 and its output written after it; b reads a's output where it was written
    assert bases[(0, "input")] == 0 and bases[(1, "input")] == 16


def _mc_rows(corner: Corner, failures: dict[str, int], bits: int = 64, sense: dict[str, int] = {}) -> list[dict]:
    rows = []
    for op, (_, _, _, unit) in OPS.items():
        k = failures.get(op, 0)
        lo, hi = clopper_pearson(k, bits)
        rows.append(dict(macro="sram_8x16", process=corner.process, vdd_v=corner.vdd_v, temp_c=corner.temp_c, op=op,
                         period_s=4e-9, samples=8, bits=bits, excluded=0, failures=k,
                         sense_failures=sense.get(op, 0), rate=k / bits, rate_lo=lo,
                         rate_hi=hi, tail_rate=1e-5, tail_lo=1e-7, tail_hi=1e-3, margin_mean=1.0, margin_sigma=0.2,
                         margin_unit=unit, censored=0, status="ok", message="", key="k"))
    return rows


def test_rates_combine_the_ops_that_make_a_held_value_read_wrong(tmp_path):
    corner = Corner("tt", 1.2, 25.0)
    rows = _mc_rows(corner, {"write_0to1": 8, "read_1": 4})
    path = tmp_path / "montecarlo" / "sram_8x16.csv"
    write_mc_table(table_text(rows), {"macro": "sram_8x16", "word_size": 8}, path)
    r = cell_failure_rates(tmp_path, "sram_8x16", corner)
    # holding 1: write of 1 (8/64), read of 1 (4/64), disturb of 1 (tail 1e-5, no count): 1 - prod(1 - p)
    assert r.one_reads_zero == pytest.approx(1 - (1 - 8 / 64) * (1 - 4 / 64) * (1 - 1e-5))
    # holding 0: no failure counted: the tail estimates, 1e-5 each
    assert r.zero_reads_one == pytest.approx(1 - (1 - 1e-5) ** 3)
    assert "sram_8x16.csv at tt_1200mV_25C" in r.source and r.period_s == 4e-9
    missing = cell_failure_rates(tmp_path, "sram_8x16", Corner("tt", 1.3, 25.0))
    assert not missing.any and "has no tt_1300mV_25C" in missing.source and "--vdd 1.3" in missing.source
    none = cell_failure_rates(tmp_path, "sram_16x128", corner)
    assert not none.any and "no Monte Carlo table for sram_16x128" in none.source


def test_sense_amp_failures_are_rates_per_sense_amp_not_per_cell(tmp_path):
    corner = Corner("tt", 1.6, 25.0)
    # 16 reads of 0 failed, 12 of them with the bit lines right at sense enable (the sense amp's)
    rows = _mc_rows(corner, {"read_0": 16}, sense={"read_0": 12})
    path = tmp_path / "montecarlo" / "sram_8x16.csv"
    write_mc_table(table_text(rows), {"macro": "sram_8x16", "word_size": 8}, path)
    r = cell_failure_rates(tmp_path, "sram_8x16", corner)
    assert r.zero_reads_one == pytest.approx(1 - (1 - 4 / 64) * (1 - 1e-5) ** 2)
    assert r.sense_zero_reads_one == pytest.approx(12 / 64) and r.sense_one_reads_zero == 0
    assert r.per_bit[1] == pytest.approx(1 - (1 - r.zero_reads_one) * (1 - 12 / 64))
    from cosim.montecarlo_table import BerTable

    assert BerTable.load(path).cell_rates(corner).worst == pytest.approx(r.per_bit[1])
    # a sense-amp count on an op that is not a read, or above the failures, is refused
    for bad in ({"write_0to1": 1}, {"read_0": 17}):
        with pytest.raises(TableIntegrityError, match="sense_failures"):
            write_mc_table(table_text(_mc_rows(corner, {"read_0": 16}, sense=bad)), {"word_size": 8}, path)


def test_vdd_at_a_rate_is_bracketed_by_the_grid(tmp_path):
    from cosim.montecarlo_table import BerTable

    rows = (_mc_rows(Corner("tt", 1.0, 25.0), {"write_0to1": 16}) + _mc_rows(Corner("tt", 1.2, 25.0), {})
            + _mc_rows(Corner("tt", 1.4, 25.0), {}))
    path = tmp_path / "montecarlo" / "sram_8x16.csv"
    write_mc_table(table_text(rows), {"macro": "sram_8x16", "word_size": 8}, path)
    ber = BerTable.load(path)
    # worst rate: 1.0 V ~0.25 (16/64 with two 1e-5 tails), 1.2 and 1.4 V ~3e-5 (three 1e-5 tails)
    vdd, how = ber.vdd_at_rate("tt", 25.0, 1e-3)
    r_lo, r_hi = ber.cell_rates(Corner("tt", 1.0, 25.0)).worst, ber.cell_rates(Corner("tt", 1.2, 25.0)).worst
    t = (math.log10(r_lo) - math.log10(1e-3)) / (math.log10(r_lo) - math.log10(r_hi))
    assert vdd == pytest.approx(1.0 + 0.2 * t) and 1.0 < vdd < 1.2 and "between 1 V" in how
    vdd, how = ber.vdd_at_rate("tt", 25.0, 1e-6)
    assert math.isnan(vdd) and "every supply up to 1.4 V" in how
    vdd, how = ber.vdd_at_rate("tt", 25.0, 0.5)
    assert math.isnan(vdd) and "below 0.5 down to 1 V" in how
    # no failure and a zero tail, or one beyond the floor, at the higher supply: only the bracket, never a supply
    # read off log(0) or off a normal tail far out
    for tail in (0.0, 1e-40):
        far = [r | {"tail_rate": tail, "tail_lo": 0.0, "tail_hi": tail} for r in _mc_rows(Corner("tt", 1.2, 25.0), {})]
        write_mc_table(table_text(_mc_rows(Corner("tt", 1.0, 25.0), {"write_0to1": 16}) + far),
                       {"macro": "sram_8x16", "word_size": 8}, path)
        vdd, how = BerTable.load(path).vdd_at_rate("tt", 25.0, 1e-6)
        assert math.isnan(vdd) and "between 1 V" in how and "does not resolve" in how


def test_combined_rates_keep_rates_far_below_epsilon():
    from cosim.montecarlo_table import any_of

    assert any_of([1e-48, 1e-50]) == pytest.approx(1.01e-48, rel=1e-12)
    assert any_of([0.5, 0.5]) == pytest.approx(0.75) and any_of([]) == 0.0 and any_of([1.0]) > 1 - 1e-12
