"""Fold a macro's identical bit slices into one slice per data class (``cosim characterize --fold-bits``).

Why: most of a macro's transistors sit in its bit slices. In the storage-folded sram_32x256 (7,185 transistors;
cosim.characterize.trim) the cells of the two accessed rows, the folded and dummy cells, the data flops, write
drivers, precharge, sense amps and column mux of the 32 slices are 5,293; row decoder, word-line drivers, replica
column and control logic the rest. A slice's devices connect only to their own nets and to nets every slice shares
(supplies, word lines, clocks and enables, mux selects). The characterization sequences write and store words whose
bits fall into few classes (all-0 and all-1 words: the word's bits alike), so every slice of a class is the same
circuit, on the same shared nets, driven by the same stimulus, in the same state: N of them carry N times the
current and charge of one, which is what the devices' multiplier computes (as for the folded storage cells). So one
slice per class is simulated with its devices times N (:func:`_mult`), the others are removed, and each removed slice's data output is tied
to its class's (a 0 V source, so each output keeps its own load), as are the storage nodes the sequences probe.

`bench/characterize.py --compare folded,bits` compares a point on this netlist with one on the storage-folded
netlist; tests/characterize/test_bitfold.py holds them equal.

How, without trusting names: the netlist is flattened (nets keep their hierarchical names, so every node ngspice
reports is named as in the hierarchical netlist), slices are grown from each bit's din/dout port through nets that
only one slice reaches (a net reached from two slices at once is shared: the slices are alike, so the waves meet
there together; the spare column is grown from no port, so it stays with the shared rest), and a slice is folded into its class's representative only if the two are the same circuit device
for device: same models and parameters, the same shared nets, and their own nets in one-to-one correspondence.
Anything else (an edge column that differs, the spare column, control logic) is kept as it is.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cosim.files import write_atomic
from cosim.characterize.plan import MacroPlan, main_sequence, min_cycle_sequence, row_switch_sequence
from cosim.errors import NetlistError
from cosim.netlist import Netlist
from cosim.netlist.spice import Element, Subckt

_SHARED = -1


@dataclass(frozen=True)
class FlatDevice:
    name: str  #: hierarchical instance path, dot-joined, lower-cased (unique)
    nodes: tuple[str, ...]  #: flat net names: top ports as written, inner nets as dotted hierarchical paths
    ref: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BitFold:
    netlist: Netlist  #: one subckt (the macro's top, same ports) holding the kept devices and the ties
    storage_cells: tuple[str, ...]  #: ngspice paths of the storage cells left (what gets initial values)
    representative: dict[int, int]  #: bit -> the bit whose slice stands for it (itself when kept)
    devices_before: int
    devices_after: int


def flatten(netlist: Netlist) -> list[FlatDevice]:
    """Every leaf device below the top subckt with flat net names (ngspice's own naming below the instance)."""
    top = netlist.top_subckt
    out: list[FlatDevice] = []

    def walk(sub, nets: dict[str, str], prefix: str) -> None:
        for e in sub.elements:
            nodes = tuple(nets.get(n.lower()) or (n if n == "0" else f"{prefix}{n.lower()}") for n in e.nodes)
            if e.kind == "X" and netlist.is_subckt(e.ref):
                child = netlist.subckt(e.ref)
                walk(child, {p.lower(): n for p, n in zip(child.ports, nodes)}, f"{prefix}{e.name.lower()}.")
            elif e.kind == "X":
                out.append(FlatDevice(f"{prefix}{e.name.lower()}", nodes, e.ref, e.params))
            else:
                raise NetlistError(f"{netlist.path or '<netlist>'}: cannot fold bits: element {e.name} in {sub.name} "
                                   "is not a PDK device call; characterize with --no-fold-bits")  # fmt: skip

    walk(top, {p.lower(): p for p in top.ports}, "")
    return out


def grow_slices(devices: list[FlatDevice], seeds: dict[int, tuple[str, ...]], shared: set[str]) -> list[int]:
    """Label of every device: the slice (key of ``seeds``) it belongs to, or -1 (shared). A breadth-first wave
    grows from every slice's seed nets at once, one net-device-net step at a time; a net that the waves of two
    slices reach in the same step is shared and stops them (alike slices reach what they share in the same step).
    A device that two slices reach in the same step is shared too."""
    on_net: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(devices):
        for n in dict.fromkeys(d.nodes):
            on_net[n].append(i)
    net_label: dict[str, int] = {n: _SHARED for n in shared}
    frontier: dict[str, int] = {}
    for label, nets in seeds.items():
        for n in nets:
            net_label[n] = frontier[n] = label
    device_label: list[int | None] = [None] * len(devices)
    while frontier:
        reached: dict[int, set[int]] = defaultdict(set)
        for net, label in frontier.items():
            for i in on_net.get(net, ()):
                if device_label[i] is None:
                    reached[i].add(label)
        candidates: dict[str, set[int]] = defaultdict(set)
        for i, labels in reached.items():
            device_label[i] = labels.pop() if len(labels) == 1 else _SHARED
            if device_label[i] != _SHARED:
                for n in devices[i].nodes:
                    if n not in net_label:
                        candidates[n].add(device_label[i])
        frontier = {}
        for n, labels in candidates.items():
            net_label[n] = labels.pop() if len(labels) == 1 else _SHARED
            if net_label[n] != _SHARED:
                frontier[n] = net_label[n]
    return [_SHARED if x is None else x for x in device_label]


def match_slices(a: list[FlatDevice], b: list[FlatDevice], own_a: set[str], own_b: set[str]) -> dict[str, str] | None:
    """The net correspondence (b's own nets -> a's) if slice b is slice a device for device (in netlist order):
    same model and parameters, shared nets equal, own nets one-to-one; else None."""
    if len(a) != len(b):
        return None
    fwd: dict[str, str] = {}
    back: dict[str, str] = {}
    for da, db in zip(a, b):
        if da.ref.lower() != db.ref.lower() or da.params != db.params or len(da.nodes) != len(db.nodes):
            return None
        for na, nb in zip(da.nodes, db.nodes):
            if (na in own_a) != (nb in own_b):
                return None
            if na not in own_a:
                if na != nb:
                    return None
                continue
            if fwd.setdefault(nb, na) != na or back.setdefault(na, nb) != nb:
                return None
    return fwd


def _class_of_bits(plan: MacroPlan) -> dict[int, tuple[int, ...]]:
    """Bit -> the values it takes in every word the sequences write or store: bits with equal values see the same
    stimulus and hold the same state, so they may share a slice."""
    words = []
    for cycles, _, init in (main_sequence(plan), min_cycle_sequence(plan), row_switch_sequence(plan)):
        words += [c.data for c in cycles]
        for address in (plan.address_a, plan.address_b):
            nodes = plan.word_nodes(address)
            value = dict(init)
            if nodes[0] in value:
                words.append(sum(int(value[n] > 0.5) << b for b, n in enumerate(nodes)))
    return {b: tuple((w >> b) & 1 for w in words) for b in range(plan.macro.word_size)}


def _mult(ref: str, params: tuple[tuple[str, str], ...], n: int) -> tuple[tuple[str, str], ...]:
    """Device parameters times ``n``: the storage cells' special devices (BSIM 3.2) as ``mult`` (as the folded
    storage cells carry it), every other device as the call line's ``m``, ngspice's instance multiplier.

    Why two ways: ``mult`` x n on the sense amps, write drivers and flops (nfet/pfet_01v8 calls) does not draw what
    n copies of the device draw, and ``m`` x n on the cells moves write times; this split gives the copies' numbers
    (tests/characterize/test_bitfold.py). A call line's ``m`` also overrides the
    ``m={mult}`` the model deck gives the transistor inside (m=2 mult=2 draws what m=2 alone draws), so a device
    keeps one multiplier: the product of what it had and ``n``."""
    have = {k.lower(): v for k, v in params}
    total = float(have.get("m", "1")) * float(have.get("mult", "1")) * n
    key = "mult" if ref.lower().startswith("sky130_fd_pr__special_") else "m"
    return tuple((k, v) for k, v in params if k.lower() not in ("m", "mult")) + ((key, f"{total:g}"),)


def fold_bits(netlist: Netlist, plan: MacroPlan, storage_cells: tuple[str, ...]) -> BitFold:
    """``netlist`` (storage-folded or not) flattened, with each foldable bit slice folded into its class's
    representative (module doc). ``storage_cells``: the cells of the unfolded-bits netlist
    (cosim.characterize.trim.storage_nodes), of which those left are returned."""
    devices = flatten(netlist)
    ports = plan.ports
    width = plan.macro.word_size
    power = {ports.power.lower(), ports.ground.lower()}
    shared = {p for p in netlist.ports if p.lower() in power} | {"0"}
    seeds = {b: (ports.din[b], ports.dout[b]) for b in range(width)}  # spare bits are not seeded: shared
    labels = grow_slices(devices, seeds, shared)
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    own = {b: {n for i in members[b] for n in devices[i].nodes if n not in shared} for b in members if b != _SHARED}
    # nets touched by shared devices, or by two slices, are not a slice's own
    for b in own:
        others = {n for c, nets in own.items() if c != b for n in nets}
        own[b] -= others
        own[b] -= {n for i in members[_SHARED] for n in devices[i].nodes}

    classes = _class_of_bits(plan)
    representative: dict[int, int] = {}
    correspondence: dict[int, dict[str, str]] = {}
    reps_of_class: dict[tuple, list[int]] = defaultdict(list)
    for b in range(width):
        if not members.get(b):
            raise NetlistError(f"{netlist.path or '<netlist>'}: found no devices for bit {b} from its data ports; "
                               "characterize with --no-fold-bits")  # fmt: skip
        for r in reps_of_class[classes[b]]:
            fwd = match_slices([devices[i] for i in members[r]], [devices[i] for i in members[b]], own[r], own[b])
            if fwd is not None:
                representative[b], correspondence[b] = r, fwd
                break
        else:
            representative[b] = b
            reps_of_class[classes[b]].append(b)
    count = defaultdict(int)
    for b, r in representative.items():
        count[r] += 1

    removed = {i for b, r in representative.items() if r != b for i in members[b]}
    # ties: a removed slice's data output (its own load stays on it) and the storage nodes the sequences probe
    prefix = plan.instance.lower() + "."
    probed = {node[len(prefix):] for a in (plan.address_a, plan.address_b) for q in plan.word_nodes(a)
              for node in (q, q + "_bar")}  # fmt: skip
    ties: list[Element] = []
    for b in range(width):
        r = representative[b]
        if r == b:
            continue
        for net, rep_net in [(ports.dout[b], ports.dout[r])] + [
            (n, correspondence[b][n]) for n in sorted(probed & set(correspondence[b]))
        ]:
            ties.append(Element(f"Vfold_tie_{len(ties) + 1}", (net, rep_net), "0"))
    folded, cells = folded_netlist(netlist, plan, devices, removed, lambda i: count[labels[i]] if 0 <= labels[i] < width else 1,
                                   ties, storage_cells)  # fmt: skip
    return BitFold(folded, cells, representative, len(devices), len(devices) - len(removed))


def folded_netlist(netlist: Netlist, plan: MacroPlan, devices: list[FlatDevice], removed: set[int],
                   times, extra: list[Element], storage_cells: tuple[str, ...]) -> tuple[Netlist, tuple[str, ...]]:  # fmt: skip
    """What every fold ends with: ``netlist``'s top subckt (same name and ports) made of ``devices`` less those
    ``removed``, device ``i`` times ``times(i)`` (:func:`_mult`), then the ``extra`` elements (ties, sources); and
    the ``storage_cells`` still in it."""
    kept: list[Element] = []
    for i, d in enumerate(devices):
        if i in removed:
            continue
        n = times(i)
        kept.append(Element(d.name, d.nodes, d.ref, _mult(d.ref, d.params, n) if n > 1 else d.params))
    kept.extend(extra)
    prefix = plan.instance.lower() + "."
    left = {n for e in kept for n in e.nodes}
    cells = tuple(c for c in storage_cells if c[len(prefix):] + ".q" in left)
    top = netlist.top_subckt
    sub = Subckt(name=top.name, ports=top.ports, elements=tuple(kept))
    return Netlist(path=netlist.path, subckts={top.name.lower(): sub}, top=top.name), cells


def write_folded(netlist: Netlist, head: str, cache_dir: Path, kind: str) -> Path:
    """Write a folded netlist to ``cache_dir/trimmed/<top>_<kind>_<sha256[:16]>.sp`` (write, then rename; a file
    already there with that content is left alone)."""
    text = head + netlist.to_spice()
    sha = hashlib.sha256(text.encode()).hexdigest()
    folder = Path(cache_dir) / "trimmed"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{netlist.top}_{kind}_{sha[:16]}.sp"
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha):
        write_atomic(path, text)
    return path


def write_bitfolded(fold: BitFold, head: str, cache_dir: Path) -> Path:
    """The bit-folded netlist, written by :func:`write_folded` as ``<top>_bits_<sha>.sp``."""
    return write_folded(fold.netlist, head, cache_dir, "bits")
