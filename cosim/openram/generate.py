"""Generate the committed macro netlists: run OpenRAM per config, normalise its netlist, describe it in a .json.

For each ``openram_configs/<name>.py`` this writes ``netlists/<name>.sp`` (self-contained: every cell subckt is
inlined by OpenRAM; no .include, no dates, no absolute paths) and ``netlists/<name>.json`` (the macro's
organisation, ports, and provenance hashes; see :mod:`cosim.netlist.macro` for the reader). Re-running gives
byte-identical files for unchanged configs, OpenRAM version and bitcell library.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cosim.config import PROJECT_ROOT, Settings
from cosim.errors import ConfigError, NetlistError
from cosim.netlist.macro import MACRO_SCHEMA, find_bitcell_array, port_buses
from cosim.netlist.spice import parse_text
from cosim.openram.setup import OpenramEnv, prepare

#: seconds one OpenRAM run may take (the 2 KB macro takes well under a minute; a hang must not block make)
DEFAULT_TIMEOUT_S = 900


@dataclass(frozen=True)
class Generated:
    name: str
    sp_path: Path
    json_path: Path
    seconds: float  #: OpenRAM's run time (subprocess wall clock)
    sp_bytes: int


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def list_configs(configs_dir: Path, names: tuple[str, ...] | list[str] = ()) -> list[Path]:
    """The config files to run: all ``sram_*.py`` in ``configs_dir``, or the ones named (stem or file name)."""
    available = {p.stem: p for p in sorted(configs_dir.glob("sram_*.py"))}
    if not names:
        if not available:
            raise ConfigError(f"{configs_dir}: no sram_*.py OpenRAM configs; add one or check COSIM settings")
        return list(available.values())
    chosen = []
    for n in names:
        stem = Path(n).stem
        if stem not in available:
            raise ConfigError(f"unknown OpenRAM config {n!r}: {configs_dir} has {', '.join(available) or 'none'}")
        chosen.append(available[stem])
    return chosen


def openram_version() -> str:
    try:
        return version("openram")
    except PackageNotFoundError:
        raise NetlistError("openram is not installed: run 'make netlists' (pip install -e '.[openram]')") from None


def run_openram(config: Path, env: OpenramEnv, run_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Path, dict, float]:
    """Run OpenRAM on ``config`` in a subprocess; return (raw netlist, organisation info, seconds).
    Its output (and OpenRAM's own .log) stays in ``run_dir``; a failure names the config and the log."""
    name = config.stem
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.iterdir():  # a fresh run: never pick up a previous run's netlist
        if old.is_file():
            old.unlink()
    raw_sp = run_dir / f"{name}.sp"
    info_json = run_dir / "info.json"
    log = run_dir / "openram.log"
    environ = env.environ(dict(os.environ))
    # the driver is part of cosim: make it importable whether or not cosim is installed in this interpreter
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), environ.get("PYTHONPATH", "")) if p)
    # OpenRAM writes subckts in the iteration order of sets of modules, which hash by name: fixing the string-hash
    # seed makes that order, hence the netlist text, the same on every run
    environ["PYTHONHASHSEED"] = "0"
    cmd = [sys.executable, "-m", "cosim.openram._driver", str(config.resolve()), str(raw_sp), str(info_json)]
    start = time.monotonic()
    with log.open("w") as out:
        try:
            proc = subprocess.run(cmd, cwd=run_dir, env=environ, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise NetlistError(f"OpenRAM on {config} ran over {timeout_s:.0f} s and was stopped; see {log}") from None
    seconds = time.monotonic() - start
    if proc.returncode != 0 or not raw_sp.is_file() or not info_json.is_file():
        raise NetlistError(f"OpenRAM failed on {config} (exit {proc.returncode}); see {log}")
    return raw_sp, json.loads(info_json.read_text()), seconds


def _top_block(lines: list[str], name: str) -> tuple[int, int]:
    start = next((i for i, l in enumerate(lines) if re.match(rf"\.subckt\s+{re.escape(name)}\s*$", l, re.I)), None)
    if start is None:
        raise NetlistError(f"OpenRAM's netlist has no top subckt {name}; check its log")
    end = next(i for i in range(start, len(lines)) if re.match(r"\.ends\b", lines[i], re.I))
    return start, end


def fix_undriven_bus_bits(lines: list[str], name: str) -> tuple[list[str], list[str]]:
    """Repair OpenRAM 1.2.48's single-spare-column wiring in the top subckt.

    With ``num_spare_cols = 1`` OpenRAM declares the top port ``spare_wen0`` but wires the spare-column
    write-enable flop to the net ``spare_wen0[0]``, which is then an internal net nothing drives (and the port goes
    nowhere). Generally: a scalar top port ``P`` while the body uses ``P[0]`` and no other ``P[i]``. We rename the
    net to the port; each repair is recorded in the .json ``fixes``."""
    start, end = _top_block(lines, name)
    header = []
    i = start
    header.append(lines[i])
    while i + 1 < end and lines[i + 1].startswith("+"):
        i += 1
        header.append(lines[i])
    ports = " ".join(l.lstrip("+") for l in header).split()[2:]
    body = lines[i + 1 : end]
    body_tokens = {t for l in body if not l.startswith("*") for t in l.lstrip("+").split()}
    fixes = []
    out = list(lines)
    for port in ports:
        if "[" in port or f"{port}[0]" not in body_tokens or f"{port}[0]" in ports:
            continue
        if any(re.fullmatch(rf"{re.escape(port)}\[[1-9]\d*\]", t) for t in body_tokens):
            continue
        pattern = re.compile(rf"(?<!\S){re.escape(port)}\[0\](?!\S)")
        for j in range(i + 1, end):
            if not out[j].startswith("*"):
                out[j] = pattern.sub(port, out[j])
        fixes.append(
            f"top subckt: net {port}[0] renamed {port} (OpenRAM declares the port {port} but wired its flop to "
            f"{port}[0], leaving both unconnected)"
        )
    return out, fixes


def normalise(raw: str, name: str, header: list[str], forbidden: list[str]) -> tuple[str, list[str]]:
    """The committed netlist text: a provenance header, trailing blanks stripped, OpenRAM's wiring repaired.
    Refuses text holding .include/.lib cards or any of the ``forbidden`` strings (local absolute paths)."""
    lines = [l.rstrip() for l in raw.splitlines()]
    for n, line in enumerate(lines, start=1):
        if re.match(r"\s*\.(include|inc|lib)\b", line, re.I):
            raise NetlistError(f"OpenRAM's netlist for {name} has {line.split()[0]} at line {n}; it must be self-contained (inline the file)")
        for bad in forbidden:
            if bad and bad in line:
                raise NetlistError(f"OpenRAM's netlist for {name} holds the local path {bad} at line {n}; it must not depend on this machine")
    lines, fixes = fix_undriven_bus_bits(lines, name)
    return "\n".join([*(f"* {h}" for h in header), *lines]) + "\n", fixes


def port_directions(text: str, name: str) -> dict[str, str]:
    """OpenRAM's port-type comments (``* INPUT : din0[0]``) of the top subckt: port -> INPUT/OUTPUT/POWER/GROUND."""
    lines = text.splitlines()
    start, end = _top_block(lines, name)
    kinds = {}
    for line in lines[start:end]:
        m = re.match(r"\*\s*(INPUT|OUTPUT|INOUT|POWER|GROUND|BIAS)\s*:\s*(\S+)", line)
        if m:
            kinds[m.group(2)] = m.group(1)
    return kinds


def config_label(config: Path) -> str:
    """The config's path relative to the checkout (never absolute: it goes into committed files)."""
    try:
        return str(config.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return config.name


def describe(text: str, name: str, info: dict, config_rel: str, config_sha: str, openram: str, fixes: list[str]) -> dict:
    """The .json description of a normalised netlist (parsed back with cosim's reader, so both agree)."""
    netlist = parse_text(text, top=name)
    ports = list(netlist.ports)
    kinds = port_directions(text, name)
    if set(kinds) != set(ports):
        raise NetlistError(f"OpenRAM's port comments for {name} disagree with its .SUBCKT line; see the netlist")
    array = find_bitcell_array(netlist)
    rows = 1 + max(c.row for c in array.cells)
    cols = 1 + max(c.col for c in array.cells)
    expected_rows = info["num_rows"]
    expected_cols = info["num_cols"] + info["num_spare_cols"]
    if (rows, cols) != (expected_rows, expected_cols) or len(array.cells) != rows * cols:
        raise NetlistError(
            f"{name}: the bitcell array holds {len(array.cells)} cells in {rows}x{cols}, OpenRAM reports "
            f"{expected_rows}x{expected_cols}; the cell naming changed (see cosim.netlist.macro)"
        )
    return {
        "schema": MACRO_SCHEMA,
        "name": name,
        "words": info["num_words"],
        "word_size": info["word_size"],
        "words_per_row": info["words_per_row"],
        "rows": rows,
        "columns": cols,
        "spare_rows": info["num_spare_rows"],
        "spare_columns": info["num_spare_cols"],
        "address_bits": info["addr_size"],
        "banks": info["num_banks"],
        "ports": ports,
        "port_directions": kinds,
        "buses": port_buses(ports),
        "supplies": {
            "power": [p for p in ports if kinds[p] == "POWER"],
            "ground": [p for p in ports if kinds[p] == "GROUND"],
        },
        "bitcell_array": {
            "path": list(array.path),
            "subckt": array.subckt,
            "instance_pattern": array.pattern,
            "cell_models": sorted({c.model for c in array.cells}),
        },
        "devices": list(netlist.device_models()),
        "subckt_count": len(netlist.subckts),
        "openram_version": openram,
        "config": config_rel,
        "config_sha256": config_sha,
        "fixes": fixes,
    }


def generate(
    config: Path, out_dir: Path, settings: Settings, env: OpenramEnv | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Generated:
    """Run OpenRAM on one config and write ``out_dir/<name>.sp`` and ``.json``."""
    env = env or prepare(settings)
    name = config.stem
    openram = openram_version()
    config_sha = sha256_file(config)
    run_dir = settings.cache_dir / "openram" / "runs" / name
    raw_sp, info, seconds = run_openram(config, env, run_dir, timeout_s)
    if info["name"] != name:
        raise NetlistError(f"{config}: output_name is {info['name']!r}; it must equal the file stem {name!r}")
    config_rel = config_label(config)
    header = [
        f"{name}: sky130 SRAM macro, generated by 'cosim netlists' with OpenRAM {openram} (netlist_only)",
        f"from {config_rel} (sha256 {config_sha}); the .json beside this file describes it.",
        "Device models (sky130_fd_pr__*) are not included: the simulator adds the model library for its corner.",
    ]
    home = str(Path.home())
    forbidden = [str(settings.cache_dir), str(run_dir), str(PROJECT_ROOT), home if home != "/" else ""]
    if settings.pdk_root is not None:
        forbidden.append(str(settings.pdk_root))
    text, fixes = normalise(raw_sp.read_text(), name, header, forbidden)
    desc = describe(text, name, info, config_rel, config_sha, openram, fixes)
    out_dir.mkdir(parents=True, exist_ok=True)
    sp_path = out_dir / f"{name}.sp"
    sp_path.write_text(text)
    desc["netlist_sha256"] = sha256_file(sp_path)
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(desc, indent=2, sort_keys=False) + "\n")
    return Generated(name, sp_path, json_path, seconds, sp_path.stat().st_size)
