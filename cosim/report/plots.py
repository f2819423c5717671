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


def plot_sweep(rows: list[dict], out_dir: Path) -> Path:
    """Accuracy, SRAM energy and latency vs VDD, one line per (process, temperature). The energy panel shows the
    SRAM energy (the part the corner changes); off-chip and MAC terms are literature constants."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    failed = [r for r in rows if "failed" in r]
    rows = [r for r in rows if "failed" not in r]
    keys = sorted({(r["process"], r["temp_c"]) for r in rows})
    e_scale, e_unit = axis_scale([r["sram_energy_per_inference_j"] for r in rows] or [1e-9], "J")
    for p, t in keys:
        pts = sorted((r for r in rows if r["process"] == p and r["temp_c"] == t), key=lambda r: r["vdd"])
        v = [r["vdd"] for r in pts]
        axes[0].plot(v, [r["accuracy"] * 100 for r in pts], "o-", label=f"{p} {t:g} °C")
        axes[1].plot(v, [r["sram_energy_per_inference_j"] / e_scale for r in pts], "o-", label=f"{p} {t:g} °C")
        axes[2].plot(v, [r["latency_per_inference_s"] * 1e6 for r in pts], "o-", label=f"{p} {t:g} °C")
    for ax, lab, ttl in zip(axes, ["accuracy (%)", f"SRAM energy / inference ({e_unit})", "latency / inference (us)"],
                            ["Accuracy vs VDD", "SRAM energy vs VDD (tables only)", "Latency vs VDD"]):
        ax.set_xlabel("VDD (V)")
        ax.set_ylabel(lab)
        ax.set_title(ttl, fontsize=10)
        ax.grid(alpha=0.3)
    for r in failed:  # a corner the table refuses: marked on the accuracy panel's axis, no figure
        axes[0].plot(r["vdd"], 0, "rx", markersize=9)
    if failed:
        axes[0].plot([], [], "rx", label="failed corner (no figures)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Corner sweep: every point is one full run at that corner", fontsize=10)
    fig.tight_layout()
    path = Path(out_dir) / "sweep_vs_vdd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
