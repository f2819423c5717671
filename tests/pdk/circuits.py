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


# ---- threshold bench: many instances of a few device sizes, one gate ramp -------------------------------------
#: the bitcell's devices and sizes (netlists/*.sp, sky130_fd_bd_sram__sram_sp_cell_opt1): (device, L um, W um, type)
CELL_DEVICES = (
    ("sky130_fd_pr__special_nfet_latch", 0.15, 0.21, "n"),  # pull-down
    ("sky130_fd_pr__special_nfet_pass", 0.15, 0.14, "n"),  # access
    ("sky130_fd_pr__special_pfet_pass", 0.15, 0.14, "p"),  # pull-up
)
VTH_VDD = 1.8
VTH_VDS = 0.05  #: linear region: keeps DIBL out of the threshold
VTH_I0_A = 100e-9  #: constant-current criterion: |Id| = I0 * W / L
VTH_RAMP_S = 1e-3  #: slow enough that gate-drain overlap current (~1 pA) is negligible against I0


def vth_bench(model_line: str, n: int, extra: str = "", devices=CELL_DEVICES) -> str:
    """`n` instances of each device, drains held |Vds| = VTH_VDS through their own 0 V sources, all gates on one
    slow ramp (nmos 0 -> VDD, pmos VDD -> 0): a quasi-static Id(Vgs) sweep of every instance in one transient."""
    lines = ["* cosim threshold bench", model_line, extra, ".temp 25", f"vdd vdd 0 {VTH_VDD}",
             f"vgn gn 0 pwl(0 0 {VTH_RAMP_S} {VTH_VDD})", f"vgp gp 0 pwl(0 {VTH_VDD} {VTH_RAMP_S} 0)",
             f"vdn dn 0 {VTH_VDS}", f"vdp dp 0 {VTH_VDD - VTH_VDS}"]  # fmt: skip
    saves = ["v(gn)"]
    for k, (device, length, width, kind) in enumerate(devices):
        for i in range(n):
            if kind == "n":
                lines += [f"vs{k}_{i} dn d{k}_{i} 0", f"x{k}_{i} d{k}_{i} gn 0 0 {device} w={width} l={length}"]
            else:
                lines += [f"vs{k}_{i} d{k}_{i} dp 0", f"x{k}_{i} d{k}_{i} gp vdd vdd {device} w={width} l={length}"]
            saves.append(f"i(vs{k}_{i})")
    lines += [".save " + " ".join(saves), f".tran {VTH_RAMP_S / 2000} {VTH_RAMP_S}", ".end"]
    return "\n".join(lines) + "\n"


def vth_cc(result, n: int, devices=CELL_DEVICES):
    """Constant-current threshold |Vgs| at |Id| = VTH_I0_A * W / L of every instance (log-linear interpolation
    between ramp points), one array per device. The pmos ramp mirrors the nmos one, so |Vgs| is v(gn) for both."""
    import numpy as np

    gate = result.v("gn")
    out = []
    for k, (_, length, width, _) in enumerate(devices):
        target = np.log(VTH_I0_A * width / length)
        values = []
        for i in range(n):
            current = np.log(np.abs(result.v(f"vs{k}_{i}#branch")) + 1e-30)
            j = int(np.argmax(current > target))
            assert j > 0, f"device {k} instance {i} never reaches the threshold current"
            f = (target - current[j - 1]) / (current[j] - current[j - 1])
            values.append(gate[j - 1] + f * (gate[j] - gate[j - 1]))
        out.append(np.array(values))
    return out
