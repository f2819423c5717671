"""`cosim infer`: run a model on a dataset with every SRAM access charged from the characterization tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cosim.errors import ConfigError
from cosim.types import Corner


def parse_sweep(spec: str, table=None) -> list[Corner]:
    """"grid" (every corner of the table: each process x vdd x temperature it holds) or "tt/1.6/25,ss/1.8/125,..."."""
    if spec == "grid":
        if table is None:
            raise ConfigError("--sweep grid needs the macro's characterization table: run `make characterize`")
        return table.corners()
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


#: what a sweep row says of a corner the table refuses for a reason other than the corner's own rows
REFUSED_BETWEEN = "unusable: between grid points that disagree on pass/fail"
REFUSED_RANGE = "unusable: not in the table"
#: the figures a sweep row holds for a usable corner
SWEEP_FIGURES = ("accuracy", "energy_per_inference_j", "sram_energy_per_inference_j", "latency_per_inference_s",
                 "average_power_w", "clock_hz", "n_images")


def chip_rows(runs: list[dict]) -> list[dict]:
    """One sweep row per corner from its chips' runs: chip 0's figures, and accuracy's mean, spread and per-chip
    values over the chips (a corner's chips are all usable or all not: usability is the corner's)."""
    import numpy as np

    by_corner: dict[tuple, list[dict]] = {}
    for r in runs:
        by_corner.setdefault((r["process"], r["vdd"], r["temp_c"]), []).append(r)
    rows = []
    for chips in by_corner.values():
        chips.sort(key=lambda r: r["chip"])
        row = dict(chips[0])
        del row["chip"]
        row["chips"] = len(chips)
        if row["usable"]:
            acc = np.array([c["accuracy"] for c in chips])
            row |= {"accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=1)) if acc.size > 1
                    else 0.0, "accuracy_min": float(acc.min()), "accuracy_max": float(acc.max()),
                    "accuracy_by_chip": acc.tolist(), "bits_flipped_by_chip": [c["bits_flipped"] for c in chips]}
        rows.append(row)
    return rows


def _one(spec, out_dir: Path | None, plots: bool, qmodel=None, data=None, source=None) -> dict:
    """One corner of a sweep, as its sweep row. A corner the table refuses (unusable: writes fail or reads fail at
    every clock tried; between grid points that disagree on pass/fail; outside the grid) is a row with its status
    and the one-line reason and no figures, not the end of the sweep."""
    from cosim.errors import InterpolationRefused, TableRangeError, UnusableCorner
    from cosim.report.report import write_outputs
    from cosim.simulate import run_inference, write_atomically

    c = spec.corner
    row = {"process": c.process, "vdd": c.vdd_v, "temp_c": c.temp_c, "chip": spec.chip}
    try:
        res = run_inference(spec, qmodel=qmodel, data=data, source=source)
    except UnusableCorner as exc:
        return row | {"status": exc.status, "usable": False, "reason": str(exc), "detail": exc.detail}
    except InterpolationRefused as exc:
        return row | {"status": REFUSED_BETWEEN, "usable": False, "reason": str(exc)}
    except TableRangeError as exc:
        return row | {"status": REFUSED_RANGE, "usable": False, "reason": str(exc)}
    if out_dir is None:
        from cosim.report.report import build_report, clean

        rep = clean(build_report(res))
    else:
        box = {}
        write_atomically(out_dir, lambda tmp: box.setdefault("report", write_outputs(res, tmp, plots=plots)))
        rep = box["report"]
    st = rep["corner_status"]
    b = rep["bit_errors"]
    return row | {"status": st["status"], "usable": True, "reason": st["note"]} | {k: rep[k] for k in SWEEP_FIGURES} \
        | {"bit_error_rate": b["bit_error_rate"], "fault_model": b["fault_model"], "bits_flipped": b["bits_flipped"],
           "bits_read": b["bits_read_by_engine"],
           "fault_source": "; ".join(dict.fromkeys(m["source"] for m in b["memories"].values()))}


#: kept literal so `cosim --help` does not import torch; a test checks them against cosim.data.LOADERS
DATASET_NAMES = ("digits", "mnist", "cifar10", "ham10000", "dermamnist")
MODEL_NAMES = ("digits", "lenet5", "dscnn", "resnet20")


def _macro_names() -> str:
    from cosim.config import load_settings

    names = sorted(p.stem for p in load_settings().characterization_dir.glob("*.csv"))
    return ", ".join(names) or "none characterized yet"


def _numbers(kind, label: str, count: tuple[int, ...] | None = None):
    """A click callback parsing "a,b,c" into a tuple of `kind` (empty or malformed: a usage error)."""

    def parse(ctx, param, value):
        if value is None:
            return None
        items = [v.strip() for v in str(value).split(",")]
        try:
            out = tuple(kind(v) for v in items)
        except ValueError:
            raise click.BadParameter(f"{value!r}: write {label}") from None
        if count is not None and len(out) not in count:
            raise click.BadParameter(f"{value!r}: write {label}")
        return out

    return parse


def _check_out_dir(out_dir: Path) -> None:
    """Fail before any work when the outputs could not be written."""
    import os
    import tempfile

    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder; choose another path")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out_dir}: {parent} is not writable; choose a folder you can write to")
    try:
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: cannot write in {parent} ({exc.strerror}); choose another folder") from None


def _is_committed(model: str, dataset, weights, custom_data: bool) -> bool:
    from pathlib import Path as _P

    return model in MODEL_NAMES and weights is None and not custom_data and not _P(model).exists() and (
        dataset is None or (dataset in DATASET_NAMES and not _P(dataset).exists()))


@click.command("infer")
@click.option("--model", default="digits", show_default=True,
              help=f"the network: a committed name ({', '.join(MODEL_NAMES)}), a torch.export program (.pt2), a "
                   "TorchScript file, or file.py:ClassOrFactory with --weights")
@click.option("--weights", default=None, type=click.Path(path_type=Path),
              help="checkpoint for file.py:Class: a state_dict, or a dict with state_dict/model_state_dict "
                   "('module.' prefixes are stripped)")
@click.option("--dataset", default=None,
              help=f"images and labels: a name ({', '.join(DATASET_NAMES)}; its test split), a folder of class "
                   "folders of PNG/JPEG images, or an .npz with x and y arrays (default: the committed model's "
                   "own dataset)")
@click.option("--input-size", default=None, callback=_numbers(int, "H,W or N, e.g. 32,32", (1, 2)),
              help="resize images to H,W (or N,N) pixels before the model")
@click.option("--mean", default=None, callback=_numbers(float, "one number per channel, e.g. 0.485,0.456,0.406"),
              help="per-channel mean subtracted from [0, 1] pixels (as in training)")
@click.option("--std", default=None, callback=_numbers(float, "one number per channel, e.g. 0.229,0.224,0.225"),
              help="per-channel std the pixels are divided by, after --mean")
@click.option("--preprocess", "preprocess_file", default=None, type=click.Path(path_type=Path),
              help="TOML file with a [preprocessing] table (input_size, mean, std, channels); options above win")
@click.option("--calibration", default=512, show_default=True, type=click.IntRange(min=1),
              help="images that set the activation ranges (held out of --dataset unless --calibration-data)")
@click.option("--calibration-data", default=None,
              help="where calibration images come from (same forms as --dataset; default: a seeded split of the "
                   "dataset, or a named dataset's train split)")
@click.option("--macro", default=None,
              help=f"SRAM macro for weights and activations, one of: {_macro_names()} (default: the accelerator "
                   "file's)")
@click.option("--process", default="tt", show_default=True, help="process corner: tt, ss, ff, sf, fs")
@click.option("--vdd", default="1.8", show_default=True,
              callback=_numbers(float, "a supply in volts, or several separated by commas (e.g. 1.6,1.8)"),
              help="supply voltage in V; several (1.6,1.8) run one corner each")
@click.option("--temp", "temp_c", default=25.0, show_default=True, type=float, help="junction temperature in C")
@click.option("--out", "out_dir", default="out/infer", show_default=True, type=click.Path(path_type=Path),
              help="output folder (written to a temporary folder first and renamed into place)")
@click.option("--accelerator", default=None, type=click.Path(path_type=Path),
              help="accelerator TOML (default cosim/memory/default_accelerator.toml)")
@click.option("--banks", default=None, callback=lambda ctx, param, v: parse_banks(v),
              help="banks of the weight and activation memories, e.g. 19,2 (or one number for both); "
                   "overrides the accelerator file")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="a seeded subset of N test images")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1),
              help="images per engine call; batches run side by side, one per core")
@click.option("--seed", default=0, show_default=True, type=int,
              help="seed of the subset, the calibration split and the bit errors")
@click.option("--no-bit-errors", is_flag=True,
              help="inject no cell failures (by default those of the macro's Monte Carlo table at the corner)")
@click.option("--fault-model", default="map", show_default=True, type=click.Choice(["map", "per-access"]),
              help="map: a chip instance's persistent fault map (the same weak cells on every image); per-access: "
                   "every bit read flips afresh with the corner's rate")
@click.option("--chips", default=1, show_default=True, type=click.IntRange(min=1),
              help="chip instances (fault maps drawn from --seed): each corner runs once per chip, and the sweep "
                   "reports accuracy's mean and spread over them")
@click.option("--sweep", default=None,
              help='corners to run in parallel: "grid" (every corner of the table: each process x supply x '
                   'temperature it holds; --process/--vdd/--temp are then ignored) or "tt/1.6/25,ss/1.8/125,...". '
                   'Every corner is listed in sweep.json with its status; unusable ones have no figures')
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1),
              help="corners run in parallel (joblib loky)")
@click.option("--no-plots", is_flag=True, help="write no PNG plots")
@click.option("--trace", "trace_images", default=0, show_default=True, type=click.IntRange(min=0),
              help="also write DIR/trace.csv: every access of the first N images, one row each (trace mode)")
def infer(model, weights, dataset, input_size, mean, std, preprocess_file, calibration, calibration_data, macro,
          process, vdd, temp_c, out_dir, accelerator, banks, limit, batch_size, seed, no_bit_errors, fault_model,
          chips, sweep, jobs, no_plots, trace_images):
    """Run MODEL on DATASET with weights and activations in simulated SRAM; write report.json, per_image.csv, PNGs."""
    from tqdm import tqdm

    from cosim.simulate import InferSpec, check_corner, run_inference, write_atomically
    from cosim.report.report import summary, write_outputs

    _check_out_dir(Path(out_dir))
    fault_model = fault_model.replace("-", "_")
    single = sweep is None and len(vdd) == 1 and chips == 1
    if single:
        # an unusable corner (writes fail, reads fail at every clock tried) is one line and exit status 2, before
        # any model is loaded
        check_corner(InferSpec(model=model, macro=macro, accelerator=accelerator, banks=banks,
                               corner=Corner(process, vdd[0], temp_c)))
    custom = any(v is not None for v in (input_size, mean, std, preprocess_file, calibration_data)) or \
        calibration != 512
    qmodel = data = None
    source = None
    name = model
    if not _is_committed(model, dataset, weights, custom):
        from cosim.data.user import Preprocess
        from cosim.simulate import prepare_model

        size = None if input_size is None else (input_size * 2 if len(input_size) == 1 else input_size)
        over = dict(input_size=size, mean=mean, std=std)
        pre = Preprocess.from_toml(preprocess_file, **over) if preprocess_file else (
            Preprocess(**over) if any(v is not None for v in over.values()) else None)
        qmodel, loaded, data, note = prepare_model(model, dataset, weights=weights, calibration_data=calibration_data,
                                                   calibration=calibration, seed=seed, preprocess=pre)
        if limit is not None:
            data = data.subset(limit, seed=seed)
        name, dataset = loaded.name, data.name
        source = {**loaded.source, "calibration": note}
    vdds = vdd
    base = dict(model=name, dataset=dataset, macro=macro, accelerator=accelerator, banks=banks, limit=limit,
                batch_size=batch_size, seed=seed, bit_errors=not no_bit_errors, fault_model=fault_model)
    if single:
        spec = InferSpec(corner=Corner(process, vdds[0], temp_c), **base)
        bars = []
        res = run_inference(spec, on_start=lambda n: bars.append(tqdm(total=n, desc="images", unit="img", leave=False)),
                            progress=lambda n: bars[0].update(n), qmodel=qmodel, data=data, source=source)
        for b in bars:
            b.close()

        def write(tmp: Path) -> None:
            box["report"] = write_outputs(res, tmp, plots=not no_plots)
            if trace_images > 0:
                from cosim.report.tracefile import write_trace

                box["trace"] = write_trace(res, tmp / "trace.csv", trace_images, qmodel=qmodel,
                                           images=None if data is None else data.images)

        box = {}
        write_atomically(Path(out_dir), write)
        click.echo(summary(box["report"]))
        if trace_images > 0:
            click.echo(f"  trace: {box['trace']} accesses of the first {trace_images} image(s) -> {out_dir}/trace.csv")
        click.echo(f"  wrote {out_dir}/report.html, report.json, per_image.csv" + ("" if no_plots else ", *.png"))
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
    corners = parse_sweep(sweep, table) if sweep else [Corner(process, v, temp_c) for v in vdds]
    if qmodel is None and len(corners) * chips > 1:
        # a committed model is quantized once here, not once per run in every worker
        from cosim.simulate import committed_model

        qmodel, trained_on, source = committed_model(model, load_settings())
        base["dataset"] = base["dataset"] or trained_on
    specs = [InferSpec(corner=c, chip=k, **base) for c in corners for k in range(chips)]
    runs = []
    par = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    with tqdm(total=len(specs), desc="runs" if chips > 1 else "corners", unit="run") as bar:
        # chip 0 of each corner writes the corner's folder (report.json, plots); the other chips give figures
        for row in par(delayed(_one)(s, Path(out_dir) / s.corner.name if s.chip == 0 else None, not no_plots,
                                     qmodel, data, source) for s in specs):
            runs.append(row)
            bar.update(1)
    rows = chip_rows(runs)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda r: (r["process"], r["temp_c"], r["vdd"]))
    tmp = Path(out_dir) / ".sweep.json.tmp"
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(Path(out_dir) / "sweep.json")
    if not no_plots:
        plot_sweep(rows, Path(out_dir))
    for r in rows:
        where = f"  {r['process']} {r['vdd']:.2f} V {r['temp_c']:6g} C  "
        if not r["usable"]:
            click.echo(f"{where}{r['status'].upper()}: {r.get('detail') or r['reason']}")
            continue
        spread = (f" (chips: {r['accuracy_min'] * 100:.2f}-{r['accuracy_max'] * 100:.2f}, sd "
                  f"{r['accuracy_std'] * 100:.2f})" if r["chips"] > 1 else "")
        click.echo(f"{where}acc {r['accuracy_mean'] * 100:6.2f} %{spread}  E {eng(r['energy_per_inference_j'], 'J'):>10}"
                   f"  t {eng(r['latency_per_inference_s'], 's'):>10}  failure rate per bit {r['bit_error_rate']:.3g}"
                   + (f"  ({r['reason']})" if r["reason"] else ""))
    unusable = sum(not r["usable"] for r in rows)
    if unusable:
        click.echo(f"  {unusable} of {len(rows)} corner(s) unusable: no figures; sweep.json lists each with the reason "
                   "and the fix")
    click.echo(f"  wrote {out_dir}/sweep.json" + ("" if no_plots else ", sweep_vs_vdd.png")
               + " and one folder per usable corner")
