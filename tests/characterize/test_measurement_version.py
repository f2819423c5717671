"""The guard of MEASUREMENT_VERSION (cosim.characterize.keys): a real point of the tiny macro, simulated now, gives
the committed table's numbers at that corner whenever its key is the table's. A change in how waveforms are
measured that moves a number without a version bump fails here; after a bump the key differs and the table must be
re-simulated (test_committed.py's key check says so)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from cosim.characterize import sweep
from cosim.characterize.point import characterize_point
from cosim.netlist import load_macro
from cosim.types import Corner

pytestmark = pytest.mark.spice
NUMBERS = ("access_time_s", "cycle_time_s", "energy_j", "leakage_w", "period_s", "bits_checked", "bit_errors")


def test_a_point_simulated_now_gives_the_committed_numbers_under_the_same_key(settings, tmp_path):
    corner = Corner("tt", 1.8, 25.0)
    csv = settings.characterization_dir / "sram_8x16.csv"
    committed = pd.read_csv(csv, dtype={"point_key": str})
    committed = committed[(committed.process == "tt") & (committed.vdd_v == 1.8) & (committed.temp_c == 25.0)]
    setup = sweep.sweep_setup(load_macro(settings.netlists_dir / "sram_8x16.sp"), settings, ["tt"])
    prov = json.loads(csv.with_suffix(".json").read_text())
    if (prov["ngspice_version"], prov["models"]["source"]) != (setup.ngspice, setup.models.source):
        pytest.skip(f"{csv} was simulated with {prov['ngspice_version']} on {prov['models']['source']} models, this "
                    f"machine has {setup.ngspice} and {setup.models.source}")  # fmt: skip
    key = setup.key(corner)
    assert set(committed.point_key) == {key}, (f"{csv}: the committed tt/1.8 V/25 C point has another key than "
                                               "today's code computes: re-simulate the table (make characterize)")
    result = characterize_point(setup.request(corner, run_dir=tmp_path / "runs"))
    rows = {r.op: r.as_dict() for r in result.rows}
    assert set(rows) == set(committed.op) - {"read_cycle"}
    for _, want in committed[committed.op != "read_cycle"].iterrows():
        got = rows[want.op]
        assert got["status"] == want.status, want.op
        for name in NUMBERS:
            expected = want[name]
            if isinstance(expected, float) and math.isnan(expected):
                assert name not in got or math.isnan(got[name]), (want.op, name)
            else:
                # the CSV keeps 6 significant digits
                assert got[name] == pytest.approx(expected, rel=1e-5, abs=0), (
                    f"{want.op} {name}: {got[name]} now, {expected} in {csv.name} under the same key: a measurement "
                    "changed without a MEASUREMENT_VERSION bump (cosim/characterize/keys.py)")
