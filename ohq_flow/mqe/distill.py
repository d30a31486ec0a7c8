"""ZeroQ-style distilled inputs: optimise a batch so every BatchNorm's batch statistics match its
running statistics (Cai et al., ZeroQ, 2020). Needs the Brevitas module with BatchNorm layers.
"""

from __future__ import annotations

import numpy as np

from ohq_flow.errors import InputError


def bn_statistics_loss(module, x):
    """Sum over BatchNorm layers of ||mean_batch - running_mean||² + ||std_batch - running_std||²."""
    import torch
    losses = []

    def hook(bn, inputs, _output):
        t = inputs[0]
        t = t.value if hasattr(t, "value") else t
        dims = [0] + list(range(2, t.dim()))
        mean, var = t.mean(dim=dims), t.var(dim=dims, unbiased=False)
        losses.append(torch.norm(mean - bn.running_mean, 2) ** 2
                      + torch.norm(torch.sqrt(var + bn.eps) - torch.sqrt(bn.running_var + bn.eps), 2) ** 2)

    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    handles = [bn.register_forward_hook(hook) for bn in bns]
    try:
        module(x)
    finally:
        for h in handles:
            h.remove()
    return sum(losses)


def distill(module, input_shape: list[int], samples: int, steps: int, seed: int, lr: float = 0.1) -> tuple[np.ndarray, float, float]:
    """(inputs, loss before, loss after) for a module in eval mode."""
    import torch
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        raise InputError("mqe.inputs: distilled needs a model with BatchNorm layers (their statistics are the target)",
                         "use mqe.inputs: gaussian or uniform for this model")
    module = module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *input_shape[1:], generator=g).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    with torch.no_grad():
        before = float(bn_statistics_loss(module, x))
    for _ in range(steps):
        opt.zero_grad()
        loss = bn_statistics_loss(module, x)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(bn_statistics_loss(module, x))
    return x.detach().numpy().astype(np.float32), before, after


def distilled_inputs(cfg, input_shape: list[int]) -> np.ndarray:
    """Distilled inputs for a FlowConfig whose model is a Brevitas module."""
    if cfg.model.brevitas is None:
        raise InputError("mqe.inputs: distilled needs model.brevitas (the PyTorch module), not a QONNX file",
                         "use mqe.inputs: gaussian, uniform or npz with a QONNX model")
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.mqe.run import n_samples
    b = cfg.model.brevitas
    module = build_brevitas_model(b.factory, b.kwargs, b.checkpoint, b.python_path)
    x, _, _ = distill(module, input_shape, n_samples(cfg.mqe), cfg.mqe.distill_steps, cfg.mqe.seed)
    return x
