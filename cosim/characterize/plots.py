"""PNG plots of a characterization table (matplotlib, Agg): values as measured, failed points marked, nothing
interpolated (a line is broken where a point failed or is missing).

- ``<macro>_access_vs_vdd.png``: read access times (read_1 solid: clk0 falling -> dout rising; read_0 dashed: clk0
  rising -> dout falling; docs/timing.md) and write time from clk0 falling (write_0to1 solid, write_1to0 dashed) vs VDD, one line per process, one column per temperature;
- ``<macro>_energy_vs_vdd.png``: energy per read / per write cycle vs VDD, same layout;
- ``<macro>_heatmap_read_energy.png``: read energy (mean of read_1 and read_0 energies) over process x VDD, one panel
  per temperature; ``<macro>_heatmap_min_cycle.png``: the same for the minimum cycle time. Failed cells are hatched.

Failed points of the line plots are drawn as red crosses along the bottom of the panel at their VDD. A point is
failed where its row failed, and also at every op of a corner whose writes fail (cosim.table.classify_corner): a row
that passed there (a read of what the failed write left) measured nothing and is not a value.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.errors import CosimError
from cosim.types import PROCESSES

_LINE_OPS = {
    "access": (("read", "access_time_s", 1e9, "read access (ns): 1 from clk fall, 0 from clk rise", ("read_1", "read_0")),
               ("write", "access_time_s", 1e9, "write time from clk fall (ns)", ("write_0to1", "write_1to0"))),
    "energy": (("read", "energy_j", 1e12, "energy per read (pJ)", ("read_1", "read_0")),
               ("write", "energy_j", 1e12, "energy per write (pJ)", ("write_0to1", "write_1to0"))),
}  # fmt: skip


def _writes_fail(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame``: do its corner's writes fail (cosim.table.classify_corner on the corner's rows)?"""
    from cosim.table import UNUSABLE_WRITES, classify_corner

    bad = set()
    for corner, rows in frame.groupby(["process", "vdd_v", "temp_c"]):
        verdict = classify_corner({str(r.op): (str(r.status), "" if pd.isna(r.message) else str(r.message),
                                               float(r.cycle_time_s)) for r in rows.itertuples()})
        if verdict[0] == UNUSABLE_WRITES:
            bad.add(corner)
    return pd.Series([c in bad for c in zip(frame.process, frame.vdd_v, frame.temp_c)], index=frame.index, dtype=bool)


def _ok_value(frame: pd.DataFrame, op: str, column: str) -> pd.DataFrame:
    """process, vdd_v, temp_c, value (NaN where failed, missing or at a corner whose writes fail), failed (bool)
    for one op."""
    writes_fail = _writes_fail(frame)
    mask = frame.op == op
    sub = frame[mask][["process", "vdd_v", "temp_c", "status", column]].copy()
    sub["failed"] = (sub.status != "ok") | sub[column].isna() | writes_fail[mask]
    sub["value"] = sub[column].where(~sub["failed"])
    return sub


def _processes(frame: pd.DataFrame) -> list[str]:
    present = set(frame.process)
    return [p for p in PROCESSES if p in present] + sorted(present - set(PROCESSES))


def _line_figure(frame: pd.DataFrame, kind: str, macro: str, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    temps = sorted(frame.temp_c.unique())
    procs = _processes(frame)
    specs = _LINE_OPS[kind]
    fig, axes = plt.subplots(len(specs), len(temps), figsize=(4.2 * len(temps) + 1.5, 3.2 * len(specs) + 0.4), squeeze=False)
    colors = {p: plt.cm.tab10(i) for i, p in enumerate(procs)}
    any_failed = False
    for r, (label, column, scale, ylabel, ops) in enumerate(specs):
        for c, temp in enumerate(temps):
            ax = axes[r][c]
            marks = blended_transform_factory(ax.transData, ax.transAxes)
            for op, style in zip(ops, ("-", "--")):
                data = _ok_value(frame[frame.temp_c == temp], op, column)
                for proc in procs:
                    d = data[data.process == proc].sort_values("vdd_v")
                    if d.empty:
                        continue
                    # NaN (failed) breaks the line: never drawn across a failed point
                    ax.plot(d.vdd_v, d.value * scale, style, marker="o", ms=3, color=colors[proc],
                            label=f"{proc} {op}")  # fmt: skip
                    bad = d[d.failed]
                    if not bad.empty:
                        any_failed = True
                        ax.plot(bad.vdd_v, np.full(len(bad), 0.04), "x", color="red", ms=8, mew=2, transform=marks,
                                clip_on=False)  # fmt: skip
            ax.set_title(f"{temp:g} C")
            ax.set_xlabel("VDD (V)")
            if c == 0:
                ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    handles, labels = [], []
    for row in axes:  # every op of every row (read and write lines)
        h, lab = row[0].get_legend_handles_labels()
        handles += h
        labels += lab
    if any_failed:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="", marker="x", color="red", mew=2))
        labels.append("failed point (every op\nwhere writes fail)")
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle(f"{macro}: {'access/write time' if kind == 'access' else 'energy per cycle'} vs VDD\n(cosim, ngspice)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 0.86, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _grid(frame: pd.DataFrame, ops: tuple[str, ...], column: str, temp: float, procs: list[str],
          vdds: list[float]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Mean over ``ops`` of ``column`` per (process, vdd) at ``temp``; failed where any op failed or is missing, or
    the corner's writes fail."""
    vals = np.full((len(procs), len(vdds)), np.nan)
    failed = np.zeros_like(vals, dtype=bool)
    sub = frame[frame.temp_c == temp]
    sub = sub.assign(status=sub.status.where(~_writes_fail(sub), "failed"))
    for i, p in enumerate(procs):
        for j, v in enumerate(vdds):
            cell = sub[(sub.process == p) & np.isclose(sub.vdd_v, v)]
            xs = []
            present = False
            for op in ops:
                row = cell[cell.op == op]
                if row.empty:
                    continue
                present = True
                x = row.iloc[0][column]
                if row.iloc[0].status != "ok" or not math.isfinite(x):
                    failed[i, j] = True
                else:
                    xs.append(x)
            if present and not failed[i, j] and len(xs) == len(ops):
                vals[i, j] = float(np.mean(xs))
            elif present:
                failed[i, j] = True
    return vals, failed


def _heatmap(frame: pd.DataFrame, ops: tuple[str, ...], column: str, scale: float, unit: str, title: str,
             macro: str, path: Path) -> Path:  # fmt: skip
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    temps = sorted(frame.temp_c.unique())
    procs = _processes(frame)
    vdds = sorted(frame.vdd_v.unique())
    grids = [_grid(frame, ops, column, t, procs, vdds) for t in temps]
    finite = np.concatenate([g[0][np.isfinite(g[0])] for g in grids]) * scale
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    fig, axes = plt.subplots(1, len(temps), figsize=(3.6 * len(temps) + 1.2, 0.55 * len(procs) + 2.2), squeeze=False)
    image = None
    for ax, temp, (vals, failed) in zip(axes[0], temps, grids):
        image = ax.imshow(np.ma.masked_invalid(vals * scale), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(procs)):
            for j in range(len(vdds)):
                if failed[i, j]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="red", lw=0))
                    ax.text(j, i, "failed", ha="center", va="center", color="red", fontsize=8, backgroundcolor="white")
                elif math.isfinite(vals[i, j]):
                    ax.text(j, i, f"{vals[i, j] * scale:.3g}", ha="center", va="center", fontsize=7,
                            color="white" if vals[i, j] * scale < (vmin + vmax) / 2 else "black")  # fmt: skip
                else:
                    ax.text(j, i, "n/a", ha="center", va="center", color="gray", fontsize=8)
        ax.set_xticks(range(len(vdds)), [f"{v:g}" for v in vdds])
        ax.set_yticks(range(len(procs)), procs)
        ax.set_xlabel("VDD (V)")
        ax.set_title(f"{temp:g} C")
    fig.colorbar(image, ax=axes[0].tolist(), label=unit)
    fig.suptitle(f"{macro}: {title}\n(cosim, ngspice; hatched = failed, or writes fail there)", fontsize=10, y=1.12)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_characterization(csv_path: Path, out_dir: Path, macro: str | None = None) -> list[Path]:
    """Write the PNGs of one macro's table into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CosimError(f"{csv_path}: no characterization table; run 'make characterize'")
    frame = pd.read_csv(csv_path)
    macro = macro or str(frame.macro.iloc[0])
    frame = frame[frame.macro == macro]
    if frame.empty:
        raise CosimError(f"{csv_path}: no rows for macro {macro}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _line_figure(frame, "access", macro, out_dir / f"{macro}_access_vs_vdd.png"),
        _line_figure(frame, "energy", macro, out_dir / f"{macro}_energy_vs_vdd.png"),
        _heatmap(frame, ("read_1", "read_0"), "energy_j", 1e12, "pJ", "read energy (mean of read_1, read_0)", macro,
                 out_dir / f"{macro}_heatmap_read_energy.png"),  # fmt: skip
        _heatmap(frame, ("min_cycle",), "cycle_time_s", 1e9, "ns", "minimum cycle time", macro,
                 out_dir / f"{macro}_heatmap_min_cycle.png"),  # fmt: skip
    ]
