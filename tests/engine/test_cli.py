"""The engine's sub-commands, end to end through `cosim`."""

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from cosim.cli import cli


def test_evaluate_writes_json_csv_png(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--model", "digits", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "digits_test.json").read_text())
    assert report["context"]["images"] == 449
    assert abs(report["results"]["float"]["top1"] - report["results"]["int8"]["top1"]) <= 0.005
    rows = list(csv.DictReader((tmp_path / "digits_test_per_class.csv").open()))
    assert {r["variant"] for r in rows} == {"float", "int8"}
    assert (tmp_path / "digits_test_confusion.png").stat().st_size > 1000


def test_compress_table_on_digits(tmp_path):
    result = CliRunner().invoke(cli, ["compress", "--model", "digits", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "compress_digits.csv").open()))
    by_variant = {r["variant"]: r for r in rows}
    assert float(by_variant["W8A8 (int8)"]["weight_bytes"]) * 2 == float(by_variant["W4A8"]["weight_bytes"]) * 4
    assert float(by_variant["W8A8 pruned 50%"]["nonzero_weight_fraction"]) <= 0.5
    assert (tmp_path / "compress_digits.png").is_file()


def test_train_command_writes_loadable_weights(tmp_path):
    out = tmp_path / "digits.pt"
    result = CliRunner().invoke(cli, ["train", "--model", "digits", "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = torch.load(out, weights_only=True)
    assert saved["metadata"]["recipe"]["epochs"] == 1 and "conv1.weight" in saved["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "digits", "dscnn"])
def test_training_reproduces_the_committed_weights(tmp_path, name):
    # the committed weights were made by `cosim train --model NAME` (1 thread, seed 0) with this torch build
    from cosim.models import load_trained

    out = tmp_path / f"{name}.pt"
    result = CliRunner().invoke(cli, ["train", "--model", name, "--out", str(out)])
    assert result.exit_code == 0, result.output
    committed, _ = load_trained(name)
    fresh = torch.load(out, weights_only=True)["state_dict"]
    for key, value in committed.state_dict().items():
        assert torch.equal(value, fresh[key]), key


def test_train_rejects_malformed_model_args():
    from cosim.errors import ConfigError

    result = CliRunner().invoke(cli, ["train", "--model", "resnet18", "--model-arg", "width16"])
    assert isinstance(result.exception, ConfigError) and "KEY=VALUE" in str(result.exception)


def test_train_writes_under_out_unless_save_committed(tmp_path, monkeypatch):
    from cosim.models import weights_path

    committed = weights_path("digits").read_bytes()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "--model", "digits", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "train" / "digits.pt").is_file()
    assert weights_path("digits").read_bytes() == committed
    result = CliRunner().invoke(cli, ["train", "--model", "digits", "--epochs", "1", "--save-committed", "--out", "x.pt"])
    assert result.exit_code != 0 and weights_path("digits").read_bytes() == committed


def test_chance_accuracy_is_flagged():
    from cosim.engine.cli import at_chance

    assert at_chance(0.10, 10) and at_chance(0.14, 10) and not at_chance(0.5, 10) and not at_chance(0.5, 1)


def test_every_option_has_help():
    import click

    from cosim.cli import COMMANDS, _LazyGroup

    group = _LazyGroup()
    for name in ("train", "evaluate", "compress"):
        cmd = group.get_command(click.Context(group), name)
        missing = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.help and p.name != "help"]
        assert not missing, (name, missing)
    assert set(COMMANDS) >= {"train", "evaluate", "compress"}
