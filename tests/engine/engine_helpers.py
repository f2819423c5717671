"""Helpers shared by the engine tests."""

import torch


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorm layers non-trivial statistics so folding is exercised."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_((torch.rand(n, generator=generator) - 0.5) * 0.4)
    return model.eval()


def set_batchnorm_from_data(model: torch.nn.Module, images: torch.Tensor, batches: int = 2) -> torch.nn.Module:
    """BatchNorm running statistics measured on `images` (cumulative average over a few train-mode passes), then
    eval mode: random weights with statistics that fit the data, as a trained network's would."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for chunk in images.chunk(batches):
            model(chunk)
    return model.eval()


def reference_layer(layer, inputs: list[torch.Tensor]) -> torch.Tensor:
    """float64 reference of the integer formula of an op fbgemm has no operator for (lookup-table ops, mul)."""
    import torch.nn.functional as F

    out_q = layer.output_qparams
    functions = {"silu": F.silu, "sigmoid": torch.sigmoid, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
                 "relu6": F.relu6}
    if layer.op in functions:
        in_q = layer.input_qparams[0]
        real = (inputs[0].double() - in_q.zero_point) * in_q.scale
        value = functions[layer.op](real)
        return torch.clamp(torch.round(value / out_q.scale) + out_q.zero_point, out_q.qmin, out_q.qmax)
    if layer.op == "mul":
        (qa, qb), (a, b) = layer.input_qparams, inputs
        product = (a.double() - qa.zero_point) * (b.double() - qb.zero_point)
        m = torch.tensor(qa.scale, dtype=torch.float32) * torch.tensor(qb.scale, dtype=torch.float32) \
            / torch.tensor(out_q.scale, dtype=torch.float32)
        value = product.float() * m
        return torch.clamp(torch.round(value.double()) + out_q.zero_point, out_q.qmin, out_q.qmax)
    raise AssertionError(layer.op)


def layerwise_mismatches(qmodel, result) -> dict[str, int]:
    """Each recorded layer fed the codes our engine recorded: differing output codes against the fbgemm twin where
    one exists, else against the float64 reference of the integer formula. {"twin": n, "reference": n} counts
    the layers checked each way under the key "_checked"."""
    from cosim.engine.reference import as_quantized, build_twin, twin_layer

    twins = build_twin(qmodel, partial=True)
    out, checked = {}, {"twin": 0, "reference": 0}
    for io, twin, layer in zip(result.layers, twins, qmodel.layers):
        inputs = [io.input, *io.extra_inputs]
        if twin is not None:
            quantized = [as_quantized(x, q) for x, q in zip(inputs, layer.input_qparams)]
            expected = twin_layer(twin, quantized).int_repr().reshape(io.output.shape)
            checked["twin"] += 1
        else:
            expected = reference_layer(layer, inputs)
            checked["reference"] += 1
        out[layer.name] = int((io.output.to(torch.int64) != expected.to(torch.int64).reshape(io.output.shape)).sum())
    out["_checked"] = checked
    return out
