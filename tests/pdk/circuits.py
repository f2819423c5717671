"""Small sky130 circuits for model-deck tests: an inverter chain and a 6T latch made of the bitcell's devices."""

from __future__ import annotations

DEVICES = frozenset(
    {
        "sky130_fd_pr__nfet_01v8",
        "sky130_fd_pr__pfet_01v8",
        "sky130_fd_pr__special_nfet_latch",
        "sky130_fd_pr__special_nfet_pass",
        "sky130_fd_pr__special_pfet_pass",
    }
)
STOP_S = 6e-9


def chain_and_latch(model_line: str, pullup: str = "sky130_fd_pr__special_pfet_pass", vdd: float = 1.8) -> str:
    """Inverter chain driving a 6T cell's word line; the cell is written through its access transistors."""
    return f"""* cosim test circuit: 3-inverter chain + 6T latch (bitcell devices)
{model_line}
.temp 25
vdd vdd 0 {vdd}
vin in 0 pulse(0 {vdd} 1n 50p 50p 2n 4n)
xp1 n1 in vdd vdd sky130_fd_pr__pfet_01v8 w=1 l=0.15
xn1 n1 in 0 0 sky130_fd_pr__nfet_01v8 w=0.5 l=0.15
xp2 n2 n1 vdd vdd sky130_fd_pr__pfet_01v8 w=1 l=0.15
xn2 n2 n1 0 0 sky130_fd_pr__nfet_01v8 w=0.5 l=0.15
xp3 wl n2 vdd vdd sky130_fd_pr__pfet_01v8 w=1 l=0.15
xn3 wl n2 0 0 sky130_fd_pr__nfet_01v8 w=0.5 l=0.15
cl wl 0 5f
* 6T cell: latch q/qb, access devices to bl/br driven to write a 0 into q
vbl bl 0 0
vbr br 0 {vdd}
xpa q qb vdd vdd {pullup} w=0.14 l=0.15
xpb qb q vdd vdd {pullup} w=0.14 l=0.15
xna q qb 0 0 sky130_fd_pr__special_nfet_latch w=0.21 l=0.15
xnb qb q 0 0 sky130_fd_pr__special_nfet_latch w=0.21 l=0.15
xaa bl wl q 0 sky130_fd_pr__special_nfet_pass w=0.14 l=0.15
xab br wl qb 0 sky130_fd_pr__special_nfet_pass w=0.14 l=0.15
.ic v(q)={vdd} v(qb)=0
.save v(in) v(wl) v(q) v(qb) i(vdd)
.tran 5p {STOP_S} uic
.end
"""


def delay_s(time_s, vin, vout, vdd: float) -> float:
    """Input rising 50 % crossing to output (non-inverting chain of 3: falling) 50 % crossing, first edge."""
    import numpy as np

    half = vdd / 2
    t_in = time_s[np.argmax(vin > half)]
    after = time_s > t_in
    idx = np.argmax((vout < half) & after)
    return float(time_s[idx] - t_in)


def assert_pairs_simulate_alike(decks: list[str]) -> None:
    """Run the chain-and-latch ``decks`` (two at a time on the cores) and check each pair (0, 1), (2, 3), ... gives
    bit for bit the same time points, word line, stored node and supply current."""
    import numpy as np
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=2, backend="loky")(delayed(_waveforms)(d) for d in decks)
    for i in range(0, len(results), 2):
        for a, b in zip(results[i], results[i + 1]):
            assert a.shape == b.shape and np.array_equal(a, b)


def _waveforms(deck: str):
    from cosim.sim import run_deck

    r = run_deck(deck, expect_stop_s=STOP_S)
    return r.time_s, r.v("wl"), r.v("q"), r.v("vdd#branch")
