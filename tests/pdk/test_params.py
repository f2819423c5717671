"""Unused-parameter pruning of model decks (cosim.pdk.reduce.prune_params): only top-level `.param` lines that
nothing refers to go (directly or through other parameters), subckt-local defaults stay, and a simulation on the
pruned deck is bit for bit the one on the deck it was pruned from."""

from __future__ import annotations

import pytest

from cosim.pdk.reduce import ReducedDeck, build_reduced_deck, device_sizes, prune_bins, prune_params, write_reduced_deck
from tests.pdk.circuits import DEVICES, assert_pairs_simulate_alike, chain_and_latch

NFET = "sky130_fd_pr__nfet_01v8"


def _deck(text: str, pruned_from: str = "") -> ReducedDeck:
    return ReducedDeck(process="tt", devices=(), needed=(), text=text, files=(), aliases=(), pruned_from=pruned_from)


DECK = "\n".join([
    "* a deck",
    ".param mc_mm_switch=0",
    ".param unused_cap = 1e-15 vth_shift = {base_shift * 2}",  # vth_shift is used: the whole line stays
    ".param base_shift=0.01",  # used only through vth_shift
    ".param",  # a block of continuation lines, none of them used
    "+ mcm1_ca = 1.5e-05 mcm1_cc = 3e-11",
    "+ mcm2_ca = 1.6e-05",
    ".param only_in_netlist = 2",
    ".param nobody = 3",
    f".subckt {NFET} d g s b",
    ".param l = 1 w = 1 mult = 1",  # instance defaults inside a subckt: never touched
    f"m0 d g s b {NFET}__model l={{l}} w={{w}} m={{mult}}",
    ".ends",
    f".model {NFET}__model.0 nmos",
    "+ lmin = 1.5e-07 lmax = 1.8e-07 wmin = 4.2e-07 wmax = 1e-06",
    "+ vth0 = {0.49 + vth_shift * mc_mm_switch}",
])  # fmt: skip


def test_prune_params_drops_only_what_nothing_refers_to():
    deck = _deck(DECK)
    pruned = prune_params(deck, references="x1 a b c d nfet l=0.15 w={only_in_netlist}")
    kept = pruned.text.splitlines()
    assert ".param unused_cap = 1e-15 vth_shift = {base_shift * 2}" in kept
    assert ".param base_shift=0.01" in kept  # through vth_shift
    assert ".param only_in_netlist = 2" in kept  # the netlist refers to it
    assert ".param l = 1 w = 1 mult = 1" in kept
    assert not any("mcm1" in line or "mcm2" in line or "nobody" in line for line in kept)
    assert kept.count(".param") == 0  # the block's head line went with its continuation lines
    assert (pruned.params_kept, pruned.params_dropped) == (4, 2)
    # the identity a cache key names is the deck it was pruned from, through any number of prunings
    assert pruned.models_sha256 == deck.sha256 != pruned.sha256
    earlier = _deck(DECK, pruned_from="f" * 64)
    assert prune_params(earlier).models_sha256 == "f" * 64
    # without the netlist's reference its parameter goes too; nothing left to drop returns the deck itself
    assert ".param only_in_netlist = 2" not in prune_params(deck).text.splitlines()
    assert prune_params(pruned, references="only_in_netlist") is pruned


@pytest.mark.spice
def test_param_pruned_deck_simulates_bit_for_bit_as_before(models, settings):
    netlist = chain_and_latch("")
    runs = []
    for process in ("tt", "ss"):
        before = prune_bins(build_reduced_deck(models, process, DEVICES), device_sizes(netlist))
        after = prune_params(before, netlist)
        # most of sky130's parameters concern devices the circuit does not use: the point of it
        assert after.params_dropped > after.params_kept > 0, process
        assert len(after.text) < 0.8 * len(before.text), process
        assert after.models_sha256 == before.models_sha256
        for deck in (before, after):
            runs.append(chain_and_latch(f'.include "{write_reduced_deck(deck, settings.cache_dir)}"'))

    assert_pairs_simulate_alike(runs)
