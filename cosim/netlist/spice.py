"""Read a SPICE netlist of subcircuits into a typed tree, refuse what is unsafe to simulate, write it back.

What is accepted is the subset ngspice reads that SRAM macro netlists use:

- full-line comments (``*``), inline comments (``$`` after whitespace, ``;``), ``+`` continuation lines (comment and
  blank lines between a card and its continuations are skipped, as ngspice does);
- ``.subckt NAME PORTS... [PARAMS]`` / ``.ends [NAME]`` (not nested), element lines (``X``, ``M``, ``R``, ``C``,
  ``L``, ``D``, ...), ``.model`` (declares a device model), ``.global``/``.param``/``.option`` (kept verbatim),
  ``.end`` (stops reading);
- ``.include``/``.inc`` of a *relative* path that stays inside the netlist's folder: it is read in place. An
  absolute path or one leaving the folder is refused: the netlist is committed and simulated on other machines, so
  it must be self-contained and must never pull in files from wherever it happens to be run.

Refused, with a :class:`~cosim.errors.NetlistError` naming the file and line: ``.control``/``.endc`` blocks,
``shell``/``system`` commands and ``*#`` lines (ngspice runs those as control commands: they could run arbitrary
commands), anything after ``.end`` (ngspice may read past it), includes nested deeper than
:data:`MAX_INCLUDE_DEPTH`, a subckt that instantiates itself through any chain, text that is not UTF-8, ``.lib`` (a macro netlist must not pick
the device models or the process corner: the simulator layer adds the model library for the corner it runs), an
unterminated or nested ``.subckt``, a stray ``.ends``, a duplicate subckt, an instance of a subckt that is neither
defined nor a known device model, an instance whose node count differs from the subckt's ports, a missing or empty
file. The SPICE title-line rule is not applied: these are library netlists (included by a deck), not decks.

SPICE is case-insensitive: names are compared lower-cased, but kept as written so that :func:`to_spice` returns
what was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from cosim.errors import NetlistError

#: device models that are not defined in a netlist but by the PDK model library the simulator includes:
#: every sky130 primitive (fets, special SRAM fets, resistors, capacitors, diodes) is named sky130_fd_pr__*.
KNOWN_MODEL_PREFIXES: tuple[str, ...] = ("sky130_fd_pr__",)

#: element letter -> number of nodes before the model/value token (X is variable: all but the last token)
_NODE_COUNTS = {"m": 4, "d": 2, "r": 2, "c": 2, "l": 2, "q": 3, "j": 3, "z": 3}
_KEPT_CARDS = (".global", ".param", ".option", ".options", ".temp", ".model", ".func", ".csparam")
_FORBIDDEN_FIRST_WORDS = ("shell", "system", ".shell", ".system", ".exec")
#: how deep .include may nest (a macro netlist needs one or two levels)
MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True)
class Element:
    """One element card: ``name nodes... [ref] [params]``.

    For ``X`` elements ``ref`` is the subckt or device model called; for ``M``/``D``/``Q``/``J``/``Z`` the model;
    for ``R``/``C``/``L`` the value (or model) token if present; for other elements (sources, ...) ``None`` and
    every token but the name is a node."""

    name: str
    nodes: tuple[str, ...]
    ref: str | None
    params: tuple[tuple[str, str], ...] = ()
    #: first line of the card in its file (0 when built in code); not part of equality: where, not what
    line: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        return self.name[0].upper()

    def to_spice(self) -> str:
        tokens = [self.name, *self.nodes]
        if self.ref is not None:
            tokens.append(self.ref)
        tokens.extend(f"{k}={v}" for k, v in self.params)
        return _wrap(tokens)


@dataclass(frozen=True)
class Subckt:
    name: str
    ports: tuple[str, ...]
    elements: tuple[Element, ...]
    params: tuple[tuple[str, str], ...] = ()
    cards: tuple[str, ...] = ()  #: kept dot-cards inside the subckt (.param, ...), verbatim
    line: int = field(default=0, compare=False)

    def to_spice(self) -> str:
        head = _wrap([".SUBCKT", self.name, *self.ports, *(f"{k}={v}" for k, v in self.params)])
        body = [*self.cards, *(e.to_spice() for e in self.elements)]
        return "\n".join([head, *body, f".ENDS {self.name}"])


@dataclass(frozen=True)
class Netlist:
    """A parsed netlist: subckts by lower-cased name (in file order), the top subckt, and what lies outside."""

    path: Path | None
    subckts: Mapping[str, Subckt]
    top: str  #: name (as written) of the subckt no other subckt instantiates
    models: frozenset[str] = frozenset()  #: lower-cased names declared with .model
    cards: tuple[str, ...] = ()  #: kept top-level dot-cards, verbatim
    elements: tuple[Element, ...] = ()  #: elements outside any subckt

    def subckt(self, name: str) -> Subckt:
        try:
            return self.subckts[name.lower()]
        except KeyError:
            raise NetlistError(f"{self.path or '<netlist>'}: no subckt named {name}") from None

    @property
    def top_subckt(self) -> Subckt:
        return self.subckt(self.top)

    @property
    def ports(self) -> tuple[str, ...]:
        return self.top_subckt.ports

    def is_subckt(self, ref: str | None) -> bool:
        return ref is not None and ref.lower() in self.subckts

    def device_models(self) -> tuple[str, ...]:
        """Sorted names of the device models used (``X`` calls of PDK models, and models of M/D/Q/J/Z elements)."""
        used: set[str] = set()
        for sub in self.subckts.values():
            for e in sub.elements:
                if e.kind == "X" and not self.is_subckt(e.ref):
                    used.add(e.ref or "")
                elif e.kind in "MDQJZ" and e.ref is not None:
                    used.add(e.ref)
        return tuple(sorted(used, key=str.lower))

    def to_spice(self) -> str:
        """The netlist as SPICE text (comments are not kept); :func:`parse_text` of it gives an equal Netlist."""
        parts = [f"* {self.top}: written by cosim.netlist"]
        parts.extend(self.cards)
        parts.extend(s.to_spice() for s in self.subckts.values())
        parts.extend(e.to_spice() for e in self.elements)
        return "\n".join(parts) + "\n"

    def with_subckt(self, sub: Subckt) -> Netlist:
        """A copy with ``sub`` replacing (or added after) the subckt of the same name."""
        subs = dict(self.subckts)
        subs[sub.name.lower()] = sub
        return replace(self, subckts=MappingProxyType(subs))

    def __eq__(self, other: object) -> bool:  # the path is where it came from, not what it is
        if not isinstance(other, Netlist):
            return NotImplemented
        return (
            dict(self.subckts) == dict(other.subckts)
            and list(self.subckts) == list(other.subckts)
            and self.top.lower() == other.top.lower()
            and self.models == other.models
            and self.cards == other.cards
            and self.elements == other.elements
        )

    __hash__ = None  # type: ignore[assignment]


# ----------------------------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class _Card:
    text: str  #: comments stripped, continuations joined
    line: int
    file: Path | None


def _strip_inline_comment(line: str) -> str:
    # ngspice: ';' starts a comment anywhere; '$' when it starts the line or follows whitespace
    cut = line.find(";")
    if cut >= 0:
        line = line[:cut]
    m = re.search(r"(^|\s)\$", line)
    if m:
        line = line[: m.start()]
    return line.rstrip()


def _cards(text: str, where: Path | None) -> Iterator[_Card]:
    """Logical cards: full-line comments and blanks dropped, inline comments stripped, '+' lines joined."""
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("*#"):
            raise NetlistError(f"{where or '<netlist>'}:{number}: a '*#' line is a control command to ngspice, not a "
                               "comment; remove it or write '* #'")
        if not stripped or stripped.startswith("*"):
            continue
        body = _strip_inline_comment(stripped)
        if not body:  # a line that is all comment (';' or '$' forms)
            continue
        if body.startswith("+"):
            if not current:
                raise NetlistError(f"{where or '<netlist>'}:{number}: continuation line '+' with no card before it; join it to a card")
            current.append(body[1:].strip())
            continue
        if current:
            yield _Card(" ".join(p for p in current if p), start, where)
        current, start = [body], number
    if current:
        yield _Card(" ".join(p for p in current if p), start, where)


_TOKEN = re.compile(r"\{[^}]*\}|'[^']*'|\"[^\"]*\"|[^\s=]+=\s*(?:\{[^}]*\}|'[^']*'|\S+)|\S+")


def _tokens(text: str) -> list[str]:
    # 'w = 0.5' -> 'w=0.5' so params tokenise the same whatever the spacing; braces/quotes keep their spaces
    text = re.sub(r"\s*=\s*", "=", text)
    return _TOKEN.findall(text)


def _split_params(tokens: list[str]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """Positional tokens, then key=value params (params start at the first token holding '=')."""
    for i, tok in enumerate(tokens):
        if "=" in tok and not tok.startswith(("{", "'", '"')):
            params = []
            for p in tokens[i:]:
                if "=" not in p:
                    raise NetlistError(f"positional token {p!r} after parameters")
                k, v = p.split("=", 1)
                params.append((k, v))
            return tokens[:i], tuple(params)
    return tokens, ()


def _element(card: _Card, tokens: list[str]) -> Element:
    name = tokens[0]
    try:
        positional, params = _split_params(tokens[1:])
    except NetlistError as exc:
        raise _err(card, f"{exc}; write parameters last as key=value") from None
    letter = name[0].lower()
    if letter == "x":
        if not positional:
            raise _err(card, f"instance {name} names no subckt; write 'X<name> <nodes...> <subckt>'")
        return Element(name, tuple(positional[:-1]), positional[-1], params, card.line)
    n = _NODE_COUNTS.get(letter)
    if n is None:  # sources and other elements: keep every token as a node
        return Element(name, tuple(positional), None, params, card.line)
    if len(positional) < n:
        raise _err(card, f"element {name} has {len(positional)} nodes, {n} needed")
    ref = positional[n] if len(positional) > n else None
    if len(positional) > n + 1:
        raise _err(card, f"element {name} has unexpected tokens {positional[n + 1:]}; write parameters as key=value")
    return Element(name, tuple(positional[:n]), ref, params, card.line)


def _err(card: _Card, msg: str) -> NetlistError:
    return NetlistError(f"{card.file or '<netlist>'}:{card.line}: {msg}")


def _include_path(card: _Card, arg: str, base_dir: Path | None) -> Path:
    arg = arg.strip("'\"")
    if base_dir is None:
        raise _err(card, f".include {arg} in a netlist read from text; inline the included file")
    if Path(arg).is_absolute() or arg.startswith("~"):
        raise _err(card, f".include of the absolute path {arg}: netlists must be self-contained; inline the file or include it by a path relative to the netlist")
    target = (base_dir / arg).resolve()
    if not target.is_relative_to(base_dir.resolve()):
        raise _err(card, f".include {arg} leaves the netlist's folder {base_dir}; copy the file beside the netlist or inline it")
    return target


def _all_cards(text: str, where: Path | None, seen: tuple[Path, ...]) -> Iterator[_Card]:
    base_dir = where.parent if where is not None else None
    for card in _cards(text, where):
        first = card.text.split(None, 1)[0].lower()
        if first in (".include", ".inc"):
            parts = card.text.split(None, 1)
            if len(parts) < 2:
                raise _err(card, ".include names no file; give a path relative to the netlist")
            target = _include_path(card, parts[1], base_dir)
            if target in seen:
                raise _err(card, f".include {parts[1]} includes itself (cycle {' -> '.join(p.name for p in seen)}); remove the cycle")
            if not target.is_file():
                raise _err(card, f".include {parts[1]}: no such file {target}; regenerate or copy it beside the netlist")
            if len(seen) > MAX_INCLUDE_DEPTH:
                raise _err(card, f".include {parts[1]} nests deeper than {MAX_INCLUDE_DEPTH} files; inline some of them")
            yield from _all_cards(_decode(target.read_bytes(), target), target, (*seen, target))
            continue
        if first == ".end":
            after = _content_after(text, card.line)
            if after is not None:
                raise _err(card, f"line {after} follows .end (ngspice may read it); remove everything after .end")
            return
        yield card


def _content_after(text: str, line: int) -> int | None:
    """The number of the first non-blank line after ``line``, or None."""
    for number, raw in enumerate(text.splitlines()[line:], start=line + 1):
        if raw.strip():
            return number
    return None


def _decode(data: bytes, where: Path | None) -> str:
    """Netlist bytes as text: UTF-8 (ASCII in practice), a byte-order mark dropped; anything else refused."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NetlistError(f"{where or '<netlist>'}: byte {exc.start} is not UTF-8 text; save the netlist as UTF-8 "
                           "(or ASCII)") from None


def parse_text(text: str, where: Path | None = None, top: str | None = None) -> Netlist:
    """Parse netlist text. ``where`` names the file in errors and anchors relative includes. ``top`` picks the
    top subckt when several are never instantiated (else that is an error)."""
    origin = str(where) if where is not None else "<netlist>"
    subckts: dict[str, Subckt] = {}
    models: set[str] = set()
    cards: list[str] = []
    top_elements: list[Element] = []
    open_sub: tuple[_Card, str, tuple[str, ...], tuple[tuple[str, str], ...]] | None = None
    body: list[Element] = []
    body_cards: list[str] = []
    seen_any = False

    start = (where.resolve(),) if where is not None else ()
    for card in _all_cards(text, where, start):
        seen_any = True
        tokens = _tokens(card.text)
        first = tokens[0].lower()
        if first in (".control", ".endc"):
            raise _err(card, f"{tokens[0]} block: a netlist must not carry simulator commands; remove the .control ... .endc block")
        if first in _FORBIDDEN_FIRST_WORDS:
            raise _err(card, f"'{tokens[0]}' runs a system command; remove it from the netlist")
        if first == ".lib":
            raise _err(card, ".lib in a macro netlist: the simulator adds the device-model library for the corner it runs; remove the .lib card")
        if first == ".subckt":
            if open_sub is not None:
                raise _err(card, f"nested .subckt inside {open_sub[1]} (opened at line {open_sub[0].line}); close it with .ends first")
            if len(tokens) < 2:
                raise _err(card, ".subckt without a name; write '.subckt NAME ports...'")
            try:
                ports, params = _split_params(tokens[2:])
            except NetlistError as exc:
                raise _err(card, f"{exc}; write subckt parameters last") from None
            if tokens[1].lower() in subckts:
                prev = subckts[tokens[1].lower()]
                raise _err(card, f"subckt {tokens[1]} is defined twice (first at line {prev.line}); rename or remove one")
            open_sub = (card, tokens[1], tuple(ports), params)
            body, body_cards = [], []
            continue
        if first == ".ends":
            if open_sub is None:
                raise _err(card, ".ends without a .subckt; remove it or add the .subckt card")
            sub_card, name, ports, params = open_sub
            if len(tokens) > 1 and tokens[1].lower() != name.lower():
                raise _err(card, f".ends {tokens[1]} closes subckt {name} (opened at line {sub_card.line}); fix the name")
            subckts[name.lower()] = Subckt(name, ports, tuple(body), params, tuple(body_cards), sub_card.line)
            open_sub = None
            continue
        if first.startswith("."):
            if first == ".model" and len(tokens) > 1:
                models.add(tokens[1].lower())
            if first not in _KEPT_CARDS:
                raise _err(card, f"unsupported card {tokens[0]} in a macro netlist; remove it (the simulator layer adds analyses and options)")
            (body_cards if open_sub is not None else cards).append(card.text)
            continue
        element = _element(card, tokens)
        (body if open_sub is not None else top_elements).append(element)

    if open_sub is not None:
        raise NetlistError(f"{origin}:{open_sub[0].line}: .subckt {open_sub[1]} is never closed; add '.ends {open_sub[1]}'")
    if not seen_any:
        raise NetlistError(f"{origin}: the netlist is empty; regenerate it (make netlists)")
    if not subckts:
        raise NetlistError(f"{origin}: the netlist defines no subckt; a macro netlist is a .subckt ... .ends block")

    _check_references(origin, subckts, models)
    _check_no_recursion(origin, subckts)
    chosen = _find_top(origin, subckts, top)
    return Netlist(
        path=where,
        subckts=MappingProxyType(subckts),
        top=chosen,
        models=frozenset(models),
        cards=tuple(cards),
        elements=tuple(top_elements),
    )


def is_known_model(ref: str, models: Iterable[str] = ()) -> bool:
    low = ref.lower()
    return low.startswith(KNOWN_MODEL_PREFIXES) or low in set(models)


def _check_no_recursion(origin: str, subckts: Mapping[str, Subckt]) -> None:
    """Refuse a subckt that instantiates itself through any chain (flattening it would never end)."""
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            cycle = " -> ".join(subckts[n].name for n in (*chain[chain.index(name):], name))
            raise NetlistError(f"{origin}: subckt {subckts[name].name} instantiates itself ({cycle}); break the cycle")
        if name in done:
            return
        for e in subckts[name].elements:
            if e.name[:1].lower() == "x" and e.ref and e.ref.lower() in subckts:
                visit(e.ref.lower(), (*chain, name))
        done.add(name)

    for name in subckts:
        visit(name, ())


def _check_references(origin: str, subckts: Mapping[str, Subckt], models: set[str]) -> None:
    for sub in subckts.values():
        for e in sub.elements:
            if e.kind != "X" or e.ref is None:
                continue
            callee = subckts.get(e.ref.lower())
            if callee is None:
                if is_known_model(e.ref, models):
                    continue
                raise NetlistError(
                    f"{origin}:{e.line}: {e.name} in {sub.name} instantiates {e.ref}, which is neither a subckt of "
                    f"this netlist nor a known device model ({', '.join(p + '*' for p in KNOWN_MODEL_PREFIXES)}); "
                    "add its .subckt or fix the name"
                )
            if len(e.nodes) != len(callee.ports):
                raise NetlistError(
                    f"{origin}:{e.line}: {e.name} in {sub.name} connects {len(e.nodes)} nodes to {callee.name}, "
                    f"which has {len(callee.ports)} ports; fix the instance"
                )


def _find_top(origin: str, subckts: Mapping[str, Subckt], wanted: str | None) -> str:
    if wanted is not None:
        if wanted.lower() not in subckts:
            raise NetlistError(f"{origin}: no subckt named {wanted}; the netlist defines {', '.join(s.name for s in list(subckts.values())[:5])}, ...")
        return subckts[wanted.lower()].name
    called = {e.ref.lower() for s in subckts.values() for e in s.elements if e.kind == "X" and e.ref}
    roots = [s.name for key, s in subckts.items() if key not in called]
    if len(roots) != 1:
        raise NetlistError(
            f"{origin}: {len(roots)} subckts are never instantiated ({', '.join(roots[:5])}); name the top subckt "
            "(the macro .json's 'name') explicitly"
        )
    return roots[0]


def read_netlist(path: Path | str, top: str | None = None) -> Netlist:
    """Read and check a SPICE netlist file (see the module doc for what is refused)."""
    path = Path(path)
    if not path.is_file():
        raise NetlistError(f"{path}: no such netlist file; run 'make netlists' or check the path")
    text = _decode(path.read_bytes(), path)
    if not text.strip():
        raise NetlistError(f"{path}: the netlist is empty; regenerate it (make netlists)")
    return parse_text(text, path, top=top)


# ----------------------------------------------------------------------------------------------------------------
# writing


def _wrap(tokens: list[str], width: int = 100) -> str:
    """Join tokens into one card, continued with '+' lines no longer than ``width`` (ngspice reads any length,
    but diffs and editors do better with short lines)."""
    lines: list[str] = []
    cur = ""
    for tok in tokens:
        if cur and len(cur) + 1 + len(tok) > width:
            lines.append(cur)
            cur = "+ " + tok
        else:
            cur = f"{cur} {tok}" if cur else tok
    lines.append(cur)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# hierarchy


@dataclass(frozen=True)
class Placement:
    """A leaf (or any) instance reached from the top: its hierarchical path and where it sits."""

    path: tuple[str, ...]  #: instance names from the top subckt down, e.g. ("Xbank0", "Xbitcell_array", ...)
    element: Element  #: the instance card in its parent subckt
    parent: str  #: name of the subckt holding the card

    @property
    def ngspice_path(self) -> str:
        """The dotted path ngspice uses for nodes/devices below the top instance (lower-cased by ngspice)."""
        return ".".join(p.lower() for p in self.path)


def walk(netlist: Netlist, root: str | None = None, prefix: tuple[str, ...] = ()) -> Iterator[Placement]:
    """Every element below ``root`` (default: the top subckt), depth first, with its hierarchical path."""
    sub = netlist.subckt(root or netlist.top)
    for e in sub.elements:
        here = (*prefix, e.name)
        yield Placement(here, e, sub.name)
        if e.kind == "X" and netlist.is_subckt(e.ref):
            yield from walk(netlist, e.ref, here)


def flatten_hierarchy(netlist: Netlist, root: str | None = None) -> list[Placement]:
    """The leaf elements (devices: PDK-model calls, M/R/C/... cards) below ``root`` with their full paths, i.e. the
    flat netlist ngspice builds. The 2 KB macro has a few hundred thousand; use :func:`walk` to stream."""
    return [p for p in walk(netlist, root) if not (p.element.kind == "X" and netlist.is_subckt(p.element.ref))]


def find_instances(netlist: Netlist, pattern: str | re.Pattern[str], root: str | None = None) -> list[Placement]:
    """Placements (any depth below ``root``) whose instance name fully matches ``pattern`` (case-insensitive)."""
    rx = re.compile(pattern, re.I) if isinstance(pattern, str) else pattern
    return [p for p in walk(netlist, root) if rx.fullmatch(p.element.name)]


def instance_counts(netlist: Netlist, root: str | None = None) -> dict[str, int]:
    """How many times each subckt/model is placed below ``root`` once the hierarchy is flattened."""
    memo: dict[str, dict[str, int]] = {}

    def count(name: str) -> dict[str, int]:
        key = name.lower()
        if key in memo:
            return memo[key]
        total: dict[str, int] = {}
        for e in netlist.subckt(name).elements:
            if e.ref is None or e.kind not in "XMDQJZ":  # R/C/L refs are values, not models
                continue
            is_sub = e.kind == "X" and netlist.is_subckt(e.ref)
            # one key per subckt/model whatever the case it is written in (SPICE names are case-insensitive)
            ref = netlist.subckt(e.ref).name if is_sub else e.ref.lower()
            total[ref] = total.get(ref, 0) + 1
            if is_sub:
                for k, v in count(ref).items():
                    total[k] = total.get(k, 0) + v
        memo[key] = total
        return total

    return dict(sorted(count(root or netlist.top).items()))

