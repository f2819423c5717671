"""`cosim train`, `cosim evaluate`, `cosim compress`: the engine's sub-commands (thin wrappers)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import click

from cosim.models import SPECS

#: run outputs of train/evaluate/compress: never the package folder
OUT_DIR = Path("out")


def at_chance(accuracy: float, classes: int) -> bool:
    """Top-1 no better than guessing (within 1.5x of 1/classes): the model has not learned."""
    return classes > 1 and accuracy <= 1.5 / classes


def _predict_int8(qmodel, images, batch_size: int = 1000):
    import torch

    from cosim.engine import run

    return torch.cat([run(qmodel, images[i:i + batch_size]).predictions for i in range(0, len(images), batch_size)])


def _predict_float(model, images, batch_size: int = 1000):
    import torch

    with torch.no_grad():
        return torch.cat([model(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


@click.command("train")
@click.option("--model", "name", type=click.Choice(sorted(SPECS)), required=True,
              help="the model to train (its dataset and recipe are in cosim.models.SPECS)")
@click.option("--seed", default=0, show_default=True, help="seed of the initialisation and the shuffling")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads (training is deterministic per value)")
@click.option("--epochs", type=int, default=None, help="override the recipe's epochs")
@click.option("--train-subset", type=int, default=None, help="train on a seeded subset of this many images")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="architecture argument, e.g. width=16 for a narrower ResNet-18 (int/float values)")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="weights file (default: out/train/<model>.pt)")
@click.option("--save-committed", is_flag=True,
              help="replace the committed weights cosim/models/weights/<model>.pt (what cosim infer uses)")
def train(name: str, seed: int, threads: int, epochs: int | None, train_subset: int | None, model_args: tuple[str, ...],
          out: Path | None, save_committed: bool) -> None:
    """Train a model with its seeded CPU recipe and save its weights + metadata (to out/train/ unless
    --save-committed)."""
    from tqdm import tqdm

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.errors import ConfigError
    from cosim.models import weights_path
    from cosim.models.train import save, train_named

    if out is not None and save_committed:
        raise ConfigError("--out and --save-committed both name where to save: pass one of them")
    out = weights_path(name) if save_committed else (out or OUT_DIR / "train" / f"{name}.pt")

    kwargs = {}
    for item in model_args:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--model-arg {item!r}: write KEY=VALUE, e.g. width=16")
        kwargs[key] = float(value) if "." in value else int(value)
    bar = []

    def progress(n: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc=f"training {name}", unit="step", leave=False))
        bar[0].update(n)

    settings = load_settings()
    try:
        result = train_named(name, settings, seed=seed, threads=threads, epochs=epochs, train_subset=train_subset,
                             model_kwargs=kwargs, progress=progress)
    finally:
        for b in bar:
            b.close()
    save(result, out)
    click.echo(f"{name}: float test accuracy {100 * result.test_accuracy:.2f} % after {result.train_seconds:.1f} s "
               f"({threads} thread(s)); saved {out}")
    classes = len(load_dataset(SPECS[name].dataset, "test", settings).classes)
    if at_chance(result.test_accuracy, classes):
        click.echo(f"warning: {100 * result.test_accuracy:.2f} % is at chance for {classes} classes "
                   f"({100 / classes:.1f} %): the model has not learned; train longer (--epochs) or check the data",
                   err=True)


@click.command("evaluate")
@click.option("--model", "name", type=click.Choice(sorted(SPECS)), required=True,
              help="a model with committed weights")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test", "all"]),
              help="the dataset split to evaluate on")
@click.option("--limit", type=int, default=0, help="evaluate a seeded subset of this many images (0 = all)")
@click.option("--requantization", type=click.Choice(["fbgemm", "fixed_point"]), default="fbgemm", show_default=True,
              help="fbgemm's float32 steps (bit-exact with torch.ao) or an integer multiplier and shift")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/evaluate"), show_default=True,
              help="folder for the JSON, CSV and PNG reports")
def evaluate(name: str, split: str, limit: int, requantization: str, out: Path) -> None:
    """Float and INT8 top-1, per-class precision/recall/F1 and confusion matrices -> JSON, CSV, PNG."""
    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.engine import QuantConfig, quantize_trained
    from cosim.engine.evaluate import classification_metrics, write_reports
    from cosim.models import load_trained

    settings = load_settings()
    model, meta = load_trained(name)
    data = load_dataset(meta["dataset"], split, settings)
    if limit:
        data = data.subset(limit, seed=0)
    qmodel = quantize_trained(name, settings, QuantConfig(requantization=requantization))
    results = {
        "float": classification_metrics(data.labels, _predict_float(model, data.images), data.classes),
        "int8": classification_metrics(data.labels, _predict_int8(qmodel, data.images), data.classes),
    }
    context = {"model": name, "dataset": data.name, "split": split, "images": len(data), "source": data.source,
               "requantization": requantization, "calibration_images": meta.get("calibration_images")}
    paths = write_reports(results, out, f"{name}_{split}", context)
    click.echo(f"{name} on {data.name}/{split} ({len(data)} images): float {100 * results['float']['top1']:.2f} %, "
               f"int8 {100 * results['int8']['top1']:.2f} %; wrote {', '.join(str(p) for p in paths)}")


@dataclass(frozen=True)
class CompressVariant:
    label: str
    weight_bits: str
    activation_bits: int
    prune_fraction: float
    config: object | None  # QuantConfig, or None for the float model


def compress_variants(layer_names: tuple[str, ...], weighted: tuple[str, ...]):
    from cosim.engine import QuantConfig

    first_last = ((weighted[0], 8), (weighted[-1], 8))
    return [
        CompressVariant("float32", "fp32", 32, 0.0, None),
        CompressVariant("W16A16", "16", 16, 0.0, QuantConfig(weight_bits=16, activation_bits=16)),
        CompressVariant("W8A8 (int8)", "8", 8, 0.0, QuantConfig()),
        CompressVariant("W4A8", "4", 8, 0.0, QuantConfig(weight_bits=4)),
        CompressVariant("W4A4", "4", 4, 0.0, QuantConfig(weight_bits=4, activation_bits=4)),
        CompressVariant("W8A8 pruned 50%", "8", 8, 0.5, QuantConfig(prune_fraction=0.5)),
        CompressVariant("W8A8 pruned 75%", "8", 8, 0.75, QuantConfig(prune_fraction=0.75)),
        CompressVariant("mixed W4 (first/last W8) A8", "4/8", 8, 0.0,
                        QuantConfig(weight_bits=4, layer_weight_bits=first_last)),
        CompressVariant("mixed W4 (first/last W8) A8 pruned 50%", "4/8", 8, 0.5,
                        QuantConfig(weight_bits=4, layer_weight_bits=first_last, prune_fraction=0.5)),
    ]


@click.command("compress")
@click.option("--model", "name", type=click.Choice(sorted(SPECS)), default="lenet5", show_default=True,
              help="a model with committed weights")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test", "all"]),
              help="the dataset split to measure accuracy on")
@click.option("--out", type=click.Path(path_type=Path), default=OUT_DIR / "compress", show_default=True,
              help="folder for compress_<model>.csv and .png")
def compress(name: str, split: str, out: Path) -> None:
    """Accuracy vs bit width (4/8/16, mixed per layer) and magnitude pruning -> compress_<model>.csv/.png."""
    import torch

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained
    from cosim.models import load_trained

    settings = load_settings()
    model, meta = load_trained(name)
    data = load_dataset(meta["dataset"], split, settings)
    base = quantize_trained(name, settings)
    weighted = tuple(l.name for l in base.layers if l.weight is not None)
    float_params = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    rows = []
    for variant in compress_variants(base.layer_names, weighted):
        if variant.config is None:
            predictions, weight_bytes, nonzero = _predict_float(model, data.images), float_params * 4, 1.0
        else:
            qmodel = quantize_trained(name, settings, variant.config)
            predictions = _predict_int8(qmodel, data.images)
            weight_bytes = qmodel.weight_bytes()
            total = sum(l.weight.numel() for l in qmodel.layers if l.weight is not None)
            nonzero = sum(int((l.weight != 0).sum()) for l in qmodel.layers if l.weight is not None) / total
        top1 = float((predictions == data.labels).double().mean())
        rows.append({"variant": variant.label, "weight_bits": variant.weight_bits,
                     "activation_bits": variant.activation_bits, "prune_fraction": variant.prune_fraction,
                     "nonzero_weight_fraction": round(nonzero, 4), "weight_bytes": weight_bytes,
                     "top1_percent": round(100 * top1, 2), "images": len(data)})
        click.echo(f"  {variant.label:42s} top-1 {100 * top1:6.2f} %  weights {weight_bytes:8d} B")
    for row in rows:
        row["delta_vs_float_points"] = round(row["top1_percent"] - rows[0]["top1_percent"], 2)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"compress_{name}.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_path = out / f"compress_{name}.png"
    _plot_compress(rows, png_path, f"{name} on {data.name}/{split} ({len(data)} images), torch {torch.__version__}")
    click.echo(f"wrote {csv_path} and {png_path}")


def _plot_compress(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [r["variant"] for r in rows]
    values = [r["top1_percent"] for r in rows]
    bars = ax.barh(range(len(rows)), values, color=["grey"] + ["tab:blue"] * (len(rows) - 1))
    for bar, row in zip(bars, rows):
        ax.text(bar.get_width() + 0.05, bar.get_y() + bar.get_height() / 2,
                f"{row['top1_percent']:.2f} %  ({row['weight_bytes'] / 1024:.1f} KiB)", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    low = min(values)
    ax.set_xlim(max(0.0, low - 3), 100.5)
    ax.set_xlabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
