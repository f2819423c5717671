"""Bit-slice folding (cosim.characterize.bitfold), the pure part: the flattened netlist keeps every device and
names nets as ngspice does; slices grown from the data ports are alike; the folded netlist carries, device type by
device type, the same total multiplicity as the netlist it folds; and a slice that differs is never folded."""

from __future__ import annotations

import collections
import dataclasses

import pytest

from cosim.characterize import bitfold
from cosim.characterize.plan import make_plan
from cosim.characterize.trim import storage_nodes, trim_netlist
from cosim.netlist import load_macro
from cosim.netlist.spice import instance_counts


@pytest.fixture(scope="module", params=["sram_8x16", "sram_16x128"])
def folded(request, settings):
    mn = load_macro(settings.netlists_dir / f"{request.param}.sp")
    plan = make_plan(mn.macro)
    netlist = trim_netlist(mn.netlist, plan)
    return mn, plan, netlist


def _multiplicity(devices) -> collections.Counter:
    total: collections.Counter = collections.Counter()
    for ref, params in devices:
        p = {k.lower(): v for k, v in params}
        total[(ref.lower(), p.get("w"), p.get("l"))] += float(p.get("m", 1)) * float(p.get("mult", 1))
    return total


def test_flatten_keeps_every_device_with_ngspice_node_names(folded):
    mn, plan, netlist = folded
    flat = bitfold.flatten(netlist)
    counts = instance_counts(netlist)
    assert len(flat) == sum(n for ref, n in counts.items() if ref.startswith("sky130_fd_pr__"))
    nets = {n for d in flat for n in d.nodes}
    prefix = plan.instance + "."
    for q in plan.word_nodes(plan.address_a):  # the storage nodes the testbench probes exist under their names
        assert q[len(prefix):] in nets and q[len(prefix):] + "_bar" in nets
    assert set(plan.ports.din) <= nets and set(plan.ports.dout) <= nets


def test_slices_are_alike_and_fold_keeps_total_multiplicity(folded):
    mn, plan, netlist = folded
    fold = bitfold.fold_bits(netlist, plan, storage_nodes(netlist, plan))
    width = mn.macro.word_size
    # every sequence writes and reads whole words of 0 or of ones: the word's bits are alike, one slice stands for all
    assert all(fold.representative[b] == 0 for b in range(width))
    assert fold.devices_after < fold.devices_before
    flat = bitfold.flatten(netlist)
    kept = [e for e in fold.netlist.top_subckt.elements if not e.name.lower().startswith("vfold_tie")]
    assert _multiplicity((d.ref, d.params) for d in flat) == _multiplicity((e.ref, e.params) for e in kept)
    # every removed bit's data output is tied to its representative's
    ties = {e.nodes[0]: e.nodes[1] for e in fold.netlist.top_subckt.elements if e.name.lower().startswith("vfold_tie")}
    for b in range(1, width):
        assert ties[plan.ports.dout[b]] == plan.ports.dout[0]
    assert len(fold.storage_cells) < len(storage_nodes(netlist, plan))


def test_a_slice_that_differs_is_not_folded(folded):
    mn, plan, netlist = folded
    flat = bitfold.flatten(netlist)
    # widen one device of bit 2's sense amp: bit 2 is no longer like bit 0, so it keeps its own slice
    path = [e for e in flat if ".xsa_d2." in e.name or ".xsa_d2_" in e.name][0].name.rsplit(".", 1)[0]
    sa_cell = next(p for p in (netlist.subckt(s) for s in netlist.subckts) if p.name.lower().endswith("sense_amp_array"))
    elements = tuple(dataclasses.replace(e, ref=e.ref + "_wide") if e.name.lower() == path.split(".")[-1] else e
                     for e in sa_cell.elements)  # fmt: skip
    amp = netlist.subckt(next(e.ref for e in sa_cell.elements if e.name.lower() == path.split(".")[-1]))
    wide = dataclasses.replace(amp, name=amp.name + "_wide",
                               elements=(dataclasses.replace(amp.elements[0], params=(("W", "9"), ("L", "0.15"))),
                                         *amp.elements[1:]))  # fmt: skip
    changed = netlist.with_subckt(dataclasses.replace(sa_cell, elements=elements)).with_subckt(wide)
    fold = bitfold.fold_bits(changed, plan, storage_nodes(changed, plan))
    assert fold.representative[2] == 2 and fold.representative[4] == 0


def test_multiplier_kinds():
    # the cells' special devices carry mult, every other device the call line's m (bitfold._mult says why)
    assert bitfold._mult("sky130_fd_pr__special_nfet_pass", (("w", "0.14"), ("mult", "15")), 4) == (("w", "0.14"), ("mult", "60"))
    assert bitfold._mult("sky130_fd_pr__pfet_01v8", (("m", "2"), ("w", "1")), 16) == (("w", "1"), ("m", "32"))
    assert bitfold._mult("sky130_fd_pr__nfet_01v8", (("W", "0.65"), ("L", "0.15")), 4) == (("W", "0.65"), ("L", "0.15"), ("m", "4"))


@pytest.mark.spice
def test_bit_folded_point_measures_what_the_storage_folded_one_does(settings, models, tmp_path):
    """Real ngspice, sram_8x16 at ss/1.8 V/-40 C (main deck and leakage): every number of the bit-folded netlist
    equals the storage-folded one's to 1e-4, leakage to 1e-3 (4 nW here: the solver's tolerance shows; a wrong
    multiplier moved energies by 17-26 %)."""
    from cosim.types import Corner
    from tests.characterize.folding import assert_same_numbers, main_and_leakage

    corner = Corner("ss", 1.8, -40.0)
    storage = main_and_leakage(settings, models, corner, tmp_path, fold_bits=False, fold_rows=False)
    bits = main_and_leakage(settings, models, corner, tmp_path, fold_bits=True, fold_rows=False)
    assert_same_numbers(storage, bits, rel=1e-4, rel_leakage=1e-3)
