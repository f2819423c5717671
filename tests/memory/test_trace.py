import numpy as np
import pytest

from cosim.memory.accelerator import load_accelerator
from cosim.memory.mapping import ACTIVATIONS, WEIGHTS
from cosim.memory.system import build_system, charge_batch, initial_act_state, preload_energy
from cosim.memory.trace import trace
from cosim.table import CharacterizationTable
from cosim.types import Corner
from fakes import fake_network
from tests.tablegen import write_table


def _system(tmp_path, num_words, banks=1, n_images=3, sizes=((40, 12), (12, 30), (30, 5)), word_size=16,
            row_switch_errors=True, code_dtype=np.int64):
    table = CharacterizationTable.load(write_table(tmp_path, num_words=num_words, word_size=word_size,
                                                   row_switch_errors=row_switch_errors))
    costs = table.access_costs(Corner("tt", 1.7, 50.0))
    acc = load_accelerator()
    from dataclasses import replace
    from cosim.memory.accelerator import MemorySpec
    acc = replace(acc, weights=MemorySpec("sram_test", banks), activations=MemorySpec("sram_test", banks))
    layers = fake_network(n_images, sizes, code_dtype=code_dtype)
    return build_system(layers, acc, costs, costs), layers


WIDE = ((96, 64), (64, 40), (40, 10))  # runs long enough for the counting kernel's 64-bit block path


@pytest.mark.parametrize("num_words,banks,word_size,hazard,sizes", [
    (16, 1, 16, True, None), (8, 2, 16, True, None), (4096, 1, 16, True, None), (24, 1, 32, True, None),
    (16, 1, 8, True, None), (16, 1, 16, False, None), (64, 1, 16, False, WIDE), (32, 1, 32, True, WIDE)])
def test_vectorised_equals_trace(tmp_path, num_words, banks, word_size, hazard, sizes):
    # WIDE networks hold uint8 codes as the engine does: the counting reads most of them in place (act_sources)
    ms, layers = _system(tmp_path, num_words, banks, word_size=word_size, row_switch_errors=hazard,
                         **({"sizes": sizes, "code_dtype": np.uint8} if sizes else {}))
    if sizes:  # the kernel's block path runs: a write run over an earlier write of the same image, both covering
        # whole 64-bit blocks, in each memory
        per = 64 // word_size
        for cm in (ms.ca, ms.cw):
            assert any(n >= 2 * per and (c - p) % per == 0 and psrc >= 0 for _, _, _, c, psrc, p, n, _, _ in cm.w_runs.tolist())
            # and a write over the previous image's last words, compared block-wise too
            assert any(n >= 2 * per and (c - q) % per == 0 and psrc < 0 for _, _, _, c, psrc, _, n, _, q in cm.w_runs.tolist())
    # split the images over two batches to exercise the carried memory state
    from dataclasses import replace
    half = [replace(L, input=L.input[:1], output=L.output[:1]) for L in layers]
    rest = [replace(L, input=L.input[1:], output=L.output[1:]) for L in layers]
    state = initial_act_state(ms)
    ch1, cw1, ca1, state = charge_batch(ms, half, state, True)
    ch2, cw2, ca2, state = charge_batch(ms, rest, state, False)
    acc = trace(ms, layers)
    n_layers = len(layers)
    for memory, parts in ((WEIGHTS, (cw1, cw2)), (ACTIVATIONS, (ca1, ca2))):
        for layer in range(n_layers):
            tr = [a for a in acc if a.memory == memory and a.layer == layer and a.image >= 0]
            reads = [a for a in tr if a.op == "read"]
            writes = [a for a in tr if a.op == "write"]
            n_img = 3
            assert len(reads) == n_img * parts[0].reads[layer]
            assert len(writes) == n_img * parts[0].writes[layer]
            assert sum(a.ones for a in reads) == sum(int(p.read_ones[:, layer].sum()) for p in parts)
            assert sum(a.flips_0to1 for a in writes) == sum(int(p.flips_0to1[:, layer].sum()) for p in parts)
            assert sum(a.flips_1to0 for a in writes) == sum(int(p.flips_1to0[:, layer].sum()) for p in parts)
            holds = [a for a in tr if a.op == "hold"]
            assert len(holds) == n_img * parts[0].holds[layer]
            if not hazard:
                assert not holds
    # energies: vectorised per-image read+write energy == trace sum per image
    e_vec = np.concatenate([(ch.energy["sram_read_j"] + ch.energy["sram_write_j"]).sum(axis=1) for ch in (ch1, ch2)])
    e_tr = [sum(a.energy_j for a in acc if a.image == n and a.op != "hold") for n in range(3)]
    np.testing.assert_allclose(e_vec, e_tr, rtol=1e-12)
    # the preload (weights resident) is charged once
    pre = [a for a in acc if a.image == -1]
    assert len([a for a in pre if a.op == "write"]) == preload_energy(ms)["writes"]
    assert len([a for a in pre if a.op == "hold"]) == preload_energy(ms)["holds"]
    assert preload_energy(ms)["sram_write_j"] == pytest.approx(sum(a.energy_j for a in pre if a.op == "write"), rel=1e-12)


def test_tiling_and_streaming_counts(tmp_path):
    ms, layers = _system(tmp_path, num_words=16)
    p = ms.plan
    # fc1: 12x30 int8 weights = 180 words + 30 int32 biases = 60 words -> 240 words, 15 tiles of 16
    assert p.layers[1].weight_words == 240 and p.layers[1].passes == 15 and not p.layers[1].weights_resident
    # 6 + 15 words > 16: streamed from off-chip every pass
    assert p.layers[1].act_mode == "streamed"
    ch, cw, ca, _ = charge_batch(ms, layers, initial_act_state(ms), True)
    assert cw.writes[1] == 240 and cw.reads[1] == 240 and cw.offchip_read_words[1] == 240
    assert ca.reads[1] == 15 * 6 + 15  # input read once per pass, output drained once
    # 4 words per row: a 16-word tile written (rows 0..3) then read (rows 0..3) changes row 3 + 1 + 3 times, and once
    # more into the next tile (the first tile: from the previous layer's last row)
    assert cw.holds[1] == 15 * 8
    # every access has a positive, finite energy and the total adds up
    assert np.all(np.isfinite(ch.energy_per_image_j)) and np.all(ch.energy_per_image_j > 0)


def test_resident_weights_not_reloaded(tmp_path):
    ms, layers = _system(tmp_path, num_words=4096)
    assert all(lp.weights_resident and lp.passes == 1 and lp.act_mode == "resident" for lp in ms.plan.layers)
    _, cw, ca, _ = charge_batch(ms, layers, initial_act_state(ms), True)
    assert cw.writes.sum() == 0 and cw.offchip_read_words.sum() == 0
    # only the image comes in from off-chip; intermediate outputs stay on chip
    assert ca.offchip_read_words.tolist() == [20, 0, 0] and ca.offchip_write_words.sum() == 0


def test_packing_layout():
    from cosim.memory.packing import pack, words_for

    # little-endian inside a word, two's complement codes, zero padded
    assert pack(np.array([[1, -1, 3]]), 8, 16).tolist() == [[0xFF01, 0x0003]]
    assert pack(np.array([[1, -1, 3]]), 4, 16).tolist() == [[0x3F1]]
    assert pack(np.array([[1, -1, 3, 2]]), 8, 32).tolist() == [[0x0203FF01]]
    # an int32 bias spans two 16-bit words, low half first
    assert pack(np.array([[-2]]), 32, 16).tolist() == [[0xFFFE, 0xFFFF]]
    assert words_for(5, 8, 16) == 3 and words_for(3, 32, 16) == 6


@pytest.mark.parametrize("bits,word_bits", [(8, 16), (8, 32), (8, 8), (4, 16), (32, 16)])
def test_pack_into_matches_pack(bits, word_bits):
    """act_data writes codes straight into a column block of one zeroed array: the same words pack() gives."""
    from cosim.memory.packing import pack, pack_into, word_dtype, words_for

    rng = np.random.default_rng(bits * 100 + word_bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1))
    codes = rng.integers(lo, hi, size=(5, 13)).astype(np.int8 if bits == 8 else np.int64)
    nw = words_for(13, bits, word_bits)
    big = np.zeros((5, nw + 7), word_dtype(word_bits))
    pack_into(codes, bits, word_bits, big[:, 3:3 + nw])
    np.testing.assert_array_equal(big[:, 3:3 + nw], pack(codes, bits, word_bits))
    assert not big[:, :3].any() and not big[:, 3 + nw:].any()


def test_second_operand_of_add_is_read_and_charged(tmp_path):
    """An add layer reads both operands: the words of its second input are read (and loaded), and the ones it
    carries are charged; the vectorised counts still equal the trace."""
    from dataclasses import replace

    from fakes import FakeLayer
    from cosim.memory.system import layer_inputs, layer_shapes

    ms0, layers = _system(tmp_path, 4096)
    a = layers[1].output
    b = np.resize(layers[0].output, a.shape)  # the residual operand: fc0's output, cut to fc1's output size
    add = FakeLayer("add", "add", None, 8, None, a, 8, np.clip(a + b, 0, 255), 8, 0, extra_inputs=(b,))
    net = [layers[0], layers[1], add]
    shapes = layer_shapes(net)
    assert shapes[2].input_values == a.shape[1] + b.shape[1]
    np.testing.assert_array_equal(layer_inputs(add), np.concatenate([a, b], axis=1))
    with_extra = build_system(net, ms0.acc, ms0.costs_w, ms0.costs_a)
    without = build_system([*net[:2], replace(add, extra_inputs=())], ms0.acc, ms0.costs_w, ms0.costs_a)
    _, _, ca, _ = charge_batch(with_extra, net, initial_act_state(with_extra), True)
    _, _, ca0, _ = charge_batch(without, [*net[:2], replace(add, extra_inputs=())], initial_act_state(without), True)
    words_b = with_extra.plan.layers[2].input_words - without.plan.layers[2].input_words
    assert words_b > 0
    assert ca.reads[2] - ca0.reads[2] == words_b  # every word of the second operand is read once
    assert int(ca.read_ones[:, 2].sum()) > int(ca0.read_ones[:, 2].sum())
    acc = trace(with_extra, net)
    reads = [x for x in acc if x.memory == ACTIVATIONS and x.layer == 2 and x.op == "read" and x.image >= 0]
    assert sum(x.ones for x in reads) == int(ca.read_ones[:, 2].sum())


@pytest.mark.parametrize("num_words", [16, 4096])
def test_counting_in_row_blocks_equals_one_block(tmp_path, num_words):
    """The row-block split run_inference uses (each block starts from the state the previous block's last image
    leaves) gives the same integers per image as counting the whole batch at once."""
    from concurrent.futures import ThreadPoolExecutor

    from cosim.memory.counting import count, count_parallel, split_sources
    from cosim.memory.system import act_data, act_sources

    ms, layers = _system(tmp_path, num_words, n_images=7, sizes=WIDE, code_dtype=np.uint8)
    data = act_data(layers, ms.plan, ms.ca)
    state = np.arange(ms.plan.act_capacity_words, dtype=data.dtype) * 40503  # arbitrary prior content
    whole, end = count(ms.ca, split_sources(ms.ca, data), state)
    with ThreadPoolExecutor(max_workers=3) as pool:
        split, end_split = count_parallel(ms.ca, lambda rows: act_sources(layers, ms.plan, ms.ca, rows), len(data),
                                          state, pool, 3)
    for name in ("read_ones", "flips_0to1", "flips_1to0"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name))
    np.testing.assert_array_equal(end_split, end)
    assert whole.flips_0to1.sum() > 0 and whole.flips_1to0.sum() > 0  # the data exercises both directions


def test_act_sources_are_the_packed_columns(tmp_path):
    """The per-source words the counting reads (engine code arrays seen as words where they fill whole 64-bit
    blocks, packed copies elsewhere) hold the same words as act_data's packed concatenation."""
    from cosim.memory.counting import split_sources
    from cosim.memory.system import act_data, act_sources

    ms, layers = _system(tmp_path, 64, n_images=5, sizes=WIDE, code_dtype=np.uint8)
    sources = act_sources(layers, ms.plan, ms.ca, slice(1, 4))
    packed = split_sources(ms.ca, act_data(layers, ms.plan, ms.ca)[1:4])
    in_place = [np.shares_memory(w, L.output) or np.shares_memory(w, L.input) for w, L in
                zip(sources, [L for L in layers for _ in (0, 1)])]
    assert any(in_place) and not all(in_place)  # both paths ran
    for k, (w, p) in enumerate(zip(sources, packed)):
        width = int(ms.ca.source_starts[k + 1] - ms.ca.source_starts[k])
        np.testing.assert_array_equal(w[:, :width], p[:, :width])
