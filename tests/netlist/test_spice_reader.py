"""The SPICE reader on small decks: syntax it accepts, what it refuses, round trip, hierarchy helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.errors import NetlistError
from cosim.netlist.spice import (
    Element,
    Subckt,
    find_instances,
    flatten_hierarchy,
    instance_counts,
    parse_text,
    read_netlist,
    walk,
)

INV = """\
* a title-like comment: not a title, these are library netlists
.subckt inv a y vdd gnd
Xp y a vdd vdd sky130_fd_pr__pfet_01v8 w=1 l=0.15
Xn y a gnd gnd sky130_fd_pr__nfet_01v8 w=0.5 l=0.15 $ inline comment
.ends inv
.SUBCKT buf a y vdd gnd ; semicolon comment
X1 a mid vdd gnd INV
* a comment between a card and its continuation
+
X2 mid y
+ vdd gnd
+ inv
.ends
"""


def write(tmp_path: Path, text: str, name: str = "deck.sp") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parses_subckts_ports_elements_and_top() -> None:
    n = parse_text(INV)
    assert n.top == "buf"
    assert n.ports == ("a", "y", "vdd", "gnd")
    inv = n.subckt("INV")  # case-insensitive lookup
    assert inv.ports == ("a", "y", "vdd", "gnd")
    assert inv.elements[1] == Element(
        "Xn", ("y", "a", "gnd", "gnd"), "sky130_fd_pr__nfet_01v8", (("w", "0.5"), ("l", "0.15"))
    )
    buf = n.subckt("buf")
    assert [e.name for e in buf.elements] == ["X1", "X2"]
    assert buf.elements[1].nodes == ("mid", "y", "vdd", "gnd")  # continuation lines joined across a comment
    assert buf.elements[0].ref == "INV" and n.is_subckt("INV")
    assert n.device_models() == ("sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8")


def test_params_with_spaces_around_equals_and_braces() -> None:
    n = parse_text(".subckt r a b\nR1 a b {rval * 2} tc1 = 0.1\nM1 a b a a nmos w = {w1} l=1\n.model nmos nmos\n.ends\n")
    r, m = n.subckt("r").elements
    assert r.ref == "{rval * 2}" and r.params == (("tc1", "0.1"),)
    assert m.nodes == ("a", "b", "a", "a") and m.ref == "nmos" and m.params == (("w", "{w1}"), ("l", "1"))
    assert n.device_models() == ("nmos",)


def test_round_trip_small_deck() -> None:
    n = parse_text(INV)
    again = parse_text(n.to_spice())
    assert again == n
    assert again.to_spice() == n.to_spice()


def test_round_trip_after_modification() -> None:
    n = parse_text(INV)
    inv = n.subckt("inv")
    trimmed = Subckt(inv.name, inv.ports, inv.elements[:1])
    m = n.with_subckt(trimmed)
    assert m != n
    back = parse_text(m.to_spice())
    assert back == m
    assert len(back.subckt("inv").elements) == 1


def test_long_cards_are_wrapped_and_read_back() -> None:
    ports = [f"p{i}" for i in range(80)]
    text = f".subckt wide {' '.join(ports)}\nR1 p0 p1 1k\n.ends\n"
    n = parse_text(text)
    out = n.to_spice()
    assert max(len(line) for line in out.splitlines()) <= 100
    assert parse_text(out) == n


def test_hierarchy_helpers() -> None:
    n = parse_text(INV)
    paths = [p.path for p in walk(n)]
    assert ("X1",) in paths and ("X1", "Xp") in paths and ("X2", "Xn") in paths
    leaves = flatten_hierarchy(n)
    assert sorted(p.ngspice_path for p in leaves) == ["x1.xn", "x1.xp", "x2.xn", "x2.xp"]
    assert [p.path for p in find_instances(n, r"X\d")] == [("X1",), ("X2",)]
    # INV and inv are the same subckt (SPICE is case-insensitive): counted under its defined name
    assert instance_counts(n) == {"inv": 2, "sky130_fd_pr__nfet_01v8": 2, "sky130_fd_pr__pfet_01v8": 2}


def test_top_can_be_named_when_several_roots(tmp_path: Path) -> None:
    text = ".subckt a x\nR1 x 0 1\n.ends\n.subckt b x\nR1 x 0 1\n.ends\n"
    with pytest.raises(NetlistError, match="2 subckts are never instantiated"):
        parse_text(text)
    assert parse_text(text, top="B").top == "b"


def test_relative_include_inside_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    write(tmp_path / "cells", ".subckt cell a b\nR1 a b 1k\n.ends\n", "cell.sp")
    path = write(tmp_path, ".include cells/cell.sp\n.subckt top a b\nX1 a b cell\n.ends\n")
    n = read_netlist(path)
    assert n.top == "top" and n.is_subckt("cell")


def test_end_ends_the_netlist() -> None:
    assert parse_text(".subckt a x\nR1 x 0 1\n.ends\n.end\n\n").top == "a"
    with pytest.raises(NetlistError, match="line 5 follows .end"):
        parse_text(".subckt a x\nR1 x 0 1\n.ends\n.end\n.control\nshell rm -rf /\n.endc\n")


# ---------------------------------------------------------------------------------------------------- refusals

BAD = {
    "control": (".subckt a x\nR1 x 0 1\n.ends\n.control\nrun\n.endc\n", r"deck\.sp:4: \.control block"),
    "shell": (".subckt a x\nR1 x 0 1\n.ends\nshell rm -rf /tmp/x\n", r"deck\.sp:4: 'shell' runs a system command"),
    "system": (".subckt a x\nR1 x 0 1\n.ends\n.system ls\n", r"deck\.sp:4: '\.system' runs a system command"),
    "lib": (".lib /pdk/sky130.lib.spice tt\n.subckt a x\nR1 x 0 1\n.ends\n", r"deck\.sp:1: \.lib in a macro netlist"),
    "include_abs": (".include /etc/passwd\n.subckt a x\nR1 x 0 1\n.ends\n", r"deck\.sp:1: \.include of the absolute path"),
    "include_outside": (".inc ../outside.sp\n.subckt a x\nR1 x 0 1\n.ends\n", r"deck\.sp:1: \.include \.\./outside\.sp leaves"),
    "include_missing": (".include missing.sp\n.subckt a x\nR1 x 0 1\n.ends\n", r"deck\.sp:1: \.include missing\.sp: no such file"),
    "unterminated": (".subckt a x\nR1 x 0 1\n", r"deck\.sp:1: \.subckt a is never closed"),
    "nested": (".subckt a x\n.subckt b y\n.ends\n.ends\n", r"deck\.sp:2: nested \.subckt"),
    "stray_ends": (".ends\n", r"deck\.sp:1: \.ends without a \.subckt"),
    "wrong_ends": (".subckt a x\n.ends b\n", r"deck\.sp:2: \.ends b closes subckt a"),
    "duplicate": (".subckt a x\n.ends\n.subckt A y\n.ends\n", r"deck\.sp:3: subckt A is defined twice"),
    "undefined": (".subckt a x\nX1 x 0 nosuch\n.ends\n", r"deck\.sp:2: X1 in a instantiates nosuch"),
    "port_count": (".subckt b p q\n.ends\n.subckt a x\nX1 x b\n.ends\n", r"deck\.sp:4: X1 in a connects 1 nodes to b, which has 2"),
    "no_subckt": ("R1 a 0 1\n", r"deck\.sp: the netlist defines no subckt"),
    "comments_only": ("* nothing\n* here\n", r"deck\.sp: the netlist is empty"),
    "analysis": (".subckt a x\n.ends\n.tran 1n 10n\n", r"deck\.sp:3: unsupported card \.tran"),
    "leading_plus": ("+ x y\n.subckt a x\n.ends\n", r"deck\.sp:1: continuation line"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refuses_unsafe_or_broken_netlists(tmp_path: Path, case: str) -> None:
    text, pattern = BAD[case]
    folder = tmp_path / "deck"
    folder.mkdir()
    if case == "include_outside":
        (tmp_path / "outside.sp").write_text(".subckt o x\n.ends\n")  # exists: refused for where it is, not absence
    path = write(folder, text)
    with pytest.raises(NetlistError, match=pattern) as info:
        read_netlist(path)
    assert "\n" not in str(info.value)  # one line


def test_refuses_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match=r"nope\.sp: no such netlist file"):
        read_netlist(tmp_path / "nope.sp")
    empty = write(tmp_path, "  \n\n")
    with pytest.raises(NetlistError, match=r"deck\.sp: the netlist is empty"):
        read_netlist(empty)


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path, ".include b.sp\n", "a.sp")
    write(tmp_path, ".include a.sp\n", "b.sp")
    with pytest.raises(NetlistError, match="includes itself"):
        read_netlist(tmp_path / "a.sp")


@pytest.mark.parametrize("text, refusal", [
    (INV + "*# shell touch MARKER\n", r"deck.sp:14: a '\*#' line is a control command"),
    (INV + ".end\n.control\nshell touch MARKER\n.endc\n", r"deck.sp:14: line 15 follows .end"),
    (INV + ".end\n* harmless?\n", r"line 15 follows .end"),
    (".subckt a x\nXb x b\n.ends\n.subckt b x\nXc x c\n.ends\n.subckt c x\nXa x a\n.ends\n",
     r"subckt a instantiates itself \(a -> b -> c -> a\)"),
])  # fmt: skip
def test_refuses_hidden_commands_content_after_end_and_recursion(tmp_path, text, refusal) -> None:
    with pytest.raises(NetlistError, match=refusal):
        read_netlist(write(tmp_path, text))


def test_comment_forms_bom_and_encoding(tmp_path) -> None:
    text = "; a whole-line semicolon comment\n$ a whole-line dollar comment\n" + INV
    assert read_netlist(write(tmp_path, text)) == parse_text(INV)
    bom = tmp_path / "bom.sp"
    bom.write_bytes(b"\xef\xbb\xbf" + INV.encode())
    assert read_netlist(bom) == parse_text(INV)
    latin = tmp_path / "latin.sp"
    latin.write_bytes(INV.encode().replace(b"a title-like", b"a caf\xe9 title-like"))
    with pytest.raises(NetlistError, match=r"latin.sp: byte \d+ is not UTF-8 text"):
        read_netlist(latin)


def test_include_depth_is_bounded(tmp_path) -> None:
    from cosim.netlist.spice import MAX_INCLUDE_DEPTH

    for i in range(MAX_INCLUDE_DEPTH + 2):
        write(tmp_path, f'.include "d{i + 1}.sp"\n', f"d{i}.sp")
    write(tmp_path, INV, f"d{MAX_INCLUDE_DEPTH + 2}.sp")
    with pytest.raises(NetlistError, match=f"nests deeper than {MAX_INCLUDE_DEPTH} files"):
        read_netlist(tmp_path / "d0.sp")
