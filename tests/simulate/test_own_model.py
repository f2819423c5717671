"""A user's own model through the real `cosim infer` command (a subprocess, as a user runs it): a class file plus
a checkpoint on an ImageFolder of 50 PNGs the test writes, a torch.export program, and one-line errors."""

import json
import subprocess
import sys

import pytest
import torch

from tests.simulate.user_files import CLASSES, write_user_files


def cosim(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosim.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    return folder, write_user_files(folder, checkpoint_format="dataparallel")


def cosim_in_process(*args, cwd, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """`cosim` through the same main() in this process (no interpreter start-up per case)."""
    from cosim.cli import main

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["cosim", *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exit_info.value.code, out, err)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_class_file_and_checkpoint_through_the_cli(user):
    folder, files = user
    r = cosim("infer", "--model", "my_net.py:Net", "--weights", "my_net.pth", "--dataset", "my_images",
              "--input-size", "16,16", "--calibration", "10", "--out", "out/mine", "--no-plots", cwd=folder)
    assert r.returncode == 0, r.stderr
    report = json.loads((folder / "out/mine/report.json").read_text())
    assert report["model"] == "my_net.py:Net" and report["classes"] == list(CLASSES)
    assert report["n_images"] == 40  # 50 images, 10 held out for calibration
    assert [c["class"] if isinstance(c, dict) else c for c in report["per_class"]][:5] == list(CLASSES) or \
        list(report["per_class"]) == list(CLASSES)
    assert report["energy_per_inference_j"] > 0 and report["latency_per_inference_s"] > 0
    prov = report["provenance"]
    assert prov["model_file"] is not None
    assert "accuracy" in r.stdout
    # the engine's predictions are the float model's (random weights, so compare with it, not with the labels)
    per_image = (folder / "out/mine/per_image.csv").read_text().splitlines()
    assert len(per_image) == 41
    assert not list(folder.glob("out/.mine.tmp-*"))  # written in a temporary folder and renamed into place


def test_pt2_through_the_cli(user):
    folder, files = user
    program = torch.export.export(files["net"].eval(), (torch.rand(1, 3, 16, 16),))
    torch.export.save(program, folder / "my_net.pt2")
    r = cosim("infer", "--model", "my_net.pt2", "--dataset", "my_images", "--input-size", "16", "--calibration", "10",
              "--out", "out/pt2", "--no-plots", cwd=folder)
    assert r.returncode == 0, r.stderr
    pt2 = json.loads((folder / "out/pt2/report.json").read_text())
    assert pt2["model"] == "my_net.pt2" and pt2["n_images"] == 40
    # the same network as the class file + checkpoint: the same integer program, so the same figures
    mine = folder / "out/mine/report.json"
    if mine.is_file():
        ref = json.loads(mine.read_text())
        assert pt2["accuracy"] == ref["accuracy"]
        assert pt2["energy_per_inference_j"] == pytest.approx(ref["energy_per_inference_j"], rel=1e-12)


@pytest.mark.parametrize("case", ["shape", "empty", "corrupt", "other_class", "unsupported", "no_such_file"])
def test_one_line_errors(user, case, monkeypatch, capsys):
    folder, _ = user

    def cosim(*a, cwd):
        return cosim_in_process(*a, cwd=cwd, monkeypatch=monkeypatch, capsys=capsys)

    args = ["--dataset", "my_images", "--input-size", "16,16", "--out", "out/err", "--no-plots"]
    if case == "shape":
        args = ["--model", "my_net.py:Net", "--weights", "my_net.pth", "--dataset", "my_images", "--out", "out/e"]
        line = one_line_error(cosim("infer", *args, cwd=folder))
        assert "cannot take" in line and "(3, 20, 20)" in line and "--input-size" in line
        return
    if case == "empty":
        (folder / "empty.pth").write_bytes(b"")
        line = one_line_error(cosim("infer", "--model", "my_net.py:Net", "--weights", "empty.pth", *args, cwd=folder))
        assert "empty.pth" in line and "empty (0 bytes)" in line
    elif case == "corrupt":
        (folder / "corrupt.pth").write_bytes((folder / "my_net.pth").read_bytes()[:300])
        line = one_line_error(cosim("infer", "--model", "my_net.py:Net", "--weights", "corrupt.pth", *args,
                                    cwd=folder))
        assert "corrupt.pth" in line and "not a readable PyTorch checkpoint" in line
    elif case == "other_class":
        line = one_line_error(cosim("infer", "--model", "my_net.py:Other", "--weights", "my_net.pth", *args,
                                    cwd=folder))
        assert "not a state_dict of Other" in line and "missing" in line
    elif case == "unsupported":
        line = one_line_error(cosim("infer", "--model", "my_net.py:WithGelu", *args, cwd=folder))
        assert "fx node 'features_2'" in line or "fx node 'features.2'" in line, line
        assert "features.2" in line and "GELU" in line and "docs/own-model.md" in line
    elif case == "no_such_file":
        line = one_line_error(cosim("infer", "--model", "x.pt", *args, cwd=folder))
        assert "x.pt:" in line and "x.pt.pt" not in line


@pytest.mark.parametrize("args,needle", [(["--jobs", "0"], "--jobs"), (["--vdd", "1.8,abc"], "--vdd"),
                                         (["--vdd", ""], "--vdd")])
def test_usage_errors_are_one_line(tmp_path, args, needle, monkeypatch, capsys):
    line = one_line_error(cosim_in_process("infer", *args, "--out", tmp_path / "o", cwd=tmp_path,
                                           monkeypatch=monkeypatch, capsys=capsys))
    assert line.startswith("cosim: usage error:") and needle in line


def test_unwritable_out_is_refused_before_running(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(cosim_in_process("infer", "--out", blocker / "sub", cwd=tmp_path, monkeypatch=monkeypatch,
                                           capsys=capsys))
    assert "--out" in line and ("not writable" in line or "not a folder" in line)


def test_help_lists_choices_and_every_option_has_help():
    from cosim.data import LOADERS
    from cosim.models import SPECS, weights_path
    from cosim.report.cli import DATASET_NAMES, MODEL_NAMES, infer

    assert set(DATASET_NAMES) == set(LOADERS)
    assert set(MODEL_NAMES) == {n for n in SPECS if weights_path(n).is_file()}
    for param in infer.params:
        assert getattr(param, "help", None), param.name
    dataset = next(p for p in infer.params if p.name == "dataset")
    macro = next(p for p in infer.params if p.name == "macro")
    assert all(n in dataset.help for n in DATASET_NAMES)
    assert "sram_16x128" in macro.help
