"""cosim.simulate with the model and data forms a user has: nn.Module, TorchScript, .pt2, tensors, DataLoader,
.npz, a preprocessing TOML; refusals before any work."""

import json

import numpy as np
import pytest
import torch

import cosim
from cosim.errors import DatasetError, ModelError
from tests.simulate.user_model import Net, WithGelu

OPTIONS = cosim.RunOptions(calibration=8, batch_size=16)


def _net():
    torch.manual_seed(0)
    return Net().eval()


def _tensors(n=24, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_module_and_tensors_give_a_typed_result(tmp_path):
    result = cosim.simulate(_net(), _tensors(), options=OPTIONS)
    assert isinstance(result, cosim.SimulationResult)
    assert result.n_images == 20  # 24 minus min(8, a fifth of 24) held out for calibration
    assert 0 <= result.accuracy <= 1 and result.energy_per_inference_j > 0 and result.latency_per_inference_s > 0
    assert list(result.per_layer["op"]) == ["conv2d", "maxpool", "conv2d", "linear"]
    assert len(result.per_class) == 5
    assert json.loads(result.to_json())["n_images"] == 20
    out = result.save(tmp_path / "run")
    assert (out / "report.json").is_file() and (out / "per_image.csv").is_file()
    # saved again over the old folder: replaced whole
    result.save(tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_torchscript_pt2_and_module_agree(tmp_path):
    net = _net()
    x, y = _tensors()
    torch.jit.save(torch.jit.script(net), tmp_path / "net.ts")
    torch.export.save(torch.export.export(net, (x[:1],)), tmp_path / "net.pt2")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=10)
    results = [cosim.simulate(m, d, options=OPTIONS) for m, d in
               ((net, (x, y)), (str(tmp_path / "net.ts"), loader), (str(tmp_path / "net.pt2"), (x, y)))]
    first = results[0].run.predictions
    for r in results[1:]:
        assert np.array_equal(r.run.predictions, first)
        assert r.energy_per_inference_j == pytest.approx(results[0].energy_per_inference_j, rel=1e-12)


def test_npz_and_preprocessing_toml(tmp_path):
    x, y = _tensors(20, size=20)
    np.savez(tmp_path / "d.npz", x=(x.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8), y=y.numpy(),
             classes=np.array(["a", "b", "c", "d", "e"]))
    (tmp_path / "pre.toml").write_text("[preprocessing]\ninput_size = [16, 16]\nmean = [0.5]\nstd = [0.25]\n")
    pre = cosim.Preprocess.from_toml(tmp_path / "pre.toml")
    data = cosim.load_data(tmp_path / "d.npz", pre)
    assert tuple(data.images.shape) == (20, 3, 16, 16) and data.classes == ("a", "b", "c", "d", "e")
    assert float(data.images.min()) < -1.0  # normalised: (0 - 0.5) / 0.25 = -2 where pixels are dark
    result = cosim.simulate(_net(), str(tmp_path / "d.npz"), preprocess=pre, options=OPTIONS)
    assert result.classes == ("a", "b", "c", "d", "e") and result.n_images == 16
    (tmp_path / "bad.toml").write_text("[preprocessing]\nsize = 3\n")
    with pytest.raises(DatasetError, match="unknown"):
        cosim.Preprocess.from_toml(tmp_path / "bad.toml")


def test_unsupported_op_refused_before_calibration(monkeypatch):
    import sys

    import cosim.engine  # noqa: F401  (cosim.engine.quantize is also a function name: take the module)

    q = sys.modules["cosim.engine.quantize"]

    def no_work(*args, **kwargs):
        raise AssertionError("calibration ran before the refusal")

    monkeypatch.setattr(q, "calibrate", no_work)
    with pytest.raises(ModelError, match=r"fx node .*features\.2.*GELU.*; "):
        cosim.simulate(WithGelu(), _tensors(), options=OPTIONS)


def test_corner_and_hardware_are_checked():
    from cosim.errors import CornerError

    with pytest.raises(CornerError, match="process/vdd"):
        cosim.simulate(_net(), _tensors(), corner="tt-1.8", options=OPTIONS)
    with pytest.raises(Exception, match="no_such"):
        cosim.Hardware.load("no_such.toml")
