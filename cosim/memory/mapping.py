"""Map a network onto the two SRAM memories and write down, per image, every access the dataflow performs.

Dataflow (batch of one image at a time, layers in order; explained in docs/memory-model.md):

Weight memory (capacity Cw = banks x num_words words):
* If all layers' weights and biases fit in Cw they are loaded once per run (off-chip read + SRAM write, "preload")
  at consecutive addresses, and every image reads each layer's words once.
* Otherwise every layer's weights stream through the memory for every image in tiles of at most Cw words, each
  tile written at address 0.. (off-chip read + SRAM write, "tile_load") and then read once ("weight_read").
  The layer then makes one pass over its input per tile (passes = number of tiles).

Activation memory (capacity Ca words), circular buffer:
* A layer is "resident" when its input and output fit together (in + out <= Ca). Its input is either still in the
  SRAM (written there by the previous layer as its output, same number of words, kept) or loaded from off-chip once
  ("input_load"); it is read once per pass ("input_read"); its output is written once ("output_write").
* Otherwise the layer is "streamed": for every pass the input is loaded from off-chip in chunks of at most Ca words
  at address 0.. and each chunk read once; the output is written in chunks at address 0.. and each chunk read back
  and sent off-chip ("output_drain").
* A layer's output is drained off-chip when the layer or the next one is streamed (the next one will load it). The
  first layer's input (the image) always comes from off-chip. The last layer's output is read once ("readout").

A Block is a list of segments repeated ``repeat`` times in a row (the passes); the vectorised counter uses the fact
that repetitions after the first see identical memory contents (see counting.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cosim.memory.packing import words_for

WEIGHTS, ACTIVATIONS = "weights", "activations"


@dataclass(frozen=True)
class LayerShape:
    """What the mapper needs of a layer (value counts per image; codes widths in bits)."""

    name: str
    weight_values: int
    weight_bits: int
    bias_values: int
    bias_bits: int
    input_values: int
    input_bits: int
    output_values: int
    output_bits: int
    macs: int


@dataclass(frozen=True)
class Segment:
    """Words [lo, hi) of a source tensor of one layer, read from or written to consecutive addresses from ``addr``."""

    op: str  #: "read" | "write"
    source: str  #: "wstream" (weights then bias words) | "input" | "output"
    lo: int
    hi: int
    addr: int
    purpose: str
    offchip_read_words: int = 0  #: words fetched from off-chip for this segment (loads)
    offchip_write_words: int = 0  #: words sent off-chip (drains)

    @property
    def words(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Block:
    memory: str
    layer: int
    repeat: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class LayerPlan:
    name: str
    weight_words: int
    input_words: int
    output_words: int
    passes: int
    weights_resident: bool
    act_mode: str  #: "resident" | "streamed"
    input_from: str  #: "sram" | "offchip"
    output_drained: bool
    macs: int


@dataclass(frozen=True)
class Plan:
    weight_word_bits: int
    act_word_bits: int
    weight_capacity_words: int
    act_capacity_words: int
    layers: tuple[LayerPlan, ...]
    preload: tuple[Block, ...]  #: once per run (weights resident)
    per_image: tuple[Block, ...]  #: every image, in order (weights and activation blocks interleaved by layer)


def _chunks(n: int, size: int):
    lo = 0
    while lo < n:
        hi = min(n, lo + size)
        yield lo, hi
        lo = hi


def build_plan(layers: list[LayerShape] | tuple[LayerShape, ...], *, weight_word_bits: int, weight_capacity_words: int,
               act_word_bits: int, act_capacity_words: int) -> Plan:
    Cw, Ca = weight_capacity_words, act_capacity_words
    ww = [words_for(L.weight_values, L.weight_bits, weight_word_bits)
          + words_for(L.bias_values, L.bias_bits, weight_word_bits) for L in layers]
    iw = [words_for(L.input_values, L.input_bits, act_word_bits) for L in layers]
    ow = [words_for(L.output_values, L.output_bits, act_word_bits) for L in layers]
    resident_w = sum(ww) <= Cw
    streamed = [iw[i] + ow[i] > Ca for i in range(len(layers))]
    n = len(layers)
    drained = [streamed[i] or (i + 1 < n and streamed[i + 1]) or (i + 1 < n and ow[i] != iw[i + 1]) for i in range(n)]

    preload: list[Block] = []
    blocks: list[Block] = []
    plans: list[LayerPlan] = []
    w_base = []
    base = 0
    for i in range(n):
        w_base.append(base)
        base += ww[i]
    if resident_w:
        for i in range(n):
            if ww[i]:
                preload.append(Block(WEIGHTS, i, 1, (Segment("write", "wstream", 0, ww[i], w_base[i], "preload", ww[i]),)))

    ptr = 0  # activation write pointer (circular)
    in_addr = None  # where the previous layer's kept output lives
    for i, L in enumerate(layers):
        # ---- weights
        if ww[i] == 0:
            passes = 1
        elif resident_w:
            passes = 1
            blocks.append(Block(WEIGHTS, i, 1, (Segment("read", "wstream", 0, ww[i], w_base[i], "weight_read"),)))
        else:
            tiles = list(_chunks(ww[i], Cw))
            passes = len(tiles)
            segs = []
            for lo, hi in tiles:
                segs.append(Segment("write", "wstream", lo, hi, 0, "tile_load", hi - lo))
                segs.append(Segment("read", "wstream", lo, hi, 0, "weight_read"))
            blocks.append(Block(WEIGHTS, i, 1, tuple(segs)))
        # ---- activations
        if streamed[i]:
            segs = []
            for lo, hi in _chunks(iw[i], Ca):
                segs.append(Segment("write", "input", lo, hi, 0, "input_load", hi - lo))
                segs.append(Segment("read", "input", lo, hi, 0, "input_read"))
            blocks.append(Block(ACTIVATIONS, i, passes, tuple(segs)))
            input_from = "offchip"
            out = []
            for lo, hi in _chunks(ow[i], Ca):
                out.append(Segment("write", "output", lo, hi, 0, "output_write"))
                out.append(Segment("read", "output", lo, hi, 0, "output_drain", 0, hi - lo))
            blocks.append(Block(ACTIVATIONS, i, 1, tuple(out)))
            ptr = 0
            in_addr = None
        else:
            if i > 0 and not drained[i - 1] and in_addr is not None:
                input_from = "sram"
                a_in = in_addr
            else:
                input_from = "offchip"
                a_in = ptr
                blocks.append(Block(ACTIVATIONS, i, 1, (Segment("write", "input", 0, iw[i], a_in, "input_load", iw[i]),)))
                ptr = (ptr + iw[i]) % Ca
            blocks.append(Block(ACTIVATIONS, i, passes, (Segment("read", "input", 0, iw[i], a_in, "input_read"),)))
            a_out = ptr
            out = [Segment("write", "output", 0, ow[i], a_out, "output_write")]
            if drained[i]:
                out.append(Segment("read", "output", 0, ow[i], a_out, "output_drain", 0, ow[i]))
            elif i == n - 1:
                out.append(Segment("read", "output", 0, ow[i], a_out, "readout"))
            blocks.append(Block(ACTIVATIONS, i, 1, tuple(out)))
            ptr = (ptr + ow[i]) % Ca
            in_addr = None if drained[i] else a_out
        if streamed[i] and i == n - 1:
            pass  # the drained output is what the host reads
        plans.append(LayerPlan(L.name, ww[i], iw[i], ow[i], passes, resident_w, "streamed" if streamed[i] else "resident",
                               input_from, drained[i], L.macs))
    return Plan(weight_word_bits, act_word_bits, Cw, Ca, tuple(plans), tuple(preload), tuple(blocks))
