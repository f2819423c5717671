"""PNG plots of a run report (and of a sweep). Headless (Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cosim.memory.ledger import COMPONENTS  # noqa: E402

_LABELS = {"sram_read_j": "SRAM read", "sram_write_j": "SRAM write", "idle_j": "SRAM idle", "leakage_j": "SRAM leakage",
           "offchip_j": "off-chip (literature)", "compute_j": "MAC (literature)"}


def plot_run(report: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    title = f"{report['model']} / {report['macro']} / {report['process']} {report['vdd']:g} V {report['temp_c']:g} C"
    paths = []
    layers = report["per_layer"]
    names = [L["name"] for L in layers]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4))
    bottom = np.zeros(len(names))
    for c in COMPONENTS:
        v = np.array([L[c] for L in layers]) * 1e9
        ax.bar(names, v, bottom=bottom, label=_LABELS[c])
        bottom += v
    ax.set_ylabel("energy per inference (nJ)")
    ax.set_title(f"energy per layer — {title}", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    fig.tight_layout()
    paths.append(out_dir / "energy_per_layer.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    vals = [report[c] * 1e9 for c in COMPONENTS] + [report["model_load_j"] * 1e9]
    labs = [_LABELS[c] for c in COMPONENTS] + ["weights preload (amortized)"]
    ax.barh(labs, vals)
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_title(f"energy breakdown — {title}", fontsize=9)
    fig.tight_layout()
    paths.append(out_dir / "energy_breakdown.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    cm = np.array(report["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix, accuracy {report['accuracy'] * 100:.2f} %", fontsize=9)
    for (i, j), v in np.ndenumerate(cm):
        if cm.shape[0] <= 12:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6)
    fig.colorbar(im)
    fig.tight_layout()
    paths.append(out_dir / "confusion_matrix.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def plot_sweep(rows: list[dict], out_dir: Path) -> Path:
    """accuracy / energy / latency vs VDD, one line per (process, temperature)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    keys = sorted({(r["process"], r["temp_c"]) for r in rows})
    for p, t in keys:
        pts = sorted((r for r in rows if r["process"] == p and r["temp_c"] == t), key=lambda r: r["vdd"])
        v = [r["vdd"] for r in pts]
        axes[0].plot(v, [r["accuracy"] * 100 for r in pts], "o-", label=f"{p} {t:g} C")
        axes[1].plot(v, [r["energy_per_inference_j"] * 1e9 for r in pts], "o-", label=f"{p} {t:g} C")
        axes[2].plot(v, [r["latency_per_inference_s"] * 1e6 for r in pts], "o-", label=f"{p} {t:g} C")
    for ax, lab in zip(axes, ["accuracy (%)", "energy / inference (nJ)", "latency / inference (us)"]):
        ax.set_xlabel("VDD (V)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(out_dir) / "sweep_vs_vdd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
