"""What a characterization result is keyed by: what the simulator receives and how its waveforms are measured.

A point's key hashes the decks the point renders before any result is known (each at the nominal period, with the
netlist's and the model deck's paths replaced by their content hashes, so a checkout's location does not matter),
the simulated netlist's and model deck's hashes, the ngspice version, the sweep options, the corner, and
:data:`MEASUREMENT_VERSION`. Source files are not hashed: a docstring edit keys nothing anew, while a testbench
change shows in the decks. What the decks cannot show, how the waveforms are turned into numbers (cosim.measure,
``_check_cycle`` in cosim.characterize.point, the retry's pass rule), is versioned by hand: bump
MEASUREMENT_VERSION when that changes what a number means or its value; tests/characterize/test_measurement_version.py
fails when the numbers of a real point move while the version stays.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict

from cosim.types import Corner

#: bump when the measurement of waveforms changes (see the module docstring)
MEASUREMENT_VERSION = 3
#: the layout of the key itself
KEY_SCHEMA = 2


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def deck_identity(deck: str, paths: Mapping[str, str]) -> str:
    """sha256 of a deck with each path of ``paths`` (path -> content sha256) replaced by its content hash."""
    for path, sha in paths.items():
        deck = deck.replace(str(path), f"<sha256:{sha}>")
    return _sha(deck)


def point_key(*, decks: Mapping[str, str], netlist_sha256: str, models_sha256: str, ngspice: str, corner: Corner,
              period_s: float, options: tuple[str, ...], measurement_version: int = MEASUREMENT_VERSION) -> str:
    """The key of one corner's point (``decks``: deck name -> :func:`deck_identity`)."""
    blob = json.dumps({"schema": KEY_SCHEMA, "measurement_version": measurement_version, "decks": dict(decks),
                       "netlist": netlist_sha256, "models": models_sha256, "ngspice": ngspice,
                       "corner": asdict(corner), "period_s": period_s, "options": list(options)}, sort_keys=True)
    return _sha(blob)[:20]


def retry_key(point_key: str, factors: tuple[float, ...], measurement_version: int = MEASUREMENT_VERSION) -> str:
    """The key of a corner's read retry: its decks are the point's main deck at ``factors`` x its period."""
    return _sha(json.dumps([KEY_SCHEMA, measurement_version, point_key, list(factors)]))[:20]
