"""The two simulator backends (ngspice batch process, PySpice's libngspice binding) give the same waveforms; a
deck ngspice rejects or that stops early raises SimError carrying ngspice's output."""

from __future__ import annotations

import numpy as np
import pytest
from joblib import Parallel, delayed

from cosim.pdk.reduce import build_reduced_deck, write_reduced_deck
from cosim.sim import SimError, parse_raw, run
from tests.pdk.circuits import DEVICES, STOP_S, chain_and_latch

pytestmark = pytest.mark.spice


def _wave(deck: str, backend: str):
    r = run(deck, expect_stop_s=STOP_S, backend=backend)
    return r.time_s, r.v("wl"), r.v("v_supply#branch") if "v_supply#branch" in r.vectors else r.v("vdd#branch")


def test_batch_and_pyspice_backends_agree(models, settings):
    deck = chain_and_latch(f'.include "{write_reduced_deck(build_reduced_deck(models, "tt", DEVICES), settings.cache_dir)}"')
    # one ngspice per process: the PySpice backend runs in its own loky worker
    (t_b, wl_b, i_b), (t_p, wl_p, i_p) = Parallel(n_jobs=2, backend="loky")(
        delayed(_wave)(deck, b) for b in ("batch", "pyspice")
    )
    assert len(t_b) == len(t_p)
    assert np.max(np.abs(wl_b - wl_p)) < 1e-9
    assert np.max(np.abs(i_b - i_p)) < 1e-12


def test_unknown_model_is_a_sim_error_with_ngspice_output(tmp_path):
    deck = "* bad\nv1 a 0 1\nx1 a 0 no_such_subckt\n.tran 1p 10p\n.end\n"
    with pytest.raises(SimError) as info:
        run(deck, tmp_path / "run")
    assert "no_such_subckt" in (info.value.stderr + info.value.stdout).lower()
    assert (tmp_path / "run" / "deck.sp").exists() and (tmp_path / "run" / "ngspice.log").exists()


def test_raw_reader_refuses_non_raw_bytes():
    with pytest.raises(ValueError, match="not an ngspice binary raw file"):
        parse_raw(b"Title: x\nNo. Variables: 1\n")
