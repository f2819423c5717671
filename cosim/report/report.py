"""report.json / per_image.csv from an InferResult. Every figure says where it came from (``sources``):
"table" (characterization rows: macro, process, vdd, temp, op, quantity, interpolation weight, point_key),
"literature" (accelerator-file parameters, NOT SPICE-derived), "data" (labels vs predictions), or "derived"
(arithmetic on the others, named)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path

import numpy as np

import torch

from cosim.config import PROJECT_ROOT
from cosim.engine.evaluate import classification_metrics
from cosim.memory.ledger import COMPONENTS
from cosim.report.units import bytes_, eng
from cosim.simulate import InferResult


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _rows(*keys_costs) -> list[dict]:
    out, seen = [], set()
    for costs, key in keys_costs:
        for r in costs.sources[key]:
            d = r.as_dict()
            t = tuple(sorted(d.items()))
            if t not in seen:
                seen.add(t)
                out.append(d)
    return out


def _sources(res: InferResult) -> dict:
    kw, ka, acc = res.system.costs_w, res.system.costs_a, res.acc
    both = lambda *ks: _rows(*[(k, key) for key in ks for k in (kw, ka)])  # noqa: E731
    lit_off = {"kind": "literature", "note": acc.offchip_energy_source}
    lit_bw = {"kind": "literature", "note": acc.offchip_bandwidth_source}
    lit_mac = {"kind": "literature", "note": acc.compute_energy_source}
    period_note = ("per-cycle energies moved from the table's period_s to the run's clock period by "
                   "leakage_w x (clock_s - period_s)") if abs(kw.period_s - res.system.clock_s) > 0 else ""
    read = {"kind": "table", "rows": both("read_base_j", "read_per_one_j"),
            "formula": "reads*E(read_0) + ones*(E(read_1)-E(read_0))/W", "note": period_note}
    write = {"kind": "table", "rows": both("write_same_j", "write_per_0to1_j", "write_per_1to0_j"),
             "formula": "writes*E(write_same) + f01*(E(write_0to1)-E(write_same))/W + f10*(E(write_1to0)-E(write_same))/W",
             "note": period_note}
    idle = {"kind": "table", "rows": both("idle_j"), "formula": "(banks*cycles - accesses) * E(idle)"}
    leak = {"kind": "table", "rows": both("leakage_w"), "formula": "off-chip stall time * banks * leakage_w"}
    clock = {"kind": "table", "rows": both("min_cycle_s"),
             "formula": "clock period = max(min_cycle) of the macros, raised to read_cycle where the table's reads "
                        "needed a longer period" if acc.clock_mode == "min_cycle"
             else f"fixed {acc.frequency_hz} Hz, checked against min_cycle"}
    lat = {"kind": "derived", "from": ["clock_hz", "offchip bandwidth"], "rows": both("min_cycle_s"),
           "formula": "sum over layers of max(weight accesses/banks, activation accesses/banks, macs/macs_per_cycle) "
                      "* clock_s + offchip_bytes/bandwidth", "note": lit_bw["note"]}
    holds = {"kind": "table", "rows": both("row_switch_hazard") + both("idle_j"),
             "formula": "row-changing accesses (per bank) x E(idle), where row_switch shows bit errors"}
    faults = res.extra.get("faults", {}).get("memories", {})
    ber = {"kind": "table", "rows": both("bit_error_rate"),
           "montecarlo": sorted({m["source"] for m in faults.values()}),
           "formula": "per cell and stored value v: 1 - prod(1 - rate) over the Monte Carlo table's ops that make a "
                      "cell holding v read wrong (write to v, read of v, read disturb of v), each op's rate the larger "
                      "of its count and its tail estimate; plus the nominal table's wrong bits (its read_0/read_1 "
                      "rows, which passed: reads that fail are never a random rate, the corner is unusable or runs "
                      "at read_cycle)"}
    total = {"kind": "derived", "from": ["sram_read_j", "sram_write_j", "idle_j", "leakage_j", "offchip_j",
                                         "compute_j", "model_load_j"]}
    data = {"kind": "data", "note": f"labels of {res.dataset_source} vs the engine's predictions"}
    return {
        "sram_read_j": read, "sram_write_j": write, "idle_j": idle, "leakage_j": leak,
        "offchip_j": lit_off, "compute_j": lit_mac, "model_load_j": {**write, "note": "weights preload, once per run, "
                                                                      "amortized; plus " + acc.offchip_energy_source},
        "energy_per_inference_j": total, "sram_energy_per_inference_j": {"kind": "derived", "from": [
            "sram_read_j", "sram_write_j", "idle_j", "leakage_j"]},
        "clock_hz": clock, "latency_per_inference_s": lat,
        "throughput_inferences_per_s": {"kind": "derived", "from": ["latency_per_inference_s"],
                                        "formula": "1 / latency (one image at a time)"},
        "average_power_w": {"kind": "derived", "from": ["energy_per_inference_j", "latency_per_inference_s"]},
        "bit_error_rate": ber, "hold_cycles_per_inference": holds, "accuracy": data, "per_class": data, "confusion_matrix": data,
        "sram_reads": {"kind": "derived", "note": "counted by the memory model from the engine's recorded tensors"},
        "sram_writes": {"kind": "derived", "note": "counted by the memory model from the engine's recorded tensors"},
        "offchip_bytes": {"kind": "derived", "note": "counted by the memory model (tile loads, input loads, drains)"},
    }


def clopper_pearson(k: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval of a proportion k/n: how far a rate measured on n trials can be
    trusted (an accuracy on a few hundred images, or a bit-error rate with no error seen in a short check)."""
    from scipy.stats import beta

    if not (math.isfinite(k) and math.isfinite(n)) or n < 1:
        return 0.0, 1.0
    k, n = int(round(k)), int(round(n))  # interpolated counts are blends of whole counts
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def model_load_offchip(res: InferResult) -> float:
    """Off-chip energy of the once-per-run weights preload, per image (amortized like model_load_j)."""
    return res.preload["offchip_j"] / res.n_images


def _memory(res: InferResult, energy: float, offchip_j: float) -> dict:
    """What is on chip: banks, sizes, whether the model's weights and every layer's activations fit, and the share
    of the energy per inference that is off-chip (literature values)."""
    ms, acc = res.system, res.acc
    plan = ms.plan
    wbytes = sum(lp.weight_words for lp in plan.layers) * plan.weight_word_bits // 8
    act_need = max((lp.input_words + lp.output_words for lp in plan.layers), default=0) * plan.act_word_bits // 8
    streamed = [lp.name for lp in plan.layers if lp.act_mode == "streamed"]
    tiled = [lp.name for lp in plan.layers if lp.weight_words and not lp.weights_resident]
    out = {}
    for name, spec, costs, cap_words, bits, need, fits in (
            ("weights", acc.weights, ms.costs_w, plan.weight_capacity_words, plan.weight_word_bits, wbytes, not tiled),
            ("activations", acc.activations, ms.costs_a, plan.act_capacity_words, plan.act_word_bits, act_need,
             not streamed)):
        out[name] = {"macro": spec.macro, "banks": spec.banks,
                     "bank_bytes": costs.num_words * costs.word_size // 8,
                     "total_bytes": cap_words * bits // 8, "needed_bytes": need, "fits": bool(fits)}
    out["activations"]["needed_note"] = "the largest input + output of one layer"
    out["weights"]["needed_note"] = "every layer's weights and int32 biases"
    out.update({
        "on_chip": not tiled and not streamed,
        "total_bytes": out["weights"]["total_bytes"] + out["activations"]["total_bytes"],
        "layers_with_weights_tiled": tiled, "layers_with_activations_streamed": streamed,
        "offchip_energy_share": offchip_j / energy if energy > 0 else 0.0,
        "sram_energy_share": (sum(float(res.layer_energy_j[c].sum()) for c in
                                  ("sram_read_j", "sram_write_j", "idle_j", "leakage_j")) / res.n_images
                              + (res.preload["sram_write_j"] + res.preload["hold_j"]) / res.n_images) / energy
        if energy > 0 else 0.0,
        "clock_gating": acc.clock_gating,
    })
    return out


def _corner_status(res: InferResult) -> dict:
    """The corner's verdict for this run: "ok", or "reads fail at this clock; slower clock used" where a macro's
    reads pass only at its table's read_cycle period (the run is clocked there), with the clocks in a note. (An
    unusable corner never gets here: it is refused before the run.)"""
    from cosim.table import STATUS_OK, STATUS_SLOWER_CLOCK

    ms = res.system
    per = {}
    for c in (ms.costs_w, ms.costs_a):
        if c.status is not None:
            per[c.macro] = c.status.as_dict()
    slow = [c for c in (ms.costs_w, ms.costs_a) if c.status is not None and c.status.slower_clock]
    out = {"status": STATUS_SLOWER_CLOCK if slow else STATUS_OK, "usable": True, "macros": per, "note": ""}
    if slow:
        # the clock the run would have had at the macros' write-then-read minimum cycle, and the one it runs at
        t_min = max(c.status.min_cycle_s for c in (ms.costs_w, ms.costs_a) if c.status is not None)
        out.update(min_cycle_clock_hz=1.0 / t_min, clock_hz=1.0 / ms.clock_s)
        out["note"] = (f"reads fail at {eng(1.0 / t_min, 'Hz')} (the table's min cycle, {eng(t_min, 's')}); run at "
                       f"{eng(1.0 / ms.clock_s, 'Hz')} ({eng(ms.clock_s, 's')}) where they pass (table "
                       + "; ".join(f"{c.macro} {c.status.reason}" for c in {c.macro: c for c in slow}.values()) + ")")
    return out


def _corners(res: InferResult, sources: dict) -> dict:
    """Per table: every grid corner with the ops that failed in simulation there, and the corners (with weights)
    this run's figures were read or interpolated from."""
    used: dict = {}
    for src in sources.values():
        for r in src.get("rows", []):
            k = (r["macro"], r["process"], r["vdd_v"], r["temp_c"])
            used[k] = max(used.get(k, 0.0), float(r["weight"]))
    out = {}
    for t in res.tables:
        grid = []
        for c in t.corners():
            st = t.status[t.processes.index(c.process), t.vdds.index(c.vdd_v), t.temps.index(c.temp_c)]
            grid.append({"process": c.process, "vdd_v": c.vdd_v, "temp_c": c.temp_c,
                         "status": t.corner_status(c.process, c.vdd_v, c.temp_c).status,
                         "failed_ops": [op for oi, op in enumerate(t.ops) if st[oi] == "failed"],
                         "used_weight": used.get((t.macro, c.process, c.vdd_v, c.temp_c))})
        out[t.macro] = grid
    weights = [w for w in used.values()]
    return {"tables": out, "interpolated": any(abs(w - 1.0) > 1e-12 for w in weights),
            "note": "status: ok, reads fail at this clock; slower clock used (read_cycle), or unusable (writes fail, "
                    "or reads fail at every clock tried: no run there); "
                    "failed_ops: rows whose simulation failed at that corner (no figure is taken from them); "
                    "used_weight: the largest interpolation weight of that corner's rows in this run's figures "
                    "(1.0: read exactly at a grid point)"}


def build_report(res: InferResult) -> dict:
    N = res.n_images
    ms, acc = res.system, res.acc
    comp = {c: float(res.layer_energy_j[c].sum()) / N for c in COMPONENTS}
    model_load = (res.preload["sram_write_j"] + res.preload["hold_j"] + res.preload["offchip_j"]) / N
    energy = sum(comp.values()) + model_load
    latency = float(res.counts["latency_s"].sum())
    correct = res.predictions == res.labels
    acc_val = float(correct.mean())
    metrics = classification_metrics(torch.as_tensor(res.labels), torch.as_tensor(res.predictions), res.classes)
    per_layer = []
    for i, (name, lp) in enumerate(zip(res.layer_names, ms.plan.layers)):
        e = {c: float(res.layer_energy_j[c][i]) / N for c in COMPONENTS}
        per_layer.append({
            "name": name, "op": res.layer_ops[i], **e, "energy_j": sum(e.values()),
            "latency_s": float(res.counts["latency_s"][i]), "cycles": int(res.counts["cycles"][i]),
            "stall_s": float(res.counts["stall_s"][i]), "hold_cycles": int(res.counts["holds"][i]),
            "sram_reads": int(res.counts["sram_reads"][i]) // N, "sram_writes": int(res.counts["sram_writes"][i]) // N,
            "weight_reads": int(res.counts["weight_reads"][i]), "weight_writes": int(res.counts["weight_writes"][i]),
            "activation_reads": int(res.counts["act_reads"][i]), "activation_writes": int(res.counts["act_writes"][i]),
            "offchip_bytes": int(res.counts["offchip_bytes"][i]) // N, "macs": int(lp.macs),
            "weight_words": lp.weight_words, "input_words": lp.input_words, "output_words": lp.output_words,
            "passes": lp.passes, "weights_resident": lp.weights_resident, "activation_mode": lp.act_mode,
            "input_from": lp.input_from, "output_drained": lp.output_drained,
        })
    kw, ka = ms.costs_w, ms.costs_a
    ber = res.extra["ber_applied"]
    tables = {}
    for t in res.tables:
        prov = dict(t.provenance)
        tables[t.macro] = {"csv": str(t.path), "csv_sha256": t.csv_sha256, "json_sha256": t.json_sha256,
                           "ngspice_version": prov.get("ngspice_version"), "created": prov.get("created"),
                           "models": prov.get("models"), "netlist_sha256": prov.get("netlist_sha256"),
                           "word_size": t.word_size, "num_words": t.num_words}
    spec = res.spec
    sources = _sources(res)
    return {
        "model": spec.model, "dataset": res.extra["dataset"], "classes": list(res.classes), "n_images": N,
        "accuracy": acc_val, "accuracy_ci95": clopper_pearson(int(correct.sum()), N),
        "macro": acc.weights.macro, "activation_macro": acc.activations.macro,
        "process": spec.corner.process, "vdd": spec.corner.vdd_v, "temp_c": spec.corner.temp_c,
        "corner_status": _corner_status(res),
        "energy_per_inference_j": energy, **comp, "model_load_j": model_load,
        "sram_energy_per_inference_j": comp["sram_read_j"] + comp["sram_write_j"] + comp["idle_j"] + comp["leakage_j"],
        "energy_per_image_min_j": float(res.energy_per_image_j.min()),
        "energy_per_image_max_j": float(res.energy_per_image_j.max()),
        "latency_per_inference_s": latency, "throughput_inferences_per_s": 1.0 / latency,
        "average_power_w": energy / latency, "clock_hz": 1.0 / ms.clock_s, "clock_period_s": ms.clock_s,
        "sram_reads": int(res.counts["sram_reads"].sum()) // N, "sram_writes": int(res.counts["sram_writes"].sum()) // N,
        "offchip_bytes": int(res.counts["offchip_bytes"].sum()) // N,
        "sram_reads_total": int(res.counts["sram_reads"].sum()), "sram_writes_total": int(res.counts["sram_writes"].sum()),
        "macs_per_inference": int(ms.macs.sum()),
        "hold_cycles_per_inference": int(res.counts["holds"].sum()),
        "row_switch": {"weights_macro_hazard": kw.row_switch_hazard, "activations_macro_hazard": ka.row_switch_hazard,
                       "words_per_row": {"weights": kw.words_per_row, "activations": ka.words_per_row},
                       "note": ("where the table's row_switch rows show wrong bits for a read right after an access "
                                "to another row, one deselected hold cycle is inserted before every row-changing "
                                "access (charged as an idle cycle, counted in latency); None: table has no "
                                "row_switch rows, no holds")},
        "bit_errors": {"bit_error_rate": ber, "injected": ber > 0, "fault_model": res.extra["faults"]["model"],
                       "chip": res.extra["faults"]["chip"], "memories": res.extra["faults"]["memories"],
                       "bit_error_rate_upper95_weights_macro": kw.bit_error_rate_upper95,
                       "bits_checked_in_table": kw.bits_checked, "bit_errors_in_table": kw.bit_errors,
                       "table_rate_ci95_weights_macro": clopper_pearson(kw.bit_errors, kw.bits_checked),
                       "bits_read_by_engine": res.bits_read, "bits_flipped": res.bits_flipped,
                       "seed": res.extra["ber_seed"]},
        "access_costs": {m: {k: getattr(c, k) for k in (
            "read_base_j", "read_per_one_j", "write_same_j", "write_per_0to1_j", "write_per_1to0_j", "idle_j",
            "leakage_w", "clk_fall_to_dout_rise_s", "clk_rise_to_dout_fall_s", "write_time_s", "min_cycle_s", "period_s", "bit_error_rate")}
            for m, c in (("weights", kw), ("activations", ka))},
        "per_layer": per_layer,
        "per_class": metrics["per_class"], "macro_f1": metrics["macro_f1"],
        "confusion_matrix": metrics["confusion_matrix"],
        "dataflow": {"plan": "see cosim/memory/mapping.py", "accelerator": acc.as_dict(),
                     "weights_resident": bool(ms.plan.layers[0].weights_resident),
                     "weight_capacity_words": ms.plan.weight_capacity_words,
                     "activation_capacity_words": ms.plan.act_capacity_words},
        "memory": _memory(res, energy, comp["offchip_j"] + model_load_offchip(res)),
        "provenance": {"tables": tables, "model_sha256": res.model_sha256,
                       "model_file": res.extra.get("model_file"), "model_file_sha256": res.extra.get("model_file_sha256"),
                       "model_metadata": res.extra.get("model_metadata"), "dataset_source": res.dataset_source,
                       "seeds": {"subset": spec.seed, "bit_errors": res.extra["ber_seed"]},
                       "limit": spec.limit, "cosim_commit": _git_commit(), "batch_size": spec.batch_size},
        "timing": {"wall_s": res.wall_s, "engine_s": res.engine_s, "memory_model_s": res.memory_s,
                   "note": "engine_s and memory_model_s are summed over the batches, which run side by side (one "
                           "per core): together they can exceed wall_s"},
        "sources": sources,
        "corners": _corners(res, sources),
    }


def clean(x):
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    return x


def write_outputs(res: InferResult, out_dir: Path, *, plots: bool = True) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = clean(build_report(res))
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    latency = report["latency_per_inference_s"]
    with open(out_dir / "per_image.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "label", "prediction", "correct", "confidence", "latency_s", "energy_j"])
        for i in range(res.n_images):
            w.writerow([i, int(res.labels[i]), int(res.predictions[i]), int(res.labels[i] == res.predictions[i]),
                        f"{float(res.confidence[i]):.6g}", f"{latency:.6g}", f"{float(res.energy_per_image_j[i]):.6g}"])
    pngs = []
    if plots:
        from cosim.report.plots import plot_run

        pngs = plot_run(report, out_dir)
    from cosim.report.html import write_html

    write_html(report, out_dir / "report.html", pngs)
    return report


def summary(report: dict) -> str:
    r = report
    m = r["memory"]
    w, a = m["weights"], m["activations"]
    lines = [
        f"cosim infer: {r['model']} on {r['dataset']} ({r['n_images']} images), {r['process']} {r['vdd']:g} V "
        f"{r['temp_c']:g} C",
        f"  on-chip SRAM          weights {w['banks']} x {w['macro']} ({bytes_(w['bank_bytes'])}) = "
        f"{bytes_(w['total_bytes'])}, activations {a['banks']} x {a['macro']} ({bytes_(a['bank_bytes'])}) = "
        f"{bytes_(a['total_bytes'])}; clock gating {'on' if m['clock_gating'] else 'off'}",
    ]
    if m["on_chip"]:
        lines.append(f"  model on chip         weights {bytes_(w['needed_bytes'])} loaded once per run; largest layer's "
                     f"activations {bytes_(a['needed_bytes'])} stay in SRAM")
    else:
        why = []
        if not w["fits"]:
            why.append(f"weights {bytes_(w['needed_bytes'])} > {bytes_(w['total_bytes'])} (tiled from off-chip for "
                       f"every image)")
        if not a["fits"]:
            why.append(f"activations of {len(m['layers_with_activations_streamed'])} layer(s) up to "
                       f"{bytes_(a['needed_bytes'])} > {bytes_(a['total_bytes'])} (streamed through off-chip)")
        lines.append(f"  MODEL DOES NOT FIT    {'; '.join(why)}: {m['offchip_energy_share'] * 100:.1f} % of the "
                     f"energy is off-chip (literature value); add banks (--banks) or a larger macro")
    lines += [
        f"  accuracy              {r['accuracy'] * 100:.2f} %   (95 % CI {r['accuracy_ci95'][0] * 100:.1f}-"
        f"{r['accuracy_ci95'][1] * 100:.1f} %; data: labels vs predictions)",
        f"  clock                 {eng(r['clock_hz'], 'Hz')} (table {_clock_ops(r)})"
        if r["sources"]["clock_hz"]["formula"].startswith("clock period")
        else f"  clock                 {eng(r['clock_hz'], 'Hz')} (fixed, checked against the table)",
        *([f"  SLOWER CLOCK          {r['corner_status']['note']}"] if r["corner_status"]["note"] else []),
        f"  latency / inference   {eng(r['latency_per_inference_s'], 's')}  -> "
        f"{r['throughput_inferences_per_s']:,.0f} inferences/s",
        f"  energy / inference    {eng(r['energy_per_inference_j'], 'J')}  (avg power {eng(r['average_power_w'], 'W')}); "
        f"SRAM {m['sram_energy_share'] * 100:.1f} %, off-chip {m['offchip_energy_share'] * 100:.1f} %",
        f"    SRAM (table rows)   read {eng(r['sram_read_j'], 'J')}  write {eng(r['sram_write_j'], 'J')}  "
        f"idle {eng(r['idle_j'], 'J')}  leakage {eng(r['leakage_j'], 'J')}  model load {eng(r['model_load_j'], 'J')}",
        f"    NOT SPICE-derived   off-chip {eng(r['offchip_j'], 'J')}  compute {eng(r['compute_j'], 'J')} (literature)",
        f"  accesses / inference  {r['sram_reads']} SRAM reads, {r['sram_writes']} SRAM writes, {r['offchip_bytes']} "
        f"off-chip bytes, {r['hold_cycles_per_inference']} hold cycles (row-switch hazard: "
        f"{r['row_switch']['weights_macro_hazard']})",
        f"  bit errors            {_faults_line(r['bit_errors'])}",
        f"  wall {r['timing']['wall_s']:.2f} s (summed over batches run side by side: engine {r['timing']['engine_s']:.2f} s, "
        f"memory model {r['timing']['memory_model_s']:.2f} s)",
    ]
    return "\n".join(lines)


def _faults_line(b: dict) -> str:
    """One line on the injected cell failures: the model, the weak cells or rates per memory, the flips."""
    mems = b["memories"]
    if b["fault_model"] == "none":
        sources = dict.fromkeys(f"failure rates 0 in {m['source']}" if m["montecarlo_ops"] else m["source"]
                                for m in mems.values())
        return "none injected: " + "; ".join(sources)
    parts = []
    for name, m in mems.items():
        rates = f"1->0 {m['one_reads_zero']:.2g}, 0->1 {m['zero_reads_one']:.2g}"
        sense = (m["sense_one_reads_zero"], m["sense_zero_reads_one"])
        if any(sense):
            rates += f"; per sense amp 1->0 {sense[0]:.2g}, 0->1 {sense[1]:.2g}"
        if "cells" in m:
            weak = m["weak_cells_read_0_holding_1"] + m["weak_cells_read_1_holding_0"]
            amps = m["weak_sense_amps_read_0_holding_1"] + m["weak_sense_amps_read_1_holding_0"]
            also = f" and {amps} weak of {m['sense_amps']} sense amps" if any(sense) else ""
            parts.append(f"{name} {weak} weak of {m['cells']} cells{also} ({rates})")
        else:
            parts.append(f"{name} {rates}")
    how = f"chip {b['chip']} fault map" if b["fault_model"] == "map" else \
        f"fresh flips per read (per_access, draw {b['chip']})"
    return (f"{how}: {'; '.join(parts)}; flipped {b['bits_flipped']} of {b['bits_read_by_engine']} bits read "
            f"(Monte Carlo table)")


def _clock_ops(r: dict) -> str:
    """Which table ops set the clock: min_cycle, and read_cycle where it raised it."""
    ops = {row.get("op") for row in r["sources"]["clock_hz"]["rows"]}
    return "min_cycle, raised to read_cycle" if "read_cycle" in ops else "min_cycle"

