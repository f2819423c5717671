"""Classification metrics (top-1, per-class precision/recall/F1, confusion matrix) and their JSON/CSV/PNG
reports. `classification_metrics` is pure and reusable (the co-simulation report calls it too)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[true class, predicted class] counts, int64."""
    index = labels.to(torch.int64) * num_classes + predictions.to(torch.int64)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_metrics(labels: torch.Tensor, predictions: torch.Tensor, classes: tuple[str, ...]) -> dict:
    """Top-1 accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix.

    A class never predicted has precision 0 (and never present, recall 0), as scikit-learn's zero_division=0.
    """
    labels, predictions = torch.as_tensor(labels).flatten(), torch.as_tensor(predictions).flatten()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predictions.shape)} differ")
    k = len(classes)
    cm = confusion_matrix(labels, predictions, k).double()
    true_pos = cm.diagonal()
    predicted = cm.sum(0)
    actual = cm.sum(1)
    precision = torch.where(predicted > 0, true_pos / predicted.clamp(min=1), torch.zeros_like(true_pos))
    recall = torch.where(actual > 0, true_pos / actual.clamp(min=1), torch.zeros_like(true_pos))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(denom))
    per_class = [
        {"class": name, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
         "support": int(actual[i])}
        for i, name in enumerate(classes)
    ]
    total = int(labels.numel())
    return {
        "images": total,
        "top1": float(true_pos.sum() / total) if total else 0.0,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": cm.to(torch.int64).tolist(),
        "classes": list(classes),
    }


def write_reports(results: dict[str, dict], out_dir: Path, stem: str, context: dict | None = None) -> list[Path]:
    """results: variant ("float", "int8", ...) -> classification_metrics dict. Writes <stem>.json,
    <stem>_per_class.csv and <stem>_confusion.png (one panel per variant); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps({"context": context or {}, "results": results}, indent=2) + "\n")
    csv_path = out_dir / f"{stem}_per_class.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "class", "precision", "recall", "f1", "support"])
        for variant, metrics in results.items():
            for row in metrics["per_class"]:
                writer.writerow([variant, row["class"], f"{row['precision']:.6f}", f"{row['recall']:.6f}",
                                 f"{row['f1']:.6f}", row["support"]])
            writer.writerow([variant, "top1", "", "", "", metrics["images"]])
            writer.writerow([variant, "top1_value", f"{metrics['top1']:.6f}", "", "", ""])
    png_path = out_dir / f"{stem}_confusion.png"
    plot_confusion(results, png_path)
    return [json_path, csv_path, png_path]


def plot_confusion(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4), squeeze=False)
    for ax, (variant, metrics) in zip(axes[0], results.items()):
        cm = torch.tensor(metrics["confusion_matrix"], dtype=torch.float64)
        rates = cm / cm.sum(1, keepdim=True).clamp(min=1)
        ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
        ticks = range(len(metrics["classes"]))
        ax.set_xticks(list(ticks), metrics["classes"], rotation=90, fontsize=7)
        ax.set_yticks(list(ticks), metrics["classes"], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{variant}: top-1 {100 * metrics['top1']:.2f} %", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
