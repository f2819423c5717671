"""Minimal GDSII record handling: add text labels to a cell's layout.

OpenRAM takes a library cell's pins from the text labels of its GDS, even in netlist_only runs; when we adapt a
cell's port names (see :mod:`cosim.openram.setup`) its layout must carry labels with the new names. GDSII is a flat
stream of records (2-byte length, 1-byte record type, 1-byte data type, payload), so adding labels is a matter of
inserting TEXT elements before the end of the cell's structure; everything else is copied byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from cosim.errors import PdkError

_STRNAME = 0x06
_ENDSTR = 0x07
_TEXT = 0x0C
_LAYER = 0x0D
_XY = 0x10
_ENDEL = 0x11
_TEXTTYPE = 0x16
_STRING = 0x19


def _records(data: bytes, origin: str) -> Iterator[tuple[int, int, bytes]]:
    """Yield (offset, record type, whole record) for each record."""
    pos = 0
    while pos + 4 <= len(data):
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 4 or pos + length > len(data):
            if length == 0:  # zero padding after ENDLIB
                return
            raise PdkError(f"{origin}: corrupt GDSII record at byte {pos}; reinstall the bitcell library")
        yield pos, data[pos + 2], data[pos : pos + length]
        pos += length


def _record(rtype: int, dtype: int, payload: bytes) -> bytes:
    return struct.pack(">HBB", 4 + len(payload), rtype, dtype) + payload


def _text(label: str, layer: int, texttype: int, xy: tuple[int, int]) -> bytes:
    name = label.encode("ascii")
    if len(name) % 2:
        name += b"\0"  # GDSII strings have an even length
    return b"".join(
        [
            _record(_TEXT, 0, b""),
            _record(_LAYER, 2, struct.pack(">h", layer)),
            _record(_TEXTTYPE, 2, struct.pack(">h", texttype)),
            _record(_XY, 3, struct.pack(">ii", *xy)),
            _record(_STRING, 6, name),
            _record(_ENDEL, 0, b""),
        ]
    )


def add_labels(data: bytes, structure: str, labels: list[str], origin: str = "<gds>") -> bytes:
    """Return the GDSII stream ``data`` with ``labels`` added to ``structure``, on the layer/texttype and at the
    position of that structure's first existing label (so they land on a layer OpenRAM reads pins from)."""
    out = bytearray()
    current = None
    first_text: tuple[int, int, tuple[int, int]] | None = None
    in_text = False
    layer = texttype = 0
    xy = (0, 0)
    found = False
    for _, rtype, rec in _records(data, origin):
        if rtype == _STRNAME:
            current = rec[4:].rstrip(b"\0").decode("ascii", "replace")
        elif current == structure and rtype == _TEXT:
            in_text = True
        elif in_text and rtype == _LAYER:
            (layer,) = struct.unpack(">h", rec[4:6])
        elif in_text and rtype == _TEXTTYPE:
            (texttype,) = struct.unpack(">h", rec[4:6])
        elif in_text and rtype == _XY:
            xy = struct.unpack(">ii", rec[4:12])
        elif in_text and rtype == _ENDEL:
            in_text = False
            if first_text is None:
                first_text = (layer, texttype, xy)
        elif rtype == _ENDSTR and current == structure:
            if first_text is None:
                raise PdkError(f"{origin}: structure {structure} has no text label to copy a layer from")
            for label in labels:
                out += _text(label, *first_text)
            found = True
        out += rec
    if not found:
        raise PdkError(f"{origin}: no structure named {structure}; reinstall the bitcell library")
    return bytes(out)


def labels(data: bytes, structure: str, origin: str = "<gds>") -> list[str]:
    """The text labels of ``structure`` (for tests and checks)."""
    found = []
    current = None
    for _, rtype, rec in _records(data, origin):
        if rtype == _STRNAME:
            current = rec[4:].rstrip(b"\0").decode("ascii", "replace")
        elif current == structure and rtype == _STRING:
            found.append(rec[4:].rstrip(b"\0").decode("ascii", "replace"))
    return found
