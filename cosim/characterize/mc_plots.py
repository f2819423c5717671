"""The bit-error table as a PNG (matplotlib, Agg): ``<macro>_ber_vs_vdd.png``, failures per bit vs VDD, one panel
per op, one colour per process (marker per temperature).

Plain Monte Carlo is drawn as filled markers with their Clopper-Pearson interval. A point with no failure is not a
zero on a log axis: it is drawn as its upper bound (a hollow marker at rate_hi with an arrow down). The normal-tail estimate
is drawn as open stars with the bootstrap interval, and where it lies below the axis floor as an open triangle on
the floor. Nothing is interpolated or joined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosim.montecarlo_table import TAIL_FLOOR
from cosim.types import PROCESSES

#: the axis floor: tail estimates below it are drawn on it
FLOOR = TAIL_FLOOR
_PANELS = (("write_0to1", "read_0", "read_disturb_0"), ("write_1to0", "read_1", "read_disturb_1"))
_TITLES = {"write_0to1": "write 0->1 fails (cell stays 0)", "write_1to0": "write 1->0 fails (cell stays 1)",
           "read_0": "read of a 0 returns 1", "read_1": "read of a 1 returns 0",
           "read_disturb_0": "read disturb: a read 0 flips to 1",
           "read_disturb_1": "read disturb: a read 1 flips to 0"}  # fmt: skip
_MARKERS = "o^sDPX"


def plot_monte_carlo(csv_path: Path, out_dir: Path) -> Path:
    """Write ``<macro>_ber_vs_vdd.png`` of the BER table at ``csv_path`` into ``out_dir``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from cosim.characterize.mc_table import read_mc_table

    _, frame, prov = read_mc_table(Path(csv_path))
    macro = str(prov.get("macro") or frame.macro.iloc[0])
    procs = [p for p in PROCESSES if p in set(frame.process)]
    temps = sorted(frame.temp_c.unique())
    colors = {p: plt.cm.tab10(i) for i, p in enumerate(procs)}
    markers = {t: _MARKERS[i % len(_MARKERS)] for i, t in enumerate(temps)}
    vdds = sorted(frame.vdd_v.unique())
    span = (max(vdds) - min(vdds)) or 0.2
    present = set(zip(frame.process, frame.temp_c))
    series = [(p, t) for p in procs for t in temps if (p, t) in present]
    # side by side at one VDD, so intervals do not hide each other; the group stays within 0.7 of the closest
    # supplies' gap (a shaded band per supply), so no point drifts toward its neighbour's tick
    gap = min(np.diff(vdds), default=span)
    step = 0.7 * gap / (2 * len(series) + 1)
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 7.6), sharex=True, sharey=True)
    for r, ops in enumerate(_PANELS):
        for c, op in enumerate(ops):
            ax = axes[r][c]
            for k, (proc, temp) in enumerate(series):
                d = frame[(frame.op == op) & (frame.process == proc) & (frame.temp_c == temp)].sort_values("vdd_v")
                if d.empty:
                    continue
                x = d.vdd_v.to_numpy(float) + (k - (len(series) - 1) / 2) * 2 * step
                col, mk = colors[proc], markers[temp]
                rate, lo, hi = (d[n].to_numpy(float) for n in ("rate", "rate_lo", "rate_hi"))
                some = d.failures.to_numpy() > 0
                if some.any():
                    ax.errorbar(x[some], rate[some], yerr=[rate[some] - lo[some], hi[some] - rate[some]], fmt=mk,
                                color=col, ms=6, capsize=3, lw=1.2)  # fmt: skip
                if (~some).any():  # an upper bound: hollow marker at rate_hi, an arrow down from it
                    ax.vlines(x[~some], hi[~some] / 5, hi[~some], color=col, lw=1)
                    ax.plot(x[~some], hi[~some] / 5, ls="", marker=7, color=col, ms=5)
                    ax.plot(x[~some], hi[~some], mk, mfc="none", color=col, ms=6, mew=1.3)
                tail, tlo, thi = (d[n].to_numpy(float) for n in ("tail_rate", "tail_lo", "tail_hi"))
                fit = np.isfinite(tail)
                seen = fit & (tail >= FLOOR)
                if seen.any():
                    ax.errorbar(x[seen] + step, tail[seen], yerr=[tail[seen] - np.maximum(tlo[seen], FLOOR),
                                                                  thi[seen] - tail[seen]],
                                fmt="*", mfc="none", color=col, ms=7, capsize=2, lw=0.8, ls="none",
                                elinewidth=0.8)  # fmt: skip
                below = fit & (tail < FLOOR)
                if below.any():
                    ax.plot(x[below] + step, np.full(below.sum(), FLOOR), "v", mfc="none", color=col, ms=5, mew=0.8,
                            alpha=0.7)  # fmt: skip
            for i, v in enumerate(vdds):
                if i % 2 == 0:
                    ax.axvspan(v - 0.4 * gap, v + 0.4 * gap, color="0.93", lw=0, zorder=0)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR / 3, 2.0)
            ax.set_title(_TITLES[op], fontsize=9)
            ax.grid(alpha=0.3, which="both", lw=0.4)
            if r == 1:
                ax.set_xlabel("VDD (V)")
            if c == 0:
                ax.set_ylabel("failures per bit")
            ax.set_xticks(vdds, [f"{v:g}" for v in vdds], rotation=90 if len(vdds) > 6 else 0, fontsize=8)
            ax.set_xlim(min(vdds) - 0.15 * span, max(vdds) + 0.15 * span)
    handles = [Line2D([], [], ls="", marker=markers[t], color=colors[p], label=f"{p} {t:g} C") for p, t in series]
    handles += [Line2D([], [], ls="", marker="o", color="gray", label="plain MC, 95 % CI"),
                Line2D([], [], ls="", marker="o", mfc="none", color="gray", label="0 failures: 95 % upper\nbound (arrow down)"),
                Line2D([], [], ls="", marker="*", mfc="none", color="gray", label="normal-tail estimate,\n95 % bootstrap CI"),
                Line2D([], [], ls="", marker="v", mfc="none", color="gray", ms=5,
                       label=f"tail estimate < {FLOOR:g}")]  # fmt: skip
    fig.legend(handles=handles, loc="center right", fontsize=8)
    samples = sorted(frame.samples.unique())
    bits = sorted(((frame.bits + frame.excluded) // frame.samples).unique())
    fig.suptitle(f"{macro}: bit-error rate vs VDD, local-mismatch Monte Carlo (ngspice, sky130 _mm models)\n"
                 f"{'/'.join(str(s) for s in samples)} samples x {'/'.join(str(b) for b in bits)} bits per point, "
                 "at the characterization table's clock", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 0.83, 0.95))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{macro}_ber_vs_vdd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
