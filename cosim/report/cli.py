"""`cosim infer`: run a model on a dataset with every SRAM access charged from the characterization tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cosim.errors import ConfigError
from cosim.types import Corner


def parse_sweep(spec: str, temp_c: float, table=None) -> list[Corner]:
    """"grid" (every process x vdd of the table at --temp) or "tt/1.6/25,ss/1.8/125,..."."""
    if spec == "grid":
        if table is None:
            raise ConfigError("--sweep grid needs the macro's characterization table: run `make characterize`")
        return [Corner(p, v, temp_c) for p in table.processes for v in table.vdds]
    corners = []
    for item in spec.split(","):
        parts = item.strip().split("/")
        if len(parts) != 3:
            raise ConfigError(f"--sweep item {item!r}: write process/vdd/temp, e.g. tt/1.8/25, or use --sweep grid")
        try:
            corners.append(Corner(parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            raise ConfigError(f"--sweep item {item!r}: vdd and temp must be numbers, e.g. tt/1.8/25") from None
    return corners


def parse_banks(value: str | None) -> tuple[int, int] | None:
    """--banks "W,A" (weights, activations) or "N" (both)."""
    if value is None:
        return None
    try:
        parts = [int(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: write WEIGHTS,ACTIVATIONS bank counts, e.g. 19,2") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise click.BadParameter(f"{value!r}: write two bank counts >= 1, e.g. 19,2")
    return parts[0], parts[1]


def _one(spec, out_dir: Path, plots: bool) -> dict:
    """One corner of a sweep; a corner the table refuses (a failed or missing row) is a failed row of the sweep,
    with the table's message, not the end of the sweep."""
    from cosim.errors import TableRangeError
    from cosim.report.infer import run_inference
    from cosim.report.report import write_outputs

    try:
        res = run_inference(spec)
    except TableRangeError as exc:
        c = spec.corner
        return {"process": c.process, "vdd": c.vdd_v, "temp_c": c.temp_c, "failed": str(exc)}
    return write_outputs(res, out_dir, plots=plots)


@click.command("infer")
@click.option("--model", default="digits", show_default=True, help="committed trained model (cosim.models)")
@click.option("--dataset", default=None, help="dataset, test split (default: the one the model was trained on)")
@click.option("--macro", default=None, help="SRAM macro for weights and activations (default: the accelerator file's)")
@click.option("--process", default="tt", show_default=True)
@click.option("--vdd", default=1.8, show_default=True, type=float)
@click.option("--temp", "temp_c", default=25.0, show_default=True, type=float)
@click.option("--out", "out_dir", default="out/infer", show_default=True, type=click.Path(path_type=Path))
@click.option("--accelerator", default=None, type=click.Path(path_type=Path),
              help="accelerator TOML (default cosim/memory/default_accelerator.toml)")
@click.option("--banks", default=None, callback=lambda ctx, param, v: parse_banks(v),
              help="banks of the weight and activation memories, e.g. 19,2 (or one number for both); "
                   "overrides the accelerator file")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="a seeded subset of N test images")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1),
              help="images per engine call; batches run side by side, one per core")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--no-bit-errors", is_flag=True, help="do not inject the table's bit-error rate")
@click.option("--sweep", default=None, help='corners to run in parallel: "grid" or "tt/1.6/25,ss/1.8/125,..."')
@click.option("--jobs", default=2, show_default=True, type=int, help="parallel corners (joblib loky)")
@click.option("--no-plots", is_flag=True)
@click.option("--trace", "trace_images", default=0, show_default=True, type=int,
              help="also write DIR/trace.csv: every access of the first N images, one row each (trace mode)")
def infer(model, dataset, macro, process, vdd, temp_c, out_dir, accelerator, banks, limit, batch_size, seed, no_bit_errors,
          sweep, jobs, no_plots, trace_images):
    """Run MODEL on DATASET with weights and activations in simulated SRAM; write report.json, per_image.csv, PNGs."""
    from tqdm import tqdm

    from cosim.report.infer import InferSpec, run_inference
    from cosim.report.report import summary, write_outputs

    corner = Corner(process, vdd, temp_c)
    base = dict(model=model, dataset=dataset, macro=macro, accelerator=accelerator, banks=banks, limit=limit,
                batch_size=batch_size, seed=seed, bit_errors=not no_bit_errors)
    if sweep is None:
        spec = InferSpec(corner=corner, **base)
        bars = []
        res = run_inference(spec, on_start=lambda n: bars.append(tqdm(total=n, desc="images", unit="img", leave=False)),
                            progress=lambda n: bars[0].update(n))
        for b in bars:
            b.close()
        report = write_outputs(res, out_dir, plots=not no_plots)
        click.echo(summary(report))
        if trace_images > 0:
            from cosim.report.tracefile import write_trace

            n = write_trace(res, Path(out_dir) / "trace.csv", trace_images)
            click.echo(f"  trace: {n} accesses of the first {trace_images} image(s) -> {out_dir}/trace.csv")
        click.echo(f"  wrote {out_dir}/report.html, report.json, per_image.csv{', *.png' if not no_plots else ''}")
        return
    from joblib import Parallel, delayed

    from cosim.config import load_settings
    from cosim.memory.accelerator import load_accelerator
    from cosim.report.plots import plot_sweep
    from cosim.report.units import eng
    from cosim.table import CharacterizationTable, table_path

    table = None
    if sweep == "grid":
        acc = load_accelerator(accelerator)
        table = CharacterizationTable.load(table_path(load_settings().characterization_dir, macro or acc.weights.macro))
    corners = parse_sweep(sweep, temp_c, table)
    specs = [InferSpec(corner=c, **base) for c in corners]
    rows = []
    par = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    with tqdm(total=len(specs), desc="corners", unit="corner") as bar:
        for rep in par(delayed(_one)(s, Path(out_dir) / s.corner.name, not no_plots) for s in specs):
            if "failed" in rep:
                rows.append(rep)
                bar.update(1)
                continue
            rows.append({k: rep[k] for k in ("process", "vdd", "temp_c", "accuracy", "energy_per_inference_j",
                                              "sram_energy_per_inference_j",
                                              "latency_per_inference_s", "average_power_w", "clock_hz", "n_images")}
                        | {"bit_error_rate": rep["bit_errors"]["bit_error_rate"]})
            bar.update(1)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda r: (r["process"], r["temp_c"], r["vdd"]))
    (Path(out_dir) / "sweep.json").write_text(json.dumps(rows, indent=1))
    if not no_plots:
        plot_sweep(rows, Path(out_dir))
    for r in rows:
        if "failed" in r:
            click.echo(f"  {r['process']} {r['vdd']:.2f} V {r['temp_c']:6g} C  FAILED CORNER: {r['failed']}")
            continue
        click.echo(f"  {r['process']} {r['vdd']:.2f} V {r['temp_c']:6g} C  acc {r['accuracy'] * 100:6.2f} %  "
                   f"E {eng(r['energy_per_inference_j'], 'J'):>10}  t {eng(r['latency_per_inference_s'], 's'):>10}  "
                   f"BER {r['bit_error_rate']:.3g}")
    click.echo(f"  wrote {out_dir}/sweep.json, sweep_vs_vdd.png and one folder per corner")
