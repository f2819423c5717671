"""Size-bin pruning of model decks (cosim.pdk.reduce.prune_bins): only bins no instance falls in go, a simulation
on the pruned deck is bit for bit the one on the whole deck, and a deck pruned of a bin an instance needs fails
loudly in ngspice instead of binding another bin."""

from __future__ import annotations

import pytest

from cosim.pdk.reduce import PFET_PASS, ReducedDeck, build_reduced_deck, device_sizes, prune_bins, write_reduced_deck
from cosim.sim import SimError
from tests.pdk.circuits import DEVICES, STOP_S, assert_pairs_simulate_alike, chain_and_latch

NFET = "sky130_fd_pr__nfet_01v8"
PFET = "sky130_fd_pr__pfet_01v8"


def test_device_sizes_reads_units_case_and_fingers():
    netlist = f"""* a netlist
.subckt cell a b vdd gnd
x1 a b gnd gnd {NFET} W=0.65 L=0.15 m=16
x2 a b vdd vdd {PFET}
+ w=140000u l=150000u
x3 a b gnd gnd {NFET} w = 2 l = 0.15 nf=2
x4 a b gnd gnd sky130_fd_pr__special_nfet_latch w={{wl}} l=0.15
x5 a b other_subckt
.ends
"""
    sizes = device_sizes(netlist)
    assert sizes[NFET] == {(0.15, 0.65), (0.15, 2.0), (0.15, 1.0)}  # w/nf as well
    assert [pytest.approx(size) for size in sizes[PFET]] == [(0.15, 0.14)]  # 140000u = 0.14
    assert sizes["sky130_fd_pr__special_nfet_latch"] is None  # an expression: sizes unknown, nothing pruned


def _bin(device: str, k: int, lmin: float, lmax: float, wmin: float, wmax: float) -> str:
    return f""".model {device}__model.{k} nmos
* Model Flag Parameters
+ lmin = {lmin} lmax = {lmax} wmin = {wmin} wmax = {wmax}
+ level = 54.0"""


def _deck(text: str) -> ReducedDeck:
    return ReducedDeck(process="tt", devices=(), needed=(), text=text, files=(), aliases=())


def test_prune_bins_keeps_bins_in_use_and_hands_sizes_through_subckts():
    latch, alias = "sky130_fd_pr__special_pfet_latch", PFET_PASS
    text = "\n".join([
        ".option scale=1.0u",
        f".subckt {NFET} d g s b",
        ".param l=1 w=1",
        f"m{NFET} d g s b {NFET}__model l = {{l}} w = {{w}}",
        f".ends {NFET}",
        f".subckt {alias} d g s b",
        f"x0 d g s b {latch} l={{l}} w={{w}}",
        f".ends {alias}",
        _bin(NFET, 0, 1.5e-7, 1.8e-7, 4.2e-7, 5.5e-7),  # holds w=0.5 l=0.15
        _bin(NFET, 1, 1.5e-7, 1.8e-7, 5.5e-7, 1e-6),  # holds w=0.55 (on its lower edge) and 1.0 (on its upper)
        _bin(NFET, 2, 1.8e-7, 2.5e-7, 4.2e-7, 1e-6),  # no instance with l=0.18..0.25
        _bin(latch, 0, 1.5e-7, 1.6e-7, 1.4e-7, 1.5e-7),  # the alias's instances (w=0.14)
        _bin(latch, 1, 1.5e-7, 1.6e-7, 2e-7, 3e-7),
        _bin(PFET, 0, 1e-9, 1e-8, 1e-9, 1e-8),  # a device the netlist does not say the sizes of: kept
        ".end",
    ])
    sizes = {NFET: frozenset({(0.15, 0.5), (0.15, 0.55), (0.15, 1.0)}), alias: frozenset({(0.15, 0.14)})}
    deck = _deck(text)
    pruned = prune_bins(deck, sizes)
    assert (pruned.bins_kept, pruned.bins_dropped) == (4, 2)
    for kept in (f"{NFET}__model.0", f"{NFET}__model.1", f"{latch}__model.0", f"{PFET}__model.0"):
        assert f".model {kept} " in pruned.text
    for dropped in (f"{NFET}__model.2", f"{latch}__model.1"):
        assert f".model {dropped} " not in pruned.text
    # the card's + lines go with it; everything else stays
    assert pruned.text.count("+ level = 54.0") == 4 and f".subckt {alias} d g s b" in pruned.text
    # a simulation on the pruned deck is keyed as the whole deck's
    assert pruned.models_sha256 == deck.sha256 != pruned.sha256
    # unknown sizes (an expression) keep every bin; nothing to drop returns the deck itself
    assert prune_bins(deck, {NFET: None, alias: None}) is deck


@pytest.mark.spice
def test_pruned_deck_simulates_bit_for_bit_as_the_whole_deck(models, settings):
    netlist = chain_and_latch("")
    sizes = device_sizes(netlist)
    runs = []
    for process in ("tt", "ss"):
        whole = build_reduced_deck(models, process, DEVICES)
        pruned = prune_bins(whole, sizes)
        assert pruned.bins_dropped > 10 * pruned.bins_kept, process  # most bins go: the point of it
        assert pruned.models_sha256 == whole.sha256
        for deck in (whole, pruned):
            runs.append(chain_and_latch(f'.include "{write_reduced_deck(deck, settings.cache_dir)}"'))

    assert_pairs_simulate_alike(runs)


@pytest.mark.spice
def test_a_deck_pruned_of_a_needed_bin_fails_loudly(models, settings):
    from cosim.sim import run_deck

    netlist = chain_and_latch("")
    wrong = dict(device_sizes(netlist))
    wrong[NFET] = frozenset({(0.15, 7.0)})  # not the chain's 0.5 um nfets: their bin is pruned away
    deck = write_reduced_deck(prune_bins(build_reduced_deck(models, "tt", DEVICES), wrong), settings.cache_dir)
    with pytest.raises(SimError):
        run_deck(chain_and_latch(f'.include "{deck}"'), expect_stop_s=STOP_S)


def test_pdk_deck_command_prunes_to_the_netlists_sizes(settings, models):
    from click.testing import CliRunner

    from cosim.pdk.cli import deck

    netlist = settings.netlists_dir / "sram_8x16.sp"
    runner = CliRunner()
    pruned = runner.invoke(deck, ["--process", "tt", "--netlist", str(netlist)])
    assert pruned.exit_code == 0, pruned.output
    whole = runner.invoke(deck, ["--process", "tt", "--device", NFET, "--device", PFET])
    assert whole.exit_code == 0, whole.output

    def bins(result) -> int:
        path = next(line for line in result.output.splitlines() if line.endswith(".spice"))
        return sum(line.startswith(".model sky130_fd_pr__") for line in open(path))

    assert 0 < bins(pruned) < bins(whole) / 4
