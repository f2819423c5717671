"""Random cell failures in the engine's reads: a chip instance's persistent fault map, or fresh flips per access.

The rates are the macro's Monte Carlo bit-error table (characterization/montecarlo/<macro>.csv) at the run's corner,
per stored value (cosim.montecarlo_table.BerTable.cell_rates: a cell holding 1 is read as 0 when its write of 1
failed, its read of 1 fails or the read flips it; each op's rate the larger of its count and its tail estimate). A corner the Monte Carlo table does not hold has no random failures modelled, and the report says so.

Fault map (the default): a chip instance is a seed. Every cell of a memory (banks x words x word size) draws two
uniform numbers from it, fixed for the chip; the cell reads 0 while holding 1 where its first number is below the
corner's 1->0 rate, and 1 while holding 0 where its second is below the 0->1 rate. Every data bit of every bank has
a sense amp that reads all the words of its bank; it draws two numbers the same way against the table's sense-amp
rates (reads wrong although the bit lines were right), and a weak one fails that bit of every word of its bank. The
same weights at the same addresses see the same faults on every image and every read, and a chip run at a lower
supply keeps its weak cells and gains more, as the weakest cells fail first on silicon. Addresses follow the memory
model's plan (cosim/memory/mapping.py: word w of a memory is in bank w mod banks); codes are packed as
cosim/memory/packing.py packs them.

Per access: every bit read flips with the rate of the value it holds (cell and sense amp together), drawn afresh on
every read (what injection studies assume when they lack a chip's map; EDEN, MICRO 2019, reports it misestimating
resilience).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numba
import numpy as np
import torch

from cosim.memory.biterrors import apply_xor, random_masks
from cosim.memory.counting import _popcount64
from cosim.memory.mapping import ACTIVATIONS, WEIGHTS, Plan
from cosim.types import Corner

FAULT_MODELS = ("map", "per_access")


@dataclass(frozen=True)
class CellFailureRates:
    """Failure probabilities of one macro at one corner, by the value the cell holds: per cell, and per sense amp
    (a weak sense amp reads that value wrong in every word of its bank)."""

    one_reads_zero: float  #: P(a cell holding 1 is read as 0)
    zero_reads_one: float  #: P(a cell holding 0 is read as 1)
    source: str  #: where the rates come from, or why there are none
    ops: Mapping[str, float] = field(default_factory=dict)  #: Monte Carlo op -> the per-cell rate taken from it
    period_s: float = math.nan  #: the clock the Monte Carlo ran at
    sense_one_reads_zero: float = 0.0  #: P(a sense amp reads 0 from a cell holding 1)
    sense_zero_reads_one: float = 0.0  #: P(a sense amp reads 1 from a cell holding 0)

    @property
    def any(self) -> bool:
        return max(self.one_reads_zero, self.zero_reads_one, self.sense_one_reads_zero, self.sense_zero_reads_one) > 0

    @property
    def per_bit(self) -> tuple[float, float]:
        """(P(a bit holding 1 is read as 0), P(a bit holding 0 is read as 1)), cell and sense amp together: what a
        read sees when nothing is known of which cells and sense amps are weak (the per-access model)."""
        from cosim.montecarlo_table import any_of

        return (any_of((self.one_reads_zero, self.sense_one_reads_zero)),
                any_of((self.zero_reads_one, self.sense_zero_reads_one)))


NO_FAILURES = CellFailureRates(0.0, 0.0, "bit errors off")


def cell_failure_rates(characterization_dir: Path, macro: str, corner: Corner, systematic: float = 0.0
                       ) -> CellFailureRates:
    """The macro's rates at ``corner`` from its Monte Carlo table; ``systematic``: bits the nominal table read
    wrong (AccessCosts.bit_error_rate), added in both directions. A damaged table raises TableIntegrityError."""
    from cosim.characterize.mc_table import mc_table_path
    from cosim.errors import TableRangeError
    from cosim.montecarlo_table import BerTable, any_of

    path = mc_table_path(characterization_dir, macro)
    extra = f"; plus {systematic:.3g} from the nominal table's reads" if systematic > 0 else ""
    if not path.is_file():
        return CellFailureRates(systematic, systematic, f"no Monte Carlo table for {macro}: random cell failures not "
                                f"modelled (cosim characterize --monte-carlo --macro {macro}){extra}")
    try:
        rows = BerTable.load(path).cell_rates(corner)
    except TableRangeError:
        return CellFailureRates(systematic, systematic, f"{path} has no {corner.name}: random cell failures not "
                                f"modelled (rates are not interpolated; cosim characterize --monte-carlo --macro "
                                f"{macro} --process {corner.process} --vdd {corner.vdd_v:g} --temp {corner.temp_c:g})"
                                f"{extra}")
    return CellFailureRates(any_of((rows.one_reads_zero, systematic)), any_of((rows.zero_reads_one, systematic)),
                            f"{path} at {corner.name} ({rows.samples} samples at a {rows.period_s * 1e9:.4g} ns "
                            f"clock){extra}", rows.ops, rows.period_s, rows.sense_one_reads_zero,
                            rows.sense_zero_reads_one)  # fmt: skip


# --- the fault map of one chip instance -------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class FaultMap:
    """One memory of one chip instance (word w in bank w mod banks): its weak cells per word and its weak sense
    amps per bank, by the value the cell holds; a read of a word goes wrong at the bits of either."""

    words: int
    word_bits: int
    banks: int
    cells_zero: np.ndarray  #: [words] uint64: bit set where the cell reads 0 while holding 1
    cells_one: np.ndarray  #: [words] uint64: bit set where the cell reads 1 while holding 0
    amps_zero: np.ndarray  #: [banks] uint64: bit set where the bank's sense amp reads 0 from a cell holding 1
    amps_one: np.ndarray  #: [banks] uint64: ... reads 1 from a cell holding 0

    @cached_property
    def reads_zero(self) -> np.ndarray:
        """[words] uint64: bit set where a read gives 0 while the cell holds 1."""
        return self.cells_zero | self.amps_zero[np.arange(self.words) % self.banks]

    @cached_property
    def reads_one(self) -> np.ndarray:
        """[words] uint64: bit set where a read gives 1 while the cell holds 0."""
        return self.cells_one | self.amps_one[np.arange(self.words) % self.banks]

    @property
    def weak_cells(self) -> tuple[int, int]:
        """(cells that read 0 holding 1, cells that read 1 holding 0)."""
        return int(np.bitwise_count(self.cells_zero).sum()), int(np.bitwise_count(self.cells_one).sum())

    @property
    def weak_sense_amps(self) -> tuple[int, int]:
        """(sense amps that read 0 from a 1, that read 1 from a 0)."""
        return int(np.bitwise_count(self.amps_zero).sum()), int(np.bitwise_count(self.amps_one).sum())


def draw_fault_map(words: int, word_bits: int, banks: int, rates: CellFailureRates, seed) -> FaultMap:
    """The fault map of ``words`` x ``word_bits`` cells in ``banks`` banks, one sense amp per data bit and bank:
    the chip's uniforms (from ``seed``; the cells' first, so a chip keeps its weak cells whatever the sense-amp
    rates) against the rates."""
    rng = np.random.default_rng(seed)
    u = rng.random((2, words, word_bits))
    s = rng.random((2, banks, word_bits))
    weights = np.left_shift(np.uint64(1), np.arange(word_bits, dtype=np.uint64))
    pack = lambda weak: (weak * weights).sum(axis=-1, dtype=np.uint64)  # noqa: E731
    return FaultMap(words, word_bits, banks, pack(u[0] < rates.one_reads_zero), pack(u[1] < rates.zero_reads_one),
                    pack(s[0] < rates.sense_one_reads_zero), pack(s[1] < rates.sense_zero_reads_one))  # fmt: skip


def code_masks(fmap: FaultMap, base_word: int, n_codes: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The map's masks for ``n_codes`` codes of ``bits`` bits stored from word ``base_word`` on (addresses wrap
    at the memory's size, as the plan's circular buffer and tiles do): (reads_zero, reads_one), each [n_codes]."""
    j = np.arange(n_codes, dtype=np.int64)
    out = []
    for m in (fmap.reads_zero, fmap.reads_one):
        if bits <= fmap.word_bits:
            k = fmap.word_bits // bits
            word = (base_word + j // k) % fmap.words
            masks = (m[word] >> ((j % k) * bits).astype(np.uint64)) & np.uint64((1 << bits) - 1)
        else:  # a value spans bits // word_bits words, low part first
            parts = bits // fmap.word_bits
            masks = np.zeros(n_codes, np.uint64)
            for q in range(parts):
                word = (base_word + j * parts + q) % fmap.words
                masks |= (m[word] & np.uint64((1 << fmap.word_bits) - 1)) << np.uint64(q * fmap.word_bits)
        out.append(masks.astype(np.int64))
    return out[0], out[1]


def read_bases(plan: Plan) -> dict[tuple[int, str], int]:
    """(layer index, "weight" | "input") -> the word where that read's data starts in its memory (word w of it
    is at (base + w) mod the memory's size: tiles and streamed chunks start at 0 and hold capacity words)."""
    out = {}
    for block in plan.per_image:
        kind = {WEIGHTS: "weight", ACTIVATIONS: "input"}[block.memory]
        purpose = "weight_read" if kind == "weight" else "input_read"
        for seg in block.segments:
            if seg.op == "read" and seg.purpose == purpose and (block.layer, kind) not in out:
                out[(block.layer, kind)] = seg.addr - seg.lo
    return out


def _xor(codes: torch.Tensor, bits: int, reads_zero: np.ndarray, reads_one: np.ndarray) -> np.ndarray:
    """Per code, the bits a read gets wrong: held 1s on weak-to-0 cells, held 0s on weak-to-1 cells."""
    stored = codes.contiguous().numpy()
    if bits == 8 * stored.itemsize:
        u = stored.view(f"u{stored.itemsize}")
    else:
        u = stored.astype(np.int64) & ((1 << bits) - 1)
    u = u.reshape(-1) if reads_zero.size == u.size else u.reshape(u.shape[0], -1)
    rz, ro = reads_zero.astype(u.dtype, copy=False), reads_one.astype(u.dtype, copy=False)
    return (u & rz) | (~u & ro)


def read_through(codes: torch.Tensor, bits: int, reads_zero: np.ndarray, reads_one: np.ndarray
                 ) -> tuple[torch.Tensor, int]:
    """``codes`` as read through the masks (broadcast over a leading batch axis), and the bits that came out
    wrong."""
    xor = _xor(codes, bits, reads_zero, reads_one)
    flips = int(np.bitwise_count(xor).sum(dtype=np.int64))
    return (apply_xor(codes, bits, xor) if flips else codes), flips


@numba.njit(nogil=True, cache=True)
def _read_weak(stored, index, reads_zero, reads_one):
    """stored [N, n] patterns read through the masks at columns ``index``: (the patterns read, bits wrong)."""
    out = stored.copy()
    flips = 0
    for i in range(out.shape[0]):
        row = out[i]
        for k in range(index.size):
            j = index[k]
            v = row[j]
            x = (v & reads_zero[k]) | (~v & reads_one[k])
            row[j] = v ^ x
            flips += _popcount64(np.uint64(x))
    return out, flips


@dataclass(frozen=True, eq=False)
class WeakColumns:
    """One operand's reads through a fault map, per image: only the codes sitting on a weak cell."""

    index: np.ndarray  #: positions (per image, flattened) of the codes with a weak cell
    reads_zero: np.ndarray  #: their masks
    reads_one: np.ndarray

    @classmethod
    def of(cls, reads_zero: np.ndarray, reads_one: np.ndarray) -> "WeakColumns":
        index = np.flatnonzero(reads_zero | reads_one)
        return cls(index, reads_zero[index], reads_one[index])

    def read(self, codes: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
        """A batch [N, ...] read through the map: those columns gathered, changed and scattered back."""
        stored = codes.contiguous().numpy().reshape(codes.shape[0], -1)
        if bits == 8 * stored.itemsize:  # the code is its stored pattern: one compiled pass, no gather copies
            u = stored.view(f"u{stored.itemsize}")
            out, flips = _read_weak(u, self.index, self.reads_zero.astype(u.dtype), self.reads_one.astype(u.dtype))
            if flips == 0:
                return codes, 0
            return torch.from_numpy(out.view(stored.dtype).reshape(codes.shape)), flips
        sub, flips = read_through(torch.from_numpy(stored[:, self.index]), bits, self.reads_zero, self.reads_one)
        if flips == 0:
            return codes, 0
        out = stored.copy()
        out[:, self.index] = sub.numpy()
        return torch.from_numpy(out.reshape(codes.shape)), flips


@dataclass
class FaultMapHook:
    """A read_hook (cosim.engine.run) reading through a chip's fault maps: a weight as the chip's cells hold it
    (``weights``: layer -> (codes read, bits wrong), the same on every read), an input through the weak columns
    of its operand (``inputs``: (layer, operand index) -> WeakColumns; ``operands``: layer -> how many operands
    it reads, in the engine's order). ``bits_flipped`` is local to one batch."""

    weights: Mapping[str, tuple[torch.Tensor, int]]
    inputs: Mapping[tuple[str, int], WeakColumns]
    operands: Mapping[str, int]
    bits: Mapping[tuple[str, str], int]
    bits_flipped: int = 0
    _calls: dict = field(default_factory=dict)

    def __call__(self, layer: str, kind: str, codes: torch.Tensor) -> torch.Tensor:
        if kind == "weight":
            out, flips = self.weights.get(layer, (codes, 0))
        else:
            n = self._calls.get(layer, 0)
            self._calls[layer] = n + 1
            weak = self.inputs.get((layer, n % self.operands.get(layer, 1)))
            if weak is None:
                return codes
            out, flips = weak.read(codes, int(self.bits[(layer, kind)]))
        self.bits_flipped += flips
        return out


@dataclass
class PerAccessHook:
    """A read_hook flipping each bit read with its memory's rate for the value it holds, afresh on every read."""

    weights: CellFailureRates
    activations: CellFailureRates
    seed: int | np.random.SeedSequence
    bits: Mapping[tuple[str, str], int]
    rng: np.random.Generator = field(init=False)
    bits_flipped: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, layer: str, kind: str, codes: torch.Tensor) -> torch.Tensor:
        b = int(self.bits.get((layer, kind), 8))
        n = codes.numel()
        rates = self.weights if kind == "weight" else self.activations
        if not rates.any:
            return codes
        one_reads_zero, zero_reads_one = rates.per_bit
        if one_reads_zero == zero_reads_one:  # one draw: a bit flips at the rate whatever it holds
            xor, _ = random_masks(n, b, one_reads_zero, self.rng)
        else:
            rz, _ = random_masks(n, b, one_reads_zero, self.rng)
            ro, _ = random_masks(n, b, zero_reads_one, self.rng)
            xor = _xor(codes.reshape(-1), b, rz, ro)
        flips = int(np.bitwise_count(xor).sum(dtype=np.int64))
        if flips == 0:
            return codes
        self.bits_flipped += flips
        return apply_xor(codes, b, xor)


@dataclass(frozen=True)
class ChipFaults:
    """The fault maps of one chip instance (one per memory) and what every read of a network on it returns."""

    weights: FaultMap
    activations: FaultMap
    weight_reads: Mapping[str, tuple[torch.Tensor, int]]  #: layer -> (weight codes read, bits wrong)
    input_reads: Mapping[tuple[str, int], WeakColumns]  #: (layer, operand) -> its weak columns
    operands: Mapping[str, int]

    @property
    def any(self) -> bool:
        """Does any read of the network touch a weak cell?"""
        return bool(self.weight_reads or self.input_reads)

    def hook(self, bits: Mapping[tuple[str, str], int]) -> FaultMapHook:
        return FaultMapHook(self.weight_reads, self.input_reads, self.operands, bits)


def chip_seed(run_seed: int, chip: int) -> np.random.SeedSequence:
    """A chip instance's seed: its cells are the same at every corner (independent of the corner)."""
    return np.random.SeedSequence([int(run_seed) & 0xFFFFFFFF, int(chip), 0x6368_6970])


def chip_faults(plan: Plan, layers, rates_w: CellFailureRates, rates_a: CellFailureRates,
                seed: np.random.SeedSequence, banks: tuple[int, int]) -> ChipFaults:
    """Draw the chip's two fault maps and resolve every layer's reads on it (``layers``: a recorded run's LayerIO:
    names, stored weight codes, inputs per image; ``banks``: of the weight and activation memories)."""
    sw, sa = seed.spawn(2)
    fw = draw_fault_map(plan.weight_capacity_words, plan.weight_word_bits, banks[0], rates_w, sw)
    fa = draw_fault_map(plan.act_capacity_words, plan.act_word_bits, banks[1], rates_a, sa)
    bases = read_bases(plan)
    weight_reads, input_reads, operands = {}, {}, {}
    for i, L in enumerate(layers):
        ops = [L.input, *getattr(L, "extra_inputs", ())]
        operands[L.name] = len(ops)
        base = bases.get((i, "input"))
        if base is not None and rates_a.any:
            sizes = [int(x[0].numel()) if x.dim() else 0 for x in ops]
            rz, ro = code_masks(fa, base, sum(sizes), int(L.input_bits))
            offset = 0
            for k, size in enumerate(sizes):
                weak = WeakColumns.of(rz[offset:offset + size], ro[offset:offset + size])
                if weak.index.size:
                    input_reads[(L.name, k)] = weak
                offset += size
        base = bases.get((i, "weight"))
        if L.weight is not None and base is not None and rates_w.any:
            read = read_through(L.weight, int(L.weight_bits),
                                *code_masks(fw, base, int(L.weight.numel()), int(L.weight_bits)))
            if read[1]:
                weight_reads[L.name] = read
    return ChipFaults(fw, fa, weight_reads, input_reads, operands)
