import json

import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from cosim.engine.evaluate import classification_metrics, write_reports


def test_metrics_match_scikit_learn(tmp_path):
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (300,), generator=generator)
    predictions = torch.where(torch.rand(300, generator=generator) < 0.7, labels,
                              torch.randint(0, 4, (300,), generator=generator))
    predictions[predictions == 3] = 2  # class 3 is never predicted: precision 0 by convention
    metrics = classification_metrics(labels, predictions, ("a", "b", "c", "d"))
    p, r, f, s = precision_recall_fscore_support(labels, predictions, labels=[0, 1, 2, 3], zero_division=0)
    assert [row["precision"] for row in metrics["per_class"]] == list(map(float, p))
    assert all(abs(row["f1"] - float(x)) < 1e-12 for row, x in zip(metrics["per_class"], f))
    assert [row["recall"] for row in metrics["per_class"]] == list(map(float, r))
    assert metrics["confusion_matrix"] == confusion_matrix(labels, predictions, labels=[0, 1, 2, 3]).tolist()
    assert metrics["top1"] == float((labels == predictions).double().mean())
    paths = write_reports({"float": metrics, "int8": metrics}, tmp_path, "demo")
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads(paths[0].read_text())["results"]["int8"]["top1"] == metrics["top1"]
