"""PNG plots of a run report (and of a sweep). Headless (Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cosim.memory.ledger import COMPONENTS  # noqa: E402
from cosim.report.units import axis_scale  # noqa: E402

_LABELS = {"sram_read_j": "SRAM read", "sram_write_j": "SRAM write", "idle_j": "SRAM idle (clocked)",
           "leakage_j": "SRAM leakage (gated)", "offchip_j": "off-chip (literature)", "compute_j": "MAC (literature)"}


def plot_run(report: dict, out_dir: Path) -> list[Path]:
    """Energy per layer (stacked, log axis), energy breakdown (log axis), confusion matrix. A log energy axis keeps
    SRAM terms readable beside an off-chip term that can be orders of magnitude larger."""
    out_dir = Path(out_dir)
    title = f"{report['model']} / {report['macro']} / {report['process']} {report['vdd']:g} V {report['temp_c']:g} °C"
    paths = []
    layers = report["per_layer"]
    names = [L["name"] for L in layers]
    comps = [c for c in COMPONENTS if any(L[c] > 0 for L in layers)]
    scale, unit = axis_scale([L[c] for L in layers for c in comps], "J")
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(names) + 3.5), 4.2))
    width = 0.8 / max(1, len(comps))
    x = np.arange(len(names))
    for i, c in enumerate(comps):
        v = np.array([L[c] for L in layers]) / scale
        ax.bar(x + (i - (len(comps) - 1) / 2) * width, np.where(v > 0, v, np.nan), width, label=_LABELS[c])
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"energy per inference ({unit}, log scale)")
    ax.set_title(f"Energy per layer by component — {title}", fontsize=9)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", rotation=45 if len(names) > 8 else 0, labelsize=7)
    fig.tight_layout()
    paths.append(out_dir / "energy_per_layer.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    keys = list(COMPONENTS) + ["model_load_j"]
    labs = [_LABELS[c] for c in COMPONENTS] + ["weights preload (amortized)"]
    vals = [report[c] for c in keys]
    scale, unit = axis_scale(vals, "J")
    total = report["energy_per_inference_j"]
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ["#c77c00" if "literature" in lab else "#7f7f7f" if c == "model_load_j" else "#1f77b4"
              for c, lab in zip(keys, labs)]
    v = np.array(vals) / scale
    ax.barh(labs, np.where(v > 0, v, np.nan), color=colors)
    for i, val in enumerate(vals):
        ax.text(v[i] if val > 0 else np.nanmin(np.where(v > 0, v, np.nan)), i,
                f"  {100 * val / total:.1f} %" if val > 0 and total > 0 else "  0 (not charged)", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel(f"energy per inference ({unit}, log scale)")
    ax.set_title(f"Energy breakdown (share of total) — {title}\nblue: SRAM, from the tables; orange: literature; grey: both",
                 fontsize=9)
    ax.grid(axis="x", which="major", alpha=0.3)
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, hi * 8)  # room for the share labels
    fig.tight_layout()
    paths.append(out_dir / "energy_breakdown.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    cm = np.array(report["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({report['n_images']} images), accuracy {report['accuracy'] * 100:.2f} %",
                 fontsize=9)
    for (i, j), val in np.ndenumerate(cm):
        if cm.shape[0] <= 12:
            ax.text(j, i, str(val), ha="center", va="center", fontsize=6,
                    color="white" if val > cm.max() / 2 else "black")
    fig.colorbar(im, label="images")
    fig.tight_layout()
    paths.append(out_dir / "confusion_matrix.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


_SHORT = {"reads fail at every clock tried": "reads fail at every clock",
          "between grid points that disagree on pass/fail": "between pass and fail",
          "no clock period passes": "no passing clock"}


def _short_status(status: str) -> str:
    """A sweep row's status as a cell label: "ok", "slower clock", or (short) what made it unusable."""
    if status.startswith("unusable"):
        why = status.split(":", 1)[1].strip() if ":" in status else status
        return _SHORT.get(why, why)
    return "ok" if status == "ok" else "slower clock"


def plot_sweep(rows: list[dict], out_dir: Path) -> Path:
    """Accuracy, SRAM energy and latency vs VDD, one line per (process, temperature), and below them every corner's
    status. The energy panel shows the SRAM energy (the part the corner changes); off-chip and MAC terms are
    literature constants. An unusable corner has no figures: no marker, no number; the line breaks there and its
    cell in the status panel is hatched. A corner whose reads pass only at a slower clock is an open marker."""
    from matplotlib.patches import Patch, Rectangle

    keys = sorted({(r["process"], r["temp_c"]) for r in rows})
    vdds = sorted({r["vdd"] for r in rows})
    fig = plt.figure(figsize=(13, 4.6 + 0.32 * len(keys)))
    grid = fig.add_gridspec(2, 3, height_ratios=[4.2, 0.9 + 0.32 * len(keys)])
    axes = [fig.add_subplot(grid[0, i]) for i in range(3)]
    status_ax = fig.add_subplot(grid[1, :])
    usable = [r for r in rows if r["usable"]]
    e_scale, e_unit = axis_scale([r["sram_energy_per_inference_j"] for r in usable] or [1e-9], "J")
    figures = (lambda r: r.get("accuracy_mean", r["accuracy"]) * 100, lambda r: r["sram_energy_per_inference_j"] / e_scale,
               lambda r: r["latency_per_inference_s"] * 1e6)
    chips = max((r.get("chips", 1) for r in usable), default=1)
    procs = list(dict.fromkeys(p for p, _ in keys))
    temps = sorted({t for _, t in keys})
    for p, t in keys:
        pts = sorted((r for r in rows if r["process"] == p and r["temp_c"] == t), key=lambda r: r["vdd"])
        v = [r["vdd"] for r in pts]
        color, style = plt.cm.tab10(procs.index(p) % 10), ("-", "--", ":", "-.")[temps.index(t) % 4]
        for ax, fig_of in zip(axes, figures):
            # an unusable corner is NaN: the line breaks there, nothing is drawn at it
            y = np.array([fig_of(r) if r["usable"] else np.nan for r in pts], dtype=float)
            slow = np.array([r["status"] != "ok" and r["usable"] for r in pts])
            ax.plot(v, np.where(slow, np.nan, y), "o", color=color)
            ax.plot(v, y, style, color=color, label=f"{p} {t:g} °C" if np.isfinite(y).any() else None)
            if slow.any():
                ax.plot(np.array(v)[slow], y[slow], "o", mfc="white", color=color)
        if chips > 1:  # accuracy's spread over the chip instances: min to max
            mean = np.array([r["accuracy_mean"] * 100 if r["usable"] else np.nan for r in pts], dtype=float)
            lo = np.array([r["accuracy_min"] * 100 if r["usable"] else np.nan for r in pts], dtype=float)
            hi = np.array([r["accuracy_max"] * 100 if r["usable"] else np.nan for r in pts], dtype=float)
            spread = np.clip([mean - lo, hi - mean], 0.0, None)  # the mean of equal values can round past them
            axes[0].errorbar(v, mean, yerr=spread, fmt="none", ecolor=color, capsize=3, lw=1)
    if usable:  # where accuracy has dropped 1 point below the best corner's
        best = max(figures[0](r) for r in usable)
        axes[0].axhline(best - 1, color="gray", ls=":", lw=1)
        axes[0].annotate("best - 1 point", (1.0, best - 1), xycoords=("axes fraction", "data"), ha="right",
                         va="top", fontsize=7, color="gray")
    for ax, lab, ttl in zip(axes, ["accuracy (%)", f"SRAM energy / inference ({e_unit})", "latency / inference (us)"],
                            [f"Accuracy vs VDD ({chips} chips: mean, min-max)" if chips > 1 else
                             "Accuracy vs VDD", "SRAM energy vs VDD (tables only)", "Latency vs VDD"]):
        ax.set_xlabel("VDD (V)")
        ax.set_ylabel(lab)
        ax.set_title(ttl, fontsize=10)
        ax.grid(alpha=0.3)
        crowded = len(vdds) > 1 and min(np.diff(vdds)) < 0.08 * (vdds[-1] - vdds[0])
        ax.set_xticks(vdds, [f"{v:g}" for v in vdds], rotation=45 if crowded else 0)
    if any(r["usable"] and r["status"] != "ok" for r in rows):
        axes[0].plot([], [], "o", mfc="white", color="gray", label="reads fail at min cycle: slower clock")
    if usable:
        handles, labels = axes[0].get_legend_handles_labels()
        axes[2].legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    # status of every corner: ok, slower clock, or hatched where unusable (no figures)
    colors = {"ok": "#d8efd8", "slower clock": "#fff0b3"}
    for r in rows:
        x, y = vdds.index(r["vdd"]), keys.index((r["process"], r["temp_c"]))
        label = _short_status(r["status"])
        if r["usable"]:
            status_ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colors.get(label, "#fff0b3"),
                                          edgecolor="white"))
        else:
            status_ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="white", hatch="xx",
                                          edgecolor="#d62728", lw=0))
        status_ax.text(x, y, label if r["usable"] else f"unusable: {label}", ha="center", va="center",
                       fontsize=7, color="black" if r["usable"] else "#a00000",
                       bbox=None if r["usable"] else dict(facecolor="white", edgecolor="none", pad=1))
    status_ax.set_xlim(-0.5, len(vdds) - 0.5)
    status_ax.set_ylim(len(keys) - 0.5, -0.5)
    status_ax.set_xticks(range(len(vdds)), [f"{v:g} V" for v in vdds])
    status_ax.set_yticks(range(len(keys)), [f"{p} {t:g} °C" for p, t in keys])
    status_ax.tick_params(length=0, labelsize=8)
    status_ax.set_title("Corner status (hatched: unusable, no figures)", fontsize=10)
    status_ax.legend(handles=[Patch(facecolor=colors["ok"], label="ok"),
                              Patch(facecolor=colors["slower clock"], label="reads fail at the min-cycle clock; "
                                                                              "run at the slower read_cycle clock"),
                              Patch(facecolor="white", hatch="xx", edgecolor="#d62728",
                                    label="unusable, no figures (writes fail, reads fail at every clock\ntried, or between grid points that disagree)")],
                     fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    fig.suptitle("Corner sweep: every point is one full run at that corner", fontsize=10)
    fig.tight_layout()
    path = Path(out_dir) / "sweep_vs_vdd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
