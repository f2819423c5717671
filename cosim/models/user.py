"""Load a user's model: a torch.export program (.pt2), a TorchScript file, or `file.py:ClassOrFactory` with a
checkpoint, besides the committed names. Every failure is one ModelError line naming the file and the fix.

TorchScript cannot be traced by torch.fx; it is converted to a torch.export program (torch's TS2EP converter),
which needs an example input, so a TorchScript model is converted when the data's image shape is known
(`LoadedModel.module_for(example)`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cosim.errors import ModelError

#: checkpoint keys that hold the state_dict in common training scripts' checkpoints
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net")


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A float model ready to lower, and where it came from."""

    name: str  #: what the report calls it
    module: nn.Module  #: eval mode; a TorchScript module until `module_for` converts it
    source: dict = field(default_factory=dict)  #: model_file, model_file_sha256, weights_file, ... (provenance)
    input_shape: tuple[int, ...] | None = None  #: one image [C, H, W] where the file records it (.pt2)
    dataset: str | None = None  #: committed models: the dataset they were trained on
    scripted: bool = False

    def module_for(self, example: torch.Tensor) -> nn.Module:
        """The module to lower, given one batch of example images (converts TorchScript)."""
        if not self.scripted:
            return self.module
        from torch._export.converter import TS2EPConverter

        try:
            return TS2EPConverter(self.module, (example[:1].float(),)).convert().module()
        except Exception as exc:  # the converter raises many types
            raise ModelError(f"{self.source.get('model_file')}: TorchScript could not be converted for lowering "
                             f"({_first_line(exc)}); export the model with torch.export and pass the .pt2") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise ModelError(f"{path}: no such {what} file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: the {what} file is empty (0 bytes); save it again")


def load_model(spec: str | Path, weights: str | Path | None = None) -> LoadedModel:
    """`spec`: a committed name (lenet5, digits, dscnn, resnet20), a `.pt2` file, a TorchScript file, or `file.py:Name`
    where Name is an nn.Module class or a function returning one (called without arguments); `weights`: a
    checkpoint for `file.py:Name` (a state_dict, or a dict holding one under state_dict/model_state_dict)."""
    from cosim.models import SPECS

    text = str(spec)
    if text in SPECS and weights is None and not Path(text).exists():
        from cosim.models import load_trained, weights_path

        model, meta = load_trained(text)
        wp = weights_path(text)
        return LoadedModel(name=text, module=model, dataset=meta["dataset"], source={
            "model_file": str(wp), "model_file_sha256": _sha256(wp),
            "model_metadata": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}})
    file_part, sep, attr = text.rpartition(":")
    if sep and file_part.endswith(".py"):
        return _from_python(Path(file_part), attr, weights)
    if text.endswith(".py"):
        raise ModelError(f"{text}: name the class or factory in the file too, e.g. --model {text}:Net")
    path = Path(text)
    if not path.exists():
        from cosim.models import weights_path

        names = ", ".join(n for n in SPECS if weights_path(n).is_file())
        raise ModelError(f"{text}: no such model file, and not a committed model ({names}); pass a .pt2, a "
                         f"TorchScript file, or file.py:Class with --weights")
    if weights is not None:
        raise ModelError(f"--weights {weights}: a checkpoint needs its class: pass --model file.py:Class")
    _check_file(path, "model")
    if path.suffix == ".pt2":
        return _from_export(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return _from_torchscript(path)
        if any(n.endswith("data.pkl") for n in names):
            raise ModelError(f"{path}: a checkpoint (state_dict or pickled module) needs its class: pass "
                             f"--model file.py:Class --weights {path}, or export the model to a .pt2")
    raise ModelError(f"{path}: not a torch.export (.pt2) program or TorchScript file; export the model with "
                     f"torch.export.save(torch.export.export(model, (example,)), 'model.pt2')")


def _from_export(path: Path) -> LoadedModel:
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: cannot be read as a torch.export program ({_first_line(exc)}); save it with "
                         f"torch.export.save") from None
    module = program.module()
    shape = None
    for node in module.graph.nodes:
        if node.op == "placeholder" and "val" in node.meta:
            try:
                shape = tuple(int(d) for d in node.meta["val"].shape[1:])
            except TypeError:
                shape = None
            break
    return LoadedModel(name=path.name, module=module, input_shape=shape,
                       source={"model_file": str(path), "model_file_sha256": _sha256(path), "format": "torch.export"})


def _from_torchscript(path: Path) -> LoadedModel:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelError(f"{path}: cannot be read as TorchScript ({_first_line(exc)}); save it with "
                         f"torch.jit.save or export it to a .pt2") from None
    return LoadedModel(name=path.name, module=module.eval(), scripted=True,
                       source={"model_file": str(path), "model_file_sha256": _sha256(path), "format": "torchscript"})


def _import_file(path: Path):
    _check_file(path, "Python")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"cosim_user_{path.stem}_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelError(f"{path}: importing it failed ({type(exc).__name__}: {_first_line(exc)})") from None
    return module


def _from_python(path: Path, attr: str, weights: str | Path | None) -> LoadedModel:
    module = _import_file(path)
    target = getattr(module, attr, None)
    if target is None:
        found = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                 and v.__module__ == module.__name__]
        raise ModelError(f"{path}: has no {attr!r}; its nn.Module classes: {', '.join(found) or 'none'}")
    try:
        model = target()
    except Exception as exc:
        raise ModelError(f"{path}:{attr}(): constructing it without arguments failed ({_first_line(exc)}); "
                         f"add defaults or a factory function that returns the model") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{path}:{attr} returned {type(model).__name__}, not a torch.nn.Module")
    source = {"model_file": str(path), "model_file_sha256": _sha256(path), "class": attr}
    if weights is not None:
        wpath = Path(weights)
        load_weights(model, wpath)
        source |= {"weights_file": str(wpath), "weights_file_sha256": _sha256(wpath)}
    return LoadedModel(name=f"{path.name}:{attr}", module=model.eval(), source=source)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in a checkpoint file: bare, or under one of STATE_DICT_KEYS; `module.` prefixes (from
    DataParallel/DistributedDataParallel) stripped. Loaded with weights_only=True: no code in the file runs."""
    _check_file(path, "checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)}); save it with "
                         f"torch.save(model.state_dict(), path)") from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = ", ".join(list(obj)[:5]) if isinstance(obj, dict) else type(obj).__name__
        raise ModelError(f"{path}: holds no state_dict (found {keys}); save torch.save(model.state_dict(), path) "
                         f"or a dict with a 'state_dict' entry")
    if all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a checkpoint into `model`, strictly; a state_dict of another class is one line saying what differs."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]!r})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} shape mismatch(es) (e.g. {k!r}: file {tuple(state[k].shape)}, model "
                         f"{tuple(own[k].shape)})")
        raise ModelError(f"{path}: not a state_dict of {type(model).__name__}: {', '.join(parts)}; pass the class "
                         f"the checkpoint was trained with")
    model.load_state_dict(state, strict=True)
