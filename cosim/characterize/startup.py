"""The state a Monte Carlo sample starts in: the chip-select flop deselected, the bit lines precharged.

A deck starts from `uic` with only the storage cells set. Every other node starts at 0 V, and OpenRAM's sky130
chip-select flop resolves from there to "selected" although csb is high; with the clock low, the row at the
address flops' start-up value (0) then opens before the first edge, with the bit lines not precharged, and the
sense amps push it toward 1 (docs/monte-carlo.md). Here the flop's own subckt, from the macro's netlist, is
simulated alone at the sample's corner and models with csb high through one clock pulse; its node voltages at the
end (clock low again, as a deck starts) become initial conditions under the flop's instance path. Nothing about
the flop's insides is assumed.

The bit lines start at VDD, as a precharge leaves them. From 0 V they would stay unprecharged through the deselected
settle cycles (OpenRAM precharges only in selected cycles), each sense amp's latch would pull one of its pair high,
and the first access would start from a pair set by the latch's start-up, not by the circuit: at slow-PMOS corners
one precharge half-cycle does not restore it, so the first write failed or passed by that accident.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cosim.characterize.keys import deck_identity
from cosim.errors import NetlistError
from cosim.files import write_atomic
from cosim.netlist import Netlist
from cosim.netlist.spice import Subckt
from cosim.sim import SimError, SimOptions, run
from cosim.types import Corner

#: the lone flop's clock: it rises, falls again (a deck starts with the clock low), and the run ends (the flop
#: settles in ~0.2 ns)
_RISE_S, _FALL_S, _STOP_S, _SLEW_S = 0.5e-9, 1.0e-9, 1.5e-9, 50e-12
#: the seed the lone flop's mismatch is drawn with (its initial conditions only pick the state, so any fixed one)
_SEED = 1


def instances(netlist: Netlist, wanted) -> list[tuple[str, dict[str, str], Subckt]]:
    """(path, port -> flat net, subckt) of every instance of a subckt for which ``wanted(subckt)`` holds, parents
    before children, with the flat net names of cosim.characterize.bitfold.flatten."""
    top = netlist.top_subckt
    out = []

    def walk(sub, nets: dict[str, str], prefix: str) -> None:
        for e in sub.elements:
            if e.kind != "X" or not netlist.is_subckt(e.ref):
                continue
            nodes = tuple(nets.get(n.lower()) or (n if n == "0" else f"{prefix}{n.lower()}") for n in e.nodes)
            child = netlist.subckt(e.ref)
            ports = {p.lower(): n for p, n in zip(child.ports, nodes)}
            if wanted(child):
                out.append((f"{prefix}{e.name.lower()}", ports, child))
            walk(child, ports, f"{prefix}{e.name.lower()}.")

    walk(top, {p.lower(): p for p in top.ports}, "")
    return out


def has_ports(*names: str):
    """A subckt predicate: the subckt has all these ports (case-insensitive). OpenRAM's cells are known by their
    ports, not their names, which carry the macro's prefix."""
    want = set(names)
    return lambda sub: want <= {p.lower() for p in sub.ports}


is_sense_amp = has_ports("bl", "br", "en", "dout")  #: OpenRAM's sense amplifier
is_precharge = has_ports("bl", "br", "en_bar")  #: OpenRAM's precharge cell
is_flop = has_ports("d", "clk")


def precharged_nets(netlist: Netlist) -> tuple[str, ...]:
    """Flat nets a precharge leaves at VDD: every precharge cell's bit lines (OpenRAM's precharge: ports BL, BR,
    EN_BAR), every sense amp's inputs (BL, BR, EN, DOUT; the column mux's outputs) and the sense amp's inner nodes
    that a device joins to those inputs (its isolation pair, open while the enable is low, which the precharge
    charges through)."""
    nets: dict[str, None] = {}
    for _, ports, _ in instances(netlist, is_precharge):
        nets.update({ports["bl"]: None, ports["br"]: None})
    for path, ports, sub in instances(netlist, is_sense_amp):
        nets.update({ports["bl"]: None, ports["br"]: None})
        own = {p.lower() for p in sub.ports}
        for e in sub.elements:  # a device's drain or source on BL / BR: the other side is an inner node
            if e.kind in ("M", "X") and len(e.nodes) >= 4:
                for a, b in ((e.nodes[0], e.nodes[2]), (e.nodes[2], e.nodes[0])):
                    if a.lower() in ("bl", "br") and b.lower() not in own:
                        nets[f"{path}.{b.lower()}"] = None
    return tuple(nets)


@dataclass(frozen=True)
class StartFlop:
    """The outermost flop instance whose D input is the macro's csb port."""

    path: str  #: instance path below the macro (flat names: "xcontrol0.xctrl_dffs.xdff_r0_c0")
    subckt: str
    ports: tuple[tuple[str, str], ...]  #: (subckt port, flat net in the macro), in the subckt's order


def start_flop(netlist: Netlist, csb: str, sp_path: Path) -> StartFlop:
    """Find the chip-select flop: a subckt with a D and a clock port whose D is ``csb``. NetlistError when none."""
    for path, ports, sub in instances(netlist, is_flop):
        if ports["d"].lower() == csb.lower():
            return StartFlop(path, sub.name, tuple((p, ports[p.lower()]) for p in sub.ports))
    raise NetlistError(f"{sp_path}: no flop (a subckt with ports D and CLK) takes {csb} on D")


def flop_state(flop: StartFlop, sp_path: Path, model_deck: Path, corner: Corner, power: str, ground: str,
               cache_dir: Path, sim: SimOptions = SimOptions()) -> tuple[tuple[str, float], ...]:
    """(flat node below the macro, volts) of every node of the flop after it loaded csb = 1, at ``corner``: the
    lone flop's run (module doc), cached under ``cache_dir`` by its deck's content."""
    vdd = corner.vdd_v
    names = {}
    for port, net in flop.ports:
        if net.lower() == power.lower():
            names[port] = "vdd"
        elif net.lower() == ground.lower() or net == "0":
            names[port] = "0"
        elif port.lower() == "d":
            names[port] = "d"
        elif port.lower() == "clk":
            names[port] = "clk"
        else:
            names[port] = f"out_{port.lower()}"
    deck = "\n".join([
        f"* lone start-up flop {flop.subckt} of {sp_path.name} (cosim.characterize.startup)",
        f".option seed={_SEED}",
        f'.include "{model_deck}"',
        f'.include "{sp_path}"',
        f".temp {corner.temp_c}",
        f"v_vdd vdd 0 {vdd}",
        f"v_d d 0 {vdd}",
        f"v_clk clk 0 pwl(0 0 {_RISE_S - _SLEW_S / 2:.4e} 0 {_RISE_S + _SLEW_S / 2:.4e} {vdd} "
        f"{_FALL_S - _SLEW_S / 2:.4e} {vdd} {_FALL_S + _SLEW_S / 2:.4e} 0)",
        "x_flop " + " ".join(names[p] for p, _ in flop.ports) + f" {flop.subckt}",
        f".tran 1e-12 {_STOP_S:.4e} uic",
        ".save all",
        ".end",
    ]) + "\n"  # fmt: skip
    shas = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in (model_deck, sp_path)}
    cached = Path(cache_dir) / "startup" / f"{deck_identity(deck, shas)[:20]}.json"
    if cached.exists():
        return tuple((n, float(v)) for n, v in json.loads(cached.read_text()))
    try:
        r = run(deck, None, _STOP_S, "batch", sim)
    except SimError as exc:  # never a state: the samples would start from a guess
        raise type(exc)(f"{sp_path.name} at {corner.name}: the lone chip-select flop's run: {exc}") from None
    outputs = {f"out_{p.lower()}": net for p, net in flop.ports}
    state = []
    for name, wave in sorted(r.vectors.items()):
        if name.startswith("x_flop."):
            node = f"{flop.path}.{name[len('x_flop.'):]}"
        elif name in outputs:
            node = outputs[name]
        else:
            continue
        state.append((node, round(float(wave[-1]), 3) + 0.0))  # mV: the state, not the waveform's last digits
    if not state:
        raise NetlistError(f"{sp_path}: the lone {flop.subckt} run saved no node of the flop")
    write_atomic(cached, json.dumps(state))
    return tuple(state)
